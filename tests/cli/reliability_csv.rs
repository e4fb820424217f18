//! The CSV reader on malformed and unusual files: an unclosed quote or an
//! over-long first record, bare carriage returns, byte-order marks and
//! blank lines. Each test pins a bug where the header and the body, or two
//! ways of cutting the file into chunks, read the same bytes differently.

use super::*;

/// A policy whose fields are the columns `id,n,f,d,b,note`.
const SIX_COLUMNS: &str = r#"
policy: six
key: id
fields: { id: string, n: int, f: float, d: decimal, b: bool, note: string }
rules:
  - { id: some_n, reason: NO_N, when: { n: { gte: 0 } } }
"#;

/// A policy on the columns `id,n`.
const ID_N: &str = r#"
policy: idn
key: id
fields: { id: string, n: int }
rules:
  - { id: some_n, reason: NO_N, when: { n: { gte: 0 } } }
"#;

#[test]
fn an_unclosed_quote_in_the_header_is_an_error_naming_line_1() {
    let wd = Workdir::new();
    wd.write("p.yaml", SIX_COLUMNS)
        .write("r.csv", "id,n,f,d,b,\"note\nu1,1,1.0,1.0,true,x\n");
    let want = [
        "a quote opened on this line is never closed",
        "--> r.csv:1:12",
    ];
    for cmd in ["simulate", "decide"] {
        let err = wd.fails(&[cmd, "p.yaml", "--data", "r.csv"], 2);
        assert_contains(&err, &want);
    }
    // `check` exits 1 when the dataset does not fit.
    let out = wd.output(&["check", "p.yaml", "--data", "r.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_contains(&all, &want);
    assert!(!all.contains("fits"), "{all}");
}

#[test]
fn an_endless_first_line_is_refused_within_the_record_limit_and_not_printed() {
    let wd = Workdir::new();
    wd.write("p.yaml", SIX_COLUMNS);
    // /dev/zero is only read. The header search must stop at 64 MiB rather
    // than read on until memory runs out.
    let err = wd.fails(&["simulate", "p.yaml", "--data", "/dev/zero"], 2);
    assert_contains(
        &err,
        &[
            "the header record is longer than 64 MiB",
            "--> /dev/zero:1:1",
        ],
    );
    assert!(err.len() < 1000, "{} bytes of message", err.len());
}

#[test]
fn a_long_header_name_is_quoted_as_a_short_excerpt() {
    let wd = Workdir::new();
    let long = "x".repeat(200_000);
    wd.write("p.yaml", ID_N)
        .write("d.csv", format!("id,{long}\nu1,1\n"));
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "the dataset has no column `n`",
            "--> d.csv:1:1",
            &format!("`id`, `{}…`", "x".repeat(64)),
        ],
    );
    assert!(err.len() < 1000, "{} bytes of message", err.len());
}

/// The rows `decide` reports for `d.csv`, or its error, at several thread
/// counts (all the same, or the test fails).
fn decide_everywhere(wd: &Workdir, extra: &[&str]) -> std::result::Result<String, String> {
    let mut seen = None;
    for threads in ["1", "2", "4"] {
        let mut args = vec!["decide", "p.yaml", "--data", "d.csv", "--threads", threads];
        args.extend_from_slice(extra);
        let out = wd.output(&args);
        let got = if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            assert_eq!(out.status.code(), Some(2), "{}", show(&out));
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        };
        if let Some(seen) = &seen {
            assert_eq!(seen, &got, "--threads {threads}");
        }
        seen = Some(got);
    }
    seen.expect("ran")
}

#[test]
fn a_bare_carriage_return_in_the_body_is_refused_naming_line_and_column() {
    let wd = Workdir::new();
    wd.write("p.yaml", ID_N);
    // The parser would end a record at the CR and open a quoted field
    // after it; the chunker read the quote as a plain character. Either
    // way the file is refused, with or without --skip-bad-rows, whatever
    // else the chunk holds.
    let mut many = String::from("id,n\n");
    for i in 0..5000 {
        many.push_str(&format!("u{i},{i}\n"));
    }
    let cases = [
        ("id,n\nu1,1\nu2,2\rx\",3\nu4,4\n".to_owned(), "d.csv:3:5"),
        ("id,n\n\"u1\",1\nu2,2\rx\",3\n".to_owned(), "d.csv:3:5"),
        ("id,n\nu1,1\nu2,2\r".to_owned(), "d.csv:3:5"),
        ("id,n\r\nu1,1\r\nu2,é2\r\r\n".to_owned(), "d.csv:3:6"),
        (format!("{many}u5000,5000\rx\",1\n"), "d.csv:5002:11"),
        (format!("{many}\"u5000\",5000\rx\",1\n"), "d.csv:5002:13"),
    ];
    for (data, at) in &cases {
        wd.write("d.csv", data);
        for extra in [&[][..], &["--skip-bad-rows"]] {
            let err = decide_everywhere(&wd, extra).expect_err(at);
            assert_contains(
                &err,
                &[
                    "bare carriage return",
                    &format!("--> {at}"),
                    "help: convert old Mac (CR) line endings with `tr '\\r' '\\n' < in.csv > out.csv`",
                ],
            );
        }
    }
}

