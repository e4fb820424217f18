//! `explain`: one row followed through a policy — every rule, condition by
//! condition, with the value each read, the threshold after params and the
//! truth (true, false, unknown); derived fields; the limit band chosen and
//! the bands before it; the repayment band and its probabilities.
//!
//! A trace is taken from a batch the evaluator has just evaluated, so the
//! verdicts are the engine's own: each condition node is evaluated again
//! over the batch with the same kernels, and only row `row` is read.

use super::arith;
use super::evaluate::NONE;
use super::kernels::{self, Cols, FALSE, Scratch, TRUE};
use super::script_trace::{ScriptTrace, ScriptTracer};
use super::{Decisions, Evaluator, Outcome};
use crate::dataset::batch::{Column, ColumnData};
use crate::dataset::schema::ColumnSpec;
use crate::policy::CompiledPolicy;
use crate::policy::compile::Amount;
use crate::policy::condition::{CmpOp, Col, Cond};
use crate::policy::lower::Num;
use crate::policy::rhai_compile::DeriveHow;
use rust_decimal::Decimal;
use serde::Serialize;

/// One row's way through the policy.
#[derive(Debug, Clone, Serialize)]
pub struct RowTrace {
    /// The dataset line the row starts on (0 for a row given on the
    /// command line).
    pub line: u64,
    /// The row's key, when the policy has one.
    pub key: Option<String>,
    pub outcome: &'static str,
    /// Reason codes, primary first, as `decide` gives them.
    pub reasons: Vec<String>,
    /// Named derived fields and their values.
    pub derived: Vec<(String, String)>,
    pub rules: Vec<RuleTrace>,
    /// The limit bands in order, up to the one the row took.
    pub limits: Vec<BandTrace>,
    pub limit: Option<Decimal>,
    /// The repayment band, when the row is approved and a band matched.
    pub repayment: Option<RepaymentTrace>,
    /// For a script policy: the path the script took.
    pub script: Option<ScriptTrace>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleTrace {
    pub rule: String,
    pub reason: String,
    pub action: &'static str,
    /// `pass`, or `fail` (the condition was false or unknown).
    pub verdict: &'static str,
    pub condition: NodeTrace,
}

/// A condition node: what it tests, what it read, and its truth.
#[derive(Debug, Clone, Serialize)]
pub struct NodeTrace {
    pub test: String,
    /// The value the node read (`missing` for an empty cell), for a leaf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<String>,
    pub truth: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<NodeTrace>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BandTrace {
    pub band: usize,
    pub amount: String,
    /// `None` for the default band (no `when`).
    pub condition: Option<NodeTrace>,
    pub taken: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepaymentTrace {
    pub band: usize,
    /// `returned, early, on_time, late, default`.
    pub p: [(&'static str, Decimal); 5],
}

fn truth_name(t: u8) -> &'static str {
    match t {
        TRUE => "true",
        FALSE => "false",
        _ => "unknown",
    }
}

/// Traces row `row` of the batch `cols` was made from; `evaluator` has just
/// evaluated it into `d`, and `projection` names its parsed columns.
pub fn trace(
    policy: &CompiledPolicy,
    projection: &[ColumnSpec],
    evaluator: &Evaluator,
    cols: &Cols,
    d: &Decisions,
    row: usize,
    line: u64,
) -> RowTrace {
    let t = Tracer {
        policy,
        projection,
        cols,
        row,
    };
    let mut scratch = Scratch::default();
    let script = policy
        .script
        .is_some()
        .then(|| ScriptTracer::default().describe(policy, cols, d, row));
    let rules = policy
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| RuleTrace {
            rule: r.id.clone(),
            reason: r.reason.clone(),
            action: r.action.name(),
            verdict: if d.failed(i, row) { "fail" } else { "pass" },
            condition: if script.is_some() {
                NodeTrace {
                    test: "decided by the script".to_owned(),
                    read: None,
                    truth: truth_name(d.rule_truth[i][row]),
                    parts: Vec::new(),
                }
            } else {
                t.node(&r.cond, &mut scratch)
            },
        })
        .collect();
    let derived = policy
        .derived
        .iter()
        .zip(evaluator.derived())
        .filter_map(|(def, column)| Some((def.name.clone()?, value_at(column, row))))
        .collect();
    let approved = d.outcome[row] == Outcome::Approve;
    let taken = d.limit_band[row];
    let mut limits = Vec::new();
    if approved && script.is_none() {
        for (b, band) in policy.limits.iter().enumerate() {
            limits.push(BandTrace {
                band: b,
                amount: match &band.amount {
                    Amount::Fixed(x) => x.to_string(),
                    Amount::Column(_, text) => text.clone(),
                },
                condition: band.cond.as_ref().map(|c| t.node(c, &mut scratch)),
                taken: taken as usize == b,
            });
            if taken as usize == b {
                break;
            }
        }
    }
    let limit = (approved && taken != NONE).then(|| match &policy.limits[taken as usize].amount {
        Amount::Fixed(x) => *x,
        Amount::Column(..) => d.limit[row],
    });
    let repayment = match (&policy.repayment, d.outcome_band[row]) {
        (Some(r), b) if approved && b != NONE => {
            let p = d.p.get(row).copied().unwrap_or(r.bands[b as usize].p);
            let names = ["returned", "early", "on_time", "late", "default"];
            Some(RepaymentTrace {
                band: b as usize,
                p: std::array::from_fn(|k| (names[k], p[k])),
            })
        }
        _ => None,
    };
    RowTrace {
        line,
        key: policy
            .key
            .filter(|&k| cols.parsed[k].valid[row])
            .map(|k| value_at(&cols.parsed[k], row)),
        outcome: d.outcome[row].name(),
        reasons: d
            .failing_rules(&policy.rules, row)
            .map(|i| policy.rules[i].reason.clone())
            .collect(),
        derived,
        rules,
        limits,
        limit,
        repayment,
        script,
    }
}

struct Tracer<'a> {
    policy: &'a CompiledPolicy,
    projection: &'a [ColumnSpec],
    cols: &'a Cols<'a>,
    row: usize,
}

impl Tracer<'_> {
    /// The truth of `cond` at the row, by the engine's own kernels.
    fn truth(&self, cond: &Cond, scratch: &mut Scratch) -> &'static str {
        let mut out = Vec::new();
        kernels::eval(cond, self.cols, &mut out, scratch);
        truth_name(out[self.row])
    }

