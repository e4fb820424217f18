//! `simulate`: the headline report, a sink on the pass.

pub mod metrics;
pub mod report;
pub mod segmented;
pub mod sweep;

use crate::dataset::batch::SkippedRows;
use crate::dataset::stream::{Input, StreamSummary};
use crate::engine::pass::{self, Accumulator, Chunk, PassOptions, Plan, Rows, same};
use crate::error::Result;
use metrics::Metrics;
use report::SimulationReport;
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
            plan: plan.fingerprint(),
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

/// Runs the plan's first policy over `input` and builds its report.
pub fn run(plan: &Plan, input: Input, options: &PassOptions) -> Result<SimulationReport> {
    let (total, summary) = simulate(plan, input, options)?;
    Ok(SimulationReport::build(
        plan,
        0,
        &total,
        summary.data_sha256,
        None,
    ))
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
mod tests {
    use super::*;
    use crate::policy::compile_file;
    use proptest::prelude::*;
    use std::path::Path;
    use std::sync::OnceLock;

    fn data() -> &'static [u8] {
        static DATA: OnceLock<Vec<u8>> = OnceLock::new();
        DATA.get_or_init(|| {
            let mut out = Vec::new();
            crate::synthetic::write_dataset(&mut out, 3000, 11).unwrap();
            out
        })
    }

    fn aggregate_with(chunk_size: usize, threads: usize) -> Aggregate {
        let policy = compile_file(Path::new("policies/merchant_review.yaml"), &[]).unwrap();
        let options = SimulateOptions {
            segments: vec![
                SegmentSpec::parse("scenario").unwrap(),
                SegmentSpec::parse("zhima_score:600,700").unwrap(),
            ],
            skip_bad_rows: false,
            stream: StreamOptions {
                threads,
                chunk_size,
                ..StreamOptions::default()
            },
        };
        aggregate(
            &policy,
            Input::from_bytes("t.csv", data().to_vec()),
            &options,
        )
        .unwrap()
        .0
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// However the data is chunked and however many threads run, the totals are the same.
        #[test]
        fn totals_do_not_depend_on_chunking_or_threads(chunk_size in 40usize..200_000, threads in 1usize..5) {
            let reference = aggregate_with(1 << 20, 1);
            prop_assert_eq!(reference.rows, 3000);
            prop_assert_eq!(aggregate_with(chunk_size, threads), reference);
        }
    }

    #[test]
    fn merging_is_order_independent() {
        let policy = compile_file(Path::new("policies/jd_plus.yaml"), &[]).unwrap();
        let specs = [SegmentSpec::parse("city_tier").unwrap()];
        let mut parts = Vec::new();
        let options = SimulateOptions {
            segments: specs.to_vec(),
            stream: StreamOptions {
                threads: 1,
                chunk_size: 4096,
                ..StreamOptions::default()
            },
            ..Default::default()
        };
        let mut columns = policy.columns.clone();
        columns.extend(specs.iter().map(SegmentSpec::column));
        crate::dataset::stream::run(
            Input::from_bytes("t.csv", data().to_vec()),
            &columns,
            &options.stream,
            |schema| {
                (
                    Parser::default(),
                    Batch::new(schema),
                    Evaluator::new(&policy),
                    Decisions::default(),
                )
            },
            |(p, b, e, d), chunk, schema| {
                p.parse(chunk, schema, false, b, &mut Vec::new())?;
                e.evaluate(b, d)?;
                let mut agg = Aggregate::new(&policy, &specs);
                agg.add(&policy, b, d, &specs, &[&b.columns[policy.columns.len()]]);
                Ok(agg)
            },
            |agg| {
                parts.push(agg);
                Ok(())
            },
        )
        .unwrap();
        assert!(parts.len() > 10);
        let fold = |order: &mut dyn Iterator<Item = &Aggregate>| {
            let mut total = Aggregate::new(&policy, &specs);
            order.for_each(|a| total.merge(a));
            total
        };
        let forward = fold(&mut parts.iter());
        let backward = fold(&mut parts.iter().rev());
        assert_eq!(forward, backward);
        assert_eq!(forward.rows, 3000);
    }
}
