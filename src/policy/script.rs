//! The Rhai engine polsim runs expressions and scripts in: sandboxed, with
//! missing values and exact decimals.
//!
//! One [`Engine`] is built per policy and shared by every worker (Rhai's
//! `sync` feature); each worker keeps its own `Scope`. The sandbox: no
//! modules or `import` (the `no_module` feature), no `eval`, `print` and
//! `debug` silenced, and limits on operations, call depth, expression depth
//! and string, array and map sizes, so a runaway script ends with an error
//! that names the row instead of hanging.
//!
//! A missing cell is a value of type `missing`. Comparing it or computing
//! with it gives `missing`; `!missing` is `missing`. Rhai's `&&`, `||` and
//! `if` need a real bool, so when a missing value reaches one the whole
//! expression is missing (see `engine::rhai_row`).
//!
//! A float meeting a decimal is read as the shortest decimal that prints as
//! the float: `monthly_income * 0.5` multiplies by exactly one half and
//! `ratio < 0.3` compares with exactly three tenths.

use rhai::{Dynamic, Engine, EvalAltResult, FLOAT, INT, ImmutableString, Position};
use rust_decimal::Decimal;
use std::sync::Arc;

/// Operations one row may take before the run stops.
pub const MAX_OPERATIONS: u64 = 1_000_000;
/// Nested function calls a script may make.
pub const MAX_CALL_LEVELS: usize = 32;
/// Longest string, and largest array or map, a script may build.
pub const MAX_STRING: usize = 10_000;
pub const MAX_COLLECTION: usize = 10_000;

/// A missing cell, as Rhai sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing;

/// What `decide(user)` returns: `approve(limit)`, `decline(reason, ...)` or `review(reason, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: VerdictKind,
    pub reasons: Vec<ImmutableString>,
    pub limit: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictKind {
    Approve,
    Decline,
    Review,
}

/// The shared engine. `Debug` so a compiled policy can derive it.
#[derive(Clone)]
pub struct RhaiEngine(pub Arc<Engine>);

impl std::fmt::Debug for RhaiEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RhaiEngine")
    }
}

type Res = Result<Dynamic, Box<EvalAltResult>>;

/// A float as the decimal it prints as; `None` for NaN, infinities and
/// values a decimal cannot hold exactly (too large, or with more digits
/// than it holds, like `1.5e-29`), which would otherwise be rounded.
pub fn float_to_decimal(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    crate::dataset::value::exact_decimal(&f.to_string()).ok()
}

fn to_dec(f: FLOAT, pos: Position) -> Result<Decimal, Box<EvalAltResult>> {
    float_to_decimal(f).ok_or_else(|| {
        EvalAltResult::ErrorArithmetic(format!("{f} is not a decimal number"), pos).into()
    })
}

fn dec_arith(op: &str, a: Decimal, b: Decimal) -> Res {
    let r = match op {
        "+" => a.checked_add(b),
        "-" => a.checked_sub(b),
        "*" => a.checked_mul(b),
        "/" => a.checked_div(b),
        _ => a.checked_rem(b),
    };
    r.map(Dynamic::from_decimal).ok_or_else(|| {
        let why = if b.is_zero() && matches!(op, "/" | "%") {
            "Division by zero"
        } else {
            "Arithmetic overflow"
        };
        EvalAltResult::ErrorArithmetic(format!("{why}: {a} {op} {b}"), Position::NONE).into()
    })
}

fn dec_cmp(op: &str, a: Decimal, b: Decimal) -> bool {
    match op {
        "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a >= b,
    }
}

const ARITH: [&str; 5] = ["+", "-", "*", "/", "%"];
const CMP: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];

