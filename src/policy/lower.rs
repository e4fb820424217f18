//! Lowering: an expression of the simple subset becomes the same native
//! form as a YAML condition — a [`Cond`] over columns, or a [`Num`] that
//! computes a column — typed at load, so a type error is found before any
//! data is read and evaluation never touches Rhai.
//!
//! The typing follows Rhai's, so both paths give the same values: int with
//! int stays int (`7 / 2` is 3), int with float is float, anything with a
//! decimal is decimal (a float read as the decimal it prints as).

use super::condition::{CmpOp, Cond};
use super::expr::{ArithOp, Ast};
use super::script::float_to_decimal;
use crate::dataset::value::{
    FieldType, MAX_DIGITS, Value, has_too_many_digits, parse_decimal, parse_int,
};
use crate::policy::condition::Col;
use rust_decimal::Decimal;

/// An arithmetic expression over columns, evaluated a batch at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum Num {
    Column(Col),
    Const(Value),
    Neg(Box<Num>),
    Arith(ArithOp, Box<Num>, Box<Num>),
    /// Int or float to float or decimal.
    Cast(Box<Num>, FieldType),
}

impl Num {
    pub fn columns(&self, out: &mut Vec<Col>) {
        match self {
            Num::Column(c) => out.push(*c),
            Num::Const(_) => {}
            Num::Neg(a) | Num::Cast(a, _) => a.columns(out),
            Num::Arith(_, a, b) => {
                a.columns(out);
                b.columns(out);
            }
        }
    }
}

/// A lowered expression: a condition, or a typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Lowered {
    Cond(Cond),
    Num(Num, FieldType),
}

impl Lowered {
    pub fn ty(&self) -> FieldType {
        match self {
            Lowered::Cond(_) => FieldType::Bool,
            Lowered::Num(_, t) => *t,
        }
    }
}

/// What names resolve to while lowering.
pub trait Names {
    /// A field or derived field: its column and type.
    fn field(&mut self, name: &str) -> Option<(Col, FieldType)>;
    /// A parameter's value as written.
    fn param(&self, name: &str) -> Option<String>;
}

/// A type error, at a byte offset of the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerError {
    pub at: usize,
    pub message: String,
    pub help: String,
}

type Out = Result<Option<Lowered>, LowerError>;

/// A parameter's value, typed the same way for both paths: a whole number
/// is an int, a number with a fraction a decimal, true/false a bool, else a string.
pub fn param_value(raw: &str) -> Value {
    let t = raw.trim();
    if let Some(v) = parse_int(t.as_bytes()) {
        return Value::Int(v);
    }
    if t.bytes().any(|b| b.is_ascii_digit())
        && let Some(d) = parse_decimal(t.as_bytes())
    {
        return Value::Decimal(d);
    }
    match t {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(raw.as_bytes().into()),
    }
}

fn ty_of(v: &Value) -> FieldType {
    match v {
        Value::String(_) => FieldType::String,
        Value::Int(_) => FieldType::Int,
        Value::Float(_) => FieldType::Float,
        Value::Decimal(_) => FieldType::Decimal,
        Value::Bool(_) => FieldType::Bool,
    }
}