    fn name(&self, col: Col) -> String {
        match col {
            Col::Parsed(i) => self.projection[i].name.clone(),
            Col::Derived(k) => {
                let d = &self.policy.derived[k];
                match (&d.name, &d.how) {
                    (Some(n), _) => n.clone(),
                    (None, DeriveHow::Rhai(e)) => format!("({})", e.site.expr.trim()),
                    (None, _) => "(expression)".to_owned(),
                }
            }
        }
    }

    fn read(&self, col: Col) -> String {
        value_at(self.cols.get(col), self.row)
    }

    fn node(&self, cond: &Cond, scratch: &mut Scratch) -> NodeTrace {
        let mut leaf = |test: String, read: String| NodeTrace {
            test,
            read: Some(read),
            truth: self.truth(cond, scratch),
            parts: Vec::new(),
        };
        let group = |test: &str, parts: &[Cond], scratch: &mut Scratch| NodeTrace {
            test: test.to_owned(),
            read: None,
            truth: self.truth(cond, scratch),
            parts: parts.iter().map(|p| self.node(p, scratch)).collect(),
        };
        match cond {
            Cond::True => NodeTrace {
                test: "always".to_owned(),
                read: None,
                truth: "true",
                parts: Vec::new(),
            },
            Cond::All(parts) => group("all of", parts, scratch),
            Cond::Any(parts) => group("any of", parts, scratch),
            Cond::Not(inner) => group("not", std::slice::from_ref(inner), scratch),
            Cond::Compare { column, op, value } => leaf(
                format!("{} {} {value}", self.name(*column), op.symbol()),
                self.read(*column),
            ),
            Cond::In {
                column,
                values,
                negate,
            } => leaf(
                format!(
                    "{} {} [{}]",
                    self.name(*column),
                    if *negate { "not in" } else { "in" },
                    listed(values)
                ),
                self.read(*column),
            ),
            Cond::Between { column, lo, hi } => leaf(
                format!("{} between {lo} and {hi}", self.name(*column)),
                self.read(*column),
            ),
            Cond::Missing { column, missing } => leaf(
                format!(
                    "{} is {}",
                    self.name(*column),
                    if *missing { "missing" } else { "present" }
                ),
                self.read(*column),
            ),
            Cond::Cmp { lhs, op, rhs } => {
                let at = |n: &Num| value_at(&arith::eval(n, self.cols), self.row);
                leaf(
                    format!("{} {} {}", self.num(lhs), op.symbol(), self.num(rhs)),
                    format!("{} {} {}", at(lhs), op.symbol(), at(rhs)),
                )
            }
        }
    }