/// Builds the sandboxed engine.
pub fn engine() -> Engine {
    let mut e = Engine::new();
    e.set_max_operations(MAX_OPERATIONS);
    e.set_max_call_levels(MAX_CALL_LEVELS);
    e.set_max_expr_depths(64, 32);
    e.set_max_string_size(MAX_STRING);
    e.set_max_array_size(MAX_COLLECTION);
    e.set_max_map_size(MAX_COLLECTION);
    e.disable_symbol("eval");
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    e.set_fail_on_invalid_map_property(true);
    // A row must not wait, nor depend on the clock: same data, same decisions.
    for name in ["sleep", "timestamp"] {
        let refuse =
            move |ctx: rhai::NativeCallContext| -> Res { Err(refused(name, ctx.call_position())) };
        e.register_fn(name, refuse);
        e.register_fn(name, move |ctx: rhai::NativeCallContext, _: INT| {
            refuse(ctx)
        });
        e.register_fn(name, move |ctx: rhai::NativeCallContext, _: FLOAT| {
            refuse(ctx)
        });
    }
    register_missing(&mut e);
    register_mixed_decimal(&mut e);
    register_verdicts(&mut e);
    e
}

fn register_missing(e: &mut Engine) {
    e.register_type_with_name::<Missing>("missing");
    macro_rules! with_missing {
        ($($t:ty),*) => {$(
            for op in ARITH.iter().chain(&CMP) {
                e.register_fn(*op, |_: Missing, _: $t| Missing);
                e.register_fn(*op, |_: $t, _: Missing| Missing);
            }
        )*};
    }
    with_missing!(INT, FLOAT, Decimal, bool, ImmutableString);
    for op in ARITH.iter().chain(&CMP) {
        e.register_fn(*op, |_: Missing, _: Missing| Missing);
    }
    e.register_fn("!", |_: Missing| Missing);
    e.register_fn("-", |_: Missing| Missing);
    e.register_fn("to_string", |_: &mut Missing| {
        ImmutableString::from("missing")
    });
    e.register_fn("is_missing", |x: Dynamic| x.is::<Missing>() || x.is_unit());
    // The rule's test: passes only on a real `true`.
    e.register_fn("holds", |x: Dynamic| x.as_bool().unwrap_or(false));
}

fn refused(name: &str, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        format!(
            "`{name}` is not available in polsim: every row must give the same answer, at once"
        )
        .into(),
        pos,
    )
    .into()
}

fn register_mixed_decimal(e: &mut Engine) {
    for op in ARITH {
        e.register_fn(
            op,
            move |ctx: rhai::NativeCallContext, a: Decimal, b: FLOAT| {
                dec_arith(op, a, to_dec(b, ctx.call_position())?)
            },
        );
        e.register_fn(
            op,
            move |ctx: rhai::NativeCallContext, a: FLOAT, b: Decimal| {
                dec_arith(op, to_dec(a, ctx.call_position())?, b)
            },
        );
    }
    for op in CMP {
        e.register_fn(
            op,
            move |ctx: rhai::NativeCallContext, a: Decimal, b: FLOAT| {
                Ok::<_, Box<EvalAltResult>>(dec_cmp(op, a, to_dec(b, ctx.call_position())?))
            },
        );
        e.register_fn(
            op,
            move |ctx: rhai::NativeCallContext, a: FLOAT, b: Decimal| {
                Ok::<_, Box<EvalAltResult>>(dec_cmp(op, to_dec(a, ctx.call_position())?, b))
            },
        );
    }
    for name in ["min", "max"] {
        let pick = move |a: Decimal, b: Decimal| {
            if crate::engine::native_script::pick_first(name == "min", &a, &b) {
                a
            } else {
                b
            }
        };
        e.register_fn(
            name,
            move |ctx: rhai::NativeCallContext, a: Decimal, b: FLOAT| {
                Ok::<_, Box<EvalAltResult>>(pick(a, to_dec(b, ctx.call_position())?))
            },
        );
        e.register_fn(
            name,
            move |ctx: rhai::NativeCallContext, a: FLOAT, b: Decimal| {
                Ok::<_, Box<EvalAltResult>>(pick(to_dec(a, ctx.call_position())?, b))
            },
        );
    }
}

fn verdict(outcome: VerdictKind, reasons: Vec<ImmutableString>, limit: Option<Decimal>) -> Verdict {
    Verdict {
        outcome,
        reasons,
        limit,
    }
}

