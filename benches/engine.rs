//! Criterion benchmarks of polsim's pipeline stages, over an in-memory
//! synthetic dataset generated once (`polsim::synthetic::write_dataset`).
//!
//! Stages, in the order a pass runs them:
//!
//! 1. `chunk`: cutting the CSV bytes into record-aligned chunks (the copy
//!    out of the reader, the quote scan, the line count), with the SHA-256
//!    that a hashing thread computes beside the workers on a first run
//!    (`chunk/sha256_only`) as a reference;
//! 2. `parse`: CSV chunk → typed `Batch` of the policy's projected columns;
//! 3. `evaluate`: `Evaluator::evaluate` on pre-parsed batches;
//! 4. `aggregate`: `Metrics` (the report's accumulators) adding each
//!    batch's decisions, then `merge` into a total;
//! 5. `simulate`: end-to-end `simulate::simulate` and the report, per policy
//!    at 1 and 2 threads.
//!
//! And `gen`: `polsim gen`'s synthetic rows written to a sink (what
//! `benches/compare.sh` waits for before it measures anything).
//!
//! Run with `cargo bench --bench engine`; settings are modest (10 samples,
//! 3 s of measurement per bench) so the whole run takes a few minutes.
//! `POLSIM_BENCH_ROWS` changes the dataset size (default 200,000 rows).

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use polsim::dataset::batch::{Batch, Parser, Piece};
use polsim::dataset::chunker::{CHUNK_SIZE, Chunk, Chunker};
use polsim::dataset::fingerprint;
use polsim::dataset::schema::Schema;
use polsim::dataset::stream::{Input, StreamOptions};
use polsim::engine::pass::{Accumulator, PassOptions, Plan, Rows};
use polsim::engine::{Decisions, Evaluator};
use polsim::policy::{CompiledPolicy, compile_file};
use polsim::report::simulation::SimulationReport;
use polsim::simulate::{self, metrics::Metrics};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const DEFAULT_ROWS: u64 = 200_000;
const SEED: u64 = 42;

fn rows() -> u64 {
    std::env::var("POLSIM_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROWS)
}

/// The synthetic dataset, generated once per process.
fn data() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut out = Vec::new();
        polsim::synthetic::write_dataset(&mut out, rows(), SEED).expect("writing to memory");
        out
    })
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn policy(relative: &str) -> CompiledPolicy {
    let path = root().join(relative);
    compile_file(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// benches/bench5.yaml, then every policies/*.yaml, by file name.
fn all_policies() -> Vec<(String, CompiledPolicy)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("policies"))
        .expect("policies/ exists")
        .map(|e| e.expect("readable policies/").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| !polsim::policy::test_file::is_test_file(p))
        .collect();
    paths.sort();
    let mut out = vec![("bench5".to_owned(), policy("benches/bench5.yaml"))];
    for p in paths {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let compiled = compile_file(&p, &[]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        out.push((name, compiled));
    }
    out
}

/// The header and every chunk of the dataset, as a pass would cut them.
fn chunks() -> (polsim::dataset::chunker::Header, Vec<Chunk>) {
    let mut chunker = Chunker::new(data(), CHUNK_SIZE, "bench.csv");
    let header = chunker.header().unwrap().expect("a header row");
    let mut chunks = Vec::new();
    while let Some(chunk) = chunker.next_chunk().unwrap() {
        chunks.push(chunk);
    }
    (header, chunks)
}

/// Every chunk parsed into a batch of `policy`'s projected columns.
fn batches(policy: &CompiledPolicy) -> Vec<Batch> {
    let (header, chunks) = chunks();
    let schema = Schema::resolve("bench.csv", &header, &policy.columns).unwrap();
    let mut parser = Parser::default();
    chunks
        .iter()
        .map(|chunk| {
            let mut batch = Batch::new(&schema);
            parser
                .parse(
                    &Piece::Text(chunk),
                    &schema,
                    false,
                    &mut batch,
                    &mut Vec::new(),
                )
                .unwrap();
            batch
        })
        .collect()
}

fn bench_chunk(c: &mut Criterion) {
    let bytes = data();
    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("chunker", |b| {
        b.iter(|| {
            let mut chunker = Chunker::new(black_box(bytes), CHUNK_SIZE, "bench.csv");
            chunker.header().unwrap();
            let mut lines = 0;
            while let Some(chunk) = chunker.next_chunk().unwrap() {
                lines += chunk.lines;
            }
            black_box(lines)
        })
    });
    // The SHA-256 alone, as the hashing thread computes it for the
    // manifest's `data_sha256` (see `dataset::stream`).
    group.bench_function("sha256_only", |b| {
        b.iter(|| black_box(fingerprint::sha256_hex(black_box(bytes))))
    });
    group.finish();
}

fn bench_parse(c: &mut Criterion) {
    let (header, chunks) = chunks();
    let bytes: usize = chunks.iter().map(|c| c.bytes.len()).sum();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(bytes as u64));
    for name in ["bench5", "jd_plus"] {
        let policy = if name == "bench5" {
            policy("benches/bench5.yaml")
        } else {
            policy("policies/jd_plus.yaml")
        };
        let schema = Schema::resolve("bench.csv", &header, &policy.columns).unwrap();
        let mut parser = Parser::default();
        let mut batch = Batch::new(&schema);
        let mut skipped = Vec::new();
        group.bench_function(BenchmarkId::new("projected", name), |b| {
            b.iter(|| {
                let mut rows = 0;
                for chunk in &chunks {
                    parser
                        .parse(
                            &Piece::Text(chunk),
                            &schema,
                            false,
                            &mut batch,
                            &mut skipped,
                        )
                        .unwrap();
                    rows += batch.len;
                }
                black_box(rows)
            })
        });
    }
    group.finish();
}

