//! The condition language (`when`, `limit[].when`, `outcomes[].when`,
//! `observed.bad`), compiled from YAML into a typed tree.
//!
//! Compilation resolves every field to a column index and every literal and
//! `$param` to a value of the field's type, so evaluation never looks at a
//! name or parses a literal. Type errors, unknown fields and undefined
//! parameters are found here, once, with the position of the offending node.

use super::compile::Scope;
use super::lower::Num;
use super::source::{Source, kind};
use crate::dataset::value::{FieldType, MAX_DIGITS, Value, has_too_many_digits};
use crate::error::suggest;
use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }

    /// The comparison that holds when this one is false (of present values).
    pub fn negated(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Gt => CmpOp::Lte,
            CmpOp::Gte => CmpOp::Lt,
            CmpOp::Lt => CmpOp::Gte,
            CmpOp::Lte => CmpOp::Gt,
        }
    }
}

/// Where a compiled policy reads a value. A plan's policies share one
/// projection, so a parsed column is an index into it; each policy's
/// derived columns are its own, numbered in `derive` order. The two never
/// share a numbering, so nothing is renumbered when policies are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Col {
    /// A column of the projection, parsed from the data.
    Parsed(usize),
    /// A column the policy computes (`derive`, and Rhai expressions).
    Derived(usize),
}

/// A compiled condition. Columns are [`Col`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `all: []`, `{}`: holds.
    True,
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        column: Col,
        op: CmpOp,
        value: Value,
    },
    In {
        column: Col,
        values: Vec<Value>,
        negate: bool,
    },
    Between {
        column: Col,
        lo: Value,
        hi: Value,
    },
    Missing {
        column: Col,
        missing: bool,
    },
    /// Two computed values compared (a lowered expression such as `a / b < 0.3`).
    Cmp {
        lhs: Num,
        op: CmpOp,
        rhs: Num,
    },
}

impl Cond {
    /// Visits every column the condition reads.
    pub fn columns(&self, out: &mut Vec<Col>) {
        match self {
            Cond::True => {}
            Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| c.columns(out)),
            Cond::Not(c) => c.columns(out),
            Cond::Compare { column, .. }
            | Cond::In { column, .. }
            | Cond::Between { column, .. }
            | Cond::Missing { column, .. } => out.push(*column),
            Cond::Cmp { lhs, rhs, .. } => {
                lhs.columns(out);
                rhs.columns(out);
            }
        }
    }
}

const OPERATORS: &[&str] = &[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "missing",
];
const COMBINATORS: &[&str] = &["all", "any", "not"];

/// Compiles the condition at `node`; `None` after recording an error.
pub fn compile(src: &mut Source, scope: &mut Scope, node: &Node) -> Option<Cond> {
    let map = src.mapping(
        node,
        "a condition",
        "write `{ FIELD: VALUE }` or `{ FIELD: { gte: VALUE } }`, combined with `all`, `any`, `not`",
        )?;
    if map.is_empty() {
        src.error(node, "an empty condition always holds, so it would pass every row, even one with missing values", "write the condition to test, e.g. `{ zhima_score: { gte: 600 } }`");
        return None;
    }
    mapping(src, scope, map)
}

