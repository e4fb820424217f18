//! Column kernels: a compiled condition evaluated over a whole batch at once.
//!
//! Truth values are three-valued, encoded so that SQL's logic is arithmetic:
//! `FALSE = 0 < UNKNOWN = 1 < TRUE = 2`; AND is `min`, OR is `max`, NOT is
//! `2 - x`. A comparison with a missing value is UNKNOWN, and a rule passes
//! only on TRUE, so a missing value never approves anyone by accident.
//!
//! Each leaf is a tight loop over a typed column with the operator chosen
//! outside the loop, which the compiler vectorises; combinators fold child
//! results with scratch buffers that are reused from batch to batch.

use super::arith;
use crate::dataset::batch::{Batch, Column, ColumnData};
use crate::dataset::value::Value;
use crate::policy::condition::{CmpOp, Col, Cond};
use rust_decimal::Decimal;
use std::cmp::Ordering;

pub const FALSE: u8 = 0;
pub const UNKNOWN: u8 = 1;
pub const TRUE: u8 = 2;

/// Scratch buffers for combinators; reuse one per worker.
#[derive(Default)]
pub struct Scratch {
    free: Vec<Vec<u8>>,
}

impl Scratch {
    fn take(&mut self, len: usize) -> Vec<u8> {
        let mut v = self.free.pop().unwrap_or_default();
        // Every kernel writes every element, so stale values need no zeroing.
        v.resize(len, 0);
        v
    }

    fn give(&mut self, v: Vec<u8>) {
        self.free.push(v);
    }
}

/// The columns a batch's conditions read: the parsed ones (the plan's
/// projection) and the policy's derived ones (`derive`, and expressions
/// that run in Rhai).
#[derive(Clone, Copy)]
pub struct Cols<'a> {
    pub parsed: &'a [Column],
    pub derived: &'a [Column],
    pub len: usize,
}

impl<'a> Cols<'a> {
    /// A batch's parsed columns alone.
    pub fn of(batch: &'a Batch) -> Cols<'a> {
        Cols {
            parsed: &batch.columns,
            derived: &[],
            len: batch.len,
        }
    }

    pub fn get(&self, col: Col) -> &'a Column {
        match col {
            Col::Parsed(i) => &self.parsed[i],
            Col::Derived(k) => &self.derived[k],
        }
    }
}

/// Evaluates `cond` for every row into `out` (resized to the batch).
pub fn eval(cond: &Cond, cols: &Cols, out: &mut Vec<u8>, scratch: &mut Scratch) {
    // Every kernel writes every element, so stale values need no zeroing.
    out.resize(cols.len, 0);
    eval_into(cond, cols, out, scratch);
}

fn eval_into(cond: &Cond, batch: &Cols, out: &mut [u8], scratch: &mut Scratch) {
    match cond {
        Cond::True => out.fill(TRUE),
        Cond::All(parts) | Cond::Any(parts) => {
            let all = matches!(cond, Cond::All(_));
            out.fill(if all { TRUE } else { FALSE });
            let mut tmp = scratch.take(out.len());
            for part in parts {
                eval_into(part, batch, &mut tmp, scratch);
                if all {
                    out.iter_mut()
                        .zip(&tmp)
                        .for_each(|(o, t)| *o = (*o).min(*t));
                } else {
                    out.iter_mut()
                        .zip(&tmp)
                        .for_each(|(o, t)| *o = (*o).max(*t));
                }
            }
            scratch.give(tmp);
        }
        Cond::Not(inner) => {
            eval_into(inner, batch, out, scratch);
            out.iter_mut().for_each(|o| *o = TRUE - *o);
        }
        Cond::Missing { column, missing } => {
            let valid = &batch.get(*column).valid;
            for (o, v) in out.iter_mut().zip(valid.iter()) {
                *o = if *v != *missing { TRUE } else { FALSE };
            }
        }
        Cond::Compare { column, op, value } => compare(batch.get(*column), *op, value, out),
        Cond::Cmp { lhs, op, rhs } => {
            let a = arith::eval(lhs, batch);
            let b = arith::eval(rhs, batch);
            arith::compare(&a, *op, &b, out);
        }
        Cond::Between { column, lo, hi } => {
            let mut tmp = scratch.take(out.len());
            let col = batch.get(*column);
            compare(col, CmpOp::Gte, lo, out);
            compare(col, CmpOp::Lte, hi, &mut tmp);
            out.iter_mut()
                .zip(&tmp)
                .for_each(|(o, t)| *o = (*o).min(*t));
            scratch.give(tmp);
        }
        Cond::In {
            column,
            values,
            negate,
        } => {
            let col = batch.get(*column);
            let mut tmp = scratch.take(out.len());
            out.fill(FALSE);
            for v in values {
                compare(col, CmpOp::Eq, v, &mut tmp);
                out.iter_mut()
                    .zip(&tmp)
                    .for_each(|(o, t)| *o = (*o).max(*t));
            }
            if values.is_empty() {
                // Nothing is in the empty set, but a missing value is still unknown.
                for (o, v) in out.iter_mut().zip(&col.valid) {
                    *o = if *v { FALSE } else { UNKNOWN };
                }
            }
            if *negate {
                out.iter_mut().for_each(|o| *o = TRUE - *o);
            }
            scratch.give(tmp);
        }
    }
}

