//! Outputs and the process, second round: `-o` onto one of the run's inputs,
//! skipped rows under `--quiet`, every fatal signal during `-o`, data
//! escaped in table and Markdown reports, compressed or binary data given as
//! CSV, and `check` of a `.rhai` policy without `--data`.

use super::*;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn policy() -> String {
    repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------
// `-o` onto an input
// ---------------------------------------------------------------------------

#[test]
fn decide_o_onto_the_dataset_is_refused_and_the_dataset_kept() {
    let wd = with_data(200);
    let data = wd.read("d.csv");
    let p = policy();
    let err = wd.fails(&["decide", &p, "--data", "d.csv", "-o", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "`-o d.csv` is the same file as the dataset, `d.csv`",
            "help:",
        ],
    );
    assert_eq!(wd.read("d.csv"), data);

    // Through a symbolic link, and a hard link.
    symlink("d.csv", wd.path("link.csv")).unwrap();
    std::fs::hard_link(wd.path("d.csv"), wd.path("hard.csv")).unwrap();
    for out in ["link.csv", "hard.csv"] {
        let err = wd.fails(&["decide", &p, "--data", "d.csv", "-o", out], 2);
        assert_contains(
            &err,
            &[&format!("`-o {out}` is the same file as the dataset")],
        );
        let err = wd.fails(&["decide", &p, "--data", out, "-o", "d.csv"], 2);
        assert_contains(&err, &["`-o d.csv` is the same file as the dataset"]);
    }
    assert_eq!(wd.read("d.csv"), data);
    assert_eq!(wd.files(), ["d.csv", "hard.csv", "link.csv"]);
}

#[test]
fn decide_o_onto_the_dataset_on_standard_input_is_refused() {
    let wd = with_data(200);
    let data = wd.read("d.csv");
    let p = policy();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_polsim"))
        .current_dir(wd.dir.path())
        .args(["decide", &p, "--data", "-", "-o", "d.csv"])
        .env("POLSIM_CACHE_DIR", "off")
        .stdin(std::fs::File::open(wd.path("d.csv")).unwrap())
        .output()
        .unwrap();
    let err = failed(out, &["decide"], 2);
    assert_contains(
        &err,
        &["`-o d.csv` is the same file as the dataset, standard input"],
    );
    assert_eq!(wd.read("d.csv"), data);
}

#[test]
fn decide_o_onto_the_policy_or_its_script_is_refused() {
    let wd = with_data(200);
    let yaml = std::fs::read_to_string(repo_file("policies/jd_plus.yaml")).unwrap();
    wd.write("pol.yaml", &yaml);
    let err = wd.fails(
        &["decide", "pol.yaml", "--data", "d.csv", "-o", "pol.yaml"],
        2,
    );
    assert_contains(
        &err,
        &["`-o pol.yaml` is the same file as the policy, `pol.yaml`"],
    );
    assert_eq!(wd.read("pol.yaml"), yaml);

    // A `script:` the policy names, and a `.rhai` policy itself.
    let script_yaml = std::fs::read_to_string(repo_file("policies/merchant_script.yaml")).unwrap();
    let script = std::fs::read_to_string(repo_file("policies/merchant_script.rhai")).unwrap();
    wd.write("merchant_script.yaml", &script_yaml)
        .write("merchant_script.rhai", &script);
    let err = wd.fails(
        &[
            "decide",
            "merchant_script.yaml",
            "--data",
            "d.csv",
            "-o",
            "merchant_script.rhai",
        ],
        2,
    );
    assert_contains(
        &err,
        &["`-o merchant_script.rhai` is the same file as the policy's script"],
    );
    let err = wd.fails(
        &[
            "decide",
            "merchant_script.rhai",
            "--data",
            "d.csv",
            "-o",
            "merchant_script.rhai",
        ],
        2,
    );
    assert_contains(
        &err,
        &["`-o merchant_script.rhai` is the same file as the policy"],
    );
    assert_eq!(wd.read("merchant_script.rhai"), script);
    // Another file is written as before.
    wd.stdout(&["decide", "pol.yaml", "--data", "d.csv", "-o", "out.csv"]);
    assert_eq!(wd.read("out.csv").lines().count(), 201);
}

// ---------------------------------------------------------------------------
// Skipped rows under --quiet
// ---------------------------------------------------------------------------

#[test]
fn decide_skip_bad_rows_quiet_still_counts_the_skipped_rows() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: score\nkey: id\nfields: { id: string, score: int }\nrules:\n  - { id: min_score, reason: LOW, when: { score: { gte: 600 } } }\n",
    )
    .write("d.csv", "id,score\nu1,599\nu2,6x0\nu3,700\nu4,abc\n");
    let args = [
        "decide",
        "p.yaml",
        "--data",
        "d.csv",
        "--skip-bad-rows",
        "--quiet",
        "-o",
        "q.csv",
    ];
    let out = wd.output(&args);
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    succeeded(out, &args);
    assert_eq!(
        err, "note: skipped 2 malformed row(s) of `d.csv` (--skip-bad-rows)\n",
        "one line, no examples"
    );
    assert_eq!(wd.read("q.csv").lines().count(), 3);
    // No skipped rows: --quiet is silent.
    wd.write("d.csv", "id,score\nu1,599\n");
    let out = wd.output(&args);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

