//! The one pass over the data that every command plugs into.
//!
//! A [`Plan`] is N compiled policies (a champion and a challenger, N sweep
//! variants, or just one) over ONE projection: the union of the columns they
//! read is parsed once per chunk, and each policy's derived columns and
//! evaluator state live beside it. Every command is a sink on the pass: it
//! names the plan and an [`Accumulator`] to fold each chunk into; [`run`]
//! does the reading, parsing and evaluating, in parallel, and merges the
//! chunks' partials in file order.
//!
//! An accumulator sees only a [`Chunk`]: each policy's [`Decisions`], the
//! rows' identities and their segment keys, never the batch layout or the
//! policy. Its state merges with another partial's (the same contract for
//! threads on one machine and for parts of a file run elsewhere), in the
//! spirit of DataFusion's `Accumulator`.

use super::kernels::{self, Scratch};
use super::segments::{SegmentKeys, SegmentSpec, Source};
use super::trace::Why;
use super::{Decisions, Evaluator};
use crate::dataset::batch::{Batch, Column, Parser, SkippedRow};
use crate::dataset::schema::ColumnSpec;
use crate::dataset::stream::{self, Input, StreamOptions, StreamSummary};
use crate::error::{Diagnostic, Error, Result};
use crate::policy::CompiledPolicy;
use crate::policy::condition::Cond;

/// Policies over one shared projection, and the segmentations to key rows by.
pub struct Plan {
    pub policies: Vec<CompiledPolicy>,
    /// The projection parsed once per chunk: every policy's columns, then
    /// the segment columns no policy reads.
    pub columns: Vec<ColumnSpec>,
    pub segments: Vec<SegmentSpec>,
    sources: Vec<Source>,
    /// Conditions evaluated on every chunk over the first policy's columns
    /// besides its rules, for an accumulator that needs them (a sweep's
    /// thresholds, one per grid point).
    pub probes: Vec<Cond>,
    /// Whether each policy's decisions say why a row was not approved
    /// ([`Decisions::why`]).
    pub explain: bool,
    /// See [`Plan::fingerprint`]; made once, as every chunk's partial
    /// carries it.
    fingerprint: String,
}

impl Plan {
    /// `policies` must have been compiled onto one projection, each onto
    /// the columns of those before it
    /// ([`crate::policy::compile::compile_file_onto`]), so the last one's
    /// columns are the projection. Segments by a derived field read the
    /// first policy's.
    pub fn new(policies: Vec<CompiledPolicy>, segments: Vec<SegmentSpec>) -> Plan {
        Plan::reading(policies, segments, &[])
    }

    /// [`Plan::new`], also parsing the columns `extra` (a policy's declared
    /// fields, for `check`).
    pub fn reading(
        policies: Vec<CompiledPolicy>,
        segments: Vec<SegmentSpec>,
        extra: &[ColumnSpec],
    ) -> Plan {
        let mut columns = policies
            .last()
            .map(|p| p.columns.clone())
            .unwrap_or_default();
        for c in extra {
            if !columns.iter().any(|d| d.name == c.name) {
                columns.push(c.clone());
            }
        }
        let sources = segments
            .iter()
            .map(|spec| Source::of(spec, &policies[0], &mut columns))
            .collect();
        Plan {
            fingerprint: Plan::make_fingerprint(&policies, &segments),
            policies,
            columns,
            segments,
            sources,
            probes: Vec::new(),
            explain: false,
        }
    }

    /// What a partial of this plan must agree on to merge with another:
    /// each policy's file hash and parameters, and the segmentations.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn make_fingerprint(policies: &[CompiledPolicy], segments: &[SegmentSpec]) -> String {
        let mut out = String::new();
        for p in policies {
            out.push_str(&p.sha256);
            for (name, value) in &p.params {
                out.push_str(&format!(" {name}={value}"));
            }
            out.push('\n');
        }
        for s in segments {
            out.push_str(&format!("--by {}\n", s.text()));
        }
        out
    }

    fn worker_stack(&self) -> Option<usize> {
        self.policies.iter().filter_map(|p| p.worker_stack()).max()
    }
}

