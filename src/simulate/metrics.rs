//! The metrics of one policy's decisions: small accumulators, each a count
//! or an exact decimal sum, so merging is associative and commutative and
//! the totals do not depend on how the data was chunked or which thread did
//! what. [`Metrics`] is all of them: what the whole report and every
//! segment of it hold.
//!
//! Money is summed per band (rows per limit band, exposure per repayment
//! band) and multiplied by amounts and probabilities once, in the report:
//! exact, and it keeps decimal work out of the per-row loop.

use crate::engine::kernels::{TRUE, UNKNOWN};
use crate::engine::pass::{Accumulator, Chunk, Rows, same};
use crate::engine::{Decisions, Outcome};
use crate::error::Result;
use crate::policy::CompiledPolicy;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Rows by outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcomes {
    pub rows: u64,
    pub approved: u64,
    pub review: u64,
    pub declined: u64,
}

impl Outcomes {
    pub fn add(&mut self, d: &Decisions, rows: Rows) {
        let mut counts = [0u64; 3];
        match rows {
            Rows::All(n) => {
                let bytes = outcome_bytes(&d.outcome[..n]);
                counts[0] = bytecount::count(bytes, Outcome::Approve as u8) as u64;
                counts[1] = bytecount::count(bytes, Outcome::Review as u8) as u64;
                counts[2] = (n as u64) - counts[0] - counts[1];
            }
            Rows::Only(_) => rows.for_each(|row| counts[d.outcome[row] as usize] += 1),
        }
        self.rows += rows.len() as u64;
        self.approved += counts[Outcome::Approve as usize];
        self.review += counts[Outcome::Review as usize];
        self.declined += counts[Outcome::Decline as usize];
    }

    #[inline]
    pub(crate) fn add_row(&mut self, d: &Decisions, row: usize) {
        self.rows += 1;
        match d.outcome[row] {
            Outcome::Approve => self.approved += 1,
            Outcome::Review => self.review += 1,
            Outcome::Decline => self.declined += 1,
        }
    }

    pub fn merge(&mut self, o: &Outcomes) {
        self.rows += o.rows;
        self.approved += o.approved;
        self.review += o.review;
        self.declined += o.declined;
    }
}

/// Per rule: rows where it failed, was the primary reason, was the only one
/// to fail, and rows it removes when rules apply in order (the waterfall).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reasons {
    pub failed: Vec<u64>,
    pub primary: Vec<u64>,
    pub sole: Vec<u64>,
    pub removed: Vec<u64>,
}

impl Reasons {
    pub fn new(rules: usize) -> Reasons {
        Reasons {
            failed: vec![0; rules],
            primary: vec![0; rules],
            sole: vec![0; rules],
            removed: vec![0; rules],
        }
    }

    pub fn add(&mut self, d: &Decisions, rows: Rows) {
        let rules = self.failed.len();
        match rows {
            Rows::All(n) => {
                for (failed, truth) in self.failed.iter_mut().zip(&d.rule_truth) {
                    *failed += (n - bytecount::count(&truth[..n], TRUE)) as u64;
                }
            }
            Rows::Only(_) => {
                for (failed, truth) in self.failed.iter_mut().zip(&d.rule_truth) {
                    let mut count = 0;
                    rows.for_each(|row| count += u64::from(truth[row] != TRUE));
                    *failed += count;
                }
            }
        }
        // One slot more than rules: rows that failed none count there.
        let mut primary = vec![0u32; rules + 1];
        let mut first = vec![0u32; (rules + 1) * 2];
        rows.for_each(|row| {
            primary[usize::from(d.primary[row]).min(rules)] += 1;
            let sole = usize::from(d.fail_count[row] == 1);
            first[usize::from(d.first_fail[row]).min(rules) * 2 + sole] += 1;
        });
        for rule in 0..rules {
            self.primary[rule] += u64::from(primary[rule]);
            self.removed[rule] += u64::from(first[rule * 2] + first[rule * 2 + 1]);
            self.sole[rule] += u64::from(first[rule * 2 + 1]);
        }
    }

    #[inline]
    pub(crate) fn add_row(&mut self, d: &Decisions, row: usize) {
        for (failed, truth) in self.failed.iter_mut().zip(&d.rule_truth) {
            *failed += u64::from(truth[row] != TRUE);
        }
        if let Some(p) = self.primary.get_mut(usize::from(d.primary[row])) {
            *p += 1;
        }
        let first = usize::from(d.first_fail[row]);
        if let Some(removed) = self.removed.get_mut(first) {
            *removed += 1;
            self.sole[first] += u64::from(d.fail_count[row] == 1);
        }
    }

