//! Script policies compiled to native code, for the scripts that fit.
//!
//! Rhai walks its syntax tree and looks functions up by name on every call,
//! which costs a few microseconds a row. Most policy scripts are a handful
//! of `if`s over the user's fields, `let`s, helper functions, `switch`es
//! and a verdict, so polsim parses the script itself and, when every part
//! of it is in the subset below and every type is known, compiles it to a
//! small typed tree evaluated without Rhai ([`crate::engine::native_script`]).
//! A script outside the subset runs in Rhai, as before, with the same
//! results: the subset mirrors Rhai's semantics (checked integer and
//! decimal arithmetic, floats meeting decimals exactly, `missing` values),
//! and whatever a row does that the native path is not sure of — an
//! overflow, a division by zero, a float that is not finite, a `decide`
//! that returns nothing — hands that row to Rhai, so errors read the same.
//!
//! The subset: `fn NAME(args) { ... }` definitions (called, not recursive);
//! `let`, `return`, `if`/`else if`/`else` (statement or value), `switch`
//! on a string or int with literal arms; literals (no escapes, no `1e3`);
//! `user.FIELD`, `params.NAME`, locals; `! -` and
//! `* / % + - == != < <= > >= && ||`; `holds`, `is_missing`, `min`, `max`,
//! `.floor()`; `approve(x)`, `approve()`, `decline`/`review` with reason
//! strings or an array local built from `[]`/`["A", ...]` with
//! `.push("REASON")` and read with `.len()`.

use super::expr::precedence;
use super::script::VerdictKind;
use crate::dataset::value::{FieldType, Value};
use crate::policy::condition::Col;
use rust_decimal::Decimal;

/// A value's static type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Float,
    Dec,
    Bool,
    Str,
    /// An array of reason codes, in a local.
    Arr,
    Verdict,
    /// The `user` map and the `params` map, passed whole to a helper.
    User,
    Params,
}

impl Ty {
    fn of(ty: FieldType) -> Ty {
        match ty {
            FieldType::String => Ty::Str,
            FieldType::Int => Ty::Int,
            FieldType::Float => Ty::Float,
            FieldType::Decimal => Ty::Dec,
            FieldType::Bool => Ty::Bool,
        }
    }

    fn is_number(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Dec)
    }

    /// Only verdicts and plain values leave a function.
    fn returnable(self) -> bool {
        !matches!(self, Ty::Arr | Ty::User | Ty::Params)
    }
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Int(i64),
    Float(f64),
    Dec(Decimal),
    Bool(bool),
    Str(Box<[u8]>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// A typed expression.
#[derive(Debug, Clone)]
pub enum Node {
    Const(Const),
    /// A column of the batch (a field or a derived field).
    Field(Col),
    Local(usize),
    Neg(Box<Node>),
    Not(Box<Node>),
    Arith(Arith, Box<Node>, Box<Node>),
    Cmp(Cmp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Holds(Box<Node>),
    IsMissing(Box<Node>),
    /// `min` (true) or `max`.
    MinMax(bool, Box<Node>, Box<Node>),
    Floor(Box<Node>),
    /// An `if`, and where it is written (an index into [`NativeScript::sites`]).
    If(Box<Node>, Block, Option<Block>, u32),
    Switch(Box<Node>, Vec<(Const, Node)>, Option<Box<Node>>),
    /// A helper function, inlined: its parameters' slots, their values, its body.
    Call(Vec<usize>, Vec<Node>, Box<Block>),
    /// A fresh array in a slot of its own, holding these reasons.
    NewArray(usize, Vec<u16>),
    /// `local.push(REASON)`.
    Push(usize, u16),
    /// `local.len()`.
    Len(usize),
    /// A verdict, and the byte offset of the call's name.
    Verdict(VerdictKind, Reasons, Option<Box<Node>>, usize),
    /// Something only Rhai can tell (a reason code polsim does not know).
    Defer,
}

/// The reasons of a `decline` or `review`.
#[derive(Debug, Clone)]
pub enum Reasons {
    Listed(Vec<u16>),
    /// The array in a local.
    Array(usize),
}

#[derive(Debug, Clone)]
pub enum Stmt {
    Let(usize, Node),
    Expr(Node),
    Return(Node),
}

/// Statements, then the block's value.
#[derive(Debug, Clone)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub value: Option<Box<Node>>,
}

/// A `decide(user)` compiled natively.
#[derive(Debug, Clone)]
pub struct NativeScript {
    pub body: Block,
    /// Value slots and array slots a row needs.
    pub slots: usize,
    pub arrays: usize,
    /// Where each `if` is written, for tracing.
    pub sites: Vec<IfSite>,
}

/// Where an `if` is written: byte offsets in the script of its keyword, of
/// the `{` and `}` of its body, and of the start and end of its `else`
/// part (an `else if` chain ends at its last `}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfSite {
    pub at: usize,
    pub body: (usize, usize),
    pub otherwise: Option<(usize, usize)>,
}

