//! Evaluating a natively compiled script policy ([`crate::policy::native_script`])
//! one row at a time, with Rhai's semantics.
//!
//! A value may be `missing` (an empty cell). As in Rhai with polsim's
//! `missing` type: arithmetic and comparisons with it give `missing`, `!`
//! and `-` keep it, `holds` is false and `is_missing` true for it, a
//! `switch` on it takes `_`; where Rhai would stop with a type error (`if`,
//! `&&`, `||`, `min`, `.floor()`, `approve`) the row is undecided and gets
//! `MISSING_VALUE`. Anything the native path is not sure to do as Rhai
//! does — an overflow, a division by zero, a float that is not finite, a
//! `decide` that returns nothing — is handed back to Rhai for that row.

use super::kernels::{Cols, float_holds};
use super::script_trace::{Check, Compared, Path, Seen};
use crate::dataset::batch::ColumnData;
use crate::policy::condition::CmpOp;
use crate::policy::native_script::{Arith, Block, Cmp, Const, NativeScript, Node, Reasons, Stmt};
use crate::policy::script::VerdictKind;
use crate::policy::script::float_to_decimal;
use rust_decimal::Decimal;

/// How a row ended.
#[derive(Debug, PartialEq)]
pub enum Decided {
    /// The verdict; its reasons are in the evaluator's [`NativeRows::reasons`].
    Verdict(VerdictKind, Option<Decimal>),
    /// A missing value stopped the script.
    Missing,
    /// Rhai must run this row.
    Defer,
}

#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Missing,
    Unit,
    Int(i64),
    Float(f64),
    Dec(Decimal),
    Bool(bool),
    Str(&'a [u8]),
    /// An array, by its index among the row's arrays.
    Arr(usize),
    Verdict(VerdictKind, VerdictReasons<'a>, Option<Decimal>),
}

#[derive(Debug, Clone, Copy)]
enum VerdictReasons<'a> {
    Listed(&'a [u16]),
    Array(usize),
}

enum Stop<'a> {
    Return(Val<'a>),
    Missing,
    Defer,
}

type Res<'a> = Result<Val<'a>, Stop<'a>>;

/// Per-batch state: slots for locals and arrays, reused across rows.
pub struct NativeRows<'a> {
    script: &'a NativeScript,
    cols: &'a Cols<'a>,
    slots: Vec<Val<'a>>,
    arrays: Vec<Vec<u16>>,
    /// The reasons of the last verdict.
    pub reasons: Vec<u16>,
    /// The path of the row, when tracing ([`NativeRows::trace`]).
    path: Option<Path>,
}

impl<'a> NativeRows<'a> {
    pub fn new(script: &'a NativeScript, cols: &'a Cols<'a>) -> Self {
        NativeRows {
            script,
            cols,
            slots: vec![Val::Unit; script.slots],
            arrays: vec![Vec::new(); script.arrays],
            reasons: Vec::new(),
            path: None,
        }
    }

    /// Runs `decide` for `row`, recording every `if` it evaluates; `None`
    /// when the row is Rhai's to run.
    pub fn trace(&mut self, row: usize) -> Option<Path> {
        self.path = Some(Path::default());
        let decided = self.decide(row);
        let path = self.path.take();
        (decided != Decided::Defer).then_some(path).flatten()
    }

    /// Runs `decide` for `row`.
    pub fn decide(&mut self, row: usize) -> Decided {
        let value = match self.block(&self.script.body, row) {
            Ok(v) | Err(Stop::Return(v)) => v,
            Err(Stop::Missing) => return Decided::Missing,
            Err(Stop::Defer) => return Decided::Defer,
        };
        match value {
            Val::Verdict(kind, reasons, limit) => {
                self.reasons.clear();
                match reasons {
                    VerdictReasons::Listed(r) => self.reasons.extend_from_slice(r),
                    VerdictReasons::Array(a) => self.reasons.extend_from_slice(&self.arrays[a]),
                }
                if kind != VerdictKind::Approve && self.reasons.is_empty() {
                    return Decided::Defer; // Rhai's error to report
                }
                Decided::Verdict(kind, limit)
            }
            // `return missing`: Rhai's result is missing, on a row with a missing value.
            Val::Missing => Decided::Missing,
            _ => Decided::Defer,
        }
    }

