//! A policy as written: the YAML's structure, checked for shape but not yet
//! typed against its fields. Conditions stay YAML nodes (with positions) until
//! `compile` types them, so every error can point at the exact spot.

use crate::dataset::value::FieldType;
use marked_yaml::Node;
use marked_yaml::types::MarkedScalarNode;

/// A policy file after loading.
pub struct PolicyDef {
    pub id: String,
    pub version: String,
    pub description: Option<String>,
    pub key: Option<MarkedScalarNode>,
    pub params: Vec<ParamDef>,
    pub fields: Vec<FieldDef>,
    pub derive: Vec<(MarkedScalarNode, Node)>,
    pub rules: Vec<RuleDef>,
    pub limit: Vec<LimitDef>,
    pub repayment: Option<RepaymentDef>,
    pub observed_bad: Option<Node>,
    /// `observed.outcome`: the column naming each row's observed outcome.
    pub observed_outcome: Option<MarkedScalarNode>,
    pub script: Option<MarkedScalarNode>,
}

/// `params.NAME: VALUE`. The value is typed where it is used.
pub struct ParamDef {
    pub name: MarkedScalarNode,
    pub value: MarkedScalarNode,
}

/// `fields.NAME: TYPE`.
pub struct FieldDef {
    pub name: MarkedScalarNode,
    pub ty: FieldType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Decline,
    Review,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Decline => "decline",
            Action::Review => "review",
        }
    }
}

/// What a rule tests: a declarative condition or a Rhai expression.
pub enum RuleTest {
    When(Node),
    Expr(MarkedScalarNode),
}

/// Whether `code` is written like a reason code: `UPPER_SNAKE_CASE`, an
/// ASCII capital letter then capitals, digits and underscores. The one rule
/// for YAML rules and scripts: a code never holds the `;` that joins codes
/// in the `reasons` column, a comma, a space or a control character.
pub fn is_reason_code(code: &str) -> bool {
    code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub struct RuleDef {
    pub id: MarkedScalarNode,
    pub reason: MarkedScalarNode,
    pub description: Option<String>,
    pub action: Action,
    pub test: RuleTest,
}

/// One band of `limit`: the first whose `when` holds gives the amount.
pub struct LimitDef {
    pub when: Option<Node>,
    pub amount: Node,
}

pub struct RepaymentDef {
    /// A decimal field, or `limit`.
    pub exposure: Option<MarkedScalarNode>,
    pub outcomes: Vec<OutcomeDef>,
    pub loss_given_default: Option<MarkedScalarNode>,
    pub merchant_fee_rate: Option<MarkedScalarNode>,
    pub late_fee: Option<MarkedScalarNode>,
    /// `late_days`: `(bucket, share)` of a late payment's days past due.
    pub late_days: Option<(Node, Vec<(MarkedScalarNode, Node)>)>,
    pub bureau_after_days: Option<MarkedScalarNode>,
    pub correlation: Option<MarkedScalarNode>,
}

/// One band of `repayment.outcomes`.
pub struct OutcomeDef {
    pub when: Option<Node>,
    /// `(outcome name, probability)`; `on_time` is one minus the rest.
    pub p: Vec<(MarkedScalarNode, Node)>,
}
