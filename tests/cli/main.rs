//! Integration tests for the `polsim` command line: the binary is run the way
//! a risk analyst or a CI job runs it, and its outputs are checked against
//! values worked out by hand (or by an independent re-implementation in this
//! file), not just for "it ran".
//!
//! Every test gets its own temporary directory ([`Workdir`], after xsv's
//! test helper): it writes the policy and CSV there and runs `polsim` with
//! that directory as the working directory, so messages name short relative
//! paths (`d.csv:3:4`) that the assertions can spell out.
//!
//! Tests under "Regressions" pin bugs this suite found and that were fixed.

use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A scratch directory to write datasets and policies into and run polsim in.
struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Workdir {
        Workdir {
            dir: tempfile::Builder::new()
                .prefix("polsim-cli-")
                .tempdir()
                .expect("create a temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` in the directory.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> &Self {
        std::fs::write(self.path(name), contents).expect("write a fixture");
        self
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read an output file")
    }

    /// The names of the files in the directory, sorted.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list the directory")
            .map(|e| {
                e.expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// `polsim ARGS...`, run in this directory.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = polsim();
        cmd.current_dir(self.dir.path()).args(args);
        cmd
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run polsim")
    }

    /// Runs polsim, expects success, returns standard output.
    fn stdout(&self, args: &[&str]) -> String {
        succeeded(self.output(args), args)
    }

    /// Runs polsim, expects exit code `code`, returns standard error.
    fn fails(&self, args: &[&str], code: i32) -> String {
        failed(self.output(args), args, code)
    }

    /// Runs polsim with `--format json`, expects success, parses the report.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["--format", "json"]);
        let text = self.stdout(&args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
    }
}

/// The polsim binary under test.
fn polsim() -> Command {
    let mut cmd = Command::cargo_bin("polsim").expect("the polsim binary is built");
    // Tests must not read or fill the user's hash cache.
    cmd.env("POLSIM_CACHE_DIR", "off");
    // A script limit under test (operations, memory, nesting) must be the
    // one that stops the row, not the wall clock of a busy machine running a
    // debug build: the tests of the deadline itself remove this.
    cmd.env("POLSIM_ROW_DEADLINE", "600");
    cmd
}

/// `polsim ARGS...` run from the repository root, for the bundled policies and sample.
/// A path inside the repository.
fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn in_repo(args: &[&str]) -> Output {
    polsim()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run polsim")
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn show(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn succeeded(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "polsim {args:?} failed\n{}",
        show(&out)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

fn failed(out: Output, args: &[&str], code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "polsim {args:?}: wrong exit code\n{}",
        show(&out)
    );
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert!(
        !stderr.contains("panicked"),
        "a panic is not an error message:\n{stderr}"
    );
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "a panic is not an error message:\n{stderr}"
    );
    stderr
}

/// Writes `policy` as `p.yaml` and `data` as `d.csv`, runs `decide`, returns its CSV.
/// Waits for `child` at most `limit`; kills it (and fails) if it is still running.
fn wait_at_most(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("poll polsim") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: polsim still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A scratch directory with `d.csv` from `polsim gen --rows ROWS`.
fn with_data(rows: u64) -> Workdir {
    let wd = Workdir::new();
    wd.stdout(&[
        "gen",
        "--rows",
        &rows.to_string(),
        "--seed",
        "7",
        "-o",
        "d.csv",
    ]);
    wd
}

fn decide(policy: &str, data: &str) -> String {
    let wd = Workdir::new();
    wd.write("p.yaml", policy).write("d.csv", data);
    wd.stdout(&["decide", "p.yaml", "--data", "d.csv"])
}

/// Asserts `haystack` contains every needle, showing the whole text if not.
#[track_caller]
fn assert_contains(haystack: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            haystack.contains(needle),
            "expected to find {needle:?} in:\n{haystack}"
        );
    }
}

/// A running child's own peak resident set, in KiB: `VmHWM` of its
/// `/proc/PID/status`. Unlike the `ru_maxrss` that `wait4` reports, it does
/// not count the pages the child shared with this test process when it was
/// forked (a busy test process would make every child look as large as
/// itself). `None` once the child has exited, or without `/proc`.
fn own_peak_kib(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A rate in a report equals `expected` (to well within float precision).
#[track_caller]
fn assert_close(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - expected).abs() < 1e-12, "{got} != {expected}");
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The columns of `polsim gen`, as listed in SPEC §4.
const GEN_COLUMNS: [&str; 15] = [
    "user_id",
    "zhima_score",
    "is_plus_member",
    "real_name_verified",
    "overdue_count_12m",
    "max_overdue_days",
    "monthly_income",
    "order_amount",
    "city_tier",
    "age",
    "account_age_months",
    "scenario",
    "outcome",
    "days_past_due",
    "defaulted",
];

// ---------------------------------------------------------------------------
// 1. Operators and combinators
// ---------------------------------------------------------------------------

#[test]
fn every_comparison_operator_on_an_int_field() {
    // One rule per operator; the reasons column shows which ones failed.
    let policy = r#"
policy: ops
key: id
fields: { id: string, s: int }
rules:
  - { id: eq_short, reason: EQ_SHORT, when: { s: 600 } }
  - { id: eq, reason: EQ, when: { s: { eq: 600 } } }
  - { id: ne, reason: NE, when: { s: { ne: 600 } } }
  - { id: gt, reason: GT, when: { s: { gt: 600 } } }
  - { id: gte, reason: GTE, when: { s: { gte: 600 } } }
  - { id: lt, reason: LT, when: { s: { lt: 600 } } }
  - { id: lte, reason: LTE, when: { s: { lte: 600 } } }
  - { id: in, reason: IN, when: { s: { in: [599, 601] } } }
  - { id: not_in, reason: NOT_IN, when: { s: { not_in: [599, 601] } } }
  - { id: between, reason: BETWEEN, when: { s: { between: [600, 601] } } }
  - { id: missing, reason: MISSING, when: { s: { missing: true } } }
  - { id: present, reason: PRESENT, when: { s: { missing: false } } }
"#;
    let data = "id,s\na,599\nb,600\nc,601\nd,602\ne,\n";
    assert_eq!(
        decide(policy, data),
        "id,outcome,reasons,limit\n\
         a,decline,EQ_SHORT;EQ;GT;GTE;NOT_IN;BETWEEN;MISSING,\n\
         b,decline,NE;GT;LT;IN;MISSING,\n\
         c,decline,EQ_SHORT;EQ;LT;LTE;NOT_IN;MISSING,\n\
         d,decline,EQ_SHORT;EQ;LT;LTE;IN;BETWEEN;MISSING,\n\
         e,decline,EQ_SHORT;EQ;NE;GT;GTE;LT;LTE;IN;NOT_IN;BETWEEN;PRESENT,\n"
    );
}

#[test]
fn operators_on_string_decimal_float_and_bool_fields() {
    let policy = r#"
policy: typed
key: id
fields: { id: string, city: string, amt: decimal, rate: float, plus: bool }
rules:
  - { id: city_eq, reason: CITY_EQ, when: { city: beijing } }
  - { id: city_in, reason: CITY_IN, when: { city: { in: [beijing, shanghai] } } }
  - { id: city_not_in, reason: CITY_NOT_IN, when: { city: { not_in: [shenzhen] } } }
  - { id: city_lt, reason: CITY_LT, when: { city: { lt: m } } }
  - { id: amt_between, reason: AMT_BETWEEN, when: { amt: { between: [10.00, 99.99] } } }
  - { id: rate_gt, reason: RATE_GT, when: { rate: { gt: 0.25 } } }
  - { id: plus, reason: PLUS, when: { plus: true } }
  - { id: plus_ne, reason: PLUS_NE, when: { plus: { ne: false } } }
"#;
    // Strings compare exactly (case-sensitive, byte order); decimals between
    // both ends inclusive; `gt` on a float is strict; bools in any spelling.
    let data = "id,city,amt,rate,plus\n\
                r1,beijing,10.00,0.5,true\n\
                r2,shanghai,99.99,0.25,yes\n\
                r3,shenzhen,100.00,0.2500001,false\n\
                r4,Beijing,9.999,1,1\n";
    assert_eq!(
        decide(policy, data),
        "id,outcome,reasons,limit\n\
         r1,approve,,\n\
         r2,decline,CITY_EQ;CITY_LT;RATE_GT,\n\
         r3,decline,CITY_EQ;CITY_IN;CITY_NOT_IN;CITY_LT;AMT_BETWEEN;PLUS;PLUS_NE,\n\
         r4,decline,CITY_EQ;CITY_IN;AMT_BETWEEN,\n"
    );
}

#[test]
fn combinators_all_any_not_and_several_keys() {
    let policy = r#"
policy: combinators
key: id
fields: { id: string, a: int, b: int }
rules:
  - { id: all, reason: ALL, when: { all: [ { a: { gte: 1 } }, { b: { gte: 1 } } ] } }
  - { id: any, reason: ANY, when: { any: [ { a: { gte: 1 } }, { b: { gte: 1 } } ] } }
  - { id: not, reason: NOT, action: review, when: { not: { a: { gte: 1 } } } }
  - { id: keys, reason: KEYS, when: { a: { gte: 1 }, b: { gte: 1 } } }
  - { id: ops, reason: OPS, when: { a: { gte: 1, lte: 2 } } }
  - id: nested
    reason: NESTED
    when:
      any:
        - all: [ { a: 1 }, { b: 1 } ]
        - not: { b: { lt: 5 } }
"#;
    // s fails only the review rule: review. t fails a review and a decline
    // rule: decline, with the deciding (decline) reasons first, so the
    // primary reason of a declined row is always a decline rule.
    let data = "id,a,b\np,0,0\nq,1,0\nr,0,1\ns,1,1\nt,3,7\n";
    assert_eq!(
        decide(policy, data),
        "id,outcome,reasons,limit\n\
         p,decline,ALL;ANY;KEYS;OPS;NESTED,\n\
         q,decline,ALL;KEYS;NESTED;NOT,\n\
         r,decline,ALL;KEYS;OPS;NESTED,\n\
         s,review,NOT,\n\
         t,decline,OPS;NOT,\n"
    );
}

#[test]
fn outcome_reasons_and_limits_of_the_jd_plus_policy() {
    let wd = Workdir::new();
    wd.write(
        "cases.csv",
        std::fs::read(repo_file("tests/fixtures/jd_plus_cases.csv")).unwrap(),
    );
    let policy = repo_file("policies/jd_plus.yaml");
    let out = wd.stdout(&["decide", policy.to_str().unwrap(), "--data", "cases.csv"]);
    // Limits: the first band that matches (>= 750: 5000, >= 650: 2000, else 800);
    // only approved rows get one; a missing score fails `gte: $min_score`.
    assert_eq!(
        out,
        "user_id,outcome,reasons,limit\n\
         c01,decline,SCORE_TOO_LOW,\n\
         c02,approve,,800.00\n\
         c03,approve,,800.00\n\
         c04,approve,,2000.00\n\
         c05,approve,,2000.00\n\
         c06,approve,,5000.00\n\
         c07,decline,SCORE_TOO_LOW,\n\
         c08,decline,PLUS_REQUIRED,\n\
         c09,decline,REAL_NAME_REQUIRED,\n\
         c10,decline,RECENT_OVERDUE,\n\
         c11,decline,UNDERAGE,\n\
         c12,approve,,5000.00\n\
         c13,decline,REAL_NAME_REQUIRED;PLUS_REQUIRED;SCORE_TOO_LOW;RECENT_OVERDUE;UNDERAGE,\n"
    );
}

#[test]
fn review_rules_review_and_decline_rules_win() {
    let wd = Workdir::new();
    wd.write(
        "m.csv",
        "user_id,zhima_score,real_name_verified,max_overdue_days,account_age_months,order_amount,scenario,defaulted\n\
         m1,,true,0,2,100.00,ecommerce,false\n\
         m2,,true,0,24,100.00,rental,false\n\
         m3,720,true,0,24,100.00,travel,false\n\
         m4,660,true,0,24,3000.01,ecommerce,false\n\
         m5,640,true,0,24,100.00,rental,true\n\
         m6,660,true,0,24,3000.00,ecommerce,false\n\
         m7,549,true,31,3,5000.00,ecommerce,false\n",
    );
    let policy = repo_file("policies/merchant_review.yaml");
    let out = wd.stdout(&["decide", policy.to_str().unwrap(), "--data", "m.csv"]);
    // m1: no score is thin-file (review), not a decline. m2: a rental with no
    // score cannot be shown to meet the rental floor (unknown), so it declines.
    assert_eq!(
        out,
        "user_id,outcome,reasons,limit\n\
         m1,review,THIN_FILE,\n\
         m2,decline,RENTAL_SCORE_TOO_LOW;THIN_FILE,\n\
         m3,approve,,5000.00\n\
         m4,review,LARGE_ORDER,\n\
         m5,decline,RENTAL_SCORE_TOO_LOW,\n\
         m6,approve,,1500.00\n\
         m7,decline,SCORE_TOO_LOW;SERIOUS_OVERDUE;THIN_FILE;LARGE_ORDER,\n"
    );
}

#[test]
fn decide_json_is_one_object_per_line() {
    let wd = Workdir::new();
    wd.write(
        "cases.csv",
        std::fs::read(repo_file("tests/fixtures/jd_plus_cases.csv")).unwrap(),
    );
    let policy = repo_file("policies/jd_plus.yaml");
    let out = wd.stdout(&[
        "decide",
        policy.to_str().unwrap(),
        "--data",
        "cases.csv",
        "--format",
        "json",
    ]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 13);
    assert_eq!(
        lines[1],
        serde_json::json!({"user_id": "c02", "outcome": "approve", "reasons": [], "limit": "800.00"})
    );
    assert_eq!(
        lines[12],
        serde_json::json!({
            "user_id": "c13", "outcome": "decline", "limit": null,
            "reasons": ["REAL_NAME_REQUIRED", "PLUS_REQUIRED", "SCORE_TOO_LOW", "RECENT_OVERDUE", "UNDERAGE"],
        })
    );
}

#[test]
fn row_key_is_the_line_number_of_the_record_when_the_policy_has_no_key() {
    let policy = r#"
policy: nokey
fields: { s: int }
rules:
  - { id: r, reason: R, when: { s: { gte: 600 } } }
"#;
    // A quoted newline makes a record span lines: the key is its first line.
    let data = "note,s\nplain,700\n\"two\nlines\",500\nafter,600\n";
    assert_eq!(
        decide(policy, data),
        "row,outcome,reasons,limit\n2,approve,,\n3,decline,R,\n5,approve,,\n"
    );
}

#[test]
fn approved_rows_matching_no_limit_band_get_no_limit() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        r#"
policy: bands
key: id
fields: { id: string, s: int }
rules:
  - { id: r, reason: R, when: { s: { gte: 600 } } }
limit:
  - when: { s: { gte: 700 } }
    amount: 1000
"#,
    )
    .write("d.csv", "id,s\na,650\nb,750\nc,500\n");
    let out = wd.stdout(&["check", "p.yaml"]);
    assert_contains(&out, &["warning: p.yaml:8:13: `limit` has no default band"]);
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\na,approve,,\nb,approve,,1000.00\nc,decline,R,\n"
    );
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv"]);
    assert_eq!(
        r["limits"],
        serde_json::json!([
            {"amount": "1000.00", "approved": 1, "total_limit": "1000.00"},
            {"amount": null, "approved": 1, "total_limit": "0.00"},
        ])
    );
    // Without `repayment.exposure`, exposure is the limit.
    assert_eq!(r["approved_exposure"], "1000.00");
}