fn bench_evaluate(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(rows()));
    for (name, path) in [
        ("bench5", "benches/bench5.yaml"),
        ("jd_plus", "policies/jd_plus.yaml"),
    ] {
        let policy = policy(path);
        let batches = batches(&policy);
        let mut evaluator = Evaluator::new(&policy);
        let mut decisions = Decisions::default();
        group.bench_function(BenchmarkId::new("batches", name), |b| {
            b.iter(|| {
                let mut rows = 0;
                for batch in &batches {
                    evaluator
                        .evaluate(black_box(batch), &mut decisions)
                        .unwrap();
                    rows += decisions.len;
                }
                black_box(rows)
            })
        });
    }
    group.finish();
}

fn bench_aggregate(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregate");
    group.throughput(Throughput::Elements(rows()));
    for (name, path) in [
        ("bench5", "benches/bench5.yaml"),
        ("jd_plus", "policies/jd_plus.yaml"),
    ] {
        let policy = policy(path);
        let batches = batches(&policy);
        let mut evaluator = Evaluator::new(&policy);
        let decisions: Vec<Decisions> = batches
            .iter()
            .map(|batch| {
                let mut d = Decisions::default();
                evaluator.evaluate(batch, &mut d).unwrap();
                d
            })
            .collect();
        group.bench_function(BenchmarkId::new("add_merge", name), |b| {
            b.iter(|| {
                let mut total = Metrics::new(0, &policy);
                for d in &decisions {
                    let mut part = Metrics::new(0, &policy);
                    part.add_decisions(black_box(d), Rows::All(d.len));
                    total.merge(&part).unwrap();
                }
                black_box(total.outcomes.approved)
            })
        });
    }
    group.finish();
}

fn bench_simulate(c: &mut Criterion) {
    let bytes = data();
    let mut group = c.benchmark_group("simulate");
    group.throughput(Throughput::Elements(rows()));
    for (name, policy) in all_policies() {
        let plan = Plan::new(vec![policy], Vec::new());
        for threads in [1, 2] {
            let options = PassOptions {
                // simulate always hashes in-memory data (nothing to cache), as a
                // first run over a new file does.
                stream: StreamOptions {
                    threads,
                    chunk_size: CHUNK_SIZE,
                    hash: true,
                    ..StreamOptions::default()
                },
                ..PassOptions::default()
            };
            let id = BenchmarkId::new(name.as_str(), format!("{threads}t"));
            group.bench_function(id, |b| {
                b.iter_batched(
                    || Input::from_bytes("bench.csv", bytes.to_vec()),
                    |input| {
                        let (state, summary) =
                            simulate::simulate(&plan, input, &options, None).unwrap();
                        let report =
                            SimulationReport::build(&plan, 0, &state, summary.data_sha256, None);
                        black_box(report.approved)
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

fn bench_gen(c: &mut Criterion) {
    let mut group = c.benchmark_group("gen");
    group.throughput(Throughput::Elements(rows()));
    group.bench_function("write_dataset", |b| {
        b.iter(|| {
            polsim::synthetic::write_dataset(std::io::sink(), black_box(rows()), SEED).unwrap()
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_chunk, bench_parse, bench_evaluate, bench_aggregate, bench_simulate, bench_gen
}
criterion_main!(benches);
