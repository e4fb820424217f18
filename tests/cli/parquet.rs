//! Parquet input: the same reports as the CSV of the same data on every
//! bundled policy, typed columns checked against the fields, and clear
//! errors for a column that cannot be read and a damaged file.

use super::*;
use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use std::sync::Arc;

const SAMPLE: &str = "datasets/sample.csv";

/// Every bundled policy's path.
fn bundled_policies() -> Vec<String> {
    [
        "jd_plus",
        "jd_plus_expr",
        "zhima_600",
        "merchant_review",
        "merchant_script",
    ]
    .iter()
    .map(|p| {
        repo_file(&format!("policies/{p}.yaml"))
            .to_string_lossy()
            .into_owned()
    })
    .collect()
}

/// The sample as a Parquet file with typed columns (see [`sample_batch`]),
/// in row groups of 3,000 rows.
fn sample_parquet(path: &std::path::Path) {
    write_parquet(path, &sample_batch());
}

/// The bundled sample as typed columns (ints, booleans, decimal(12, 2)
/// money, strings; empty cells as nulls).
pub(super) fn sample_batch() -> RecordBatch {
    let mut r = csv::Reader::from_path(repo_file(SAMPLE)).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let records: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let ints = [
        "zhima_score",
        "overdue_count_12m",
        "max_overdue_days",
        "age",
        "account_age_months",
        "days_past_due",
    ];
    let bools = ["is_plus_member", "real_name_verified", "defaulted"];
    let money = ["monthly_income", "order_amount"];
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let cells = records
            .iter()
            .map(|rec| Some(&rec[i]).filter(|c| !c.is_empty()));
        let array: ArrayRef = if ints.contains(&name.as_str()) {
            let mut b = Int64Builder::new();
            cells.for_each(|c| b.append_option(c.map(|c| c.parse().unwrap())));
            Arc::new(b.finish())
        } else if bools.contains(&name.as_str()) {
            let mut b = BooleanBuilder::new();
            cells.for_each(|c| b.append_option(c.map(|c| c == "true")));
            Arc::new(b.finish())
        } else if money.contains(&name.as_str()) {
            let mut b = Decimal128Builder::new();
            cells.for_each(|c| {
                b.append_option(
                    c.map(|c| rust_decimal::Decimal::from_str_exact(c).unwrap())
                        .map(|mut d| {
                            d.rescale(2);
                            d.mantissa()
                        }),
                )
            });
            Arc::new(b.finish().with_precision_and_scale(12, 2).unwrap())
        } else {
            let mut b = StringBuilder::new();
            cells.for_each(|c| b.append_option(c));
            Arc::new(b.finish())
        };
        columns.push(array);
    }
    RecordBatch::try_from_iter(header.iter().cloned().zip(columns)).unwrap()
}

fn write_parquet(path: &std::path::Path, batch: &RecordBatch) {
    let props = ::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(3000))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

fn without_hash(mut r: Value) -> Value {
    r["manifest"]["data_sha256"] = Value::Null;
    r
}

#[test]
fn parquet_gives_the_reports_of_the_same_csv_on_every_bundled_policy() {
    let wd = Workdir::new();
    sample_parquet(&wd.path("s.parquet"));
    let csv = repo_file(SAMPLE).to_string_lossy().into_owned();
    for policy in bundled_policies() {
        let args = |data: &str| {
            vec![
                "simulate".to_owned(),
                policy.clone(),
                "--data".to_owned(),
                data.to_owned(),
                "--by".to_owned(),
                "city_tier".to_owned(),
                "--trials".to_owned(),
                "20".to_owned(),
            ]
        };
        let run = |data: &str| {
            let a = args(data);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            without_hash(wd.json(&a))
        };
        assert_eq!(run("s.parquet"), run(&csv), "{policy}");
        // Decisions too.
        let d = |data: &str| wd.stdout(&["decide", &policy, "--data", data, "--explain"]);
        assert_eq!(d("s.parquet"), d(&csv), "{policy}");
    }
    // The manifest names the Parquet file as stored.
    let policy = repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned();
    let r = wd.json(&["simulate", &policy, "--data", "s.parquet"]);
    let stored = sha256_hex(&std::fs::read(wd.path("s.parquet")).unwrap());
    assert_eq!(r["manifest"]["data_sha256"], stored.as_str());
}