#[test]
fn set_overrides_a_parameter() {
    let wd = Workdir::new();
    wd.write(
        "cases.csv",
        std::fs::read(repo_file("tests/fixtures/jd_plus_cases.csv")).unwrap(),
    );
    let policy = repo_file("policies/jd_plus.yaml");
    let policy = policy.to_str().unwrap();
    let base = wd.stdout(&["decide", policy, "--data", "cases.csv"]);
    assert!(base.contains("c03,approve,,800.00\n"), "{base}");
    let raised = wd.stdout(&[
        "decide",
        policy,
        "--data",
        "cases.csv",
        "--set",
        "min_score=650",
    ]);
    assert!(raised.contains("c02,decline,SCORE_TOO_LOW,\n"), "{raised}");
    assert!(raised.contains("c03,decline,SCORE_TOO_LOW,\n"), "{raised}");
    assert!(raised.contains("c04,approve,,2000.00\n"), "{raised}");
    let report = wd.json(&[
        "simulate",
        policy,
        "--data",
        "cases.csv",
        "--set",
        "min_score=650",
    ]);
    assert_eq!(report["approved"], 4);
    assert_eq!(
        report["manifest"]["params"],
        serde_json::json!({"min_score": 650, "min_age": 18})
    );
}

// ---------------------------------------------------------------------------
// 2. Three-valued logic: a missing value never approves
// ---------------------------------------------------------------------------

#[test]
fn missing_values_follow_three_valued_logic() {
    // U is unknown for row k1 (u is empty) and true for k2; T is true, F false.
    let policy = r#"
policy: tvl
key: id
fields: { id: string, u: int, x: int }
rules:
  - { id: cmp,            reason: CMP,            when: { u: { gte: 600 } } }
  - { id: not_cmp,        reason: NOT_CMP,        when: { not: { u: { gte: 600 } } } }
  - { id: all_ut,         reason: ALL_UT,         when: { all: [ { u: { gte: 600 } }, { x: 1 } ] } }
  - { id: all_uf,         reason: ALL_UF,         when: { all: [ { u: { gte: 600 } }, { x: 2 } ] } }
  - { id: any_ut,         reason: ANY_UT,         when: { any: [ { u: { gte: 600 } }, { x: 1 } ] } }
  - { id: any_uf,         reason: ANY_UF,         when: { any: [ { u: { gte: 600 } }, { x: 2 } ] } }
  - { id: not_all_uf,     reason: NOT_ALL_UF,     when: { not: { all: [ { u: { gte: 600 } }, { x: 2 } ] } } }
  - { id: not_any_ut,     reason: NOT_ANY_UT,     when: { not: { any: [ { u: { gte: 600 } }, { x: 1 } ] } } }
  - { id: not_any_uf,     reason: NOT_ANY_UF,     when: { not: { any: [ { u: { gte: 600 } }, { x: 2 } ] } } }
  - { id: ne,             reason: NE,             when: { u: { ne: 600 } } }
  - { id: not_in,         reason: NOT_IN,         when: { u: { not_in: [600] } } }
  - { id: not_eq,         reason: NOT_EQ,         when: { not: { u: 600 } } }
  - { id: is_missing,     reason: IS_MISSING,     when: { u: { missing: true } } }
  - { id: not_missing,    reason: NOT_MISSING,    when: { u: { missing: false } } }
  - { id: not_is_missing, reason: NOT_IS_MISSING, when: { not: { u: { missing: true } } } }
"#;
    let out = decide(policy, "id,u,x\nk1,,1\nk2,700,1\n");
    let rows: Vec<&str> = out.lines().collect();
    // With u missing, only `any [unknown, true]`, `not all [unknown, false]`
    // (= not false) and `missing: true` pass; `not unknown` is still unknown.
    assert_eq!(
        rows[1],
        "k1,decline,CMP;NOT_CMP;ALL_UT;ALL_UF;ANY_UF;NOT_ANY_UT;NOT_ANY_UF;NE;NOT_IN;NOT_EQ;NOT_MISSING;NOT_IS_MISSING,"
    );
    // The same rules with u known, as a control.
    assert_eq!(
        rows[2],
        "k2,decline,NOT_CMP;ALL_UF;NOT_ANY_UT;NOT_ANY_UF;IS_MISSING,"
    );
}

#[test]
fn missing_value_never_approves() {
    // Each rule would pass a missing score under two-valued logic
    // ("not below 600", "not zero", "not in the bad list").
    let policy = r#"
policy: negations
key: id
fields: { id: string, score: int }
rules:
  - { id: not_low, reason: LOW, when: { not: { score: { lt: 600 } } } }
  - { id: not_zero, reason: ZERO, when: { score: { ne: 0 } } }
  - { id: not_banned, reason: BANNED, when: { score: { not_in: [1, 2, 3] } } }
limit:
  - amount: 800
"#;
    assert_eq!(
        decide(
            policy,
            "id,score\nknown,650\nempty,\nquoted_empty,\"\"\nlow,599\n"
        ),
        "id,outcome,reasons,limit\n\
         known,approve,,800.00\n\
         empty,decline,LOW;ZERO;BANNED,\n\
         quoted_empty,decline,LOW;ZERO;BANNED,\n\
         low,decline,LOW,\n"
    );
}

#[test]
fn missing_true_is_exact() {
    // `missing` is two-valued: true exactly for an empty cell, never unknown;
    // 0 and an empty-looking string are not missing.
    let policy = r#"
policy: missing
key: id
fields: { id: string, n: int, s: string }
rules:
  - { id: n_missing, reason: N_MISSING, when: { n: { missing: true } } }
  - { id: s_present, reason: S_PRESENT, when: { s: { missing: false } } }
"#;
    assert_eq!(
        decide(policy, "id,n,s\na,,x\nb,0,x\nc,\"\",\"\"\nd,,0\n"),
        "id,outcome,reasons,limit\n\
         a,approve,,\n\
         b,decline,N_MISSING,\n\
         c,decline,S_PRESENT,\n\
         d,approve,,\n"
    );
}

#[test]
fn rows_with_no_zhima_score_are_never_approved_on_the_sample() {
    // Cross-check on real-looking data: decide's output joined back to the input.
    let out = in_repo(&[
        "decide",
        "policies/jd_plus.yaml",
        "--data",
        "datasets/sample.csv",
    ]);
    let decisions = succeeded(out, &["decide"]);
    let sample = std::fs::read_to_string(repo_file("datasets/sample.csv")).unwrap();
    let mut empty_scores = 0;
    for (input, decision) in sample.lines().skip(1).zip(decisions.lines().skip(1)) {
        let fields: Vec<&str> = input.split(',').collect();
        let d: Vec<&str> = decision.split(',').collect();
        assert_eq!(fields[0], d[0], "decisions are in file order");
        if fields[1].is_empty() {
            empty_scores += 1;
            assert_eq!(d[1], "decline", "{decision}");
            assert!(d[2].split(';').any(|r| r == "SCORE_TOO_LOW"), "{decision}");
            assert_eq!(d[3], "", "{decision}");
        }
    }
    assert!(
        empty_scores > 100,
        "the sample has ~1% empty scores, found {empty_scores}"
    );
}

// ---------------------------------------------------------------------------
// 3. Exact boundaries
// ---------------------------------------------------------------------------

#[test]
fn int_threshold_is_inclusive_and_exact() {
    let policy = r#"
policy: p
key: id
fields: { id: string, score: int }
rules:
  - { id: min_score, reason: SCORE_TOO_LOW, when: { score: { gte: 600 } } }
"#;
    assert_eq!(
        decide(policy, "id,score\na,599\nb,600\nc,601\nd,+600\ne, 600 \n"),
        "id,outcome,reasons,limit\n\
         a,decline,SCORE_TOO_LOW,\n\
         b,approve,,\n\
         c,approve,,\n\
         d,approve,,\n\
         e,approve,,\n"
    );
}

#[test]
fn decimal_boundary_is_exact_and_float_boundary_is_the_nearest_double() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        r#"
policy: exact
key: id
params: { cap: 0.1 }
fields: { id: string, amt: decimal, r: float }
rules:
  - { id: amt, reason: AMT, when: { amt: { lte: $cap } } }
  - { id: r, reason: R, when: { r: { lte: 0.1 } } }
"#,
    );
    // 0.10000000000000000555 is above one tenth, but below the double nearest
    // to 0.1 (0.1000000000000000055511...): a decimal field sees the
    // difference, a float field cannot.
    wd.write(
        "d.csv",
        "id,amt,r\n\
         a,0.1,0.1\n\
         b,0.10,0.1000000001\n\
         c,0.1000000001,0.10000000000000000555\n\
         d,0.10000000000000000555,0.09999999999999999999\n\
         e,0.09999999999999999999,0.1\n",
    );
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\n\
         a,approve,,\n\
         b,decline,R,\n\
         c,decline,AMT,\n\
         d,decline,AMT,\n\
         e,approve,,\n"
    );
    // A `--set` value is as exact as a literal.
    let raised = wd.stdout(&[
        "decide",
        "p.yaml",
        "--data",
        "d.csv",
        "--set",
        "cap=0.10000000000000000555",
    ]);
    assert!(
        raised.contains("\nc,decline,AMT,\nd,approve,,\n"),
        "{raised}"
    );
}

// ---------------------------------------------------------------------------
// 4. CSV dialect: quotes, newlines, CRLF, BOM, bools, stdin
// ---------------------------------------------------------------------------

const PLUS_POLICY: &str = r#"
policy: plus
key: id
fields: { id: string, score: int, plus: bool }
rules:
  - { id: plus, reason: PLUS_REQUIRED, when: { plus: true } }
  - { id: score, reason: SCORE_TOO_LOW, when: { score: { gte: 600 } } }
limit:
  - amount: 800
"#;

#[test]
fn quoted_fields_crlf_and_bom() {
    // BOM before the header, CRLF line endings, an embedded comma, doubled
    // quotes and an embedded CRLF in quoted fields.
    let data = "\u{feff}id,note,score,plus\r\n\
                \"a,1\",\"said \"\"hi\"\"\",700,yes\r\n\
                \"b\"\"2\",\"two\r\nlines\",700,No\r\n\
                c,,700,Y\r\n\
                d,x,599,1\r\n";
    assert_eq!(
        decide(PLUS_POLICY, data),
        "id,outcome,reasons,limit\n\
         \"a,1\",approve,,800.00\n\
         \"b\"\"2\",decline,PLUS_REQUIRED,\n\
         c,approve,,800.00\n\
         d,decline,SCORE_TOO_LOW,\n"
    );
}

#[test]
fn bool_spellings_in_any_case() {
    let data = "id,score,plus\n\
                a,700,yes\nb,700,No\nc,700,Y\nd,700,0\ne,700,t\nf,700,F\n\
                g,700,TRUE\nh,700,n\ni,700,1\nj,700,false\n";
    let out = decide(PLUS_POLICY, data);
    let outcomes: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "approve", "decline", "approve", "decline", "approve", "decline", "approve", "decline",
            "approve", "decline"
        ]
    );
    // Anything else is not a bool.
    let wd = Workdir::new();
    wd.write("p.yaml", PLUS_POLICY)
        .write("d.csv", "id,score,plus\na,700,on\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "`on` in column `plus` (field 3) is not a bool",
            "--> d.csv:2:7",
        ],
    );
}

#[test]
fn error_line_numbers_count_embedded_newlines() {
    let wd = Workdir::new();
    wd.write("p.yaml", PLUS_POLICY);
    // Records start on lines 2, 5 and 7 (quoted newlines in between).
    wd.write(
        "d.csv",
        "id,note,score,plus\na,\"x\ny\nz\",700,y\nb,\"p\nq\",700,y\nc,plain,6x0,y\n",
    );
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "`6x0` in column `score` (field 3) is not an int",
            "--> d.csv:7:9",
        ],
    );
    wd.write(
        "d.csv",
        "id,note,score,plus\na,\"x\ny\nz\",700,y\nb,\"p\nq\",700,y\nc,plain,600\n",
    );
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &["row has 3 field(s) but the header has 4", "--> d.csv:7:1"],
    );
}

#[test]
fn data_from_stdin() {
    let wd = Workdir::new();
    let data = "id,score,plus\na,700,yes\nb,500,yes\n";
    wd.write("p.yaml", PLUS_POLICY).write("d.csv", data);
    let from_file = wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]);
    let out = wd
        .command(&["decide", "p.yaml", "--data", "-"])
        .write_stdin(data)
        .output()
        .unwrap();
    assert_eq!(succeeded(out, &["decide", "--data", "-"]), from_file);
    assert_eq!(
        from_file,
        "id,outcome,reasons,limit\na,approve,,800.00\nb,decline,SCORE_TOO_LOW,\n"
    );

    let out = wd
        .command(&["simulate", "p.yaml", "--data", "-", "--format", "json"])
        .write_stdin(data)
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_str(&succeeded(out, &["simulate", "--data", "-"])).unwrap();
    assert_eq!(report["rows"], 2);
    assert_eq!(report["approved"], 1);
    assert_eq!(
        report["manifest"]["data_sha256"],
        sha256_hex(data.as_bytes())
    );

    // Errors in standard input are named as such.
    let out = wd
        .command(&["decide", "p.yaml", "--data", "-"])
        .write_stdin("id,score,plus\na,700,yes\nb,x,yes\n")
        .output()
        .unwrap();
    let err = failed(out, &["decide", "--data", "-"], 2);
    assert_contains(
        &err,
        &[
            "`x` in column `score` (field 2) is not an int",
            "--> <stdin>:3:3",
        ],
    );
}

// ---------------------------------------------------------------------------
// 5. Bad inputs: exit code and a message that names the place
// ---------------------------------------------------------------------------

const SCORE_POLICY: &str = r#"
policy: score
key: id
fields: { id: string, score: int }
rules:
  - { id: min_score, reason: SCORE_TOO_LOW, when: { score: { gte: 600 } } }
"#;

#[test]
fn wrong_field_count_is_an_input_error_naming_file_and_line() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,600\nu2,700\nu3,1,000\n");
    for cmd in ["decide", "simulate"] {
        let err = wd.fails(&[cmd, "p.yaml", "--data", "d.csv"], 2);
        assert_contains(
            &err,
            &[
                "error: row has 3 field(s) but the header has 2",
                "  --> d.csv:4:1",
                "help:",
                "--skip-bad-rows",
            ],
        );
    }
}

#[test]
fn bad_value_names_line_column_and_field() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,600\nu2,6x0\n");
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        "error: `6x0` in column `score` (field 2) is not an int"
    );
    assert_eq!(lines[1], "  --> d.csv:3:4");
    assert!(
        lines[2].starts_with("help:") && lines[2].contains("--skip-bad-rows"),
        "{err}"
    );
}