/// Lowers `ast`; `Ok(None)` leaves it to Rhai.
pub fn lower(ast: &Ast, names: &mut dyn Names) -> Out {
    Ok(Some(match ast {
        Ast::Name(name, at) => match names.field(name) {
            Some((c, ty)) => Lowered::Num(Num::Column(c), ty),
            None => {
                return Err(LowerError {
                    at: *at,
                    message: format!("unknown field `{name}` in an expression"),
                    help: "declare it under `fields` or `derive`".into(),
                });
            }
        },
        Ast::Param(name, at) => match names.param(name) {
            // Refused where the parameter is defined (or in `--set`).
            Some(raw) if has_too_many_digits(raw.trim().as_bytes()) => return Ok(None),
            Some(raw) => {
                let v = param_value(&raw);
                let ty = ty_of(&v);
                Lowered::Num(Num::Const(v), ty)
            }
            None => {
                return Err(LowerError {
                    at: *at,
                    message: format!("undefined parameter `{name}`"),
                    help: "define it under `params`".into(),
                });
            }
        },
        Ast::Int(v) => Lowered::Num(Num::Const(Value::Int(*v)), FieldType::Int),
        Ast::Float(t) => match t.parse::<f64>() {
            Ok(f) => Lowered::Num(Num::Const(Value::Float(f)), FieldType::Float),
            Err(_) => return Ok(None),
        },
        Ast::Str(s) => Lowered::Num(
            Num::Const(Value::String(s.as_bytes().into())),
            FieldType::String,
        ),
        Ast::Bool(b) => Lowered::Num(Num::Const(Value::Bool(*b)), FieldType::Bool),
        Ast::Not(a) => match lower(a, names)? {
            Some(l) => Lowered::Cond(Cond::Not(Box::new(truth(l, a)?))),
            None => return Ok(None),
        },
        Ast::And(a, b) | Ast::Or(a, b) => {
            let (Some(x), Some(y)) = (lower(a, names)?, lower(b, names)?) else {
                return Ok(None);
            };
            let parts = vec![truth(x, a)?, truth(y, b)?];
            Lowered::Cond(if matches!(ast, Ast::And(..)) {
                Cond::All(parts)
            } else {
                Cond::Any(parts)
            })
        }
        Ast::Neg(a) => match lower(a, names)? {
            Some(Lowered::Num(n, ty)) if ty.is_numeric() => Lowered::Num(Num::Neg(Box::new(n)), ty),
            Some(_) => return Err(type_error(a, "a number", "`-`")),
            None => return Ok(None),
        },
        Ast::Arith(op, a, b, at) => {
            let (Some(x), Some(y)) = (lower(a, names)?, lower(b, names)?) else {
                return Ok(None);
            };
            let (Lowered::Num(x, tx), Lowered::Num(y, ty)) = (x, y) else {
                return Err(LowerError {
                    at: *at,
                    message: format!("`{}` needs numbers, not conditions", op.symbol()),
                    help: "compute with numeric fields, then compare".into(),
                });
            };
            if !tx.is_numeric() || !ty.is_numeric() {
                // String concatenation and the like are Rhai's.
                if tx == FieldType::String || ty == FieldType::String {
                    return Ok(None);
                }
                return Err(LowerError {
                    at: *at,
                    message: format!("`{}` between {tx} and {ty}", op.symbol()),
                    help: "arithmetic takes int, float or decimal values".into(),
                });
            }
            let common = common(tx, ty);
            Lowered::Num(
                Num::Arith(
                    *op,
                    Box::new(cast(x, tx, common, *at)?),
                    Box::new(cast(y, ty, common, *at)?),
                ),
                common,
            )
        }
        Ast::Cmp(op, a, b, at) => {
            let (Some(x), Some(y)) = (lower(a, names)?, lower(b, names)?) else {
                return Ok(None);
            };
            let (Lowered::Num(x, tx), Lowered::Num(y, ty)) = (x, y) else {
                // Comparing conditions (`(a > 1) == b`) is Rhai's.
                return Ok(None);
            };
            Lowered::Cond(compare(*op, x, tx, y, ty, *at)?)
        }
    }))
}

/// The type two numbers are computed in, as Rhai does.
fn common(a: FieldType, b: FieldType) -> FieldType {
    use FieldType::*;
    match (a, b) {
        (Decimal, _) | (_, Decimal) => Decimal,
        (Float, _) | (_, Float) => Float,
        _ => Int,
    }
}