/// What the compiler needs to know of the policy.
pub trait Env {
    /// A field or derived field: its column and type.
    fn field(&mut self, name: &str) -> Option<(Col, FieldType)>;
    /// A parameter's value.
    fn param(&self, name: &str) -> Option<Value>;
    /// The index of a reason code.
    fn reason(&self, code: &str) -> Option<u16>;
}

/// Compiles `text`'s `fn decide(user)`, or `None` when the script is not
/// in the subset.
pub fn compile(text: &str, env: &mut dyn Env) -> Result<NativeScript, String> {
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let (toks, offsets) = tokenize(text)
        .map_err(|at| format!("line {}: a literal or symbol outside the subset", line(at)))?;
    let mut p = Parser {
        toks,
        offsets,
        at: 0,
    };
    let mut fns = Vec::new();
    while p.peek().is_some() {
        let start = p.at;
        match p.function() {
            Some(f) => fns.push(f),
            None => {
                let at = p
                    .offsets
                    .get(p.at.max(start).saturating_sub(1))
                    .copied()
                    .unwrap_or(0);
                return Err(format!(
                    "line {}: a statement or expression outside the subset",
                    line(at)
                ));
            }
        }
    }
    let typed = compile_typed(&fns, env);
    typed.ok_or_else(|| {
        "a value whose type the native compiler cannot settle (branches or `switch` arms of different types, a `switch` without `_`, a helper that may end without a value)".to_owned()
    })
}

fn compile_typed(fns: &[FnDef], env: &mut dyn Env) -> Option<NativeScript> {
    let decide = fns
        .iter()
        .position(|f| f.name == "decide" && f.params.len() == 1)?;
    let mut c = Compiler {
        fns,
        env,
        slots: 0,
        arrays: 0,
        scopes: Vec::new(),
        depth: 0,
        sites: Vec::new(),
    };
    c.scopes.push(vec![(
        fns[decide].params[0].clone(),
        (usize::MAX, Ty::User),
    )]);
    let (body, ty) = c.block(&fns[decide].body)?;
    // `decide` must end in a verdict (or return one); anything else is Rhai's to report.
    if ty.is_some_and(|t| t != Ty::Verdict) {
        return None;
    }
    Some(NativeScript {
        body,
        slots: c.slots,
        arrays: c.arrays,
        sites: c.sites,
    })
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    Punct(&'static str),
}

const PUNCT: [&str; 26] = [
    "=>", "==", "!=", "<=", ">=", "&&", "||", "{", "}", "(", ")", "[", "]", ",", ";", ".", "=",
    "<", ">", "+", "-", "*", "/", "%", "!", "_",
];

/// The tokens of `text` and their byte offsets; `Err(offset)` at the first
/// thing outside the subset.
fn tokenize(text: &str) -> Result<(Vec<Tok>, Vec<usize>), usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    let toks = tokens_from(text, &mut offsets, &mut at).ok_or(at)?;
    Ok((toks, offsets))
}