/// Which rows of a chunk an accumulator adds: all of them, or (for a
/// segment) a list.
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    All(usize),
    Only(&'a [u32]),
}

impl Rows<'_> {
    #[inline]
    pub fn for_each(self, mut f: impl FnMut(usize)) {
        match self {
            Rows::All(n) => (0..n).for_each(f),
            Rows::Only(rows) => rows.iter().for_each(|r| f(*r as usize)),
        }
    }

    pub fn len(self) -> usize {
        match self {
            Rows::All(n) => n,
            Rows::Only(rows) => rows.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// What an accumulator sees of one chunk.
pub struct Chunk<'a> {
    pub len: usize,
    /// Per policy of the plan, in plan order: its decisions for every row.
    pub decisions: &'a [Decisions],
    /// The file line each row starts on.
    pub lines: &'a [u64],
    /// Per policy: the column of its `key`, if it has one.
    pub keys: &'a [Option<&'a Column>],
    /// Per segmentation of the plan: each row's segment.
    pub segments: &'a [SegmentKeys],
    /// Rows skipped as malformed under `--skip-bad-rows`.
    pub skipped: &'a [SkippedRow],
    /// Per probe of the plan: its truth value on every row.
    pub probes: &'a [Vec<u8>],
}

/// A mergeable fold over chunks: add a chunk's rows, merge another
/// partial. Its fields are its state, serialisable (counts and exact
/// decimal sums), so merging is exact in any grouping.
pub trait Accumulator: Send {
    /// Folds in `rows` of `chunk`.
    fn add(&mut self, chunk: &Chunk, rows: Rows);
    /// Folds in another partial of the same plan; an error when `other`
    /// describes a different one.
    fn merge(&mut self, other: &Self) -> Result<()>;
}

/// The error of merging partials of different plans.
pub fn plan_mismatch(what: &str) -> Error {
    Error::Usage(
        Diagnostic::new(format!(
            "cannot merge partial results of different plans: their {what} differ"
        ))
        .help("merge only partials made with the same policies, parameters and `--by`"),
    )
}

/// Checks that two partials agree on `what` before merging.
pub fn same<T: PartialEq>(what: &str, a: &T, b: &T) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(plan_mismatch(what))
    }
}

/// How to read the data.
#[derive(Debug, Clone, Default)]
pub struct PassOptions {
    pub stream: StreamOptions,
    /// Count and skip malformed rows instead of stopping at the first.
    pub skip_bad_rows: bool,
}

impl PassOptions {
    /// A report's pass: with `--skip-bad-rows`, a file that changes while
    /// it is read is a warning (the report's hash is then `null`), not an
    /// error, as a skipped row is.
    pub fn tolerant(stream: StreamOptions, skip_bad_rows: bool) -> PassOptions {
        PassOptions {
            stream: StreamOptions {
                tolerate_change: skip_bad_rows,
                ..stream
            },
            skip_bad_rows,
        }
    }
}

/// Runs the plan over `input`: per chunk, a fresh accumulator from `start`
/// adds every row, and `fold` receives the chunks' accumulators in file
/// order.
pub fn run<A: Accumulator>(
    plan: &Plan,
    input: Input,
    options: &PassOptions,
    start: impl Fn() -> A + Sync,
    fold: impl FnMut(A) -> Result<()>,
) -> Result<StreamSummary> {
    run_local(
        plan,
        input,
        options,
        || (),
        |(), chunk| {
            let mut acc = start();
            acc.add(chunk, Rows::All(chunk.len));
            acc
        },
        fold,
    )
}

