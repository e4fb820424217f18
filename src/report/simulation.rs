//! The `simulate` report: the final aggregate, named and rated.
//!
//! Field names and shapes are the product surface of SPEC §3: other tools
//! read this JSON. Counts are integers, rates are JSON numbers (`null` when
//! there is nothing to rate: no rows, no approved rows), money is a decimal
//! string rounded to cents (sums are exact before rounding).

use super::money;
use super::repayment::{
    Calibration, RepaymentStat, SegmentRepayment, repayment, segment_calibration, segment_repayment,
};
use crate::dataset::batch::SkippedRows;
use crate::engine::pass::Plan;
use crate::engine::segments::SegmentSpec;
use crate::policy::CompiledPolicy;
use crate::simulate::Simulation;
use crate::simulate::expected::{approved_exposure, limit_exposure, segment_entries};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct SimulationReport {
    pub policy: String,
    pub version: String,
    pub rows: u64,
    pub approved: u64,
    pub declined: u64,
    pub review: u64,
    /// `None` (JSON `null`) for a dataset with no rows.
    pub approval_rate: Option<f64>,
    pub approved_exposure: String,
    /// Malformed rows skipped under `--skip-bad-rows`: the JSON shows the count.
    #[serde(rename = "skipped_rows", serialize_with = "count_only")]
    pub skipped: SkippedRows,
    pub reasons: Vec<ReasonStat>,
    pub waterfall: Vec<WaterfallStep>,
    pub limits: Vec<LimitStat>,
    /// Per `--by`, in the order given (a JSON object whose keys keep that
    /// order): the field, or the whole `--by` text when a field is segmented
    /// twice. The same `--by` given twice is one entry.
    #[serde(serialize_with = "in_order")]
    pub segments: Vec<(String, Vec<SegmentStat>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repayment: Option<RepaymentStat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<ObservedStat>,
    pub manifest: Manifest,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReasonStat {
    pub rule: String,
    pub reason: String,
    pub action: &'static str,
    pub failed: u64,
    pub primary: u64,
    pub sole: u64,
    /// `never_fails` or `shadowed` when the rule does no work on this data.
    pub flag: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaterfallStep {
    pub rule: String,
    pub removed: u64,
    pub remaining: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LimitStat {
    /// The band's amount; `null` for approved rows no band matched.
    pub amount: Option<String>,
    pub approved: u64,
    /// Approved rows × the band's amount: the credit lines granted.
    pub total_limit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentStat {
    pub value: String,
    pub rows: u64,
    pub approved: u64,
    pub review: u64,
    pub declined: u64,
    pub approval_rate: Option<f64>,
    /// Observed bads among all rows of the segment (with `observed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bads: Option<u64>,
    /// Observed bads among approved rows, and their rate: the segment's backtest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_bads: Option<u64>,
    /// Left out without `observed`; `Some(None)` (JSON `null`) for a segment with no approved rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_bad_rate: Option<Option<f64>>,
    /// With a repayment model: the segment's exact expectations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repayment: Option<SegmentRepayment>,
    /// With a model and `observed`: its backtest on the segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// Outcome probabilities, in the order a repayment runs its course; `None`
/// (JSON `null`) when no approved row was modelled.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeMix {
    pub returned: Option<f64>,
    pub early: Option<f64>,
    pub on_time: Option<f64>,
    pub late: Option<f64>,
    pub default: Option<f64>,
}

impl OutcomeMix {
    pub fn entries(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("returned", self.returned),
            ("early", self.early),
            ("on_time", self.on_time),
            ("late", self.late),
            ("default", self.default),
        ]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ObservedStat {
    /// Observed bads among approved rows (the backtest).
    pub bads: u64,
    /// `None` (JSON `null`) when no row was approved.
    pub bad_rate: Option<f64>,
    /// Observed bads in the whole dataset, for comparison.
    pub population_bads: u64,
    /// `None` (JSON `null`) for a dataset with no rows.
    pub population_bad_rate: Option<f64>,
}

/// Reproducibility: what produced this report.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub polsim: &'static str,
    pub policy_sha256: String,
    /// `None` (JSON `null`) only when the file changed while it was read
    /// under `--skip-bad-rows`: no hash describes what was counted.
    pub data_sha256: Option<String>,
    /// Parameter values in effect.
    pub params: BTreeMap<String, serde_json::Value>,
    /// The names of the parameters overridden on the command line (`--set`),
    /// in the order given; their values are in `params`. Always present: an
    /// empty list when nothing was overridden.
    pub set: Vec<String>,
    pub seed: Option<u64>,
    /// For a report merged from partial results (`polsim merge`): the parts
    /// of the data each covered (`data_sha256` is then `null`: no one hash
    /// describes them all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<DataPart>,
}

/// A part of the data a partial result covered.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DataPart {
    pub name: String,
    /// `None` when the file changed while it was read.
    pub sha256: Option<String>,
    pub rows: u64,
}

impl Manifest {
    pub fn of(policy: &CompiledPolicy, data_sha256: Option<String>, seed: Option<u64>) -> Manifest {
        Manifest {
            polsim: env!("CARGO_PKG_VERSION"),
            policy_sha256: policy.sha256.clone(),
            data_sha256,
            set: policy.set.clone(),
            params: policy
                .params
                .iter()
                .map(|(k, v)| (k.clone(), param_json(v)))
                .collect(),
            seed,
            parts: Vec::new(),
        }
    }
}

/// Pairs as a JSON object, keys in the pairs' order.
pub(crate) fn in_order<S: serde::Serializer, V: Serialize>(
    pairs: &[(String, V)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

fn count_only<S: serde::Serializer>(skipped: &SkippedRows, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(skipped.count)
}

/// `part / whole`, or `None` when `whole` is zero: a rate of nothing is
/// unknown, not zero.
pub fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

/// A parameter value as JSON: a number or bool when it reads as one.
pub fn param_json(raw: &str) -> serde_json::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return i.into();
    }
    if let Some(n) = raw
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        return serde_json::Value::Number(n);
    }
    match raw {
        "true" => true.into(),
        "false" => false.into(),
        _ => raw.into(),
    }
}

impl SimulationReport {
    /// The report of the plan's policy `index` from its merged state.
    pub fn build(
        plan: &Plan,
        index: usize,
        sim: &Simulation,
        data_sha256: Option<String>,
        seed: Option<u64>,
    ) -> SimulationReport {
        let policy = &plan.policies[index];
        let m = &sim.whole;
        let (outcomes, reasons_sum) = (&m.outcomes, &m.reasons);
        let reasons = policy
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| ReasonStat {
                rule: r.id.clone(),
                reason: r.reason.clone(),
                action: r.action.name(),
                failed: reasons_sum.failed[i],
                primary: reasons_sum.primary[i],
                sole: reasons_sum.sole[i],
                flag: if reasons_sum.failed[i] == 0 {
                    Some("never_fails")
                } else if reasons_sum.primary[i] == 0 {
                    Some("shadowed")
                } else {
                    None
                },
            })
            .collect();
        let mut remaining = outcomes.rows;
        let waterfall = policy
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                remaining -= reasons_sum.removed[i];
                WaterfallStep {
                    rule: r.id.clone(),
                    removed: reasons_sum.removed[i],
                    remaining,
                }
            })
            .collect();
        let exposures = limit_exposure(policy, &m.limits);
        let mut limits: Vec<LimitStat> = policy
            .limits
            .iter()
            .enumerate()
            .map(|(i, b)| LimitStat {
                amount: Some(crate::report::amount_text(&b.amount)),
                approved: m.limits.rows[i],
                total_limit: money(exposures[i]),
            })
            .collect();
        let unlimited = m.limits.rows.last().copied().unwrap_or(0);
        if !policy.limits.is_empty() && unlimited > 0 {
            limits.push(LimitStat {
                amount: None,
                approved: unlimited,
                total_limit: money(Decimal::ZERO),
            });
        }
        let with_bads = policy.observed.is_some();
        let mut segments: Vec<(String, Vec<SegmentStat>)> = Vec::with_capacity(plan.segments.len());
        for (spec, seg) in plan.segments.iter().zip(&sim.segments) {
            let key = segment_key(spec, &plan.segments);
            if segments.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let rows = segment_entries(spec, seg)
                .into_iter()
                .map(|(value, m)| {
                    let c = &m.outcomes;
                    let bads = &m.observed;
                    SegmentStat {
                        value,
                        rows: c.rows,
                        approved: c.approved,
                        review: c.review,
                        declined: c.declined,
                        approval_rate: rate(c.approved, c.rows),
                        bads: with_bads.then_some(bads.all),
                        approved_bads: with_bads.then_some(bads.approved),
                        approved_bad_rate: with_bads.then(|| rate(bads.approved, c.approved)),
                        repayment: segment_repayment(policy, &m.repayment),
                        calibration: segment_calibration(policy, &m.repayment),
                    }
                })
                .collect();
            segments.push((key, rows));
        }
        SimulationReport {
            policy: policy.id.clone(),
            version: policy.version.clone(),
            rows: outcomes.rows,
            approved: outcomes.approved,
            declined: outcomes.declined,
            review: outcomes.review,
            approval_rate: rate(outcomes.approved, outcomes.rows),
            approved_exposure: money(approved_exposure(policy, &m.limits, &m.repayment)),
            skipped: sim.skipped.clone(),
            reasons,
            waterfall,
            limits,
            segments,
            repayment: repayment(policy, m, sim.trials.as_ref()),
            observed: with_bads.then(|| ObservedStat {
                bads: m.observed.approved,
                bad_rate: rate(m.observed.approved, outcomes.approved),
                population_bads: m.observed.all,
                population_bad_rate: rate(m.observed.all, outcomes.rows),
            }),
            manifest: Manifest::of(
                policy,
                data_sha256,
                seed.or(sim.trials.as_ref().map(|t| t.seed)),
            ),
        }
    }

    /// Rules that did no work on this data, for the table's flags.
    pub fn idle_rules(&self) -> impl Iterator<Item = &ReasonStat> {
        self.reasons.iter().filter(|r| r.flag.is_some())
    }
}

/// The field name, or the whole `--by` text when the same field is segmented twice.
pub(crate) fn segment_key(spec: &SegmentSpec, all: &[SegmentSpec]) -> String {
    if all.iter().filter(|s| s.field == spec.field).count() > 1 {
        spec.text()
    } else {
        spec.field.clone()
    }
}

pub fn to_f64(d: Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.round_dp(10).to_f64().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_their_json_kind() {
        assert_eq!(param_json("600"), serde_json::json!(600));
        assert_eq!(param_json("0.3"), serde_json::json!(0.3));
        assert_eq!(param_json("true"), serde_json::json!(true));
        assert_eq!(param_json("ecommerce"), serde_json::json!("ecommerce"));
    }
}
