//! Turns a [`PolicyDef`] into a [`CompiledPolicy`]: every field resolved to a
//! column of the projection (only the columns the policy reads), every
//! literal and parameter typed, amounts and probabilities exact.

use super::condition::{self, Col, Cond, Origin};
use super::load::{self, OUTCOME_NAMES};
use super::model::*;
use super::rhai_compile::{self, Derived, RhaiCtx, ScriptPolicy};
use super::script::RhaiEngine;
use super::source::Source;
use crate::dataset::schema::{ColumnSpec, Role};
use crate::dataset::value::{FieldType, has_too_many_digits, parse_decimal};
use crate::error::{Diagnostic, Error, Location, Result, suggest};
use marked_yaml::Node;
use marked_yaml::types::MarkedScalarNode;
use rust_decimal::Decimal;

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub reason: String,
    pub description: Option<String>,
    pub action: Action,
    pub cond: Cond,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimitBand {
    /// `None`: the default band.
    pub cond: Option<Cond>,
    pub amount: Amount,
}

/// An amount: exact as written, or computed per row.
#[derive(Debug, Clone, PartialEq)]
pub enum Amount {
    Fixed(Decimal),
    /// A decimal derived column (its index in `derived`), and the expression
    /// as written. A row whose amount is missing does not take the band.
    Column(usize, String),
}

impl Amount {
    pub fn fixed(&self) -> Option<Decimal> {
        match self {
            Amount::Fixed(d) => Some(*d),
            Amount::Column(..) => None,
        }
    }
}

/// What an approved row puts at risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// The row's credit limit.
    Limit,
    /// A decimal column, e.g. the order amount.
    Column(Col),
}

/// Outcome probabilities of one repayment band, exact as written.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeBand {
    pub cond: Option<Cond>,
    /// `returned, early, on_time, late, default`; `on_time` is one minus the rest.
    pub p: [Decimal; 5],
    /// The probabilities written as expressions: a decimal derived column
    /// each, computed per row (its slot in `p` holds zero).
    pub computed: [Option<usize>; 5],
    /// The expressions as written, for messages.
    pub texts: [Option<String>; 5],
}

impl OutcomeBand {
    /// Whether any probability is computed per row.
    pub fn is_dynamic(&self) -> bool {
        self.computed.iter().any(Option::is_some)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Repayment {
    pub bands: Vec<OutcomeBand>,
    pub loss_given_default: Decimal,
    pub merchant_fee_rate: Decimal,
    pub late_fee: Decimal,
    /// `late_days`: how many days past due a late payment is, by bucket,
    /// in ascending order; the shares add up to 1. Empty when not given.
    pub late_days: Vec<LateBucket>,
    /// `bureau_after_days`: a late payment past this many days is reported
    /// to the credit bureau (defaults always are).
    pub bureau_after_days: Option<u32>,
    /// `correlation` ρ of the Monte Carlo's systematic factor (0 when not given).
    pub correlation: Decimal,
}

impl Repayment {
    /// The share of late payments reported to the bureau: the buckets
    /// wholly past `bureau_after_days`; `None` without one.
    pub fn reported_late_share(&self) -> Option<Decimal> {
        let grace = self.bureau_after_days?;
        Some(
            self.late_days
                .iter()
                .filter(|b| b.from > grace)
                .map(|b| b.share)
                .sum(),
        )
    }
}

/// A bucket of `late_days`: days `from` to `to` (`None`: and more) past due.
#[derive(Debug, Clone, PartialEq)]
pub struct LateBucket {
    /// As written: `1-30`, `91+`.
    pub label: String,
    pub from: u32,
    pub to: Option<u32>,
    pub share: Decimal,
}

/// Something legal but probably not meant, at the place it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub location: Option<Location>,
    /// Lowercase, no trailing period, the user's input in backticks.
    pub message: String,
}

impl Warning {
    pub fn new(location: Option<Location>, message: impl Into<String>) -> Self {
        Warning {
            location,
            message: message.into(),
        }
    }
}

/// `FILE:LINE:COL: message`, or the message alone when it has no place.
impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{at}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A policy ready to evaluate: no names, no strings to parse.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub id: String,
    pub version: String,
    pub description: Option<String>,
    pub path: PathBuf,
    /// SHA-256 of the policy file's bytes.
    pub sha256: String,
    /// Every field the policy declares, read or not.
    pub declared: Vec<ColumnSpec>,
    /// The columns evaluation reads, in the order conditions index them.
    pub columns: Vec<ColumnSpec>,
    /// The column that identifies a row (`key`), if any.
    pub key: Option<usize>,
    pub key_name: Option<String>,
    pub rules: Vec<Rule>,
    pub limits: Vec<LimitBand>,
    pub exposure: Exposure,
    pub repayment: Option<Repayment>,
    pub observed: Option<Cond>,
    /// `observed.outcome`: the string column naming each row's observed
    /// outcome (`returned`, `early`, `on_time`, `late`, `default`).
    pub observed_outcome: Option<Col>,
    /// Parameter values in effect (after `--set`), as written.
    pub params: Vec<(String, String)>,
    /// The parameters `--set` overrode.
    pub set: Vec<String>,
    /// Things that are legal but probably not meant.
    pub warnings: Vec<Warning>,
    /// Columns computed per batch, in order ([`Col::Derived`] indexes them).
    pub derived: Vec<Derived>,
    /// The Rhai engine, when an expression or the script runs in Rhai.
    pub rhai: Option<RhaiEngine>,
    /// Parameters as Rhai constants: `_name` and the `params` map.
    pub rhai_constants: Vec<(String, rhai::Dynamic)>,
    /// A `script` policy's `decide`; its reasons are `rules` that never run as conditions.
    pub script: Option<ScriptPolicy>,
}