// ---------------------------------------------------------------------------
// Every fatal signal during `-o`
// ---------------------------------------------------------------------------

fn temporary_files(wd: &Workdir) -> Vec<String> {
    wd.files()
        .into_iter()
        .filter(|f| f.starts_with(".polsim-"))
        .collect()
}

#[test]
fn every_fatal_signal_during_decide_o_removes_the_temporary_file() {
    let wd = with_data(5_000);
    let data = std::fs::read(wd.path("d.csv")).unwrap();
    let p = policy();
    for (signal, number) in [
        ("QUIT", 3),
        ("USR1", 10),
        ("USR2", 12),
        ("ALRM", 14),
        ("VTALRM", 26),
        ("PROF", 27),
        ("XCPU", 24),
        ("XFSZ", 25),
    ] {
        wd.write("out.csv", "the previous run's decisions\n");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_polsim"))
            .current_dir(wd.dir.path())
            .args(["decide", &p, "--data", "-", "-o", "out.csv", "--quiet"])
            .env("POLSIM_CACHE_DIR", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let bytes = data.clone();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
            // Kept open: the run waits for more rows until the signal.
            stdin
        });
        let start = Instant::now();
        while temporary_files(&wd).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no temporary file"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = wait_at_most(&mut child, Duration::from_secs(30), "decide -o");
        drop(feeder.join());
        assert_eq!(status.code(), Some(128 + number), "SIG{signal}: {status:?}");
        assert_eq!(temporary_files(&wd), Vec::<String>::new(), "SIG{signal}");
        assert_eq!(wd.read("out.csv"), "the previous run's decisions\n");
    }
    // No core dump was left either.
    assert_eq!(wd.files(), ["d.csv", "out.csv"]);
}

// ---------------------------------------------------------------------------
// Reports escape the data
// ---------------------------------------------------------------------------

const SEGMENT_POLICY: &str = "policy: t\nkey: id\nfields: { id: string, s: int, b: bool, d: decimal, f: float, seg: string }\nrules:\n  - { id: min_s, reason: LOW, when: { s: { gte: 600 } } }\n";

fn segment_workdir() -> Workdir {
    let wd = Workdir::new();
    wd.write("t.yaml", SEGMENT_POLICY).write(
        "seg.csv",
        "id,s,b,d,f,seg\na,600,true,1,1,\"\x1b[31mRED\"\nb,600,true,1,1,\"p|q\"\nc,500,true,1,1,\"m\nn\"\n",
    );
    wd
}

#[test]
fn table_report_escapes_control_characters_in_cells() {
    let wd = segment_workdir();
    let out = wd.stdout(&[
        "simulate", "t.yaml", "--data", "seg.csv", "--by", "seg", "--format", "table",
    ]);
    assert!(
        !out.contains('\x1b'),
        "an escape reached the terminal:\n{out}"
    );
    assert_contains(&out, &["\\u{1b}[31mRED", "m\\nn", "p|q"]);
}

#[test]
fn markdown_report_escapes_pipes_and_newlines_in_cells() {
    let wd = segment_workdir();
    let out = wd.stdout(&[
        "simulate", "t.yaml", "--data", "seg.csv", "--by", "seg", "--format", "markdown",
    ]);
    assert!(!out.contains('\x1b'), "{out}");
    assert_contains(&out, &["p\\|q", "m\\nn", "\\u{1b}[31mRED"]);
    // Every row of the segments table has the header's number of columns.
    let section = out.split("## Segments by seg").nth(1).unwrap();
    let rows: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(rows.len(), 2 + 3, "{section}");
    let unescaped_pipes = |l: &str| l.matches('|').count() - l.matches("\\|").count();
    for row in &rows {
        assert_eq!(unescaped_pipes(row), unescaped_pipes(rows[0]), "{row}");
    }
    // JSON stays exact.
    let report = wd.json(&["simulate", "t.yaml", "--data", "seg.csv", "--by", "seg"]);
    let text = report.to_string();
    assert_contains(&text, &["\\u001b[31mRED", "p|q", "m\\nn"]);
}

// ---------------------------------------------------------------------------
// Compressed or binary data given as CSV
// ---------------------------------------------------------------------------

