//! The path a script policy took for one row, for `explain` and
//! `decide --explain`: every `if` the script evaluated, in order, with its
//! value (true, false or missing) and, when the condition is a comparison
//! (under `!` or `holds` too), the two values it compared; and the verdict
//! call the row ended on.
//!
//! A script compiled natively is traced by the native interpreter
//! ([`super::native_script`]); a row that interpreter hands to Rhai, and a
//! script outside its subset, are traced by Rhai under its debugger, on the
//! script compiled without optimisation so that every `if` is there as
//! written. Both record the same facts at the same byte offsets of the
//! script, so a trace reads the same whichever evaluator made it (a test
//! runs both over every row of the bundled data).
//!
//! Rhai evaluates a condition twice when tracing (once to record it, once
//! to run it): conditions are expected to have no side effects, as every
//! polsim script's do (a script cannot change anything outside a row).

use super::Decisions;
use super::kernels::Cols;
use super::native_script::NativeRows;
use super::rhai_row::RhaiRows;
use crate::policy::CompiledPolicy;
use crate::policy::condition::Col;
use crate::policy::native_script::IfSite;
use crate::policy::script::{self, Missing};
use rhai::debugger::{DebuggerCommand, DebuggerEvent};
use rhai::{AST, ASTNode, Dynamic, EvalContext, Expr, OptimizationLevel, Position, Stmt};
use rust_decimal::Decimal;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::fmt::Write;
use std::sync::Arc;

/// A value a check saw, the same whichever evaluator saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Missing,
    Int(i64),
    Float(f64),
    Dec(Decimal),
    Bool(bool),
    Str(String),
    /// Anything else, described.
    Other(String),
}

impl Seen {
    fn of(v: &Dynamic) -> Seen {
        if v.is::<Missing>() {
            Seen::Missing
        } else if let Ok(x) = v.as_int() {
            Seen::Int(x)
        } else if let Ok(x) = v.as_float() {
            Seen::Float(x)
        } else if let Ok(x) = v.as_decimal() {
            Seen::Dec(x)
        } else if let Ok(x) = v.as_bool() {
            Seen::Bool(x)
        } else if let Some(s) = v.read_lock::<rhai::ImmutableString>() {
            Seen::Str(s.to_string())
        } else if v.is_unit() {
            Seen::Other("()".to_owned())
        } else if v.is_array() {
            Seen::Other("an array".to_owned())
        } else {
            Seen::Other(format!("a {}", v.type_name()))
        }
    }

    /// As an operand: strings quoted.
    pub fn operand(&self) -> String {
        match self {
            Seen::Str(s) => format!("{s:?}"),
            other => other.to_string(),
        }
    }
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Missing => f.write_str("missing"),
            Seen::Int(x) => write!(f, "{x}"),
            Seen::Float(x) => f.write_str(&script::show_float(*x)),
            Seen::Dec(x) => write!(f, "{x}"),
            Seen::Bool(x) => write!(f, "{x}"),
            Seen::Str(s) | Seen::Other(s) => f.write_str(s),
        }
    }
}

/// One `if` the script evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub site: IfSite,
    /// `Bool` for a condition that held or not, `Missing` when a missing
    /// value stopped it.
    pub value: Seen,
    /// For a comparison: the values it compared.
    pub compared: Option<Compared>,
}

/// A comparison's values, and the `!`s and `holds` around it, outermost
/// first (`true` for a `!`).
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub wrapped_in: Vec<bool>,
    pub left: Seen,
    pub op: &'static str,
    pub right: Seen,
}

/// The condition with the values in place: `!holds(21 <= 30)`.
impl std::fmt::Display for Compared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (left, op, right) = (self.left.operand(), self.op, self.right.operand());
        let mut text = format!("{left} {op} {right}");
        for (i, &not) in self.wrapped_in.iter().enumerate().rev() {
            let inner_is_comparison = i + 1 == self.wrapped_in.len();
            text = match (not, inner_is_comparison) {
                (true, true) => format!("!({text})"),
                (true, false) => format!("!{text}"),
                (false, _) => format!("holds({text})"),
            };
        }
        f.write_str(&text)
    }
}

