//! Rhai expressions as written in a policy: the simple subset polsim parses
//! itself, and the text handed to Rhai for everything else.
//!
//! The subset — literals, fields, parameters, `! -` and
//! `* / % + - == != < <= > >= && ||` with Rhai's precedence — is parsed here so that it can be
//! lowered onto the same column kernels as YAML conditions (see
//! [`super::lower`]). Anything else (function calls, `if`, methods, indexing,
//! number forms like `1_000` or `1e3`) makes [`parse`] return `None`, and the
//! expression runs in Rhai instead. Both paths must agree; a property test
//! says so.

use super::condition::CmpOp;

/// A parsed expression of the simple subset. Offsets are byte offsets into
/// the expression text, for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    /// A field or derived field.
    Name(String, usize),
    /// `$name` or `params.name`.
    Param(String, usize),
    Int(i64),
    /// A float literal and its text (kept so a decimal context reads it exactly).
    Float(String),
    Str(String),
    Bool(bool),
    Not(Box<Ast>),
    Neg(Box<Ast>),
    Arith(ArithOp, Box<Ast>, Box<Ast>, usize),
    Cmp(CmpOp, Box<Ast>, Box<Ast>, usize),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl ArithOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Param(String),
    Int(i64),
    Float(String),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    Dot,
    /// Anything outside the subset.
    Other,
}

const OPS: [&str; 17] = [
    "&&", "||", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "!", "(", ")", ".",
];