/// `n` as a `to`; an error for a float constant a decimal cannot hold
/// exactly, which would otherwise be rounded (or missing on every row).
fn cast(n: Num, from: FieldType, to: FieldType, at: usize) -> Result<Num, LowerError> {
    if from == to {
        return Ok(n);
    }
    if let (Num::Const(Value::Float(f)), FieldType::Decimal) = (&n, to)
        && float_to_decimal(*f).is_none()
    {
        return Err(LowerError {
            at,
            message: format!(
                "`{f}` meets a decimal, and is read as the decimal it prints as, which has too many digits: a decimal holds {MAX_DIGITS} significant digits exactly"
            ),
            help: "write the number with fewer digits".into(),
        });
    }
    // Constants are converted now, the way Rhai would at run time.
    if let Num::Const(v) = &n {
        let converted = match (v, to) {
            (Value::Int(i), FieldType::Float) => Some(Value::Float(*i as f64)),
            (Value::Int(i), FieldType::Decimal) => Some(Value::Decimal(Decimal::from(*i))),
            (Value::Float(f), FieldType::Decimal) => float_to_decimal(*f).map(Value::Decimal),
            _ => None,
        };
        if let Some(v) = converted {
            return Ok(Num::Const(v));
        }
    }
    Ok(Num::Cast(Box::new(n), to))
}

fn compare(
    op: CmpOp,
    x: Num,
    tx: FieldType,
    y: Num,
    ty: FieldType,
    at: usize,
) -> Result<Cond, LowerError> {
    let same_kind = (tx.is_numeric() && ty.is_numeric()) || tx == ty;
    if !same_kind {
        return Err(LowerError {
            at,
            message: format!("`{}` compares {} with {}", op.symbol(), tx.with_article(), ty.with_article()),
            help: "compare values of the same kind: numbers with numbers, text with text, bools with bools".into(),
        });
    }
    if tx == FieldType::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
        return Err(LowerError {
            at,
            message: format!("bools have no order, so `{}` does not apply", op.symbol()),
            help: "test a bool with `==`, `!=`, or on its own".into(),
        });
    }
    let common = if tx.is_numeric() { common(tx, ty) } else { tx };
    let (x, y) = (cast(x, tx, common, at)?, cast(y, ty, common, at)?);
    Ok(match (x, y) {
        (Num::Column(column), Num::Const(value)) => Cond::Compare { column, op, value },
        (Num::Const(value), Num::Column(column)) => Cond::Compare {
            column,
            op: flip(op),
            value,
        },
        (lhs, rhs) => Cond::Cmp { lhs, op, rhs },
    })
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Lte => CmpOp::Gte,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Gte => CmpOp::Lte,
        other => other,
    }
}

/// A lowered value used as a condition: a bool column or constant.
fn truth(l: Lowered, ast: &Ast) -> Result<Cond, LowerError> {
    match l {
        Lowered::Cond(c) => Ok(c),
        Lowered::Num(Num::Const(Value::Bool(true)), _) => Ok(Cond::True),
        Lowered::Num(Num::Const(Value::Bool(false)), _) => Ok(Cond::Not(Box::new(Cond::True))),
        Lowered::Num(Num::Column(column), FieldType::Bool) => Ok(Cond::Compare {
            column,
            op: CmpOp::Eq,
            value: Value::Bool(true),
        }),
        Lowered::Num(_, ty) => Err(type_error_ty(ast, ty)),
    }
}

fn offset(ast: &Ast) -> usize {
    match ast {
        Ast::Name(_, at) | Ast::Param(_, at) | Ast::Arith(.., at) | Ast::Cmp(.., at) => *at,
        Ast::Not(a) | Ast::Neg(a) | Ast::And(a, _) | Ast::Or(a, _) => offset(a),
        _ => 0,
    }
}

fn type_error(ast: &Ast, want: &str, op: &str) -> LowerError {
    LowerError {
        at: offset(ast),
        message: format!("{op} needs {want}"),
        help: "check the field's type under `fields`".into(),
    }
}

fn type_error_ty(ast: &Ast, ty: FieldType) -> LowerError {
    LowerError {
        at: offset(ast),
        message: format!(
            "{} is used as a condition, but it is {}",
            describe(ast),
            ty.with_article()
        ),
        help: "a condition is true or false: compare it, e.g. `score >= 600`".into(),
    }
}

fn describe(ast: &Ast) -> String {
    match ast {
        Ast::Name(n, _) => format!("`{n}`"),
        Ast::Param(n, _) => format!("`${n}`"),
        _ => "this part".into(),
    }
}