    pub fn merge(&mut self, o: &Reasons) -> Result<()> {
        same("rules", &self.failed.len(), &o.failed.len())?;
        add_all(&mut self.failed, &o.failed);
        add_all(&mut self.primary, &o.primary);
        add_all(&mut self.sole, &o.sole);
        add_all(&mut self.removed, &o.removed);
        Ok(())
    }
}

/// Approved rows per limit band (the last entry: no band matched), and the
/// sum of the limits of bands whose amount is computed per row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub rows: Vec<u64>,
    pub sum: Vec<Decimal>,
}

impl Limits {
    pub fn new(bands: usize) -> Limits {
        Limits {
            rows: vec![0; bands + 1],
            sum: vec![Decimal::ZERO; bands + 1],
        }
    }

    pub fn add(&mut self, d: &Decisions, rows: Rows) {
        self.add_approved(&Approved::new(d, rows));
    }

    /// Adds the approved rows of a batch.
    pub fn add_approved(&mut self, approved: &Approved) {
        let last = self.rows.len() - 1;
        if last == 0 {
            // No limit bands: every approved row is in the one slot.
            self.rows[0] += approved.count();
            return;
        }
        let d = approved.d;
        let dynamic = !d.limit.is_empty();
        for &row in approved.rows() {
            let row = row as usize;
            let band = usize::from(d.limit_band[row]).min(last);
            self.rows[band] += 1;
            if dynamic && band < last {
                self.sum[band] += d.limit[row];
            }
        }
    }

    pub fn merge(&mut self, o: &Limits) -> Result<()> {
        same("limit bands", &self.rows.len(), &o.rows.len())?;
        add_all(&mut self.rows, &o.rows);
        add_sums(&mut self.sum, &o.sum);
        Ok(())
    }
}

/// Per repayment band (the last entry: approved rows no band matched):
/// approved rows and their exposure; for bands whose probabilities are
/// computed per row, the sum of each outcome's probability, of p(default)²
/// (for the variance of the defaults) and of exposure × p(returned) and
/// exposure × p(default); and the backtest: observed bads and observed
/// outcomes (`observed.outcome`) among the band's approved rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepaymentSums {
    pub rows: Vec<u64>,
    pub exposure: Vec<Decimal>,
    pub p: Vec<[Decimal; 5]>,
    pub p_default_sq: Vec<Decimal>,
    pub exposure_p: Vec<[Decimal; 2]>,
    /// Approved rows whose exposure cell was empty (counted as zero).
    pub exposure_missing: u64,
    pub bads: Vec<u64>,
    /// Per band, approved rows whose `observed.bad` is unknown (an empty
    /// cell), and for a band that computes its probabilities, the sum of
    /// their p(default) and p(default)²: the backtest leaves them out.
    #[serde(default)]
    pub bads_unknown: Vec<u64>,
    #[serde(default)]
    pub unknown_p_default: Vec<[Decimal; 2]>,
    /// Per band, approved rows by observed outcome (`returned, early,
    /// on_time, late, default`, then unknown).
    pub observed: Vec<[u64; 6]>,
}

impl RepaymentSums {
    pub fn new(bands: usize) -> RepaymentSums {
        RepaymentSums {
            rows: vec![0; bands + 1],
            exposure: vec![Decimal::ZERO; bands + 1],
            p: vec![[Decimal::ZERO; 5]; bands + 1],
            p_default_sq: vec![Decimal::ZERO; bands + 1],
            exposure_p: vec![[Decimal::ZERO; 2]; bands + 1],
            exposure_missing: 0,
            bads: vec![0; bands + 1],
            bads_unknown: vec![0; bands + 1],
            unknown_p_default: vec![[Decimal::ZERO; 2]; bands + 1],
            observed: vec![[0; 6]; bands + 1],
        }
    }

    pub fn add(&mut self, d: &Decisions, rows: Rows) {
        self.add_approved(&Approved::new(d, rows));
    }

    /// Adds the approved rows of a batch.
    pub fn add_approved(&mut self, approved: &Approved) {
        let last = self.rows.len() - 1;
        if last == 0 {
            // No repayment model: every approved row is unmodelled.
            self.rows[0] += approved.count();
            return;
        }
        let d = approved.d;
        let money = !d.exposure.is_empty();
        let observed = !d.observed_outcome.is_empty();
        for &row in approved.rows() {
            let row = row as usize;
            let band = usize::from(d.outcome_band[row]).min(last);
            self.rows[band] += 1;
            self.bads[band] += u64::from(d.bad[row] == TRUE);
            if d.bad[row] == UNKNOWN {
                self.bads_unknown[band] += 1;
                if let Some(p) = d.p.get(row) {
                    let [sum, sq] = &mut self.unknown_p_default[band];
                    *sum += p[4];
                    *sq += p[4] * p[4];
                }
            }
            if observed {
                self.observed[band][usize::from(d.observed_outcome[row])] += 1;
            }
            if money {
                self.add_exposure(d, row, last);
            }
        }
    }

