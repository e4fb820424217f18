//! Running Rhai a row at a time: expressions outside the simple subset, and
//! script policies' `decide(user)`.
//!
//! Each worker keeps one `Scope` holding the parameters as constants; per
//! row it rewinds to them and pushes only the fields the expression reads.
//! A missing cell is pushed as `missing`. When a missing value reaches
//! something that needs a real value (`&&`, `if`, a function), Rhai stops
//! with a type error; on a row with a missing value that makes the result
//! missing (for a script: the row is declined with `MISSING_VALUE`). A
//! division by zero or an overflow makes the result missing too. Any other
//! error stops the run, naming the expression or script, its line and
//! column, and the row.

use super::kernels::Cols;
use crate::dataset::batch::{Column, ColumnData};
use crate::dataset::value::FieldType;
use crate::error::{Error, Result};
use crate::policy::CompiledPolicy;
use crate::policy::rhai_compile::{RowExpr, ScriptPolicy, Site};
use crate::policy::script::{self, Missing, Stop, Verdict, budget};
use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, ImmutableString, Position};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;

/// Distinct strings kept per worker so a low-cardinality column (city,
/// scenario) does not allocate a Rhai string per row.
const INTERNED: usize = 4096;

/// Per-worker Rhai state.
pub struct RhaiRows {
    engine: Arc<Engine>,
    scope: rhai::Scope<'static>,
    constants: usize,
    strings: HashMap<Box<[u8]>, ImmutableString>,
}

/// How a row's evaluation ended.
pub enum RowResult {
    Value(Dynamic),
    /// A missing value, a division by zero or an overflow made it missing.
    Missing,
}

/// Which row of which file, for messages.
pub struct RowId<'a> {
    pub source: &'a str,
    pub line: u64,
    pub key: Option<(&'a str, String)>,
}

impl std::fmt::Display for RowId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.source, self.line)?;
        if let Some((name, value)) = &self.key {
            write!(f, " ({name} `{value}`)")?;
        }
        Ok(())
    }
}

impl RhaiRows {
    pub fn new(policy: &CompiledPolicy) -> Option<RhaiRows> {
        Some(Self::with_engine(policy, policy.rhai.as_ref()?.0.clone()))
    }

    /// Per-worker state running on `engine` (a tracing engine, say).
    pub fn with_engine(policy: &CompiledPolicy, engine: Arc<Engine>) -> RhaiRows {
        let mut scope = rhai::Scope::new();
        for (name, value) in &policy.rhai_constants {
            scope.push_constant_dynamic(name.clone(), value.clone());
        }
        RhaiRows {
            engine,
            constants: scope.len(),
            scope,
            strings: HashMap::new(),
        }
    }

    fn cell(&mut self, col: &Column, row: usize) -> Dynamic {
        if !col.valid[row] {
            return Dynamic::from(Missing);
        }
        match &col.data {
            ColumnData::Int(v) => Dynamic::from_int(v[row]),
            ColumnData::Float(v) => Dynamic::from_float(v[row]),
            ColumnData::Decimal(v) => Dynamic::from_decimal(v[row]),
            ColumnData::Bool(v) => Dynamic::from_bool(v[row] != 0),
            ColumnData::Str { .. } => {
                let bytes = col.str(row);
                if let Some(s) = self.strings.get(bytes) {
                    return s.clone().into();
                }
                let s = ImmutableString::from(String::from_utf8_lossy(bytes).as_ref());
                if self.strings.len() < INTERNED {
                    self.strings.insert(bytes.into(), s.clone());
                }
                s.into()
            }
        }
    }

