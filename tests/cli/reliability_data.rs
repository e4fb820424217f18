//! How values are read: `--by` segments by the policy's typed values and bins
//! in the field's type, signs and leading zeros of numbers, `--set` given
//! twice, and memory on very wide files.

use super::*;

/// A policy on the columns `id,s,b,d,f`.
const TYPED: &str = r#"
policy: typed
key: id
fields: { id: string, s: int, b: bool, d: decimal, f: float }
params: { min_s: 500 }
rules:
  - { id: min_s, reason: LOW_S, when: { s: { gte: $min_s } } }
"#;

/// `(label, rows)` of the segments of `field` in a JSON report.
fn segments(report: &Value, field: &str) -> Vec<(String, u64)> {
    report["segments"][field]
        .as_array()
        .unwrap_or_else(|| panic!("no segments of `{field}`: {report}"))
        .iter()
        .map(|s| (s["value"].as_str().unwrap().to_owned(), u(&s["rows"])))
        .collect()
}

fn pairs(want: &[(&str, u64)]) -> Vec<(String, u64)> {
    want.iter().map(|(l, n)| ((*l).to_owned(), *n)).collect()
}

#[test]
fn by_a_decimal_field_bins_with_exact_decimal_edges_labelled_as_written() {
    let wd = Workdir::new();
    wd.write("t.yaml", TYPED).write(
        "bin3.csv",
        "id,s,b,d,f\na,600,true,1.00000000000000001,1\nb,600,true,90000000000000.01,1\n",
    );
    let r = wd.json(&[
        "simulate",
        "t.yaml",
        "--data",
        "bin3.csv",
        "--by",
        "d:1.00000000000000002",
    ]);
    assert_eq!(
        segments(&r, "d"),
        pairs(&[("< 1.00000000000000002", 1), (">= 1.00000000000000002", 1)])
    );
    let r = wd.json(&[
        "simulate",
        "t.yaml",
        "--data",
        "bin3.csv",
        "--by",
        "d:1.00,90000000000000.02",
    ]);
    assert_eq!(
        segments(&r, "d"),
        pairs(&[
            ("< 1.00", 0),
            ("[1.00, 90000000000000.02)", 2),
            (">= 90000000000000.02", 0)
        ])
    );
}

#[test]
fn by_an_int_field_bins_exactly() {
    let wd = Workdir::new();
    wd.write("t.yaml", TYPED).write(
        "d.csv",
        "id,s,b,d,f\na,9007199254740993,true,1,1\nb,9007199254740992,true,1,1\n",
    );
    // As floats both values are 2^53, on the edge.
    let r = wd.json(&[
        "simulate",
        "t.yaml",
        "--data",
        "d.csv",
        "--by",
        "s:9007199254740993",
    ]);
    assert_eq!(
        segments(&r, "s"),
        pairs(&[("< 9007199254740993", 1), (">= 9007199254740993", 1)])
    );
}

#[test]
fn by_edges_the_field_type_cannot_hold_are_a_usage_error() {
    let wd = Workdir::new();
    wd.write("t.yaml", TYPED)
        .write("d.csv", "id,s,b,d,f\na,600,true,1,1\n");
    for (by, want) in [
        (
            "s:1.5",
            "`--by s:1.5` has a bin edge `1.5` that an int field cannot hold exactly",
        ),
        (
            "d:1e3",
            "`--by d:1e3` has a bin edge `1e3` that a decimal field cannot hold exactly",
        ),
        (
            "d:1.00000000000000000000000000001",
            "a decimal field cannot hold exactly",
        ),
        ("d:2,1", "`--by d:2,1` has bad bin edges"),
    ] {
        let err = wd.fails(&["simulate", "t.yaml", "--data", "d.csv", "--by", by], 2);
        assert_contains(&err, &[want, "help:"]);
    }
}

#[test]
fn by_a_typed_field_groups_by_the_value_the_policy_sees() {
    let wd = Workdir::new();
    wd.write("t.yaml", TYPED).write(
        "sg2.csv",
        "id,s,b,d,f,note\n\
         a,600,true,1,1,x\n\
         b,600,yes,1.0,1.0,x\n\
         c,600,TRUE,1.00,1e0, x\n\
         d,0600,1,1.50,-0,y\n\
         e,-7,0,-0.0,0,y\n",
    );
    let r = wd.json(&[
        "simulate", "t.yaml", "--data", "sg2.csv", "--by", "s", "--by", "b", "--by", "d", "--by",
        "f", "--by", "note",
    ]);
    assert_eq!(segments(&r, "s"), pairs(&[("-7", 1), ("600", 4)]));
    assert_eq!(segments(&r, "b"), pairs(&[("false", 1), ("true", 4)]));
    assert_eq!(segments(&r, "d"), pairs(&[("0", 1), ("1", 3), ("1.5", 1)]));
    assert_eq!(segments(&r, "f"), pairs(&[("0", 2), ("1", 3)]));
    // A column the policy does not declare is its trimmed text.
    assert_eq!(segments(&r, "note"), pairs(&[("x", 3), ("y", 2)]));
}

