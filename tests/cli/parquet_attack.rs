//! Parquet files and Arrow IPC streams read as a hostile user would feed
//! them: every pair of an Arrow type and a field type the rules allow, with
//! edge values; nulls everywhere; odd shapes of files; bad cells across row
//! groups at any thread count; damaged and cut-short data. Each test asserts
//! the behaviour the README promises: the report of the CSV of the same
//! data (a row's line is its row number plus one), or a clear exit-2 error.

use super::parquet::sample_batch;
use super::*;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Decimal32Array, Decimal64Array, Decimal128Array,
    DictionaryArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    LargeStringArray, ListArray, NullArray, RecordBatch, StringArray, StringViewArray, StructArray,
    UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Writes `batches` as a Parquet file in row groups of at most `group` rows.
fn write_pq(path: &Path, schema: Arc<ArrowSchema>, batches: &[RecordBatch], group: usize) {
    let props = ::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// `batch` as a Parquet file in row groups of at most `group` rows.
fn pq(path: &Path, batch: &RecordBatch, group: usize) {
    write_pq(path, batch.schema(), std::slice::from_ref(batch), group);
}

/// `batches` as an Arrow IPC stream.
fn stream(schema: &ArrowSchema, batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, schema).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    out
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

/// Keys `r1`, `r2`, ... for `n` rows.
fn keys(n: usize) -> ArrayRef {
    Arc::new(StringArray::from(
        (1..=n).map(|i| format!("r{i}")).collect::<Vec<_>>(),
    ))
}

/// A CSV of `header` and `rows` (`None` is an empty cell), quoted where needed.
fn csv_text(header: &[&str], rows: &[Vec<Option<String>>]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r.iter().map(|c| c.as_deref().unwrap_or("")))
            .unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// A run as the user sees it: exit code, standard output, standard error.
type Seen = (Option<i32>, String, String);

/// Runs polsim with `args` (`DATA` standing for `data`), `stdin` on its
/// standard input, and gives what it printed with the data's name written
/// `DATA`, the column of a `DATA:LINE:COLUMN` location left out (a CSV
/// counts characters, a Parquet file fields) and the data hash blanked.
fn seen(wd: &Workdir, args: &[&str], data: &str, stdin: Option<&[u8]>) -> Seen {
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "DATA" { data } else { a })
        .collect();
    let mut cmd = wd.command(&args);
    cmd.timeout(Duration::from_secs(120));
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes.to_vec());
    }
    let out = cmd.output().expect("run polsim");
    let name = if data == "-" { "<stdin>" } else { data };
    let norm = |b: &[u8]| {
        let mut text = String::from_utf8_lossy(b).into_owned();
        if data == "-" {
            text = text.replace("`-`", "`DATA`").replace("\"-\"", "\"DATA\"");
        }
        normalise(&text, name)
    };
    let err = norm(&out.stderr);
    assert!(
        !err.contains("panicked") && out.status.code().is_some(),
        "polsim {args:?} panicked or was killed:\n{err}"
    );
    // What a failed run printed before it stopped depends on how the
    // input was cut into pieces: only the output of a run that succeeded
    // is compared.
    let stdout = if out.status.code() != Some(2) {
        norm(&out.stdout)
    } else {
        String::new()
    };
    (out.status.code(), stdout, err)
}

fn normalise(text: &str, name: &str) -> String {
    let text = text.replace(name, "DATA");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("DATA:") {
        out.push_str(&rest[..at + 5]);
        rest = &rest[at + 5..];
        let line = rest.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..line]);
        rest = &rest[line..];
        if line > 0 && rest.starts_with(':') {
            let col = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            if col > 0 {
                rest = &rest[1 + col..];
            }
        }
    }
    out.push_str(rest);
    out.lines()
        .map(|l| match l.find("\"data_sha256\"") {
            Some(at) => {
                let comma = if l.trim_end().ends_with(',') { "," } else { "" };
                format!("{}\"data_sha256\": \"HASH\"{comma}", &l[..at])
            }
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that polsim on `d.parquet` (at 1, 2 and 8 threads) and on
/// `stream` piped in (if any) prints what it prints on `d.csv`, which is
/// written from `csv`; returns what it printed.
#[track_caller]
fn same_as_csv(wd: &Workdir, args: &[&str], csv: &str, stream: Option<&[u8]>) -> Seen {
    wd.write("d.csv", csv);
    let want = seen(wd, args, "d.csv", None);
    for threads in ["1", "2", "8"] {
        let mut a = args.to_vec();
        a.extend(["--threads", threads]);
        let got = seen(wd, &a, "d.parquet", None);
        assert_eq!(
            got, want,
            "Parquet at {threads} threads, {args:?}, CSV:\n{csv}"
        );
    }
    if let Some(bytes) = stream {
        let got = seen(wd, args, "-", Some(bytes));
        assert_eq!(got, want, "Arrow stream, {args:?}, CSV:\n{csv}");
    }
    want
}

/// A policy keyed on `k` with one field `x` of type `ty`, whose one rule
/// fails on every value of `x` but a sentinel: `decide --explain` shows
/// every value read (`x=VALUE!=SENTINEL`), and `x missing` for a missing one.
fn probe_policy(ty: &str) -> String {
    let sentinel = match ty {
        "int" => "7777777",
        "decimal" => "7777777.77",
        "float" => "7777777.5",
        "bool" => "true",
        _ => "\"zz-sentinel\"",
    };
    format!(
        "policy: p\nkey: k\nfields: {{ k: string, x: {ty} }}\nrules:\n  - {{ id: r, reason: R, when: {{ x: {{ eq: {sentinel} }} }} }}\n"
    )
}

fn jd_plus() -> String {
    repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned()
}

fn sample_csv() -> String {
    std::fs::read_to_string(repo_file("datasets/sample.csv")).unwrap()
}

// ---------------------------------------------------------------------------
// Types: every Arrow type into every field type it may fill
// ---------------------------------------------------------------------------

/// An Arrow column with edge values, and the CSV text of each cell.
struct Typed {
    what: String,
    array: ArrayRef,
    texts: Vec<Option<String>>,
    /// The field types the rules let it fill.
    fields: &'static [&'static str],
}

const ALL: &[&str] = &["int", "decimal", "float", "bool", "string"];

fn typed_int<A: Array + 'static, T: ToString + Copy>(
    what: &str,
    array: A,
    values: &[Option<T>],
) -> Typed {
    Typed {
        what: what.to_owned(),
        array: Arc::new(array),
        texts: values.iter().map(|v| v.map(|v| v.to_string())).collect(),
        fields: ALL,
    }
}

/// A decimal's text: its digits with `scale` of them after the point
/// (zeros appended for a negative scale).
fn decimal_text(m: i128, scale: i8) -> String {
    if scale <= 0 {
        let zeros = "0".repeat((-scale) as usize);
        return if m == 0 {
            "0".to_owned()
        } else {
            format!("{m}{zeros}")
        };
    }
    let s = scale as usize;
    let digits = m.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = s + 1);
    let (whole, frac) = digits.split_at(digits.len() - s);
    format!("{}{whole}.{frac}", if m < 0 { "-" } else { "" })
}

fn typed_decimal(precision: u8, scale: i8, values: &[Option<i128>]) -> Typed {
    let array = Decimal128Array::from_iter(values.iter().copied())
        .with_precision_and_scale(precision, scale)
        .unwrap();
    Typed {
        what: format!("decimal128({precision}, {scale})"),
        array: Arc::new(array),
        texts: values
            .iter()
            .map(|v| v.map(|m| decimal_text(m, scale)))
            .collect(),
        fields: &["decimal", "float", "string"],
    }
}