#[test]
fn old_mac_line_endings_are_refused_at_the_first_carriage_return() {
    let wd = Workdir::new();
    wd.write("p.yaml", ID_N)
        .write("d.csv", "id,n\ru1,1\ru2,\"2\"\r");
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(&err, &["bare carriage return", "--> d.csv:1:5"]);
}

#[test]
fn a_carriage_return_inside_a_quoted_field_is_data() {
    let wd = Workdir::new();
    wd.write("p.yaml", ID_N)
        .write("d.csv", "id,\"n\r\"\n\"u\r1\",1\nu2,2\n");
    // The header's quoted `n\r` trims to `n`; the key keeps its CR.
    assert_eq!(
        decide_everywhere(&wd, &[]).unwrap(),
        "id,outcome,reasons,limit\n\"u\r1\",approve,,\nu2,approve,,\n"
    );
}

#[test]
fn a_bom_at_the_start_of_a_data_row_is_data_on_every_path() {
    let wd = Workdir::new();
    wd.write("p.yaml", ID_N);
    // With a quote elsewhere in the chunk the row went through the csv
    // crate, which dropped the BOM; without one it was kept.
    for tail in ["u2,2\n", "\"u2\",2\n"] {
        wd.write("d.csv", format!("id,n\n\u{feff}u1,1\n{tail}"));
        assert_eq!(
            decide_everywhere(&wd, &[]).unwrap(),
            "id,outcome,reasons,limit\n\u{feff}u1,approve,,\nu2,approve,,\n",
            "{tail:?}"
        );
        wd.write("d.csv", format!("n,id\n\u{feff}1,u1\n{}", tail));
        let err = decide_everywhere(&wd, &[]).unwrap_err();
        assert_contains(
            &err,
            &["in column `n` (field 1) is not an int", "--> d.csv:2:1"],
        );
    }
}

#[test]
fn blank_lines_before_the_header_are_skipped_as_the_csv_reader_does() {
    let wd = Workdir::new();
    wd.write("p.yaml", ID_N);
    for blank in ["\n", "\r\n", "\n\r\n\n", "\u{feff}\n"] {
        wd.write("d.csv", format!("{blank}id,n\nu1,1\n"));
        assert_eq!(
            decide_everywhere(&wd, &[]).unwrap(),
            "id,outcome,reasons,limit\nu1,approve,,\n",
            "{blank:?}"
        );
        // Lines keep counting from the top of the file.
        let lines = blank.matches('\n').count();
        wd.write("d.csv", format!("{blank}id,n\nu1,x\n"));
        let err = decide_everywhere(&wd, &[]).unwrap_err();
        assert_contains(&err, &[&format!("--> d.csv:{}:4", lines + 2)]);
        wd.write("d.csv", format!("{blank}id,m\nu1,1\n"));
        let err = decide_everywhere(&wd, &[]).unwrap_err();
        assert_contains(
            &err,
            &["no column `n`", &format!("--> d.csv:{}:1", lines + 1)],
        );
    }
    // Only blank lines: empty.
    wd.write("d.csv", "\n\r\n");
    assert_contains(
        &decide_everywhere(&wd, &[]).unwrap_err(),
        &["dataset `d.csv` is empty"],
    );
}

#[test]
fn a_bom_before_a_quoted_first_header_field_names_the_column() {
    let wd = Workdir::new();
    wd.write("p.yaml", ID_N);
    for (header, row) in [
        ("\"id\",n", "u1,1"),
        ("\"id\",\"n\"", "u1,1"),
        ("\"id\",n,\"no\nte\"", "u1,1,x"),
        ("\"i\nd\",\"id\",n", "x,u1,1"),
    ] {
        wd.write("d.csv", format!("\u{feff}{header}\n{row}\n"));
        assert_eq!(
            decide_everywhere(&wd, &[]).unwrap(),
            "id,outcome,reasons,limit\nu1,approve,,\n",
            "{header:?}"
        );
    }
    // Only the file's first bytes are a BOM: after a blank line it is part
    // of the name, as the csv crate reads it.
    wd.write("d.csv", "\n\u{feff}id,n\nu1,1\n");
    assert_contains(
        &decide_everywhere(&wd, &[]).unwrap_err(),
        &[
            "no column `id`",
            "--> d.csv:2:1",
            "did you mean `\\u{feff}id`?",
        ],
    );
}

#[test]
fn an_unclosed_quote_after_a_bad_row_reports_the_bad_row_first() {
    // Whether both fell in one chunk (the chunker refused the file before
    // any worker saw the bad row) or not, the first error in the file is
    // the one reported.
    let wd = Workdir::new();
    let mut data = String::from("id,n\nu1,x\n");
    for i in 2..3000 {
        data.push_str(&format!("u{i},{i}\n"));
    }
    data.push_str("\"u3000,1\n");
    wd.write("p.yaml", ID_N).write("d.csv", &data);
    let err = decide_everywhere(&wd, &[]).unwrap_err();
    assert_contains(
        &err,
        &["`x` in column `n` (field 2) is not an int", "--> d.csv:2:4"],
    );
    let err = decide_everywhere(&wd, &["--skip-bad-rows"]).unwrap_err();
    assert_contains(
        &err,
        &[
            "a quote opened on this line is never closed",
            "--> d.csv:3001:1",
        ],
    );
}
