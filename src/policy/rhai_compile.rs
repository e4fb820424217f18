//! Compiling the Rhai half of a policy: `derive`, `expr` rules, amounts
//! written as expressions, and `script` policies.
//!
//! Every expression is first tried as the simple subset ([`super::expr`]),
//! lowered to native kernels ([`super::lower`]); only the rest is compiled
//! by Rhai, once, against the parameters as constants. Whatever runs in Rhai
//! becomes a derived column, computed a batch at a time before the rules, so
//! the rules themselves always run on column kernels.

use super::compile::Scope;
use super::condition::{CmpOp, Col, Cond};
use super::expr;
use super::lower::{self, Lowered, Names, Num, param_value};
use super::model::is_reason_code;
use super::native_script::{self, NativeScript};
use super::script::{self, RhaiEngine};
use super::source::Source;
use crate::dataset::value::{FieldType, Value};
use crate::error::{Diagnostic, Location};
use marked_yaml::types::MarkedScalarNode;
use rhai::{AST, Dynamic, Engine, Position};
use std::path::PathBuf;
use std::sync::Arc;

/// A column computed per batch.
#[derive(Debug, Clone)]
pub struct Derived {
    /// The `derive` name; `None` for an expression that is not a named field.
    pub name: Option<String>,
    pub ty: FieldType,
    pub how: DeriveHow,
}

#[derive(Debug, Clone)]
pub enum DeriveHow {
    /// A lowered condition: true, false or missing (unknown).
    Cond(Cond),
    /// Lowered arithmetic.
    Num(Num),
    /// A Rhai expression evaluated per row.
    Rhai(RowExpr),
}

/// A Rhai expression and what it needs per row.
#[derive(Debug, Clone)]
pub struct RowExpr {
    pub ast: AST,
    /// The variables pushed into the scope per row, and the columns they come from.
    pub reads: Vec<(String, Col)>,
    pub site: Site,
}

/// Where an expression or script is written, for runtime errors.
#[derive(Debug, Clone)]
pub struct Site {
    /// `derived field `x``, `rule `min_score``, `the script`.
    pub what: String,
    /// The file, and the line and column of the expression's first character.
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The text of the file, to quote a line.
    pub text: Arc<str>,
    /// The expression's text as Rhai reads it (YAML has removed the
    /// indentation and quotes, and may have folded lines).
    pub expr: Arc<str>,
}

impl Site {
    /// The location of Rhai position `(line, column)` inside the expression.
    pub fn location(&self, line: usize, column: usize) -> Location {
        let mut offset = 0;
        for (i, l) in self.expr.split_inclusive('\n').enumerate() {
            if i + 1 == line.max(1) {
                offset += l
                    .chars()
                    .take(column.max(1) - 1)
                    .map(char::len_utf8)
                    .sum::<usize>();
                break;
            }
            offset += l.len();
        }
        self.location_of(&self.expr, offset)
    }

    /// The location of a byte offset into the expression's `text`. YAML
    /// keeps every non-blank character of an expression, in order, so the
    /// n-th one in the text is the n-th one in the file from where the
    /// expression starts, however YAML indented, folded or quoted it.
    pub fn location_of(&self, text: &str, offset: usize) -> Location {
        let before = &text[..offset.min(text.len())];
        let mut wanted = before.chars().filter(|c| !c.is_whitespace()).count();
        for (i, l) in self
            .text
            .lines()
            .enumerate()
            .skip(self.line.saturating_sub(1))
        {
            let skip = if i + 1 == self.line {
                self.column.saturating_sub(1)
            } else {
                0
            };
            for (col, c) in l.chars().enumerate().skip(skip) {
                if c.is_whitespace() {
                    continue;
                }
                if wanted == 0 {
                    return Location::new(&self.file, i + 1, col + 1);
                }
                wanted -= 1;
            }
        }
        Location::new(&self.file, self.line, self.column)
    }

    /// A diagnostic pointing at a byte offset into the expression's text.
    pub fn diagnostic_at(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(message).at_source(self.location_of(&self.expr, offset), &self.text, 1)
    }

    /// A diagnostic pointing at Rhai position `pos` (the expression's start when unknown).
    pub fn diagnostic(&self, pos: rhai::Position, message: impl Into<String>) -> Diagnostic {
        let (line, column) = (pos.line().unwrap_or(1), pos.position().unwrap_or(1));
        Diagnostic::new(message).at_source(self.location(line, column), &self.text, 1)
    }
}

/// The Rhai side of a compilation: the engine, built on first use, and the
/// parameters as constants.
pub struct RhaiCtx {
    engine: Option<Arc<Engine>>,
    pub constants: rhai::Scope<'static>,
    text: Arc<str>,
}