#[test]
fn skip_bad_rows_counts_every_skipped_row() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY).write(
        "d.csv",
        "id,score\nu1,599\nu2,6x0\nu3,\nu4,1,2\nu5,700\nu6,abc\n",
    );
    let report = wd.json(&["simulate", "p.yaml", "--data", "d.csv", "--skip-bad-rows"]);
    assert_eq!(report["skipped_rows"], 3);
    assert_eq!(report["rows"], 3, "skipped rows are not evaluated");
    assert_eq!(report["approved"], 1);
    assert_eq!(report["declined"], 2);

    // Standard error lists them; --quiet silences it.
    let out = wd.output(&[
        "simulate",
        "p.yaml",
        "--data",
        "d.csv",
        "--skip-bad-rows",
        "--format",
        "json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_contains(
        &err,
        &[
            "skipped 3 malformed row(s)",
            "d.csv:3:",
            "d.csv:5:",
            "d.csv:7:",
        ],
    );
    let out = wd.output(&[
        "simulate",
        "p.yaml",
        "--data",
        "d.csv",
        "--skip-bad-rows",
        "--quiet",
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // decide leaves skipped rows out of its output, and says so.
    let out = wd.output(&["decide", "p.yaml", "--data", "d.csv", "--skip-bad-rows"]);
    assert_eq!(
        succeeded(out.clone(), &["decide"]),
        "id,outcome,reasons,limit\nu1,decline,SCORE_TOO_LOW,\nu3,decline,SCORE_TOO_LOW,\nu5,approve,,\n"
    );
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        &["skipped 3 malformed row(s)"],
    );
}

#[test]
fn skip_bad_rows_counts_bad_rows_across_chunks() {
    // 60 bad rows spread over a 4 MB file (several chunks, more than the
    // twenty examples kept for the report).
    let wd = Workdir::new();
    wd.stdout(&["gen", "--rows", "30000", "--seed", "9", "-o", "pop.csv"]);
    let pop = wd.read("pop.csv");
    let mut lines: Vec<String> = pop.lines().map(str::to_owned).collect();
    for i in (250..30_000).step_by(500) {
        let mut fields: Vec<&str> = lines[i].split(',').collect();
        fields[4] = "lots"; // overdue_count_12m: int
        lines[i] = fields.join(",");
    }
    wd.write("bad.csv", lines.join("\n") + "\n");
    let policy = repo_file("policies/jd_plus.yaml");
    let policy = policy.to_str().unwrap();
    for threads in ["1", "4"] {
        let args = [
            "simulate",
            policy,
            "--data",
            "bad.csv",
            "--skip-bad-rows",
            "--threads",
            threads,
        ];
        let out = wd.output(&[&args[..], &["--format", "json"]].concat());
        let r: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", show(&out)));
        assert_eq!(r["skipped_rows"], 60);
        assert_eq!(r["rows"], 30_000 - 60);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_contains(
            &err,
            &[
                "skipped 60 malformed row(s)",
                "bad.csv:251: `lots` in column `overdue_count_12m`",
                "… and 40 more",
            ],
        );
    }
    let out = wd.stdout(&[
        "decide",
        policy,
        "--data",
        "bad.csv",
        "--skip-bad-rows",
        "--quiet",
    ]);
    assert_eq!(out.lines().count(), 1 + 30_000 - 60);
    assert!(!out.contains("\nu00000250,"));
    assert!(out.contains("\nu00000251,"));
}

#[test]
fn check_counts_every_bad_row() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,x\nu2,600\nu3,y\nu4,1,2\n");
    let err = wd.fails(&["check", "p.yaml", "--data", "d.csv"], 1);
    assert_contains(
        &err,
        &[
            "3 row(s) of `d.csv` do not parse",
            "d.csv:2: `x` in column `score`",
            "d.csv:4: `y` in column `score`",
            "d.csv:5: row has 3 field(s) but the header has 2",
        ],
    );
    wd.write("d.csv", "id,score\nu1,1\nu2,600\n");
    let out = wd.stdout(&["check", "p.yaml", "--data", "d.csv"]);
    assert_contains(&out, &["ok: p.yaml", "fits: 2 rows"]);
}

#[test]
fn missing_column_lists_the_existing_columns() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,zhima,city\nu1,600,1\n");
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "error: the dataset has no column `score`, which the policy reads",
            "--> d.csv:1:1",
            "help:",
            "`id`, `zhima`, `city`",
        ],
    );
    wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    let err = wd.fails(&["check", "p.yaml", "--data", "d.csv"], 1);
    assert_contains(&err, &["no column `score`", "`id`, `zhima`, `city`"]);
    // A near miss is suggested.
    wd.write("d.csv", "id,scor\nu1,600\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(&err, &["did you mean `scor`?"]);
}

/// Runs a broken policy through `check` (exit 1) and `simulate`/`decide`
/// (exit 2); returns check's standard error.
fn policy_error(policy: &str) -> String {
    let wd = Workdir::new();
    wd.write("p.yaml", policy)
        .write("d.csv", "zhima_score,is_plus_member\n700,true\n");
    let check = wd.fails(&["check", "p.yaml"], 1);
    let simulate = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    let decide = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert!(
        check.starts_with(&simulate),
        "check:\n{check}\nsimulate:\n{simulate}"
    );
    assert_eq!(simulate, decide);
    check
}

const POLICY_HEAD: &str = "policy: p
params:
  min_score: 600
fields:
  zhima_score: int
  is_plus_member: bool
rules:
";

#[test]
fn unknown_field_in_a_condition_is_located_with_a_suggestion() {
    let err = policy_error(&format!(
        "{POLICY_HEAD}  - id: score\n    reason: SCORE_TOO_LOW\n    when: {{ zhima_scor: {{ gte: $min_score }} }}\n"
    ));
    assert!(
        err.starts_with(
            "error: unknown field `zhima_scor` in a condition
  --> p.yaml:10:13
   |
10 |     when: { zhima_scor: { gte: $min_score } }
   |             ^^^^^^^^^^
help: did you mean `zhima_score` (declared on line 5)? if the declaration is the typo, fix it there"
        ),
        "{err}"
    );
}

#[test]
fn operator_that_does_not_fit_the_type_is_located() {
    let err = policy_error(&format!(
        "{POLICY_HEAD}  - id: plus\n    reason: PLUS_REQUIRED\n    when: {{ is_plus_member: {{ gte: 600 }} }}\n"
    ));
    assert_contains(
        &err,
        &[
            "error: operator `gte` does not apply to bool field `is_plus_member`",
            "--> p.yaml:10:31",
        ],
    );
    // A literal that is not of the field's type.
    let err = policy_error(&format!(
        "{POLICY_HEAD}  - id: score\n    reason: R\n    when: {{ zhima_score: {{ gte: high }} }}\n"
    ));
    assert_contains(&err, &["`high` is not an int", "--> p.yaml:10:33"]);
}

#[test]
fn undefined_parameter_is_located_with_a_suggestion() {
    let err = policy_error(&format!(
        "{POLICY_HEAD}  - id: score\n    reason: R\n    when: {{ zhima_score: {{ gte: $min_scroe }} }}\n"
    ));
    assert_contains(
        &err,
        &[
            "error: undefined parameter `$min_scroe`",
            "--> p.yaml:10:33",
            "did you mean `$min_score`?",
        ],
    );
}

#[test]
fn unknown_key_is_located_with_a_suggestion() {
    let err = policy_error(&format!(
        "policy: p\ndescripton: typo\n{}  - {{ id: r, reason: R, when: {{ zhima_score: 1 }} }}\n",
        &POLICY_HEAD["policy: p\n".len()..]
    ));
    assert_contains(
        &err,
        &[
            "error: unknown key `descripton` in a policy",
            "--> p.yaml:2:1",
            "did you mean `description`?",
        ],
    );
    let err = policy_error(&format!(
        "{POLICY_HEAD}  - id: score\n    reason: R\n    whne: {{ zhima_score: 1 }}\n"
    ));
    assert_contains(
        &err,
        &[
            "unknown key `whne` in a rule",
            "--> p.yaml:10:5",
            "did you mean `when`?",
        ],
    );
}

#[test]
fn invalid_yaml_is_located() {
    let err = policy_error("policy: p\nrules: [\n");
    assert_contains(&err, &["error: invalid YAML", "--> p.yaml:"]);
}

#[test]
fn check_reports_each_policy_and_fails_if_any_is_bad() {
    let wd = Workdir::new();
    wd.write("good.yaml", SCORE_POLICY).write(
        "bad.yaml",
        "policy: bad\nfields: { s: int }\nrules:\n  - { id: r, reason: R, when: { t: 1 } }\n",
    );
    let out = wd.output(&["check", "good.yaml", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_contains(&String::from_utf8_lossy(&out.stdout), &["ok: good.yaml"]);
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        &["unknown field `t` in a condition", "--> bad.yaml:4:33"],
    );
}

#[test]
fn unknown_set_name_is_a_usage_error() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,600\n");
    for cmd in ["simulate", "decide"] {
        let err = wd.fails(&[cmd, "p.yaml", "--data", "d.csv", "--set", "nope=1"], 2);
        assert_contains(
            &err,
            &["`--set nope=...` names no parameter of policy `score`"],
        );
    }
    // A near miss is suggested; a value of the wrong type is refused.
    let policy = repo_file("policies/jd_plus.yaml");
    let policy = policy.to_str().unwrap();
    let sample = repo_file("datasets/sample.csv");
    let sample = sample.to_str().unwrap();
    let err = wd.fails(
        &[
            "simulate",
            policy,
            "--data",
            sample,
            "--set",
            "min_scor=650",
        ],
        2,
    );
    assert_contains(&err, &["did you mean `min_score`?"]);
    let err = wd.fails(
        &[
            "simulate",
            policy,
            "--data",
            sample,
            "--set",
            "min_score=high",
        ],
        2,
    );
    assert_contains(
        &err,
        &[
            "`--set min_score=high`: `min_score` is a number in policy `jd-plus-bnpl` (`600`), and `high` is not",
        ],
    );
    wd.fails(
        &["simulate", policy, "--data", sample, "--set", "min_score"],
        2,
    );
}

#[test]
fn check_with_an_unknown_set_name_is_a_usage_error() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY);
    wd.fails(&["check", "p.yaml", "--set", "nope=1"], 2);
}

#[test]
fn unreadable_files_are_input_errors() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,600\n");
    for args in [
        &["simulate", "p.yaml", "--data", "nope.csv"][..],
        &["decide", "p.yaml", "--data", "nope.csv"],
        &["check", "p.yaml", "--data", "nope.csv"],
    ] {
        let err = wd.fails(args, 2);
        assert_contains(&err, &["error: cannot read `nope.csv`"]);
    }
    for args in [
        &["simulate", "nope.yaml", "--data", "d.csv"][..],
        &["decide", "nope.yaml", "--data", "d.csv"],
        &["check", "nope.yaml"],
    ] {
        let err = wd.fails(args, 2);
        assert_contains(&err, &["error: cannot read `nope.yaml`"]);
    }
}

#[test]
fn empty_data_file_is_an_input_error() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY).write("empty.csv", "");
    for cmd in ["simulate", "decide"] {
        let err = wd.fails(&[cmd, "p.yaml", "--data", "empty.csv"], 2);
        assert_contains(
            &err,
            &["error: dataset `empty.csv` is empty", "--> empty.csv:1:1"],
        );
    }
}

#[test]
fn header_only_data_has_zero_rows() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\n");
    let report = wd.json(&["simulate", "p.yaml", "--data", "d.csv"]);
    assert_eq!(report["rows"], 0);
    assert_eq!(report["approved"], 0);
    // A rate of no rows is unknown, not zero.
    assert_eq!(report["approval_rate"], Value::Null);
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\n"
    );
}

#[test]
fn bad_command_line_options_are_usage_errors() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,600\n");
    let err = wd.fails(
        &["decide", "p.yaml", "--data", "d.csv", "--format", "table"],
        2,
    );
    assert_contains(&err, &["`decide` writes csv or json"]);
    let err = wd.fails(
        &[
            "simulate",
            "p.yaml",
            "--data",
            "d.csv",
            "--by",
            "score:700,600",
        ],
        2,
    );
    assert_contains(&err, &["`--by score:700,600` has bad bin edges"]);
    wd.fails(
        &["simulate", "p.yaml", "--data", "d.csv", "--format", "yaml"],
        2,
    );
    wd.fails(&["simulate", "p.yaml"], 2);
    let err = wd.fails(
        &["simulate", "p.yaml", "--data", "d.csv", "--by", "city"],
        2,
    );
    assert_contains(&err, &["no column `city`"]);
}

// ---------------------------------------------------------------------------
// 6. decide -o: all or nothing
// ---------------------------------------------------------------------------

#[test]
fn decide_output_file_is_not_created_when_a_row_is_bad() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,600\nu2,6x0\nu3,700\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv", "-o", "out.csv"], 2);
    assert_contains(&err, &["--> d.csv:3:4"]);
    assert_eq!(
        wd.files(),
        ["d.csv", "p.yaml"],
        "no output and no stray temporary file"
    );

    // A failed run leaves an existing output as it was.
    wd.write("out.csv", "old\n");
    wd.fails(&["decide", "p.yaml", "--data", "d.csv", "-o", "out.csv"], 2);
    assert_eq!(wd.read("out.csv"), "old\n");
    assert_eq!(wd.files(), ["d.csv", "out.csv", "p.yaml"]);

    // Into a directory that does not exist.
    wd.write("d.csv", "id,score\nu1,600\n");
    let err = wd.fails(
        &[
            "decide",
            "p.yaml",
            "--data",
            "d.csv",
            "-o",
            "no/such/dir/out.csv",
        ],
        2,
    );
    assert_contains(&err, &["cannot write"]);
}

#[test]
fn decide_output_replaces_an_existing_file_and_nothing_else() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,600\nu2,500\n")
        .write("out.csv", "old\n".repeat(1000));
    let want = "id,outcome,reasons,limit\nu1,approve,,\nu2,decline,SCORE_TOO_LOW,\n";
    for _ in 0..2 {
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv", "-o", "out.csv"]);
        assert_eq!(wd.read("out.csv"), want);
        assert_eq!(
            wd.files(),
            ["d.csv", "out.csv", "p.yaml"],
            "no stray temporary file"
        );
    }
    // A directory in the way is an error, and stays as it was.
    std::fs::create_dir(wd.path("dir.csv")).unwrap();
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv", "-o", "dir.csv"], 2);
    assert_contains(&err, &["cannot write", "dir.csv"]);
    assert!(wd.path("dir.csv").is_dir());
    assert_eq!(wd.files(), ["d.csv", "dir.csv", "out.csv", "p.yaml"]);
}