    /// An arithmetic expression as text.
    fn num(&self, n: &Num) -> String {
        match n {
            Num::Column(c) => self.name(*c),
            Num::Const(v) => v.to_string(),
            Num::Neg(a) => format!("-{}", self.num(a)),
            Num::Cast(a, _) => self.num(a),
            Num::Arith(op, a, b) => format!("({} {} {})", self.num(a), op.symbol(), self.num(b)),
        }
    }
}

/// The values of an `in` list, `, `-separated.
fn listed<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A cell as text, or `missing`.
pub fn value_at(column: &Column, row: usize) -> String {
    if !column.valid[row] {
        return "missing".to_owned();
    }
    match &column.data {
        ColumnData::Int(v) => v[row].to_string(),
        ColumnData::Float(v) => v[row].to_string(),
        ColumnData::Decimal(v) => v[row].to_string(),
        ColumnData::Bool(v) => (v[row] != 0).to_string(),
        ColumnData::Str { .. } => String::from_utf8_lossy(column.str(row)).into_owned(),
    }
}

/// What `decide --explain` adds to a row the policy did not approve: the
/// conditions that failed, with the values read, e.g. `zhima_score=583<600`.
/// The truth of every condition node is computed a batch at a time (the
/// engine's kernels, once per node); only failing rows are then walked. A
/// script policy's row is traced ([`script_trace`]) and gets the checks
/// that decided it.
#[derive(Default)]
pub struct Why {
    /// Per rule, the truth of each node of its condition, in pre-order.
    truths: Vec<Vec<Vec<u8>>>,
    scratch: Scratch,
    script: ScriptTracer,
}

impl Why {
    /// Evaluates every condition node of `policy`'s rules over the batch.
    pub fn compute(&mut self, policy: &CompiledPolicy, cols: &Cols) {
        if policy.script.is_some() {
            return; // its rows are traced one by one (see `row`)
        }
        self.truths.resize_with(policy.rules.len(), Vec::new);
        for (rule, truths) in policy.rules.iter().zip(&mut self.truths) {
            let mut at = 0;
            fill(&rule.cond, cols, truths, &mut at, &mut self.scratch);
        }
    }

    /// The failing conditions of row `row`: per failing rule, its reason
    /// and the facts that failed it, `;`-separated (for a script policy:
    /// its reasons and the checks that decided them); empty for an
    /// approved row.
    pub fn row(
        &mut self,
        policy: &CompiledPolicy,
        cols: &Cols,
        d: &Decisions,
        row: usize,
        out: &mut String,
    ) {
        out.clear();
        if d.outcome[row] == Outcome::Approve {
            return;
        }
        if policy.script.is_some() {
            self.script.why(policy, cols, d, row, out);
            return;
        }
        let t = Tracer {
            policy,
            projection: &policy.columns,
            cols,
            row,
        };
        for rule in d.failing_rules(&policy.rules, row) {
            let mut facts = Vec::new();
            let mut at = 0;
            t.facts(
                &policy.rules[rule].cond,
                &self.truths[rule],
                &mut at,
                true,
                &mut facts,
            );
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&policy.rules[rule].reason);
            out.push_str(": ");
            out.push_str(&facts.join(", "));
        }
    }
}