/// The tokens of `text` with their byte offsets.
fn tokens(text: &str) -> Vec<(Tok, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || (c == b'$' && i + 1 < b.len()) {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &text[start..i];
            out.push(match word.strip_prefix('$') {
                Some(p) if !p.is_empty() => (Tok::Param(p.to_owned()), start),
                Some(_) => (Tok::Other, start),
                None => (Tok::Ident(word.to_owned()), start),
            });
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let mut float = false;
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                float = true;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            // `1_000`, `1e3`, `0x10`, `1.`: Rhai's to read.
            if i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                out.push((Tok::Other, start));
                i += 1;
                continue;
            }
            let t = &text[start..i];
            out.push(match (float, t.parse::<i64>()) {
                (false, Ok(v)) => (Tok::Int(v), start),
                (false, Err(_)) => (Tok::Other, start),
                (true, _) => (Tok::Float(t.to_owned()), start),
            });
            continue;
        }
        if c == b'"' {
            let end = text[i + 1..].find('"').map(|e| i + 1 + e);
            match end {
                Some(e) if !text[i + 1..e].contains('\\') => {
                    out.push((Tok::Str(text[i + 1..e].to_owned()), start));
                    i = e + 1;
                }
                _ => {
                    // A string with escapes is Rhai's to read; skip to its real end.
                    out.push((Tok::Other, start));
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            continue;
        }
        match OPS.iter().find(|op| text[i..].starts_with(**op)) {
            Some(op) => {
                // `//` and `/*` start comments; `&`/`|` alone, `!in`, `..` are not the subset.
                let next = b.get(i + op.len()).copied();
                if *op == "/" && matches!(next, Some(b'/' | b'*')) {
                    out.push((Tok::Other, start));
                    i = skip_comment(b, i);
                    continue;
                }
                let tok = match *op {
                    "." if next == Some(b'.') => Tok::Other,
                    "(" => Tok::LParen,
                    ")" => Tok::RParen,
                    "." => Tok::Dot,
                    op => Tok::Op(op),
                };
                out.push((tok, start));
                i += op.len();
            }
            None => {
                out.push((Tok::Other, start));
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    out
}

/// The offset just past the comment starting at `i` (`//` to the end of the
/// line, or a `/* */` block, which Rhai lets nest).
fn skip_comment(b: &[u8], mut i: usize) -> usize {
    if b[i + 1] == b'/' {
        return b[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |e| i + e);
    }
    let mut depth = 0usize;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// How deep an expression of the subset may nest: levels of operators and
/// parentheses (`a + b` is one, `(a + b) * c` three, `a + b + c` two). The
/// same as the YAML nesting limit and as Rhai's own, which stops deeper
/// expressions that are not in the subset.
pub const MAX_DEPTH: usize = super::load::MAX_NESTING;

/// Parses `text` if it is in the simple subset.
pub fn parse(text: &str) -> Option<Ast> {
    parse_checked(text).ok().flatten()
}

/// [`parse`], or the byte offset where an expression of the subset nests
/// deeper than [`MAX_DEPTH`] (parsing, lowering and dropping a tree recurse,
/// so a deeper one is refused before it is built).
pub fn parse_checked(text: &str) -> Result<Option<Ast>, usize> {
    let toks = tokens(text);
    if toks.iter().any(|(t, _)| *t == Tok::Other) {
        return Ok(None);
    }
    let mut p = Parser {
        toks,
        at: 0,
        level: 0,
        too_deep: None,
    };
    let ast = p.expr(0);
    if let Some(at) = p.too_deep {
        return Err(at);
    }
    Ok(ast.filter(|_| p.at == p.toks.len()).map(|(a, _)| a))
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    /// Constructs open around the one being parsed.
    level: usize,
    /// Where the expression first went deeper than [`MAX_DEPTH`].
    too_deep: Option<usize>,
}

/// Rhai's binding powers for the operators of the subset.
pub(super) fn precedence(op: &str) -> Option<u8> {
    Some(match op {
        "||" => 30,
        "&&" => 60,
        "==" | "!=" => 90,
        "<" | "<=" | ">" | ">=" => 130,
        "+" | "-" => 150,
        "*" | "/" | "%" => 180,
        _ => return None,
    })
}

/// A tree and its depth (a leaf is 0).
type Node = (Ast, usize);

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.at).map_or(0, |(_, o)| *o)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|(t, _)| t.clone());
        self.at += 1;
        t
    }

    /// A node of depth `depth`, or `None` (noting where) past [`MAX_DEPTH`].
    fn node(&mut self, ast: Ast, depth: usize, at: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            self.too_deep.get_or_insert(at);
            return None;
        }
        Some((ast, depth))
    }

    /// Runs `f` one level deeper, for the construct at `at`; never
    /// recurses past [`MAX_DEPTH`].
    fn nested(&mut self, at: usize, f: impl FnOnce(&mut Self) -> Option<Node>) -> Option<Node> {
        if self.level >= MAX_DEPTH {
            self.too_deep.get_or_insert(at);
            return None;
        }
        self.level += 1;
        let r = f(self);
        self.level -= 1;
        r
    }

    fn expr(&mut self, min: u8) -> Option<Node> {
        let (mut lhs, mut depth) = self.unary()?;
        let mut last_cmp: Option<u8> = None;
        while let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            let Some(prec) = precedence(op) else { break };
            if prec <= min {
                break;
            }
            // `a < b < c` compares a bool with a number in Rhai: not the subset.
            if matches!(prec, 90 | 130) && last_cmp == Some(prec) {
                return None;
            }
            let at = self.offset();
            self.at += 1;
            let (rhs, rhs_depth) = self.expr(prec)?;
            let ast = match op {
                "&&" => Ast::And(Box::new(lhs), Box::new(rhs)),
                "||" => Ast::Or(Box::new(lhs), Box::new(rhs)),
                "+" => Ast::Arith(ArithOp::Add, Box::new(lhs), Box::new(rhs), at),
                "-" => Ast::Arith(ArithOp::Sub, Box::new(lhs), Box::new(rhs), at),
                "*" => Ast::Arith(ArithOp::Mul, Box::new(lhs), Box::new(rhs), at),
                "/" => Ast::Arith(ArithOp::Div, Box::new(lhs), Box::new(rhs), at),
                "%" => Ast::Arith(ArithOp::Rem, Box::new(lhs), Box::new(rhs), at),
                cmp => Ast::Cmp(cmp_op(cmp), Box::new(lhs), Box::new(rhs), at),
            };
            (lhs, depth) = self.node(ast, depth.max(rhs_depth) + 1, at)?;
            last_cmp = matches!(prec, 90 | 130).then_some(prec);
        }
        Some((lhs, depth))
    }

    fn unary(&mut self) -> Option<Node> {
        let at = self.offset();
        let leaf = |ast| Some((ast, 0));
        match self.next()? {
            Tok::Op("!") => {
                let (a, d) = self.nested(at, Self::unary)?;
                self.node(Ast::Not(Box::new(a)), d + 1, at)
            }
            Tok::Op("-") => match self.peek() {
                // Rhai reads `-5` as a literal.
                Some(Tok::Int(v)) => {
                    let v = -*v;
                    self.at += 1;
                    leaf(Ast::Int(v))
                }
                Some(Tok::Float(t)) => {
                    let t = format!("-{t}");
                    self.at += 1;
                    leaf(Ast::Float(t))
                }
                _ => {
                    let (a, d) = self.nested(at, Self::unary)?;
                    self.node(Ast::Neg(Box::new(a)), d + 1, at)
                }
            },
            Tok::LParen => {
                let (inner, d) = self.nested(at, |p| p.expr(0))?;
                if self.next()? != Tok::RParen {
                    return None;
                }
                // Parentheses are a level: Rhai counts them.
                self.node(inner, d + 1, at)
            }
            Tok::Int(v) => leaf(Ast::Int(v)),
            Tok::Float(t) => leaf(Ast::Float(t)),
            Tok::Str(s) => leaf(Ast::Str(s)),
            Tok::Param(p) => leaf(Ast::Param(p, at)),
            Tok::Ident(name) => match name.as_str() {
                "true" => leaf(Ast::Bool(true)),
                "false" => leaf(Ast::Bool(false)),
                "params" => {
                    if self.next()? != Tok::Dot {
                        return None;
                    }
                    let at = self.offset();
                    match self.next()? {
                        Tok::Ident(p) => leaf(Ast::Param(p, at)),
                        _ => None,
                    }
                }
                _ if RESERVED.contains(&name.as_str()) => None,
                // A call or a property: Rhai's.
                _ if matches!(self.peek(), Some(Tok::LParen | Tok::Dot)) => None,
                _ => leaf(Ast::Name(name, at)),
            },
            _ => None,
        }
    }
}