#[test]
fn a_column_that_cannot_become_its_field_is_an_error_naming_both_types() {
    let wd = Workdir::new();
    let mut amount = Float64Builder::new();
    amount.append_value(10.5);
    let mut score = StringBuilder::new();
    score.append_value("700");
    let batch = RecordBatch::try_from_iter([
        ("amount", Arc::new(amount.finish()) as ArrayRef),
        ("score", Arc::new(score.finish()) as ArrayRef),
    ])
    .unwrap();
    write_parquet(&wd.path("f.parquet"), &batch);
    wd.write(
        "p.yaml",
        "policy: p\nfields: { amount: decimal, score: int }\nrules:\n  - { id: s, reason: LOW, when: { score: { gte: 600 } } }\n  - { id: a, reason: BIG, when: { amount: { lte: 100 } } }\n",
    );
    let err = wd.fails(&["simulate", "p.yaml", "--data", "f.parquet"], 2);
    assert_contains(
        &err,
        &[
            "column `amount` of `f.parquet` is a Parquet Float64, which polsim cannot read as `decimal`",
            "help: a float is not exact",
        ],
    );
    // More columns a field cannot take: a decimal into an int, a boolean
    // into a decimal, a date into a string.
    let mut d = Decimal128Builder::new();
    d.append_value(1050);
    let mut b = BooleanBuilder::new();
    b.append_value(true);
    let mut day = arrow_array::builder::Date32Builder::new();
    day.append_value(19000);
    let batch = RecordBatch::try_from_iter([
        (
            "d",
            Arc::new(d.finish().with_precision_and_scale(10, 2).unwrap()) as ArrayRef,
        ),
        ("b", Arc::new(b.finish()) as ArrayRef),
        ("day", Arc::new(day.finish()) as ArrayRef),
    ])
    .unwrap();
    write_parquet(&wd.path("g.parquet"), &batch);
    for (fields, column, types) in [
        (
            "{ d: int }",
            "d",
            "a Parquet Decimal128(10, 2), which polsim cannot read as `int`",
        ),
        (
            "{ b: decimal }",
            "b",
            "a Parquet Boolean, which polsim cannot read as `decimal`",
        ),
        (
            "{ day: string }",
            "day",
            "a Parquet Date32, which polsim cannot read as `string`",
        ),
    ] {
        wd.write(
            "g.yaml",
            format!("policy: g\nfields: {fields}\nrules:\n  - {{ id: r, reason: R, when: {{ {column}: {{ missing: false }} }} }}\n"),
        );
        let err = wd.fails(&["simulate", "g.yaml", "--data", "g.parquet"], 2);
        assert_contains(
            &err,
            &[&format!("column `{column}` of `g.parquet` is {types}")],
        );
    }
    // A string column of numbers reads into an int field.
    wd.write(
        "q.yaml",
        "policy: q\nfields: { score: int }\nrules:\n  - { id: s, reason: LOW, when: { score: { gte: 600 } } }\n",
    );
    let r = wd.json(&["simulate", "q.yaml", "--data", "f.parquet"]);
    assert_eq!(r["approved"], 1);
}

#[test]
fn a_damaged_parquet_file_is_an_error() {
    let wd = Workdir::new();
    sample_parquet(&wd.path("s.parquet"));
    let bytes = std::fs::read(wd.path("s.parquet")).unwrap();
    wd.write("cut.parquet", &bytes[..bytes.len() / 2]);
    let policy = repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned();
    let err = wd.fails(&["simulate", &policy, "--data", "cut.parquet"], 2);
    assert_contains(
        &err,
        &["dataset `cut.parquet` is not a Parquet file polsim can read"],
    );
    // From a pipe, Parquet is named and refused: it is read by its path.
    let out = wd
        .command(&["simulate", &policy, "--data", "-"])
        .write_stdin(bytes)
        .output()
        .unwrap();
    let err = failed(out, &["simulate"], 2);
    assert_contains(&err, &["looks like a Parquet file", "--data FILE.parquet"]);
}

/// `batch` as an Arrow IPC stream, in batches of 4,000 rows.
fn arrow_stream(batch: &RecordBatch) -> Vec<u8> {
    arrow_stream_in(batch, 4000)
}

/// `batch` as an Arrow IPC stream, in batches of `rows` rows.
fn arrow_stream_in(batch: &RecordBatch, rows: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    let mut at = 0;
    while at < batch.num_rows() {
        let n = rows.min(batch.num_rows() - at);
        w.write(&batch.slice(at, n)).unwrap();
        at += n;
    }
    w.finish().unwrap();
    drop(w);
    out
}

