//! The `repayment` block of the `simulate` report: exact expectations
//! overall and per outcome band (outcome counts, defaults, bureau-reported
//! users, loss, revenue), the backtest of the model against observed bads
//! and outcomes, and the Monte Carlo's distribution over trials.

use super::money;
use super::simulation::{OutcomeMix, to_f64};
use crate::policy::CompiledPolicy;
use crate::simulate::expected::{Expected, expected, expected_bands};
use crate::simulate::metrics::{Metrics, RepaymentSums};
use crate::simulate::trials::{Trials, normal_cdf};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RepaymentStat {
    pub expected_defaults: f64,
    pub expected_loss: String,
    pub expected_revenue: String,
    /// Mean outcome probabilities over approved rows.
    pub outcomes: OutcomeMix,
    /// Approved rows that no outcome band matched (left out of the expectations).
    pub unmodelled: u64,
    /// The expected number of approved rows of each outcome.
    pub expected_outcomes: OutcomeMix,
    /// Late payments past `bureau_after_days` plus defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_bureau_reported: Option<f64>,
    /// The expected late payments in each `late_days` bucket.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub late_days: Vec<LateDaysStat>,
    pub bands: Vec<BandStat>,
    /// The backtest over all modelled rows (with `observed`; none without
    /// a modelled approved row: nothing to test).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trials: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<f64>,
    /// Portfolio loss over trials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<MoneyDist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue: Option<MoneyDist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defaults: Option<CountDist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bureau_reported: Option<CountDist>,
    /// Trial losses in ten equal bins from the least to the most.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loss_histogram: Vec<HistogramBin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LateDaysStat {
    pub days: String,
    pub share: f64,
    pub expected: f64,
    /// Whether the bucket is past `bureau_after_days`.
    pub reported: bool,
}

/// One outcome band of the model.
#[derive(Debug, Clone, Serialize)]
pub struct BandStat {
    /// From 1, in the policy's order.
    pub band: usize,
    pub approved: u64,
    pub exposure: String,
    pub expected_defaults: f64,
    pub expected_loss: String,
    pub expected_revenue: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_bureau_reported: Option<f64>,
    /// The band's backtest (with `observed`; none without an approved row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// With `observed.outcome`: the observed share of each outcome beside
    /// the model's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_outcomes: Option<ObservedOutcomes>,
}

/// The model's expected defaults beside the observed bads, with a binomial
/// test (normal approximation): z = (observed − expected) / √Σp(1−p).
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub expected_defaults: f64,
    pub observed_bads: u64,
    pub z: Option<f64>,
    /// Two-sided.
    pub p_value: Option<f64>,
    /// `within noise`, `model too optimistic` (more bads than it expects)
    /// or `model too pessimistic`.
    pub verdict: &'static str,
}

/// |z| past this (two-sided 5 %) is more than noise.
pub const CALIBRATION_Z: f64 = 1.96;