#[test]
fn decide_output_file_is_all_or_nothing_on_a_large_file() {
    let wd = Workdir::new();
    wd.stdout(&["gen", "--rows", "50000", "--seed", "7", "-o", "pop.csv"]);
    let policy = repo_file("policies/jd_plus.yaml");
    let policy = policy.to_str().unwrap();

    let out = wd.stdout(&["decide", policy, "--data", "pop.csv", "-o", "out.csv"]);
    assert_eq!(out, "", "with -o nothing goes to standard output");
    let written = wd.read("out.csv");
    assert_eq!(written.lines().count(), 50_001);
    assert!(written.starts_with("user_id,outcome,reasons,limit\nu00000001,"));
    assert!(written.lines().last().unwrap().starts_with("u00050000,"));
    assert_eq!(written, wd.stdout(&["decide", policy, "--data", "pop.csv"]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(wd.path("out.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o644, 0o644, "an ordinary, readable file: {mode:o}");
    }
    std::fs::remove_file(wd.path("out.csv")).unwrap();

    // Break a row far past the first chunk (several MB in): the rows before it
    // are already decided when the error is found.
    let pop = wd.read("pop.csv");
    let mut lines: Vec<String> = pop.lines().map(str::to_owned).collect();
    let mut fields: Vec<&str> = lines[40_000].split(',').collect();
    fields[2] = "maybe";
    lines[40_000] = fields.join(",");
    wd.write("broken.csv", lines.join("\n") + "\n");
    let err = wd.fails(
        &[
            "decide",
            policy,
            "--data",
            "broken.csv",
            "-o",
            "out.csv",
            "--threads",
            "2",
        ],
        2,
    );
    assert_contains(
        &err,
        &[
            "`maybe` in column `is_plus_member` (field 3) is not a bool",
            "--> broken.csv:40001:",
        ],
    );
    assert_eq!(wd.files(), ["broken.csv", "pop.csv"]);
}

// ---------------------------------------------------------------------------
// 7. Determinism across thread counts and stdin
// ---------------------------------------------------------------------------

#[test]
fn simulate_is_byte_identical_at_any_thread_count_and_from_stdin() {
    let wd = Workdir::new();
    wd.stdout(&["gen", "--rows", "50000", "--seed", "7", "-o", "pop.csv"]);
    let policy = repo_file("policies/merchant_review.yaml");
    let policy = policy.to_str().unwrap();
    let args = |threads: &'static str, data: &'static str| {
        vec![
            "simulate",
            policy,
            "--data",
            data,
            "--by",
            "city_tier",
            "--by",
            "zhima_score:550,600,650,700",
            "--by",
            "scenario",
            "--format",
            "json",
            "--threads",
            threads,
        ]
    };
    let one = wd.stdout(&args("1", "pop.csv"));
    for threads in ["2", "8"] {
        assert!(
            one == wd.stdout(&args(threads, "pop.csv")),
            "--threads {threads} differs from --threads 1"
        );
    }
    let out = wd
        .command(&args("2", "-"))
        .write_stdin(std::fs::read(wd.path("pop.csv")).unwrap())
        .output()
        .unwrap();
    assert!(
        one == succeeded(out, &["simulate", "--data", "-"]),
        "stdin differs from the file"
    );

    let report: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(report["rows"], 50_000);
    assert!(u(&report["review"]) > 0 && u(&report["approved"]) > 0 && u(&report["declined"]) > 0);
}

#[test]
fn decide_is_byte_identical_at_any_thread_count_and_from_stdin() {
    let wd = Workdir::new();
    wd.stdout(&["gen", "--rows", "50000", "--seed", "7", "-o", "pop.csv"]);
    let policy = repo_file("policies/merchant_review.yaml");
    let policy = policy.to_str().unwrap();
    let one = wd.stdout(&["decide", policy, "--data", "pop.csv", "--threads", "1"]);
    assert_eq!(one.lines().count(), 50_001);
    for threads in ["2", "8"] {
        let other = wd.stdout(&["decide", policy, "--data", "pop.csv", "--threads", threads]);
        assert!(one == other, "--threads {threads} differs from --threads 1");
    }
    let out = wd
        .command(&["decide", policy, "--data", "-", "--threads", "8"])
        .write_stdin(std::fs::read(wd.path("pop.csv")).unwrap())
        .output()
        .unwrap();
    assert!(
        one == succeeded(out, &["decide", "--data", "-"]),
        "stdin differs from the file"
    );
    // Rows come out in file order.
    let keys: Vec<&str> = one.lines().skip(1).map(|l| &l[..9]).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn decide_writes_rows_in_file_order_when_later_chunks_finish_first() {
    // The first ~1 MiB chunk holds 70,000 short rows; the next chunks hold a
    // few hundred long ones (a padding column nobody reads), so with several
    // threads the later chunks are decided long before the first.
    let mut data = String::from("id,pad,score\n");
    for i in 0..70_000 {
        data.push_str(&format!("a{i:06},,{}\n", 550 + i % 100));
    }
    let pad = "x".repeat(20_000);
    for i in 0..150 {
        data.push_str(&format!("b{i:06},{pad},{}\n", 550 + i % 100));
    }
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY).write("d.csv", &data);
    let out = wd.stdout(&["decide", "p.yaml", "--data", "d.csv", "--threads", "4"]);
    let keys: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(keys.len(), 70_150);
    assert_eq!(keys[0], "a000000");
    assert_eq!(keys[69_999], "a069999");
    assert_eq!(keys[70_000], "b000000");
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "rows out of file order"
    );
}

#[test]
fn decide_and_simulate_agree_on_every_count() {
    let out = in_repo(&[
        "decide",
        "policies/merchant_review.yaml",
        "--data",
        "datasets/sample.csv",
    ]);
    let decisions = succeeded(out, &["decide"]);
    let out = in_repo(&[
        "simulate",
        "policies/merchant_review.yaml",
        "--data",
        "datasets/sample.csv",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_str(&succeeded(out, &["simulate"])).unwrap();

    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    let mut primary: BTreeMap<String, u64> = BTreeMap::new();
    let mut sole: BTreeMap<String, u64> = BTreeMap::new();
    let mut limits: BTreeMap<String, u64> = BTreeMap::new();
    for line in decisions.lines().skip(1) {
        let d: Vec<&str> = line.split(',').collect();
        *outcomes.entry(d[1].to_owned()).or_default() += 1;
        let reasons: Vec<&str> = d[2].split(';').filter(|r| !r.is_empty()).collect();
        for r in &reasons {
            *failed.entry(r.to_string()).or_default() += 1;
        }
        if let Some(first) = reasons.first() {
            *primary.entry(first.to_string()).or_default() += 1;
        }
        if reasons.len() == 1 {
            *sole.entry(reasons[0].to_owned()).or_default() += 1;
        }
        assert_eq!(
            d[1] == "approve",
            !d[3].is_empty(),
            "only approved rows have a limit: {line}"
        );
        if !d[3].is_empty() {
            *limits.entry(d[3].to_owned()).or_default() += 1;
        }
    }
    assert_eq!(report["rows"], 20_000);
    assert_eq!(u(&report["approved"]), outcomes["approve"]);
    assert_eq!(u(&report["review"]), outcomes["review"]);
    assert_eq!(u(&report["declined"]), outcomes["decline"]);
    for r in report["reasons"].as_array().unwrap() {
        let code = r["reason"].as_str().unwrap();
        assert_eq!(
            u(&r["failed"]),
            failed.get(code).copied().unwrap_or(0),
            "failed {code}"
        );
        assert_eq!(
            u(&r["primary"]),
            primary.get(code).copied().unwrap_or(0),
            "primary {code}"
        );
        assert_eq!(
            u(&r["sole"]),
            sole.get(code).copied().unwrap_or(0),
            "sole {code}"
        );
    }
    for l in report["limits"].as_array().unwrap() {
        let amount = l["amount"].as_str().unwrap();
        assert_eq!(
            u(&l["approved"]),
            limits.get(amount).copied().unwrap_or(0),
            "limit {amount}"
        );
    }
}

// ---------------------------------------------------------------------------
// 8. The simulate report: hand-worked numbers and the golden JSON
// ---------------------------------------------------------------------------

#[test]
fn simulate_numbers_match_a_hand_worked_example() {
    let wd = Workdir::new();
    wd.write(
        "cases.csv",
        std::fs::read(repo_file("tests/fixtures/jd_plus_cases.csv")).unwrap(),
    );
    let policy = repo_file("tests/fixtures/jd_plus_model_v3.yaml");
    let r = wd.json(&[
        "simulate",
        policy.to_str().unwrap(),
        "--data",
        "cases.csv",
        "--by",
        "city_tier",
    ]);
    assert_eq!(r["policy"], "jd-plus-bnpl");
    assert_eq!(r["version"], "3");
    assert_eq!(r["rows"], 13);
    assert_eq!(r["approved"], 6);
    assert_eq!(r["declined"], 7);
    assert_eq!(r["review"], 0);
    assert_close(&r["approval_rate"], 6.0 / 13.0);
    // 100 + 100 + 250.50 + 100 + 100 + 1999.99 for c02..c06 and c12.
    assert_eq!(r["approved_exposure"], "2650.49");
    assert_eq!(r["skipped_rows"], 0);
    let reasons: Vec<(String, u64, u64, u64)> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["rule"].as_str().unwrap().to_owned(),
                u(&x["failed"]),
                u(&x["primary"]),
                u(&x["sole"]),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("real_name".to_owned(), 2, 2, 1),
            ("plus_member".to_owned(), 2, 1, 1),
            ("min_score".to_owned(), 3, 2, 2),
            ("clean_record".to_owned(), 2, 1, 1),
            ("adult".to_owned(), 2, 1, 1),
        ]
    );
    assert_eq!(r["reasons"][0]["reason"], "REAL_NAME_REQUIRED");
    assert_eq!(r["reasons"][0]["action"], "decline");
    assert_eq!(r["reasons"][0]["flag"], Value::Null);
    let remaining: Vec<u64> = r["waterfall"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| u(&w["remaining"]))
        .collect();
    assert_eq!(remaining, [11, 10, 8, 7, 6]);
    assert_eq!(
        r["limits"],
        serde_json::json!([
            {"amount": "5000.00", "approved": 2, "total_limit": "10000.00"},
            {"amount": "2000.00", "approved": 2, "total_limit": "4000.00"},
            {"amount": "800.00", "approved": 2, "total_limit": "1600.00"},
        ])
    );
    let tiers: Vec<(String, u64, u64, u64)> = r["segments"]["city_tier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["value"].as_str().unwrap().to_owned(),
                u(&s["rows"]),
                u(&s["approved"]),
                u(&s["bads"]),
            )
        })
        .collect();
    assert_eq!(
        tiers,
        [
            ("1".to_owned(), 7, 2, 0),
            ("2".to_owned(), 2, 2, 0),
            ("3".to_owned(), 2, 2, 1),
            ("4".to_owned(), 2, 0, 2)
        ]
    );
    // Observed: c06 (approved) defaulted; c07 and c13 (declined) too.
    assert_eq!(r["observed"]["bads"], 1);
    assert_close(&r["observed"]["bad_rate"], 1.0 / 6.0);
    assert_eq!(r["observed"]["population_bads"], 3);
    assert_close(&r["observed"]["population_bad_rate"], 3.0 / 13.0);
    // Repayment, by band: >=750 {c06 1999.99, c12 100}, >=650 {c04, c05: 200},
    // rest {c02, c03: 350.50}.
    // defaults: 2*.004 + 2*.012 + 2*.025 = 0.082
    // loss: (2099.99*.004 + 200*.012 + 350.50*.025) * .85 = 16.627091
    // revenue: 2650.49 * .95 * .012 + (2*.02 + 2*.04 + 2*.06) * 5 = 31.415586
    let p = &r["repayment"];
    assert!(
        (p["expected_defaults"].as_f64().unwrap() - 0.082).abs() < 1e-12,
        "{p}"
    );
    assert_eq!(p["expected_loss"], "16.63");
    assert_eq!(p["expected_revenue"], "31.42");
    let mix = &p["outcomes"];
    assert!(
        (mix["returned"].as_f64().unwrap() - 0.05).abs() < 1e-9,
        "{mix}"
    );
    assert!(
        (mix["early"].as_f64().unwrap() - 1.3 / 6.0).abs() < 1e-9,
        "{mix}"
    );
    assert!((mix["late"].as_f64().unwrap() - 0.04).abs() < 1e-9, "{mix}");
    assert!(
        (mix["default"].as_f64().unwrap() - 0.082 / 6.0).abs() < 1e-9,
        "{mix}"
    );
    let total: f64 = ["returned", "early", "on_time", "late", "default"]
        .iter()
        .map(|k| mix[k].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{mix}");
}

#[test]
fn rules_that_do_no_work_are_flagged() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        r#"
policy: flags
fields: { score: int, age: int }
rules:
  - { id: adult, reason: UNDERAGE, when: { age: { gte: 18 } } }
  - { id: child_score, reason: CHILD, when: { any: [ { age: { gte: 16 } }, { score: { gte: 900 } } ] } }
  - { id: positive, reason: NEGATIVE, when: { score: { gte: 0 } } }
  - { id: score, reason: LOW, when: { score: { gte: 600 } } }
"#,
    )
    .write("d.csv", "score,age\n700,30\n500,30\n700,15\n");
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv"]);
    let flags: Vec<&Value> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["flag"])
        .collect();
    // child_score fails only for the 15-year-old, whom `adult` already declines.
    assert_eq!(
        flags,
        [
            &Value::Null,
            &Value::from("shadowed"),
            &Value::from("never_fails"),
            &Value::Null
        ]
    );
    let table = wd.stdout(&["simulate", "p.yaml", "--data", "d.csv", "--format", "table"]);
    assert_contains(&table, &["shadowed", "never fails"]);
}

/// A from-scratch evaluation of policies/jd_plus.yaml over sample.csv, to
/// check simulate's numbers against.
struct JdPlusOracle {
    rows: u64,
    approved: u64,
    failed: [u64; 5],
    primary: [u64; 5],
    sole: [u64; 5],
    /// Approved rows per limit band (5000, 2000, 800).
    limit_rows: [u64; 3],
    exposure_cents: i64,
    bads_approved: u64,
    bads_all: u64,
    /// Per city tier: (rows, approved).
    tiers: BTreeMap<String, (u64, u64)>,
    /// Per score bin (< 550, [550, 600), ..., >= 700, missing): rows.
    bins: [u64; 6],
    /// Repayment: expected loss and revenue, exact, in units of 1e-7 cents.
    loss: i128,
    revenue: i128,
}

fn jd_plus_oracle(csv: &str) -> JdPlusOracle {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (score, plus, real, overdue, age, amount, tier, defaulted) = (
        col("zhima_score"),
        col("is_plus_member"),
        col("real_name_verified"),
        col("overdue_count_12m"),
        col("age"),
        col("order_amount"),
        col("city_tier"),
        col("defaulted"),
    );
    let mut o = JdPlusOracle {
        rows: 0,
        approved: 0,
        failed: [0; 5],
        primary: [0; 5],
        sole: [0; 5],
        limit_rows: [0; 3],
        exposure_cents: 0,
        bads_approved: 0,
        bads_all: 0,
        tiers: BTreeMap::new(),
        bins: [0; 6],
        loss: 0,
        revenue: 0,
    };
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let s: Option<i64> = (!f[score].is_empty()).then(|| f[score].parse().unwrap());
        let fails = [
            f[real] != "true",
            f[plus] != "true",
            s.is_none_or(|s| s < 600),
            f[overdue] != "0",
            f[age].parse::<i64>().unwrap() < 18,
        ];
        let bad = f[defaulted] == "true";
        o.rows += 1;
        o.bads_all += u64::from(bad);
        for (i, failed) in fails.iter().enumerate() {
            o.failed[i] += u64::from(*failed);
        }
        if let Some(first) = fails.iter().position(|x| *x) {
            o.primary[first] += 1;
            if fails.iter().filter(|x| **x).count() == 1 {
                o.sole[first] += 1;
            }
        }
        let approved = !fails.contains(&true);
        let t = o.tiers.entry(f[tier].to_owned()).or_default();
        t.0 += 1;
        t.1 += u64::from(approved);
        o.bins[match s {
            None => 5,
            Some(s) if s < 550 => 0,
            Some(s) if s < 600 => 1,
            Some(s) if s < 650 => 2,
            Some(s) if s < 700 => 3,
            Some(_) => 4,
        }] += 1;
        if approved {
            o.approved += 1;
            o.bads_approved += u64::from(bad);
            let s = s.unwrap();
            let band = if s >= 750 {
                0
            } else if s >= 650 {
                1
            } else {
                2
            };
            o.limit_rows[band] += 1;
            let (units, cents) = f[amount].split_once('.').unwrap();
            let cents: i64 = units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
            o.exposure_cents += cents;
            // p(default) and p(late) in thousandths per band; returned is 5%
            // everywhere, loss given default 85%, fee 1.2%, late fee 5.00.
            let (p_default, p_late) = [(4, 20), (12, 40), (25, 60)][band];
            let cents = i128::from(cents);
            o.loss += cents * p_default * 85 * 100; // cents * (pd/1000) * (85/100) = 1e-5 cents; scaled to 1e-7
            o.revenue += cents * 95 * 12 * 100 + p_late * 500 * 10_000; // 1e-7 cents
        }
    }
    o
}

/// Rounds an amount in 1e-7 cents half away from zero to a "1234.56" string.
fn cents_string(units_1e7: i128) -> String {
    assert!(units_1e7 >= 0);
    let cents = (units_1e7 + 5_000_000) / 10_000_000;
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[test]
fn simulate_on_the_sample_matches_an_independent_evaluation() {
    let csv = std::fs::read_to_string(repo_file("datasets/sample.csv")).unwrap();
    let o = jd_plus_oracle(&csv);
    let out = in_repo(&[
        "simulate",
        "tests/fixtures/jd_plus_model_v3.yaml",
        "--data",
        "datasets/sample.csv",
        "--by",
        "city_tier",
        "--by",
        "zhima_score:550,600,650,700",
        "--format",
        "json",
    ]);
    let r: Value = serde_json::from_str(&succeeded(out, &["simulate"])).unwrap();
    assert_eq!(u(&r["rows"]), o.rows);
    assert_eq!(u(&r["approved"]), o.approved);
    assert_eq!(u(&r["declined"]), o.rows - o.approved);
    for (i, reason) in r["reasons"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            (
                u(&reason["failed"]),
                u(&reason["primary"]),
                u(&reason["sole"])
            ),
            (o.failed[i], o.primary[i], o.sole[i]),
            "rule {}",
            reason["rule"]
        );
    }
    let limits: Vec<u64> = r["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| u(&l["approved"]))
        .collect();
    assert_eq!(limits, o.limit_rows);
    assert_eq!(
        r["approved_exposure"],
        format!("{}.{:02}", o.exposure_cents / 100, o.exposure_cents % 100)
    );
    assert_eq!(u(&r["observed"]["bads"]), o.bads_approved);
    assert_eq!(u(&r["observed"]["population_bads"]), o.bads_all);
    assert_eq!(r["repayment"]["expected_loss"], cents_string(o.loss));
    assert_eq!(r["repayment"]["expected_revenue"], cents_string(o.revenue));
    let tiers: BTreeMap<String, (u64, u64)> = r["segments"]["city_tier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["value"].as_str().unwrap().to_owned(),
                (u(&s["rows"]), u(&s["approved"])),
            )
        })
        .collect();
    assert_eq!(tiers, o.tiers);
    let bins: Vec<(String, u64)> = r["segments"]["zhima_score"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["value"].as_str().unwrap().to_owned(), u(&s["rows"])))
        .collect();
    let labels = [
        "< 550",
        "[550, 600)",
        "[600, 650)",
        "[650, 700)",
        ">= 700",
        "(missing)",
    ];
    let expected: Vec<(String, u64)> = labels.iter().map(|l| l.to_string()).zip(o.bins).collect();
    assert_eq!(bins, expected);
}

