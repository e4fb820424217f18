//! gzip- and zstd-compressed CSV: read streaming, with the same results as
//! the plain file (multi-member gzip too, as pigz and bgzip write it), and
//! a clear error for damaged or cut-short data.

use super::*;

const SAMPLE: &str = "datasets/sample.csv";

/// `bytes` as one gzip member.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// The report without the data's hash.
fn report(wd: &Workdir, data: &str) -> Value {
    let policy = repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned();
    let mut r = wd.json(&["simulate", &policy, "--data", data, "--by", "city_tier"]);
    r["manifest"]["data_sha256"] = Value::Null;
    r
}

#[test]
fn gzip_with_several_members_reads_as_the_plain_file() {
    let wd = Workdir::new();
    let text = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    wd.write("s.csv", &text);
    // Three members: the header and some rows, more rows, the rest.
    let lines: Vec<&str> = text.lines().collect();
    wd.write("a", format!("{}\n", lines[..5001].join("\n")));
    wd.write("b", format!("{}\n", lines[5001..12000].join("\n")));
    wd.write("c", format!("{}\n", lines[12000..].join("\n")));
    let mut members = Vec::new();
    for part in ["a", "b", "c"] {
        members.extend(gzip(wd.read(part).as_bytes()));
    }
    wd.write("m.csv.gz", members);
    let plain = report(&wd, "s.csv");
    assert_eq!(report(&wd, "m.csv.gz"), plain);
    assert_eq!(plain["rows"], 20000);
    // The manifest names the file as stored.
    let policy = repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned();
    let r = wd.json(&["simulate", &policy, "--data", "m.csv.gz"]);
    let stored = sha256_hex(&std::fs::read(wd.path("m.csv.gz")).unwrap());
    assert_eq!(r["manifest"]["data_sha256"], stored.as_str());
}

/// Two files joined with `cat`, each with its header (plain or as gzip
/// members): the second header is a bad row, and the help says what it is.
#[test]
fn a_repeated_header_from_joined_files_is_named_as_one() {
    let wd = Workdir::new();
    let text = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let a = format!("{}\n", lines[..101].join("\n"));
    let b = format!("{}\n{}\n", lines[0], lines[101..200].join("\n"));
    wd.write("joined.csv", format!("{a}{b}"));
    wd.write(
        "joined.csv.gz",
        [gzip(a.as_bytes()), gzip(b.as_bytes())].concat(),
    );
    let policy = repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned();
    for data in ["joined.csv", "joined.csv.gz"] {
        let err = wd.fails(&["simulate", &policy, "--data", data], 2);
        assert_contains(
            &err,
            &[
                &format!("{data}:102:"),
                "this row repeats the header line",
                "tail -n +2",
            ],
        );
    }
}

/// `gen -o FILE.csv.gz` / `.csv.zst` writes compressed CSV that reads
/// back as the plain file; a name of a format it does not write is refused.
#[test]
fn gen_writes_compressed_csv_by_its_name() {
    let wd = Workdir::new();
    for out in ["g.csv", "g.csv.gz", "g.csv.zst"] {
        wd.stdout(&["gen", "--rows", "3000", "--seed", "9", "-o", out]);
    }
    let plain = std::fs::read(wd.path("g.csv")).unwrap();
    let gz = std::fs::read(wd.path("g.csv.gz")).unwrap();
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(&gz[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain);
    let zst = std::fs::read(wd.path("g.csv.zst")).unwrap();
    assert_eq!(zstd::decode_all(&zst[..]).unwrap(), plain);
    let whole = report(&wd, "g.csv");
    assert_eq!(report(&wd, "g.csv.gz"), whole);
    assert_eq!(report(&wd, "g.csv.zst"), whole);
    let err = wd.fails(&["gen", "--rows", "10", "-o", "g.parquet"], 2);
    assert_contains(&err, &["`g.parquet` is named as another format"]);
    assert!(!wd.path("g.parquet").exists());
}

#[test]
fn zstd_reads_as_the_plain_file() {
    let wd = Workdir::new();
    let bytes = std::fs::read(repo_file(SAMPLE)).unwrap();
    wd.write("s.csv", &bytes);
    wd.write("s.csv.zst", zstd(&bytes));
    assert_eq!(report(&wd, "s.csv.zst"), report(&wd, "s.csv"));
    // From standard input too.
    let policy = repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned();
    let out = wd
        .command(&["decide", &policy, "--data", "-"])
        .write_stdin(std::fs::read(wd.path("s.csv.zst")).unwrap())
        .output()
        .unwrap();
    let piped = succeeded(out, &["decide"]);
    assert_eq!(piped, wd.stdout(&["decide", &policy, "--data", "s.csv"]));
}

#[test]
fn damaged_or_cut_short_compressed_data_is_an_error() {
    let wd = Workdir::new();
    let bytes = std::fs::read(repo_file(SAMPLE)).unwrap();
    wd.write("s.csv.gz", gzip(&bytes));
    wd.write("s.csv.zst", zstd(&bytes));
    let policy = repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned();
    for (file, format) in [("s.csv.gz", "gzip"), ("s.csv.zst", "zstd")] {
        let bytes = std::fs::read(wd.path(file)).unwrap();
        let cut = format!("cut.{file}");
        wd.write(&cut, &bytes[..bytes.len() / 2]);
        let err = wd.fails(&["simulate", &policy, "--data", &cut], 2);
        assert_contains(
            &err,
            &[
                &format!("cannot read `{cut}`: its {format} data is damaged or cut short"),
                "help: test the file",
            ],
        );
    }
    wd.write("g.csv.gz", b"\x1f\x8bnot gzip at all");
    let err = wd.fails(&["simulate", &policy, "--data", "g.csv.gz"], 2);
    assert_contains(
        &err,
        &["dataset `g.csv.gz` is gzip-compressed and holds no data"],
    );
}

#[test]
fn a_script_typed_by_its_data_and_explain_by_key_read_a_compressed_file() {
    // Both read the file outside the pass, and took the compressed bytes
    // for CSV text.
    let wd = Workdir::new();
    let csv = std::fs::read(repo_file(SAMPLE)).unwrap();
    wd.write("s.csv", &csv)
        .write("s.csv.gz", gzip(&csv))
        .write("s.csv.zst", zstd(&csv));
    wd.write(
        "s.rhai",
        "fn decide(user) { if user.zhima_score >= 600 && user.order_amount < 500 { approve(800) } else { decline(\"LOW\") } }\n",
    );
    let policy = repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned();
    let run = |data: &str| {
        let mut r = wd.json(&["simulate", "s.rhai", "--data", data]);
        r["manifest"]["data_sha256"] = Value::Null;
        r["manifest"]["data"] = Value::Null;
        let explained = wd.stdout(&["explain", &policy, "--data", data, "--id", "u00000002"]);
        (r, explained.replace(data, "DATA"))
    };
    let plain = run("s.csv");
    assert_eq!(plain.0["rows"], 20000);
    assert!(plain.1.contains("u00000002"), "{}", plain.1);
    assert_eq!(run("s.csv.gz"), plain);
    assert_eq!(run("s.csv.zst"), plain);
}