/// Evaluates `cond` and every node under it, in pre-order, into `truths`.
fn fill(cond: &Cond, cols: &Cols, truths: &mut Vec<Vec<u8>>, at: &mut usize, s: &mut Scratch) {
    if truths.len() <= *at {
        truths.push(Vec::new());
    }
    kernels::eval(cond, cols, &mut truths[*at], s);
    *at += 1;
    match cond {
        Cond::All(parts) | Cond::Any(parts) => {
            parts.iter().for_each(|p| fill(p, cols, truths, at, s));
        }
        Cond::Not(inner) => fill(inner, cols, truths, at, s),
        _ => {}
    }
}

/// The nodes under `cond`, itself included.
fn size(cond: &Cond) -> usize {
    1 + match cond {
        Cond::All(parts) | Cond::Any(parts) => parts.iter().map(size).sum(),
        Cond::Not(inner) => size(inner),
        _ => 0,
    }
}

impl Tracer<'_> {
    /// The fact a leaf on `column` states: `describe(name, value)`, or
    /// `name missing` for an empty cell.
    fn fact(&self, column: Col, describe: impl FnOnce(&str, &str) -> String) -> String {
        let name = self.name(column);
        match self.cols.get(column).valid[self.row] {
            false => format!("{name} missing"),
            true => describe(&name, &self.read(column)),
        }
    }

    /// The leaves that keep `cond` from being `want` at the row, as facts.
    fn facts(
        &self,
        cond: &Cond,
        truths: &[Vec<u8>],
        at: &mut usize,
        want: bool,
        out: &mut Vec<String>,
    ) {
        let truth = truths[*at][self.row];
        *at += 1;
        let wanted = if want { TRUE } else { FALSE };
        let culprit = |t: u8| t != wanted;
        match cond {
            Cond::All(parts) | Cond::Any(parts) => {
                // `all` fails on its failing parts, `any` on all of them;
                // to be false, `all` needs one false part and `any` all.
                let each = matches!(cond, Cond::All(_)) == want;
                for p in parts {
                    let t = truths[*at][self.row];
                    if !each || culprit(t) {
                        self.facts(p, truths, at, want, out);
                    } else {
                        *at += size(p);
                    }
                }
            }
            Cond::Not(inner) => self.facts(inner, truths, at, !want, out),
            _ if !culprit(truth) => {}
            Cond::True => out.push("always".to_owned()),
            Cond::Compare { column, op, value } => {
                out.push(self.fact(*column, |name, read| {
                    match if truth == FALSE { op.negated() } else { *op } {
                        // `x = v` says it all.
                        CmpOp::Eq => format!("{name}={read}"),
                        op => format!("{name}={read}{}{value}", op.symbol()),
                    }
                }));
            }
            Cond::In {
                column,
                values,
                negate,
            } => {
                let inside = (truth == TRUE) != *negate;
                out.push(self.fact(*column, |name, read| {
                    let verb = if inside { "in" } else { "not in" };
                    format!("{name}={read} {verb} [{}]", listed(values))
                }));
            }
            Cond::Between { column, lo, hi } => {
                out.push(self.fact(*column, |name, read| {
                    let verb = if truth == TRUE { "in" } else { "outside" };
                    format!("{name}={read} {verb} [{lo}, {hi}]")
                }));
            }
            Cond::Missing { column, .. } => {
                let present = self.cols.get(*column).valid[self.row];
                out.push(format!(
                    "{} {}",
                    self.name(*column),
                    if present { "present" } else { "missing" }
                ));
            }
            Cond::Cmp { lhs, op, rhs } => {
                let at_row = |n: &Num| value_at(&arith::eval(n, self.cols), self.row);
                let op = if truth == FALSE { op.negated() } else { *op };
                out.push(format!(
                    "{}={}{}{}",
                    self.num(lhs),
                    at_row(lhs),
                    op.symbol(),
                    at_row(rhs)
                ));
            }
        }
    }
}