fn typed_float(what: &str, array: ArrayRef, values: &[Option<f64>]) -> Typed {
    Typed {
        what: what.to_owned(),
        array,
        texts: values.iter().map(|v| v.map(|v| format!("{v}"))).collect(),
        fields: &["float", "string"],
    }
}

fn typed_strings(what: &str, array: ArrayRef, values: &[Option<&str>]) -> Typed {
    Typed {
        what: what.to_owned(),
        array,
        texts: values.iter().map(|v| v.map(str::to_owned)).collect(),
        fields: ALL,
    }
}

const TEXTS: &[Option<&str>] = &[
    Some("12"),
    Some("  34  "),
    Some(""),
    Some("  "),
    None,
    Some("\u{feff}5"),
    Some("1,234.50"),
    Some("say \"hi\""),
    Some("北京"),
    Some("-0"),
    Some("true"),
    Some(" FALSE "),
    Some("1e3"),
    Some("0.1"),
    Some("999999999999999.99"),
    Some("1000000000000000"),
    Some("9223372036854775808"),
    Some("\t7\t"),
    Some("NaN"),
    // Last: in the CSV it takes two lines, and the lines after it would
    // count one more than their rows.
    Some("two\nlines"),
];

fn typed_columns() -> Vec<Typed> {
    let mut out = Vec::new();
    let i8s = [
        Some(i8::MIN),
        Some(-1),
        Some(0),
        None,
        Some(1),
        Some(2),
        Some(i8::MAX),
    ];
    out.push(typed_int("int8", Int8Array::from(i8s.to_vec()), &i8s));
    let i16s = [Some(i16::MIN), Some(0), None, Some(1), Some(i16::MAX)];
    out.push(typed_int("int16", Int16Array::from(i16s.to_vec()), &i16s));
    let i32s = [
        Some(i32::MIN),
        Some(-1),
        Some(0),
        None,
        Some(1),
        Some(i32::MAX),
    ];
    out.push(typed_int("int32", Int32Array::from(i32s.to_vec()), &i32s));
    let i64s = [
        Some(i64::MIN),
        Some(-999_999_999_999_999),
        Some(-1_000_000_000_000_000),
        Some(-1),
        Some(0),
        None,
        Some(1),
        Some(2),
        Some(9_007_199_254_740_993),
        Some(999_999_999_999_999),
        Some(1_000_000_000_000_000),
        Some(i64::MAX),
    ];
    out.push(typed_int("int64", Int64Array::from(i64s.to_vec()), &i64s));
    let u8s = [Some(0u8), Some(1), None, Some(2), Some(u8::MAX)];
    out.push(typed_int("uint8", UInt8Array::from(u8s.to_vec()), &u8s));
    let u16s = [Some(0u16), None, Some(u16::MAX)];
    out.push(typed_int("uint16", UInt16Array::from(u16s.to_vec()), &u16s));
    let u32s = [Some(0u32), Some(1), None, Some(u32::MAX)];
    out.push(typed_int("uint32", UInt32Array::from(u32s.to_vec()), &u32s));
    let u64s = [
        Some(0u64),
        Some(1),
        None,
        Some(999_999_999_999_999),
        Some(i64::MAX as u64),
        Some(i64::MAX as u64 + 1),
        Some(u64::MAX),
    ];
    out.push(typed_int("uint64", UInt64Array::from(u64s.to_vec()), &u64s));
    // A u64 column whose every value fits an i64 (the copied path).
    let small = [Some(0u64), Some(1), None, Some(1_000_000_000_000_000)];
    out.push(typed_int(
        "uint64 small",
        UInt64Array::from(small.to_vec()),
        &small,
    ));

    let f64s = [
        Some(0.0),
        Some(-0.0),
        Some(0.1),
        Some(1.0),
        None,
        Some(f64::MIN_POSITIVE),
        Some(5e-324),
        Some(f64::MAX),
        Some(-1e300),
        Some(123456789.125),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
    ];
    out.push(typed_float(
        "float64",
        Arc::new(Float64Array::from(f64s.to_vec())),
        &f64s,
    ));
    let finite = [
        Some(0.0),
        Some(-0.0),
        Some(0.1),
        None,
        Some(5e-324),
        Some(f64::MAX),
    ];
    out.push(typed_float(
        "float64 finite",
        Arc::new(Float64Array::from(finite.to_vec())),
        &finite,
    ));
    let f32s: Vec<Option<f32>> = vec![
        Some(0.1),
        Some(-0.0),
        None,
        Some(f32::MIN_POSITIVE),
        Some(1e-45),
        Some(f32::MAX),
        Some(16_777_217.0),
        Some(f32::NAN),
        Some(f32::NEG_INFINITY),
    ];
    out.push(typed_float(
        "float32",
        Arc::new(Float32Array::from(f32s.clone())),
        &f32s.iter().map(|v| v.map(f64::from)).collect::<Vec<_>>(),
    ));

    for scale in [0i8, 2, 13, 14, 28, 30, 38] {
        let s = scale as u32;
        let max = 10i128.pow(38) - 1;
        let edge = 10i128.checked_pow(15 + s).filter(|e| *e <= max);
        let mut values = vec![
            Some(0),
            Some(1),
            Some(-1),
            None,
            Some(123_456),
            Some(max),
            Some(-max),
        ];
        if let Some(e) = edge {
            values.extend([Some(e - 1), Some(e), Some(-e), Some(-(e - 1))]);
        }
        out.push(typed_decimal(38, scale, &values));
    }
    out.push(typed_decimal(
        10,
        2,
        &[Some(0), Some(1250), Some(-1), None, Some(9_999_999_999)],
    ));

    let bools = [Some(true), Some(false), None, Some(true)];
    out.push(Typed {
        what: "boolean".to_owned(),
        array: Arc::new(BooleanArray::from(bools.to_vec())),
        texts: bools.iter().map(|v| v.map(|b| b.to_string())).collect(),
        fields: &["bool", "string"],
    });

    out.push(typed_strings(
        "utf8",
        Arc::new(StringArray::from(TEXTS.to_vec())),
        TEXTS,
    ));
    out.push(typed_strings(
        "large_utf8",
        Arc::new(LargeStringArray::from(TEXTS.to_vec())),
        TEXTS,
    ));
    out.push(typed_strings(
        "utf8_view",
        Arc::new(StringViewArray::from(TEXTS.to_vec())),
        TEXTS,
    ));
    out
}

/// Runs the probe for `t` into a field of type `ty`: decide --explain on
/// the Parquet file (1, 2 and 8 threads) and the Arrow stream against the
/// CSV, with and without `--skip-bad-rows`; the mismatches, described.
fn probe(t: &Typed, ty: &str) -> Vec<String> {
    let wd = Workdir::new();
    let n = t.array.len();
    let b = batch(vec![("k", keys(n)), ("x", t.array.clone())]);
    let rows: Vec<Vec<Option<String>>> = t
        .texts
        .iter()
        .enumerate()
        .map(|(i, x)| vec![Some(format!("r{}", i + 1)), x.clone()])
        .collect();
    let csv = csv_text(&["k", "x"], &rows);
    wd.write("d.csv", &csv).write("p.yaml", probe_policy(ty));
    // Two rows to a group, so that the values are spread over row groups.
    pq(&wd.path("d.parquet"), &b, 2);
    let arrow = stream(&b.schema(), &[b.slice(0, n / 2), b.slice(n / 2, n - n / 2)]);
    let mut bad = Vec::new();
    for skip in [false, true] {
        let mut args = vec!["decide", "p.yaml", "--data", "DATA", "--explain"];
        if skip {
            args.push("--skip-bad-rows");
        }
        let want = seen(&wd, &args, "d.csv", None);
        for threads in ["1", "2", "8"] {
            let mut a = args.clone();
            a.extend(["--threads", threads]);
            let got = seen(&wd, &a, "d.parquet", None);
            if got != want {
                bad.push(format!(
                    "{} into {ty} (Parquet, {threads} threads, skip {skip}):\n  CSV:     {want:?}\n  Parquet: {got:?}",
                    t.what
                ));
                break;
            }
        }
        let got = seen(&wd, &args, "-", Some(&arrow));
        if got != want {
            bad.push(format!(
                "{} into {ty} (Arrow stream, skip {skip}):\n  CSV:   {want:?}\n  Arrow: {got:?}",
                t.what
            ));
        }
    }
    bad
}