impl Check {
    /// The byte range of the branch the check took, if any.
    pub fn taken(&self) -> Option<(usize, usize)> {
        match self.value {
            Seen::Bool(true) => Some(self.site.body),
            Seen::Bool(false) => self.site.otherwise,
            _ => None,
        }
    }
}

/// The checks of one row, in the order they ran, and where the verdict
/// the row ended on was called (byte offsets in the script).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Path {
    pub checks: Vec<Check>,
    pub verdict_at: Option<usize>,
}

impl Path {
    /// Which checks decided the row (indices into `checks`), for a script
    /// `text` whose verdict gave `reasons` (`None` when a missing value
    /// stopped it): the last run of each `if` whose taken branch holds the
    /// verdict call or one of the reason codes as a string; for a row a
    /// missing value stopped, the check it stopped on.
    pub fn deciding(&self, text: &str, reasons: Option<&[&str]>) -> Vec<usize> {
        let Some(reasons) = reasons else {
            let last = self.checks.len().checked_sub(1);
            return last
                .filter(|&i| self.checks[i].value == Seen::Missing)
                .into_iter()
                .collect();
        };
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for (i, c) in self.checks.iter().enumerate().rev() {
            if seen.contains(&c.site.at) {
                continue;
            }
            seen.push(c.site.at);
            let Some((start, end)) = c.taken() else {
                continue;
            };
            let holds_verdict = self.verdict_at.is_some_and(|v| start <= v && v <= end);
            let branch = text.get(start..=end).unwrap_or("");
            let holds_reason = reasons.iter().any(|r| branch.contains(&format!("\"{r}\"")));
            if holds_verdict || holds_reason {
                out.push(i);
            }
        }
        out.reverse();
        out
    }
}

/// Which evaluator traced a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracedBy {
    Native,
    Rhai,
}

impl TracedBy {
    pub fn name(self) -> &'static str {
        match self {
            TracedBy::Native => "native",
            TracedBy::Rhai => "rhai",
        }
    }
}

/// Traces rows of one script policy. The Rhai engine for the rows the
/// native interpreter cannot take is made on first use.
#[derive(Default)]
pub struct ScriptTracer {
    rhai: Option<RhaiTracer>,
    /// Per `if` (by its offset), what its text says.
    sites: std::collections::HashMap<usize, SiteText>,
}

impl ScriptTracer {
    /// Row `row`'s path, natively when the script is compiled natively and
    /// the row stays in the subset, else in Rhai.
    pub fn path(&mut self, policy: &CompiledPolicy, cols: &Cols, row: usize) -> (Path, TracedBy) {
        let native = policy.script.as_ref().and_then(|s| s.native.as_ref());
        if let Some(path) = native.and_then(|n| NativeRows::new(n, cols).trace(row)) {
            return (path, TracedBy::Native);
        }
        (self.rhai_path(policy, cols, row), TracedBy::Rhai)
    }

    /// Row `row`'s path as Rhai takes it.
    pub fn rhai_path(&mut self, policy: &CompiledPolicy, cols: &Cols, row: usize) -> Path {
        let tracer = self.rhai.get_or_insert_with(|| RhaiTracer::new(policy));
        tracer.path(policy, cols, row)
    }
}

thread_local! {
    /// The path being recorded by the debugger on this thread.
    static PATH: RefCell<Path> = RefCell::default();
    /// Set while the debugger evaluates a condition itself, so the steps
    /// of that evaluation are not recorded again.
    static EVALUATING: Cell<bool> = const { Cell::new(false) };
}

/// A Rhai engine whose debugger records each `if` and verdict call, and
/// the script compiled for it without optimisation.
struct RhaiTracer {
    rows: RhaiRows,
    ast: AST,
}