#[test]
fn compressed_or_binary_data_is_named_not_parsed_as_csv() {
    let wd = with_data(50);
    let p = policy();
    let gz = std::process::Command::new("gzip")
        .args(["-c", "d.csv"])
        .current_dir(wd.dir.path())
        .output()
        .unwrap();
    assert!(gz.status.success());
    wd.write("gz.csv", &gz.stdout)
        .write("xz.csv", b"\xfd7zXZ\x00\x00more")
        .write("p.csv", b"PAR1\x15\x04\x15\x00rest")
        .write("a.zip", b"PK\x03\x04\x14\x00\x00\x00")
        .write("a.arrow", b"ARROW1\x00\x00\xff\xff\xff\xff")
        .write("b.csv.bz2", b"BZh91AY&SY\x00rest");
    for (file, what) in [
        ("xz.csv", "xz-compressed data"),
        ("b.csv.bz2", "bzip2-compressed data"),
        ("a.zip", "a zip archive"),
        ("a.arrow", "an Arrow IPC file"),
    ] {
        for cmd in ["decide", "simulate"] {
            let err = wd.fails(&[cmd, &p, "--data", file], 2);
            assert_contains(
                &err,
                &[
                    &format!("dataset `{file}` looks like {what}, not CSV"),
                    &format!("{file}:1:1"),
                    "help: polsim reads CSV",
                ],
            );
            assert!(!err.contains("carriage return"), "{err}");
        }
    }
    // Parquet is read; a file that only starts like one is not a Parquet file.
    let err = wd.fails(&["decide", &p, "--data", "p.csv"], 2);
    assert_contains(
        &err,
        &["dataset `p.csv` is not a Parquet file polsim can read"],
    );
    let err = wd.fails(&["check", &p, "--data", "xz.csv"], 2);
    assert_contains(&err, &["dataset `xz.csv` looks like xz-compressed data"]);
    let err = wd.fails(&["decide", &p, "--data", "xz.csv"], 2);
    assert_contains(&err, &["`xz -dc xz.csv > decompressed.csv`"]);
    let err = wd.fails(&["decide", &p, "--data", "b.csv.bz2"], 2);
    assert_contains(&err, &["`bzip2 -dc b.csv.bz2 > b.csv`"]);
    // gzip (and zstd) are read, from a file and from standard input.
    let plain = wd.stdout(&["decide", &p, "--data", "d.csv"]);
    assert_eq!(wd.stdout(&["decide", &p, "--data", "gz.csv"]), plain);
    let out = wd
        .command(&["decide", &p, "--data", "-"])
        .write_stdin(gz.stdout.clone())
        .output()
        .unwrap();
    assert_eq!(succeeded(out, &["decide"]), plain);
    // An xz stream from a pipe is named, with how to decompress it.
    let out = wd
        .command(&["decide", &p, "--data", "-"])
        .write_stdin(b"\xfd7zXZ\x00\x00more".to_vec())
        .output()
        .unwrap();
    let err = failed(out, &["decide"], 2);
    assert_contains(
        &err,
        &[
            "dataset `<stdin>` looks like xz-compressed data",
            "xz -dc FILE | polsim",
        ],
    );

    // A real CSV from a pipe still reads whole, its first bytes included,
    // and a header named like a magic number is data.
    let csv = wd.read("d.csv");
    let from_file = wd.stdout(&["decide", &p, "--data", "d.csv"]);
    let out = wd
        .command(&["decide", &p, "--data", "-"])
        .write_stdin(csv)
        .output()
        .unwrap();
    assert_eq!(succeeded(out, &["decide"]), from_file);
    wd.write("t.yaml", "policy: t\nfields: { PAR1: int }\nrules:\n  - { id: r, reason: R, when: { PAR1: { gte: 1 } } }\n")
        .write("par.csv", "PAR1\n1\n0\n");
    assert_eq!(
        wd.stdout(&["decide", "t.yaml", "--data", "par.csv"]),
        "row,outcome,reasons,limit\n2,approve,,\n3,decline,R,\n"
    );
    wd.write("b.yaml", "policy: t\nfields: { BZh9: int }\nrules:\n  - { id: r, reason: R, when: { BZh9: { gte: 1 } } }\n")
        .write("bzh.csv", "BZh9\n1\n0\n");
    assert_eq!(
        wd.stdout(&["decide", "b.yaml", "--data", "bzh.csv"]),
        "row,outcome,reasons,limit\n2,approve,,\n3,decline,R,\n"
    );
}

// ---------------------------------------------------------------------------
// `check x.rhai` without `--data`
// ---------------------------------------------------------------------------

#[test]
fn check_rhai_without_data_asks_for_data_not_about_standard_input() {
    let wd = Workdir::new();
    wd.write("x.rhai", "fn decide(user) { approve() }\n");
    let err = wd.fails(&["check", "x.rhai"], 2);
    assert_contains(
        &err,
        &[
            "`x.rhai` is a script: its fields are typed from the dataset, so checking it needs `--data`",
            "help: give the dataset it will run on: `polsim check x.rhai --data FILE`",
        ],
    );
    assert!(!err.contains("standard input"), "{err}");
}