/// The number literals of `text` that a float does not hold as written
/// (`0.50000000000000000000000000001` is read as `0.5`), with the value
/// they would be read as and their offsets. Rhai reads a number with a
/// point as a float, in either path.
pub fn inexact_numbers(text: &str) -> Vec<(String, String, usize)> {
    tokens(text)
        .into_iter()
        .filter_map(|(t, at)| {
            let Tok::Float(written) = t else { return None };
            let read = written.parse::<f64>().ok()?.to_string();
            let (whole, fraction) = written.split_once('.').unwrap_or((&written, ""));
            let (whole, fraction) = (
                whole.trim_start_matches('0'),
                fraction.trim_end_matches('0'),
            );
            let whole = if whole.is_empty() { "0" } else { whole };
            let normal = if fraction.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{fraction}")
            };
            (normal != read).then_some((written, read, at))
        })
        .collect()
}

fn cmp_op(op: &str) -> CmpOp {
    match op {
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Lte,
        ">" => CmpOp::Gt,
        _ => CmpOp::Gte,
    }
}

/// Words Rhai reserves; never field names in an expression.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "let",
    "const",
    "if",
    "else",
    "switch",
    "do",
    "while",
    "until",
    "loop",
    "for",
    "in",
    "continue",
    "break",
    "return",
    "throw",
    "try",
    "catch",
    "fn",
    "private",
    "import",
    "export",
    "as",
    "this",
    "is_def_var",
    "is_def_fn",
    "Fn",
    "call",
    "curry",
    "type_of",
    "print",
    "debug",
    "eval",
    "global",
    "params",
];

/// The identifiers of `text` that could name a field: not keywords, not
/// after a `.`, not called. A superset is fine: it only decides which
/// values are pushed into Rhai's scope.
pub fn names(text: &str) -> Vec<(String, usize)> {
    let toks = tokens(text);
    let mut out: Vec<(String, usize)> = Vec::new();
    for (i, (t, at)) in toks.iter().enumerate() {
        let Tok::Ident(name) = t else { continue };
        let after_dot = i > 0 && toks[i - 1].0 == Tok::Dot;
        let called = toks.get(i + 1).is_some_and(|(t, _)| *t == Tok::LParen);
        if !after_dot && !called && !RESERVED.contains(&name.as_str()) {
            out.push((name.clone(), *at));
        }
    }
    out
}

/// Every identifier in `text`, properties included: the fields a script may read.
pub fn words(text: &str) -> Vec<String> {
    tokens(text)
        .into_iter()
        .filter_map(|(t, _)| match t {
            Tok::Ident(w) => Some(w),
            _ => None,
        })
        .collect()
}