impl RhaiCtx {
    pub fn new(src: &Source, params: &[(String, String)]) -> RhaiCtx {
        let mut constants = rhai::Scope::new();
        let mut map = rhai::Map::new();
        for (name, raw) in params {
            let v = dynamic(&param_value(raw));
            map.insert(name.as_str().into(), v.clone());
            constants.push_constant(expr::param_variable(name), v);
        }
        constants.push_constant("params", map);
        RhaiCtx {
            engine: None,
            constants,
            text: Arc::from(src.text.as_str()),
        }
    }

    pub fn engine(&mut self) -> &Engine {
        // Rhai's optimizer may run built-ins while compiling: a fresh account.
        script::budget::start_row();
        self.engine
            .get_or_insert_with(|| Arc::new(script::engine()))
    }

    /// The engine, if anything needed it.
    pub fn finish(self) -> Option<RhaiEngine> {
        self.engine.map(RhaiEngine)
    }
}

/// A policy value as Rhai sees it.
pub fn dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Int(i) => Dynamic::from_int(*i),
        Value::Float(f) => Dynamic::from_float(*f),
        Value::Decimal(d) => Dynamic::from_decimal(*d),
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::String(s) => Dynamic::from(String::from_utf8_lossy(s).into_owned()),
    }
}

impl Names for Scope<'_> {
    fn field(&mut self, name: &str) -> Option<(Col, FieldType)> {
        Scope::field(self, name)
    }

    fn param(&self, name: &str) -> Option<String> {
        Scope::param(self, name).map(str::to_owned)
    }
}

/// A compiled expression: lowered, or Rhai's.
enum Compiled {
    Lowered(Lowered),
    Rhai(RowExpr),
}

/// Where a YAML scalar's text starts: after its opening quote, if any.
fn start_of(src: &Source, node: &MarkedScalarNode) -> (usize, usize) {
    let loc = src.location(node.span());
    let quoted = src
        .text
        .lines()
        .nth(loc.line.saturating_sub(1))
        .and_then(|l| l.chars().nth(loc.column.saturating_sub(1)))
        .is_some_and(|c| c == '"' || c == '\'');
    (loc.line, loc.column + usize::from(quoted))
}