    /// Evaluates `e` on every row into `out`, typed `ty`.
    pub fn column<'r>(
        &mut self,
        e: &RowExpr,
        ty: FieldType,
        cols: &Cols,
        row_id: &dyn Fn(usize) -> RowId<'r>,
        out: &mut Column,
    ) -> Result<()> {
        out.truncate(0);
        for row in 0..cols.len {
            self.scope.rewind(self.constants);
            let mut missing = false;
            for (name, c) in &e.reads {
                let col = cols.get(*c);
                missing |= !col.valid[row];
                let v = self.cell(col, row);
                self.scope.push_dynamic(name.as_str(), v);
            }
            let (engine, scope) = (&self.engine, &mut self.scope);
            budget::start_row();
            let r = guarded(|| engine.eval_ast_with_scope::<Dynamic>(scope, &e.ast));
            let value = match classify(r, missing, true) {
                Ok(RowResult::Value(v)) => v,
                Ok(RowResult::Missing) => Dynamic::from(Missing),
                Err(err) => return Err(self.failure(&e.site, &e.ast, None, *err, &row_id(row))),
            };
            if let Err(found) = store(value, ty, out) {
                let d = e.site.diagnostic(
                    Position::NONE,
                    format!(
                        "{} gave {found} on {}, not {}",
                        e.site.what,
                        row_id(row),
                        ty.with_article()
                    ),
                );
                return Err(Error::Data(
                    d.help(format!("make the expression give {}", ty.example())),
                ));
            }
        }
        Ok(())
    }

    /// Runs `decide(user)` for one row.
    pub fn decide<'r>(
        &mut self,
        s: &ScriptPolicy,
        cols: &Cols,
        row: usize,
        row_id: &dyn Fn(usize) -> RowId<'r>,
    ) -> Result<Option<Verdict>> {
        let (r, missing) = self.run_decide(s, &s.ast, cols, row);
        match classify(r, missing, false) {
            Ok(RowResult::Missing) if missing => Ok(None),
            Ok(RowResult::Missing) => Err(no_verdict(
                s,
                format!(
                    "`decide` returned nothing on {}, a row with every value present",
                    row_id(row)
                ),
            )),
            Ok(RowResult::Value(v)) => match v.try_cast::<Verdict>() {
                Some(verdict) => Ok(Some(verdict)),
                None => Err(no_verdict(
                    s,
                    format!(
                        "`decide` returned something other than a verdict on {}",
                        row_id(row)
                    ),
                )),
            },
            Err(err) => {
                let (user, _) = self.user(s, cols, row);
                Err(self.failure(&s.site, &s.ast, Some(user), *err, &row_id(row)))
            }
        }
    }

    /// Runs `decide(user)` of `ast` (the script's, or a copy of it) for one
    /// row: Rhai's result, and whether any value the script reads is missing.
    pub fn run_decide(
        &mut self,
        s: &ScriptPolicy,
        ast: &AST,
        cols: &Cols,
        row: usize,
    ) -> (std::result::Result<Dynamic, Box<EvalAltResult>>, bool) {
        let (user, missing) = self.user(s, cols, row);
        self.scope.rewind(self.constants);
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let (engine, scope) = (&self.engine, &mut self.scope);
        budget::start_row();
        let r = guarded(|| {
            engine.call_fn_with_options::<Dynamic>(
                options,
                scope,
                ast,
                "decide",
                (Dynamic::from_map(user),),
            )
        });
        (r, missing)
    }

    /// The constants (the parameters) scripts are compiled against.
    pub fn constants(&self) -> &rhai::Scope<'static> {
        &self.scope
    }

    /// The `user` map of one row, and whether any of its values is missing.
    fn user(&mut self, s: &ScriptPolicy, cols: &Cols, row: usize) -> (rhai::Map, bool) {
        let mut user = rhai::Map::new();
        let mut missing = false;
        for (name, c) in &s.reads {
            let col = cols.get(*c);
            missing |= !col.valid[row];
            user.insert(name.as_str().into(), self.cell(col, row));
        }
        (user, missing)
    }

    /// The error for a failed row. A runaway is run again under Rhai's
    /// debugger to find where it was when it ran out.
    fn failure(
        &mut self,
        site: &Site,
        ast: &AST,
        user: Option<rhai::Map>,
        err: EvalAltResult,
        row: &RowId,
    ) -> Error {
        let (err, mut pos) = innermost(err);
        let stop = match &err {
            EvalAltResult::ErrorTerminated(token, _) => token.clone().try_cast::<Stop>(),
            _ => None,
        };
        let runaway = matches!(stop, Some(Stop::Operations | Stop::Memory))
            || matches!(
                err,
                EvalAltResult::ErrorTooManyOperations(_) | EvalAltResult::ErrorStackOverflow(_)
            );
        if stop == Some(Stop::Nesting) {
            pos = budget::nested_at().unwrap_or(pos);
        } else if let (Some(Stop::Operations), Some(at)) = (stop, budget::over_at()) {
            pos = at;
        } else if runaway || (stop == Some(Stop::Deadline) && pos.is_none()) {
            pos = self.last_step(ast, user);
        }
        let (message, help) = match &err {
            _ if stop == Some(Stop::Deadline) => (
                format!(
                    "{} ran longer than {} seconds on {row}",
                    site.what,
                    script::row_deadline().as_secs_f64()
                ),
                format!(
                    "a loop that never ends, or that copies large arrays or strings on every step? every row must finish within {} seconds",
                    script::row_deadline().as_secs_f64()
                ),
            ),
            _ if stop == Some(Stop::Memory) => (
                format!(
                    "{} held more than {} MiB of memory on {row}",
                    site.what,
                    script::MAX_ROW_MEMORY >> 20
                ),
                format!(
                    "a map or array that grows on every step of a loop? strings are limited to {} bytes, arrays and maps to {} items",
                    script::MAX_STRING,
                    script::MAX_COLLECTION
                ),
            ),
            _ if stop == Some(Stop::Nesting) => (
                format!(
                    "{} printed or compared arrays or maps nested more than {} deep on {row}",
                    site.what,
                    script::MAX_DEPTH
                ),
                format!(
                    "arrays and maps may be printed and compared only {} levels deep: keep values flatter",
                    script::MAX_DEPTH
                ),
            ),
            EvalAltResult::ErrorTooManyOperations(_) | EvalAltResult::ErrorTerminated(..) => (
                format!(
                    "{} ran more than {} operations on {row}",
                    site.what,
                    script::MAX_OPERATIONS
                ),
                "a loop that never ends? every row must finish within the limit".to_owned(),
            ),
            EvalAltResult::ErrorStackOverflow(_) => (
                format!(
                    "{} called functions more than {} deep on {row}",
                    site.what,
                    script::MAX_CALL_LEVELS
                ),
                "a recursion without an end? make the recursive call stop".to_owned(),
            ),
            EvalAltResult::ErrorDataTooLarge(what, _) => (
                format!("{} built a value too large on {row}: {what}", site.what),
                format!(
                    "strings are limited to {} bytes, arrays and maps to {} items",
                    script::MAX_STRING,
                    script::MAX_COLLECTION
                ),
            ),
            other => (
                format!("{} failed on {row}: {}", site.what, describe(other)),
                "fix the expression or script; run `polsim check` with `--data` to try every row"
                    .to_owned(),
            ),
        };
        Error::Data(site.diagnostic(pos, message).help(help))
    }

    /// Re-runs a runaway row step by step; the position of its last step.
    #[allow(deprecated)] // Rhai marks its debugger API as volatile, not deprecated.
    fn last_step(&mut self, ast: &AST, user: Option<rhai::Map>) -> Position {
        use rhai::debugger::{DebuggerCommand, DebuggerEvent};
        use std::sync::Mutex;
        let last = Arc::new(Mutex::new(Position::NONE));
        let seen = last.clone();
        let mut engine = script::engine();
        budget::start_row();
        engine.register_debugger(
            |_, dbg| dbg,
            move |_, event, _, _, pos| {
                if matches!(event, DebuggerEvent::Step) && !pos.is_none() {
                    *seen.lock().expect("debugger lock") = pos;
                }
                Ok(DebuggerCommand::StepInto)
            },
        );
        let _ = match user {
            Some(user) => engine
                .call_fn_with_options::<Dynamic>(
                    CallFnOptions::new().eval_ast(false).rewind_scope(true),
                    &mut self.scope,
                    ast,
                    "decide",
                    (Dynamic::from_map(user),),
                )
                .map(|_| ()),
            None => engine
                .eval_ast_with_scope::<Dynamic>(&mut self.scope, ast)
                .map(|_| ()),
        };
        *last.lock().expect("debugger lock")
    }
}