#[test]
fn an_arrow_stream_on_standard_input_gives_the_reports_of_the_same_csv() {
    let wd = Workdir::new();
    sample_parquet(&wd.path("s.parquet"));
    let file = std::fs::File::open(wd.path("s.parquet")).unwrap();
    let reader = ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .with_batch_size(100_000)
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let whole = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    let stream = arrow_stream(&whole);
    let csv = repo_file(SAMPLE).to_string_lossy().into_owned();
    for policy in bundled_policies() {
        let out = wd
            .command(&[
                "simulate",
                &policy,
                "--data",
                "-",
                "--by",
                "city_tier",
                "--format",
                "json",
            ])
            .write_stdin(stream.clone())
            .output()
            .unwrap();
        let piped: Value = serde_json::from_str(&succeeded(out, &["simulate"])).unwrap();
        assert_eq!(
            piped["manifest"]["data_sha256"],
            sha256_hex(&stream).as_str()
        );
        let direct = wd.json(&["simulate", &policy, "--data", &csv, "--by", "city_tier"]);
        assert_eq!(without_hash(piped), without_hash(direct), "{policy}");
    }
    // A stream cut short is an error.
    let out = wd
        .command(&["simulate", &csv_policy(), "--data", "-"])
        .write_stdin(stream[..stream.len() / 2].to_vec())
        .output()
        .unwrap();
    let err = failed(out, &["simulate"], 2);
    assert_contains(&err, &["its Arrow data is damaged"]);
}

fn csv_policy() -> String {
    repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned()
}

/// A one-column `score` table, some of it null, as Parquet and as an Arrow
/// stream; and the same with a second, never-null column beside it.
fn scores(scores: &[Option<i64>], with_other: bool) -> RecordBatch {
    let mut b = Int64Builder::new();
    b.extend(scores.iter().copied());
    let mut columns = vec![("score", Arc::new(b.finish()) as ArrayRef)];
    if with_other {
        let mut o = StringBuilder::new();
        scores.iter().for_each(|_| o.append_value("x"));
        columns.push(("other", Arc::new(o.finish()) as ArrayRef));
    }
    RecordBatch::try_from_iter(columns).unwrap()
}

#[test]
fn a_row_whose_read_columns_are_all_null_is_a_row_of_missing_values() {
    // It was rendered as a blank CSV line and silently dropped (one column
    // read), or refused as an empty row (several).
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nfields: { score: int }\nrules:\n  - { id: s, reason: LOW, when: { score: { gte: 600 } } }\n",
    );
    let values = [Some(700), None, Some(500), None];
    write_parquet(&wd.path("alone.parquet"), &scores(&values, false));
    write_parquet(&wd.path("beside.parquet"), &scores(&values, true));
    let alone = without_hash(wd.json(&["simulate", "p.yaml", "--data", "alone.parquet"]));
    let beside = without_hash(wd.json(&["simulate", "p.yaml", "--data", "beside.parquet"]));
    assert_eq!(alone["rows"], 4);
    assert_eq!(alone["approved"], 1);
    assert_eq!(
        alone.to_string().replace("alone.parquet", "X"),
        beside.to_string().replace("beside.parquet", "X")
    );
    let out = wd
        .command(&["simulate", "p.yaml", "--data", "-", "--format", "json"])
        .write_stdin(arrow_stream(&scores(&values, false)))
        .output()
        .unwrap();
    let piped: Value = serde_json::from_str(&succeeded(out, &["simulate"])).unwrap();
    assert_eq!(piped["rows"], 4);
    // Every column of a row null: still a row, of missing values.
    wd.write(
        "q.yaml",
        "policy: q\nfields: { score: int, other: string }\nrules:\n  - { id: s, reason: LOW, when: { score: { gte: 600 } } }\n  - { id: o, reason: NO, when: { other: { missing: false } } }\n",
    );
    let mut o = StringBuilder::new();
    o.extend([Some("x"), None, Some("y"), None]);
    let mut b = Int64Builder::new();
    b.extend(values);
    let batch = RecordBatch::try_from_iter([
        ("score", Arc::new(b.finish()) as ArrayRef),
        ("other", Arc::new(o.finish()) as ArrayRef),
    ])
    .unwrap();
    write_parquet(&wd.path("nulls.parquet"), &batch);
    let r = wd.json(&["simulate", "q.yaml", "--data", "nulls.parquet"]);
    assert_eq!(r["rows"], 4);
}