impl CompiledPolicy {
    /// The index in `derived` of the derived field `name`.
    pub fn derived_index(&self, name: &str) -> Option<usize> {
        self.derived
            .iter()
            .position(|d| d.name.as_deref() == Some(name))
    }

    /// Whether any limit band computes its amount per row.
    /// Whether some repayment band computes its probabilities per row.
    pub fn dynamic_probabilities(&self) -> bool {
        self.repayment
            .as_ref()
            .is_some_and(|r| r.bands.iter().any(OutcomeBand::is_dynamic))
    }

    /// The stack a worker thread needs for this policy: Rhai's walks of a
    /// nested value recurse (see [`super::script::STACK_SIZE`]); anything
    /// else runs on the platform's default.
    pub fn worker_stack(&self) -> Option<usize> {
        self.rhai.is_some().then_some(super::script::STACK_SIZE)
    }

    pub fn dynamic_limits(&self) -> bool {
        self.script.is_some() || self.limits.iter().any(|b| b.amount.fixed().is_none())
    }
}

/// Where names resolve while compiling: declared fields and parameters.
pub struct Scope<'a> {
    fields: &'a [FieldDef],
    params: &'a [(String, String)],
    /// Parameters overridden by `--set`, for messages.
    set: Vec<&'a str>,
    /// Legal but suspicious things found while compiling.
    pub warnings: Vec<Warning>,
    /// The plan's projection: the columns of the policies compiled before
    /// this one, then those this one adds.
    pub projection: Vec<ColumnSpec>,
    /// The columns of the projection this policy reads.
    reads: Vec<usize>,
    /// Derived columns so far.
    pub derived: Vec<Derived>,
    /// Every name under `derive`, for messages, and how many of them have
    /// been compiled (or failed to) so far.
    pub derive_names: Vec<&'a str>,
    pub derives_tried: usize,
}