fn mapping(src: &mut Source, scope: &mut Scope, map: &MarkedMappingNode) -> Option<Cond> {
    let mut parts = Vec::with_capacity(map.len());
    let mut ok = true;
    for (key, value) in map.iter() {
        let part = match key.as_str() {
            "all" | "any" => list(src, scope, key, value),
            "not" => compile(src, scope, value).map(|c| Cond::Not(Box::new(c))),
            _ => field(src, scope, key, value),
        };
        match part {
            Some(p) => parts.push(p),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    Some(match parts.len() {
        0 => Cond::True,
        1 => parts.pop().expect("one part"),
        _ => Cond::All(parts),
    })
}

fn list(src: &mut Source, scope: &mut Scope, key: &MarkedScalarNode, value: &Node) -> Option<Cond> {
    let Node::Sequence(items) = value else {
        src.error(
            value,
            format!(
                "`{}` takes a list of conditions, not a {}",
                key.as_str(),
                kind(value)
            ),
            format!("write `{}: [ {{...}}, {{...}} ]`", key.as_str()),
        );
        return None;
    };
    if items.is_empty() {
        let always = if key.as_str() == "all" {
            "passes every row"
        } else {
            "fails every row"
        };
        src.key_error(
            key,
            format!("`{}: []` has no conditions, so it {always}", key.as_str()),
            "list the conditions to combine, or remove it",
        );
        return None;
    }
    let mut parts = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items.iter() {
        match compile(src, scope, item) {
            Some(c) => parts.push(c),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    Some(if key.as_str() == "all" {
        Cond::All(parts)
    } else {
        Cond::Any(parts)
    })
}

/// `FIELD: VALUE` or `FIELD: { OP: VALUE, ... }`.
fn field(
    src: &mut Source,
    scope: &mut Scope,
    key: &MarkedScalarNode,
    value: &Node,
) -> Option<Cond> {
    let Some((column, ty)) = scope.field(key.as_str()) else {
        let mut names = scope.field_names();
        names.extend(COMBINATORS);
        let help = match crate::error::did_you_mean(key.as_str(), names.iter().copied()) {
            Some(best) => match scope.field_line(best) {
                Some(line) => format!(
                    "did you mean `{best}` (declared on line {line})? if the declaration is the typo, fix it there"
                ),
                None => format!("did you mean `{best}`?"),
            },
            None => format!(
                "declare `{}` under `fields` with its type; {}",
                key.as_str(),
                suggest(key.as_str(), "fields", &names)
            ),
        };
        src.key_error(
            key,
            format!("unknown field `{}` in a condition", key.as_str()),
            help,
        );
        return None;
    };
    let name = key.as_str();
    match value {
        Node::Scalar(s) => literal(src, scope, s, ty, name).map(|value| Cond::Compare {
            column,
            op: CmpOp::Eq,
            value,
        }),
        Node::Sequence(_) => {
            src.error(
                value,
                format!("`{name}` is compared with a list"),
                format!("to test membership write `{name}: {{ in: [...] }}`"),
            );
            None
        }
        Node::Mapping(ops) if ops.is_empty() => {
            src.error(
                value,
                format!("`{name}` has no operator, so it would test nothing"),
                format!("write e.g. `{name}: {{ gte: 600 }}` or `{name}: VALUE`"),
            );
            None
        }
        Node::Mapping(ops) => {
            let mut parts = Vec::with_capacity(ops.len());
            let mut ok = true;
            for (op, arg) in ops.iter() {
                match operator(src, scope, column, ty, name, op, arg) {
                    Some(c) => parts.push(c),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Some(match parts.len() {
                0 => Cond::True,
                1 => parts.pop().expect("one part"),
                _ => Cond::All(parts),
            })
        }
    }
}

fn operator(
    src: &mut Source,
    scope: &mut Scope,
    column: Col,
    ty: FieldType,
    name: &str,
    op: &MarkedScalarNode,
    arg: &Node,
) -> Option<Cond> {
    let ordered = matches!(op.as_str(), "gt" | "gte" | "lt" | "lte" | "between");
    if ordered && ty == FieldType::Bool {
        src.key_error(
            op,
            format!(
                "operator `{}` does not apply to bool field `{name}`",
                op.as_str()
            ),
            format!("a bool is tested with `{name}: true` or `{name}: {{ ne: true }}`"),
        );
        return None;
    }
    let cmp = |op| {
        move |src: &mut Source, scope: &mut Scope| {
            let s = src.scalar(arg, "a comparison value")?;
            let value = literal(src, scope, s, ty, name)?;
            if ordered && ty == FieldType::String && s.as_str().trim().parse::<f64>().is_ok() {
                let at = src.location(s.span());
                scope.warnings.push(super::compile::Warning::new(Some(at), format!(
                    "field `{name}` is a string, so `{}: {}` compares text (\"10\" sorts before \"3\"); declare it as int, float or decimal to compare numbers",
                    op_name(op),
                    s.as_str()
                )));
            }
            Some(Cond::Compare { column, op, value })
        }
    };
    match op.as_str() {
        "eq" => cmp(CmpOp::Eq)(src, scope),
        "ne" => cmp(CmpOp::Ne)(src, scope),
        "gt" => cmp(CmpOp::Gt)(src, scope),
        "gte" => cmp(CmpOp::Gte)(src, scope),
        "lt" => cmp(CmpOp::Lt)(src, scope),
        "lte" => cmp(CmpOp::Lte)(src, scope),
        "in" | "not_in" => {
            let items = values(src, scope, arg, ty, name, op.as_str())?;
            Some(Cond::In {
                column,
                values: items,
                negate: op.as_str() == "not_in",
            })
        }
        "between" => {
            let items = values(src, scope, arg, ty, name, "between")?;
            if items.len() != 2 {
                src.error(
                    arg,
                    format!("`between` takes two values, got {}", items.len()),
                    "write `between: [LOW, HIGH]` (both ends included)",
                );
                return None;
            }
            let (lo, hi) = (items[0].clone(), items[1].clone());
            if value_gt(&lo, &hi) {
                src.error(
                    arg,
                    format!("`between` has its low end `{lo}` above its high end `{hi}`"),
                    "write the lower bound first: `between: [LOW, HIGH]`",
                );
                return None;
            }
            Some(Cond::Between { column, lo, hi })
        }
        "missing" => {
            let s = src.scalar(arg, "`missing`")?;
            let Some(Value::Bool(missing)) = Value::parse(FieldType::Bool, s.as_bytes()) else {
                src.error(
                    arg,
                    format!("`missing` takes true or false, not `{}`", s.as_str()),
                    "write `missing: true` or `missing: false`",
                );
                return None;
            };
            Some(Cond::Missing { column, missing })
        }
        other => {
            let help = suggest(other, "operators", OPERATORS);
            src.key_error(
                op,
                format!("unknown operator `{other}` on field `{name}`"),
                help,
            );
            None
        }
    }
}

fn values(
    src: &mut Source,
    scope: &mut Scope,
    arg: &Node,
    ty: FieldType,
    name: &str,
    op: &str,
) -> Option<Vec<Value>> {
    let Node::Sequence(items) = arg else {
        src.error(
            arg,
            format!("`{op}` takes a list, not a {}", kind(arg)),
            format!("write `{op}: [A, B]`"),
        );
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items.iter() {
        match src.scalar(item, "a list item").cloned() {
            Some(s) => match literal(src, scope, &s, ty, name) {
                Some(v) => out.push(v),
                None => ok = false,
            },
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The text a scalar stands for: itself, or the value of the `$param` it
/// names, with where that value came from for messages. `None` after
/// reporting an undefined parameter.
pub fn resolve(
    src: &mut Source,
    scope: &Scope,
    node: &MarkedScalarNode,
) -> Option<(String, Origin)> {
    let text = node.as_str();
    let Some(param) = text.strip_prefix('$') else {
        return Some((text.to_owned(), Origin::Literal));
    };
    match scope.param(param) {
        Some(raw) => {
            let origin = if scope.is_set(param) {
                Origin::Set(param.to_owned())
            } else {
                Origin::Param(param.to_owned())
            };
            Some((raw.to_owned(), origin))
        }
        None => {
            let names = scope.param_names();
            let help = match crate::error::did_you_mean(param, names.iter().copied()) {
                Some(best) => format!("did you mean `${best}`?"),
                None => format!(
                    "define `{param}` under `params`; {}",
                    suggest(param, "parameters", &names)
                ),
            };
            src.key_error(node, format!("undefined parameter `${param}`"), help);
            None
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Literal,
    /// A parameter's value as the policy defines it.
    Param(String),
    /// A parameter overridden by `--set`.
    Set(String),
}

impl Origin {
    /// How to name a value from this origin in a message.
    pub fn describe(&self, raw: &str) -> String {
        match self {
            Origin::Literal => format!("`{raw}`"),
            Origin::Param(p) => format!("parameter `{p}` (`{raw}`)"),
            Origin::Set(p) => format!("`--set {p}={raw}`"),
        }
    }
}

/// Types a literal (or `$param`) for field `name` of type `ty`.
pub fn literal(
    src: &mut Source,
    scope: &mut Scope,
    node: &MarkedScalarNode,
    ty: FieldType,
    name: &str,
) -> Option<Value> {
    let (raw, origin) = resolve(src, scope, node)?;
    match Value::parse(ty, raw.as_bytes()) {
        Some(v) => Some(v),
        None if ty == FieldType::Decimal && has_too_many_digits(raw.as_bytes()) => {
            // A parameter's value is reported where it is defined.
            if !matches!(origin, Origin::Param(_)) {
                too_many_digits(src, node, &origin.describe(&raw));
            }
            None
        }
        None => {
            src.key_error(
                node,
                format!(
                    "{} is not {}, the type of field `{name}`",
                    origin.describe(&raw),
                    ty.with_article()
                ),
                format!("compare `{name}` with {}", ty.example()),
            );
            None
        }
    }
}

/// Reports a decimal that would be rounded: `what` has too many digits.
pub fn too_many_digits(src: &mut Source, node: &MarkedScalarNode, what: &str) {
    src.key_error(node, too_many_digits_message(what), TOO_MANY_DIGITS_HELP);
}

/// The message for a decimal with more digits than a decimal holds.
pub fn too_many_digits_message(what: &str) -> String {
    format!(
        "{what} has too many digits: a decimal holds {MAX_DIGITS} significant digits exactly, and this one would be rounded"
    )
}

pub const TOO_MANY_DIGITS_HELP: &str =
    "round it to the precision you mean (trailing zeros after the point do not count)";

fn op_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Gt => "gt",
        CmpOp::Gte => "gte",
        CmpOp::Lt => "lt",
        CmpOp::Lte => "lte",
    }
}

fn value_gt(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => a > b,
        (Value::Float(a), Value::Float(b)) => a > b,
        (Value::Decimal(a), Value::Decimal(b)) => a > b,
        (Value::String(a), Value::String(b)) => a > b,
        _ => false,
    }
}
