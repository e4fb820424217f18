//! Mergeable metrics: what a chunk of decisions adds to a report.
//!
//! Every field is a count or an exact decimal sum, so merging is associative
//! and commutative: the totals do not depend on how the data was chunked or
//! on which thread did what. Money is summed per band (rows per limit band,
//! exposure per repayment band) and multiplied by amounts and probabilities
//! once at the end, which is exact and keeps decimal work out of the per-row
//! loop.

use super::segment::{SegmentSpec, Segments};
use crate::dataset::batch::{Batch, Column, ColumnData, SkippedRow, SkippedRows};
use crate::engine::evaluate::NONE;
use crate::engine::kernels::TRUE;
use crate::engine::{Decisions, Outcome};
use crate::policy::CompiledPolicy;
use crate::policy::compile::{Amount, Exposure};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub rows: u64,
    pub approved: u64,
    pub review: u64,
    pub declined: u64,
    /// Per rule: rows where it failed / was the primary reason / was the only one to fail.
    pub failed: Vec<u64>,
    pub primary: Vec<u64>,
    pub sole: Vec<u64>,
    /// Per rule: rows it removes when rules are applied in order (first failing rule).
    pub removed: Vec<u64>,
    /// Approved rows per limit band; the last entry counts rows no band matched.
    pub limit_rows: Vec<u64>,
    /// Sum of the limits per band, for bands whose amount is computed per row.
    pub limit_sum: Vec<Decimal>,
    /// Approved rows whose exposure column was empty (counted as zero).
    pub exposure_missing: u64,
    /// Approved rows and exposure per repayment band; the last entry: no band matched.
    pub band_rows: Vec<u64>,
    pub band_exposure: Vec<Decimal>,
    /// For bands whose probabilities are computed per row: the sum of each
    /// outcome's probability, and of exposure × p(returned) and
    /// exposure × p(default), over the band's approved rows.
    pub band_p: Vec<[Decimal; 5]>,
    pub band_exposure_p: Vec<[Decimal; 2]>,
    /// Observed bads among approved rows, and among all rows.
    pub bads_approved: u64,
    pub bads_all: u64,
    pub segments: Vec<Segments>,
    pub skipped: SkippedRows,
}

impl Aggregate {
    pub fn new(policy: &CompiledPolicy, segments: &[SegmentSpec]) -> Aggregate {
        let rules = policy.rules.len();
        let bands = policy.repayment.as_ref().map_or(0, |r| r.bands.len()) + 1;
        Aggregate {
            failed: vec![0; rules],
            primary: vec![0; rules],
            sole: vec![0; rules],
            removed: vec![0; rules],
            limit_rows: vec![0; policy.limits.len() + 1],
            limit_sum: vec![Decimal::ZERO; policy.limits.len() + 1],
            band_rows: vec![0; bands],
            band_exposure: vec![Decimal::ZERO; bands],
            band_p: vec![[Decimal::ZERO; 5]; bands],
            band_exposure_p: vec![[Decimal::ZERO; 2]; bands],
            segments: segments.iter().map(Segments::new).collect(),
            ..Aggregate::default()
        }
    }

    /// Adds a batch's decisions. Segment `i` reads `segment_columns[i]`.
    pub fn add(
        &mut self,
        policy: &CompiledPolicy,
        batch: &Batch,
        d: &Decisions,
        specs: &[SegmentSpec],
        segment_columns: &[&Column],
    ) {
        let n = d.len;
        self.rows += n as u64;
        let approved_before = self.approved;
        for (rule, truth) in d.rule_truth.iter().enumerate() {
            self.failed[rule] += (truth.len() - bytecount::count(truth, TRUE)) as u64;
        }
        let last_limit = self.limit_rows.len() - 1;
        let last_band = self.band_rows.len() - 1;
        let has_bands = last_band > 0;
        let dynamic = !d.limit.is_empty();
        let exposure = match policy.exposure {
            Exposure::Column(c) => match &batch.columns[c].data {
                ColumnData::Decimal(v) => Some((v, &batch.columns[c].valid)),
                _ => None,
            },
            Exposure::Limit => None,
        };
        let rules = self.removed.len();
        // What is counted for every row — its first failing rule, whether
        // it failed alone, outcome and observed bad — is counted as one key
        // per row in a small table (the primary reason in another), and the
        // tables are added up once per batch: no branch on outcomes that
        // fall at random, and one counter to increment instead of several.
        let slots = rules + 1;
        let (mut tally, mut primaries) = (vec![0u32; slots * 12], vec![0u32; slots]);
        // Approved rows need more only with limits, repayment or exposure.
        let detail =
            last_limit > 0 || has_bands || dynamic || exposure.is_some() || !d.p.is_empty();
        for row in 0..n {
            // A row that failed no rule counts in the extra last slot.
            let first = usize::from(d.first_fail[row]).min(rules);
            let primary = usize::from(d.primary[row]).min(rules);
            let sole = usize::from(d.fail_count[row] == 1);
            let bad = usize::from(d.bad[row] == TRUE);
            let outcome = d.outcome[row];
            tally[((first * 2 + sole) * 3 + outcome as usize) * 2 + bad] += 1;
            primaries[primary] += 1;
            if detail && outcome == Outcome::Approve {
                self.add_approved(policy, d, row, exposure);
            }
        }
        self.add_tally(&tally, rules);
        for (total, &count) in self.primary.iter_mut().zip(&primaries) {
            *total += u64::from(count);
        }
        if !detail {
            // Every approved row: no limit band and no repayment band.
            let approved = self.approved - approved_before;
            self.limit_rows[last_limit] += approved;
            self.band_rows[last_band] += approved;
        }
        for ((spec, seg), column) in specs.iter().zip(&mut self.segments).zip(segment_columns) {
            for row in 0..n {
                seg.add(spec, column, row, d.outcome[row], d.bad[row] == TRUE);
            }
        }
    }