impl Scope<'_> {
    /// The column index and type of a declared or derived field, adding a
    /// declared one to the projection.
    pub fn field(&mut self, name: &str) -> Option<(Col, FieldType)> {
        if let Some(k) = self
            .derived
            .iter()
            .position(|d| d.name.as_deref() == Some(name))
        {
            return Some((Col::Derived(k), self.derived[k].ty));
        }
        let ty = self.fields.iter().find(|f| f.name.as_str() == name)?.ty;
        Some((Col::Parsed(self.column(name, ty)), ty))
    }

    /// Adds a derived column; its index among the derived ones.
    pub fn add_derived(&mut self, d: Derived) -> usize {
        self.derived.push(d);
        self.derived.len() - 1
    }

    /// The projection's column `name` read as `ty`, added if it is not
    /// there. Another policy of the plan may have put it there; one that
    /// declares the same name with another type gets a column of its own.
    fn column(&mut self, name: &str, ty: FieldType) -> usize {
        let i = match self
            .projection
            .iter()
            .position(|c| c.name == name && c.ty == ty)
        {
            Some(i) => i,
            None => {
                self.projection.push(ColumnSpec::new(name, ty));
                self.projection.len() - 1
            }
        };
        if !self.reads.contains(&i) {
            self.reads.push(i);
        }
        i
    }

    /// The line a field is declared on.
    pub fn field_line(&self, name: &str) -> Option<usize> {
        let f = self.fields.iter().find(|f| f.name.as_str() == name)?;
        f.name.span().start().map(|m| m.line())
    }

    pub fn field_names(&self) -> Vec<&str> {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .chain(self.derived.iter().filter_map(|d| d.name.as_deref()))
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.set.contains(&name)
    }

    pub fn param_names(&self) -> Vec<&str> {
        self.params.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Loads and compiles the policy at `path`, applying `--set NAME=VALUE` overrides.
pub fn compile_file(path: &Path, overrides: &[(String, String)]) -> Result<CompiledPolicy> {
    compile_file_for(path, overrides, None)
}

/// [`compile_file`], for a run over `data`: a `.rhai` policy types its fields from it.
pub fn compile_file_for(
    path: &Path,
    overrides: &[(String, String)],
    data: Option<&Path>,
) -> Result<CompiledPolicy> {
    compile_file_onto(path, overrides, data, &[])
}

/// [`compile_file_for`], onto the projection `base` of the policies
/// compiled before it in a plan: the columns they share are parsed once,
/// and their indices stay valid (see [`crate::engine::pass::Plan`]).
pub fn compile_file_onto(
    path: &Path,
    overrides: &[(String, String)],
    data: Option<&Path>,
    base: &[ColumnSpec],
) -> Result<CompiledPolicy> {
    if super::rhai_file::is_script(path) {
        return super::rhai_file::compile_script_file(path, overrides, data, base);
    }
    let (mut source, def) = load::load_file(path)?;
    compile_onto(&mut source, &def, overrides, base)
}

pub fn compile(
    src: &mut Source,
    def: &PolicyDef,
    overrides: &[(String, String)],
) -> Result<CompiledPolicy> {
    compile_onto(src, def, overrides, &[])
}

/// [`compile`], onto a plan's projection `base` (see [`compile_file_onto`]).
pub fn compile_onto(
    src: &mut Source,
    def: &PolicyDef,
    overrides: &[(String, String)],
    base: &[ColumnSpec],
) -> Result<CompiledPolicy> {
    let params = apply_overrides(def, overrides)?;
    let mut scope = Scope {
        fields: &def.fields,
        params: &params,
        set: overrides.iter().map(|(n, _)| n.as_str()).collect(),
        warnings: Vec::new(),
        projection: base.to_vec(),
        reads: Vec::new(),
        derived: Vec::new(),
        derive_names: def.derive.iter().map(|(n, _)| n.as_str()).collect(),
        derives_tried: 0,
    };
    let mut ctx = RhaiCtx::new(src, &params);

    check_fields(src, def);
    check_params(src, def);
    for (name, node) in &def.derive {
        compile_derive(src, &mut scope, &mut ctx, name, node);
        scope.derives_tried += 1;
    }

    let mut rules = Vec::with_capacity(def.rules.len());
    let script = def
        .script
        .as_ref()
        .and_then(|s| compile_script(src, &mut scope, &mut ctx, def, s, &mut rules));
    for rule in &def.rules {
        let cond = match &rule.test {
            RuleTest::When(node) => condition::compile(src, &mut scope, node),
            RuleTest::Expr(expr) => {
                rhai_compile::rule(src, &mut scope, &mut ctx, expr, rule.id.as_str())
            }
        };
        if let Some(cond) = cond {
            rules.push(Rule {
                id: rule.id.as_str().to_owned(),
                reason: rule.reason.as_str().to_owned(),
                description: rule.description.clone(),
                action: rule.action,
                cond,
            });
        }
    }

    let mut limits = compile_limits(src, &mut scope, &mut ctx, &def.limit);
    if script.is_some() {
        limits.push(LimitBand {
            cond: None,
            amount: Amount::Column(SCRIPT_LIMIT, "approve(limit)".into()),
        });
    }
    let repayment = def
        .repayment
        .as_ref()
        .and_then(|r| compile_repayment(src, &mut scope, &mut ctx, r));
    let exposure = def
        .repayment
        .as_ref()
        .and_then(|r| r.exposure.as_ref())
        .map(|e| compile_exposure(src, &mut scope, e))
        .unwrap_or(Exposure::Limit);
    let observed = def
        .observed_bad
        .as_ref()
        .and_then(|n| condition::compile(src, &mut scope, n));
    let observed_outcome = def
        .observed_outcome
        .as_ref()
        .and_then(|o| observed_outcome(src, &mut scope, o));
    let (key, key_name) = match &def.key {
        Some(k) => match scope.field(k.as_str()) {
            Some((Col::Parsed(column), _)) => (Some(column), Some(k.as_str().to_owned())),
            Some((Col::Derived(_), _)) => {
                src.key_error(
                    k,
                    format!(
                        "`key` names `{}`, a derived field: a row's key is read from the data",
                        k.as_str()
                    ),
                    "name the dataset column that identifies a row, declared under `fields`",
                );
                (None, None)
            }
            None => {
                let names = scope.field_names();
                let help = match crate::error::did_you_mean(k.as_str(), names.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("declare it under `fields`, e.g. `{}: string`", k.as_str()),
                };
                src.key_error(
                    k,
                    format!(
                        "`key` names `{}`, which is not a declared field",
                        k.as_str()
                    ),
                    help,
                );
                (None, None)
            }
        },
        None => (None, None),
    };

    if !src.diagnostics.is_empty() {
        return Err(Error::Policy(std::mem::take(&mut src.diagnostics)));
    }

    let mut warnings = std::mem::take(&mut scope.warnings);
    if let Some(r) = &repayment
        && r.bands.last().is_some_and(|b| b.cond.is_some())
    {
        // At the last band, where the default would follow.
        let at = def
            .repayment
            .as_ref()
            .and_then(|d| d.outcomes.last())
            .and_then(|o| o.when.as_ref())
            .map(|n| src.node_location(n));
        warnings.push(Warning::new(at, "`repayment.outcomes` has no default band (an entry without `when`): approved users who match no band are left out of expected loss and revenue"));
    }
    if !limits.is_empty() && limits.last().is_some_and(|b| b.cond.is_some()) {
        let at = def
            .limit
            .last()
            .and_then(|l| l.when.as_ref())
            .map(|n| src.node_location(n));
        warnings.push(Warning::new(at, "`limit` has no default band (an entry without `when`): an approved user who matches no band gets no limit"));
    }
    if repayment.is_none()
        && let Some(o) = &def.observed_outcome
    {
        warnings.push(Warning::new(
            Some(src.location(o.span())),
            "`observed.outcome` does nothing without a `repayment` model: its observed shares are shown beside the model's outcome probabilities",
        ));
    }
    for f in &def.fields {
        let read = |i: &usize| scope.projection[*i].name == f.name.as_str();
        if !scope.reads.iter().any(read) {
            warnings.push(Warning::new(
                Some(src.location(f.name.span())),
                format!(
                    "field `{}` is declared but nothing reads it",
                    f.name.as_str()
                ),
            ));
        }
    }

    Ok(CompiledPolicy {
        id: def.id.clone(),
        version: def.version.clone(),
        description: def.description.clone(),
        path: src.path.clone(),
        sha256: crate::dataset::fingerprint::sha256_hex(src.text.as_bytes()),
        declared: def
            .fields
            .iter()
            .map(|f| ColumnSpec::new(f.name.as_str(), f.ty).with_role(Role::Declared))
            .collect(),
        columns: scope.projection,
        key,
        key_name,
        rules,
        limits,
        exposure,
        repayment,
        observed,
        observed_outcome,
        params: params.clone(),
        set: overrides.iter().map(|(n, _)| n.clone()).collect(),
        warnings,
        derived: scope.derived,
        rhai_constants: ctx
            .constants
            .iter()
            .map(|(n, _, v)| (n.to_owned(), v))
            .collect(),
        rhai: ctx.finish(),
        script,
    })
}

/// The column of a script's `approve(limit)`: the evaluator writes it, after the derived columns.
pub const SCRIPT_LIMIT: usize = usize::MAX;

/// `derive: NAME: EXPR`, or `NAME: { expr: EXPR, type: TYPE }` for an
/// expression whose type cannot be known before it runs.
fn compile_derive(
    src: &mut Source,
    scope: &mut Scope,
    ctx: &mut RhaiCtx,
    name: &MarkedScalarNode,
    node: &Node,
) {
    match node {
        Node::Scalar(text) => rhai_compile::derive(src, scope, ctx, name, text, None),
        Node::Mapping(m) => {
            src.check_keys(m, "a derived field", &["expr", "type"]);
            let Some(text) = m
                .get_node("expr")
                .and_then(|n| src.scalar(n, "`expr`"))
                .cloned()
            else {
                src.key_error(
                    name,
                    format!("derived field `{}` has no `expr`", name.as_str()),
                    "write `NAME: { expr: \"...\", type: decimal }`",
                );
                return;
            };
            let ty = match m
                .get_node("type")
                .and_then(|n| src.scalar(n, "`type`"))
                .cloned()
            {
                Some(t) => match FieldType::parse(t.as_str()) {
                    Some(ty) => Some(ty),
                    None => {
                        let help = suggest(t.as_str(), "types", &FieldType::NAMES);
                        src.key_error(&t, format!("unknown type `{}`", t.as_str()), help);
                        return;
                    }
                },
                None => None,
            };
            rhai_compile::derive(src, scope, ctx, name, &text, ty);
        }
        Node::Sequence(_) => src.error(
            node,
            format!("derived field `{}` is a list", name.as_str()),
            "write `NAME: \"EXPRESSION\"`",
        ),
    }
}

/// `script: FILE.rhai`: compiles it and makes its reason codes the policy's rules.
fn compile_script(
    src: &mut Source,
    scope: &mut Scope,
    ctx: &mut RhaiCtx,
    def: &PolicyDef,
    node: &MarkedScalarNode,
    rules: &mut Vec<Rule>,
) -> Option<ScriptPolicy> {
    if let Some(first) = def.rules.first() {
        src.key_error(
            &first.id,
            "a script policy decides in `decide(user)`, so it cannot also have `rules`",
            "move the rules into the script, or remove `script`",
        );
        return None;
    }
    if !def.limit.is_empty() {
        src.error(
            &def.limit[0].amount,
            "a script policy gives limits with `approve(limit)`, so it cannot also have `limit`",
            "compute the limit in the script: `approve(min(5000, user.monthly_income * 0.5))`",
        );
        return None;
    }
    let dir = src.path.parent().unwrap_or(Path::new(""));
    let path = dir.join(node.as_str());
    let read = load::read_capped(&path).and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| {
            load::ReadError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ))
        })
    });
    let text = match read {
        Ok(t) => t,
        Err(load::ReadError::Io(e)) => {
            src.key_error(
                node,
                format!("cannot read script `{}`: {e}", path.display()),
                "the path is relative to the policy file",
            );
            return None;
        }
        Err(load::ReadError::TooLarge(size)) => {
            src.key_error(
                node,
                load::too_large_message(&path, size, "a script"),
                "check that `script` names the script",
            );
            return None;
        }
    };
    match rhai_compile::script(ctx, scope, path, &text) {
        Ok((script, reasons)) => {
            rules.extend(reasons.into_iter().map(|r| Rule {
                id: r.code.clone(),
                reason: r.code,
                description: None,
                action: if r.review {
                    Action::Review
                } else {
                    Action::Decline
                },
                cond: Cond::True,
            }));
            rules.push(Rule {
                id: "missing_value".into(),
                reason: MISSING_VALUE.into(),
                description: Some(
                    "the script met a missing value where it needed a real one".into(),
                ),
                action: Action::Decline,
                cond: Cond::True,
            });
            Some(script)
        }
        Err(d) => {
            src.diagnostics.push(d);
            None
        }
    }
}

