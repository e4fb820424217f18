//! The `sweep` report: one entry per grid point, with the metrics under the
//! names `simulate` gives them, and the marginal bad rate of each step.

use super::money;
use super::simulation::{Manifest, param_json, rate, to_f64};
use crate::policy::CompiledPolicy;
use crate::simulate::expected::{approved_exposure, expected};
use crate::simulate::sweep::{Axis, PointMetrics, grid_points};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub policy: String,
    pub version: String,
    pub rows: u64,
    /// The swept parameters, in `--param` order.
    pub params: Vec<String>,
    pub points: Vec<SweepPoint>,
    /// Rows skipped as malformed under `--skip-bad-rows`.
    pub skipped_rows: u64,
    /// The policy as run without the sweep (its `--set` overrides only).
    pub manifest: Manifest,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    #[serde(serialize_with = "values_in_order")]
    pub params: Vec<(String, String)>,
    pub approved: u64,
    pub declined: u64,
    pub review: u64,
    pub approval_rate: Option<f64>,
    pub approved_exposure: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<PointObserved>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repayment: Option<PointRepayment>,
    /// Bads added per approval added since the previous point along the
    /// last parameter: what a cutoff is chosen on. `null` at the start of a
    /// line, without `observed`, or when approvals do not change.
    pub marginal_bad_rate: Option<f64>,
    /// Whether these are the policy's own values (without the sweep).
    #[serde(skip)]
    pub current: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PointObserved {
    pub bads: u64,
    pub bad_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PointRepayment {
    pub expected_defaults: f64,
    pub expected_loss: String,
    pub expected_revenue: String,
}

fn values_in_order<S: serde::Serializer>(
    pairs: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, &param_json(v))?;
    }
    map.end()
}

/// Whether a swept value is the policy's own: equal as numbers when both
/// are, else as text.
pub fn same_value(a: &str, b: &str) -> bool {
    match (a.parse::<Decimal>(), b.parse::<Decimal>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl SweepReport {
    /// `policies[i]` is the policy of point `i` (for its money: amounts and
    /// probabilities); `base` is the policy without the sweep.
    pub fn build<'p>(
        base: &'p CompiledPolicy,
        policy_of: impl Fn(usize) -> &'p CompiledPolicy,
        axes: &[Axis],
        metrics: &[PointMetrics],
        skipped_rows: u64,
        data_sha256: Option<String>,
    ) -> SweepReport {
        let current: Vec<Option<&str>> = axes
            .iter()
            .map(|a| {
                base.params
                    .iter()
                    .find(|(n, _)| *n == a.name)
                    .map(|(_, v)| v.as_str())
            })
            .collect();
        let line = axes.last().map_or(1, |a| a.values.len());
        let mut points: Vec<SweepPoint> = Vec::with_capacity(metrics.len());
        for (i, (at, m)) in grid_points(axes).into_iter().zip(metrics).enumerate() {
            let policy = policy_of(i);
            let o = &m.outcomes;
            let observed = policy.observed.as_ref().map(|_| PointObserved {
                bads: m.observed.approved,
                bad_rate: rate(m.observed.approved, o.approved),
            });
            let repayment = expected(policy, &m.repayment).map(|e| PointRepayment {
                expected_defaults: to_f64(e.defaults),
                expected_loss: money(e.loss),
                expected_revenue: money(e.revenue),
            });
            let marginal_bad_rate = match (i % line, points.last()) {
                (0, _) | (_, None) => None,
                (_, Some(prev)) => {
                    let bads = |p: &Option<PointObserved>| p.as_ref().map(|o| o.bads as f64);
                    let added = o.approved as f64 - prev.approved as f64;
                    match (bads(&observed), bads(&prev.observed)) {
                        // `+ 0.0` turns the -0 of no bads over fewer approvals into 0.
                        (Some(b), Some(a)) if added != 0.0 => Some((b - a) / added + 0.0),
                        _ => None,
                    }
                }
            };
            let params: Vec<(String, String)> = axes
                .iter()
                .zip(&at)
                .map(|(a, &v)| (a.name.clone(), a.values[v].clone()))
                .collect();
            let is_current = params
                .iter()
                .zip(&current)
                .all(|((_, v), c)| c.is_some_and(|c| same_value(v, c)));
            points.push(SweepPoint {
                params,
                approved: o.approved,
                declined: o.declined,
                review: o.review,
                approval_rate: rate(o.approved, o.rows),
                approved_exposure: money(approved_exposure(policy, &m.limits, &m.repayment)),
                observed,
                repayment,
                marginal_bad_rate,
                current: is_current,
            });
        }
        SweepReport {
            policy: base.id.clone(),
            version: base.version.clone(),
            rows: metrics.first().map_or(0, |m| m.outcomes.rows),
            params: axes.iter().map(|a| a.name.clone()).collect(),
            points,
            skipped_rows,
            manifest: Manifest::of(base, data_sha256, None),
        }
    }
}