#[test]
fn every_arrow_type_into_every_field_it_may_fill_reads_as_its_csv_text() {
    let mut bad = Vec::new();
    for t in typed_columns() {
        for ty in t.fields {
            bad.extend(probe(&t, ty));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_negative_scale_decimal_reads_as_its_digits_in_an_arrow_stream() {
    // Parquet has no negative scales; an Arrow stream may carry one.
    let wd = Workdir::new();
    let values = [Some(5i128), Some(-12), None, Some(0)];
    let array = Decimal128Array::from_iter(values)
        .with_precision_and_scale(10, -3)
        .unwrap();
    let b = batch(vec![("k", keys(4)), ("x", Arc::new(array))]);
    let csv = csv_text(
        &["k", "x"],
        &values
            .iter()
            .enumerate()
            .map(|(i, v)| vec![Some(format!("r{}", i + 1)), v.map(|m| decimal_text(m, -3))])
            .collect::<Vec<_>>(),
    );
    let arrow = stream(&b.schema(), &[b]);
    for ty in ["decimal", "float", "string"] {
        wd.write("p.yaml", probe_policy(ty)).write("d.csv", &csv);
        let want = seen(
            &wd,
            &["decide", "p.yaml", "--data", "DATA", "--explain"],
            "d.csv",
            None,
        );
        let got = seen(
            &wd,
            &["decide", "p.yaml", "--data", "DATA", "--explain"],
            "-",
            Some(&arrow),
        );
        assert_eq!(got, want, "{ty}");
        assert_eq!(want.0, Some(0), "{want:?}");
    }
}

/// Decimal32, Decimal64 and Decimal256 columns (pyarrow's `decimal32`,
/// `decimal64`, `decimal256`, and what arrow-rs reads a Parquet decimal as
/// when the file's Arrow schema says so, or its precision is past 38) are
/// decimals: they read as `decimal128` does.
#[test]
fn decimal32_and_decimal64_columns_read_as_decimals() {
    let wd = Workdir::new();
    wd.write("p.yaml", probe_policy("decimal"));
    let d32 = Decimal32Array::from(vec![Some(1250), None, Some(-1)])
        .with_precision_and_scale(9, 2)
        .unwrap();
    let d64 = Decimal64Array::from(vec![Some(1250), None, Some(-1)])
        .with_precision_and_scale(18, 2)
        .unwrap();
    let d256 = arrow_array::Decimal256Array::from(vec![
        Some(arrow_buffer::i256::from_i128(1250)),
        None,
        Some(arrow_buffer::i256::from_i128(-1)),
    ])
    .with_precision_and_scale(40, 2)
    .unwrap();
    let csv = "k,x\nr1,12.50\nr2,\nr3,-0.01\n";
    for array in [Arc::new(d32) as ArrayRef, Arc::new(d64), Arc::new(d256)] {
        let b = batch(vec![("k", keys(3)), ("x", array)]);
        pq(&wd.path("d.parquet"), &b, 100);
        let arrow = stream(&b.schema(), &[b]);
        let r = same_as_csv(
            &wd,
            &["decide", "p.yaml", "--data", "DATA", "--explain"],
            csv,
            Some(&arrow),
        );
        assert_eq!(r.0, Some(0), "{r:?}");
    }
}

/// A dictionary-encoded string column (a pandas categorical; what pyarrow
/// and arrow-rs read back from a Parquet file whose Arrow schema says
/// dictionary) holds strings: it reads as its values.
#[test]
fn a_dictionary_encoded_string_column_reads_as_its_strings() {
    let wd = Workdir::new();
    let dict: DictionaryArray<Int32Type> = vec![Some("beijing"), None, Some("7"), Some("beijing")]
        .into_iter()
        .collect();
    let b = batch(vec![("k", keys(4)), ("x", Arc::new(dict))]);
    pq(&wd.path("d.parquet"), &b, 100);
    let arrow = stream(&b.schema(), std::slice::from_ref(&b));
    let csv = "k,x\nr1,beijing\nr2,\nr3,7\nr4,beijing\n";
    for ty in ["string", "int"] {
        wd.write("p.yaml", probe_policy(ty));
        let r = same_as_csv(
            &wd,
            &[
                "decide",
                "p.yaml",
                "--data",
                "DATA",
                "--explain",
                "--skip-bad-rows",
            ],
            csv,
            Some(&arrow),
        );
        assert_eq!(r.0, Some(0), "{ty}: {r:?}");
    }
    // And as a `--by` segment.
    let arrow = stream(&b.schema(), &[b]);
    let r = same_as_csv(
        &wd,
        &[
            "simulate",
            &by_policy(&wd),
            "--data",
            "DATA",
            "--by",
            "x",
            "--format",
            "json",
        ],
        csv,
        Some(&arrow),
    );
    assert_eq!(r.0, Some(0), "{r:?}");
}

/// A small policy reading `k` and `x` as strings, for `--by x`.
fn by_policy(wd: &Workdir) -> String {
    wd.write(
        "s.yaml",
        "policy: s\nkey: k\nfields: { k: string, x: string }\nrules:\n  - { id: r, reason: R, when: { x: { ne: zz } } }\n",
    );
    "s.yaml".to_owned()
}

#[test]
fn an_int_column_into_a_bool_field_takes_one_and_zero_only() {
    let wd = Workdir::new();
    let b = batch(vec![
        ("k", keys(5)),
        (
            "x",
            Arc::new(Int64Array::from(vec![
                Some(0),
                Some(1),
                Some(2),
                Some(-1),
                None,
            ])),
        ),
    ]);
    pq(&wd.path("d.parquet"), &b, 2);
    wd.write("p.yaml", probe_policy("bool"));
    let csv = "k,x\nr1,0\nr2,1\nr3,2\nr4,-1\nr5,\n";
    let arrow = stream(&b.schema(), &[b]);
    let (code, _, err) = same_as_csv(
        &wd,
        &["decide", "p.yaml", "--data", "DATA"],
        csv,
        Some(&arrow),
    );
    assert_eq!(code, Some(2));
    assert_contains(
        &err,
        &["`2` in column `x` (field 2) is not a bool", "DATA:4"],
    );
    let (code, out, err) = same_as_csv(
        &wd,
        &["decide", "p.yaml", "--data", "DATA", "--skip-bad-rows"],
        csv,
        Some(&arrow),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "k,outcome,reasons,limit\nr1,decline,R,\nr2,approve,,\nr5,decline,R,"
    );
    let _ = &err;
}

// ---------------------------------------------------------------------------
// Nulls
// ---------------------------------------------------------------------------

#[test]
fn nulls_in_every_column_key_and_segment_are_missing_values_as_in_csv() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nkey: k\nfields: { k: string, n: int, s: string, b: bool, d: decimal }\nrules:\n  - { id: n, reason: N, when: { n: { gte: 5 } } }\n  - { id: b, reason: B, when: { b: true } }\n  - { id: d, reason: D, when: { d: { lt: 10 } } }\nlimit:\n  - amount: 100\n",
    );
    let table = |z: Option<i64>| {
        let k = StringArray::from(vec![
            Some("r1"),
            None,
            Some("r3"),
            None,
            Some("r5"),
            Some(""),
        ]);
        let n = Int64Array::from(vec![Some(7), None, None, None, Some(3), Some(9)]);
        let s = StringArray::from(vec![Some("a"), Some("b"), None, None, Some(" "), Some("a")]);
        let bo = BooleanArray::from(vec![Some(true), None, Some(false), None, Some(true), None]);
        let d = Decimal128Array::from(vec![Some(150), None, Some(2000), None, None, Some(-1)])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let z = Int64Array::from(vec![None, None, None, z, None, None]);
        batch(vec![
            ("k", Arc::new(k) as ArrayRef),
            ("n", Arc::new(n)),
            ("s", Arc::new(s)),
            ("b", Arc::new(bo)),
            ("d", Arc::new(d)),
            ("z", Arc::new(z)),
        ])
    };
    // Row 4 holds only `z`, which the policy does not read.
    let b = table(Some(1));
    pq(&wd.path("d.parquet"), &b, 4);
    let arrow = stream(&b.schema(), &[b.slice(0, 3), b.slice(3, 3)]);
    let csv = "k,n,s,b,d,z\nr1,7,a,true,1.50,\n,,b,,,\nr3,,,false,20.00,\n,,,,,1\nr5,3, ,true,,\n,9,a,,-0.01,\n";
    let explained = "k,outcome,reasons,limit,why\nr1,approve,,100.00,\n,decline,N;B;D,,N: n missing; B: b missing; D: d missing\nr3,decline,N;B;D,,N: n missing; B: b=false!=true; D: d=20.00>=10\n,decline,N;B;D,,N: n missing; B: b missing; D: d missing\nr5,decline,N;D,,N: n=3<5; D: d missing\n,decline,B,,B: b missing";
    let args = ["decide", "p.yaml", "--data", "DATA", "--explain"];
    let r = same_as_csv(&wd, &args, csv, Some(&arrow));
    assert_eq!(r.1, explained);
    for args in [
        &[
            "simulate", "p.yaml", "--data", "DATA", "--by", "s", "--format", "json",
        ][..],
        &[
            "simulate", "p.yaml", "--data", "DATA", "--by", "n:5", "--by", "b", "--format", "json",
        ],
        &["check", "p.yaml", "--data", "DATA"],
    ] {
        let r = same_as_csv(&wd, args, csv, Some(&arrow));
        assert_ne!(r.0, None, "{r:?}");
    }
    // Null in every column: a row of missing values, where the CSV line of
    // commas is an empty row (the one documented difference).
    let b = table(None);
    pq(&wd.path("d.parquet"), &b, 4);
    let arrow = stream(&b.schema(), &[b.slice(0, 3), b.slice(3, 3)]);
    for (data, input) in [("d.parquet", None), ("-", Some(arrow.as_slice()))] {
        let r = seen(&wd, &args, data, input);
        assert_eq!(r, (Some(0), explained.to_owned(), String::new()), "{data}");
    }
    wd.write(
        "z.yaml",
        "policy: z\nfields: { z: int }\nrules:\n  - { id: z, reason: Z, when: { z: { missing: true } } }\n",
    );
    let r = wd.json(&["simulate", "z.yaml", "--data", "d.parquet"]);
    assert_eq!(
        (&r["rows"], &r["approved"]),
        (&Value::from(6), &Value::from(6))
    );
}

/// A column of nulls with no other type (pyarrow's `pa.nulls`, a pandas
/// column of `None`) is a column of missing values, as the CSV's empty
/// column is, whatever the field's type.
#[test]
fn a_column_of_type_null_reads_as_missing_values() {
    // arrow-rs does not write a Null column to Parquet (pyarrow does, and
    // polsim refuses the file the same way: `a Parquet Null`); an Arrow
    // stream carries one.
    let wd = Workdir::new();
    let b = batch(vec![("k", keys(3)), ("x", Arc::new(NullArray::new(3)))]);
    let arrow = stream(&b.schema(), &[b]);
    wd.write("d.csv", "k,x\nr1,\nr2,\nr3,\n");
    let args = ["decide", "p.yaml", "--data", "DATA", "--explain"];
    for ty in ["int", "string", "decimal"] {
        wd.write("p.yaml", probe_policy(ty));
        let want = seen(&wd, &args, "d.csv", None);
        assert_eq!(want.0, Some(0), "{want:?}");
        assert_eq!(seen(&wd, &args, "-", Some(&arrow)), want, "{ty}");
    }
}

// ---------------------------------------------------------------------------
// Structure
// ---------------------------------------------------------------------------

#[test]
fn an_empty_table_and_a_schema_only_stream_have_zero_rows_like_a_header_only_csv() {
    let wd = Workdir::new();
    let schema = Arc::new(ArrowSchema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("x", DataType::Int64, true),
    ]));
    // No row group at all.
    write_pq(&wd.path("d.parquet"), schema.clone(), &[], 100);
    let md = ::parquet::file::reader::SerializedFileReader::new(
        std::fs::File::open(wd.path("d.parquet")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ::parquet::file::reader::FileReader::metadata(&md).num_row_groups(),
        0
    );
    wd.write("p.yaml", probe_policy("int"));
    let arrow = stream(&schema, &[]);
    for args in [
        &["decide", "p.yaml", "--data", "DATA"][..],
        &["simulate", "p.yaml", "--data", "DATA", "--format", "json"],
        &["check", "p.yaml", "--data", "DATA"],
    ] {
        let r = same_as_csv(&wd, args, "k,x\n", Some(&arrow));
        assert_ne!(r.0, None);
    }
    // Batches of no rows, and a row group of none, read as nothing.
    let empty = RecordBatch::new_empty(schema.clone());
    let one = batch(vec![
        ("k", keys(1)),
        ("x", Arc::new(Int64Array::from(vec![5]))),
    ]);
    let arrow = stream(&schema, &[empty.clone(), one.clone(), empty.clone()]);
    {
        let props = ::parquet::file::properties::WriterProperties::builder().build();
        let file = std::fs::File::create(wd.path("d.parquet")).unwrap();
        let mut w =
            ::parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        w.write(&empty).unwrap();
        w.flush().unwrap();
        w.write(&one).unwrap();
        w.flush().unwrap();
        w.write(&empty).unwrap();
        w.close().unwrap();
    }
    let r = same_as_csv(
        &wd,
        &["decide", "p.yaml", "--data", "DATA", "--explain"],
        "k,x\nr1,5\n",
        Some(&arrow),
    );
    assert_eq!(r.0, Some(0), "{r:?}");
}