/// The reason of a row a script could not decide because a value it needed was missing.
pub const MISSING_VALUE: &str = "MISSING_VALUE";

fn apply_overrides(
    def: &PolicyDef,
    overrides: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    let mut params: Vec<(String, String)> = def
        .params
        .iter()
        .map(|p| (p.name.as_str().to_owned(), p.value.as_str().to_owned()))
        .collect();
    // An override keeps the parameter's kind: a number stays a number and a
    // bool a bool, or a script comparing with it would quietly never match.
    use crate::dataset::value::Value;
    let kind = |raw: &str| match super::lower::param_value(raw) {
        Value::Int(_) | Value::Float(_) | Value::Decimal(_) => Some("a number"),
        Value::Bool(_) => Some("a bool"),
        Value::String(_) => None,
    };
    for (i, (name, value)) in overrides.iter().enumerate() {
        if let Some((_, first)) = overrides[..i].iter().find(|(n, _)| n == name) {
            return Err(Error::usage(
                format!(
                    "`--set {name}` is given twice (`--set {name}={first}` and `--set {name}={value}`)"
                ),
                format!("give `--set {name}=...` once, with the value you mean"),
            ));
        }
        if has_too_many_digits(value.as_bytes()) {
            return Err(Error::Usage(
                Diagnostic::new(condition::too_many_digits_message(&format!(
                    "`--set {name}={value}`"
                )))
                .help(condition::TOO_MANY_DIGITS_HELP),
            ));
        }
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => {
                if let Some(want) = kind(&slot.1)
                    && kind(value) != Some(want)
                {
                    if want == "a number"
                        && let Some(bound) = int_out_of_range(value)
                    {
                        return Err(Error::usage(
                            format!("`--set {name}={value}`: `{value}` is {bound}"),
                            format!("give a number written like `{}`", slot.1),
                        ));
                    }
                    return Err(Error::Usage(
                        Diagnostic::new(format!(
                            "`--set {name}={value}`: `{name}` is {want} in policy `{}` (`{}`), and `{value}` is not",
                            def.id, slot.1
                        ))
                        .help(format!("give {want}, written like `{}`", slot.1)),
                    ));
                }
                slot.1 = value.clone()
            }
            None => {
                let names: Vec<&str> = def.params.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::Usage(
                    Diagnostic::new(format!(
                        "`--set {name}=...` names no parameter of policy `{}`",
                        def.id
                    ))
                    .help(suggest(name, "parameters", &names)),
                ));
            }
        }
    }
    Ok(params)
}