impl RhaiTracer {
    fn new(policy: &CompiledPolicy) -> RhaiTracer {
        let s = policy.script.as_ref().expect("a script policy");
        let lines = Arc::new(Lines::new(s.site.text.clone()));
        let mut engine = script::engine();
        engine.set_optimization_level(OptimizationLevel::None);
        #[allow(deprecated)] // Rhai marks its debugger API as volatile, not deprecated.
        engine.register_debugger(
            |_, debugger| debugger,
            move |ctx, event, node, _, _| {
                if matches!(event, DebuggerEvent::Start | DebuggerEvent::Step) && !EVALUATING.get()
                {
                    record(ctx, node, &lines);
                }
                Ok(DebuggerCommand::StepInto)
            },
        );
        let engine = Arc::new(engine);
        let rows = RhaiRows::with_engine(policy, engine.clone());
        // The script compiled once already with these constants: it compiles again.
        let ast = engine
            .compile_with_scope(rows.constants(), &s.site.text)
            .unwrap_or_else(|_| s.ast.clone());
        RhaiTracer { rows, ast }
    }

    fn path(&mut self, policy: &CompiledPolicy, cols: &Cols, row: usize) -> Path {
        let s = policy.script.as_ref().expect("a script policy");
        PATH.with(|p| *p.borrow_mut() = Path::default());
        let _ = self.rows.run_decide(s, &self.ast, cols, row);
        PATH.with(|p| std::mem::take(&mut *p.borrow_mut()))
    }
}

/// Records `node` when it is an `if` (evaluating its condition) or a
/// verdict call.
fn record(mut ctx: EvalContext, node: ASTNode, lines: &Lines) {
    match node {
        ASTNode::Stmt(Stmt::If(flow, at)) => {
            EVALUATING.set(true);
            let mut eval = |e: &Expr| ctx.eval_expression_tree(&e.into());
            // An error here is one a missing value causes (any other
            // stops the row, and explain reports the error instead).
            let value = eval(&flow.expr).map_or(Seen::Missing, |v| Seen::of(&v));
            let compared = comparison(&flow.expr).and_then(|(wrapped_in, a, op, b)| {
                let (a, b) = (eval(a).ok()?, eval(b).ok()?);
                Some(Compared {
                    wrapped_in,
                    left: Seen::of(&a),
                    op,
                    right: Seen::of(&b),
                })
            });
            EVALUATING.set(false);
            let body = flow.body.span();
            let site = IfSite {
                at: lines.offset(*at),
                body: (lines.offset(body.start()), lines.offset(body.end())),
                otherwise: else_range(&flow.branch)
                    .map(|(a, b)| (lines.offset(a), lines.offset(b))),
            };
            PATH.with(|p| {
                p.borrow_mut().checks.push(Check {
                    site,
                    value,
                    compared,
                })
            });
        }
        ASTNode::Expr(Expr::FnCall(f, at)) | ASTNode::Stmt(Stmt::FnCall(f, at))
            if matches!(f.name.as_str(), "approve" | "decline" | "review") =>
        {
            PATH.with(|p| p.borrow_mut().verdict_at = Some(lines.offset(*at)));
        }
        _ => {}
    }
}

/// The comparison a condition is, under any `!` and `holds` (`true` for
/// a `!`, outermost first): the wrappers, its operands and its operator.
fn comparison(mut e: &Expr) -> Option<(Vec<bool>, &Expr, &'static str, &Expr)> {
    let mut wrapped_in = Vec::new();
    loop {
        let Expr::FnCall(f, _) = e else { return None };
        match (f.name.as_str(), &f.args[..]) {
            (name @ ("!" | "holds"), [inner]) => {
                wrapped_in.push(name == "!");
                e = inner;
            }
            (op, [a, b]) => {
                let op = ["==", "!=", "<", "<=", ">", ">="]
                    .into_iter()
                    .find(|o| *o == op)?;
                return Some((wrapped_in, a, op, b));
            }
            _ => return None,
        }
    }
}

/// The positions of the start and end of an `else` part: a block's braces,
/// or an `else if` chain from its `if` to its last `}`.
fn else_range(branch: &rhai::StmtBlock) -> Option<(Position, Position)> {
    let span = branch.span();
    if span.start().is_none() {
        return None;
    }
    match branch.statements() {
        [Stmt::If(flow, at)] if span.end().is_none() => Some((*at, chain_end(flow))),
        _ => Some((span.start(), span.end())),
    }
}

