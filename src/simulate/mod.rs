//! `simulate`: one pass over a dataset, folding decisions into a report.

pub mod aggregate;
pub mod report;
pub mod segment;

use crate::dataset::batch::{Batch, Parser};
use crate::dataset::stream::{self, Input, StreamOptions};
use crate::engine::{Decisions, Evaluator};
use crate::error::Result;
use crate::policy::CompiledPolicy;
use aggregate::Aggregate;
use report::SimulationReport;
use segment::SegmentSpec;

/// What to compute besides the headline metrics.
#[derive(Debug, Clone, Default)]
pub struct SimulateOptions {
    pub segments: Vec<SegmentSpec>,
    /// Count and skip malformed rows instead of stopping at the first.
    pub skip_bad_rows: bool,
    pub stream: StreamOptions,
}

/// Runs `policy` over `input` and builds the report.
pub fn run(
    policy: &CompiledPolicy,
    input: Input,
    options: &SimulateOptions,
) -> Result<SimulationReport> {
    let (total, summary) = aggregate(policy, input, options)?;
    Ok(SimulationReport::build(
        policy,
        &total,
        &options.segments,
        summary.data_sha256,
        None,
    ))
}

/// The pass itself: the merged aggregate and what was learned about the input.
pub fn aggregate(
    policy: &CompiledPolicy,
    input: Input,
    options: &SimulateOptions,
) -> Result<(Aggregate, stream::StreamSummary)> {
    let specs = &options.segments;
    let mut columns = policy.columns.clone();
    let segment_base = columns.len();
    columns.extend(specs.iter().map(SegmentSpec::column));

    let mut total = Aggregate::new(policy, specs);
    let summary = stream::run(
        input,
        &columns,
        &options.stream,
        |schema| {
            (
                Parser::default(),
                Batch::new(schema),
                Evaluator::new(policy),
                Decisions::default(),
                Vec::new(),
            )
        },
        |(parser, batch, evaluator, decisions, skipped), chunk, schema| {
            skipped.clear();
            parser.parse(chunk, schema, options.skip_bad_rows, batch, skipped)?;
            evaluator.evaluate(batch, decisions);
            let mut agg = Aggregate::new(policy, specs);
            agg.add(policy, batch, decisions, specs, segment_base);
            agg.add_skipped(skipped);
            Ok(agg)
        },
        |agg| {
            total.merge(&agg);
            Ok(())
        },
    )?;
    Ok((total, summary))
}