/// For a whole number an int cannot hold, what to say of it.
fn int_out_of_range(text: &str) -> Option<&'static str> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || crate::dataset::value::parse_int(t.as_bytes()).is_some()
    {
        return None;
    }
    Some(if negative {
        "too small for an int (at least -9223372036854775808)"
    } else {
        "too large for an int (at most 9223372036854775807)"
    })
}

/// A parameter that is a decimal with too many digits would be rounded
/// wherever it is used: refused where it is defined.
fn check_params(src: &mut Source, def: &PolicyDef) {
    for p in &def.params {
        if has_too_many_digits(p.value.as_bytes()) {
            condition::too_many_digits(
                src,
                &p.value,
                &format!("parameter `{}` (`{}`)", p.name.as_str(), p.value.as_str()),
            );
        }
    }
}

fn check_fields(src: &mut Source, def: &PolicyDef) {
    for (i, f) in def.fields.iter().enumerate() {
        if def.fields[..i]
            .iter()
            .any(|g| g.name.as_str() == f.name.as_str())
        {
            src.key_error(
                &f.name,
                format!("field `{}` is declared twice", f.name.as_str()),
                "declare each field once",
            );
        }
    }
}

fn compile_limits(
    src: &mut Source,
    scope: &mut Scope,
    ctx: &mut RhaiCtx,
    defs: &[LimitDef],
) -> Vec<LimitBand> {
    let mut bands = Vec::with_capacity(defs.len());
    for (i, def) in defs.iter().enumerate() {
        // A computed amount that comes out missing falls through to the next
        // band, so bands after one without `when` are reached if its amount
        // is an expression; after a fixed amount, never.
        let computed = matches!(&def.amount, Node::Scalar(s) if is_expression(scope, s.as_str()));
        if def.when.is_none() && i + 1 < defs.len() {
            if computed {
                let written = def.amount.as_scalar().map_or("", |s| s.as_str());
                scope.warnings.push(Warning::new(
                    Some(src.node_location(&def.amount)),
                    format!(
                        "the limit band without `when` takes every approved row whose amount `{written}` is not missing: the bands after it are reached only by rows where it is missing"
                    ),
                ));
            } else {
                src.error(
                    &def.amount,
                    "a limit band without `when` comes before other bands, which can never be reached",
                    "put the default band (the one without `when`) last, or give this one a `when`",
                );
            }
        }
        let cond = match &def.when {
            Some(n) => match condition::compile(src, scope, n) {
                Some(c) => Some(c),
                None => continue,
            },
            None => None,
        };
        let amount = match &def.amount {
            Node::Scalar(s) if is_expression(scope, s.as_str()) => {
                rhai_compile::amount(src, scope, ctx, s, "a limit `amount`")
                    .map(|c| Amount::Column(c, s.as_str().to_owned()))
            }
            node => money(src, scope, node, "a limit `amount`").map(Amount::Fixed),
        };
        if let Some(amount) = amount {
            bands.push(LimitBand { cond, amount });
        }
    }
    bands
}

/// Whether a value is an expression rather than a number or a `$param`.
fn is_expression(scope: &Scope, text: &str) -> bool {
    let t = text.trim();
    let plain_param = t
        .strip_prefix('$')
        .is_some_and(|p| scope.param(p).is_some());
    // A number with too many digits is a number all the same, refused as one.
    !plain_param
        && parse_decimal(t.as_bytes()).is_none()
        && !has_too_many_digits(t.as_bytes())
        && !t.starts_with('-')
}

/// Reports a decimal that would be rounded, unless it is a parameter's
/// value, which is reported where the parameter is defined.
fn refuse_digits(
    src: &mut Source,
    node: &MarkedScalarNode,
    what: &str,
    raw: &str,
    origin: &Origin,
) {
    if !matches!(origin, Origin::Param(_)) {
        condition::too_many_digits(src, node, &format!("{what} {}", origin.describe(raw)));
    }
}

