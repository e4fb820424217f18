//! The `compare` report: both sides' reports, the swap matrix with its
//! money, the swap reasons and the deltas, named for JSON and people.

use super::money;
use super::simulation::{SimulationReport, rate, segment_key};
use crate::engine::pass::Plan;
use crate::policy::CompiledPolicy;
use crate::simulate::compare::Comparison;
use crate::simulate::expected::{Expected, approved_exposure, expected, segment_entries};
use crate::simulate::metrics::{Metrics, RepaymentSums};
use crate::simulate::swap::CELLS;
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub champion: SimulationReport,
    pub challenger: SimulationReport,
    pub swap: Swap,
    pub swap_reasons: SwapReasons,
    pub deltas: Deltas,
    /// Per `--by`, in `--by` order: each segment's deltas.
    #[serde(serialize_with = "super::simulation::in_order")]
    pub segments: Vec<(String, Vec<SegmentDeltas>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    pub manifest: CompareManifest,
    /// What each side's approved exposure sums, for a person (`credit
    /// limits`, or a column in backticks): `[champion, challenger]`.
    #[serde(skip)]
    pub exposure_measures: [String; 2],
}

/// What a policy's approved exposure is the sum of, for a person.
pub fn exposure_measure(policy: &CompiledPolicy) -> String {
    use crate::policy::compile::Exposure;
    use crate::policy::condition::Col;
    match &policy.exposure {
        Exposure::Limit => "credit limits".to_owned(),
        Exposure::Column(Col::Parsed(i)) => policy.columns.get(*i).map_or_else(
            || "a column".to_owned(),
            |c| format!("`{}`", crate::error::printable(&c.name)),
        ),
        Exposure::Column(Col::Derived(k)) => policy
            .derived
            .get(*k)
            .and_then(|d| d.name.as_deref())
            .map_or_else(
                || "a computed value".to_owned(),
                |n| format!("`{}`", crate::error::printable(n)),
            ),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Swap {
    pub both: SwapCell,
    pub champion_only: SwapCell,
    pub challenger_only: SwapCell,
    pub neither: SwapCell,
}

impl Swap {
    pub fn cells(&self) -> [(&'static str, &SwapCell); 4] {
        [
            (CELLS[0], &self.both),
            (CELLS[1], &self.champion_only),
            (CELLS[2], &self.challenger_only),
            (CELLS[3], &self.neither),
        ]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SwapCell {
    pub rows: u64,
    pub share: Option<f64>,
    /// Observed bads among the cell's rows (`null` without `observed`).
    pub bads: Option<u64>,
    pub bad_rate: Option<f64>,
    /// Expected loss and revenue of the rows each policy approves
    /// (`null` for a policy without a repayment model).
    pub expected_loss: BySide,
    pub expected_revenue: BySide,
}

#[derive(Debug, Clone, Serialize)]
pub struct BySide {
    pub champion: Option<String>,
    pub challenger: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SwapReasons {
    /// Swap-outs by the challenger's primary reason.
    pub swap_outs: Vec<SwapReason>,
    /// Swap-ins by the champion's primary reason.
    pub swap_ins: Vec<SwapReason>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SwapReason {
    pub rule: String,
    pub reason: String,
    pub rows: u64,
}

/// Challenger minus champion. Money is the difference of the two reports'
/// figures (each rounded to cents), so it adds up with what they show.
#[derive(Debug, Clone, Serialize)]
pub struct Deltas {
    pub approval_rate: Option<f64>,
    pub approved_exposure: String,
    pub expected_loss: Option<String>,
    pub expected_revenue: Option<String>,
    pub observed_bad_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentDeltas {
    pub value: String,
    pub deltas: Deltas,
}

#[derive(Debug, Clone, Serialize)]
pub struct Changes {
    pub rows: u64,
    pub file: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareManifest {
    pub polsim: &'static str,
    pub data_sha256: Option<String>,
    pub champion_sha256: String,
    pub challenger_sha256: String,
    /// For a report merged from partial results: the parts of the data.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<super::simulation::DataPart>,
}

/// The figures of one side that deltas are taken of.
struct Side {
    approved: u64,
    rows: u64,
    approval_rate: Option<f64>,
    exposure: String,
    loss: Option<String>,
    revenue: Option<String>,
    bad_rate: Option<f64>,
}

impl Side {
    fn of(policy: &CompiledPolicy, m: &Metrics) -> Side {
        let e = expected(policy, &m.repayment);
        Side {
            approved: m.outcomes.approved,
            rows: m.outcomes.rows,
            approval_rate: rate(m.outcomes.approved, m.outcomes.rows),
            exposure: money(approved_exposure(policy, &m.limits, &m.repayment)),
            loss: e.as_ref().map(|e| money(e.loss)),
            revenue: e.as_ref().map(|e| money(e.revenue)),
            bad_rate: policy
                .observed
                .as_ref()
                .and_then(|_| rate(m.observed.approved, m.outcomes.approved)),
        }
    }
}

/// `b - a` of two money figures.
fn minus(a: &str, b: &str) -> String {
    let (a, b): (Decimal, Decimal) = (a.parse().unwrap_or_default(), b.parse().unwrap_or_default());
    money(b - a)
}

fn deltas(a: &Side, b: &Side) -> Deltas {
    let both = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => Some(minus(x, y)),
        _ => None,
    };
    let diff = |x: Option<f64>, y: Option<f64>| Some(y? - x?);
    // Both sides count the same rows: the change in approvals over them is
    // exact where the difference of two rounded rates is not (-0.0105, not
    // -0.01050000000000001).
    let approval_rate = if a.rows == b.rows && a.rows > 0 {
        Some((b.approved as f64 - a.approved as f64) / a.rows as f64 + 0.0)
    } else {
        diff(a.approval_rate, b.approval_rate)
    };
    Deltas {
        approval_rate,
        approved_exposure: minus(&a.exposure, &b.exposure),
        expected_loss: both(&a.loss, &b.loss),
        expected_revenue: both(&a.revenue, &b.revenue),
        observed_bad_rate: diff(a.bad_rate, b.bad_rate),
    }
}

/// Rounds `exact` amounts to cents so that they add up to the rounded
/// total (largest remainders first), as the cells of a table should.
/// A `pinned` cell is rounded on its own (to the nearest cent) and the
/// others make up the total, when any of them is not zero: so a cell whose
/// exact amount is the same under both policies shows the same cents.
fn round_to_total(exact: &[Decimal], pinned: Option<usize>) -> Vec<String> {
    let cents = |d: Decimal| {
        d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    };
    let total = cents(exact.iter().sum());
    let pinned = pinned.filter(|&p| {
        exact
            .iter()
            .enumerate()
            .any(|(i, d)| i != p && !d.is_zero())
    });
    let mut rounded: Vec<Decimal> = exact
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if Some(i) == pinned {
                cents(*d)
            } else {
                d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
            }
        })
        .collect();
    let step = Decimal::new(1, 2);
    let mut short = total - rounded.iter().sum::<Decimal>();
    let mut order: Vec<usize> = (0..exact.len()).filter(|&i| Some(i) != pinned).collect();
    order.sort_by(|&i, &j| {
        (exact[j] - rounded[j])
            .abs()
            .cmp(&(exact[i] - rounded[i]).abs())
            .then(i.cmp(&j))
    });
    let adjustable = order.len();
    for i in order.into_iter().cycle().take(adjustable * 4) {
        if short.is_zero() {
            break;
        }
        let unit = if short > Decimal::ZERO { step } else { -step };
        rounded[i] += unit;
        short -= unit;
    }
    rounded.into_iter().map(money).collect()
}

impl CompareReport {
    pub fn build(
        plan: &Plan,
        state: &Comparison,
        data_sha256: Option<String>,
        changes: Option<Changes>,
    ) -> CompareReport {
        let (pa, pb) = (&plan.policies[0], &plan.policies[1]);
        let champion = SimulationReport::build(plan, 0, &state.champion, data_sha256.clone(), None);
        let challenger =
            SimulationReport::build(plan, 1, &state.challenger, data_sha256.clone(), None);
        let swap = swap_cells(plan, state);
        let reasons = |p: &CompiledPolicy, counts: &[u64]| {
            let mut out: Vec<SwapReason> = p
                .rules
                .iter()
                .zip(counts)
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| SwapReason {
                    rule: r.id.clone(),
                    reason: r.reason.clone(),
                    rows: *n,
                })
                .collect();
            // Stable: equal counts stay in rule order.
            out.sort_by_key(|r| std::cmp::Reverse(r.rows));
            out
        };
        let swap_reasons = SwapReasons {
            swap_outs: reasons(pb, &state.swap.swap_outs),
            swap_ins: reasons(pa, &state.swap.swap_ins),
        };
        let overall = deltas(
            &Side::of(pa, &state.champion.whole),
            &Side::of(pb, &state.challenger.whole),
        );
        let mut segments: Vec<(String, Vec<SegmentDeltas>)> = Vec::new();
        for (spec, (sa, sb)) in plan.segments.iter().zip(
            state
                .champion
                .segments
                .iter()
                .zip(&state.challenger.segments),
        ) {
            let key = segment_key(spec, &plan.segments);
            if segments.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let a = segment_entries(spec, sa);
            let b = segment_entries(spec, sb);
            let rows = a
                .into_iter()
                .zip(b)
                .map(|((value, ma), (_, mb))| SegmentDeltas {
                    value,
                    deltas: deltas(&Side::of(pa, ma), &Side::of(pb, mb)),
                })
                .collect();
            segments.push((key, rows));
        }
        CompareReport {
            manifest: CompareManifest {
                polsim: env!("CARGO_PKG_VERSION"),
                data_sha256,
                champion_sha256: pa.sha256.clone(),
                challenger_sha256: pb.sha256.clone(),
                parts: Vec::new(),
            },
            champion,
            challenger,
            swap,
            swap_reasons,
            deltas: overall,
            segments,
            changes,
            exposure_measures: [exposure_measure(pa), exposure_measure(pb)],
        }
    }
}

fn swap_cells(plan: &Plan, state: &Comparison) -> Swap {
    let swap = &state.swap;
    let total: u64 = swap.cells.iter().map(|c| c.rows).sum();
    let observed = plan.policies[0].observed.is_some();
    // Per side, each cell's sums: its swaps as counted, "both" the whole
    // less them, "neither" nothing.
    let sums = |side: usize| {
        let whole = [&state.champion.whole, &state.challenger.whole][side];
        let swaps = &swap.cells[1 + side].repayment[side];
        let mut cells: Vec<RepaymentSums> = swap
            .cells
            .iter()
            .map(|c| c.repayment[side].clone())
            .collect();
        cells[0] = whole.repayment.minus(swaps);
        cells
    };
    // Per side, each cell's exact expectations, rounded to add up.
    let exact_of = |side: usize, pick: fn(&Expected) -> Decimal| -> Option<Vec<Decimal>> {
        let policy = &plan.policies[side];
        sums(side)
            .iter()
            .map(|c| expected(policy, c).map(|e| pick(&e)))
            .collect()
    };
    // The rows approved by both are worth the same under both policies when
    // their money model is the same: then both sides show the same cents.
    let money_of = |side: usize, pick: fn(&Expected) -> Decimal| -> Option<Vec<String>> {
        let exact = exact_of(side, pick)?;
        let same_both = exact_of(1 - side, pick).is_some_and(|o| o[0] == exact[0]);
        Some(round_to_total(&exact, same_both.then_some(0)))
    };
    let loss = [money_of(0, |e| e.loss), money_of(1, |e| e.loss)];
    let revenue = [money_of(0, |e| e.revenue), money_of(1, |e| e.revenue)];
    let at = |v: &Option<Vec<String>>, i: usize| v.as_ref().map(|v| v[i].clone());
    let cell = |i: usize| {
        let c = &swap.cells[i];
        SwapCell {
            rows: c.rows,
            share: rate(c.rows, total),
            bads: observed.then_some(c.bads),
            bad_rate: if observed { rate(c.bads, c.rows) } else { None },
            expected_loss: BySide {
                champion: at(&loss[0], i),
                challenger: at(&loss[1], i),
            },
            expected_revenue: BySide {
                champion: at(&revenue[0], i),
                challenger: at(&revenue[1], i),
            },
        }
    };
    Swap {
        both: cell(0),
        champion_only: cell(1),
        challenger_only: cell(2),
        neither: cell(3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_cell_rounds_alone_and_the_others_still_add_up() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // The both cell, 60105.045, under two policies whose other cells
        // differ: the same cents on both sides.
        let a = round_to_total(&[d("60105.045"), d("14003.284"), d("0"), d("0")], Some(0));
        let b = round_to_total(&[d("60105.045"), d("0"), d("4884.971"), d("0")], Some(0));
        assert_eq!(a[0], b[0]);
        for (cells, total) in [(&a, "74108.33"), (&b, "64990.02")] {
            let sum: Decimal = cells.iter().map(|c| d(c)).sum();
            assert_eq!(money(sum), total);
        }
        // Nothing else to make up the total: the pinned cell is the total.
        let c = round_to_total(&[d("1.005"), d("0"), d("0"), d("0")], Some(0));
        assert_eq!(c[0], "1.01");
    }

    #[test]
    fn rounded_cells_add_up_to_the_rounded_total() {
        let exact: Vec<Decimal> = ["1.005", "2.005", "3.005", "0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let cells = round_to_total(&exact, None);
        let sum: Decimal = cells.iter().map(|c| c.parse::<Decimal>().unwrap()).sum();
        assert_eq!(money(sum), money(exact.iter().sum()));
        for (c, e) in cells.iter().zip(&exact) {
            assert!((c.parse::<Decimal>().unwrap() - e).abs() < Decimal::new(1, 2));
        }
    }
}