    /// What an approved row adds to its limit and repayment bands.
    fn add_approved(
        &mut self,
        policy: &CompiledPolicy,
        d: &Decisions,
        row: usize,
        exposure: Option<(&Vec<Decimal>, &Vec<bool>)>,
    ) {
        let last_limit = self.limit_rows.len() - 1;
        let last_band = self.band_rows.len() - 1;
        let limit = d.limit_band[row];
        self.limit_rows[if limit == NONE {
            last_limit
        } else {
            limit as usize
        }] += 1;
        if !d.limit.is_empty() && limit != NONE {
            self.limit_sum[limit as usize] += d.limit[row];
        }
        let band = d.outcome_band[row];
        let band = if band == NONE {
            last_band
        } else {
            band as usize
        };
        self.band_rows[band] += 1;
        let exposed = match exposure {
            Some((values, valid)) if valid[row] => values[row],
            Some(_) => {
                self.exposure_missing += 1;
                Decimal::ZERO
            }
            None if limit != NONE && last_band > 0 => match policy.limits[limit as usize].amount {
                Amount::Fixed(x) => x,
                Amount::Column(..) => d.limit[row],
            },
            None => Decimal::ZERO,
        };
        self.band_exposure[band] += exposed;
        if let Some(p) = d.p.get(row) {
            for (sum, p) in self.band_p[band].iter_mut().zip(p) {
                *sum += *p;
            }
            let [ret, def] = &mut self.band_exposure_p[band];
            *ret += exposed * p[0];
            *def += exposed * p[4];
        }
    }

    /// Adds up a batch's table of row keys (see `add`).
    fn add_tally(&mut self, tally: &[u32], rules: usize) {
        for (key, &count) in tally.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let count = u64::from(count);
            let (bad, rest) = (key % 2 == 1, key / 2);
            let (outcome, rest) = (rest % 3, rest / 3);
            let (sole, first) = (rest % 2 == 1, rest / 2);
            if first < rules {
                self.removed[first] += count;
                if sole {
                    self.sole[first] += count;
                }
            }
            match outcome {
                0 => {
                    self.approved += count;
                    if bad {
                        self.bads_approved += count;
                    }
                }
                1 => self.review += count,
                _ => self.declined += count,
            }
            if bad {
                self.bads_all += count;
            }
        }
    }

    pub fn add_skipped(&mut self, skipped: &[SkippedRow]) {
        self.skipped.add(skipped);
    }

    /// Adds `other`, which must come from the same policy and segments.
    pub fn merge(&mut self, other: &Aggregate) {
        self.rows += other.rows;
        self.approved += other.approved;
        self.review += other.review;
        self.declined += other.declined;
        add_all(&mut self.failed, &other.failed);
        add_all(&mut self.primary, &other.primary);
        add_all(&mut self.sole, &other.sole);
        add_all(&mut self.removed, &other.removed);
        add_all(&mut self.limit_rows, &other.limit_rows);
        for (a, b) in self.limit_sum.iter_mut().zip(&other.limit_sum) {
            *a += *b;
        }
        add_all(&mut self.band_rows, &other.band_rows);
        for (a, b) in self.band_exposure.iter_mut().zip(&other.band_exposure) {
            *a += *b;
        }
        for (a, b) in self.band_p.iter_mut().zip(&other.band_p) {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += *b);
        }
        for (a, b) in self.band_exposure_p.iter_mut().zip(&other.band_exposure_p) {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += *b);
        }
        self.exposure_missing += other.exposure_missing;
        self.bads_approved += other.bads_approved;
        self.bads_all += other.bads_all;
        for (a, b) in self.segments.iter_mut().zip(&other.segments) {
            a.merge(b);
        }
        self.skipped.merge(&other.skipped);
    }

    /// Sum of the exposure of approved rows: limits, or the exposure column.
    pub fn approved_exposure(&self, policy: &CompiledPolicy) -> Decimal {
        match policy.exposure {
            // Every approved row's exposure is in exactly one band's sum.
            Exposure::Column(_) => self.band_exposure.iter().sum(),
            Exposure::Limit => self.limit_exposure(policy).iter().sum(),
        }
    }

    /// Exposure per limit band (rows × amount, or the sum of computed
    /// amounts); the last entry (no band) is zero.
    pub fn limit_exposure(&self, policy: &CompiledPolicy) -> Vec<Decimal> {
        let mut out: Vec<Decimal> = policy
            .limits
            .iter()
            .zip(self.limit_rows.iter().zip(&self.limit_sum))
            .map(|(b, (rows, sum))| match b.amount {
                Amount::Fixed(x) => x * Decimal::from(*rows),
                Amount::Column(..) => *sum,
            })
            .collect();
        out.push(Decimal::ZERO);
        out
    }
}

fn add_all(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}