/// A non-negative exact amount: a literal or `$param`.
fn money(src: &mut Source, scope: &mut Scope, node: &Node, what: &str) -> Option<Decimal> {
    let s = src.scalar(node, what)?.clone();
    let (raw, origin) = condition::resolve(src, scope, &s)?;
    match parse_decimal(raw.as_bytes()) {
        Some(d) if d >= Decimal::ZERO => Some(d),
        None if has_too_many_digits(raw.as_bytes()) => {
            refuse_digits(src, &s, what, &raw, &origin);
            None
        }
        _ => {
            src.key_error(
                &s,
                format!(
                    "{what} must be an amount of 0 or more and below 10^15, not {}",
                    origin.describe(&raw)
                ),
                "write an exact amount such as `299` or `1999.90`",
            );
            None
        }
    }
}

fn compile_exposure(src: &mut Source, scope: &mut Scope, e: &MarkedScalarNode) -> Exposure {
    if e.as_str() == "limit" {
        return Exposure::Limit;
    }
    match scope.field(e.as_str()) {
        Some((column, FieldType::Decimal)) => Exposure::Column(column),
        Some((_, ty)) => {
            src.key_error(
                e,
                format!("`exposure` field `{}` is a {ty}, not a decimal", e.as_str()),
                "money is exact: declare the field as `decimal`",
            );
            Exposure::Limit
        }
        None => {
            let mut names = scope.field_names();
            names.push("limit");
            let help = suggest(e.as_str(), "fields", &names);
            src.key_error(
                e,
                format!("unknown `exposure` field `{}`", e.as_str()),
                format!("{help}; or write `exposure: limit`"),
            );
            Exposure::Limit
        }
    }
}

fn compile_repayment(
    src: &mut Source,
    scope: &mut Scope,
    ctx: &mut RhaiCtx,
    def: &RepaymentDef,
) -> Option<Repayment> {
    let mut bands = Vec::with_capacity(def.outcomes.len());
    for band in &def.outcomes {
        let cond = match &band.when {
            Some(n) => Some(condition::compile(src, scope, n)?),
            None => None,
        };
        let mut p = [Decimal::ZERO; 5];
        let mut computed = [None; 5];
        let mut texts: [Option<String>; 5] = Default::default();
        for (name, node) in &band.p {
            let slot = match name.as_str() {
                "returned" => 0,
                "early" => 1,
                "late" => 3,
                "default" => 4,
                _ => continue, // reported by the loader
            };
            match node {
                Node::Scalar(s) if is_expression(scope, s.as_str()) => {
                    let what = format!("the `{}` probability", name.as_str());
                    computed[slot] = Some(rhai_compile::amount(src, scope, ctx, s, &what)?);
                    texts[slot] = Some(s.as_str().to_owned());
                }
                node => p[slot] = probability(src, scope, node)?,
            }
        }
        // With computed probabilities the sum is checked per row.
        let rest: Decimal = p.iter().sum();
        if rest > Decimal::ONE {
            src.error(
                node_of(band),
                format!("outcome probabilities add up to {rest}, more than 1"),
                format!(
                    "`on_time` is one minus the others ({}), so they must add up to at most 1",
                    OUTCOME_NAMES.join(", ")
                ),
            );
            return None;
        }
        p[2] = Decimal::ONE - rest;
        bands.push(OutcomeBand {
            cond,
            p,
            computed,
            texts,
        });
    }
    let rate = |src: &mut Source, scope: &mut Scope, n: &Option<MarkedScalarNode>| match n {
        Some(s) => probability(src, scope, &Node::Scalar(s.clone())),
        None => Some(Decimal::ZERO),
    };
    let loss_given_default = rate(src, scope, &def.loss_given_default)?;
    let merchant_fee_rate = rate(src, scope, &def.merchant_fee_rate)?;
    let late_fee = match &def.late_fee {
        Some(s) => money(src, scope, &Node::Scalar(s.clone()), "`late_fee`")?,
        None => Decimal::ZERO,
    };
    let late_days = match &def.late_days {
        Some((node, buckets)) => late_days(src, scope, node, buckets)?,
        None => Vec::new(),
    };
    let bureau_after_days = match &def.bureau_after_days {
        Some(s) => Some(bureau_after_days(src, scope, s, &late_days)?),
        None => None,
    };
    let correlation = match &def.correlation {
        Some(s) => correlation(src, scope, s)?,
        None => Decimal::ZERO,
    };
    Some(Repayment {
        bands,
        loss_given_default,
        merchant_fee_rate,
        late_fee,
        late_days,
        bureau_after_days,
        correlation,
    })
}

const LATE_DAYS_HELP: &str =
    "write buckets of days past due as `\"1-30\": 0.7`, and `\"91+\": 0.05` for an open last one";