#[test]
fn many_tiny_row_groups_and_one_past_a_batch_give_the_csv_report_at_any_thread_count() {
    let wd = Workdir::new();
    let whole = sample_batch();
    let csv = sample_csv();
    let policy = jd_plus();
    for group in [1usize, 7, 20_000] {
        let part = if group == 1 {
            whole.slice(0, 300)
        } else {
            whole.clone()
        };
        pq(&wd.path("d.parquet"), &part, group);
        let csv = if group == 1 {
            csv.lines().take(301).collect::<Vec<_>>().join("\n") + "\n"
        } else {
            csv.clone()
        };
        let arrow = stream(&part.schema(), std::slice::from_ref(&part));
        for args in [
            &[
                "simulate",
                &policy,
                "--data",
                "DATA",
                "--by",
                "city_tier",
                "--by",
                "zhima_score:600,700",
                "--trials",
                "5",
                "--format",
                "json",
            ][..],
            &["decide", &policy, "--data", "DATA", "--explain"],
        ] {
            let r = same_as_csv(&wd, args, &csv, Some(&arrow));
            assert_eq!(r.0, Some(0), "{group}: {r:?}");
        }
    }
}

#[test]
fn compare_and_sweep_on_parquet_equal_the_csv_at_any_thread_count() {
    let wd = Workdir::new();
    let whole = sample_batch();
    pq(&wd.path("d.parquet"), &whole, 3000);
    let arrow = stream(&whole.schema(), std::slice::from_ref(&whole));
    let policy = jd_plus();
    let csv = sample_csv();
    for args in [
        &[
            "compare",
            &policy,
            "--challenger-set",
            "min_score=620",
            "--data",
            "DATA",
            "--by",
            "city_tier",
            "--format",
            "json",
        ][..],
        &[
            "sweep",
            &policy,
            "--data",
            "DATA",
            "--param",
            "min_score=550,600,650",
            "--format",
            "json",
        ],
        &["check", &policy, "--data", "DATA", "--format", "json"],
    ] {
        let r = same_as_csv(&wd, args, &csv, Some(&arrow));
        assert_eq!(r.0, Some(0), "{args:?}: {r:?}");
    }
}

