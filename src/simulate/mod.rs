//! The accumulators every report is made of, and `simulate`'s state: a
//! sink on the pass.

pub mod compare;
pub mod expected;
pub mod metrics;
pub mod segmented;
pub mod swap;
pub mod sweep;
pub mod trials;

use crate::dataset::batch::SkippedRows;
use crate::dataset::stream::{Input, StreamSummary};
use crate::engine::pass::{self, Accumulator, Chunk, PassOptions, Plan, Rows, same};
use crate::error::Result;
use metrics::Metrics;
use segmented::Segmented;
use serde::{Deserialize, Serialize};
use trials::{TrialSpec, Trials};

/// One policy's report state: its metrics over all rows and per segment,
/// and the rows skipped as malformed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// The plan's [`Plan::fingerprint`]: partials of other plans do not merge.
    pub plan: String,
    pub whole: Metrics,
    pub segments: Vec<Segmented<Metrics>>,
    pub skipped: SkippedRows,
    /// The Monte Carlo's per-trial totals, with `--trials`.
    pub trials: Option<Trials>,
}

impl Simulation {
    /// The empty state of the plan's policy `index`.
    pub fn new(plan: &Plan, index: usize) -> Simulation {
        let whole = Metrics::new(index, &plan.policies[index]);
        Simulation {
            plan: plan.fingerprint().to_owned(),
            segments: (0..plan.segments.len())
                .map(|s| Segmented::new(s, whole.clone()))
                .collect(),
            whole,
            skipped: SkippedRows::default(),
            trials: None,
        }
    }

    /// [`Simulation::new`], drawing `spec`'s trials when given.
    pub fn with_trials(plan: &Plan, index: usize, spec: Option<TrialSpec>) -> Simulation {
        Simulation {
            trials: spec.map(|spec| Trials::new(index, &plan.policies[index], spec)),
            ..Simulation::new(plan, index)
        }
    }
}

impl Accumulator for Simulation {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        self.whole.add(chunk, rows);
        for s in &mut self.segments {
            s.add(chunk, rows);
        }
        self.skipped.add(chunk.skipped);
        if let Some(t) = &mut self.trials {
            t.add(chunk, rows);
        }
    }

    fn merge(&mut self, other: &Simulation) -> Result<()> {
        same("plans", &self.plan, &other.plan)?;
        self.whole.merge(&other.whole)?;
        for (a, b) in self.segments.iter_mut().zip(&other.segments) {
            a.merge(b)?;
        }
        self.skipped.merge(&other.skipped);
        match (&mut self.trials, &other.trials) {
            (Some(a), Some(b)) => a.merge(b)?,
            (None, None) => {}
            _ => return Err(pass::plan_mismatch("trials")),
        }
        Ok(())
    }
}

/// The pass itself, with the report's manifest naming the data by its hash:
/// the merged state and what was learned about the input.
pub fn simulate(
    plan: &Plan,
    input: Input,
    options: &PassOptions,
    trials: Option<TrialSpec>,
) -> Result<(Simulation, StreamSummary)> {
    let options = PassOptions {
        stream: crate::dataset::stream::StreamOptions {
            hash: true,
            ..options.stream.clone()
        },
        ..options.clone()
    };
    // Every partial starts as a copy of the empty state: the trials'
    // model (keys, factors, thresholds) is made once.
    let empty = Simulation::with_trials(plan, 0, trials);
    let mut total = empty.clone();
    let summary = pass::run(
        plan,
        input,
        &options,
        || empty.clone(),
        |part| total.merge(&part),
    )?;
    Ok((total, summary))
}

#[cfg(test)]
mod merge_law_tests;