/// [`TYPED`] with a decimal rule reading `d` through the parameter `min_d`.
const WITH_D: &str = r#"
policy: typed
key: id
fields: { id: string, s: int, b: bool, d: decimal, f: float }
params: { min_s: 500, min_d: "0.5" }
rules:
  - { id: min_s, reason: LOW_S, when: { s: { gte: $min_s } } }
  - { id: min_d, reason: LOW_D, when: { d: { gte: $min_d } } }
"#;

#[test]
fn a_decimal_with_two_signs_is_refused_in_a_cell_a_set_value_and_a_literal() {
    let wd = Workdir::new();
    wd.write("p.yaml", WITH_D)
        .write("ok.csv", "id,s,b,d,f\na,600,true,1,1\n")
        .write("cell.csv", "id,s,b,d,f\na,600,true,+-5,1\n")
        .write("lit.yaml", WITH_D.replace("$min_d", "+-0.5"));
    let err = wd.fails(&["simulate", "p.yaml", "--data", "cell.csv"], 2);
    assert_contains(
        &err,
        &[
            "`+-5` in column `d` (field 4) is not a decimal",
            "cell.csv:2:",
        ],
    );
    let err = wd.fails(
        &[
            "simulate",
            "p.yaml",
            "--data",
            "ok.csv",
            "--set",
            "min_d=+-5",
        ],
        2,
    );
    assert_contains(&err, &["`--set min_d=+-5`", "`+-5` is not"]);
    let err = wd.fails(&["simulate", "lit.yaml", "--data", "ok.csv"], 2);
    assert_contains(&err, &["`+-0.5` is not a decimal", "lit.yaml:8:51"]);
    // One sign is fine.
    let r = wd.json(&[
        "simulate",
        "p.yaml",
        "--data",
        "ok.csv",
        "--set",
        "min_d=+0.5",
    ]);
    assert_eq!(u(&r["approved"]), 1);
}

#[test]
fn an_int_cell_takes_leading_zeros_of_any_length() {
    let wd = Workdir::new();
    wd.write("p.yaml", TYPED).write(
        "d.csv",
        "id,s,b,d,f\na,00000000000000000600,true,1,1\nb,000000000000000000000000000001,true,1,1\n",
    );
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv", "--by", "s"]);
    assert_eq!(segments(&r, "s"), pairs(&[("1", 1), ("600", 1)]));
    assert_eq!(u(&r["approved"]), 1);
}

#[test]
fn set_of_a_number_just_past_an_int_says_it_is_too_large() {
    let wd = Workdir::new();
    wd.write("p.yaml", TYPED)
        .write("d.csv", "id,s,b,d,f\na,600,true,1,1\n");
    let err = wd.fails(
        &[
            "simulate",
            "p.yaml",
            "--data",
            "d.csv",
            "--set",
            "min_s=9223372036854775808",
        ],
        2,
    );
    assert_contains(
        &err,
        &["`9223372036854775808` is too large for an int (at most 9223372036854775807)"],
    );
    assert!(!err.contains("is not"), "{err}");
    let err = wd.fails(
        &[
            "simulate",
            "p.yaml",
            "--data",
            "d.csv",
            "--set",
            "min_s=-9223372036854775809",
        ],
        2,
    );
    assert_contains(
        &err,
        &["too small for an int (at least -9223372036854775808)"],
    );
}

#[test]
fn the_same_set_parameter_twice_is_a_usage_error() {
    let wd = Workdir::new();
    wd.write("p.yaml", TYPED)
        .write("d.csv", "id,s,b,d,f\na,600,true,1,1\n");
    for cmd in ["simulate", "decide"] {
        let err = wd.fails(
            &[
                cmd,
                "p.yaml",
                "--data",
                "d.csv",
                "--set",
                "min_s=5",
                "--set",
                "min_s=700",
            ],
            2,
        );
        assert_contains(
            &err,
            &[
                "`--set min_s` is given twice (`--set min_s=5` and `--set min_s=700`)",
                "help:",
            ],
        );
    }
}