fn register_verdicts(e: &mut Engine) {
    e.register_type_with_name::<Verdict>("verdict");
    e.register_fn("approve", || {
        verdict(VerdictKind::Approve, Vec::new(), None)
    });
    e.register_fn("approve", |l: INT| {
        verdict(VerdictKind::Approve, Vec::new(), Some(Decimal::from(l)))
    });
    e.register_fn("approve", |l: Decimal| {
        verdict(VerdictKind::Approve, Vec::new(), Some(l))
    });
    e.register_fn(
        "approve",
        |ctx: rhai::NativeCallContext, l: FLOAT| -> Result<Verdict, Box<EvalAltResult>> {
            Ok(verdict(
                VerdictKind::Approve,
                Vec::new(),
                Some(to_dec(l, ctx.call_position())?),
            ))
        },
    );
    for (name, kind) in [
        ("decline", VerdictKind::Decline),
        ("review", VerdictKind::Review),
    ] {
        type S = ImmutableString;
        e.register_fn(name, move |a: S| verdict(kind, vec![a], None));
        e.register_fn(name, move |a: S, b: S| verdict(kind, vec![a, b], None));
        e.register_fn(name, move |a: S, b: S, c: S| {
            verdict(kind, vec![a, b, c], None)
        });
        e.register_fn(name, move |a: S, b: S, c: S, d: S| {
            verdict(kind, vec![a, b, c, d], None)
        });
        e.register_fn(
            name,
            move |ctx: rhai::NativeCallContext,
                  list: rhai::Array|
                  -> Result<Verdict, Box<EvalAltResult>> {
                let mut reasons = Vec::with_capacity(list.len());
                for item in list {
                    match item.into_immutable_string() {
                        Ok(s) => reasons.push(s),
                        Err(t) => {
                            return Err(EvalAltResult::ErrorMismatchDataType(
                                "string".into(),
                                t.into(),
                                ctx.call_position(),
                            )
                            .into());
                        }
                    }
                }
                Ok(verdict(kind, reasons, None))
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> Result<Dynamic, String> {
        let e = engine();
        let mut scope = rhai::Scope::new();
        scope.push("m", Missing);
        scope.push("d", Decimal::new(15, 1));
        scope.push("i", 3 as INT);
        e.eval_expression_with_scope::<Dynamic>(&mut scope, text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn missing_propagates_through_comparisons_and_arithmetic() {
        for text in [
            "m == 5", "m != 5", "5 < m", "m + 1", "d * m", "!m", "-m", "m == m",
        ] {
            assert!(eval(text).unwrap().is::<Missing>(), "{text}");
        }
        assert!(eval("m || true").is_err());
        assert_eq!(eval("true || m").unwrap().as_bool(), Ok(true));
        assert_eq!(eval("holds(m > 1)").unwrap().as_bool(), Ok(false));
        assert_eq!(eval("is_missing(m)").unwrap().as_bool(), Ok(true));
    }

    #[test]
    fn floats_meet_decimals_exactly() {
        assert_eq!(
            eval("d * 0.1").unwrap().as_decimal(),
            Ok(Decimal::new(15, 2))
        );
        assert_eq!(eval("d > 1.4").unwrap().as_bool(), Ok(true));
        assert_eq!(
            eval("min(d, 0.2)").unwrap().as_decimal(),
            Ok(Decimal::new(2, 1))
        );
        assert!(eval("d / 0.0").unwrap_err().contains("Division by zero"));
    }

    #[test]
    fn sandbox_refuses_eval_and_bounds_work() {
        assert!(eval("eval(\"1\")").is_err());
        let e = engine();
        let r = e.eval::<Dynamic>("let x = 0; loop { x += 1; }");
        assert!(matches!(
            *r.unwrap_err(),
            EvalAltResult::ErrorTooManyOperations(_)
        ));
        let r = e.eval::<Dynamic>("fn f(n) { f(n + 1) } f(0)");
        assert!(
            r.unwrap_err().to_string().contains("Stack overflow"),
            "stack"
        );
        let r = e.eval::<Dynamic>("let s = \"x\"; loop { s += s; }");
        assert!(matches!(
            *r.unwrap_err(),
            EvalAltResult::ErrorDataTooLarge(..)
        ));
    }
}