fn tokens_from(text: &str, offsets: &mut Vec<usize>, at: &mut usize) -> Option<Vec<Tok>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        *at = i;
        let count = out.len();
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if b[i..].starts_with(b"//") {
            i = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |e| i + e);
        } else if b[i..].starts_with(b"/*") {
            // Nested block comments are Rhai's; keep to the simple ones.
            let end = text[i + 2..].find("*/")?;
            if text[i + 2..i + 2 + end].contains("/*") {
                return None;
            }
            i += end + 4;
        } else if c.is_ascii_alphabetic()
            || (c == b'_'
                && b.get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_'))
        {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(text[start..i].to_owned()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let float = i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit();
            if float {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            // `1_000`, `1e3`, `0x10`, `1.`: Rhai's to read.
            if i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                return None;
            }
            let t = &text[start..i];
            out.push(if float {
                Tok::Float(t.parse().ok()?)
            } else {
                Tok::Int(t.parse().ok()?)
            });
        } else if c == b'"' {
            let end = text[i + 1..].find('"')? + i + 1;
            let s = &text[i + 1..end];
            if s.contains('\\') || s.contains('\n') {
                return None;
            }
            out.push(Tok::Str(s.to_owned()));
            i = end + 1;
        } else {
            let p = PUNCT.iter().find(|p| text[i..].starts_with(**p))?;
            // `&`, `|`, `**`, `+=`, `..`, `?.`, `::` and the like are not the subset.
            let next = b.get(i + p.len()).copied();
            if matches!(
                *p,
                "+" | "-" | "*" | "/" | "%" | "<" | ">" | "!" | "=" | "."
            ) && matches!(next, Some(b'=' | b'*' | b'.' | b'<' | b'>'))
                && !matches!(
                    (*p, next),
                    ("!", Some(b'='))
                        | ("<", Some(b'='))
                        | (">", Some(b'='))
                        | ("=", Some(b'=' | b'>'))
                )
            {
                return None;
            }
            out.push(Tok::Punct(p));
            i += p.len();
        }
        if out.len() > count {
            offsets.push(*at);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- syntax

#[derive(Debug)]
struct FnDef {
    name: String,
    params: Vec<String>,
    body: SBlock,
}

#[derive(Debug)]
struct SBlock {
    stmts: Vec<SStmt>,
    value: Option<Box<Expr>>,
    /// Byte offsets of its `{` and `}` (for an `else if`, of the `if` and
    /// the last `}` of the chain).
    span: (usize, usize),
}

#[derive(Debug)]
enum SStmt {
    Let(String, Expr),
    Return(Option<Expr>),
    Expr(Expr),
}

#[derive(Debug)]
enum Expr {
    Lit(Const),
    Name(String),
    Prop(Box<Expr>, String),
    Method(Box<Expr>, String, Vec<Expr>),
    /// A call, and the byte offset of its name.
    Call(String, Vec<Expr>, usize),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Array(Vec<Expr>),
    /// An `if`, and the byte offset of its keyword.
    If(Box<Expr>, SBlock, Option<SBlock>, usize),
    Switch(Box<Expr>, Vec<(Option<Const>, Expr)>),
}

struct Parser {
    toks: Vec<Tok>,
    /// Each token's byte offset.
    offsets: Vec<usize>,
    at: usize,
}

impl Parser {
    /// The byte offset of the token `back` tokens before the next one.
    fn offset_back(&self, back: usize) -> usize {
        self.offsets[self.at - back]
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn eat(&mut self, p: &str) -> Option<()> {
        self.is(p).then(|| self.at += 1)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w == k)
    }

    fn ident(&mut self) -> Option<String> {
        match self.next()? {
            Tok::Ident(w) => Some(w),
            _ => None,
        }
    }

    fn function(&mut self) -> Option<FnDef> {
        if self.ident()? != "fn" {
            return None;
        }
        let name = self.ident()?;
        self.eat("(")?;
        let mut params = Vec::new();
        while !self.is(")") {
            params.push(self.ident()?);
            if !self.is(")") {
                self.eat(",")?;
            }
        }
        self.eat(")")?;
        let body = self.block()?;
        Some(FnDef { name, params, body })
    }

    fn block(&mut self) -> Option<SBlock> {
        self.eat("{")?;
        let open = self.offset_back(1);
        let mut stmts = Vec::new();
        let mut value = None;
        while !self.is("}") {
            if value.is_some() {
                return None;
            }
            if self.keyword("let") {
                self.at += 1;
                let name = self.ident()?;
                self.eat("=")?;
                let e = self.expr(0)?;
                self.eat(";")?;
                stmts.push(SStmt::Let(name, e));
            } else if self.keyword("return") {
                self.at += 1;
                let e = if self.is(";") || self.is("}") {
                    None
                } else {
                    Some(self.expr(0)?)
                };
                if self.eat(";").is_none() && !self.is("}") {
                    return None;
                }
                stmts.push(SStmt::Return(e));
            } else {
                let block_like = self.keyword("if") || self.keyword("switch");
                let e = self.expr(0)?;
                if self.eat(";").is_some() || (block_like && !self.is("}")) {
                    stmts.push(SStmt::Expr(e));
                } else {
                    value = Some(Box::new(e));
                }
            }
        }
        self.eat("}")?;
        Some(SBlock {
            stmts,
            value,
            span: (open, self.offset_back(1)),
        })
    }

    fn expr(&mut self, min: u8) -> Option<Expr> {
        let mut lhs = self.unary()?;
        let mut last_cmp = None;
        while let Some(Tok::Punct(op)) = self.peek() {
            let op = *op;
            let Some(prec) = precedence(op) else { break };
            if prec < min {
                break;
            }
            // `a < b < c` and `a == b == c` are not the subset.
            if matches!(prec, 90 | 130) && last_cmp == Some(prec) {
                return None;
            }
            self.at += 1;
            let rhs = self.expr(prec + 1)?;
            last_cmp = matches!(prec, 90 | 130).then_some(prec);
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Some(lhs)
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.eat("!").is_some() {
            return Some(Expr::Unary("!", Box::new(self.unary()?)));
        }
        if self.eat("-").is_some() {
            return Some(match self.unary()? {
                Expr::Lit(Const::Int(v)) => Expr::Lit(Const::Int(v.checked_neg()?)),
                Expr::Lit(Const::Float(v)) => Expr::Lit(Const::Float(-v)),
                e => Expr::Unary("-", Box::new(e)),
            });
        }
        let mut e = self.primary()?;
        while self.eat(".").is_some() {
            let name = self.ident()?;
            if self.eat("(").is_some() {
                let args = self.args(")")?;
                e = Expr::Method(Box::new(e), name, args);
            } else {
                e = Expr::Prop(Box::new(e), name);
            }
        }
        Some(e)
    }

    fn args(&mut self, close: &str) -> Option<Vec<Expr>> {
        let mut args = Vec::new();
        while !self.is(close) {
            args.push(self.expr(0)?);
            if !self.is(close) {
                self.eat(",")?;
            }
        }
        self.eat(close)?;
        Some(args)
    }

    fn primary(&mut self) -> Option<Expr> {
        Some(match self.next()? {
            Tok::Int(v) => Expr::Lit(Const::Int(v)),
            Tok::Float(v) => Expr::Lit(Const::Float(v)),
            Tok::Str(s) => Expr::Lit(Const::Str(s.into_bytes().into())),
            Tok::Punct("(") => {
                let e = self.expr(0)?;
                self.eat(")")?;
                e
            }
            Tok::Punct("[") => Expr::Array(self.args("]")?),
            Tok::Ident(w) => match w.as_str() {
                "true" => Expr::Lit(Const::Bool(true)),
                "false" => Expr::Lit(Const::Bool(false)),
                "if" => {
                    let at = self.offset_back(1);
                    let cond = self.expr(0)?;
                    let then = self.block()?;
                    let otherwise = if self.keyword("else") {
                        self.at += 1;
                        if self.keyword("if") {
                            let start = self.offsets[self.at];
                            let e = self.primary()?;
                            Some(SBlock {
                                stmts: Vec::new(),
                                value: Some(Box::new(e)),
                                span: (start, self.offset_back(1)),
                            })
                        } else {
                            Some(self.block()?)
                        }
                    } else {
                        None
                    };
                    Expr::If(Box::new(cond), then, otherwise, at)
                }
                "switch" => {
                    let on = self.expr(0)?;
                    self.eat("{")?;
                    let mut arms = Vec::new();
                    while !self.is("}") {
                        let pattern = match self.next()? {
                            Tok::Punct("_") => None,
                            Tok::Str(s) => Some(Const::Str(s.into_bytes().into())),
                            Tok::Int(v) => Some(Const::Int(v)),
                            _ => return None,
                        };
                        self.eat("=>")?;
                        arms.push((pattern, self.expr(0)?));
                        if !self.is("}") {
                            self.eat(",")?;
                        }
                    }
                    self.eat("}")?;
                    Expr::Switch(Box::new(on), arms)
                }
                "fn" | "let" | "return" | "else" | "loop" | "while" | "for" | "do" | "in"
                | "const" | "import" | "export" | "throw" | "try" | "catch" | "this"
                | "private" | "global" | "Fn" | "call" | "curry" | "eval" => return None,
                _ if self.is("(") => {
                    let at = self.offset_back(1);
                    self.at += 1;
                    Expr::Call(w, self.args(")")?, at)
                }
                _ => Expr::Name(w),
            },
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------- types

/// A name's value slot and type (`usize::MAX` for the `user` and `params`
/// maps, which have no slot).
type Binding = (usize, Ty);

struct Compiler<'a> {
    fns: &'a [FnDef],
    env: &'a mut dyn Env,
    slots: usize,
    arrays: usize,
    scopes: Vec<Vec<(String, Binding)>>,
    /// Helper calls being inlined: no recursion.
    depth: usize,
    sites: Vec<IfSite>,
}

/// A block's value type, `None` when it has no value.
type Flow = Option<Ty>;

impl Compiler<'_> {
    fn lookup(&self, name: &str) -> Option<Binding> {
        self.scopes
            .last()?
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
    }

    /// The index of a new `if` site.
    fn site(&mut self, at: usize, then: &SBlock, otherwise: Option<&SBlock>) -> u32 {
        self.sites.push(IfSite {
            at,
            body: then.span,
            otherwise: otherwise.map(|b| b.span),
        });
        (self.sites.len() - 1) as u32
    }

    fn slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    /// A block and the type of its value: `None` when it has no value
    /// (it returns, or ends in a statement), which is refused where a value
    /// is needed.
    fn block(&mut self, b: &SBlock) -> Option<(Block, Flow)> {
        let mark = self.scopes.last()?.len();
        let mut stmts = Vec::new();
        for s in &b.stmts {
            match s {
                SStmt::Let(name, e) => {
                    let (n, ty) = self.expr(e)?;
                    // Arrays are copied on assignment in Rhai; the maps have no slot.
                    let copies_array = ty == Ty::Arr && !matches!(n, Node::NewArray(..));
                    if copies_array || matches!(ty, Ty::User | Ty::Params) {
                        return None;
                    }
                    let slot = self.slot();
                    self.scopes.last_mut()?.push((name.clone(), (slot, ty)));
                    stmts.push(Stmt::Let(slot, n));
                }
                SStmt::Return(Some(e)) => {
                    let (n, ty) = self.expr(e)?;
                    if !ty.returnable() {
                        return None;
                    }
                    stmts.push(Stmt::Return(n));
                }
                SStmt::Return(None) => return None,
                SStmt::Expr(e) => {
                    let n = self.effect(e)?;
                    stmts.push(Stmt::Expr(n));
                }
            }
        }
        let (value, ty) = match &b.value {
            Some(e) => {
                let (n, ty) = self.expr(e)?;
                (Some(Box::new(n)), Some(ty))
            }
            None => (None, None),
        };
        self.scopes.last_mut()?.truncate(mark);
        Some((Block { stmts, value }, ty))
    }

    /// An expression used as a statement: a push, an `if`/`switch` run for
    /// its returns, or anything without effects.
    fn effect(&mut self, e: &Expr) -> Option<Node> {
        match e {
            Expr::If(cond, then_syntax, otherwise_syntax, at) => {
                let cond = self.condition(cond)?;
                let (then, _) = self.block(then_syntax)?;
                let otherwise = match otherwise_syntax {
                    Some(b) => Some(self.block(b)?.0),
                    None => None,
                };
                let site = self.site(*at, then_syntax, otherwise_syntax.as_ref());
                Some(Node::If(Box::new(cond), then, otherwise, site))
            }
            _ => Some(self.expr(e)?.0),
        }
    }

    fn condition(&mut self, e: &Expr) -> Option<Node> {
        let (n, ty) = self.expr(e)?;
        (ty == Ty::Bool).then_some(n)
    }

    fn expr(&mut self, e: &Expr) -> Option<(Node, Ty)> {
        Some(match e {
            Expr::Lit(c) => {
                let ty = match c {
                    Const::Int(_) => Ty::Int,
                    Const::Float(_) => Ty::Float,
                    Const::Dec(_) => Ty::Dec,
                    Const::Bool(_) => Ty::Bool,
                    Const::Str(_) => Ty::Str,
                };
                (Node::Const(c.clone()), ty)
            }
            Expr::Name(n) => match self.lookup(n) {
                Some((slot, ty)) => (Node::Local(slot), ty),
                // The parameters are a constant every function sees.
                None if n == "params" => (Node::Defer, Ty::Params),
                None => return None,
            },
            Expr::Prop(obj, name) => {
                let (_, ty) = self.expr(obj)?;
                match ty {
                    Ty::User => {
                        let (column, ft) = self.env.field(name)?;
                        (Node::Field(column), Ty::of(ft))
                    }
                    Ty::Params => {
                        let (c, ty) = match self.env.param(name)? {
                            Value::Int(v) => (Const::Int(v), Ty::Int),
                            Value::Float(v) => (Const::Float(v), Ty::Float),
                            Value::Decimal(v) => (Const::Dec(v), Ty::Dec),
                            Value::Bool(v) => (Const::Bool(v), Ty::Bool),
                            Value::String(s) => (Const::Str(s.clone()), Ty::Str),
                        };
                        (Node::Const(c), ty)
                    }
                    _ => return None,
                }
            }
            Expr::Unary(op, a) => {
                let (n, ty) = self.expr(a)?;
                match (*op, ty) {
                    ("!", Ty::Bool) => (Node::Not(Box::new(n)), Ty::Bool),
                    ("-", t) if t.is_number() => (Node::Neg(Box::new(n)), t),
                    _ => return None,
                }
            }
            Expr::Binary(op, a, b) => {
                let (l, lt) = self.expr(a)?;
                let (r, rt) = self.expr(b)?;
                let (l, r) = (Box::new(l), Box::new(r));
                match *op {
                    "&&" | "||" if lt == Ty::Bool && rt == Ty::Bool => {
                        let n = if *op == "&&" {
                            Node::And(l, r)
                        } else {
                            Node::Or(l, r)
                        };
                        (n, Ty::Bool)
                    }
                    "+" | "-" | "*" | "/" | "%" => {
                        let op = match *op {
                            "+" => Arith::Add,
                            "-" => Arith::Sub,
                            "*" => Arith::Mul,
                            "/" => Arith::Div,
                            _ => Arith::Rem,
                        };
                        (Node::Arith(op, l, r), number_result(lt, rt)?)
                    }
                    "==" | "!=" | "<" | "<=" | ">" | ">=" => {
                        let op = match *op {
                            "==" => Cmp::Eq,
                            "!=" => Cmp::Ne,
                            "<" => Cmp::Lt,
                            "<=" => Cmp::Le,
                            ">" => Cmp::Gt,
                            _ => Cmp::Ge,
                        };
                        let comparable = (lt.is_number() && rt.is_number())
                            || (lt == Ty::Str && rt == Ty::Str)
                            || (lt == Ty::Bool
                                && rt == Ty::Bool
                                && matches!(op, Cmp::Eq | Cmp::Ne));
                        if !comparable {
                            return None;
                        }
                        (Node::Cmp(op, l, r), Ty::Bool)
                    }
                    _ => return None,
                }
            }
            Expr::Array(items) => {
                let mut reasons = Vec::with_capacity(items.len());
                for item in items {
                    let Expr::Lit(Const::Str(s)) = item else {
                        return None;
                    };
                    reasons.push(self.reason(s)?);
                }
                self.arrays += 1;
                (Node::NewArray(self.arrays - 1, reasons), Ty::Arr)
            }
            Expr::Method(obj, name, args) => {
                let (n, ty) = self.expr(obj)?;
                match (name.as_str(), ty, &args[..]) {
                    ("push", Ty::Arr, [Expr::Lit(Const::Str(s))]) => {
                        let Node::Local(slot) = n else { return None };
                        (Node::Push(slot, self.reason(s)?), Ty::Arr)
                    }
                    ("len", Ty::Arr, []) => {
                        let Node::Local(slot) = n else { return None };
                        (Node::Len(slot), Ty::Int)
                    }
                    ("floor", Ty::Float | Ty::Dec, []) => (Node::Floor(Box::new(n)), ty),
                    _ => return None,
                }
            }
            Expr::Call(name, args, at) => self.call(name, args, *at)?,
            Expr::If(cond, then_syntax, otherwise_syntax, at) => {
                let cond = self.condition(cond)?;
                let (then, tt) = self.block(then_syntax)?;
                let (otherwise, et) = self.block(otherwise_syntax.as_ref()?)?;
                let ty = match (tt, et) {
                    (Some(a), Some(b)) if a == b => a,
                    _ => return None,
                };
                if !ty.returnable() {
                    return None;
                }
                let site = self.site(*at, then_syntax, otherwise_syntax.as_ref());
                (Node::If(Box::new(cond), then, Some(otherwise), site), ty)
            }
            Expr::Switch(on, arms) => {
                let (on, on_ty) = self.expr(on)?;
                if !matches!(on_ty, Ty::Str | Ty::Int) {
                    return None;
                }
                let mut cases = Vec::new();
                let mut default = None;
                let mut ty = None;
                for (pattern, e) in arms {
                    let (n, t) = self.expr(e)?;
                    if *ty.get_or_insert(t) != t || !t.returnable() {
                        return None;
                    }
                    match pattern {
                        Some(c) => {
                            let fits = matches!(
                                (c, on_ty),
                                (Const::Str(_), Ty::Str) | (Const::Int(_), Ty::Int)
                            );
                            if !fits || default.is_some() {
                                return None;
                            }
                            cases.push((c.clone(), n));
                        }
                        None => default = Some(Box::new(n)),
                    }
                }
                // Without `_`, an unmatched value is `()`: Rhai's to handle.
                (Node::Switch(Box::new(on), cases, Some(default?)), ty?)
            }
        })
    }

    fn reason(&self, code: &[u8]) -> Option<u16> {
        std::str::from_utf8(code)
            .ok()
            .and_then(|c| self.env.reason(c))
    }

    fn call(&mut self, name: &str, args: &[Expr], at: usize) -> Option<(Node, Ty)> {
        if let Some(f) = self
            .fns
            .iter()
            .find(|f| f.name == name && f.params.len() == args.len())
        {
            return self.inline(f, args);
        }
        let mut typed = Vec::with_capacity(args.len());
        for a in args {
            typed.push(self.expr(a)?);
        }
        Some(match (name, &mut typed[..]) {
            ("holds", [(n, _)]) => (
                Node::Holds(Box::new(std::mem::replace(n, Node::Defer))),
                Ty::Bool,
            ),
            ("is_missing", [(n, _)]) => (
                Node::IsMissing(Box::new(std::mem::replace(n, Node::Defer))),
                Ty::Bool,
            ),
            ("min" | "max", [(a, at), (b, bt)]) => {
                let ty = number_result(*at, *bt)?;
                let (a, b) = (
                    std::mem::replace(a, Node::Defer),
                    std::mem::replace(b, Node::Defer),
                );
                (Node::MinMax(name == "min", Box::new(a), Box::new(b)), ty)
            }
            ("approve", []) => (
                Node::Verdict(VerdictKind::Approve, Reasons::Listed(Vec::new()), None, at),
                Ty::Verdict,
            ),
            ("approve", [(n, t)]) if t.is_number() => {
                let n = std::mem::replace(n, Node::Defer);
                (
                    Node::Verdict(
                        VerdictKind::Approve,
                        Reasons::Listed(Vec::new()),
                        Some(Box::new(n)),
                        at,
                    ),
                    Ty::Verdict,
                )
            }
            ("decline" | "review", list) if !list.is_empty() => {
                let kind = if name == "decline" {
                    VerdictKind::Decline
                } else {
                    VerdictKind::Review
                };
                let reasons = match list {
                    [(Node::Local(slot), Ty::Arr)] => Reasons::Array(*slot),
                    [(Node::NewArray(_, codes), Ty::Arr)] => Reasons::Listed(std::mem::take(codes)),
                    _ if list.len() <= 4 => {
                        let mut codes = Vec::new();
                        for (i, a) in args.iter().enumerate() {
                            let Expr::Lit(Const::Str(s)) = a else {
                                return None;
                            };
                            if list[i].1 != Ty::Str {
                                return None;
                            }
                            match self.reason(s) {
                                Some(r) => codes.push(r),
                                // Not a reason code: Rhai reports it.
                                None => return Some((Node::Defer, Ty::Verdict)),
                            }
                        }
                        Reasons::Listed(codes)
                    }
                    _ => return None,
                };
                (Node::Verdict(kind, reasons, None, at), Ty::Verdict)
            }
            _ => return None,
        })
    }

    /// A helper function, compiled for these arguments.
    fn inline(&mut self, f: &FnDef, args: &[Expr]) -> Option<(Node, Ty)> {
        if self.depth >= 8 {
            return None;
        }
        let mut values = Vec::with_capacity(args.len());
        let mut frame = Vec::with_capacity(args.len());
        let mut slots = Vec::with_capacity(args.len());
        for (param, a) in f.params.iter().zip(args) {
            let (n, ty) = self.expr(a)?;
            if ty == Ty::Arr {
                return None;
            }
            let binding = match ty {
                // `user` and `params` are the caller's maps, passed through.
                Ty::User | Ty::Params => (usize::MAX, ty),
                _ => {
                    let slot = self.slot();
                    slots.push(slot);
                    values.push(n);
                    (slot, ty)
                }
            };
            frame.push((param.clone(), binding));
        }
        self.depth += 1;
        self.scopes.push(frame);
        let body = self.block(&f.body);
        self.scopes.pop();
        self.depth -= 1;
        let (body, ty) = body?;
        // A helper that can end without a value, or only returns, is Rhai's.
        let ty = ty?;
        if !ty.returnable() {
            return None;
        }
        Some((Node::Call(slots, values, Box::new(body)), ty))
    }
}

/// The type of arithmetic between two numbers, as Rhai computes it.
fn number_result(a: Ty, b: Ty) -> Option<Ty> {
    Some(match (a, b) {
        (Ty::Int, Ty::Int) => Ty::Int,
        (Ty::Float, Ty::Float) | (Ty::Int, Ty::Float) | (Ty::Float, Ty::Int) => Ty::Float,
        (Ty::Dec, t) | (t, Ty::Dec) if t.is_number() => Ty::Dec,
        _ => return None,
    })
}