    fn block(&mut self, b: &'a Block, row: usize) -> Res<'a> {
        for s in &b.stmts {
            match s {
                Stmt::Let(slot, n) => {
                    let v = self.eval(n, row)?;
                    self.slots[*slot] = v;
                }
                Stmt::Expr(n) => {
                    self.eval(n, row)?;
                }
                Stmt::Return(n) => return Err(Stop::Return(self.eval(n, row)?)),
            }
        }
        match &b.value {
            Some(n) => self.eval(n, row),
            None => Ok(Val::Unit),
        }
    }

    fn eval(&mut self, n: &'a Node, row: usize) -> Res<'a> {
        Ok(match n {
            Node::Const(c) => match c {
                Const::Int(v) => Val::Int(*v),
                Const::Float(v) => Val::Float(*v),
                Const::Dec(v) => Val::Dec(*v),
                Const::Bool(v) => Val::Bool(*v),
                Const::Str(s) => Val::Str(s),
            },
            Node::Field(c) => {
                let col = self.cols.get(*c);
                if !col.valid[row] {
                    return Ok(Val::Missing);
                }
                match &col.data {
                    ColumnData::Int(v) => Val::Int(v[row]),
                    ColumnData::Float(v) => Val::Float(v[row]),
                    ColumnData::Decimal(v) => Val::Dec(v[row]),
                    ColumnData::Bool(v) => Val::Bool(v[row] != 0),
                    ColumnData::Str { .. } => Val::Str(col.str(row)),
                }
            }
            Node::Local(slot) => *self.slots.get(*slot).ok_or(Stop::Defer)?,
            Node::Neg(a) => match self.eval(a, row)? {
                Val::Missing => Val::Missing,
                Val::Int(v) => Val::Int(v.checked_neg().ok_or(Stop::Defer)?),
                Val::Float(v) => Val::Float(-v),
                Val::Dec(v) => Val::Dec(-v),
                _ => return Err(Stop::Defer),
            },
            Node::Not(a) => match self.eval(a, row)? {
                Val::Missing => Val::Missing,
                Val::Bool(b) => Val::Bool(!b),
                _ => return Err(Stop::Defer),
            },
            Node::Arith(op, a, b) => {
                let (a, b) = (self.eval(a, row)?, self.eval(b, row)?);
                arith(*op, a, b)?
            }
            Node::Cmp(op, a, b) => {
                let (a, b) = (self.eval(a, row)?, self.eval(b, row)?);
                compare(*op, a, b)?
            }
            Node::And(a, b) | Node::Or(a, b) => {
                let and = matches!(n, Node::And(..));
                match self.eval(a, row)? {
                    Val::Bool(x) if x != and => Val::Bool(x),
                    Val::Bool(_) => match self.eval(b, row)? {
                        Val::Bool(y) => Val::Bool(y),
                        Val::Missing => return Err(Stop::Missing),
                        _ => return Err(Stop::Defer),
                    },
                    Val::Missing => return Err(Stop::Missing),
                    _ => return Err(Stop::Defer),
                }
            }
            Node::Holds(a) => Val::Bool(matches!(self.eval(a, row)?, Val::Bool(true))),
            Node::IsMissing(a) => Val::Bool(matches!(self.eval(a, row)?, Val::Missing | Val::Unit)),
            Node::MinMax(min, a, b) => {
                let (a, b) = (self.eval(a, row)?, self.eval(b, row)?);
                min_max(*min, a, b)?
            }
            Node::Floor(a) => match self.eval(a, row)? {
                Val::Float(v) => Val::Float(v.floor()),
                Val::Dec(v) => Val::Dec(v.floor()),
                Val::Missing => return Err(Stop::Missing),
                _ => return Err(Stop::Defer),
            },
            Node::If(c, then, otherwise, site) => match match self.path {
                None => self.eval(c, row)?,
                Some(_) => self.traced_check(c, *site, row)?,
            } {
                Val::Bool(true) => self.block(then, row)?,
                Val::Bool(false) => match otherwise {
                    Some(b) => self.block(b, row)?,
                    None => Val::Unit,
                },
                Val::Missing => return Err(Stop::Missing),
                _ => return Err(Stop::Defer),
            },
            Node::Switch(on, arms, default) => {
                let on = self.eval(on, row)?;
                let arm = arms.iter().find(|(c, _)| match (c, on) {
                    (Const::Str(s), Val::Str(v)) => **s == *v,
                    (Const::Int(s), Val::Int(v)) => *s == v,
                    _ => false,
                });
                match (arm, default) {
                    (Some((_, n)), _) => self.eval(n, row)?,
                    (None, Some(n)) => self.eval(n, row)?,
                    (None, None) => return Err(Stop::Defer),
                }
            }
            Node::Call(slots, values, body) => {
                for (slot, v) in slots.iter().zip(values) {
                    let v = self.eval(v, row)?;
                    self.slots[*slot] = v;
                }
                match self.block(body, row) {
                    Ok(v) | Err(Stop::Return(v)) => v,
                    Err(stop) => return Err(stop),
                }
            }
            Node::NewArray(a, init) => {
                let array = &mut self.arrays[*a];
                array.clear();
                array.extend_from_slice(init);
                Val::Arr(*a)
            }
            Node::Push(slot, reason) => match self.slots[*slot] {
                Val::Arr(a) => {
                    self.arrays[a].push(*reason);
                    Val::Unit
                }
                _ => return Err(Stop::Defer),
            },
            Node::Len(slot) => match self.slots[*slot] {
                Val::Arr(a) => Val::Int(self.arrays[a].len() as i64),
                _ => return Err(Stop::Defer),
            },
            Node::Verdict(kind, reasons, limit, at) => {
                if let Some(path) = &mut self.path {
                    path.verdict_at = Some(*at);
                }
                let limit = match limit {
                    None => None,
                    Some(l) => Some(match self.eval(l, row)? {
                        Val::Int(v) => Decimal::from(v),
                        Val::Dec(v) => v,
                        Val::Float(v) => float_to_decimal(v).ok_or(Stop::Defer)?,
                        Val::Missing => return Err(Stop::Missing),
                        _ => return Err(Stop::Defer),
                    }),
                };
                let reasons = match reasons {
                    Reasons::Listed(r) => VerdictReasons::Listed(r),
                    Reasons::Array(slot) => match self.slots[*slot] {
                        Val::Arr(a) => VerdictReasons::Array(a),
                        _ => return Err(Stop::Defer),
                    },
                };
                Val::Verdict(*kind, reasons, limit)
            }
            Node::Defer => return Err(Stop::Defer),
        })
    }
}

impl<'a> NativeRows<'a> {
    /// Evaluates an `if`'s condition, recording it with its value and, for
    /// a comparison (under `!` or `holds`), the values compared.
    fn traced_check(&mut self, c: &'a Node, site: u32, row: usize) -> Res<'a> {
        let (mut inner, mut wrapped_in) = (c, Vec::new());
        while let Node::Not(n) | Node::Holds(n) = inner {
            wrapped_in.push(matches!(inner, Node::Not(_)));
            inner = n;
        }
        let compared = match inner {
            Node::Cmp(op, a, b) => match (self.eval(a, row), self.eval(b, row)) {
                (Ok(x), Ok(y)) => Some(Compared {
                    wrapped_in,
                    left: self.seen(x),
                    op: op.symbol(),
                    right: self.seen(y),
                }),
                _ => None,
            },
            _ => None,
        };
        let v = self.eval(c, row);
        let value = match &v {
            Ok(x) => self.seen(*x),
            Err(Stop::Missing) => Seen::Missing,
            Err(_) => return v,
        };
        let path = self.path.as_mut().expect("tracing");
        path.checks.push(Check {
            site: self.script.sites[site as usize],
            value,
            compared,
        });
        v
    }

    fn seen(&self, v: Val) -> Seen {
        match v {
            Val::Missing => Seen::Missing,
            Val::Unit => Seen::Other("()".to_owned()),
            Val::Int(x) => Seen::Int(x),
            Val::Float(x) => Seen::Float(x),
            Val::Dec(x) => Seen::Dec(x),
            Val::Bool(x) => Seen::Bool(x),
            Val::Str(x) => Seen::Str(String::from_utf8_lossy(x).into_owned()),
            Val::Arr(_) => Seen::Other("an array".to_owned()),
            Val::Verdict(..) => Seen::Other("a verdict".to_owned()),
        }
    }
}

/// A float that Rhai would carry on with (not NaN, not infinite).
fn finite<'a>(v: f64) -> Res<'a> {
    if v.is_finite() {
        Ok(Val::Float(v))
    } else {
        Err(Stop::Defer)
    }
}

fn dec<'a>(v: Val) -> Result<Decimal, Stop<'a>> {
    match v {
        Val::Int(i) => Ok(Decimal::from(i)),
        Val::Dec(d) => Ok(d),
        Val::Float(f) => float_to_decimal(f).ok_or(Stop::Defer),
        _ => Err(Stop::Defer),
    }
}

fn float<'a>(v: Val) -> Result<f64, Stop<'a>> {
    match v {
        Val::Int(i) => Ok(i as f64),
        Val::Float(f) => Ok(f),
        _ => Err(Stop::Defer),
    }
}

fn arith<'a>(op: Arith, a: Val<'a>, b: Val<'a>) -> Res<'a> {
    Ok(match (a, b) {
        (Val::Missing, _) | (_, Val::Missing) => Val::Missing,
        (Val::Int(x), Val::Int(y)) => Val::Int(
            match op {
                Arith::Add => x.checked_add(y),
                Arith::Sub => x.checked_sub(y),
                Arith::Mul => x.checked_mul(y),
                Arith::Div => x.checked_div(y),
                Arith::Rem => x.checked_rem(y),
            }
            .ok_or(Stop::Defer)?,
        ),
        (Val::Dec(_), _) | (_, Val::Dec(_)) => {
            let (x, y) = (dec(a)?, dec(b)?);
            Val::Dec(
                match op {
                    Arith::Add => x.checked_add(y),
                    Arith::Sub => x.checked_sub(y),
                    Arith::Mul => x.checked_mul(y),
                    Arith::Div if y.is_zero() => None,
                    Arith::Div => x.checked_div(y),
                    Arith::Rem => x.checked_rem(y),
                }
                .ok_or(Stop::Defer)?,
            )
        }
        (Val::Float(_) | Val::Int(_), Val::Float(_) | Val::Int(_)) => {
            let (x, y) = (float(a)?, float(b)?);
            finite(match op {
                Arith::Add => x + y,
                Arith::Sub => x - y,
                Arith::Mul => x * y,
                Arith::Div => x / y,
                Arith::Rem => x % y,
            })?
        }
        _ => return Err(Stop::Defer),
    })
}

fn compare<'a>(op: Cmp, a: Val<'a>, b: Val<'a>) -> Res<'a> {
    use std::cmp::Ordering;
    let ord: Ordering = match (a, b) {
        (Val::Missing, _) | (_, Val::Missing) => return Ok(Val::Missing),
        (Val::Int(x), Val::Int(y)) => x.cmp(&y),
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        (Val::Bool(x), Val::Bool(y)) if matches!(op, Cmp::Eq | Cmp::Ne) => x.cmp(&y),
        (Val::Dec(_), _) | (_, Val::Dec(_)) => dec(a)?.cmp(&dec(b)?),
        (Val::Float(_) | Val::Int(_), Val::Float(_) | Val::Int(_)) => {
            // Rhai compares floats (and a float with an int) within a
            // relative epsilon, as the kernels do.
            let op = match op {
                Cmp::Eq => CmpOp::Eq,
                Cmp::Ne => CmpOp::Ne,
                Cmp::Lt => CmpOp::Lt,
                Cmp::Le => CmpOp::Lte,
                Cmp::Gt => CmpOp::Gt,
                Cmp::Ge => CmpOp::Gte,
            };
            return Ok(Val::Bool(float_holds(op, float(a)?, float(b)?)));
        }
        _ => return Err(Stop::Defer),
    };
    Ok(Val::Bool(match op {
        Cmp::Eq => ord.is_eq(),
        Cmp::Ne => ord.is_ne(),
        Cmp::Lt => ord.is_lt(),
        Cmp::Le => ord.is_le(),
        Cmp::Gt => ord.is_gt(),
        Cmp::Ge => ord.is_ge(),
    }))
}

/// Rhai's `min`/`max` keep the first on a tie: `max(x, y)` is `if x >= y { x } else { y }`.
pub fn pick_first<T: PartialOrd>(min: bool, x: &T, y: &T) -> bool {
    if min { x <= y } else { x >= y }
}

/// Rhai's `min`/`max`.
fn min_max<'a>(min: bool, a: Val<'a>, b: Val<'a>) -> Res<'a> {
    Ok(match (a, b) {
        // No `min` or `max` takes a missing value.
        (Val::Missing, _) | (_, Val::Missing) => return Err(Stop::Missing),
        (Val::Int(x), Val::Int(y)) => Val::Int(if pick_first(min, &x, &y) { x } else { y }),
        (Val::Dec(_), _) | (_, Val::Dec(_)) => {
            let (x, y) = (dec(a)?, dec(b)?);
            Val::Dec(if pick_first(min, &x, &y) { x } else { y })
        }
        (Val::Float(_) | Val::Int(_), Val::Float(_) | Val::Int(_)) => {
            let (x, y) = (float(a)?, float(b)?);
            Val::Float(if pick_first(min, &x, &y) { x } else { y })
        }
        _ => return Err(Stop::Defer),
    })
}