/// [`run`] for a sink that keeps something of its own on each worker from
/// chunk to chunk (the decision writer's formatted line ends): `local`
/// makes a worker's, and `sink` turns a chunk into the part `fold` gets.
pub fn run_local<L, R: Send>(
    plan: &Plan,
    input: Input,
    options: &PassOptions,
    local: impl Fn() -> L + Sync,
    sink: impl Fn(&mut L, &Chunk) -> R + Sync,
    fold: impl FnMut(R) -> Result<()>,
) -> Result<StreamSummary> {
    let stream_options = StreamOptions {
        worker_stack: plan.worker_stack(),
        ..options.stream.clone()
    };
    let skip = options.skip_bad_rows;
    stream::run(
        input,
        &plan.columns,
        &stream_options,
        |schema| Worker {
            parser: Parser::default(),
            batch: Batch::new(schema),
            evaluators: plan
                .policies
                .iter()
                .map(|p| Evaluator::new(p).source(&schema.source))
                .collect(),
            decisions: plan.policies.iter().map(|_| Decisions::default()).collect(),
            segments: plan
                .segments
                .iter()
                .map(|_| SegmentKeys::default())
                .collect(),
            converted: plan.segments.iter().map(|s| Column::new(s.ty)).collect(),
            probes: plan.probes.iter().map(|_| Vec::new()).collect(),
            scratch: Scratch::default(),
            why: plan.policies.iter().map(|_| Why::default()).collect(),
            skipped: Vec::new(),
            local: local(),
        },
        |w, chunk, schema| {
            w.skipped.clear();
            w.parser
                .parse(chunk, schema, skip, &mut w.batch, &mut w.skipped)?;
            for (evaluator, d) in w.evaluators.iter_mut().zip(&mut w.decisions) {
                evaluator.evaluate(&w.batch, d)?;
            }
            if plan.explain {
                let policies = plan.policies.iter().zip(&w.evaluators);
                let each = policies.zip(w.decisions.iter_mut().zip(&mut w.why));
                for ((policy, evaluator), (d, why)) in each {
                    let cols = evaluator.cols(&w.batch);
                    why.compute(policy, &cols);
                    let why: Vec<String> = (0..w.batch.len)
                        .map(|row| {
                            let mut text = String::new();
                            why.row(policy, &cols, d, row, &mut text);
                            text
                        })
                        .collect();
                    d.why = why;
                }
            }
            let segments = plan.segments.iter().zip(&plan.sources);
            for ((spec, source), (keys, converted)) in
                segments.zip(w.segments.iter_mut().zip(&mut w.converted))
            {
                let derived = w.evaluators[0].derived();
                keys.fill(spec, source.column(&w.batch, derived, converted));
            }
            if !plan.probes.is_empty() {
                let cols = w.evaluators[0].cols(&w.batch);
                for (cond, truth) in plan.probes.iter().zip(&mut w.probes) {
                    kernels::eval(cond, &cols, truth, &mut w.scratch);
                }
            }
            let keys: Vec<Option<&Column>> = plan
                .policies
                .iter()
                .map(|p| p.key.map(|k| &w.batch.columns[k]))
                .collect();
            let view = Chunk {
                len: w.batch.len,
                decisions: &w.decisions,
                lines: &w.batch.lines,
                keys: &keys,
                segments: &w.segments,
                skipped: &w.skipped,
                probes: &w.probes,
            };
            Ok(sink(&mut w.local, &view))
        },
        fold,
    )
}

/// A worker's state, kept from chunk to chunk.
struct Worker<'p, L> {
    parser: Parser,
    batch: Batch,
    evaluators: Vec<Evaluator<'p>>,
    decisions: Vec<Decisions>,
    segments: Vec<SegmentKeys>,
    /// Per segmentation by a derived field of another type: its values converted.
    converted: Vec<Column>,
    probes: Vec<Vec<u8>>,
    scratch: Scratch,
    /// Per policy, for `decide --explain`.
    why: Vec<Why>,
    skipped: Vec<SkippedRow>,
    local: L,
}
