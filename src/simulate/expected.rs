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
    /// Per outcome, the sum of its probability over modelled rows.
    pub mix: [Decimal; 5],
}

pub fn expected(policy: &CompiledPolicy, agg: &RepaymentSums) -> Option<Expected> {
    let r = policy.repayment.as_ref()?;
    let mut defaults = Decimal::ZERO;
    let mut loss = Decimal::ZERO;
    let mut revenue = Decimal::ZERO;
    let mut mix = [Decimal::ZERO; 5];
    for (b, band) in r.bands.iter().enumerate() {
        let rows = Decimal::from(agg.rows[b]);
        let exposure = agg.exposure[b];
        // Per band: the sum over its rows of each probability (rows × p when
        // they are constants), and of exposure × p(returned), × p(default).
        let (p_sums, [exposure_returned, exposure_default]) = if band.is_dynamic() {
            (agg.p[b], agg.exposure_p[b])
        } else {
            let [returned, .., default] = band.p;
            (
                band.p.map(|p| rows * p),
                [exposure * returned, exposure * default],
            )
        };
        defaults += p_sums[4];
        loss += exposure_default * r.loss_given_default;
        revenue += (exposure - exposure_returned) * r.merchant_fee_rate + p_sums[3] * r.late_fee;
        for (m, p) in mix.iter_mut().zip(p_sums) {
            *m += p;
        }
    }
    Some(Expected {
        defaults,
        loss,
        revenue,
        mix,
    })
}