#[test]
fn row_groups_read_in_parallel_give_one_report_at_any_thread_count() {
    let wd = Workdir::new();
    // Seven row groups of 3,000 rows.
    sample_parquet(&wd.path("s.parquet"));
    let policy = csv_policy();
    let run = |threads: &str| {
        let simulate = wd.stdout(&[
            "simulate",
            &policy,
            "--data",
            "s.parquet",
            "--by",
            "city_tier",
            "--trials",
            "20",
            "--threads",
            threads,
            "--format",
            "json",
        ]);
        let decide = wd.stdout(&[
            "decide",
            &policy,
            "--data",
            "s.parquet",
            "--explain",
            "--threads",
            threads,
        ]);
        (simulate, decide)
    };
    let one = run("1");
    assert!(one.0.contains("\"rows\": 20000"), "{}", one.0);
    assert_eq!(run("2"), one);
    assert_eq!(run("8"), one);
    // An Arrow stream of one batch of all 20,000 rows is read in pieces,
    // by the workers, to the same report.
    let file = std::fs::File::open(wd.path("s.parquet")).unwrap();
    let batches: Vec<RecordBatch> =
        ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let whole = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    for threads in ["1", "2"] {
        let out = wd
            .command(&[
                "simulate",
                &policy,
                "--data",
                "-",
                "--by",
                "city_tier",
                "--trials",
                "20",
                "--threads",
                threads,
                "--format",
                "json",
            ])
            .write_stdin(arrow_stream_in(&whole, 20_000))
            .output()
            .unwrap();
        let piped: Value = serde_json::from_str(&succeeded(out, &["simulate"])).unwrap();
        let direct: Value = serde_json::from_str(&one.0).unwrap();
        assert_eq!(
            without_hash(piped),
            without_hash(direct),
            "{threads} threads"
        );
    }
}

#[test]
fn a_bad_cell_in_a_later_row_group_is_named_by_its_line_at_any_thread_count() {
    let wd = Workdir::new();
    // Scores as text, two of them not numbers, in the 2nd and 5th of seven
    // row groups of 3,000 rows.
    let mut s = StringBuilder::new();
    for row in 0..20_000 {
        match row {
            4_999 => s.append_value("abc"),
            12_000 => s.append_value("6OO"),
            _ => s.append_value(format!("{}", 500 + row % 200)),
        }
    }
    let batch = RecordBatch::try_from_iter([("score", Arc::new(s.finish()) as ArrayRef)]).unwrap();
    write_parquet(&wd.path("t.parquet"), &batch);
    wd.write(
        "p.yaml",
        "policy: p\nfields: { score: int }\nrules:\n  - { id: s, reason: LOW, when: { score: { gte: 600 } } }\n",
    );
    for threads in ["1", "2", "8"] {
        let args = [
            "simulate",
            "p.yaml",
            "--data",
            "t.parquet",
            "--threads",
            threads,
        ];
        let err = wd.fails(&args, 2);
        // Row 5,000 (from 1) is on line 5,001, as if a header came first.
        assert_contains(
            &err,
            &[
                "`abc` in column `score` (field 1) is not an int",
                "t.parquet:5001:1",
            ],
        );
        let mut skipping = args.to_vec();
        skipping.extend(["--skip-bad-rows", "--format", "json"]);
        let r: Value = serde_json::from_str(&wd.stdout(&skipping)).unwrap();
        assert_eq!(r["rows"], 19_998, "{threads} threads");
        assert_eq!(r["skipped_rows"], 2);
    }
}

#[test]
fn an_arrow_stream_with_compressed_buffers_or_in_a_file_reads_as_the_plain_stream() {
    use arrow_ipc::CompressionType;
    use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
    let wd = Workdir::new();
    sample_parquet(&wd.path("s.parquet"));
    let file = std::fs::File::open(wd.path("s.parquet")).unwrap();
    let batches: Vec<RecordBatch> =
        ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let policy = csv_policy();
    let report = |stream: Vec<u8>| {
        let out = wd
            .command(&["simulate", &policy, "--data", "-", "--format", "json"])
            .write_stdin(stream)
            .output()
            .unwrap();
        let r: Value = serde_json::from_str(&succeeded(out, &["simulate"])).unwrap();
        without_hash(r)
    };
    let plain = arrow_stream(&batches[0]);
    let want = report(plain.clone());
    // pyarrow's `IpcWriteOptions(compression=...)`: zstd and lz4 buffers.
    for compression in [CompressionType::ZSTD, CompressionType::LZ4_FRAME] {
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(compression))
            .unwrap();
        let mut out = Vec::new();
        let mut w =
            StreamWriter::try_new_with_options(&mut out, &batches[0].schema(), options).unwrap();
        w.write(&batches[0]).unwrap();
        w.finish().unwrap();
        drop(w);
        assert_ne!(out, plain);
        assert_eq!(report(out), want, "{compression:?}");
    }
    // A stream saved to a file is read by its path too, hashed as stored.
    wd.write("s.arrows", &plain);
    let r = wd.json(&["simulate", &policy, "--data", "s.arrows"]);
    assert_eq!(r["manifest"]["data_sha256"], sha256_hex(&plain).as_str());
    assert_eq!(without_hash(r)["approved"], want["approved"]);
}