/// The last `}` of an `if` and its `else` parts.
fn chain_end(flow: &rhai::FlowControl) -> Position {
    match else_range(&flow.branch) {
        Some((_, end)) => end,
        None => flow.body.span().end(),
    }
}

/// Turns Rhai's positions (line, and column in characters) into byte
/// offsets of the script.
struct Lines {
    text: Arc<str>,
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: Arc<str>) -> Lines {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    fn offset(&self, pos: Position) -> usize {
        let (Some(line), Some(column)) = (pos.line(), pos.position()) else {
            return usize::MAX;
        };
        let Some(&start) = self.starts.get(line - 1) else {
            return self.text.len();
        };
        self.text[start..]
            .char_indices()
            .nth(column - 1)
            .map_or(self.text.len(), |(i, _)| start + i)
    }
}

/// A script's path as `explain` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptTrace {
    /// The script file.
    pub file: String,
    /// `native` or `rhai`: the evaluator that traced the row.
    pub traced_by: &'static str,
    pub checks: Vec<CheckTrace>,
    /// The verdict call the row ended on; none when a missing value
    /// stopped the script.
    pub verdict: Option<CallTrace>,
}

/// One `if` the script evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct CheckTrace {
    pub line: usize,
    pub column: usize,
    /// The condition as written.
    pub check: String,
    /// `true`, `false` or `missing`.
    pub value: String,
    /// For a comparison, the condition with the values compared in
    /// place: `583 < 650`, `!holds(21 <= 30)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<String>,
    /// The fields (`user.NAME`) and params (`params.NAME`) the condition
    /// names, with their values.
    pub reads: Vec<(String, String)>,
    /// Whether the branch this check took holds the verdict call or one of
    /// the row's reason codes (or, for a row a missing value stopped,
    /// whether this is the check it stopped on).
    pub decided: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallTrace {
    pub line: usize,
    pub column: usize,
    pub call: String,
}

/// What a check's text says, worked out once per `if` of the script: its
/// place, its condition as written, and the fields and params it names.
struct SiteText {
    line: usize,
    column: usize,
    check: String,
    reads: Vec<Read>,
}

/// A name a condition reads: a field (its value is the row's) or a param.
enum Read {
    Field(String, Col),
    Param(String, String),
}

impl Read {
    fn name(&self) -> &str {
        match self {
            Read::Field(name, _) | Read::Param(name, _) => name,
        }
    }

    fn value(&self, cols: &Cols, row: usize) -> String {
        match self {
            Read::Field(_, c) => super::trace::value_at(cols.get(*c), row),
            Read::Param(_, v) => v.clone(),
        }
    }
}

impl ScriptTracer {
    fn site(&mut self, policy: &CompiledPolicy, site: &IfSite) -> &SiteText {
        self.sites.entry(site.at).or_insert_with(|| {
            let s = policy.script.as_ref().expect("a script policy");
            let text = &s.site.text;
            let (line, column) = line_column(text, site.at);
            let check = condition_text(text, site);
            SiteText {
                line,
                column,
                reads: reads(&check, policy),
                check,
            }
        })
    }