/// Compiles the expression in `node`; `None` after recording an error.
fn compile(
    src: &mut Source,
    scope: &mut Scope,
    ctx: &mut RhaiCtx,
    node: &MarkedScalarNode,
    what: &str,
) -> Option<Compiled> {
    let text = node.as_str();
    let (line, column) = start_of(src, node);
    let site = Site {
        what: what.to_owned(),
        file: src.path.clone(),
        line,
        column,
        text: ctx.text.clone(),
        expr: Arc::from(text),
    };
    let error_at = |src: &mut Source, offset: usize, width: usize, message: String, help: &str| {
        let d = Diagnostic::new(message)
            .at_source(site.location_of(text, offset), &src.text, width)
            .help(help);
        src.diagnostics.push(d);
    };
    if text.trim().is_empty() {
        error_at(
            src,
            0,
            1,
            format!("{what} is an empty expression"),
            "write a Rhai expression, e.g. `zhima_score >= 600`",
        );
        return None;
    }
    // Every parameter must exist, in either path.
    let mut ok = true;
    for (p, at) in expr::params(text) {
        if scope.param(&p).is_none() {
            let names = scope.param_names();
            let help = match crate::error::did_you_mean(&p, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("define `{p}` under `params`"),
            };
            error_at(
                src,
                at,
                p.len() + 1,
                format!("undefined parameter `{p}` in {what}"),
                &help,
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    // A number Rhai would read as a float it cannot hold as written.
    for (written, read, at) in expr::inexact_numbers(text) {
        error_at(
            src,
            at,
            written.len(),
            format!(
                "`{written}` in {what} has too many digits: a number with a point is read as a float, which holds it as `{read}`"
            ),
            "write the number with at most 17 significant digits; to compare a decimal field exactly with a longer one, use a YAML condition",
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    let parsed = match expr::parse_checked(text) {
        Ok(parsed) => parsed,
        Err(at) => {
            error_at(
                src,
                at,
                1,
                format!("{what} nests deeper than {} levels", expr::MAX_DEPTH),
                "split it: compute parts as derived fields (`derive:`) and combine them",
            );
            return None;
        }
    };
    if let Some(ast) = parsed {
        match lower::lower(&ast, scope) {
            Ok(Some(l)) => return Some(Compiled::Lowered(l)),
            Ok(None) => {}
            Err(e) => {
                let help = unknown_help(scope, &e.message).unwrap_or(e.help);
                error_at(src, e.at, 1, format!("{} in {what}", e.message), &help);
                return None;
            }
        }
    }
    // Rhai's: every name must be a field or a derived field.
    let mut reads = Vec::new();
    for (name, at) in expr::names(text) {
        if reads.iter().any(|(n, _)| *n == name) {
            continue;
        }
        match scope.field(&name) {
            Some((c, _)) => reads.push((name, c)),
            None => {
                let help = unknown_help(scope, &format!("unknown field `{name}`"))
                    .unwrap_or_else(|| "declare it under `fields` or `derive`".into());
                error_at(
                    src,
                    at,
                    name.chars().count(),
                    format!("unknown field `{name}` in {what}"),
                    &help,
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let rhai_text = expr::rhai_text(text);
    let constants = std::mem::take(&mut ctx.constants);
    let compiled = ctx
        .engine()
        .compile_expression_with_scope(&constants, &rhai_text);
    ctx.constants = constants;
    match compiled {
        Ok(ast) => Some(Compiled::Rhai(RowExpr { ast, reads, site })),
        Err(e) => {
            let pos = e.position();
            let d = site
                .diagnostic(pos, format!("{what} is not a valid Rhai expression: {}", e.err_type()))
                .help("fix the expression; Rhai's syntax is close to Rust's: `a >= 600 && b`, `min(x, 5000)`");
            src.diagnostics.push(d);
            None
        }
    }
}

/// A did-you-mean for an unknown field named in `message`.
fn unknown_help(scope: &Scope, message: &str) -> Option<String> {
    let name = message.strip_prefix("unknown field `")?.split('`').next()?;
    if let Some(at) = scope.derive_names.iter().position(|n| *n == name) {
        return Some(if at < scope.derives_tried {
            format!("derived field `{name}` has an error of its own, reported above")
        } else {
            format!(
                "derived fields are computed in order, each from the fields and the derived fields above it: move `{name}` up"
            )
        });
    }
    let names = scope.field_names();
    crate::error::did_you_mean(name, names.iter().copied()).map(|b| format!("did you mean `{b}`?"))
}

/// A rule's `expr`: a condition.
pub fn rule(
    src: &mut Source,
    scope: &mut Scope,
    ctx: &mut RhaiCtx,
    node: &MarkedScalarNode,
    id: &str,
) -> Option<Cond> {
    let what = format!("rule `{id}`");
    match compile(src, scope, ctx, node, &what)? {
        Compiled::Lowered(Lowered::Cond(c)) => Some(c),
        Compiled::Lowered(Lowered::Num(Num::Const(Value::Bool(b)), _)) => Some(if b {
            Cond::True
        } else {
            Cond::Not(Box::new(Cond::True))
        }),
        Compiled::Lowered(Lowered::Num(Num::Column(column), FieldType::Bool)) => {
            Some(Cond::Compare {
                column,
                op: CmpOp::Eq,
                value: Value::Bool(true),
            })
        }
        Compiled::Lowered(Lowered::Num(_, ty)) => {
            src.key_error(
                node,
                format!(
                    "the `expr` of {what} gives {}, not a bool",
                    ty.with_article()
                ),
                "a rule's expression is a condition: compare, e.g. `zhima_score >= 600`",
            );
            None
        }
        Compiled::Rhai(r) => {
            let column = Col::Derived(scope.add_derived(Derived {
                name: None,
                ty: FieldType::Bool,
                how: DeriveHow::Rhai(r),
            }));
            Some(truth(column))
        }
    }
}

fn truth(column: Col) -> Cond {
    Cond::Compare {
        column,
        op: CmpOp::Eq,
        value: Value::Bool(true),
    }
}

/// `derive: NAME: EXPR` or `NAME: { expr: EXPR, type: TYPE }`: adds the derived field.
pub fn derive(
    src: &mut Source,
    scope: &mut Scope,
    ctx: &mut RhaiCtx,
    name: &MarkedScalarNode,
    text: &MarkedScalarNode,
    declared: Option<FieldType>,
) {
    if scope.field(name.as_str()).is_some() {
        src.key_error(
            name,
            format!(
                "derived field `{}` has the name of a declared field or an earlier derived field",
                name.as_str()
            ),
            "give the derived field its own name",
        );
        return;
    }
    let what = format!("derived field `{}`", name.as_str());
    let Some(compiled) = compile(src, scope, ctx, text, &what) else {
        return;
    };
    let (ty, how) = match compiled {
        Compiled::Lowered(Lowered::Cond(c)) => (FieldType::Bool, DeriveHow::Cond(c)),
        Compiled::Lowered(Lowered::Num(n, ty)) => (ty, DeriveHow::Num(n)),
        Compiled::Rhai(r) => match declared {
            Some(ty) => (ty, DeriveHow::Rhai(r)),
            None => {
                src.key_error(
                    name,
                    format!("{what} runs in Rhai, so polsim cannot tell its type before the data is read"),
                    format!("write its type (string, int, float, decimal or bool): `{}: {{ expr: \"...\", type: decimal }}`", name.as_str()),
                );
                return;
            }
        },
    };
    let (ty, how) = match (declared, how) {
        (Some(want), DeriveHow::Num(n)) if want != ty => match widen(n, ty, want) {
            Some(n) => (want, DeriveHow::Num(n)),
            None => {
                src.key_error(
                    text,
                    format!(
                        "{what} is declared {want} but computes {}",
                        ty.with_article()
                    ),
                    "change `type`, or the expression",
                );
                return;
            }
        },
        (Some(want), DeriveHow::Cond(_)) if want != FieldType::Bool => {
            src.key_error(
                text,
                format!("{what} is declared {want} but is a condition (a bool)"),
                "declare it `type: bool`",
            );
            return;
        }
        (_, how) => (ty, how),
    };
    scope.add_derived(Derived {
        name: Some(name.as_str().to_owned()),
        ty,
        how,
    });
}

/// An int or float widened to a float or decimal.
fn widen(n: Num, from: FieldType, to: FieldType) -> Option<Num> {
    use FieldType::*;
    match (from, to) {
        (Int, Float | Decimal) | (Float, Decimal) => Some(Num::Cast(Box::new(n), to)),
        _ => None,
    }
}

/// An amount written as an expression: a decimal derived column.
pub fn amount(
    src: &mut Source,
    scope: &mut Scope,
    ctx: &mut RhaiCtx,
    node: &MarkedScalarNode,
    what: &str,
) -> Option<usize> {
    let how = match compile(src, scope, ctx, node, what)? {
        Compiled::Lowered(Lowered::Num(n, FieldType::Decimal)) => DeriveHow::Num(n),
        Compiled::Lowered(Lowered::Num(n, ty)) if ty.is_numeric() => {
            DeriveHow::Num(Num::Cast(Box::new(n), FieldType::Decimal))
        }
        Compiled::Lowered(l) => {
            src.key_error(
                node,
                format!("{what} gives {}, not a number", l.ty().with_article()),
                "an amount is a number, e.g. `min(5000, monthly_income * 0.5)`",
            );
            return None;
        }
        Compiled::Rhai(r) => DeriveHow::Rhai(r),
    };
    Some(scope.add_derived(Derived {
        name: None,
        ty: FieldType::Decimal,
        how,
    }))
}

/// A `script: file.rhai` policy, compiled.
#[derive(Debug, Clone)]
pub struct ScriptPolicy {
    pub ast: AST,
    /// The script compiled natively, when it is in the subset
    /// ([`super::native_script`]); `POLSIM_SCRIPT=rhai` turns this off.
    pub native: Option<NativeScript>,
    /// Why it is not, for `check`.
    pub in_rhai_because: Option<String>,
    /// The fields put into `user`, and their columns.
    pub reads: Vec<(String, Col)>,
    pub site: Site,
}

/// A reason code a script can return, and the action of the call it is first written in.
pub struct ScriptReason {
    pub code: String,
    pub review: bool,
}

/// Compiles the script at `path` (`text` read already).
pub fn script(
    ctx: &mut RhaiCtx,
    scope: &mut Scope,
    path: PathBuf,
    text: &str,
) -> Result<(ScriptPolicy, Vec<ScriptReason>), Diagnostic> {
    let site = Site {
        what: format!("script `{}`", path.display()),
        file: path.clone(),
        line: 1,
        column: 1,
        text: Arc::from(text),
        expr: Arc::from(text),
    };
    if let Some((written, read, at)) = expr::inexact_numbers(text).into_iter().next() {
        return Err(site
            .diagnostic_at(at, format!("`{written}` in the script has too many digits: a number with a point is read as a float, which holds it as `{read}`"))
            .help("write the number with at most 17 significant digits"));
    }
    let constants = std::mem::take(&mut ctx.constants);
    let compiled = ctx.engine().compile_with_scope(&constants, text);
    ctx.constants = constants;
    let ast = compiled.map_err(|e| {
        let help = if e.err_type().to_string().contains("'$'") {
            "a script reads parameters as `params.NAME`, not `$NAME`"
        } else {
            "fix the script; a script policy defines `fn decide(user) { ... }`"
        };
        site.diagnostic(
            e.position(),
            format!("the script is not valid Rhai: {}", e.err_type()),
        )
        .help(help)
    })?;
    if !ast
        .iter_functions()
        .any(|f| f.name == "decide" && f.params.len() == 1)
    {
        return Err(Diagnostic::new("the script defines no `fn decide(user)`")
            .at(Location::new(&path, 1, 1))
            .help("define `fn decide(user) { if user.zhima_score >= 600 { approve(800) } else { decline(\"SCORE_TOO_LOW\") } }`"));
    }
    check_top_level(&ast, &site)?;
    check_no_curry(&ast, &site)?;
    check_names(scope, &ast, &site, text)?;
    let mut reads = Vec::new();
    for word in expr::words(text) {
        if reads.iter().any(|(n, _)| *n == word) {
            continue;
        }
        if let Some((c, _)) = scope.field(&word) {
            reads.push((word, c));
        }
    }
    // A script with no reason code can only approve (or fail on a missing
    // value); a `decline` it returns is an error naming the row.
    let reasons = reason_codes(text);
    if let Some((code, quote)) = misspelt_reason(text) {
        return Err(site
            .diagnostic_at(
                quote,
                format!(
                    "reason `{}` is not a reason code",
                    code.escape_debug()
                ),
            )
            .help("write it in UPPER_SNAKE_CASE, such as `SCORE_TOO_LOW` (capitals, digits and `_`, starting with a capital): polsim collects a script's reason codes when it loads, and the `reasons` column joins them with `;`"));
    }
    if let Some((code, review, decline)) = both_actions(text) {
        let (first, second) = if review < decline {
            (("review", review), ("decline", decline))
        } else {
            (("decline", decline), ("review", review))
        };
        return Err(site
            .diagnostic_at(
                second.1,
                format!(
                    "reason `{code}` is given to `{}` at {} and to `{}` at {}",
                    first.0,
                    site.location_of(text, first.1),
                    second.0,
                    site.location_of(text, second.1)
                ),
            )
            .help("give a review and a decline their own reason codes: the `reasons` column and the report count a code as one action"));
    }
    let native = if std::env::var_os("POLSIM_SCRIPT").is_some_and(|v| v == "rhai") {
        Err("POLSIM_SCRIPT=rhai".to_owned())
    } else {
        native_script::compile(
            text,
            &mut NativeEnv {
                scope,
                reasons: &reasons,
            },
        )
    };
    let (native, in_rhai_because) = match native {
        Ok(n) => (Some(n), None),
        Err(why) => (None, Some(why)),
    };
    Ok((
        ScriptPolicy {
            ast,
            native,
            in_rhai_because,
            reads,
            site,
        },
        reasons,
    ))
}

/// A script is its functions: Rhai runs `decide` alone, so a top-level
/// `const` or `let` would be out of its sight and any other statement never
/// run. Refused rather than quietly failing every row.
fn check_top_level(ast: &AST, site: &Site) -> Result<(), Diagnostic> {
    let Some(stmt) = ast
        .statements()
        .iter()
        .find(|s| !matches!(s, rhai::Stmt::Noop(_)))
    else {
        return Ok(());
    };
    let what = match stmt {
        rhai::Stmt::Var(_, options, _) if options.contains(rhai::ASTFlags::CONSTANT) => {
            "a top-level `const`"
        }
        rhai::Stmt::Var(..) => "a top-level `let`",
        _ => "a statement outside any function",
    };
    Err(site
        .diagnostic(
            stmt.position(),
            format!("the script has {what}, which `decide` cannot see and which never runs"),
        )
        .help(
            "a script holds only `fn` definitions: put a constant under `params` in the policy and read it as `params.NAME`, or define it inside the function",
        ))
}

/// `curry`, and closures that capture a variable (Rhai curries those),
/// nest a value inside a function pointer, where the array and map sizes
/// that bound nesting do not see it: refused.
fn check_no_curry(ast: &AST, site: &Site) -> Result<(), Diagnostic> {
    let mut found = None;
    ast.walk(&mut |path: &[rhai::ASTNode]| {
        let hit = match path.last() {
            Some(rhai::ASTNode::Expr(rhai::Expr::FnCall(call, pos))) if call.name == "curry" => {
                Some(*pos)
            }
            Some(rhai::ASTNode::Expr(rhai::Expr::MethodCall(call, pos)))
                if call.name == "curry" =>
            {
                Some(*pos)
            }
            Some(rhai::ASTNode::Stmt(rhai::Stmt::FnCall(call, pos))) if call.name == "curry" => {
                Some(*pos)
            }
            // A closure's captured variables.
            Some(rhai::ASTNode::Stmt(rhai::Stmt::Share(vars))) => {
                Some(vars.first().map_or(Position::NONE, |(v, _)| v.pos))
            }
            _ => None,
        };
        if hit.is_some() {
            found = hit;
        }
        found.is_none()
    });
    match found {
        None => Ok(()),
        Some(pos) => Err(site
            .diagnostic(
                pos,
                "the script curries a function pointer, or has a closure that captures a variable",
            )
            .help(
                "pass the value as an argument instead: a closure may use only its own parameters",
            )),
    }
}

/// What the native compiler sees of the policy.
struct NativeEnv<'s, 'p> {
    scope: &'s mut Scope<'p>,
    reasons: &'s [ScriptReason],
}

impl native_script::Env for NativeEnv<'_, '_> {
    fn field(&mut self, name: &str) -> Option<(Col, FieldType)> {
        self.scope.field(name)
    }

    fn param(&self, name: &str) -> Option<Value> {
        self.scope.param(name).map(param_value)
    }

    fn reason(&self, code: &str) -> Option<u16> {
        // A script's rules are its reason codes, in this order.
        self.reasons
            .iter()
            .position(|r| r.code == code)
            .map(|i| i as u16)
    }
}

/// Every `params.NAME` must be a parameter and every `user.NAME` a field:
/// a typo would otherwise read as `()`, which compares false and could
/// approve every row.
fn check_names(scope: &mut Scope, ast: &AST, site: &Site, text: &str) -> Result<(), Diagnostic> {
    let assigns = |after: &str| {
        let after = after.trim_start();
        after.starts_with('=') && !after.starts_with("==")
            || [
                "+=", "-=", "*=", "/=", "%=", "**=", "&=", "|=", "^=", "<<=", ">>=",
            ]
            .iter()
            .any(|op| after.starts_with(op))
    };
    // `params["x"] = ...` too (Rhai itself would panic on it).
    for (offset, _) in text.match_indices("params") {
        let line_start = text[..offset].rfind('\n').map_or(0, |n| n + 1);
        let word = !text[..offset].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let after = text[offset + "params".len()..].trim_start();
        if !word || text[line_start..offset].contains("//") || !after.starts_with('[') {
            continue;
        }
        let close = after.find(']').map_or(after.len(), |c| c + 1);
        if assigns(&after[close..]) {
            return Err(site
                .diagnostic_at(offset, "the script assigns to the parameters")
                .help("parameters are read-only: copy one first, `let x = params.NAME;`, or change it with `--set`"));
        }
    }
    for (p, offset) in expr::params(text) {
        if assigns(&text[offset + p.len()..]) {
            return Err(site
                .diagnostic_at(offset, format!("the script assigns to parameter `{p}`"))
                .help("parameters are read-only: copy it first, `let x = params.NAME;`, or change it with `--set`"));
        }
        if scope.param(&p).is_none() {
            let names = scope.param_names();
            let help = match crate::error::did_you_mean(&p, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("define `{p}` under `params` in the policy"),
            };
            return Err(site
                .diagnostic_at(offset, format!("undefined parameter `{p}` in the script"))
                .help(help));
        }
    }
    let user = ast
        .iter_functions()
        .find(|f| f.name == "decide" && f.params.len() == 1)
        .map(|f| f.params[0].to_owned());
    let Some(user) = user else {
        return Ok(());
    };
    // Rhai compares values of different kinds as unequal, so a comparison
    // like `user.scenario > 600` would quietly be false on every row.
    for (name, op, kind, literal, offset) in expr::compared_properties(text, &user) {
        let Some((_, ty)) = scope.field(&name) else {
            continue;
        };
        let fits = match kind {
            expr::LiteralKind::Number => ty.is_numeric(),
            expr::LiteralKind::Text => ty == FieldType::String,
            expr::LiteralKind::Bool => ty == FieldType::Bool,
        };
        if !fits {
            return Err(site
                .diagnostic_at(
                    offset,
                    format!(
                        "`{user}.{name}` is {}, so `{op} {literal}` is {} true",
                        ty.with_article(),
                        if op == "!=" { "always" } else { "never" }
                    ),
                )
                .help(match ty {
                    FieldType::String => "compare it with a string, such as `\"rental\"`",
                    FieldType::Bool => {
                        "compare it with `true` or `false`, or test it with `holds(...)`"
                    }
                    _ => "compare it with a number, such as `600`",
                }));
        }
    }
    for (name, offset) in expr::properties(text, &user) {
        if scope.field(&name).is_none() {
            let help = unknown_help(scope, &format!("unknown field `{name}`"))
                .unwrap_or_else(|| "declare it under `fields` or `derive`".into());
            return Err(site
                .diagnostic_at(offset, format!("unknown field `{name}` in the script"))
                .help(help));
        }
    }
    Ok(())
}

/// A script's reason codes: its string literals written like reason codes
/// (`UPPER_SNAKE_CASE`), in the order they first appear. One written inside a
/// `review(...)` call is a review reason; every other one a decline reason.
pub fn reason_codes(text: &str) -> Vec<ScriptReason> {
    let mut out: Vec<ScriptReason> = Vec::new();
    let mut in_review = call_spans(text, "review");
    // A code pushed into an array that only `review(...)` is given is a
    // review reason too: `r.push("THIN_FILE"); ... review(r)`.
    let (reviewed, declined) = (
        variable_arguments(text, "review"),
        variable_arguments(text, "decline"),
    );
    for var in reviewed.iter().filter(|v| !declined.contains(v)) {
        in_review.extend(call_spans(text, &format!("{var}.push")));
    }
    let mut offset = 0;
    for (i, piece) in text.split('"').enumerate() {
        let at = offset;
        offset += piece.len() + 1;
        let is_code = i % 2 == 1 && is_reason_code(piece);
        if !is_code {
            continue;
        }
        let review = in_review.iter().any(|(a, b)| (*a..*b).contains(&at));
        match out.iter_mut().find(|r| r.code == piece) {
            Some(r) => r.review &= review,
            None => out.push(ScriptReason {
                code: piece.to_owned(),
                review,
            }),
        }
    }
    out
}

/// The variables given alone to calls of `f` (`review(r)`): arrays of
/// reason codes built elsewhere in the script.
fn variable_arguments(text: &str, f: &str) -> Vec<String> {
    call_spans(text, f)
        .into_iter()
        .map(|(a, b)| text[a..b].trim().to_owned())
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .collect()
}

/// The first string literal given as a reason code that is not written like
/// one (`decline("bad code")`), and the offset of its opening quote. A
/// literal counts as given when it is a whole argument of `decline(...)` or
/// `review(...)`, an item of an array written there, or pushed into an array
/// given to one of them; a literal inside a larger argument
/// (`decline(if user.city == "x" { ... })`) is not taken for one.
fn misspelt_reason(text: &str) -> Option<(String, usize)> {
    let mut spans = call_spans(text, "decline");
    spans.extend(call_spans(text, "review"));
    let arrays = [
        variable_arguments(text, "review"),
        variable_arguments(text, "decline"),
    ];
    for var in arrays.iter().flatten() {
        spans.extend(call_spans(text, &format!("{var}.push")));
    }
    let mut offset = 0;
    for (i, piece) in text.split('"').enumerate() {
        let at = offset;
        offset += piece.len() + 1;
        if i % 2 == 0 || is_reason_code(piece) {
            continue;
        }
        let quote = at - 1;
        let before = text[..quote].trim_end().chars().next_back();
        let after = text
            .get(at + piece.len() + 1..)
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        let whole =
            matches!(before, Some('(' | '[' | ',')) && matches!(after, Some(')' | ']' | ','));
        let given = spans
            .iter()
            .any(|(a, b)| (*a..*b).contains(&at) && directly_inside(&text[*a..quote]));
        if whole && given {
            return Some((piece.to_owned(), quote));
        }
    }
    None
}

/// Whether the end of a call's arguments `before` is among the call's own
/// arguments or the items of an array written there, not inside another
/// call (`decline(code_of("score"))`) or deeper.
fn directly_inside(before: &str) -> bool {
    let mut open = Vec::new();
    let mut in_str = false;
    for c in before.chars() {
        match c {
            '"' => in_str = !in_str,
            '(' | '[' | '{' if !in_str => open.push(c),
            ')' | ']' | '}' if !in_str => {
                open.pop();
            }
            _ => {}
        }
    }
    matches!(open.as_slice(), [] | ['['])
}

/// The first reason code written both in a `review(...)` and in a
/// `decline(...)` call (or pushed into an array given only to one of them),
/// with the byte offsets of its first use in each.
fn both_actions(text: &str) -> Option<(String, usize, usize)> {
    let (reviewed, declined) = (
        variable_arguments(text, "review"),
        variable_arguments(text, "decline"),
    );
    let spans = |action: &str, only: &[String], not: &[String]| {
        let mut spans = call_spans(text, action);
        for var in only.iter().filter(|v| !not.contains(v)) {
            spans.extend(call_spans(text, &format!("{var}.push")));
        }
        spans
    };
    let in_review = spans("review", &reviewed, &declined);
    let in_decline = spans("decline", &declined, &reviewed);
    let mut first: Vec<(&str, Option<usize>, Option<usize>)> = Vec::new();
    let mut offset = 0;
    for (i, piece) in text.split('"').enumerate() {
        let at = offset;
        offset += piece.len() + 1;
        if i % 2 == 0 || !is_reason_code(piece) {
            continue;
        }
        let inside = |spans: &[(usize, usize)]| spans.iter().any(|(a, b)| (*a..*b).contains(&at));
        let (review, decline) = (inside(&in_review), inside(&in_decline));
        if review == decline {
            continue;
        }
        let entry = match first.iter_mut().find(|(c, ..)| *c == piece) {
            Some(e) => e,
            None => {
                first.push((piece, None, None));
                first.last_mut().expect("just pushed")
            }
        };
        // The opening quote's offset: the place a person looks at.
        let quote = at - 1;
        if review {
            entry.1.get_or_insert(quote);
        } else {
            entry.2.get_or_insert(quote);
        }
        if let (Some(r), Some(d)) = (entry.1, entry.2) {
            return Some((piece.to_owned(), r, d));
        }
    }
    None
}

/// The byte ranges of the arguments of every `name(...)` call.
fn call_spans(text: &str, name: &str) -> Vec<(usize, usize)> {
    let open = format!("{name}(");
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(&open) {
        let start = from + at + open.len();
        let boundary = !text[..from + at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let end = start + matching_paren(&text[start..]);
        if boundary {
            spans.push((start, end));
        }
        from = start;
    }
    spans
}

fn matching_paren(s: &str) -> usize {
    let mut depth = 0usize;
    let mut in_str = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '(' | '[' if !in_str => depth += 1,
            ')' | ']' if !in_str => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_given_to_review_and_decline_is_found_with_both_places() {
        let text = r#"fn decide(user) { if a { decline("AA") } else { review("AA") } }"#;
        let (code, review, decline) = both_actions(text).expect("a conflict");
        assert_eq!(code, "AA");
        assert_eq!(
            (&text[decline..decline + 4], &text[review..review + 4]),
            ("\"AA\"", "\"AA\"")
        );
        assert!(decline < review);
        // Compared, or in one action only: no conflict.
        let text =
            r#"fn decide(user) { if user.s == "AA" { review("AA") } else { decline("BB") } }"#;
        assert!(both_actions(text).is_none());
        // An array given to both actions says nothing of its codes.
        let text = r#"fn decide(user) { let r = []; r.push("AA"); if a { decline(r) } else { review(r) } }"#;
        assert!(both_actions(text).is_none());
    }

    #[test]
    fn a_literal_given_as_a_reason_must_be_written_like_one() {
        let text =
            r#"fn decide(user) { if user.s < 600 { return decline("bad code"); } approve(1) }"#;
        assert_eq!(misspelt_reason(text).unwrap().0, "bad code");
        assert_eq!(
            misspelt_reason(text).unwrap().1,
            text.find("\"bad").unwrap()
        );
        for text in [
            r#"fn decide(user) { review("OK", "Thin") }"#,
            r#"fn decide(user) { decline(["OK", ""]) }"#,
            r#"fn decide(user) { let r = []; r.push("low;high"); decline(r) }"#,
        ] {
            assert!(misspelt_reason(text).is_some(), "{text}");
        }
        for text in [
            r#"fn decide(user) { decline("SCORE_TOO_LOW") }"#,
            r#"fn decide(user) { if user.city == "beijing" { review("CITY") } else { approve(1) } }"#,
            r#"fn decide(user) { decline(if user.city == "x" { "A" } else { "B" }) }"#,
            r#"fn decide(user) { let r = []; r.push("THIN_FILE"); review(r) }"#,
            r#"fn decide(user) { decline(code_of("score")) }"#,
            r#"fn decide(user) { decline([code_of("score"), "LOW"]) }"#,
        ] {
            assert_eq!(misspelt_reason(text), None, "{text}");
        }
    }

    #[test]
    fn reason_codes_in_order_of_first_use() {
        let text = r#"fn decide(user) {
            if !user.ok { return decline("REAL_NAME_REQUIRED"); }
            let r = [];
            if x { r.push("A_B"); }
            if y { return review("THIN_FILE", "LARGE"); }
            if z { return decline(["SCORE_TOO_LOW", "REAL_NAME_REQUIRED"]); }
            if user.scenario == "rental" { r.push("Lower") }
        }"#;
        let codes: Vec<(String, bool)> = reason_codes(text)
            .into_iter()
            .map(|r| (r.code, r.review))
            .collect();
        assert_eq!(
            codes,
            [
                ("REAL_NAME_REQUIRED".into(), false),
                ("A_B".into(), false),
                ("THIN_FILE".into(), true),
                ("LARGE".into(), true),
                ("SCORE_TOO_LOW".into(), false)
            ]
        );
    }
}