/// The error for a `decide` that did not end in a verdict.
fn no_verdict(s: &ScriptPolicy, message: String) -> Error {
    Error::Data(s.site.diagnostic(Position::NONE, message).help(
        "end every path of `decide` with `approve(limit)`, `decline(\"REASON\")` or `review(\"REASON\")`",
    ))
}

/// Runs Rhai, turning a panic inside it (Rhai has a few `unreachable!`s a
/// script can reach) into an error, and so a walk of a value nested too
/// deep that Rhai swallowed (printing does).
fn guarded(
    f: impl FnOnce() -> std::result::Result<Dynamic, Box<EvalAltResult>>,
) -> std::result::Result<Dynamic, Box<EvalAltResult>> {
    let r = crate::panics::caught(f);
    if let (Ok(Ok(_)), Some(pos)) = (&r, budget::nested_at()) {
        return Err(EvalAltResult::ErrorTerminated(Dynamic::from(Stop::Nesting), pos).into());
    }
    r.unwrap_or_else(|why| {
        let why = why.as_str();
        let why = why.rsplit(": ").next().unwrap_or(why);
        Err(EvalAltResult::ErrorRuntime(
            format!("Rhai stopped with an internal error ({why})").into(),
            Position::NONE,
        )
        .into())
    })
}

