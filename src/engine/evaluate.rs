//! A compiled policy × a batch → one decision per row. Pure: no IO.
//!
//! Rules are evaluated column-wise (each rule over the whole batch), then the
//! per-row facts the reports need are derived in a few tight passes: the
//! outcome, the first failing rule (the primary reason), how many rules
//! failed (to find the rows where a rule is the sole reason), the limit band
//! and whether the row is an observed bad.

use super::kernels::{self, Scratch, TRUE};
use crate::dataset::batch::Batch;
use crate::policy::CompiledPolicy;
use crate::policy::condition::Cond;
use crate::policy::model::Action;

/// The outcome of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Outcome {
    Approve = 0,
    Review = 1,
    Decline = 2,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Approve => "approve",
            Outcome::Review => "review",
            Outcome::Decline => "decline",
        }
    }
}

/// "No rule" / "no band".
pub const NONE: u16 = u16::MAX;

/// The decisions for one batch. Reused from batch to batch.
#[derive(Default)]
pub struct Decisions {
    pub len: usize,
    pub outcome: Vec<Outcome>,
    /// Per rule, per row: the rule's truth value (it passes only on TRUE).
    pub rule_truth: Vec<Vec<u8>>,
    /// Index of the first failing rule, or [`NONE`]: where the waterfall removes the row.
    pub first_fail: Vec<u16>,
    /// The primary reason: the first failing rule of the action that decided
    /// the outcome (a decline rule for a declined row), or [`NONE`].
    pub primary: Vec<u16>,
    pub fail_count: Vec<u16>,
    /// Index of the limit band of an approved row, or [`NONE`].
    pub limit_band: Vec<u16>,
    /// Index of the repayment outcome band of an approved row, or [`NONE`].
    pub outcome_band: Vec<u16>,
    /// TRUE where the row is an observed bad (`observed.bad` holds).
    pub bad: Vec<u8>,
}

impl Decisions {
    /// Whether rule `rule` failed on `row`.
    pub fn failed(&self, rule: usize, row: usize) -> bool {
        self.rule_truth[rule][row] != TRUE
    }
}

/// Evaluates batches against one policy; keep one per worker.
pub struct Evaluator<'p> {
    policy: &'p CompiledPolicy,
    scratch: Scratch,
    band: Vec<u8>,
    declined: Vec<bool>,
    reviewed: Vec<bool>,
    first_decline: Vec<u16>,
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p CompiledPolicy) -> Self {
        Evaluator {
            policy,
            scratch: Scratch::default(),
            band: Vec::new(),
            declined: Vec::new(),
            reviewed: Vec::new(),
            first_decline: Vec::new(),
        }
    }

    pub fn evaluate(&mut self, batch: &Batch, d: &mut Decisions) {
        let n = batch.len;
        let rules = &self.policy.rules;
        d.len = n;
        d.rule_truth.resize_with(rules.len(), Vec::new);
        for (rule, truth) in rules.iter().zip(&mut d.rule_truth) {
            kernels::eval(&rule.cond, batch, truth, &mut self.scratch);
        }

        reset(&mut d.first_fail, n, NONE);
        reset(&mut self.first_decline, n, NONE);
        reset(&mut d.fail_count, n, 0);
        reset(&mut self.declined, n, false);
        reset(&mut self.reviewed, n, false);
        for (i, rule) in rules.iter().enumerate().rev() {
            let truth = &d.rule_truth[i];
            let decline = rule.action == Action::Decline;
            let stop = if decline {
                &mut self.declined
            } else {
                &mut self.reviewed
            };
            let rows = truth
                .iter()
                .zip(&mut d.first_fail)
                .zip(&mut d.fail_count)
                .zip(stop.iter_mut());
            for (((truth, first), count), stop) in rows {
                let failed = *truth != TRUE;
                *first = if failed { i as u16 } else { *first };
                *count += u16::from(failed);
                *stop |= failed;
            }
            if decline {
                for (first, t) in self.first_decline.iter_mut().zip(truth) {
                    if *t != TRUE {
                        *first = i as u16;
                    }
                }
            }
        }
        d.outcome.clear();
        d.outcome
            .extend(self.declined.iter().zip(&self.reviewed).map(|(dec, rev)| {
                if *dec {
                    Outcome::Decline
                } else if *rev {
                    Outcome::Review
                } else {
                    Outcome::Approve
                }
            }));

        d.primary.clear();
        d.primary.extend(
            d.outcome
                .iter()
                .zip(self.first_decline.iter().zip(&d.first_fail))
                .map(
                    |(o, (dec, first))| {
                        if *o == Outcome::Decline { *dec } else { *first }
                    },
                ),
        );

        let limits = self.policy.limits.iter().map(|b| b.cond.as_ref());
        self.first_band(limits, batch, &d.outcome, &mut d.limit_band);
        let outcomes = self
            .policy
            .repayment
            .iter()
            .flat_map(|r| &r.bands)
            .map(|b| b.cond.as_ref());
        self.first_band(outcomes, batch, &d.outcome, &mut d.outcome_band);

        match &self.policy.observed {
            Some(cond) => kernels::eval(cond, batch, &mut d.bad, &mut self.scratch),
            None => reset(&mut d.bad, n, 0),
        }
    }
}

impl Evaluator<'_> {
    /// For each approved row, the first band whose condition holds (`None`: always holds).
    fn first_band<'c>(
        &mut self,
        bands: impl Iterator<Item = Option<&'c Cond>>,
        batch: &Batch,
        outcome: &[Outcome],
        out: &mut Vec<u16>,
    ) {
        let n = batch.len;
        reset(out, n, NONE);
        for (b, cond) in bands.enumerate() {
            match cond {
                Some(cond) => kernels::eval(cond, batch, &mut self.band, &mut self.scratch),
                None => reset(&mut self.band, n, TRUE),
            }
            for row in 0..n {
                if out[row] == NONE && outcome[row] == Outcome::Approve && self.band[row] == TRUE {
                    out[row] = b as u16;
                }
            }
        }
    }
}

fn reset<T: Copy>(v: &mut Vec<T>, len: usize, value: T) {
    v.clear();
    v.resize(len, value);
}