    /// What an approved row adds to its band's exposure and probabilities.
    #[inline(always)]
    fn add_exposure(&mut self, d: &Decisions, row: usize, last: usize) {
        let band = usize::from(d.outcome_band[row]).min(last);
        let exposed = if d.exposure_valid[row] {
            d.exposure[row]
        } else {
            self.exposure_missing += 1;
            Decimal::ZERO
        };
        self.exposure[band] += exposed;
        if let Some(p) = d.p.get(row) {
            for (sum, p) in self.p[band].iter_mut().zip(p) {
                *sum += *p;
            }
            self.p_default_sq[band] += p[4] * p[4];
            let [returned, default] = &mut self.exposure_p[band];
            *returned += exposed * p[0];
            *default += exposed * p[4];
        }
    }

    /// `self` less `o`, a part of it (exact: the sums are decimals).
    pub fn minus(&self, o: &RepaymentSums) -> RepaymentSums {
        let sub = |a: &[Decimal], b: &[Decimal]| -> Vec<Decimal> {
            a.iter().zip(b).map(|(x, y)| x - y).collect()
        };
        RepaymentSums {
            rows: self.rows.iter().zip(&o.rows).map(|(x, y)| x - y).collect(),
            exposure: sub(&self.exposure, &o.exposure),
            p: self
                .p
                .iter()
                .zip(&o.p)
                .map(|(x, y)| std::array::from_fn(|k| x[k] - y[k]))
                .collect(),
            p_default_sq: sub(&self.p_default_sq, &o.p_default_sq),
            exposure_p: self
                .exposure_p
                .iter()
                .zip(&o.exposure_p)
                .map(|(x, y)| std::array::from_fn(|k| x[k] - y[k]))
                .collect(),
            exposure_missing: self.exposure_missing - o.exposure_missing,
            bads: self.bads.iter().zip(&o.bads).map(|(x, y)| x - y).collect(),
            bads_unknown: self
                .bads_unknown
                .iter()
                .zip(&o.bads_unknown)
                .map(|(x, y)| x - y)
                .collect(),
            unknown_p_default: self
                .unknown_p_default
                .iter()
                .zip(&o.unknown_p_default)
                .map(|(x, y)| std::array::from_fn(|k| x[k] - y[k]))
                .collect(),
            observed: self
                .observed
                .iter()
                .zip(&o.observed)
                .map(|(x, y)| std::array::from_fn(|k| x[k] - y[k]))
                .collect(),
        }
    }

    pub fn merge(&mut self, o: &RepaymentSums) -> Result<()> {
        same("repayment bands", &self.rows.len(), &o.rows.len())?;
        add_all(&mut self.rows, &o.rows);
        add_sums(&mut self.exposure, &o.exposure);
        for (a, b) in self.p.iter_mut().zip(&o.p) {
            add_sums(a, b);
        }
        add_sums(&mut self.p_default_sq, &o.p_default_sq);
        for (a, b) in self.exposure_p.iter_mut().zip(&o.exposure_p) {
            add_sums(a, b);
        }
        self.exposure_missing += o.exposure_missing;
        add_all(&mut self.bads, &o.bads);
        add_all(&mut self.bads_unknown, &o.bads_unknown);
        for (a, b) in self.unknown_p_default.iter_mut().zip(&o.unknown_p_default) {
            add_sums(a, b);
        }
        for (a, b) in self.observed.iter_mut().zip(&o.observed) {
            add_all(a, b);
        }
        Ok(())
    }
}

/// Observed bads (`observed.bad`) among approved rows, and among all rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub approved: u64,
    pub all: u64,
}

impl Observed {
    pub fn add(&mut self, d: &Decisions, rows: Rows) {
        let (mut approved, mut all) = (0, 0);
        match rows {
            Rows::All(n) => {
                all = bytecount::count(&d.bad[..n], TRUE) as u64;
                // Without `observed` (or bads) there is nothing to pair.
                approved = if all == 0 {
                    0
                } else {
                    d.bad[..n]
                        .iter()
                        .zip(&d.outcome[..n])
                        .map(|(b, o)| u64::from((*b == TRUE) & (*o == Outcome::Approve)))
                        .sum()
                };
            }
            Rows::Only(_) => rows.for_each(|row| {
                let bad = u64::from(d.bad[row] == TRUE);
                all += bad;
                approved += bad & u64::from(d.outcome[row] == Outcome::Approve);
            }),
        }
        self.approved += approved;
        self.all += all;
    }

