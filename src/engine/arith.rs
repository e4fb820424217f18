//! Column kernels for lowered arithmetic: a [`Num`] evaluated over a whole
//! batch into a typed column.
//!
//! Values follow Rhai's rules so the lowered and the Rhai path agree: int
//! arithmetic is checked, and an overflow, a division by zero or a float
//! that is no decimal gives a missing value (Rhai stops with an error, which
//! makes the whole expression missing there). Missing in, missing out.

use super::kernels::{FALSE, TRUE, UNKNOWN, float_holds};
use crate::dataset::batch::{Column, ColumnData};
use crate::dataset::value::{FieldType, Value};
use crate::policy::condition::CmpOp;
use crate::policy::expr::ArithOp;
use crate::policy::lower::Num;
use crate::policy::script::float_to_decimal;
use rust_decimal::Decimal;
use std::borrow::Cow;

use super::kernels::Cols;

/// Evaluates `num` for every row.
pub fn eval<'a>(num: &Num, cols: &Cols<'a>) -> Cow<'a, Column> {
    let n = cols.len;
    match num {
        Num::Column(c) => Cow::Borrowed(cols.get(*c)),
        Num::Const(v) => Cow::Owned(constant(v, n)),
        Num::Neg(a) => {
            let mut c = eval(a, cols).into_owned();
            match &mut c.data {
                ColumnData::Int(v) => unary(v, &mut c.valid, i64::checked_neg),
                ColumnData::Float(v) => v.iter_mut().for_each(|x| *x = -*x),
                ColumnData::Decimal(v) => v.iter_mut().for_each(|x| *x = -*x),
                _ => {}
            }
            Cow::Owned(c)
        }
        Num::Cast(a, to) => Cow::Owned(cast(&eval(a, cols), *to)),
        Num::Arith(op, a, b) => Cow::Owned(arith(*op, &eval(a, cols), &eval(b, cols))),
    }
}

fn constant(v: &Value, n: usize) -> Column {
    let data = match v {
        Value::Int(x) => ColumnData::Int(vec![*x; n]),
        Value::Float(x) => ColumnData::Float(vec![*x; n]),
        Value::Decimal(x) => ColumnData::Decimal(vec![*x; n]),
        Value::Bool(x) => ColumnData::Bool(vec![u8::from(*x); n]),
        Value::String(s) => ColumnData::Str {
            bytes: s.repeat(n),
            ends: (1..=n).map(|i| (i * s.len()) as u32).collect(),
        },
    };
    Column {
        data,
        valid: vec![true; n],
    }
}

fn unary<T: Copy>(v: &mut [T], valid: &mut [bool], f: impl Fn(T) -> Option<T>) {
    for (x, ok) in v.iter_mut().zip(valid) {
        match f(*x) {
            Some(y) => *x = y,
            None => *ok = false,
        }
    }
}

fn cast(c: &Column, to: FieldType) -> Column {
    let mut valid = c.valid.clone();
    let data = match (&c.data, to) {
        (ColumnData::Int(v), FieldType::Float) => {
            ColumnData::Float(v.iter().map(|x| *x as f64).collect())
        }
        (ColumnData::Int(v), FieldType::Decimal) => {
            ColumnData::Decimal(v.iter().map(|x| Decimal::from(*x)).collect())
        }
        (ColumnData::Float(v), FieldType::Decimal) => ColumnData::Decimal(
            v.iter()
                .zip(&mut valid)
                .map(|(x, ok)| {
                    let d = if *ok { float_to_decimal(*x) } else { None };
                    *ok &= d.is_some();
                    d.unwrap_or_default()
                })
                .collect(),
        ),
        (data, _) => data.clone(),
    };
    Column { data, valid }
}

fn arith(op: ArithOp, a: &Column, b: &Column) -> Column {
    let mut valid: Vec<bool> = a
        .valid
        .iter()
        .zip(&b.valid)
        .map(|(x, y)| *x && *y)
        .collect();
    let data = match (&a.data, &b.data) {
        (ColumnData::Int(x), ColumnData::Int(y)) => {
            let f = match op {
                ArithOp::Add => i64::checked_add,
                ArithOp::Sub => i64::checked_sub,
                ArithOp::Mul => i64::checked_mul,
                ArithOp::Div => i64::checked_div,
                ArithOp::Rem => i64::checked_rem,
            };
            ColumnData::Int(binary(x, y, &mut valid, f))
        }
        (ColumnData::Decimal(x), ColumnData::Decimal(y)) => {
            let f = match op {
                ArithOp::Add => Decimal::checked_add,
                ArithOp::Sub => Decimal::checked_sub,
                ArithOp::Mul => Decimal::checked_mul,
                ArithOp::Div => Decimal::checked_div,
                ArithOp::Rem => Decimal::checked_rem,
            };
            ColumnData::Decimal(binary(x, y, &mut valid, f))
        }
        (ColumnData::Float(x), ColumnData::Float(y)) => {
            let f = match op {
                ArithOp::Add => |a: f64, b: f64| a + b,
                ArithOp::Sub => |a, b| a - b,
                ArithOp::Mul => |a, b| a * b,
                ArithOp::Div => |a, b| a / b,
                ArithOp::Rem => |a: f64, b| a % b,
            };
            ColumnData::Float(x.iter().zip(y).map(|(a, b)| f(*a, *b)).collect())
        }
        // Lowering casts both sides to one numeric type.
        (data, _) => {
            valid.iter_mut().for_each(|v| *v = false);
            data.clone()
        }
    };
    Column { data, valid }
}

fn binary<T: Copy + Default>(
    x: &[T],
    y: &[T],
    valid: &mut [bool],
    f: impl Fn(T, T) -> Option<T>,
) -> Vec<T> {
    x.iter()
        .zip(y)
        .zip(valid)
        .map(|((a, b), ok)| {
            let r = if *ok { f(*a, *b) } else { None };
            *ok &= r.is_some();
            r.unwrap_or_default()
        })
        .collect()
}

/// `a OP b` for every row, three-valued.
pub fn compare(a: &Column, op: CmpOp, b: &Column, out: &mut [u8]) {
    fn run<T: PartialOrd>(x: &[T], y: &[T], a: &Column, b: &Column, op: CmpOp, out: &mut [u8]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = if a.valid[i] && b.valid[i] {
                if holds(op, &x[i], &y[i]) { TRUE } else { FALSE }
            } else {
                UNKNOWN
            };
        }
    }
    match (&a.data, &b.data) {
        (ColumnData::Int(x), ColumnData::Int(y)) => run(x, y, a, b, op, out),
        (ColumnData::Float(x), ColumnData::Float(y)) => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = if a.valid[i] && b.valid[i] {
                    if float_holds(op, x[i], y[i]) {
                        TRUE
                    } else {
                        FALSE
                    }
                } else {
                    UNKNOWN
                };
            }
        }
        (ColumnData::Decimal(x), ColumnData::Decimal(y)) => run(x, y, a, b, op, out),
        (ColumnData::Bool(x), ColumnData::Bool(y)) => run(x, y, a, b, op, out),
        (ColumnData::Str { .. }, ColumnData::Str { .. }) => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = if a.valid[i] && b.valid[i] {
                    if holds(op, a.str(i), b.str(i)) {
                        TRUE
                    } else {
                        FALSE
                    }
                } else {
                    UNKNOWN
                };
            }
        }
        _ => out.fill(UNKNOWN),
    }
}

fn holds<T: PartialOrd + ?Sized>(op: CmpOp, a: &T, b: &T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Gte => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Lte => a <= b,
    }
}