#[test]
fn a_header_name_in_another_unicode_form_is_shown_escaped() {
    let wd = Workdir::new();
    // The policy's `café` is NFC (`é` one character), the header's NFD
    // (`e` and a combining acute accent): they print alike.
    wd.write(
        "p.yaml",
        "policy: t\nkey: id\nfields: { id: string, caf\u{e9}: int }\nrules:\n  - { id: r, reason: R, when: { caf\u{e9}: { gte: 1 } } }\n",
    )
    .write("d.csv", "id,cafe\u{301}\na,1\n");
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "the dataset has no column `caf\u{e9}`",
            "d.csv:1:1",
            "differs in its bytes",
            "the column is `cafe\\u{301}`, the policy's field `caf\\u{e9}`",
        ],
    );
    assert!(!err.contains("did you mean"), "{err}");
}

/// Runs polsim on `args` in `wd`, its output to a file there, and returns
/// its exit code and peak resident memory in KB (its own, from `wait4`).
#[cfg(target_os = "linux")]
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which reads its usage
fn peak_kb(wd: &Workdir, args: &[&str]) -> (i32, i64) {
    let out = std::fs::File::create(wd.path("out.txt")).expect("create the output file");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("polsim"))
        .current_dir(wd.path("."))
        .args(args)
        .stdout(out.try_clone().expect("clone a file handle"))
        .stderr(out)
        .spawn()
        .expect("run polsim");
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    let mut peak = None;
    loop {
        peak = peak.max(own_peak_kib(child.id()));
        // SAFETY: waits for our own child, writing into the two locals.
        let pid = unsafe { libc::wait4(child.id() as i32, &mut status, libc::WNOHANG, &mut usage) };
        if pid == child.id() as i32 {
            break;
        }
        assert_eq!(pid, 0, "wait for polsim");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    (libc::WEXITSTATUS(status), peak.unwrap_or(usage.ru_maxrss))
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_of_a_million_columns_is_read_in_memory_near_its_size() {
    let wd = Workdir::new();
    let n = 1_000_000;
    let commas = ",".repeat(n);
    wd.write("t.yaml", TYPED)
        .write("head.csv", format!("id,s,b,d,f{commas}\n"))
        .write(
            "wide.csv",
            format!("id,s,b,d,f{commas}\na,600,true,1,1{commas}\nb,400,true,1,1{commas}\n"),
        );
    // Three records of about 1 MB each; reading one took 1 GB (1 KB a
    // column), the header alone 55 MB.
    for data in ["wide.csv", "head.csv"] {
        let (code, kb) = peak_kb(
            &wd,
            &["simulate", "t.yaml", "--data", data, "--format", "json"],
        );
        assert_eq!(code, 0, "{}", wd.read("out.txt"));
        assert!(kb < 150_000, "{data}: peak {kb} KB");
    }
    let report: Value = serde_json::from_str(&wd.read("out.txt")).unwrap();
    assert_eq!(u(&report["rows"]), 0);
    peak_kb(
        &wd,
        &[
            "simulate", "t.yaml", "--data", "wide.csv", "--format", "json",
        ],
    );
    let report: Value = serde_json::from_str(&wd.read("out.txt")).unwrap();
    assert_eq!((u(&report["rows"]), u(&report["approved"])), (2, 1));
}

#[test]
fn by_a_derived_decimal_groups_by_value_and_bins_exactly() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        r#"
policy: dv
key: id
fields: { id: string, s: int, d: decimal }
derive:
  twice: "d * 2"
rules:
  - { id: min_s, reason: LOW_S, when: { s: { gte: 500 } } }
"#,
    )
    .write(
        "d.csv",
        "id,s,d\na,600,1.50\nb,600,1.5\nc,400,2\nd,700,\ne,600,0.500000000000000005\n",
    );
    let r = wd.json(&[
        "simulate",
        "p.yaml",
        "--data",
        "d.csv",
        "--by",
        "twice",
        "--by",
        "twice:1.00000000000000001",
    ]);
    assert_eq!(
        segments(&r, "twice"),
        pairs(&[
            ("1.00000000000000001", 1),
            ("3", 2),
            ("4", 1),
            ("(missing)", 1)
        ])
    );
    assert_eq!(
        segments(&r, "twice:1.00000000000000001"),
        pairs(&[
            ("< 1.00000000000000001", 0),
            (">= 1.00000000000000001", 4),
            ("(missing)", 1)
        ])
    );
}