#[test]
fn golden_simulate_json_for_jd_plus_on_the_sample() {
    let args = [
        "simulate",
        "policies/jd_plus.yaml",
        "--data",
        "datasets/sample.csv",
        "--by",
        "city_tier",
        "--by",
        "zhima_score:550,600,650,700",
        "--format",
        "json",
    ];
    let text = succeeded(in_repo(&args), &args);
    let r: Value = serde_json::from_str(&text).unwrap();

    // Facts that hold for any policy and data.
    let (rows, approved) = (u(&r["rows"]), u(&r["approved"]));
    assert_eq!(approved + u(&r["declined"]) + u(&r["review"]), rows);
    assert_close(&r["approval_rate"], approved as f64 / rows as f64);
    let reasons = r["reasons"].as_array().unwrap();
    let waterfall = r["waterfall"].as_array().unwrap();
    assert_eq!(reasons.len(), waterfall.len());
    assert_eq!(u(&waterfall.last().unwrap()["remaining"]), approved);
    let primary: u64 = reasons.iter().map(|x| u(&x["primary"])).sum();
    assert_eq!(primary, rows - approved);
    let mut remaining = rows;
    for (reason, step) in reasons.iter().zip(waterfall) {
        assert_eq!(reason["rule"], step["rule"]);
        assert_eq!(u(&step["removed"]), u(&reason["primary"]));
        remaining -= u(&step["removed"]);
        assert_eq!(u(&step["remaining"]), remaining);
        assert!(u(&reason["sole"]) <= u(&reason["primary"]));
        assert!(u(&reason["primary"]) <= u(&reason["failed"]));
    }
    for (field, segments) in r["segments"].as_object().unwrap() {
        let segments = segments.as_array().unwrap();
        let sum = |k: &str| segments.iter().map(|s| u(&s[k])).sum::<u64>();
        assert_eq!(sum("rows"), rows, "segment rows of {field}");
        assert_eq!(sum("approved"), approved, "segment approvals of {field}");
        assert_eq!(sum("approved") + sum("review") + sum("declined"), rows);
    }
    let limited: u64 = r["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| u(&l["approved"]))
        .sum();
    assert_eq!(limited, approved, "jd_plus has a default limit band");
    assert!(u(&r["observed"]["bads"]) <= u(&r["observed"]["population_bads"]));

    // The manifest names exactly what produced the report.
    let m = &r["manifest"];
    assert_eq!(m["polsim"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        m["policy_sha256"],
        sha256_hex(&std::fs::read(repo_file("policies/jd_plus.yaml")).unwrap())
    );
    assert_eq!(
        m["data_sha256"],
        sha256_hex(&std::fs::read(repo_file("datasets/sample.csv")).unwrap())
    );
    assert_eq!(
        m["params"],
        serde_json::json!({"min_score": 600, "min_age": 18})
    );

    // The golden file pins every number. The policy's hash and polsim's
    // version are checked above, and left out so that a comment edit or a
    // version bump does not count as a change of results.
    let policy_sha = m["policy_sha256"].as_str().unwrap();
    let golden = text
        .replace(policy_sha, "[sha256 of policies/jd_plus.yaml]")
        .replace(
            &format!("\"polsim\": \"{}\"", env!("CARGO_PKG_VERSION")),
            "\"polsim\": \"[version]\"",
        );
    insta::assert_snapshot!("simulate_jd_plus_sample_json", golden);
}

// ---------------------------------------------------------------------------
// 9. gen
// ---------------------------------------------------------------------------

#[test]
fn gen_is_deterministic_per_seed() {
    let wd = Workdir::new();
    let a = wd.stdout(&["gen", "--rows", "2000", "--seed", "5"]);
    let b = wd.stdout(&["gen", "--rows", "2000", "--seed", "5"]);
    assert!(a == b, "same seed, different bytes");
    let c = wd.stdout(&["gen", "--rows", "2000", "--seed", "6"]);
    assert!(a != c, "a different seed gives a different population");
    wd.stdout(&["gen", "--rows", "2000", "--seed", "5", "-o", "pop.csv"]);
    assert!(wd.read("pop.csv") == a, "-o writes what stdout shows");
    // datasets/README.md: a smaller file is a prefix of a larger one.
    let small = wd.stdout(&["gen", "--rows", "300", "--seed", "5"]);
    assert!(a.starts_with(&small));
}

#[test]
fn gen_reproduces_the_bundled_sample() {
    let out = in_repo(&["gen", "--rows", "20000", "--seed", "42"]);
    let generated = out.stdout.clone();
    succeeded(out, &["gen"]);
    let sample = std::fs::read(repo_file("datasets/sample.csv")).unwrap();
    assert!(
        generated == sample,
        "`polsim gen --rows 20000 --seed 42` no longer reproduces datasets/sample.csv"
    );
}

#[test]
fn gen_header_and_values_follow_the_spec() {
    let wd = Workdir::new();
    assert_eq!(
        wd.stdout(&["gen", "--rows", "0", "--seed", "1"]),
        format!("{}\n", GEN_COLUMNS.join(","))
    );
    let text = wd.stdout(&["gen", "--rows", "3000", "--seed", "3"]);
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), GEN_COLUMNS.join(","));
    let mut rows = 0;
    for line in lines {
        rows += 1;
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), GEN_COLUMNS.len(), "{line}");
        assert_eq!(f[0], format!("u{rows:08}"));
        if !f[1].is_empty() {
            let s: i64 = f[1].parse().unwrap();
            assert!((350..=950).contains(&s), "{line}");
        }
        for b in [f[2], f[3], f[14]] {
            assert!(b == "true" || b == "false", "{line}");
        }
        assert!(["1", "2", "3", "4"].contains(&f[8]), "{line}");
        assert!(
            ["ecommerce", "rental", "travel", "education"].contains(&f[11]),
            "{line}"
        );
        assert!(
            ["returned", "early", "on_time", "late", "default"].contains(&f[12]),
            "{line}"
        );
        assert_eq!(f[14] == "true", f[12] == "default", "{line}");
    }
    assert_eq!(rows, 3000);
    assert!(text.ends_with('\n') && !text.contains('\r'));
}

// ---------------------------------------------------------------------------
// 10. The bundled policies
// ---------------------------------------------------------------------------

#[test]
fn check_passes_every_bundled_policy_against_the_sample() {
    let mut policies: Vec<String> = std::fs::read_dir(repo_file("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !p.to_string_lossy().ends_with(".test.yaml"))
        .map(|p| format!("policies/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    policies.sort();
    assert!(policies.len() >= 3, "{policies:?}");
    for policy in &policies {
        let args = ["check", policy.as_str(), "--data", "datasets/sample.csv"];
        let out = succeeded(in_repo(&args), &args);
        assert_contains(&out, &[&format!("ok: {policy}"), "fits: 20000 rows"]);
    }
    let mut args = vec!["check"];
    args.extend(policies.iter().map(String::as_str));
    let out = succeeded(in_repo(&args), &args);
    assert_eq!(out.matches("ok: policies/").count(), policies.len());
}

// ---------------------------------------------------------------------------
// 11. Other report formats
// ---------------------------------------------------------------------------

const REPORT_ARGS: [&str; 6] = [
    "simulate",
    "policies/merchant_review.yaml",
    "--data",
    "datasets/sample.csv",
    "--by",
    "scenario",
];

fn report(format: &str) -> String {
    let mut args = REPORT_ARGS.to_vec();
    args.extend(["--format", format]);
    succeeded(in_repo(&args), &args)
}

#[test]
fn json_is_the_default_when_stdout_is_not_a_terminal() {
    let text = succeeded(in_repo(&REPORT_ARGS), &REPORT_ARGS);
    assert_eq!(text, report("json"));
}

#[test]
fn csv_report_parses_and_matches_the_json() {
    let json: Value = serde_json::from_str(&report("json")).unwrap();
    let text = report("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["section", "item", "metric", "value"]
    );
    let mut cells: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        assert_eq!(record.len(), 4);
        cells.insert(
            (
                record[0].to_owned(),
                record[1].to_owned(),
                record[2].to_owned(),
            ),
            record[3].to_owned(),
        );
    }
    let get = |section: &str, item: &str, metric: &str| {
        cells
            .get(&(section.to_owned(), item.to_owned(), metric.to_owned()))
            .unwrap_or_else(|| panic!("no {section},{item},{metric} row in:\n{text}"))
            .clone()
    };
    assert!(text.contains(&format!(
        "\nsummary,merchant-review,approved,{}\n",
        json["approved"]
    )));
    for metric in ["rows", "approved", "review", "declined", "skipped_rows"] {
        assert_eq!(
            get("summary", "merchant-review", metric),
            json[metric].to_string()
        );
    }
    assert_eq!(
        get("summary", "merchant-review", "approved_exposure"),
        json["approved_exposure"].as_str().unwrap()
    );
    for reason in json["reasons"].as_array().unwrap() {
        let rule = reason["rule"].as_str().unwrap();
        assert_eq!(get("reason", rule, "failed"), reason["failed"].to_string());
        assert_eq!(
            get("waterfall", rule, "remaining"),
            json["waterfall"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["rule"] == rule)
                .unwrap()["remaining"]
                .to_string()
        );
    }
    for s in json["segments"]["scenario"].as_array().unwrap() {
        let value = s["value"].as_str().unwrap();
        assert_eq!(
            get("segment:scenario", value, "rows"),
            s["rows"].to_string()
        );
        assert_eq!(
            get("segment:scenario", value, "approved"),
            s["approved"].to_string()
        );
    }
    assert_eq!(
        get("repayment", "", "expected_loss"),
        json["repayment"]["expected_loss"].as_str().unwrap()
    );
    assert_eq!(
        get("manifest", "", "data_sha256"),
        json["manifest"]["data_sha256"].as_str().unwrap()
    );
}

#[test]
fn markdown_report_has_headings_and_tables() {
    let json: Value = serde_json::from_str(&report("json")).unwrap();
    let md = report("markdown");
    assert!(
        md.starts_with("# merchant-review v1 — 20,000 rows\n"),
        "{md}"
    );
    for heading in [
        "## Outcomes",
        "## Reasons",
        "## Waterfall",
        "## Limits",
        "## Segments by scenario",
        "## Repayment",
        "## Backtest",
    ] {
        assert!(
            md.lines().any(|l| l.starts_with(heading)),
            "no {heading:?} in:\n{md}"
        );
    }
    // Every table has a header separator row, and all rows of a table have
    // the same number of cells.
    let table_lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert!(table_lines.len() > 20);
    assert!(
        md.lines()
            .filter(|l| l.starts_with("|--") || l.starts_with("|:-"))
            .count()
            >= 7,
        "{md}"
    );
    for l in &table_lines {
        assert!(l.ends_with('|'), "{l}");
    }
    let approved = u(&json["approved"]);
    let grouped = approved
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        table_lines
            .iter()
            .any(|l| l.starts_with("| approve ") && l.contains(&format!(" {grouped} |"))),
        "approved count {grouped} not in the outcomes table:\n{md}"
    );
}

#[test]
fn markdown_text_after_a_table_is_a_separate_paragraph() {
    let md = report("markdown");
    let lines: Vec<&str> = md.lines().collect();
    for w in lines.windows(2) {
        if w[0].starts_with('|') {
            assert!(
                w[1].starts_with('|') || w[1].is_empty(),
                "text glued to a table: {:?}",
                w[1]
            );
        }
    }
}

#[test]
fn table_report_shows_the_headline_numbers() {
    let json: Value = serde_json::from_str(&report("json")).unwrap();
    let table = report("table");
    assert!(
        table.starts_with("merchant-review v1 — 20,000 rows\n"),
        "{table}"
    );
    for heading in [
        "Outcomes",
        "Reasons",
        "Waterfall",
        "Limits",
        "Segments by scenario",
        "Repayment",
        "Backtest",
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(heading)),
            "no {heading:?} in:\n{table}"
        );
    }
    // The table groups money's digits, as it does counts'.
    let exposure = json["approved_exposure"].as_str().unwrap();
    let (whole, cents) = exposure.split_once('.').unwrap();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    assert_contains(&table, &[&format!("approved exposure: {grouped}.{cents}")]);
    for reason in json["reasons"].as_array().unwrap() {
        assert_contains(&table, &[reason["reason"].as_str().unwrap()]);
    }
    assert!(!table.contains('{'), "not JSON");
}

// ---------------------------------------------------------------------------
// Regressions: bugs found by this suite and fixed
// ---------------------------------------------------------------------------

#[test]
fn crlf_rows_have_the_right_line_numbers() {
    let policy = "policy: nokey\nfields: { s: int }\nrules:\n  - { id: r, reason: R, when: { s: { gte: 600 } } }\n";
    assert_eq!(
        decide(policy, "s\r\n599\r\n600\r\n601\r\n"),
        "row,outcome,reasons,limit\n2,decline,R,\n3,approve,,\n4,approve,,\n"
    );
    let wd = Workdir::new();
    wd.write("p.yaml", policy)
        .write("d.csv", "s\r\n599\r\n600\r\n6x0\r\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(&err, &["--> d.csv:4:1"]);
}

#[test]
fn rows_after_blank_lines_have_the_right_line_numbers() {
    let policy = "policy: nokey\nfields: { s: int }\nrules:\n  - { id: r, reason: R, when: { s: { gte: 600 } } }\n";
    assert_eq!(
        decide(policy, "s\n599\n\n600\n"),
        "row,outcome,reasons,limit\n2,decline,R,\n4,approve,,\n"
    );
}

#[test]
fn cr_only_line_endings_are_not_silently_dropped() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\ra,599\rb,600\r");
    let out = wd.output(&["simulate", "p.yaml", "--data", "d.csv", "--format", "json"]);
    if out.status.success() {
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["rows"], 2, "two rows read as {}", r["rows"]);
    }
}

#[test]
fn bad_value_column_counts_quotes() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\n\"a,1\",6x0\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(&err, &["--> d.csv:2:7"]);
}

#[test]
fn a_quote_inside_an_unquoted_field_parses_the_same_anywhere_in_the_file() {
    let policy = "policy: pq\nkey: id\nfields: { id: string, note: string, s: int }\nrules:\n  - { id: r, reason: R, when: { s: { gte: 600 } } }\n";
    let header = "id,note,s\n";
    let filler = "a,n,700\n";
    // `x"y` is an unquoted field with a literal quote (the csv crate accepts
    // it); the next field is quoted and spans two lines.
    let tricky = format!("x\"y,\"p\n{}\",700\n", "q".repeat(20_000));
    let wd = Workdir::new();
    wd.write("p.yaml", policy);
    wd.write("small.csv", format!("{header}{filler}{tricky}{filler}"));
    let small = wd.stdout(&["decide", "p.yaml", "--data", "small.csv"]);
    assert_eq!(small.lines().count(), 4);
    let n = (1_045_000 - header.len()) / filler.len();
    wd.write(
        "big.csv",
        format!("{header}{}{tricky}{filler}", filler.repeat(n)),
    );
    let big = wd.stdout(&["decide", "p.yaml", "--data", "big.csv"]);
    assert_eq!(big.lines().count(), n + 3);
}

#[test]
fn the_same_field_can_be_segmented_by_value_and_by_bins() {
    let args = [
        "simulate",
        "policies/jd_plus.yaml",
        "--data",
        "datasets/sample.csv",
        "--by",
        "city_tier",
        "--by",
        "city_tier:2",
        "--format",
        "json",
    ];
    let r: Value = serde_json::from_str(&succeeded(in_repo(&args), &args)).unwrap();
    let segments = r["segments"].as_object().unwrap();
    let rows: usize = segments.values().map(|v| v.as_array().unwrap().len()).sum();
    assert!(
        segments.len() == 2 || rows == 4 + 2,
        "asked for 2 segmentations (4 tiers, 2 bins): {}",
        r["segments"]
    );
}