impl Calibration {
    pub fn new(expected: Decimal, variance: Decimal, observed: u64) -> Calibration {
        let e = to_f64(expected);
        let v = to_f64(variance);
        let diff = observed as f64 - e;
        let z = (v > 0.0).then(|| diff / v.sqrt());
        let verdict = match z {
            Some(z) if z > CALIBRATION_Z => "model too optimistic",
            Some(z) if z < -CALIBRATION_Z => "model too pessimistic",
            Some(_) => "within noise",
            // No variance: the model is sure, and right or wrong.
            None if diff.abs() < 1e-9 => "within noise",
            None if diff > 0.0 => "model too optimistic",
            None => "model too pessimistic",
        };
        Calibration {
            expected_defaults: e,
            observed_bads: observed,
            z,
            p_value: z.map(|z| 2.0 * normal_cdf(-z.abs())),
            verdict,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ObservedOutcomes {
    /// Approved rows with an observed outcome, and with an empty cell.
    pub known: u64,
    pub unknown: u64,
    pub observed: OutcomeMix,
    pub expected: OutcomeMix,
}

/// A money amount's distribution over trials (decimal strings, cents).
#[derive(Debug, Clone, Serialize)]
pub struct MoneyDist {
    pub mean: String,
    pub sd: String,
    /// Standard error of the mean: sd / √trials.
    pub se: String,
    pub p5: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    /// The 99th percentile of trial losses.
    pub var99: String,
    /// The mean of the worst 1 % of trials.
    pub es99: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CountDist {
    pub mean: f64,
    pub sd: f64,
    pub p5: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistogramBin {
    pub from: String,
    pub to: String,
    pub trials: u64,
}

fn mix(x: [Decimal; 5], over: Decimal) -> OutcomeMix {
    let share = |m: Decimal| (!over.is_zero()).then(|| to_f64(m / over));
    OutcomeMix {
        returned: share(x[0]),
        early: share(x[1]),
        on_time: share(x[2]),
        late: share(x[3]),
        default: share(x[4]),
    }
}

/// The backtest of the outcome bands `bands` of `sums` (a whole's or a
/// segment's), whose expectations are `e`: the observed bads beside the
/// defaults expected among the rows whose `observed.bad` is known (a row
/// with an empty cell is neither a bad nor a good). `None` without
/// `observed`, or without such a row: nothing to test.
fn calibration_of(
    policy: &CompiledPolicy,
    e: &Expected,
    sums: &RepaymentSums,
    bands: std::ops::Range<usize>,
) -> Option<Calibration> {
    policy.observed.as_ref()?;
    let r = policy.repayment.as_ref()?;
    let (mut expected, mut variance, mut known, mut bads) =
        (e.defaults, e.defaults_variance, 0u64, 0u64);
    for b in bands {
        let unknown = sums.bads_unknown.get(b).copied().unwrap_or(0);
        known += sums.rows[b] - unknown;
        bads += sums.bads[b];
        let (p, p_sq) = if r.bands[b].is_dynamic() {
            let [p, p_sq] = sums.unknown_p_default.get(b).copied().unwrap_or_default();
            (p, p_sq)
        } else {
            let (n, p) = (Decimal::from(unknown), r.bands[b].p[4]);
            (n * p, n * p * p)
        };
        expected -= p;
        variance -= p - p_sq;
    }
    (known > 0).then(|| Calibration::new(expected, variance, bads))
}

/// A segment's exact expectations (with a repayment model).
#[derive(Debug, Clone, Serialize)]
pub struct SegmentRepayment {
    pub expected_defaults: f64,
    pub expected_loss: String,
    pub expected_revenue: String,
    pub expected_outcomes: OutcomeMix,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_bureau_reported: Option<f64>,
    /// With `observed.outcome`: the segment's observed outcome shares
    /// beside the model's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_outcomes: Option<ObservedOutcomes>,
}

/// A segment's expectations, from its metrics.
pub fn segment_repayment(policy: &CompiledPolicy, m: &RepaymentSums) -> Option<SegmentRepayment> {
    let e = expected(policy, m)?;
    let bands = policy.repayment.as_ref()?.bands.len();
    let modelled: u64 = m.rows[..bands].iter().sum();
    Some(SegmentRepayment {
        expected_defaults: to_f64(e.defaults),
        expected_loss: money(e.loss),
        expected_revenue: money(e.revenue),
        expected_outcomes: mix(e.mix, Decimal::ONE),
        expected_bureau_reported: e.bureau_reported.map(to_f64),
        observed_outcomes: policy.observed_outcome.is_some().then(|| {
            let observed: [u64; 6] =
                std::array::from_fn(|k| m.observed[..bands].iter().map(|o| o[k]).sum());
            observed_outcomes(&observed, e.mix, modelled)
        }),
    })
}

/// Observed outcome counts (the last, unknown) beside the model's sums of
/// probabilities over `rows` modelled rows.
fn observed_outcomes(observed: &[u64; 6], model: [Decimal; 5], rows: u64) -> ObservedOutcomes {
    let known: u64 = observed[..5].iter().sum();
    ObservedOutcomes {
        known,
        unknown: observed[5],
        observed: mix(
            std::array::from_fn(|k| Decimal::from(observed[k])),
            Decimal::from(known),
        ),
        expected: mix(model, Decimal::from(rows)),
    }
}

/// The backtest of a segment's metrics (with `observed` and a model).
/// `None` for a segment without a modelled approved row: nothing to test.
pub fn segment_calibration(policy: &CompiledPolicy, m: &RepaymentSums) -> Option<Calibration> {
    let e = expected(policy, m)?;
    let bands = policy.repayment.as_ref()?.bands.len();
    calibration_of(policy, &e, m, 0..bands)
}

/// The report's repayment block.
pub fn repayment(
    policy: &CompiledPolicy,
    m: &Metrics,
    trials: Option<&Trials>,
) -> Option<RepaymentStat> {
    let r = policy.repayment.as_ref()?;
    let total = expected(policy, &m.repayment)?;
    let bands = expected_bands(policy, &m.repayment)?;
    let sums = &m.repayment;
    let unmodelled = sums.rows.last().copied().unwrap_or(0);
    let modelled = Decimal::from(m.outcomes.approved - unmodelled);
    let counts = |x: [Decimal; 5]| mix(x, Decimal::ONE);
    let late_days = r
        .late_days
        .iter()
        .map(|b| LateDaysStat {
            days: b.label.clone(),
            share: to_f64(b.share),
            expected: to_f64(total.mix[3] * b.share),
            reported: r.bureau_after_days.is_some_and(|g| b.from > g),
        })
        .collect();
    let with_outcomes = policy.observed_outcome.is_some();
    let band_stats = bands
        .iter()
        .enumerate()
        .map(|(b, e)| BandStat {
            band: b + 1,
            approved: sums.rows[b],
            exposure: money(e.exposure),
            expected_defaults: to_f64(e.defaults),
            expected_loss: money(e.loss),
            expected_revenue: money(e.revenue),
            expected_bureau_reported: e.bureau_reported.map(to_f64),
            calibration: calibration_of(policy, e, sums, b..b + 1),
            observed_outcomes: with_outcomes
                .then(|| observed_outcomes(&sums.observed[b], e.mix, sums.rows[b])),
        })
        .collect();
    let mut stat = RepaymentStat {
        expected_defaults: to_f64(total.defaults),
        expected_loss: money(total.loss),
        expected_revenue: money(total.revenue),
        outcomes: mix(total.mix, modelled),
        unmodelled,
        expected_outcomes: counts(total.mix),
        expected_bureau_reported: total.bureau_reported.map(to_f64),
        late_days,
        bands: band_stats,
        calibration: calibration_of(policy, &total, sums, 0..bands.len()),
        trials: None,
        seed: None,
        correlation: None,
        loss: None,
        revenue: None,
        defaults: None,
        bureau_reported: None,
        loss_histogram: Vec::new(),
    };
    if let Some(t) = trials {
        let losses: Vec<Decimal> = t
            .default_exposure
            .iter()
            .map(|x| x * r.loss_given_default)
            .collect();
        let revenues: Vec<Decimal> = t
            .returned_exposure
            .iter()
            .zip(&t.late)
            .map(|(returned, late)| {
                (total.exposure - returned) * r.merchant_fee_rate
                    + Decimal::from(*late) * r.late_fee
            })
            .collect();
        stat.trials = Some(t.trials());
        stat.seed = Some(t.seed);
        stat.correlation = Some(to_f64(r.correlation));
        stat.loss_histogram = histogram(&losses);
        stat.loss = money_dist(losses);
        stat.revenue = money_dist(revenues);
        stat.defaults = count_dist(t.defaults.clone());
        if r.bureau_after_days.is_some() {
            let reported = t
                .defaults
                .iter()
                .zip(&t.reported_late)
                .map(|(d, l)| d + l)
                .collect();
            stat.bureau_reported = count_dist(reported);
        }
    }
    Some(stat)
}

/// The element at quantile `q` by nearest rank (an actual trial's value).
fn nearest_rank<T: Copy>(sorted: &[T], q: f64) -> T {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

fn money_dist(mut xs: Vec<Decimal>) -> Option<MoneyDist> {
    if xs.is_empty() {
        return None;
    }
    xs.sort();
    let n = xs.len();
    let total: Decimal = xs.iter().sum();
    let mean = total / Decimal::from(n);
    let sd = sd(xs.iter().map(|x| x.to_f64().unwrap_or(0.0)));
    let tail = n.div_ceil(100);
    let es: Decimal = xs[n - tail..].iter().sum::<Decimal>() / Decimal::from(tail);
    let f = |x: f64| money(Decimal::from_f64_retain(x).unwrap_or_default());
    Some(MoneyDist {
        mean: money(mean),
        sd: f(sd),
        se: f(sd / (n as f64).sqrt()),
        p5: money(nearest_rank(&xs, 0.05)),
        p50: money(nearest_rank(&xs, 0.50)),
        p95: money(nearest_rank(&xs, 0.95)),
        p99: money(nearest_rank(&xs, 0.99)),
        var99: money(nearest_rank(&xs, 0.99)),
        es99: money(es),
    })
}

fn count_dist(mut xs: Vec<u64>) -> Option<CountDist> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable();
    let n = xs.len() as f64;
    Some(CountDist {
        mean: xs.iter().sum::<u64>() as f64 / n,
        sd: sd(xs.iter().map(|&x| x as f64)),
        p5: nearest_rank(&xs, 0.05),
        p50: nearest_rank(&xs, 0.50),
        p95: nearest_rank(&xs, 0.95),
        p99: nearest_rank(&xs, 0.99),
    })
}

/// The sample standard deviation.
fn sd(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = xs.clone().count() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean = xs.clone().sum::<f64>() / n;
    (xs.map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// Ten equal bins from the least loss to the most (one when all are equal).
fn histogram(xs: &[Decimal]) -> Vec<HistogramBin> {
    let (Some(lo), Some(hi)) = (xs.iter().min(), xs.iter().max()) else {
        return Vec::new();
    };
    let bins: u32 = if lo == hi { 1 } else { 10 };
    let width = (hi - lo) / Decimal::from(bins);
    let mut counts = vec![0u64; bins as usize];
    for x in xs {
        let at = if width.is_zero() {
            0
        } else {
            ((x - lo) / width)
                .floor()
                .to_u32()
                .unwrap_or(0)
                .min(bins - 1)
        };
        counts[at as usize] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, trials)| HistogramBin {
            from: money(*lo + width * Decimal::from(i as u32)),
            to: money(if i as u32 + 1 == bins {
                *hi
            } else {
                *lo + width * Decimal::from(i as u32 + 1)
            }),
            trials,
        })
        .collect()
}