    #[inline]
    pub(crate) fn add_row(&mut self, d: &Decisions, row: usize) {
        let bad = u64::from(d.bad[row] == TRUE);
        self.all += bad;
        self.approved += bad & u64::from(d.outcome[row] == Outcome::Approve);
    }

    pub fn merge(&mut self, o: &Observed) {
        self.approved += o.approved;
        self.all += o.all;
    }
}

/// Everything the report says of one policy's decisions, over all rows or
/// one segment's: the same metrics for both, money included.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The policy of the plan whose decisions these are.
    pub policy: usize,
    pub outcomes: Outcomes,
    pub reasons: Reasons,
    pub limits: Limits,
    pub repayment: RepaymentSums,
    pub observed: Observed,
}

impl Metrics {
    pub fn new(index: usize, policy: &CompiledPolicy) -> Metrics {
        let bands = policy.repayment.as_ref().map_or(0, |r| r.bands.len());
        Metrics {
            policy: index,
            outcomes: Outcomes::default(),
            reasons: Reasons::new(policy.rules.len()),
            limits: Limits::new(policy.limits.len()),
            repayment: RepaymentSums::new(bands),
            observed: Observed::default(),
        }
    }

    /// Folds in `rows` of one batch of decisions: all of them a count at a
    /// time (each in its fastest loop), or a segment's row by row, every
    /// count in one loop; then the approved rows' limits and money.
    pub fn add_decisions(&mut self, d: &Decisions, rows: Rows) {
        match rows {
            Rows::All(_) => {
                self.outcomes.add(d, rows);
                self.reasons.add(d, rows);
                self.observed.add(d, rows);
            }
            Rows::Only(list) => {
                for &row in list {
                    let row = row as usize;
                    self.outcomes.add_row(d, row);
                    self.reasons.add_row(d, row);
                    self.observed.add_row(d, row);
                }
            }
        }
        // Limits and repayment read only approved rows: gathered once, if
        // either has bands to put them in.
        let approved = Approved::new(d, rows);
        self.limits.add_approved(&approved);
        self.repayment.add_approved(&approved);
    }
}

impl Accumulator for Metrics {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        self.add_decisions(&chunk.decisions[self.policy], rows);
    }

    fn merge(&mut self, o: &Metrics) -> Result<()> {
        same("policies", &self.policy, &o.policy)?;
        self.outcomes.merge(&o.outcomes);
        self.reasons.merge(&o.reasons)?;
        self.limits.merge(&o.limits)?;
        self.repayment.merge(&o.repayment)?;
        self.observed.merge(&o.observed);
        Ok(())
    }
}

/// The approved rows of a batch's `rows`, for the accumulators that read
/// only those: counted (with SIMD) when that is all they need, gathered
/// once, without a branch on the outcome, when they visit them (approvals
/// fall at random, so a branch would mispredict a third of the time).
pub struct Approved<'a> {
    pub d: &'a Decisions,
    rows: Rows<'a>,
    list: std::cell::OnceCell<Vec<u32>>,
}

impl<'a> Approved<'a> {
    pub fn new(d: &'a Decisions, rows: Rows<'a>) -> Approved<'a> {
        Approved {
            d,
            rows,
            list: std::cell::OnceCell::new(),
        }
    }

    pub fn count(&self) -> u64 {
        if let Some(list) = self.list.get() {
            return list.len() as u64;
        }
        let d = self.d;
        match self.rows {
            Rows::All(n) => {
                bytecount::count(outcome_bytes(&d.outcome[..n]), Outcome::Approve as u8) as u64
            }
            Rows::Only(_) => {
                let mut n = 0;
                self.rows
                    .for_each(|row| n += u64::from(d.outcome[row] == Outcome::Approve));
                n
            }
        }
    }

    pub fn rows(&self) -> &[u32] {
        self.list.get_or_init(|| {
            let d = self.d;
            let mut out = vec![0u32; self.rows.len() + 1];
            let mut n = 0;
            self.rows.for_each(|row| {
                out[n] = row as u32;
                n += usize::from(d.outcome[row] == Outcome::Approve);
            });
            out.truncate(n);
            out
        })
    }
}

/// Outcomes as their bytes, to count with SIMD.
fn outcome_bytes(o: &[Outcome]) -> &[u8] {
    // SAFETY: `Outcome` is `repr(u8)`, so a slice of them is a slice of bytes.
    unsafe { std::slice::from_raw_parts(o.as_ptr().cast::<u8>(), o.len()) }
}

pub fn add_all(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

pub fn add_sums(a: &mut [Decimal], b: &[Decimal]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}