#[test]
fn a_review_rule_before_a_decline_rule_neither_shadows_it_nor_becomes_its_primary_reason() {
    // `new` (review) fails wherever `verified` (decline) fails, and comes first.
    let policy = r#"
policy: order
key: id
fields: { id: string, age: int, ok: bool }
rules:
  - { id: new, reason: NEW, action: review, when: { age: { gte: 3 } } }
  - { id: verified, reason: UNVERIFIED, when: { ok: true } }
"#;
    let wd = Workdir::new();
    wd.write("p.yaml", policy)
        .write("d.csv", "id,age,ok\na,1,false\nb,1,true\nc,5,true\n");
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\na,decline,UNVERIFIED;NEW,\nb,review,NEW,\nc,approve,,\n"
    );
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv"]);
    // `verified` decides row a: it is its primary reason and it is not flagged.
    assert_eq!(r["reasons"][1]["primary"], 1);
    assert_eq!(r["reasons"][1]["flag"], Value::Null);
    assert_eq!(r["reasons"][0]["primary"], 1);
    // The waterfall still applies rules in order: `new` removes a and b.
    assert_eq!(r["waterfall"][0]["removed"], 2);
    assert_eq!(r["waterfall"][1]["removed"], 0);
    assert_eq!(r["waterfall"][1]["remaining"], 1);
}

// ---------------------------------------------------------------------------
// Regressions from a new-user trial
// ---------------------------------------------------------------------------

#[test]
fn an_unclosed_quote_is_an_error_even_when_skipping_bad_rows() {
    let wd = Workdir::new();
    let mut data = String::from("id,score\n");
    for i in 0..100 {
        data.push_str(&format!("u{i},700\n"));
    }
    data.push_str("\"u100,700\n");
    for i in 101..200 {
        data.push_str(&format!("u{i},700\n"));
    }
    wd.write("p.yaml", SCORE_POLICY).write("d.csv", &data);
    for skip in [false, true] {
        let mut args = vec!["simulate", "p.yaml", "--data", "d.csv"];
        if skip {
            args.push("--skip-bad-rows");
        }
        let err = wd.fails(&args, 2);
        assert_contains(
            &err,
            &[
                "a quote opened on this line is never closed",
                "--> d.csv:102:1",
            ],
        );
    }
}

#[test]
fn text_that_is_not_utf8_is_refused_not_silently_unmatched() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: zh\nkey: id\nfields: { id: string, scenario: string }\nrules:\n  - { id: r, reason: R, when: { scenario: 租赁 } }\n",
    );
    // "租赁" in GBK.
    let mut data = b"id,scenario\nu1,".to_vec();
    data.extend_from_slice(&[0xd7, 0xe2, 0xc1, 0xde]);
    data.push(b'\n');
    wd.write("d.csv", data);
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &["is not UTF-8 text", "--> d.csv:2:4", "iconv -f GB18030"],
    );
    wd.fails(&["check", "p.yaml", "--data", "d.csv"], 1);
}

#[test]
fn policy_files_with_a_bom_load_and_tabs_are_named() {
    let wd = Workdir::new();
    wd.write("bom.yaml", format!("\u{feff}{SCORE_POLICY}"));
    wd.stdout(&["check", "bom.yaml"]);
    wd.write("tab.yaml", "policy: t\nfields:\n\tscore: int\nrules: []\n");
    let err = wd.fails(&["check", "tab.yaml"], 1);
    assert_contains(
        &err,
        &["this line is indented with a tab", "--> tab.yaml:3:1"],
    );
    wd.write("d.csv", "id,score\nu1,700\n");
    let err = wd.fails(&["check", "d.csv"], 2);
    assert_contains(&err, &["looks like a dataset, not a policy"]);
}

#[test]
fn stdin_data_checks_one_policy_only() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("q.yaml", SCORE_POLICY);
    let err = wd.fails(&["check", "p.yaml", "q.yaml", "--data", "-"], 2);
    assert_contains(&err, &["`--data -` can be read only once"]);
}

#[test]
fn decide_writes_nothing_when_the_dataset_does_not_fit() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,points\nu1,3\n");
    let out = wd.output(&["decide", "p.yaml", "--data", "d.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn suspicious_policies_are_refused_or_warned_about() {
    let wd = Workdir::new();
    wd.write(
        "all.yaml",
        "policy: a\nfields: { s: int }\nrules:\n  - { id: r, reason: R, when: { all: [] } }\n",
    );
    assert_contains(
        &wd.fails(&["check", "all.yaml"], 1),
        &["`all: []` has no conditions, so it passes every row"],
    );
    wd.write("key.yaml", "policy: k\nkey: userid\nfields: { user_id: string, s: int }\nrules:\n  - { id: r, reason: R, when: { s: 1 } }\n");
    assert_contains(
        &wd.fails(&["check", "key.yaml"], 1),
        &[
            "`key` names `userid`, which is not a declared field",
            "did you mean `user_id`?",
        ],
    );
    wd.write(
        "warn.yaml",
        "policy: w\nfields: { age: string, s: int }\nrules:\n  - { id: r, reason: R, when: { age: { gte: 3 } } }\nrepayment:\n  exposure: limit\n  outcomes:\n    - { when: { s: 1 }, p: { default: 0.1 } }\n",
    );
    let out = wd.stdout(&["check", "warn.yaml"]);
    assert_contains(
        &out,
        &[
            "warn.yaml:4:45: field `age` is a string, so `gte: 3` compares text",
            "`repayment.outcomes` has no default band",
        ],
    );
}

#[test]
fn a_semicolon_separated_file_gets_a_hint() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id;score\nu1;700\n");
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(&err, &["the header looks `;`-separated"]);
}

#[test]
fn blank_rows_are_malformed_rows() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,700\n,\n");
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &["row is empty: every field is blank", "--> d.csv:3:1"],
    );
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv", "--skip-bad-rows"]);
    assert_eq!((u(&r["rows"]), u(&r["skipped_rows"])), (1, 1));
}

#[test]
fn set_overrides_are_visible_in_every_format() {
    let args = [
        "simulate",
        "policies/jd_plus.yaml",
        "--data",
        "datasets/sample.csv",
        "--set",
        "min_score=700",
    ];
    let with = |format: &str| {
        let mut a = args.to_vec();
        a.extend(["--format", format]);
        succeeded(in_repo(&a), &a)
    };
    let r: Value = serde_json::from_str(&with("json")).unwrap();
    assert_eq!(r["manifest"]["set"], serde_json::json!(["min_score"]));
    assert_eq!(r["manifest"]["params"]["min_score"], 700);
    assert_contains(&with("table"), &["min_score=700 (--set)"]);
    assert_contains(&with("markdown"), &["min_score=700 (--set)"]);
    assert_contains(
        &with("csv"),
        &[
            "manifest,min_score,param (--set),700",
            "repayment,,unmodelled,0",
        ],
    );
}

#[test]
fn the_data_hash_is_reused_for_an_unchanged_file_and_recomputed_for_a_changed_one() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,700\n");
    let cache = wd.path("cache");
    let run = || {
        let out = wd
            .command(&["simulate", "p.yaml", "--data", "d.csv", "--format", "json"])
            .env("POLSIM_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        r["manifest"]["data_sha256"].as_str().unwrap().to_owned()
    };
    let first = run();
    assert_eq!(first, sha256_hex(b"id,score\nu1,700\n"));
    let cached = std::fs::read_to_string(cache.join("data-sha256.v2.tsv")).unwrap();
    assert!(cached.contains(&first), "{cached}");
    assert_eq!(run(), first);
    // Same size, new contents: the file's change time moves, so the hash is recomputed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    wd.write("d.csv", "id,score\nu1,800\n");
    assert_eq!(run(), sha256_hex(b"id,score\nu1,800\n"));
}

#[test]
fn decide_quotes_keys_that_need_it() {
    assert_eq!(
        decide(
            SCORE_POLICY,
            "id,score\n\"a,1\",700\n\"say \"\"hi\"\"\",500\nplain,650\n"
        ),
        "id,outcome,reasons,limit\n\"a,1\",approve,,\n\"say \"\"hi\"\"\",decline,SCORE_TOO_LOW,\nplain,approve,,\n"
    );
}

#[test]
fn decide_and_check_do_not_hash_the_data() {
    // Only simulate reports data_sha256; the others must not pay for it.
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,700\n");
    let cache = wd.path("cache");
    for args in [
        &["decide", "p.yaml", "--data", "d.csv"][..],
        &["check", "p.yaml", "--data", "d.csv"],
    ] {
        let out = wd
            .command(args)
            .env("POLSIM_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
    }
    assert!(!cache.join("data-sha256.v2.tsv").exists());
}

// ---------------------------------------------------------------------------
// Rhai: expr rules, derive, scripts, sandbox
// ---------------------------------------------------------------------------

/// `polsim decide POLICY --data datasets/sample.csv --format csv`, from the repository root.
fn rhai_decide_sample(policy: &str) -> String {
    let args = [
        "decide",
        policy,
        "--data",
        "datasets/sample.csv",
        "--format",
        "csv",
    ];
    succeeded(in_repo(&args), &args)
}

/// `polsim simulate POLICY --data datasets/sample.csv --format json`, from the repository root.
fn rhai_simulate_sample(policy: &str) -> Value {
    let args = [
        "simulate",
        policy,
        "--data",
        "datasets/sample.csv",
        "--format",
        "json",
    ];
    let text = succeeded(in_repo(&args), &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn rhai_jd_plus_as_yaml_expr_and_script_decide_byte_identically_on_the_sample() {
    let yaml = rhai_decide_sample("policies/jd_plus.yaml");
    assert_eq!(
        yaml.lines().count(),
        20_001,
        "a header and one line per row"
    );
    assert!(
        yaml.starts_with("user_id,outcome,reasons,limit\n"),
        "{yaml:.200}"
    );
    let expr = rhai_decide_sample("policies/jd_plus_expr.yaml");
    assert!(
        yaml == expr,
        "jd_plus_expr.yaml decides differently from jd_plus.yaml"
    );
    let script = rhai_decide_sample("tests/fixtures/jd_plus_script.yaml");
    assert!(
        yaml == script,
        "jd_plus_script.yaml decides differently from jd_plus.yaml"
    );
}

#[test]
fn rhai_jd_plus_expr_simulates_like_jd_plus() {
    let yaml = rhai_simulate_sample("policies/jd_plus.yaml");
    let expr = rhai_simulate_sample("policies/jd_plus_expr.yaml");
    assert_eq!(u(&yaml["approved"]) + u(&yaml["declined"]), 20_000);
    assert_eq!(expr["approved"], yaml["approved"]);
    assert_eq!(expr["declined"], yaml["declined"]);
    let reasons = |report: &Value| -> Vec<Value> {
        report["reasons"]
            .as_array()
            .expect("a reasons list")
            .iter()
            .map(|r| {
                serde_json::json!([r["rule"], r["reason"], r["failed"], r["primary"], r["sole"]])
            })
            .collect()
    };
    assert_eq!(reasons(&yaml).len(), 5, "one entry per rule");
    assert_eq!(reasons(&expr), reasons(&yaml));
    assert_eq!(expr["limits"], yaml["limits"]);
    assert_eq!(expr["repayment"], yaml["repayment"]);
}

#[test]
fn rhai_expr_rules_read_dollar_and_params_parameters_and_fail_on_a_missing_value() {
    let policy = r#"
policy: p
key: id
params: { min_score: 600 }
fields: { id: string, zhima_score: int }
rules:
  - { id: dollar, reason: SCORE_TOO_LOW, expr: "zhima_score >= $min_score" }
  - { id: params, reason: BELOW_PARAM, expr: "zhima_score >= params.min_score" }
"#;
    assert_eq!(
        decide(policy, "id,zhima_score\nu1,600\nu2,599\nu3,\n"),
        "id,outcome,reasons,limit\n\
         u1,approve,,\n\
         u2,decline,SCORE_TOO_LOW;BELOW_PARAM,\n\
         u3,decline,SCORE_TOO_LOW;BELOW_PARAM,\n"
    );
    // `--set` reaches both spellings.
    let wd = Workdir::new();
    wd.write("p.yaml", policy)
        .write("d.csv", "id,zhima_score\nu1,600\nu2,650\n");
    assert_eq!(
        wd.stdout(&[
            "decide",
            "p.yaml",
            "--data",
            "d.csv",
            "--set",
            "min_score=650"
        ]),
        "id,outcome,reasons,limit\nu1,decline,SCORE_TOO_LOW;BELOW_PARAM,\nu2,approve,,\n"
    );
}

#[test]
fn rhai_expr_or_with_a_missing_side_follows_sql_logic() {
    // unknown OR true = true; unknown OR false = unknown, which fails.
    let policy = r#"
policy: p
key: id
fields: { id: string, a: int, b: int }
rules:
  - { id: either, reason: NEITHER, expr: "a < 1 || b >= 5" }
"#;
    assert_eq!(
        decide(policy, "id,a,b\nu1,,7\nu2,,4\nu3,0,\nu4,3,\nu5,3,5\nu6,,\n"),
        "id,outcome,reasons,limit\n\
         u1,approve,,\n\
         u2,decline,NEITHER,\n\
         u3,approve,,\n\
         u4,decline,NEITHER,\n\
         u5,approve,,\n\
         u6,decline,NEITHER,\n"
    );
}

const RHAI_DERIVE_POLICY: &str = r#"
policy: derive
key: id
fields: { id: string, order_amount: decimal, monthly_income: decimal }
derive:
  payment_to_income: "order_amount / monthly_income"
rules:
  - { id: afford, reason: LOW_AFFORDABILITY, when: { payment_to_income: { lt: 0.3 } } }
  - { id: afford_expr, reason: LOW_AFFORDABILITY_EXPR, expr: "payment_to_income < 0.3" }
limit:
  - amount: "min(5000, monthly_income * 0.5)"
"#;

/// u3 has no income (division by zero), u4 an empty income.
const RHAI_DERIVE_DATA: &str = "id,order_amount,monthly_income\n\
u1,100,1234.50\n\
u2,1000,1000\n\
u3,100,0\n\
u4,100,\n\
u5,100,20000\n\
u6,299.99,1000\n";

#[test]
fn rhai_derived_field_in_when_expr_and_limit_amount_with_exact_decimals() {
    assert_eq!(
        decide(RHAI_DERIVE_POLICY, RHAI_DERIVE_DATA),
        "id,outcome,reasons,limit\n\
         u1,approve,,617.25\n\
         u2,decline,LOW_AFFORDABILITY;LOW_AFFORDABILITY_EXPR,\n\
         u3,decline,LOW_AFFORDABILITY;LOW_AFFORDABILITY_EXPR,\n\
         u4,decline,LOW_AFFORDABILITY;LOW_AFFORDABILITY_EXPR,\n\
         u5,approve,,5000.00\n\
         u6,approve,,500.00\n"
    );
}

#[test]
fn rhai_derived_field_segments_simulate_by_and_division_by_zero_is_missing() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_DERIVE_POLICY)
        .write("d.csv", RHAI_DERIVE_DATA);
    let report = wd.json(&[
        "simulate",
        "p.yaml",
        "--data",
        "d.csv",
        "--by",
        "payment_to_income:0.1,0.3",
    ]);
    assert_eq!(u(&report["approved"]), 3);
    assert_eq!(u(&report["declined"]), 3);
    let segments: Vec<(String, u64, u64, u64)> = report["segments"]["payment_to_income"]
        .as_array()
        .unwrap_or_else(|| panic!("no payment_to_income segments: {report}"))
        .iter()
        .map(|s| {
            (
                s["value"].as_str().expect("a segment label").to_owned(),
                u(&s["rows"]),
                u(&s["approved"]),
                u(&s["declined"]),
            )
        })
        .collect();
    // 0.081 (u1), 0.005 (u5); 0.29999 (u6); 1.0 (u2); 100/0 (u3) and 100/empty (u4).
    assert_eq!(
        segments,
        [
            ("< 0.1".to_owned(), 2, 2, 0),
            ("[0.1, 0.3)".to_owned(), 1, 1, 0),
            (">= 0.3".to_owned(), 1, 0, 1),
            ("(missing)".to_owned(), 2, 0, 2),
        ]
    );
}

#[test]
fn rhai_derived_field_that_runs_in_rhai_must_declare_its_type() {
    let policy = |derive: &str| {
        format!(
            "policy: p\nkey: id\nfields: {{ id: string, monthly_income: decimal }}\nderive:\n  {derive}\nrules:\n  - {{ id: cap, reason: CAP_TOO_LOW, when: {{ capped: {{ gte: 600 }} }} }}\n"
        )
    };
    let wd = Workdir::new();
    wd.write(
        "d.csv",
        "id,monthly_income\nu1,1234.50\nu2,1199.98\nu3,\nu4,20000\n",
    );
    wd.write(
        "p.yaml",
        policy(r#"capped: "min(5000, monthly_income * 0.5)""#),
    );
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "error: derived field `capped` runs in Rhai, so polsim cannot tell its type",
            "--> p.yaml:5:3",
            r#"help: write its type (string, int, float, decimal or bool): `capped: { expr: "...", type: decimal }`"#,
        ],
    );
    assert_eq!(wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2), err);
    assert_contains(
        &wd.fails(&["check", "p.yaml"], 1),
        &["cannot tell its type"],
    );
    // With its type written, the same derive runs: 617.25, 599.99, missing, 5000.
    wd.write(
        "p.yaml",
        policy(r#"capped: { expr: "min(5000, monthly_income * 0.5)", type: decimal }"#),
    );
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\nu1,approve,,\nu2,decline,CAP_TOO_LOW,\nu3,decline,CAP_TOO_LOW,\nu4,approve,,\n"
    );
    // An `if` expression, typed int, read from an `expr` rule.
    wd.write(
        "p.yaml",
        "policy: p\nkey: id\nfields: { id: string, monthly_income: decimal }\nderive:\n  band: { expr: \"if monthly_income >= 5000 { 2 } else { 1 }\", type: int }\nrules:\n  - { id: band, reason: LOW_BAND, expr: \"band >= 2\" }\n",
    );
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\nu1,decline,LOW_BAND,\nu2,decline,LOW_BAND,\nu3,decline,LOW_BAND,\nu4,approve,,\n"
    );
}