/// Every parameter an expression names, as `$name` or `params.name`, with offsets.
pub fn params(text: &str) -> Vec<(String, usize)> {
    let toks = tokens(text);
    let mut out = members(&toks, "params");
    out.extend(toks.iter().filter_map(|(t, at)| match t {
        Tok::Param(p) => Some((p.clone(), *at)),
        _ => None,
    }));
    out.sort_by_key(|(_, at)| *at);
    out
}

/// Every property read from `object` (`object.name`, not a method call
/// `object.name(...)`), with offsets; comments and strings are skipped.
pub fn properties(text: &str, object: &str) -> Vec<(String, usize)> {
    members(&tokens(text), object)
}

/// The kind of a literal a property is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    Number,
    Text,
    Bool,
}

/// Every comparison of a property of `object` with a literal
/// (`user.score >= 600`, `"rental" == user.scenario`): the property, the
/// operator, the literal's kind and text, and the property's offset.
pub fn compared_properties(
    text: &str,
    object: &str,
) -> Vec<(String, &'static str, LiteralKind, String, usize)> {
    let toks = tokens(text);
    let literal = |t: &Tok| match t {
        Tok::Int(v) => Some((LiteralKind::Number, v.to_string())),
        Tok::Float(f) => Some((LiteralKind::Number, f.clone())),
        Tok::Str(s) => Some((LiteralKind::Text, format!("\"{s}\""))),
        Tok::Ident(w) if w == "true" || w == "false" => Some((LiteralKind::Bool, w.clone())),
        _ => None,
    };
    let cmp = |t: &Tok| match t {
        Tok::Op(op) if matches!(*op, "==" | "!=" | "<" | "<=" | ">" | ">=") => Some(*op),
        _ => None,
    };
    let mut out = Vec::new();
    for (i, (t, _)) in toks.iter().enumerate() {
        if !matches!(t, Tok::Ident(w) if w == object) || (i > 0 && toks[i - 1].0 == Tok::Dot) {
            continue;
        }
        let (Some((Tok::Dot, _)), Some((Tok::Ident(p), at))) = (toks.get(i + 1), toks.get(i + 2))
        else {
            continue;
        };
        // `LITERAL OP user.p` or `user.p OP LITERAL`.
        let before = i
            .checked_sub(2)
            .and_then(|b| Some((cmp(&toks[b + 1].0)?, literal(&toks[b].0)?)));
        let after = toks
            .get(i + 3)
            .zip(toks.get(i + 4))
            .and_then(|(o, l)| Some((cmp(&o.0)?, literal(&l.0)?)));
        // Written `LITERAL OP user.p`: reported as `user.p OP' LITERAL`.
        let flipped = before.map(|(op, l)| {
            let op = match op {
                "<" => ">",
                "<=" => ">=",
                ">" => "<",
                ">=" => "<=",
                same => same,
            };
            (op, l)
        });
        if let Some((op, (kind, lit))) = after.or(flipped) {
            out.push((p.clone(), op, kind, lit, *at));
        }
    }
    out
}

fn members(toks: &[(Tok, usize)], object: &str) -> Vec<(String, usize)> {
    members_where(toks, |w| w == object)
        .into_iter()
        .map(|(_, p, at)| (p, at))
        .collect()
}

/// Every `OBJECT.NAME` in `text`, whatever the object (not a method call
/// `OBJECT.NAME(...)`): the object, the name and the name's offset;
/// comments and strings are skipped.
pub fn member_reads(text: &str) -> Vec<(String, String, usize)> {
    members_where(&tokens(text), |_| true)
}

fn members_where(
    toks: &[(Tok, usize)],
    object: impl Fn(&str) -> bool,
) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (i, (t, _)) in toks.iter().enumerate() {
        let after_dot = i > 0 && toks[i - 1].0 == Tok::Dot;
        let Tok::Ident(w) = t else { continue };
        if !object(w) || after_dot {
            continue;
        }
        if let (Some((Tok::Dot, _)), Some((Tok::Ident(p), at))) = (toks.get(i + 1), toks.get(i + 2))
        {
            let called = toks.get(i + 3).is_some_and(|(t, _)| *t == Tok::LParen);
            if !called {
                out.push((w.clone(), p.clone(), *at));
            }
        }
    }
    out
}

/// The text Rhai compiles: `$name` becomes `_name`, which keeps every
/// column where it was, so Rhai's positions are the author's.
pub fn rhai_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut prev = '\0';
    for c in text.chars() {
        if c == '"' && prev != '\\' {
            in_string = !in_string;
        }
        out.push(if c == '$' && !in_string { '_' } else { c });
        prev = c;
    }
    out
}