/// `column OP value` for every row.
pub fn compare(col: &Column, op: CmpOp, value: &Value, out: &mut [u8]) {
    match (&col.data, value) {
        (ColumnData::Int(v), Value::Int(x)) => {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just above.
                return unsafe { ordered_ints_avx2(v, &col.valid, *x, op, out) };
            }
            ordered(v, &col.valid, *x, op, out)
        }
        (ColumnData::Float(v), Value::Float(x)) => {
            for ((o, v), ok) in out.iter_mut().zip(v).zip(&col.valid) {
                let t = if float_holds(op, *v, *x) { TRUE } else { FALSE };
                *o = if *ok { t } else { UNKNOWN };
            }
        }
        (ColumnData::Decimal(v), Value::Decimal(x)) => {
            ordered::<Decimal>(v, &col.valid, *x, op, out)
        }
        (ColumnData::Bool(v), Value::Bool(x)) => ordered(v, &col.valid, u8::from(*x), op, out),
        (ColumnData::Str { .. }, Value::String(x)) => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = if col.valid[i] {
                    truth(op, col.str(i).cmp(x))
                } else {
                    UNKNOWN
                };
            }
        }
        // Compilation types every literal by its field, so this cannot happen.
        _ => out.fill(UNKNOWN),
    }
}

/// `x OP y` for floats as Rhai compares them, within a relative epsilon
/// (`0.1 + 0.2 == 0.3` holds), so that a condition means the same whether
/// it runs on these kernels or in Rhai.
pub fn float_holds(op: CmpOp, x: f64, y: f64) -> bool {
    const EPS: f64 = f64::EPSILON;
    let max = if x * y == 0.0 {
        1.0
    } else {
        x.abs().max(y.abs())
    };
    if max == 0.0 {
        return matches!(op, CmpOp::Eq | CmpOp::Gte | CmpOp::Lte);
    }
    match op {
        CmpOp::Eq => (x - y).abs() / max <= EPS,
        CmpOp::Ne => (x - y).abs() / max > EPS,
        CmpOp::Gt => (x - y) / max > EPS,
        CmpOp::Gte => (x - y) / max > -EPS,
        CmpOp::Lt => (y - x) / max > EPS,
        CmpOp::Lte => (y - x) / max > -EPS,
    }
}

/// `ordered` for ints compiled with AVX2, whose 64-bit compares let the
/// loop run four rows at a time (SSE2 has none).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn ordered_ints_avx2(values: &[i64], valid: &[bool], x: i64, op: CmpOp, out: &mut [u8]) {
    ordered(values, valid, x, op, out)
}

#[inline(always)]
fn ordered<T: PartialOrd + Copy>(values: &[T], valid: &[bool], x: T, op: CmpOp, out: &mut [u8]) {
    // One monomorphised loop per operator keeps the branch out of the loop.
    fn run<T: Copy>(values: &[T], valid: &[bool], out: &mut [u8], f: impl Fn(T) -> bool) {
        for ((o, v), ok) in out.iter_mut().zip(values).zip(valid) {
            let t = if f(*v) { TRUE } else { FALSE };
            *o = if *ok { t } else { UNKNOWN };
        }
    }
    match op {
        CmpOp::Eq => run(values, valid, out, |v| v == x),
        CmpOp::Ne => run(values, valid, out, |v| v != x),
        CmpOp::Gt => run(values, valid, out, |v| v > x),
        CmpOp::Gte => run(values, valid, out, |v| v >= x),
        CmpOp::Lt => run(values, valid, out, |v| v < x),
        CmpOp::Lte => run(values, valid, out, |v| v <= x),
    }
}