/// `tests/fixtures/rhai/scripted.yaml`, run from the repository root on its CSV.
fn rhai_scripted(cmd: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        cmd,
        "tests/fixtures/rhai/scripted.yaml",
        "--data",
        "tests/fixtures/rhai/scripted.csv",
    ];
    args.extend(extra);
    in_repo(&args)
}

#[test]
fn rhai_script_policy_approves_declines_reviews_and_declines_missing_values() {
    // The script path is relative to the YAML, not to the working directory.
    // Reasons are listed in the order the script first writes them, whatever
    // the order of the returned array (u4, u8).
    assert_eq!(
        succeeded(rhai_scripted("decide", &["--format", "csv"]), &["decide"]),
        "user_id,outcome,reasons,limit\n\
         u1,approve,,617.25\n\
         u2,decline,SCORE_TOO_LOW;ASK_AGAIN_LATER,\n\
         u3,review,NO_INCOME,\n\
         u4,decline,ASK_AGAIN_LATER;NOT_VIP,\n\
         u5,decline,MISSING_VALUE,\n\
         u6,review,LOW_AFFORDABILITY,\n\
         u7,review,LOW_AFFORDABILITY,\n\
         u8,decline,ASK_AGAIN_LATER;NOT_VIP,\n"
    );
    // `params.min_score` follows --set.
    assert_eq!(
        succeeded(
            rhai_scripted("decide", &["--format", "csv", "--set", "min_score=701"]),
            &["decide"]
        )
        .lines()
        .nth(1),
        Some("u1,decline,SCORE_TOO_LOW;ASK_AGAIN_LATER,")
    );
    let report: Value = serde_json::from_str(&succeeded(
        rhai_scripted("simulate", &["--format", "json"]),
        &["simulate"],
    ))
    .unwrap();
    assert_eq!(
        (
            u(&report["approved"]),
            u(&report["declined"]),
            u(&report["review"])
        ),
        (1, 4, 3)
    );
    let reasons: Vec<(&str, &str, u64)> = report["reasons"]
        .as_array()
        .expect("a reasons list")
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                u(&r["failed"]),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("NO_INCOME", "review", 1),
            ("SCORE_TOO_LOW", "decline", 1),
            ("ASK_AGAIN_LATER", "decline", 3),
            ("NOT_VIP", "decline", 2),
            ("LOW_AFFORDABILITY", "review", 2),
            ("MISSING_VALUE", "decline", 1),
        ]
    );
    assert_eq!(report["limits"][0]["total_limit"], "617.25");
}

const RHAI_SCRIPT_YAML: &str = "policy: s
key: user_id
params: { min_score: 600 }
fields: { user_id: string, score: int }
script: s.rhai
";

/// Writes `script` as `s.rhai` beside a script policy, runs `decide` and
/// `simulate` on `data` (exit 2, the same message), returns the message.
fn rhai_script_error(script: &str, data: &str) -> String {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML)
        .write("s.rhai", script)
        .write("d.csv", data);
    let decide = wd.fails(
        &["decide", "p.yaml", "--data", "d.csv", "--threads", "1"],
        2,
    );
    let simulate = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_eq!(decide, simulate);
    decide
}

#[test]
fn rhai_script_reason_not_written_in_the_script_is_an_error() {
    let err = rhai_script_error(
        "fn decide(user) {\n    if user.score > 900 { return decline(\"SCORE_TOO_HIGH\"); }\n    let r = \"SCORE\" + \"_LOW\";\n    decline(r)\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: `decide` returned reason `SCORE_LOW`, which is not written in the script as an UPPER_SNAKE_CASE string on d.csv line 2 (user_id `u1`)",
            "--> s.rhai:",
            "UPPER_SNAKE_CASE string literal",
        ],
    );
}

#[test]
fn rhai_sandbox_stops_an_endless_loop_and_names_script_place_and_row() {
    let err = rhai_script_error(
        "fn decide(user) {\n    if user.score > 900 { return decline(\"NEVER\"); }\n    loop { }\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: script `s.rhai` ran more than 1000000 operations on d.csv line 2 (user_id `u1`)",
            "--> s.rhai:3:5",
            "3 |     loop { }",
        ],
    );
}

#[test]
fn rhai_sandbox_stops_endless_recursion() {
    let err = rhai_script_error(
        "fn f(n) { f(n + 1) }\nfn decide(user) { if user.score > 900 { decline(\"NEVER\") } else { f(0) } }\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: script `s.rhai` called functions more than 32 deep on d.csv line 2 (user_id `u1`)",
            "--> s.rhai:1:",
        ],
    );
}

#[test]
fn rhai_sandbox_stops_a_string_that_doubles_forever() {
    let err = rhai_script_error(
        "fn decide(user) {\n    if user.score > 900 { return decline(\"NEVER\"); }\n    let s = \"x\";\n    loop { s += s; }\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: script `s.rhai` built a value too large on d.csv line 2 (user_id `u1`)",
            "strings are limited to 10000 bytes",
        ],
    );
}

#[test]
fn rhai_sandbox_refuses_eval() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML)
        .write(
            "s.rhai",
            "fn decide(user) {\n    eval(\"1\");\n    decline(\"NEVER\")\n}\n",
        )
        .write("d.csv", "user_id,score\nu1,700\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(&err, &["'eval' is disabled", "--> s.rhai:2:5"]);
    assert_contains(&wd.fails(&["check", "p.yaml"], 1), &["'eval' is disabled"]);
}

#[test]
fn rhai_expr_runtime_error_names_the_row_but_a_missing_value_only_fails_the_rule() {
    let policy = r#"policy: p
key: user_id
fields: { user_id: string, score: int }
rules:
  - { id: lookup, reason: LOOKUP, expr: "[1, 2][score] == 1" }
"#;
    // Row u0 has no score: the rule fails, no error. Row u1 indexes out of bounds.
    let wd = Workdir::new();
    wd.write("p.yaml", policy)
        .write("d.csv", "user_id,score\nu0,\nu1,700\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "error: rule `lookup` failed on d.csv line 3 (user_id `u1`): Array index 700 out of bounds",
            "--> p.yaml:5:",
            "help: fix the expression or script; run `polsim check` with `--data` to try every row",
        ],
    );
    // ...and `check --data` runs the policy on every row, so it finds it too.
    assert_contains(
        &wd.fails(&["check", "p.yaml", "--data", "d.csv"], 1),
        &["rule `lookup` failed on d.csv line 3 (user_id `u1`)"],
    );
    assert_eq!(
        decide(policy, "user_id,score\nu0,\nu1,1\nu2,0\n"),
        "user_id,outcome,reasons,limit\nu0,decline,LOOKUP,\nu1,decline,LOOKUP,\nu2,approve,,\n"
    );
}

#[test]
fn rhai_script_syntax_error_is_located_with_a_caret() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML).write(
        "s.rhai",
        "fn decide(user) {\n    if user.score > 600 {\n        approve(1)\n    } else {\n        decline(\"LOW\"\n    }\n}\n",
    );
    let err = wd.fails(&["check", "p.yaml"], 1);
    assert_contains(
        &err,
        &[
            "error: the script is not valid Rhai: ",
            "--> s.rhai:6:5\n  |\n6 |     }\n  |     ^\n",
        ],
    );
}

#[test]
fn rhai_expr_syntax_error_points_into_the_expression_in_the_yaml() {
    let err = policy_error(&format!(
        "{POLICY_HEAD}  - id: min_score\n    reason: SCORE_TOO_LOW\n    expr: \"zhima_score >= (600\"\n"
    ));
    assert_contains(
        &err,
        &[
            "error: rule `min_score` is not a valid Rhai expression",
            "--> p.yaml:10:",
            "10 |     expr: \"zhima_score >= (600\"",
        ],
    );
    // The column is inside the quoted expression (which spans columns 12-31).
    let col: usize = err
        .split("--> p.yaml:10:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no column in:\n{err}"));
    assert!((12..=31).contains(&col), "column {col}:\n{err}");
}

#[test]
fn rhai_unknown_field_in_expr_is_located_with_a_suggestion() {
    let err = policy_error(&format!(
        "{POLICY_HEAD}  - id: min_score\n    reason: SCORE_TOO_LOW\n    expr: \"zhima_scor >= $min_score\"\n"
    ));
    assert_contains(
        &err,
        &[
            "error: unknown field `zhima_scor` in an expression in rule `min_score`",
            "--> p.yaml:10:12",
            "help: did you mean `zhima_score`?",
        ],
    );
}

#[test]
fn rhai_undefined_parameter_in_expr_is_located_with_a_suggestion() {
    for (expr, col) in [("$min_scroe", "27"), ("params.min_scroe", "34")] {
        let err = policy_error(&format!(
            "{POLICY_HEAD}  - id: min_score\n    reason: SCORE_TOO_LOW\n    expr: \"zhima_score >= {expr}\"\n"
        ));
        assert_contains(
            &err,
            &[
                "error: undefined parameter `min_scroe` in rule `min_score`",
                &format!("--> p.yaml:10:{col}"),
                "help: did you mean `min_score`?",
            ],
        );
    }
}

#[test]
fn rhai_type_error_in_expr_is_caught_when_the_policy_loads() {
    let head =
        "policy: p\nfields: { zhima_score: int, is_plus_member: bool, city: string }\nrules:\n";
    let err = policy_error(&format!(
        "{head}  - id: city\n    reason: WRONG_CITY\n    expr: \"city == 5\"\n"
    ));
    assert_contains(
        &err,
        &[
            "error: `==` compares UTF-8 text with an int in rule `city`",
            "--> p.yaml:6:17",
        ],
    );
}

#[test]
fn rhai_script_without_fn_decide_is_an_error() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML)
        .write("s.rhai", "fn decision(user) { decline(\"LOW\") }\n")
        .write("d.csv", "user_id,score\nu1,700\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "error: the script defines no `fn decide(user)`",
            "--> s.rhai:1:1",
        ],
    );
    assert_contains(
        &wd.fails(&["check", "p.yaml"], 1),
        &["defines no `fn decide(user)`"],
    );
}

#[test]
fn rhai_check_passes_the_bundled_rhai_policies() {
    for policy in [
        "policies/merchant_script.yaml",
        "policies/jd_plus_expr.yaml",
    ] {
        let out = succeeded(in_repo(&["check", policy]), &["check", policy]);
        assert!(out.starts_with(&format!("ok: {policy} — ")), "{out}");
    }
}

#[test]

fn rhai_undefined_parameter_in_a_script_is_an_error() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML)
        .write(
            "s.rhai",
            "fn decide(user) {\n    if user.score < params.min_scroe { return decline(\"SCORE_TOO_LOW\"); }\n    approve(100)\n}\n",
        )
        .write("d.csv", "user_id,score\nu1,500\nu2,\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "error: undefined parameter `min_scroe` in the script",
            "--> s.rhai:2:28",
            "help: did you mean `min_score`?",
        ],
    );
    // Caught when the policy loads: `check` needs no data for it.
    assert_contains(&wd.fails(&["check", "p.yaml"], 1), &["min_scroe"]);
    // A comment may name anything.
    wd.write(
        "s.rhai",
        "// params.not_a_param, user.not_a_field\nfn decide(user) { if user.score < params.min_score { decline(\"LOW\") } else { approve(1) } }\n",
    );
    succeeded(wd.output(&["check", "p.yaml"]), &["check"]);
}

#[test]
fn rhai_unknown_user_field_in_a_script_is_an_error() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML).write(
        "s.rhai",
        "fn decide(u) {\n    if u.scroe < 600 { return decline(\"LOW\"); }\n    approve(u.score.to_string().len())\n}\n",
    );
    assert_contains(
        &wd.fails(&["check", "p.yaml"], 1),
        &[
            "error: unknown field `scroe` in the script",
            "--> s.rhai:2:10",
            "help: did you mean `score`?",
        ],
    );
}

#[test]

fn rhai_check_with_data_finds_a_script_that_never_ends() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML)
        .write(
            "s.rhai",
            "fn decide(user) {\n    if user.score > 600 { return approve(1); }\n    loop { }\n    decline(\"NEVER\")\n}\n",
        )
        .write("d.csv", "user_id,score\nu1,700\nu2,500\n");
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "ran more than 1000000 operations on d.csv line 3 (user_id `u2`)",
            "--> s.rhai:3:5",
        ],
    );
    let err = wd.fails(&["check", "p.yaml", "--data", "d.csv"], 1);
    assert_contains(&err, &["ran more than 1000000 operations on d.csv line 3"]);
}

#[test]
fn rhai_script_mistakes_are_errors_not_quiet_declines() {
    // Assigning to a parameter: refused when the policy loads (Rhai itself
    // would panic on it).
    let err = rhai_script_error(
        "fn decide(user) {\n    params.min_score += 1;\n    approve(1)\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: the script assigns to parameter `min_score`",
            "--> s.rhai:2:12",
            "help: parameters are read-only",
        ],
    );
    let err = rhai_script_error(
        "fn decide(user) {\n    params[\"min_score\"] = 1;\n    approve(1)\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: the script assigns to the parameters",
            "--> s.rhai:2:5",
        ],
    );
    // A division by zero on a row with every value present is an error at its place.
    let err = rhai_script_error(
        "fn decide(user) {\n    let x = 10 / (user.score - 700);\n    approve(1)\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: script `s.rhai` failed on d.csv line 2 (user_id `u1`): Division by zero: 10 / 0",
            "--> s.rhai:2:16",
        ],
    );
    // A literal on the left is reported the other way round.
    let err = rhai_script_error(
        "fn decide(user) {\n    if \"600\" < user.score { approve(1) } else { decline(\"LOW\") }\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &["`user.score` is an int, so `> \"600\"` is never true"],
    );
    // A comparison between kinds that never matches.
    let err = rhai_script_error(
        "fn decide(user) {\n    if user.score >= \"600\" { approve(1) } else { decline(\"LOW\") }\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: `user.score` is an int, so `>= \"600\"` is never true",
            "--> s.rhai:2:13",
            "help: compare it with a number",
        ],
    );
    // No verdict on a row whose values are all present.
    let err = rhai_script_error(
        "fn decide(user) {\n    if user.score < 600 { return decline(\"LOW\"); }\n}\n",
        "user_id,score\nu1,500\nu2,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: `decide` returned nothing on d.csv line 3 (user_id `u2`), a row with every value present",
        ],
    );
    // A negative limit.
    let err = rhai_script_error(
        "fn decide(user) { approve(user.score - 600) }\n",
        "user_id,score\nu1,700\nu2,500\n",
    );
    assert_contains(
        &err,
        &["error: `decide` approved with a limit of -100 on d.csv line 3 (user_id `u2`)"],
    );
    // A script whose only verdict is approve needs no reason code.
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML)
        .write("s.rhai", "fn decide(user) { approve(100) }\n")
        .write("d.csv", "user_id,score\nu1,700\n");
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "user_id,outcome,reasons,limit\nu1,approve,,100.00\n"
    );
}