/// `late_days`: ascending, non-overlapping buckets whose shares add up to 1.
fn late_days(
    src: &mut Source,
    scope: &mut Scope,
    node: &Node,
    buckets: &[(MarkedScalarNode, Node)],
) -> Option<Vec<LateBucket>> {
    let mut out: Vec<LateBucket> = Vec::with_capacity(buckets.len());
    for (key, value) in buckets {
        let label = key.as_str().trim();
        let parsed = match label.strip_suffix('+') {
            Some(from) => from.trim().parse::<u32>().ok().map(|f| (f, None)),
            None => label.split_once('-').and_then(|(a, b)| {
                let (a, b) = (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?);
                Some((a, Some(b)))
            }),
        };
        let Some((from, to)) = parsed.filter(|(f, t)| *f >= 1 && t.is_none_or(|t| t >= *f)) else {
            src.key_error(
                key,
                format!("`late_days` bucket `{label}` is not a range of days past due"),
                LATE_DAYS_HELP,
            );
            return None;
        };
        if let Some(prev) = out.last() {
            let after = prev.to.is_some_and(|t| from > t);
            if !after {
                src.key_error(
                    key,
                    format!(
                        "`late_days` bucket `{label}` does not come after `{}`",
                        prev.label
                    ),
                    "list the buckets in ascending order of days, without overlaps",
                );
                return None;
            }
        }
        let what = format!("the `late_days` share of `{label}`");
        let named = (
            what.as_str(),
            "write a share such as `0.25`: the shares add up to 1",
        );
        let share = probability_of(src, scope, value, Some(named))?;
        out.push(LateBucket {
            label: label.to_owned(),
            from,
            to,
            share,
        });
    }
    let total: Decimal = out.iter().map(|b| b.share).sum();
    if total != Decimal::ONE {
        src.error(
            node,
            format!("`late_days` shares add up to {total}, not 1"),
            "they are the distribution of a late payment's days past due: make them add up to exactly 1",
        );
        return None;
    }
    Some(out)
}

/// `bureau_after_days`: whole days, on a bucket edge of `late_days`.
fn bureau_after_days(
    src: &mut Source,
    scope: &mut Scope,
    s: &MarkedScalarNode,
    buckets: &[LateBucket],
) -> Option<u32> {
    let (raw, origin) = condition::resolve(src, scope, s)?;
    let Ok(days) = raw.trim().parse::<u32>() else {
        src.key_error(
            s,
            format!(
                "`bureau_after_days` must be a whole number of days, not {}",
                origin.describe(&raw)
            ),
            "write the grace period before a late payment is reported, such as `30`",
        );
        return None;
    };
    if buckets.is_empty() {
        src.key_error(
            s,
            "`bureau_after_days` needs `late_days`",
            "add `late_days: { \"1-30\": 0.7, \"31-60\": 0.2, \"61-90\": 0.1 }`: polsim reports late payments past the grace period from their distribution of days",
        );
        return None;
    }
    if let Some(b) = buckets
        .iter()
        .find(|b| b.from <= days && b.to.is_none_or(|t| days < t))
    {
        src.key_error(
            s,
            format!(
                "`bureau_after_days: {days}` falls inside the `late_days` bucket `{}`",
                b.label
            ),
            format!(
                "make it the end of a bucket (split `{}` at day {days}): a bucket is reported when all of it is past the grace period",
                b.label
            ),
        );
        return None;
    }
    Some(days)
}

/// `correlation`: ρ in [0, 1).
fn correlation(src: &mut Source, scope: &mut Scope, s: &MarkedScalarNode) -> Option<Decimal> {
    let named = (
        "`correlation`",
        "write a correlation such as `0.05`: 0 means independent draws, retail exposures use 0.03 to 0.16 (Basel)",
    );
    let rho = probability_of(src, scope, &Node::Scalar(s.clone()), Some(named))?;
    if rho == Decimal::ONE {
        src.key_error(
            s,
            "`correlation` must be below 1",
            "retail exposures use 0.03 to 0.16 (Basel); 0 means independent draws",
        );
        return None;
    }
    Some(rho)
}

/// `observed.outcome`: a string field.
fn observed_outcome(src: &mut Source, scope: &mut Scope, o: &MarkedScalarNode) -> Option<Col> {
    match scope.field(o.as_str()) {
        Some((column, FieldType::String)) => Some(column),
        Some((_, ty)) => {
            src.key_error(
                o,
                format!(
                    "`observed.outcome` field `{}` is {}, not a string",
                    o.as_str(),
                    ty.with_article()
                ),
                "declare it as `string`: its cells are returned, early, on_time, late or default",
            );
            None
        }
        None => {
            let help = suggest(o.as_str(), "fields", &scope.field_names());
            src.key_error(
                o,
                format!("unknown `observed.outcome` field `{}`", o.as_str()),
                format!("{help}; declare the column under `fields` as `string`"),
            );
            None
        }
    }
}

fn node_of(band: &OutcomeDef) -> &Node {
    band.when.as_ref().unwrap_or_else(|| &band.p[0].1)
}

/// An exact probability in [0, 1].
fn probability(src: &mut Source, scope: &mut Scope, node: &Node) -> Option<Decimal> {
    probability_of(src, scope, node, None)
}