    /// Row `row`'s path in the words of the script; `d` holds the row's
    /// decision.
    pub fn describe(
        &mut self,
        policy: &CompiledPolicy,
        cols: &Cols,
        d: &Decisions,
        row: usize,
    ) -> ScriptTrace {
        let (path, by) = self.path(policy, cols, row);
        let s = policy.script.as_ref().expect("a script policy");
        let text = &s.site.text;
        let (deciding, undecided) = deciding_of(policy, &path, d, row);
        let checks = path
            .checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let site = self.site(policy, &c.site);
                CheckTrace {
                    line: site.line,
                    column: site.column,
                    check: site.check.clone(),
                    reads: site
                        .reads
                        .iter()
                        .map(|r| (r.name().to_owned(), r.value(cols, row)))
                        .collect(),
                    value: c.value.to_string(),
                    compared: c.compared.as_ref().map(ToString::to_string),
                    decided: deciding.contains(&i),
                }
            })
            .collect();
        ScriptTrace {
            file: s.site.file.display().to_string(),
            traced_by: by.name(),
            checks,
            verdict: path.verdict_at.filter(|_| !undecided).map(|at| {
                let (line, column) = line_column(text, at);
                CallTrace {
                    line,
                    column,
                    call: call_text(text, at),
                }
            }),
        }
    }

    /// For `decide --explain`: the row's reasons, then each check that
    /// decided them, `CONDITION is VALUE: A OP B (FIELD=VALUE, ...)`, joined
    /// by ` and `.
    pub fn why(
        &mut self,
        policy: &CompiledPolicy,
        cols: &Cols,
        d: &Decisions,
        row: usize,
        out: &mut String,
    ) {
        let (path, _) = self.path(policy, cols, row);
        let (deciding, _) = deciding_of(policy, &path, d, row);
        for (k, i) in d.failing_rules(&policy.rules, row).enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            out.push_str(&policy.rules[i].reason);
        }
        out.push_str(": ");
        for (k, &i) in deciding.iter().enumerate() {
            let c = &path.checks[i];
            let site = self.site(policy, &c.site);
            if k > 0 {
                out.push_str(" and ");
            }
            let _ = write!(out, "{} is {}", site.check, c.value);
            if let Some(compared) = &c.compared {
                let _ = write!(out, ": {compared}");
            }
            for (j, r) in site.reads.iter().enumerate() {
                out.push_str(if j == 0 { " (" } else { ", " });
                let _ = write!(out, "{}={}", r.name(), r.value(cols, row));
            }
            if !site.reads.is_empty() {
                out.push(')');
            }
        }
    }
}

/// The checks that decided row `row` (see [`Path::deciding`]), and whether
/// a missing value stopped the script (its `MISSING_VALUE` rule, the last,
/// failed).
fn deciding_of(
    policy: &CompiledPolicy,
    path: &Path,
    d: &Decisions,
    row: usize,
) -> (Vec<usize>, bool) {
    let text = &policy.script.as_ref().expect("a script policy").site.text;
    let undecided = d.failed(policy.rules.len() - 1, row);
    let reasons: Vec<&str> = d
        .failing_rules(&policy.rules, row)
        .map(|i| policy.rules[i].reason.as_str())
        .collect();
    (
        path.deciding(text, (!undecided).then_some(&reasons[..])),
        undecided,
    )
}

/// Line and column (in characters), from 1, of a byte offset.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// An `if`'s condition as written, its whitespace runs made one space.
fn condition_text(text: &str, site: &IfSite) -> String {
    let cond = text.get(site.at + 2..site.body.0).unwrap_or("");
    cond.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A call from its name to its closing parenthesis.
fn call_text(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or("");
    let (mut depth, mut quoted) = (0usize, false);
    for (i, c) in rest.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return rest[..=i].split_whitespace().collect::<Vec<_>>().join(" ");
                }
            }
            '\n' | ';' | '}' if depth == 0 => break,
            _ => {}
        }
    }
    rest.split(['\n', ';', '}'])
        .next()
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The `OBJECT.NAME`s in a condition that are the row's fields or the
/// params (method calls left out), each once.
fn reads(check: &str, policy: &CompiledPolicy) -> Vec<Read> {
    let s = policy.script.as_ref().expect("a script policy");
    let mut out: Vec<Read> = Vec::new();
    for (object, name, _) in crate::policy::expr::member_reads(check) {
        let read = if object == "params" {
            let value = policy.params.iter().find(|(n, _)| *n == name);
            value.map(|(_, v)| Read::Param(format!("params.{name}"), v.clone()))
        } else {
            let column = s.reads.iter().find(|(n, _)| *n == name);
            column.map(|(_, c)| Read::Field(name.clone(), *c))
        };
        if let Some(read) = read
            && !out.iter().any(|r| r.name() == read.name())
        {
            out.push(read);
        }
    }
    out
}