#[test]
fn rhai_sandbox_has_no_clock() {
    for call in ["sleep(100)", "timestamp()"] {
        let err = rhai_script_error(
            &format!("fn decide(user) {{\n    let t = {call};\n    approve(1)\n}}\n"),
            "user_id,score\nu1,700\n",
        );
        assert_contains(&err, &["is not available in polsim", "--> s.rhai:2:"]);
    }
}

#[test]
fn rhai_a_panic_inside_rhai_is_an_error_naming_the_row() {
    // `(params)[...] = ...` slips past the load-time check and reaches an
    // `unreachable!` inside Rhai.
    let err = rhai_script_error(
        "fn decide(user) {\n    (params)[\"min_score\"] = 1;\n    approve(1)\n}\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &[
            "error: script `s.rhai` failed on d.csv line 2 (user_id `u1`): Runtime error: Rhai stopped with an internal error",
        ],
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn rhai_a_negative_computed_limit_is_an_error() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nkey: user_id\nfields: { user_id: string, score: int }\nrules:\n  - { id: r, reason: R, expr: \"score > 0\" }\nlimit:\n  - amount: \"score - 600\"\n",
    )
    .write("d.csv", "user_id,score\nu1,700\nu2,500\n");
    assert_contains(
        &wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2),
        &[
            "error: the limit `score - 600` is -100 on d.csv line 3 (user_id `u2`): a credit limit cannot be negative",
        ],
    );
}

#[test]
fn money_too_large_to_total_is_an_error_not_a_crash() {
    // Totals of decimals must not overflow (rust_decimal would panic): a
    // decimal cell, or a computed limit, of 10^15 or more is refused.
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nkey: user_id\nfields: { user_id: string, score: int, amount: decimal }\nrules:\n  - { id: r, reason: R, when: { score: { gte: 0 } } }\nlimit:\n  - amount: \"score * 1000000000000\"\nrepayment:\n  exposure: amount\n  outcomes:\n    - p: { default: 0.1 }\n  loss_given_default: 1\n",
    )
    .write(
        "d.csv",
        "user_id,score,amount\nu1,1,5.00\nu2,1,79228162514264337593543950335\n",
    );
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "error: `79228162514264337593543950335` in column `amount` (field 3) is too large for a decimal",
            "--> d.csv:3:",
            "below 10^15",
        ],
    );
    assert!(!err.contains("panicked"), "{err}");

    wd.write("d.csv", "user_id,score,amount\nu1,1,5.00\nu2,1000,5.00\n");
    assert_contains(
        &wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2),
        &[
            "error: the limit `score * 1000000000000` is 1000000000000000 on d.csv line 3 (user_id `u2`): a credit limit must be below 10^15",
        ],
    );
}

const RHAI_PROBABILITY_POLICY: &str = r#"policy: r
key: user_id
fields: { user_id: string, score: int, amount: decimal }
rules:
  - { id: any, reason: R, when: { amount: { gte: 0 } } }
limit:
  - amount: 1000
repayment:
  exposure: amount
  outcomes:
    - p: { default: "(1000 - score) / 10000.0", returned: 0.1 }
    - p: { default: 0.5 }
  loss_given_default: 1
"#;

#[test]
fn rhai_probabilities_computed_per_row_are_summed_exactly() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_PROBABILITY_POLICY).write(
        "d.csv",
        "user_id,score,amount\nu1,900,100.00\nu2,,200.00\nu3,500,300.00\n",
    );
    let report: Value = serde_json::from_str(
        &wd.stdout(&["simulate", "p.yaml", "--data", "d.csv", "--format", "json"]),
    )
    .unwrap();
    // u1: p(default) 0.01 on 100.00; u2 has no score, so its computed
    // probability is missing and it falls to the next band (0.5 on 200.00);
    // u3: 0.05 on 300.00.
    assert_eq!(report["repayment"]["expected_defaults"], 0.56);
    assert_eq!(report["repayment"]["expected_loss"], "116.00");
    // p(returned) is 0.1 in the first band (two rows of three), 0 in the second.
    assert_eq!(report["repayment"]["outcomes"]["returned"], 0.0666666667);
    // A probability outside 0 to 1 names the row.
    wd.write(
        "d.csv",
        "user_id,score,amount\nu1,900,100.00\nu2,-10000,200.00\n",
    );
    assert_contains(
        &wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2),
        &[
            "error: the `default` probability `(1000 - score) / 10000.0` is 1.1 on d.csv line 3 (user_id `u2`), outside 0 to 1",
        ],
    );
}

#[test]
fn rhai_probabilities_as_expressions_match_the_same_constants() {
    // jd_plus.yaml with its first band's probabilities written as
    // expressions (one lowered, one run in Rhai) reports the same numbers.
    let original =
        std::fs::read_to_string(repo_path("tests/fixtures/jd_plus_model_v3.yaml")).unwrap();
    let rewritten = original.replace(
        "p: { returned: 0.05, early: 0.30, late: 0.02, default: 0.004 }",
        r#"p: { returned: "0.05 * 1", early: 0.30, late: "if zhima_score > 0 { 0.02 } else { 0.5 }", default: "zhima_score * 0 + 0.004" }"#,
    );
    assert_ne!(original, rewritten);
    let wd = Workdir::new();
    wd.write("jd.yaml", rewritten);
    let data = repo_path("datasets/sample.csv");
    let data = data.to_str().unwrap();
    let simulate = |policy: &str| -> Value {
        serde_json::from_str(&wd.stdout(&["simulate", policy, "--data", data, "--format", "json"]))
            .unwrap()
    };
    let a = simulate(
        repo_path("tests/fixtures/jd_plus_model_v3.yaml")
            .to_str()
            .unwrap(),
    );
    let b = simulate("jd.yaml");
    assert_eq!(a["repayment"], b["repayment"]);
    assert_eq!(a["approved"], b["approved"]);
}

#[test]
fn set_keeps_a_parameters_kind() {
    let out = in_repo(&[
        "check",
        "policies/merchant_script.yaml",
        "--set",
        "max_limit=1e3",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        &[
            "error: `--set max_limit=1e3`: `max_limit` is a number in policy `merchant-script` (`5000`), and `1e3` is not",
            "help: give a number, written like `5000`",
        ],
    );
    succeeded(
        in_repo(&[
            "check",
            "policies/merchant_script.yaml",
            "--set",
            "max_limit=1000.50",
        ]),
        &["check"],
    );
}

#[test]
fn rhai_scripts_run_natively_decide_as_rhai_does_on_the_sample() {
    for (policy, data, by) in [
        (
            "policies/merchant_script.yaml",
            "datasets/sample.csv",
            "scenario",
        ),
        (
            "tests/fixtures/jd_plus_script.yaml",
            "datasets/sample.csv",
            "city_tier",
        ),
        (
            "tests/fixtures/rhai/scripted.yaml",
            "tests/fixtures/rhai/scripted.csv",
            "score",
        ),
    ] {
        for command in [
            &["decide", policy, "--data", data][..],
            &[
                "simulate", policy, "--data", data, "--format", "json", "--by", by,
            ],
        ] {
            let native = succeeded(in_repo(command), command);
            let rhai = polsim()
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("POLSIM_SCRIPT", "rhai")
                .args(command)
                .output()
                .expect("run polsim");
            let rhai = succeeded(rhai, command);
            assert!(native == rhai, "{command:?}: native and Rhai differ");
        }
    }
}

#[test]
fn rhai_check_says_how_a_script_runs() {
    let out = succeeded(
        in_repo(&["check", "policies/merchant_script.yaml"]),
        &["check"],
    );
    assert_contains(&out, &["the script runs natively"]);
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML).write(
        "s.rhai",
        "fn decide(user) {\n    let n = 0;\n    for i in 0..3 { n += i; }\n    if user.score > n { approve(1) } else { decline(\"LOW\") }\n}\n",
    );
    let out = succeeded(wd.output(&["check", "p.yaml"]), &["check"]);
    assert_contains(
        &out,
        &[
            "the script runs in Rhai, outside the native subset (see the README, *Speed*): line 3: a literal or symbol outside the subset",
        ],
    );
    wd.write(
        "s.rhai",
        "fn decide(user) {\n    while user.score > 1000 { return decline(\"HIGH\"); }\n    approve(1)\n}\n",
    );
    let out = succeeded(wd.output(&["check", "p.yaml"]), &["check"]);
    assert_contains(
        &out,
        &["line 2: a statement or expression outside the subset"],
    );
}

#[test]
fn rhai_derived_fields_in_the_wrong_order_say_so() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: d\nfields: { monthly_income: decimal }\nderive:\n  c: \"d * 2\"\n  d: \"monthly_income / 2\"\nrules:\n  - { id: r, reason: R, expr: \"c > 1\" }\n",
    );
    assert_contains(
        &wd.fails(&["check", "p.yaml"], 1),
        &[
            "error: unknown field `d` in an expression in derived field `c`",
            "help: derived fields are computed in order, each from the fields and the derived fields above it: move `d` up",
            "help: derived field `c` has an error of its own, reported above",
        ],
    );
}

#[test]
fn rhai_a_dollar_parameter_in_a_script_points_to_params() {
    let err = rhai_script_error(
        "fn decide(user) { if user.score < $min_score { decline(\"LOW\") } else { approve(1) } }\n",
        "user_id,score\nu1,700\n",
    );
    assert_contains(
        &err,
        &["help: a script reads parameters as `params.NAME`, not `$NAME`"],
    );
}

#[test]
fn rhai_sandbox_stops_an_array_that_grows_forever() {
    for grow in [
        "let a = [];\n    loop { a.push(1); }",
        "let a = [0];\n    loop { a += a; }",
    ] {
        let err = rhai_script_error(
            &format!(
                "fn decide(user) {{\n    if user.score > 900 {{ return decline(\"NEVER\"); }}\n    {grow}\n}}\n"
            ),
            "user_id,score\nu1,700\n",
        );
        assert_contains(
            &err,
            &[
                "error: script `s.rhai` built a value too large on d.csv line 2 (user_id `u1`)",
                "arrays and maps to 10000 items",
            ],
        );
    }
}

#[test]
fn rhai_sandbox_has_no_modules_files_or_environment() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML)
        .write("d.csv", "user_id,score\nu1,700\n");
    // `import` is not in the language polsim builds (no modules at all).
    wd.write(
        "s.rhai",
        "import \"os\" as os;\nfn decide(user) { decline(\"NEVER\") }\n",
    );
    assert_contains(&wd.fails(&["check", "p.yaml"], 1), &["--> s.rhai:1:1"]);
    // No function reads a file or the environment.
    for call in ["open_file(\"/etc/passwd\")", "env(\"HOME\")"] {
        wd.write(
            "s.rhai",
            format!("fn decide(user) {{\n    let x = {call};\n    decline(\"NEVER\")\n}}\n"),
        );
        assert_contains(
            &wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2),
            &["Function not found", "--> s.rhai:2:"],
        );
    }
}

#[test]
fn rhai_errors_in_multi_line_expressions_point_at_the_source_line() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: m\nfields: { score: int, overdue: int, income: decimal }\nrules:\n  - id: literal\n    reason: R1\n    expr: |\n      score >= 600\n        && income > 1000 &&& overdue == 0\n  - id: folded\n    reason: R2\n    expr: >-\n      score >= 600\n      && incme > 1000\n  - id: blank_lines\n    reason: R3\n    expr: >-\n      score >= 600 &&\n\n\n      overdu == 0\n  - id: quoted\n    reason: R4\n    expr: \"score >= 600 &&&\n      overdue == 0\"\n",
    );
    let err = wd.fails(&["check", "p.yaml"], 1);
    assert_contains(
        &err,
        &[
            "error: rule `literal` is not a valid Rhai expression",
            "--> p.yaml:8:28",
            "error: unknown field `incme` in an expression in rule `folded`",
            "--> p.yaml:13:10",
            "error: unknown field `overdu` in an expression in rule `blank_lines`",
            "--> p.yaml:20:7",
            "error: rule `quoted` is not a valid Rhai expression",
            "--> p.yaml:23:27",
        ],
    );
}

#[test]
fn rhai_a_code_pushed_into_an_array_given_to_review_is_a_review_reason() {
    let wd = Workdir::new();
    wd.write("p.yaml", RHAI_SCRIPT_YAML)
        .write(
            "s.rhai",
            "fn decide(user) {\n    let r = [];\n    r.push(\"THIN_FILE\");\n    if user.score == 1 { return review(\"LARGE_ORDER\", \"THIN_FILE\"); }\n    review(r)\n}\n",
        )
        .write("d.csv", "user_id,score\nu1,1\nu2,2\n");
    // Reasons in the order the script first writes them.
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "user_id,outcome,reasons,limit\nu1,review,THIN_FILE;LARGE_ORDER,\nu2,review,THIN_FILE,\n"
    );
    let report: Value = serde_json::from_str(
        &wd.stdout(&["simulate", "p.yaml", "--data", "d.csv", "--format", "json"]),
    )
    .unwrap();
    let actions: Vec<(&str, &str)> = report["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["reason"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("THIN_FILE", "review"),
            ("LARGE_ORDER", "review"),
            ("MISSING_VALUE", "decline")
        ]
    );
}

#[test]
fn decide_lists_reasons_alike_with_many_rules_and_with_few() {
    // Up to 8 rules, the reasons field is formatted once per failure
    // pattern; with more, once per row. Both must read the same.
    let rules = |n: usize| {
        (1..=n)
            .map(|i| {
                format!(
                    "  - {{ id: r{i}, reason: R{i}, when: {{ score: {{ gte: {} }} }} }}\n",
                    i * 100
                )
            })
            .collect::<String>()
    };
    let wd = Workdir::new();
    wd.write("d.csv", "id,score\nu1,950\nu2,250\nu3,\nu4,250\n");
    for n in [8, 9] {
        wd.write(
            "p.yaml",
            format!(
                "policy: p\nkey: id\nfields: {{ id: string, score: int }}\nrules:\n{}",
                rules(n)
            ),
        );
        let all: Vec<String> = (1..=n).map(|i| format!("R{i}")).collect();
        let above_two: Vec<String> = (3..=n).map(|i| format!("R{i}")).collect();
        assert_eq!(
            wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
            format!(
                "id,outcome,reasons,limit\nu1,approve,,\nu2,decline,{},\nu3,decline,{},\nu4,decline,{},\n",
                above_two.join(";"),
                all.join(";"),
                above_two.join(";")
            ),
            "{n} rules"
        );
    }
}

// ---------------------------------------------------------------------------
// Subjects with a file of their own
// ---------------------------------------------------------------------------
mod ci_polish;
mod compare;
mod compare_sweep_edges;
mod compressed;
mod explain;
mod fuzz_regressions;
mod lifecycle_attack;
mod monte_carlo;
mod parquet;
mod parquet_attack;
mod partials;
mod policy_tests;
mod reliability_csv;
mod reliability_data;
mod reliability_hash;
mod reliability_messages;
mod reliability_output;
mod reliability_output2;
mod reliability_policy;
mod reliability_rhai;
mod reliability_rhai2;
mod report_polish;
mod script_trace;
mod sweep;