/// A number from 0 to 1; `Some((what, help))` names what it is in the
/// message (`correlation`, a `late_days` share) instead of "a probability".
fn probability_of(
    src: &mut Source,
    scope: &mut Scope,
    node: &Node,
    named: Option<(&str, &str)>,
) -> Option<Decimal> {
    let what = named.map_or("a probability", |(what, _)| what);
    let s = src.scalar(node, what)?.clone();
    let (raw, origin) = condition::resolve(src, scope, &s)?;
    match parse_decimal(raw.as_bytes()) {
        Some(d) if d >= Decimal::ZERO && d <= Decimal::ONE => Some(d),
        None if has_too_many_digits(raw.as_bytes()) => {
            refuse_digits(src, &s, what, &raw, &origin);
            None
        }
        _ => {
            let (message, help) = match named {
                Some((what, help)) => (
                    format!(
                        "{what} must be between 0 and 1, not {}",
                        origin.describe(&raw)
                    ),
                    help,
                ),
                None => (
                    format!(
                        "{} is not a probability between 0 and 1",
                        origin.describe(&raw)
                    ),
                    "write a rate such as `0.025`",
                ),
            };
            src.key_error(&s, message, help);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::value::Value;

    pub fn compile_str(text: &str, overrides: &[(&str, &str)]) -> Result<CompiledPolicy> {
        let (mut src, def) = load::load_str(Path::new("p.yaml"), text.to_owned())?;
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        compile(&mut src, &def, &overrides)
    }

    fn error(text: &str) -> String {
        compile_str(text, &[])
            .expect_err("policy compiled")
            .to_string()
    }

    const HEAD: &str = "policy: p\nparams: { min_score: 600 }\nfields: { score: int, plus: bool, income: decimal, city: string, unused: int }\n";

    #[test]
    fn projects_only_read_columns_in_first_use_order() {
        let p = compile_str(&format!("{HEAD}rules:\n  - {{ id: a, reason: A, when: {{ plus: true }} }}\n  - {{ id: b, reason: B, when: {{ score: {{ gte: $min_score }} }} }}\n"), &[]).unwrap();
        let names: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["plus", "score"]);
        assert!(p.warnings.iter().any(|w| w.message.contains("`unused`")));
    }

    #[test]
    fn params_are_typed_where_used_and_overridable() {
        let text = format!(
            "{HEAD}rules:\n  - {{ id: b, reason: B, when: {{ score: {{ gte: $min_score }} }} }}\n"
        );
        let p = compile_str(&text, &[("min_score", "650")]).unwrap();
        assert!(matches!(
            &p.rules[0].cond,
            Cond::Compare {
                value: Value::Int(650),
                ..
            }
        ));
        let e = compile_str(&text, &[("min_scor", "650")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `min_score`?"), "{e}");
        let e = compile_str(&text, &[("min_score", "high")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`--set min_score=high`: `min_score` is a number in policy"),
            "{e}"
        );
    }

    #[test]
    fn type_mismatch_is_located() {
        let e = error(&format!(
            "{HEAD}rules:\n  - {{ id: a, reason: A, when: {{ plus: {{ gte: 600 }} }} }}\n"
        ));
        assert!(
            e.contains("operator `gte` does not apply to bool field `plus`"),
            "{e}"
        );
        assert!(e.contains("p.yaml:5:41"), "{e}");
    }

    #[test]
    fn unknown_field_and_param_suggest() {
        let e = error(&format!(
            "{HEAD}rules:\n  - {{ id: a, reason: A, when: {{ scor: {{ gte: $min_scre }} }} }}\n"
        ));
        assert!(e.contains("unknown field `scor` in a condition"), "{e}");
        assert!(
            e.contains("did you mean `score` (declared on line 3)? if the declaration is the typo, fix it there"),
            "{e}"
        );
        let e = error(&format!(
            "{HEAD}rules:\n  - {{ id: a, reason: A, when: {{ score: {{ gte: $min_scre }} }} }}\n"
        ));
        assert!(e.contains("undefined parameter `$min_scre`"), "{e}");
        assert!(e.contains("did you mean `$min_score`?"), "{e}");
    }

    #[test]
    fn decimal_literals_are_exact() {
        let p = compile_str(
            &format!(
                "{HEAD}rules:\n  - {{ id: a, reason: A, when: {{ income: {{ lte: 0.1 }} }} }}\n"
            ),
            &[],
        )
        .unwrap();
        assert!(
            matches!(&p.rules[0].cond, Cond::Compare { value: Value::Decimal(d), .. } if *d == Decimal::new(1, 1))
        );
    }

    #[test]
    fn bad_between_and_list_equality() {
        let e = error(&format!(
            "{HEAD}rules:\n  - {{ id: a, reason: A, when: {{ score: {{ between: [700, 600] }} }} }}\n"
        ));
        assert!(e.contains("low end `700` above its high end `600`"), "{e}");
        let e = error(&format!(
            "{HEAD}rules:\n  - {{ id: a, reason: A, when: {{ city: [a, b] }} }}\n"
        ));
        assert!(e.contains("{ in: [...] }"), "{e}");
    }

    #[test]
    fn empty_conditions_are_refused() {
        let e = error(&format!(
            "{HEAD}rules:\n  - {{ id: a, reason: A, when: {{}} }}\n"
        ));
        assert!(e.contains("an empty condition always holds"), "{e}");
        let e = error(&format!(
            "{HEAD}rules:\n  - {{ id: a, reason: A, when: {{ score: {{}} }} }}\n"
        ));
        assert!(e.contains("`score` has no operator"), "{e}");
    }

    #[test]
    fn repayment_on_time_is_the_rest() {
        let p = compile_str(&format!("{HEAD}rules: []\nrepayment:\n  exposure: income\n  outcomes:\n    - p: {{ returned: 0.05, early: 0.15, late: 0.06, default: 0.025 }}\n  loss_given_default: 0.85\n"), &[]).unwrap();
        let r = p.repayment.unwrap();
        assert_eq!(r.bands[0].p[2], Decimal::new(715, 3));
        assert_eq!(p.exposure, Exposure::Column(Col::Parsed(0)));
    }
}
