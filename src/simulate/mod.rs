//! The accumulators every report is made of, and `simulate`'s state: a
//! sink on the pass.

pub mod compare;
pub mod expected;
pub mod metrics;
pub mod segmented;
pub mod swap;
pub mod sweep;

use crate::dataset::batch::SkippedRows;
use crate::dataset::stream::{Input, StreamSummary};
use crate::engine::pass::{self, Accumulator, Chunk, PassOptions, Plan, Rows, same};
use crate::error::Result;
use metrics::Metrics;
use segmented::Segmented;
use serde::{Deserialize, Serialize};

/// One policy's report state: its metrics over all rows and per segment,
/// and the rows skipped as malformed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// The plan's [`Plan::fingerprint`]: partials of other plans do not merge.
    pub plan: String,
    pub whole: Metrics,
    pub segments: Vec<Segmented<Metrics>>,
    pub skipped: SkippedRows,
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
    }

    fn merge(&mut self, other: &Simulation) -> Result<()> {
        same("plans", &self.plan, &other.plan)?;
        self.whole.merge(&other.whole)?;
        for (a, b) in self.segments.iter_mut().zip(&other.segments) {
            a.merge(b)?;
        }
        self.skipped.merge(&other.skipped);
        Ok(())
    }
}

/// The pass itself, with the report's manifest naming the data by its hash:
/// the merged state and what was learned about the input.
pub fn simulate(
    plan: &Plan,
    input: Input,
    options: &PassOptions,
) -> Result<(Simulation, StreamSummary)> {
    let options = PassOptions {
        stream: crate::dataset::stream::StreamOptions {
            hash: true,
            ..options.stream.clone()
        },
        ..options.clone()
    };
    let mut total = Simulation::new(plan, 0);
    let summary = pass::run(
        plan,
        input,
        &options,
        || Simulation::new(plan, 0),
        |part| total.merge(&part),
    )?;
    Ok((total, summary))
}

#[cfg(test)]
mod merge_law_tests;
