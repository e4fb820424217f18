//! What the accumulators' state evaluates to, exactly: approved exposure,
//! expected defaults, loss and revenue (decimal), and the segments of a
//! segmentation in report order. The report formats these; this computes.

use super::metrics::{Limits, RepaymentSums};
use super::segmented::Segmented;
use crate::engine::pass::Accumulator;
use crate::engine::segments::{SegmentKey, SegmentSpec, report_order};
use crate::policy::CompiledPolicy;
use crate::policy::compile::{Amount, Exposure};
use rust_decimal::Decimal;

/// A segmentation's segments in report order, with their labels: every
/// bin of a binned one (empty ones too), the values seen otherwise.
pub fn segment_entries<'s, M: Accumulator + Clone>(
    spec: &SegmentSpec,
    seg: &'s Segmented<M>,
) -> Vec<(String, &'s M)> {
    let bins = spec.bins();
    if bins == 0 {
        return report_order(spec, seg.by_key.iter());
    }
    let mut keys: Vec<SegmentKey> = (0..bins as u32).map(SegmentKey::Bin).collect();
    if seg.by_key.contains_key(&SegmentKey::Missing) {
        keys.push(SegmentKey::Missing);
    }
    report_order(spec, keys.iter().map(|k| (k, seg.get(k))))
}

/// Sum of the exposure of approved rows: limits, or the exposure column.
pub fn approved_exposure(
    policy: &CompiledPolicy,
    limits: &Limits,
    repayment: &RepaymentSums,
) -> Decimal {
    match policy.exposure {
        // Every approved row's exposure is in exactly one band's sum.
        Exposure::Column(_) => repayment.exposure.iter().sum(),
        Exposure::Limit => limit_exposure(policy, limits).iter().sum(),
    }
}

/// Exposure per limit band (rows × amount, or the sum of computed
/// amounts); the last entry (no band) is zero.
pub fn limit_exposure(policy: &CompiledPolicy, limits: &Limits) -> Vec<Decimal> {
    let mut out: Vec<Decimal> = policy
        .limits
        .iter()
        .zip(limits.rows.iter().zip(&limits.sum))
        .map(|(b, (rows, sum))| match b.amount {
            Amount::Fixed(x) => x * Decimal::from(*rows),
            Amount::Column(..) => *sum,
        })
        .collect();
    out.push(Decimal::ZERO);
    out
}

/// Exact expected defaults, loss and revenue: per band, rows × p and
/// exposure × p, summed.
pub struct Expected {
    pub defaults: Decimal,
    pub loss: Decimal,
    pub revenue: Decimal,
    /// Per outcome, the sum of its probability over modelled rows: the
    /// expected count of each outcome.
    pub mix: [Decimal; 5],
    /// Late payments reported to the bureau, plus defaults (with
    /// `bureau_after_days`).
    pub bureau_reported: Option<Decimal>,
    /// Σ p(default) (1 − p(default)): the variance of the count of defaults.
    pub defaults_variance: Decimal,
    /// Σ exposure over modelled rows.
    pub exposure: Decimal,
}

/// The expectations of each outcome band, in order (the approved rows no
/// band matched are left out).
pub fn expected_bands(policy: &CompiledPolicy, agg: &RepaymentSums) -> Option<Vec<Expected>> {
    let r = policy.repayment.as_ref()?;
    let reported = r.reported_late_share();
    let bands = r.bands.iter().enumerate().map(|(b, band)| {
        let rows = Decimal::from(agg.rows[b]);
        let exposure = agg.exposure[b];
        // Per band: the sum over its rows of each probability (rows × p when
        // they are constants), of p(default)², and of exposure × p(returned),
        // × p(default).
        let (p_sums, p_default_sq, [exposure_returned, exposure_default]) = if band.is_dynamic() {
            (agg.p[b], agg.p_default_sq[b], agg.exposure_p[b])
        } else {
            let [returned, .., default] = band.p;
            (
                band.p.map(|p| rows * p),
                rows * default * default,
                [exposure * returned, exposure * default],
            )
        };
        Expected {
            defaults: p_sums[4],
            loss: exposure_default * r.loss_given_default,
            revenue: (exposure - exposure_returned) * r.merchant_fee_rate + p_sums[3] * r.late_fee,
            mix: p_sums,
            bureau_reported: reported.map(|share| p_sums[3] * share + p_sums[4]),
            defaults_variance: p_sums[4] - p_default_sq,
            exposure,
        }
    });
    Some(bands.collect())
}

pub fn expected(policy: &CompiledPolicy, agg: &RepaymentSums) -> Option<Expected> {
    let bands = expected_bands(policy, agg)?;
    let reported = policy.repayment.as_ref()?.bureau_after_days.is_some();
    let mut total = Expected {
        defaults: Decimal::ZERO,
        loss: Decimal::ZERO,
        revenue: Decimal::ZERO,
        mix: [Decimal::ZERO; 5],
        bureau_reported: reported.then_some(Decimal::ZERO),
        defaults_variance: Decimal::ZERO,
        exposure: Decimal::ZERO,
    };
    for b in bands {
        total.defaults += b.defaults;
        total.loss += b.loss;
        total.revenue += b.revenue;
        for (m, p) in total.mix.iter_mut().zip(b.mix) {
            *m += p;
        }
        if let (Some(t), Some(x)) = (&mut total.bureau_reported, b.bureau_reported) {
            *t += x;
        }
        total.defaults_variance += b.defaults_variance;
        total.exposure += b.exposure;
    }
    Some(total)
}