#[test]
fn partials_of_parts_in_different_formats_merge_to_the_report_of_the_whole() {
    let wd = Workdir::new();
    let whole = sample_batch();
    let csv = sample_csv();
    let lines: Vec<&str> = csv.lines().collect();
    // Part a: Parquet, written with `--partial FILE`; part b: an Arrow
    // stream on standard input, printed with `--emit partial`; part c:
    // the rest of the CSV file with its header line.
    pq(&wd.path("a.parquet"), &whole.slice(0, 7000), 1000);
    let b = whole.slice(7000, 6000);
    let b_stream = stream(&b.schema(), &[b]);
    let mut c = lines[0].to_owned() + "\n";
    for line in &lines[13001..] {
        c.push_str(line);
        c.push('\n');
    }
    wd.write("c.csv", c);
    wd.write("all.csv", &csv);
    let policy = jd_plus();
    let common = ["--by", "city_tier", "--trials", "20", "--seed", "3"];
    let with_common = |head: &[&str]| {
        let mut args: Vec<String> = head.iter().map(|a| a.to_string()).collect();
        args.extend(common.iter().map(|a| a.to_string()));
        args
    };
    let run = |args: &[String], stdin: Option<&[u8]>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = wd.command(&args);
        if let Some(bytes) = stdin {
            cmd.write_stdin(bytes.to_vec());
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        out.stdout
    };
    let args = [
        "simulate",
        &policy,
        "--data",
        "a.parquet",
        "--partial",
        "a.partial",
    ];
    run(&with_common(&args), None);
    let args = [
        "simulate",
        &policy,
        "--data",
        "-",
        "--emit",
        "partial",
        "--threads",
        "8",
    ];
    wd.write("b.partial", run(&with_common(&args), Some(&b_stream)));
    let args = [
        "simulate",
        &policy,
        "--data",
        "c.csv",
        "--partial",
        "c.partial",
    ];
    run(&with_common(&args), None);
    let merged = wd.json(&["merge", "c.partial", "a.partial", "b.partial"]);
    let direct: Value = serde_json::from_slice(&run(
        &with_common(&["simulate", &policy, "--data", "all.csv"]),
        None,
    ))
    .unwrap();
    let parts: Vec<u64> = merged["manifest"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(parts, [7000, 7000, 6000]);
    let strip = |mut v: Value| {
        v["manifest"]["data_sha256"] = Value::Null;
        if let Some(m) = v["manifest"].as_object_mut() {
            m.remove("parts");
        }
        v
    };
    assert_eq!(strip(merged), strip(direct));
}

#[test]
fn a_column_the_file_lacks_is_an_error_listing_the_file_columns() {
    let wd = Workdir::new();
    let b = batch(vec![
        ("k", keys(2)),
        ("a,b", Arc::new(Int64Array::from(vec![1, 2]))),
        ("say \"q\"", Arc::new(Int64Array::from(vec![1, 2]))),
        ("北京", Arc::new(Int64Array::from(vec![1, 2]))),
    ]);
    pq(&wd.path("d.parquet"), &b, 100);
    wd.write("p.yaml", probe_policy("int"));
    let csv = "k,\"a,b\",\"say \"\"q\"\"\",北京\nr1,1,1,1\nr2,2,2,2\n";
    let arrow = stream(&b.schema(), &[b]);
    let (code, _, err) = same_as_csv(
        &wd,
        &["decide", "p.yaml", "--data", "DATA"],
        csv,
        Some(&arrow),
    );
    assert_eq!(code, Some(2));
    assert_contains(
        &err,
        &[
            "the dataset has no column `x`",
            "DATA:1",
            "`k`, `a,b`, `say \"q\"`, `北京`",
        ],
    );
    // Odd names read when the policy names them.
    wd.write(
        "q.yaml",
        "policy: q\nkey: k\nfields: { k: string, \"a,b\": int, \"say \\\"q\\\"\": int, 北京: int }\nrules:\n  - { id: r, reason: R, when: { \"a,b\": { gte: 2 } } }\n  - { id: s, reason: S, when: { 北京: { gte: 2 } } }\n",
    );
    let r = same_as_csv(
        &wd,
        &["decide", "q.yaml", "--data", "DATA", "--explain"],
        csv,
        None,
    );
    assert_eq!(r.0, Some(0), "{r:?}");
}

#[test]
fn duplicate_column_names_are_the_csv_error_when_read_and_ignored_when_not() {
    let wd = Workdir::new();
    let schema = Arc::new(ArrowSchema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("x", DataType::Int64, true),
        Field::new("x", DataType::Utf8, true),
        Field::new("y", DataType::Int64, true),
        Field::new("y", DataType::Int64, true),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            keys(2),
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(Int64Array::from(vec![3, 4])),
            Arc::new(Int64Array::from(vec![5, 6])),
        ],
    )
    .unwrap();
    pq(&wd.path("d.parquet"), &b, 100);
    let arrow = stream(&schema, &[b]);
    let csv = "k,x,x,y,y\nr1,1,a,3,5\nr2,2,b,4,6\n";
    wd.write("p.yaml", probe_policy("int"));
    let (code, _, err) = same_as_csv(
        &wd,
        &["decide", "p.yaml", "--data", "DATA"],
        csv,
        Some(&arrow),
    );
    assert_eq!(code, Some(2));
    assert_contains(&err, &["column `x` appears more than once in the header"]);
    wd.write("k.yaml", "policy: k\nkey: k\nfields: { k: string }\nrules:\n  - { id: r, reason: R, when: { k: r1 } }\n");
    let r = same_as_csv(
        &wd,
        &["decide", "k.yaml", "--data", "DATA"],
        csv,
        Some(&arrow),
    );
    assert_eq!(r.0, Some(0), "{r:?}");
}

