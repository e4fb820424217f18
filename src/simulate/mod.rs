//! `simulate`: one pass over a dataset, folding decisions into a report.

pub mod aggregate;
pub mod report;
pub mod segment;

use crate::dataset::batch::{Batch, Column, Parser};
use crate::dataset::stream::{self, Input, StreamOptions};
use crate::engine::{Decisions, Evaluator};
use crate::error::Result;
use crate::policy::CompiledPolicy;
use aggregate::Aggregate;
use report::SimulationReport;
use segment::SegmentSpec;

/// Where a segment's values come from.
enum Source {
    Parsed(usize),
    /// A derived column, read as it is or (to bin a bool) converted.
    Derived {
        index: usize,
        convert: bool,
    },
}

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
    // The report's manifest names the data by its hash.
    let stream_options = StreamOptions {
        hash: true,
        tolerate_change: options.skip_bad_rows,
        worker_stack: policy.worker_stack(),
        ..options.stream.clone()
    };
    let mut columns = policy.columns.clone();
    // A segment by a derived field reads the evaluator's column; any other is parsed.
    let sources: Vec<Source> = specs
        .iter()
        .map(|spec| match policy.derived_index(&spec.field) {
            Some(k) => Source::Derived {
                index: k,
                convert: policy.derived[k].ty != spec.ty,
            },
            None => {
                columns.push(spec.column());
                Source::Parsed(columns.len() - 1)
            }
        })
        .collect();

    let mut total = Aggregate::new(policy, specs);
    let summary = stream::run(
        input,
        &columns,
        &stream_options,
        |schema| {
            (
                Parser::default(),
                Batch::new(schema),
                Evaluator::new(policy).source(&schema.source),
                Decisions::default(),
                Vec::new(),
                specs
                    .iter()
                    .map(|s| Column::new(s.column().ty))
                    .collect::<Vec<_>>(),
            )
        },
        |(parser, batch, evaluator, decisions, skipped, derived_segments), chunk, schema| {
            skipped.clear();
            parser.parse(chunk, schema, options.skip_bad_rows, batch, skipped)?;
            evaluator.evaluate(batch, decisions)?;
            for (source, out) in sources.iter().zip(derived_segments.iter_mut()) {
                if let Source::Derived {
                    index,
                    convert: true,
                } = source
                {
                    segment::derived_column(&evaluator.derived()[*index], out);
                }
            }
            let segment_columns: Vec<&Column> = sources
                .iter()
                .zip(derived_segments.iter())
                .map(|(source, derived)| match source {
                    Source::Parsed(i) => &batch.columns[*i],
                    Source::Derived {
                        index,
                        convert: false,
                    } => &evaluator.derived()[*index],
                    Source::Derived { .. } => derived,
                })
                .collect();
            let mut agg = Aggregate::new(policy, specs);
            agg.add(policy, batch, decisions, specs, &segment_columns);
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