/// Ok(value), Ok(missing) for the errors a missing value causes, or the
/// error. Bad arithmetic (a division by zero, an overflow) makes an
/// expression's value missing when `arithmetic_is_missing`; in a script it
/// does so only on a row with a missing value, and is an error otherwise.
fn classify(
    r: std::result::Result<Dynamic, Box<EvalAltResult>>,
    missing: bool,
    arithmetic_is_missing: bool,
) -> std::result::Result<RowResult, Box<EvalAltResult>> {
    match r {
        Ok(v) if v.is::<Missing>() || v.is_unit() => Ok(RowResult::Missing),
        Ok(v) => Ok(RowResult::Value(v)),
        Err(e) => {
            let inner = innermost_ref(&e);
            let missing_caused = missing
                && matches!(
                    inner,
                    EvalAltResult::ErrorMismatchDataType(..)
                        | EvalAltResult::ErrorFunctionNotFound(..)
                        | EvalAltResult::ErrorMismatchOutputType(..)
                        | EvalAltResult::ErrorDotExpr(..)
                        | EvalAltResult::ErrorIndexingType(..)
                );
            let arithmetic = matches!(inner, EvalAltResult::ErrorArithmetic(..))
                && (arithmetic_is_missing || missing);
            if missing_caused || arithmetic {
                Ok(RowResult::Missing)
            } else {
                Err(e)
            }
        }
    }
}

/// The error inside nested function calls, with the position it happened at.
fn innermost(err: EvalAltResult) -> (EvalAltResult, Position) {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => innermost(*inner),
        other => {
            let pos = other.position();
            (other, pos)
        }
    }
}

fn innermost_ref(err: &EvalAltResult) -> &EvalAltResult {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => innermost_ref(inner),
        other => other,
    }
}

/// Rhai's message without its own `(line N, position M)`.
fn describe(err: &EvalAltResult) -> String {
    if let EvalAltResult::ErrorRuntime(v, _) = err {
        // Rhai prints a thrown value recursively.
        if script::nested_deeper_than(v, script::MAX_DEPTH) {
            return format!(
                "Runtime error: a value of arrays or maps nested more than {} deep",
                script::MAX_DEPTH
            );
        }
    }
    let text = err.to_string();
    match text.find(" (line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Appends a result to a typed column; `Err(type found)` when it cannot be one.
fn store(v: Dynamic, ty: FieldType, out: &mut Column) -> std::result::Result<(), String> {
    if v.is::<Missing>() || v.is_unit() {
        out.push_missing();
        return Ok(());
    }
    let found = || format!("a value of type {}", v.type_name());
    let ok = match (&mut out.data, ty) {
        (ColumnData::Bool(c), FieldType::Bool) => v.as_bool().map(|b| c.push(u8::from(b))).is_ok(),
        (ColumnData::Int(c), FieldType::Int) => v.as_int().map(|i| c.push(i)).is_ok(),
        (ColumnData::Float(c), FieldType::Float) => {
            let f = v
                .as_float()
                .ok()
                .or_else(|| v.as_int().ok().map(|i| i as f64))
                .or_else(|| {
                    use rust_decimal::prelude::ToPrimitive;
                    v.as_decimal().ok().and_then(|d| d.to_f64())
                });
            f.map(|f| c.push(f)).is_some()
        }
        (ColumnData::Decimal(c), FieldType::Decimal) => {
            let d: Option<Decimal> = v
                .as_decimal()
                .ok()
                .or_else(|| v.as_int().ok().map(Decimal::from))
                .or_else(|| v.as_float().ok().and_then(script::float_to_decimal));
            d.map(|d| c.push(d)).is_some()
        }
        (ColumnData::Str { bytes, ends }, FieldType::String) => {
            match v.clone().into_immutable_string() {
                Ok(s) => {
                    bytes.extend_from_slice(s.as_bytes());
                    ends.push(bytes.len() as u32);
                    true
                }
                Err(_) => false,
            }
        }
        _ => false,
    };
    if !ok {
        return Err(found());
    }
    out.valid.push(true);
    Ok(())
}