#[test]
fn nested_columns_beside_the_read_ones_are_ignored_and_refused_when_read() {
    let wd = Workdir::new();
    let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), None]),
        None,
        Some(vec![]),
    ]);
    let strukt = StructArray::from(vec![
        (
            Arc::new(Field::new("x", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(9), None, Some(8)])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("s", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec!["p", "q", "r"])) as ArrayRef,
        ),
    ]);
    let b = batch(vec![
        ("l", Arc::new(list) as ArrayRef),
        ("k", keys(3)),
        ("st", Arc::new(strukt)),
        (
            "x",
            Arc::new(Int64Array::from(vec![Some(1), None, Some(7777777)])),
        ),
    ]);
    pq(&wd.path("d.parquet"), &b, 2);
    let arrow = stream(&b.schema(), &[b]);
    wd.write("p.yaml", probe_policy("int"));
    let csv = "l,k,st,x\nL,r1,S,1\nL,r2,S,\nL,r3,S,7777777\n";
    let r = same_as_csv(
        &wd,
        &["decide", "p.yaml", "--data", "DATA", "--explain"],
        csv,
        Some(&arrow),
    );
    assert_eq!(r.0, Some(0), "{r:?}");
    // Read as a field, a nested column is refused, naming it.
    wd.write(
        "q.yaml",
        "policy: q\nfields: { st: string }\nrules:\n  - { id: r, reason: R, when: { st: { missing: false } } }\n",
    );
    let err = wd.fails(&["simulate", "q.yaml", "--data", "d.parquet"], 2);
    assert_contains(
        &err,
        &[
            "column `st` of `d.parquet` is a Parquet Struct",
            "d.parquet:1:1",
        ],
    );
}

/// A CSV header's names are trimmed (` x ` is the column `x`); the same
/// names in a Parquet file or an Arrow stream read the same.
#[test]
fn column_names_with_spaces_around_match_as_in_a_csv_header() {
    let wd = Workdir::new();
    let b = batch(vec![
        (" k", keys(2)),
        ("x ", Arc::new(Int64Array::from(vec![1, 2]))),
    ]);
    pq(&wd.path("d.parquet"), &b, 100);
    let arrow = stream(&b.schema(), &[b]);
    wd.write("p.yaml", probe_policy("int"));
    let r = same_as_csv(
        &wd,
        &["decide", "p.yaml", "--data", "DATA", "--explain"],
        " k,x \nr1,1\nr2,2\n",
        Some(&arrow),
    );
    assert_eq!(r.0, Some(0), "{r:?}");
}

// ---------------------------------------------------------------------------
// Bad cells across row groups
// ---------------------------------------------------------------------------

/// 40,000 rows (keys, an int column of text with bad cells, a decimal), in
/// groups of `group` rows: the bad cells at rows 3, 17,000 and 39,999 (and
/// the decimal too large at row 25,000).
fn bad_cells() -> (RecordBatch, String) {
    let n = 40_000;
    let mut csv = String::from("k,x,d\n");
    let mut xs = Vec::with_capacity(n);
    let mut ds = Vec::with_capacity(n);
    for i in 1..=n {
        let x = match i {
            3 => "three".to_owned(),
            17_000 => "1.5".to_owned(),
            39_999 => "9223372036854775808".to_owned(),
            _ => (i % 900).to_string(),
        };
        let d = if i == 25_000 {
            10i128.pow(17)
        } else {
            i as i128 * 7
        };
        csv.push_str(&format!("r{i},{x},{}\n", decimal_text(d, 2)));
        xs.push(x);
        ds.push(d);
    }
    let b = batch(vec![
        ("k", keys(n)),
        ("x", Arc::new(StringArray::from(xs))),
        (
            "d",
            Arc::new(
                Decimal128Array::from(ds)
                    .with_precision_and_scale(20, 2)
                    .unwrap(),
            ),
        ),
    ]);
    (b, csv)
}

#[test]
fn bad_cells_in_several_row_groups_are_the_csv_errors_and_skips_at_any_thread_count() {
    let wd = Workdir::new();
    let (b, csv) = bad_cells();
    wd.write(
        "p.yaml",
        "policy: p\nkey: k\nfields: { k: string, x: int, d: decimal }\nrules:\n  - { id: r, reason: R, when: { x: { gte: 100 } } }\n  - { id: d, reason: D, when: { d: { lt: 1000 } } }\n",
    );
    // One stream batch of all 40,000 rows (past a read batch of 16,384).
    let arrow = stream(&b.schema(), std::slice::from_ref(&b));
    for group in [40_000, 5_000, 333] {
        pq(&wd.path("d.parquet"), &b, group);
        let (code, _, err) = same_as_csv(
            &wd,
            &["simulate", "p.yaml", "--data", "DATA"],
            &csv,
            Some(&arrow),
        );
        assert_eq!(code, Some(2));
        assert_contains(
            &err,
            &["`three` in column `x` (field 2) is not an int", "DATA:4"],
        );
        let (code, out, _) = same_as_csv(
            &wd,
            &[
                "simulate",
                "p.yaml",
                "--data",
                "DATA",
                "--skip-bad-rows",
                "--format",
                "json",
            ],
            &csv,
            Some(&arrow),
        );
        assert_eq!(code, Some(0));
        let r: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["rows"], 40_000 - 4, "{group}");
        let r = same_as_csv(
            &wd,
            &["check", "p.yaml", "--data", "DATA", "--format", "json"],
            &csv,
            Some(&arrow),
        );
        assert_contains(&r.1, &["17001", "25001", "40000"]);
        let r = same_as_csv(
            &wd,
            &["decide", "p.yaml", "--data", "DATA", "--skip-bad-rows"],
            &csv,
            Some(&arrow),
        );
        assert_eq!(r.0, Some(0));
    }
    // The first bad cell in file order wins whatever the threads, even when
    // a later group is decoded first: the first group's bad cell is last in it.
    let (code, _, err) = {
        let mut rows = csv.lines().map(str::to_owned).collect::<Vec<_>>();
        rows[3] = "r3,3,0.21".to_owned();
        let csv2 = rows.join("\n") + "\n";
        let xs: Vec<String> = rows[1..]
            .iter()
            .map(|r| r.split(',').nth(1).unwrap().to_owned())
            .collect();
        let b2 = batch(vec![
            ("k", b.column(0).clone()),
            ("x", Arc::new(StringArray::from(xs))),
            ("d", b.column(2).clone()),
        ]);
        pq(&wd.path("d.parquet"), &b2, 17_000);
        same_as_csv(&wd, &["simulate", "p.yaml", "--data", "DATA"], &csv2, None)
    };
    assert_eq!(code, Some(2));
    assert_contains(
        &err,
        &["`1.5` in column `x` (field 2) is not an int", "DATA:17001"],
    );
}

// ---------------------------------------------------------------------------
// Damaged data
// ---------------------------------------------------------------------------