fn truth(op: CmpOp, ord: Ordering) -> u8 {
    let holds = match op {
        CmpOp::Eq => ord.is_eq(),
        CmpOp::Ne => ord.is_ne(),
        CmpOp::Gt => ord.is_gt(),
        CmpOp::Gte => ord.is_ge(),
        CmpOp::Lt => ord.is_lt(),
        CmpOp::Lte => ord.is_le(),
    };
    if holds { TRUE } else { FALSE }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::chunker::Chunker;
    use crate::dataset::schema::ColumnSpec;
    use crate::dataset::schema::Schema;
    use crate::dataset::value::FieldType;

    /// A batch with column 0 `x: int` holding 1, missing, 3.
    fn batch() -> Batch {
        let data = b"x,y\n1,a\n,b\n3,c\n";
        let mut chunker = Chunker::new(&data[..], 1024, "t.csv");
        let header = chunker.header().unwrap().unwrap();
        let schema =
            Schema::resolve("t.csv", &header, &[ColumnSpec::new("x", FieldType::Int)]).unwrap();
        let chunk = chunker.next_chunk().unwrap().unwrap();
        let mut b = Batch::new(&schema);
        crate::dataset::batch::Parser::default()
            .parse(
                &crate::dataset::batch::Piece::Text(&chunk),
                &schema,
                false,
                &mut b,
                &mut Vec::new(),
            )
            .unwrap();
        b
    }

    fn run(cond: &Cond) -> Vec<u8> {
        let b = batch();
        let mut out = Vec::new();
        eval(cond, &Cols::of(&b), &mut out, &mut Scratch::default());
        out
    }

    fn cmp(op: CmpOp, x: i64) -> Cond {
        Cond::Compare {
            column: Col::Parsed(0),
            op,
            value: Value::Int(x),
        }
    }

    #[test]
    fn batch_has_a_missing_value() {
        assert_eq!(batch().columns[0].valid, [true, false, true]);
    }

    #[test]
    fn comparisons_with_missing_are_unknown() {
        assert_eq!(run(&cmp(CmpOp::Gte, 2)), [FALSE, UNKNOWN, TRUE]);
        assert_eq!(run(&cmp(CmpOp::Ne, 1)), [FALSE, UNKNOWN, TRUE]);
        assert_eq!(
            run(&Cond::Not(Box::new(cmp(CmpOp::Gte, 2)))),
            [TRUE, UNKNOWN, FALSE]
        );
    }

    #[test]
    fn three_valued_truth_table() {
        // Row 1 is unknown for any comparison; pair it with constant true/false.
        let t = Cond::True;
        let f = Cond::Not(Box::new(Cond::True));
        let u = cmp(CmpOp::Eq, 1);
        let all = |a: &Cond, b: &Cond| run(&Cond::All(vec![a.clone(), b.clone()]))[1];
        let any = |a: &Cond, b: &Cond| run(&Cond::Any(vec![a.clone(), b.clone()]))[1];
        assert_eq!(all(&u, &t), UNKNOWN);
        assert_eq!(all(&u, &f), FALSE);
        assert_eq!(all(&u, &u), UNKNOWN);
        assert_eq!(any(&u, &t), TRUE);
        assert_eq!(any(&u, &f), UNKNOWN);
        assert_eq!(any(&u, &u), UNKNOWN);
        assert_eq!(run(&Cond::All(vec![]))[1], TRUE);
        assert_eq!(run(&Cond::Any(vec![]))[1], FALSE);
    }

    #[test]
    fn missing_is_never_unknown() {
        assert_eq!(
            run(&Cond::Missing {
                column: Col::Parsed(0),
                missing: true
            }),
            [FALSE, TRUE, FALSE]
        );
        assert_eq!(
            run(&Cond::Missing {
                column: Col::Parsed(0),
                missing: false
            }),
            [TRUE, FALSE, TRUE]
        );
    }

    #[test]
    fn in_between_and_not_in() {
        let in13 = Cond::In {
            column: Col::Parsed(0),
            values: vec![Value::Int(1), Value::Int(3)],
            negate: false,
        };
        assert_eq!(run(&in13), [TRUE, UNKNOWN, TRUE]);
        let not_in1 = Cond::In {
            column: Col::Parsed(0),
            values: vec![Value::Int(1)],
            negate: true,
        };
        assert_eq!(run(&not_in1), [FALSE, UNKNOWN, TRUE]);
        let empty = Cond::In {
            column: Col::Parsed(0),
            values: vec![],
            negate: false,
        };
        assert_eq!(run(&empty), [FALSE, UNKNOWN, FALSE]);
        let between = Cond::Between {
            column: Col::Parsed(0),
            lo: Value::Int(1),
            hi: Value::Int(2),
        };
        assert_eq!(run(&between), [TRUE, UNKNOWN, FALSE]);
    }
}