/// The Rhai variable a parameter is bound to.
pub fn param_variable(name: &str) -> String {
    format!("_{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subset_with_rhai_precedence() {
        let a = parse("a < 0.3 || b >= $min && !c").unwrap();
        let Ast::Or(l, r) = a else { panic!() };
        assert!(matches!(*l, Ast::Cmp(CmpOp::Lt, _, _, 2)));
        assert!(matches!(*r, Ast::And(..)));
        assert_eq!(
            parse("1 + 2 * 3"),
            Some(Ast::Arith(
                ArithOp::Add,
                Box::new(Ast::Int(1)),
                Box::new(Ast::Arith(
                    ArithOp::Mul,
                    Box::new(Ast::Int(2)),
                    Box::new(Ast::Int(3)),
                    6
                )),
                2
            ))
        );
        assert_eq!(parse("params.x"), Some(Ast::Param("x".into(), 7)));
        assert_eq!(parse("-5"), Some(Ast::Int(-5)));
    }

    #[test]
    fn anything_else_is_left_to_rhai() {
        for text in [
            "min(a, 5)",
            "a.len()",
            "if a { 1 } else { 2 }",
            "1_000 < a",
            "a < b < c",
            "a // comment",
            "x[0]",
            "\"a\\\"b\" == s",
            "1e3",
            "a ?? 0",
            "",
            "(a",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn nesting_is_limited_without_recursing_past_the_limit() {
        let depth = |text: &str| parse_checked(text).map(|a| a.is_some());
        // 64 levels: parentheses, unary operators and operator chains count.
        let parens = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(depth(&parens(64)), Ok(true));
        assert_eq!(depth(&parens(65)), Err(64));
        assert_eq!(depth(&format!("{}a", "!".repeat(64))), Ok(true));
        assert_eq!(depth(&format!("{}a", "!".repeat(65))), Err(64));
        let chain = |n: usize| vec!["a"; n + 1].join(" + ");
        assert_eq!(depth(&chain(64)), Ok(true));
        assert_eq!(depth(&chain(65)), Err(4 * 64 + 2));
        // Far deeper: an error, not a stack overflow.
        for text in [
            parens(1_000_000),
            "- ".repeat(1_000_000) + "a",
            chain(1_000_000),
        ] {
            assert!(depth(&text).is_err());
            assert_eq!(parse(&text), None);
        }
        // Outside the subset, Rhai's own limit applies.
        assert_eq!(depth(&format!("{}min(a, 1)", "!".repeat(100))), Ok(false));
    }

    #[test]
    fn numbers_a_float_does_not_hold_as_written_are_found() {
        let found = inexact_numbers(
            "a > 0.50000000000000000000000000001 && b < 0.1 && c == 100.000 && d > 007.50 \
             && e > 3.14159265358979323846 // 0.50000000000000000000000000001\n \
             && s == \"0.50000000000000000000000000001\"",
        );
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|(w, r, _)| (w.as_str(), r.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("0.50000000000000000000000000001", "0.5"),
                ("3.14159265358979323846", "3.141592653589793")
            ]
        );
    }

    #[test]
    fn names_and_params_are_found() {
        let text = "min(order_amount, $cap) / params.base + user.x > \"s t\"";
        let names: Vec<String> = names(text).into_iter().map(|n| n.0).collect();
        assert_eq!(names, ["order_amount", "user"]);
        let params: Vec<String> = params(text).into_iter().map(|n| n.0).collect();
        assert_eq!(params, ["cap", "base"]);
        assert_eq!(rhai_text("a > $m && s == \"$x\""), "a > _m && s == \"$x\"");
    }

    #[test]
    fn comments_and_strings_hide_what_they_hold() {
        let script = "// params.in_a_comment\n/* user.a /* nested */ user.b */\n\
                      let s = \"esc \\\" params.in_a_string\";\n\
                      if user.score < params.min { user.name.len() } else { user.keys() }";
        let params: Vec<String> = params(script).into_iter().map(|n| n.0).collect();
        assert_eq!(params, ["min"]);
        let props: Vec<String> = properties(script, "user")
            .into_iter()
            .map(|n| n.0)
            .collect();
        assert_eq!(props, ["score", "name"]);
    }
}