/// A small Parquet file of every kind of page: dictionary-encoded strings,
/// a decimal(20, 2) (fixed-length bytes), ints and booleans with nulls, in
/// three row groups.
fn small_file(path: &Path, compression: ::parquet::basic::Compression) {
    let n = 300;
    let b = batch(vec![
        ("k", keys(n)),
        (
            "x",
            Arc::new(Int64Array::from_iter(
                (0..n as i64).map(|i| (i % 7 != 0).then_some(i * 7)),
            )),
        ),
        (
            "s",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("v{}", i % 5)),
            )),
        ),
        (
            "d",
            Arc::new(
                Decimal128Array::from_iter_values((0..n as i128).map(|i| i * 101))
                    .with_precision_and_scale(20, 2)
                    .unwrap(),
            ),
        ),
        (
            "b",
            Arc::new(BooleanArray::from_iter(
                (0..n).map(|i| (i % 3 != 0).then_some(i % 2 == 0)),
            )),
        ),
    ]);
    let props = ::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .set_compression(compression)
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(file, b.schema(), Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

const SMALL_POLICY: &str = "policy: q\nkey: k\nfields: { k: string, x: int, s: string, d: decimal, b: bool }\nrules:\n  - { id: r, reason: R, when: { x: { gte: 100 } } }\n  - { id: s, reason: S, when: { s: { ne: v3 } } }\n  - { id: d, reason: D, when: { d: { lt: 50 } } }\n  - { id: b, reason: B, when: { b: true } }\n";

/// Runs `simulate` on `name`: a success or a clear exit-2 error, never a
/// panic nor a hang. `Err` describes what went wrong.
fn read_damaged(wd: &Workdir, name: &str) -> std::result::Result<i32, String> {
    let out = wd
        .command(&["simulate", "q.yaml", "--data", name, "--quiet"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(0),
        Some(2) if !err.contains("panicked") && err.contains(name) => Ok(2),
        code => Err(format!(
            "exit {code:?}: {}",
            err.lines().take(2).collect::<Vec<_>>().join(" | ")
        )),
    }
}

#[test]
fn a_parquet_file_cut_anywhere_is_an_exit_2_error() {
    let wd = Workdir::new();
    wd.write("q.yaml", SMALL_POLICY);
    small_file(&wd.path("f.parquet"), ::parquet::basic::Compression::SNAPPY);
    let bytes = std::fs::read(wd.path("f.parquet")).unwrap();
    let mut bad = Vec::new();
    for cut in
        (0..bytes.len())
            .step_by(bytes.len() / 40)
            .chain([bytes.len() - 1, bytes.len() - 4, 5, 8])
    {
        wd.write("cut.parquet", &bytes[..cut]);
        // A cut file is never read as if whole.
        match read_damaged(&wd, "cut.parquet") {
            Ok(2) => {}
            Ok(code) => bad.push(format!("cut at {cut}: exit {code}")),
            Err(e) => bad.push(format!("cut at {cut}: {e}")),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Flips bytes at a stride through the file's pages (snappy, zstd and
/// uncompressed): every run ends in a report or an exit-2 error.
fn flip_through(compression: ::parquet::basic::Compression, stride: usize) -> Vec<String> {
    let wd = Workdir::new();
    wd.write("q.yaml", SMALL_POLICY);
    small_file(&wd.path("f.parquet"), compression);
    let bytes = std::fs::read(wd.path("f.parquet")).unwrap();
    let mut bad = Vec::new();
    for at in (4..bytes.len() - 8).step_by(stride) {
        for value in [0xff, 0x00] {
            let mut damaged = bytes.clone();
            damaged[at] = value;
            wd.write("m.parquet", &damaged);
            if let Err(e) = read_damaged(&wd, "m.parquet") {
                bad.push(format!("byte {at} set to {value:#04x}: {e}"));
            }
        }
    }
    bad
}

#[test]
fn a_parquet_file_with_a_damaged_byte_anywhere_is_an_exit_2_error() {
    let mut bad = Vec::new();
    for (c, stride) in [
        (::parquet::basic::Compression::SNAPPY, 5),
        (::parquet::basic::Compression::ZSTD(Default::default()), 7),
        (::parquet::basic::Compression::UNCOMPRESSED, 13),
    ] {
        bad.extend(
            flip_through(c, stride)
                .into_iter()
                .map(|e| format!("{c:?}: {e}")),
        );
    }
    assert!(
        bad.is_empty(),
        "{} damaged files:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// `f.parquet` with its footer rewritten by `change` (the row groups'
/// metadata, as a writer that lies would leave them).
fn with_footer(
    wd: &Workdir,
    name: &str,
    change: impl Fn(
        Vec<::parquet::file::metadata::RowGroupMetaData>,
    ) -> Vec<::parquet::file::metadata::RowGroupMetaData>,
) {
    use ::parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
    let bytes = std::fs::read(wd.path("f.parquet")).unwrap();
    let len = bytes.len();
    let footer = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
    let body = &bytes[..len - 8 - footer];
    let md = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::from(bytes.clone()))
        .unwrap();
    let groups = change(md.row_groups().to_vec());
    let md = md.into_builder().set_row_groups(groups).build();
    let mut out = body.to_vec();
    ParquetMetaDataWriter::new(&mut out, &md).finish().unwrap();
    wd.write(name, out);
}

#[test]
fn a_footer_whose_row_counts_lie_is_an_exit_2_error() {
    let wd = Workdir::new();
    wd.write("q.yaml", SMALL_POLICY);
    small_file(&wd.path("f.parquet"), ::parquet::basic::Compression::SNAPPY);
    // A footer rewritten as it was reads as the file.
    with_footer(&wd, "same.parquet", |g| g);
    let want = wd.json(&["simulate", "q.yaml", "--data", "f.parquet"]);
    let got = wd.json(&["simulate", "q.yaml", "--data", "same.parquet"]);
    assert_eq!(without_hash(got), without_hash(want));
    let mut bad = Vec::new();
    for (name, rows) in [
        ("negative", -5i64),
        ("more", 150),
        ("fewer", 60),
        ("zero", 0),
        ("huge", i64::MAX / 4),
        ("max", i64::MAX / 3),
    ] {
        let file = format!("{name}.parquet");
        with_footer(&wd, &file, |groups| {
            groups
                .into_iter()
                .map(|g| g.into_builder().set_num_rows(rows).build().unwrap())
                .collect()
        });
        let out = wd
            .command(&["simulate", "q.yaml", "--data", &file, "--format", "json"])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let rows_read = serde_json::from_slice::<Value>(&out.stdout)
            .map(|r| r["rows"].clone())
            .unwrap_or_default();
        let err = format!("{rows_read} rows read; {err}");
        match out.status.code() {
            // A footer that lies is damage: the rows are not what it says.
            Some(2) if err.contains(&file) && !err.contains("panicked") => {}
            code => bad.push(format!(
                "{name} ({rows} rows a group): exit {code:?}, {}",
                err.lines().take(2).collect::<Vec<_>>().join(" | ")
            )),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

fn without_hash(mut v: Value) -> Value {
    v["manifest"]["data_sha256"] = Value::Null;
    v
}

// ---------------------------------------------------------------------------
// Arrow streams
// ---------------------------------------------------------------------------

/// Two small batches as a stream, and where each message of it ends (the
/// schema, the first batch; the end-of-stream marker is the last 8 bytes).
fn two_batches() -> (Vec<u8>, [usize; 2]) {
    let b = batch(vec![
        ("k", keys(2)),
        ("x", Arc::new(StringArray::from(vec!["a", "b"]))),
    ]);
    let whole = stream(&b.schema(), &[b.clone(), b.clone()]);
    let schema_end = stream(&b.schema(), &[]).len() - 8;
    let first_end = stream(&b.schema(), std::slice::from_ref(&b)).len() - 8;
    (whole, [schema_end, first_end])
}

/// `polsim COMMAND p.yaml --data -` (then `extra`) with `bytes` on
/// standard input.
fn on_stdin(wd: &Workdir, command: &str, extra: &[&str], bytes: Vec<u8>) -> Output {
    let mut args = vec![command, "p.yaml", "--data", "-"];
    args.extend(extra);
    wd.command(&args)
        .timeout(Duration::from_secs(60))
        .write_stdin(bytes)
        .output()
        .unwrap()
}

#[test]
fn an_arrow_stream_cut_inside_a_message_or_followed_by_garbage_is_an_exit_2_error() {
    let wd = Workdir::new();
    let (whole, ends) = two_batches();
    wd.write("p.yaml", probe_policy("string"));
    let mut bad = Vec::new();
    let last = whole.len() - 8;
    let near = |c: usize| ends.iter().any(|e| (*e..*e + 4).contains(&c));
    for cut in (1..last).filter(|c| !near(*c)) {
        let out = on_stdin(&wd, "decide", &[], whole[..cut].to_vec());
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(2) || err.contains("panicked") || !err.contains("<stdin>") {
            bad.push(format!(
                "cut at {cut} of {}: exit {:?} {}",
                whole.len(),
                out.status.code(),
                err.lines().next().unwrap_or("")
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // A schema, then garbage.
    let mut garbage = whole[..ends[0]].to_vec();
    garbage.extend_from_slice(b"k,x\nr1,2\nnot arrow at all\n");
    let out = on_stdin(&wd, "decide", &[], garbage);
    let err = failed(out, &["decide"], 2);
    assert_contains(&err, &["<stdin>", "help:"]);
}

/// A stream that stops between two batches, without the end-of-stream
/// marker every writer ends with (pyarrow's and Spark's on close), was cut
/// short: an error, not a report of the rows before the cut.
#[test]
fn an_arrow_stream_cut_between_batches_is_an_error() {
    let wd = Workdir::new();
    let (whole, ends) = two_batches();
    wd.write("p.yaml", probe_policy("string"));
    let last = whole.len() - 8;
    for cut in [
        ends[0],
        ends[0] + 1,
        ends[0] + 3,
        ends[1],
        ends[1] + 2,
        last,
        last + 3,
    ] {
        let out = on_stdin(&wd, "decide", &[], whole[..cut].to_vec());
        let err = failed(out, &["decide"], 2);
        assert_contains(&err, &["<stdin>", "cut short"]);
    }
}

/// Bytes after the end-of-stream marker (a second stream `cat` appended,
/// or anything else) are an error: reading one stream and stopping would
/// leave rows out, and the manifest would hash less than the input.
#[test]
fn bytes_after_an_arrow_streams_end_are_an_error() {
    let wd = Workdir::new();
    let (whole, _) = two_batches();
    wd.write("p.yaml", probe_policy("string"));
    let twice = [whole.clone(), whole.clone()].concat();
    let junk = [whole.clone(), b"garbage\n".to_vec()].concat();
    let one_byte = [whole.clone(), vec![0]].concat();
    for (what, bytes) in [("twice", twice), ("junk", junk), ("one byte", one_byte)] {
        for command in ["decide", "simulate"] {
            let out = on_stdin(&wd, command, &[], bytes.clone());
            let err = failed(out, &[command, what], 2);
            assert_contains(
                &err,
                &["<stdin>", "after its Arrow stream's end-of-stream marker"],
            );
        }
    }
    // The stream alone still reads.
    let out = on_stdin(&wd, "simulate", &["--format", "json"], whole);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

// ---------------------------------------------------------------------------
// Commands that read the data by another path
// ---------------------------------------------------------------------------

/// `explain --data FILE --id KEY` finds the user in a Parquet file as in
/// the CSV of it.
#[test]

fn explain_finds_a_user_in_a_parquet_file() {
    let wd = Workdir::new();
    pq(&wd.path("d.parquet"), &sample_batch(), 3000);
    wd.write("d.csv", sample_csv());
    let policy = jd_plus();
    let args = |data: &'static str| {
        vec![
            "explain".to_owned(),
            policy.clone(),
            "--data".to_owned(),
            data.to_owned(),
            "--id".to_owned(),
            "u00000002".to_owned(),
            "--format".to_owned(),
            "json".to_owned(),
        ]
    };
    let run = |data: &'static str| {
        let a = args(data);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        seen(&wd, &a, data, None)
    };
    let want = run("d.csv");
    assert_eq!(want.0, Some(0), "{want:?}");
    assert_eq!(run("d.parquet"), want);
}

/// A `.rhai` policy types its fields from the data: from a Parquet file,
/// from its columns, as from the CSV of it.
#[test]

fn a_rhai_policy_types_its_fields_from_a_parquet_file() {
    let wd = Workdir::new();
    pq(&wd.path("d.parquet"), &sample_batch(), 3000);
    wd.write("d.csv", sample_csv());
    wd.write(
        "s.rhai",
        "fn decide(user) { if user.zhima_score >= 600 && user.order_amount < 500 { approve(800) } else { decline(\"LOW\") } }\n",
    );
    let want = seen(
        &wd,
        &["simulate", "s.rhai", "--data", "DATA", "--format", "json"],
        "d.csv",
        None,
    );
    assert_eq!(want.0, Some(0), "{want:?}");
    let got = seen(
        &wd,
        &["simulate", "s.rhai", "--data", "DATA", "--format", "json"],
        "d.parquet",
        None,
    );
    assert_eq!(got, want);
}

/// An Arrow IPC *file* (Feather v2) is refused, and the help says what
/// polsim does read: Arrow input is no longer "planned", it is the stream
/// format on standard input.
#[test]
fn an_arrow_ipc_file_is_refused_with_help_naming_the_stream_format() {
    let wd = Workdir::new();
    let b = batch(vec![
        ("k", keys(2)),
        ("x", Arc::new(Int64Array::from(vec![1, 2]))),
    ]);
    let mut bytes = Vec::new();
    {
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut bytes, &b.schema()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
    }
    wd.write("d.arrow", bytes)
        .write("p.yaml", probe_policy("int"));
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.arrow"], 2);
    assert_contains(
        &err,
        &["looks like an Arrow IPC file", "d.arrow:1:1", "stream"],
    );
    assert!(!err.contains("planned"), "{err}");
}

#[test]
fn decide_output_is_not_written_when_a_later_row_group_holds_a_bad_cell() {
    let wd = Workdir::new();
    let (b, _) = bad_cells();
    pq(&wd.path("d.parquet"), &b.slice(3, 30_000), 4_000);
    wd.write(
        "p.yaml",
        "policy: p\nkey: k\nfields: { k: string, x: int }\nrules:\n  - { id: r, reason: R, when: { x: { gte: 100 } } }\n",
    );
    let err = wd.fails(
        &[
            "decide",
            "p.yaml",
            "--data",
            "d.parquet",
            "--threads",
            "8",
            "-o",
            "out.csv",
        ],
        2,
    );
    // Row 17,000 of the file is the 16,997th of the slice: line 16,998.
    assert_contains(
        &err,
        &[
            "`1.5` in column `x` (field 2) is not an int",
            "d.parquet:16998:2",
        ],
    );
    assert!(
        !wd.files().contains(&"out.csv".to_owned()),
        "{:?}",
        wd.files()
    );
}

/// A half-precision float column (pyarrow's `float16`) is a float: it reads
/// into a `float` field as a 32-bit float does, widened exactly.
#[test]
fn a_float16_column_reads_into_a_float_field() {
    type F16 = <arrow_array::types::Float16Type as arrow_array::ArrowPrimitiveType>::Native;
    let wd = Workdir::new();
    // 1.0, 2.5 and the half nearest a third.
    let bits = arrow_buffer::Buffer::from_vec(vec![0x3c00u16, 0x4100, 0x3555]);
    let values = arrow_buffer::ScalarBuffer::<F16>::new(bits, 0, 3);
    let array = arrow_array::Float16Array::new(values, None);
    let b = batch(vec![("k", keys(3)), ("x", Arc::new(array))]);
    pq(&wd.path("d.parquet"), &b, 100);
    let arrow = stream(&b.schema(), std::slice::from_ref(&b));
    wd.write("p.yaml", probe_policy("float"));
    let r = same_as_csv(
        &wd,
        &["decide", "p.yaml", "--data", "DATA", "--explain"],
        "k,x\nr1,1\nr2,2.5\nr3,0.333251953125\n",
        Some(&arrow),
    );
    assert_eq!(r.0, Some(0), "{r:?}");
}
