//! The CI-facing polish of `check`, `decide --help`, completions and the man
//! page: what a CI job or a new user meets first.

use super::*;

#[test]
fn decide_help_states_its_own_formats_and_default() {
    let wd = Workdir::new();
    let help = wd.stdout(&["decide", "--help"]);
    assert_contains(
        &help,
        &[
            "--format <FORMAT>",
            "csv (the default) or json (one object per line)",
        ],
    );
    assert!(!help.contains("table on a terminal"), "{help}");
    assert!(!help.contains("markdown"), "{help}");
}

#[test]
fn completions_are_generated_for_each_shell() {
    let wd = Workdir::new();
    let bash = wd.stdout(&["completions", "bash"]);
    assert_contains(
        &bash,
        &["_polsim()", "complete -F _polsim", "simulate", "--format"],
    );
    let zsh = wd.stdout(&["completions", "zsh"]);
    assert_contains(&zsh, &["#compdef polsim", "--data"]);
    let fish = wd.stdout(&["completions", "fish"]);
    assert_contains(&fish, &["complete -c polsim"]);
    let err = wd.fails(&["completions", "tcsh"], 2);
    assert_contains(&err, &["invalid value 'tcsh'"]);
}

#[test]
fn man_page_is_roff_naming_every_subcommand() {
    let wd = Workdir::new();
    let man = wd.stdout(&["man"]);
    assert_contains(
        &man,
        &[
            ".TH polsim 1",
            ".SH NAME",
            "check",
            "decide",
            "simulate",
            "compare",
            "sweep",
            "completions",
        ],
    );
}

/// A policy with one of each warning, and its places.
const WARNED: &str = r#"policy: warned
version: "1"
fields:
  score: int
  unused: string
  city: string
rules:
  - id: r
    reason: LOW
    when: { city: { gte: "10" } }
limit:
  - when: { score: { gte: 700 } }
    amount: 500
repayment:
  exposure: limit
  outcomes:
    - when: { score: { gte: 600 } }
      p: { default: 0.01 }
  loss_given_default: 0.5
  merchant_fee_rate: 0.01
  late_fee: 1
"#;

#[test]
fn warnings_name_the_file_line_and_column_of_what_they_are_about() {
    let wd = Workdir::new();
    wd.write("w.yaml", WARNED);
    let out = wd.stdout(&["check", "w.yaml"]);
    assert_contains(
        &out,
        &[
            "  warning: w.yaml:5:3: field `unused` is declared but nothing reads it",
            "  warning: w.yaml:12:13: `limit` has no default band",
            "  warning: w.yaml:17:15: `repayment.outcomes` has no default band",
            "  warning: w.yaml:10:26: field `city` is a string, so `gte: 10` compares text",
        ],
    );
}

#[test]
fn check_deny_warnings_makes_a_warning_fail_the_check() {
    let wd = Workdir::new();
    wd.write("w.yaml", WARNED);
    wd.stdout(&["check", "w.yaml"]);
    let err = wd.fails(&["check", "w.yaml", "--deny-warnings"], 1);
    assert_contains(
        &err,
        &[
            "error: `w.yaml` has 4 warning(s), and `--deny-warnings` makes a warning fail the check",
            "help: ",
            "check failed: 1 of 1 policy did not pass",
        ],
    );
    // A policy without warnings still passes.
    wd.write("clean.yaml", "policy: c\nfields: { s: int }\nrules:\n  - { id: r, reason: R, when: { s: { gte: 1 } } }\n");
    wd.stdout(&["check", "clean.yaml", "--deny-warnings"]);
}

/// `check --format json`: one object for the run, every policy in it.
fn check_json(wd: &Workdir, args: &[&str], code: i32) -> Value {
    let mut all = vec!["check"];
    all.extend(args);
    all.extend(["--format", "json"]);
    let out = wd.output(&all);
    assert_eq!(out.status.code(), Some(code), "{}", show(&out));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn check_format_json_reports_each_policy_with_errors_warnings_and_data() {
    let wd = Workdir::new();
    wd.write("w.yaml", WARNED)
        .write("bad.yaml", "policy: b\nfields: { score: int }\nrules:\n  - { id: r, reason: R, when: { scor: { gte: 1 } } }\n")
        .write("d.csv", "score,unused,city\n700,a,x\nzz,b,y\n650,c,z\n");
    let v = check_json(&wd, &["w.yaml", "bad.yaml", "--data", "d.csv"], 1);
    assert_eq!(v["ok"], false);
    let w = &v["policies"][0];
    assert_eq!(w["path"], "w.yaml");
    assert_eq!(w["id"], "warned");
    assert_eq!(w["version"], "1");
    assert_eq!(w["ok"], false);
    assert_eq!(w["errors"], serde_json::json!([]));
    let unread = &w["warnings"][3];
    assert_eq!(unread["file"], "w.yaml");
    assert_eq!((u(&unread["line"]), u(&unread["column"])), (5, 3));
    assert_eq!(
        unread["message"],
        "field `unused` is declared but nothing reads it"
    );
    let data = &w["data"];
    assert_eq!(data["path"], "d.csv");
    assert_eq!(data["ok"], false);
    assert_eq!((u(&data["rows"]), u(&data["bad_rows"])), (2, 1));
    assert_eq!(u(&data["bad_row_examples"][0]["line"]), 3);

    let b = &v["policies"][1];
    assert_eq!(
        (&b["path"], &b["id"], &b["ok"]),
        (&"bad.yaml".into(), &Value::Null, &false.into())
    );
    let e = &b["errors"][0];
    assert_eq!(e["file"], "bad.yaml");
    assert_eq!((u(&e["line"]), u(&e["column"])), (4, 33));
    assert_contains(e["message"].as_str().unwrap(), &["unknown field `scor`"]);
    assert_contains(e["help"].as_str().unwrap(), &["did you mean `score`"]);
    assert!(b["data"].is_null());

    // A valid policy and dataset: ok, exit 0, and nothing but JSON on standard output.
    wd.write("fits.csv", "score,unused,city\n700,a,x\n");
    let v = check_json(&wd, &["w.yaml", "--data", "fits.csv"], 0);
    assert_eq!(v["ok"], true);
    assert_eq!(v["policies"][0]["data"]["ok"], true);
    assert_eq!(u(&v["policies"][0]["data"]["rows"]), 1);
    // --deny-warnings fails it, in JSON too.
    let v = check_json(&wd, &["w.yaml", "--deny-warnings"], 1);
    assert_eq!(v["policies"][0]["ok"], false);
    // An unreadable file is still exit 2; a format check cannot write is a usage error.
    wd.fails(&["check", "missing.yaml", "--format", "json"], 2);
    let err = wd.fails(&["check", "w.yaml", "--format", "csv"], 2);
    assert_contains(&err, &["`check` writes table or json, not csv"]);
}

#[test]
fn check_data_fails_on_empty_and_duplicate_keys_naming_their_lines() {
    let wd = Workdir::new();
    wd.write(
        "k.yaml",
        "policy: k\nkey: id\nfields: { id: string, s: int }\nrules:\n  - { id: r, reason: R, when: { s: { gte: 1 } } }\nlimit:\n  - amount: 5\n",
    )
    .write("d.csv", "id,s\na,1\nb,2\n,3\na,4\nb,5\n\"\",6\nc,7\n")
    .write("fine.csv", "id,s\na,1\nb,2\n");
    let err = wd.fails(&["check", "k.yaml", "--data", "d.csv"], 1);
    assert_contains(
        &err,
        &[
            "error: 2 row(s) of `d.csv` have no `id`, the policy's key: lines 4, 7",
            "error: 2 row(s) of `d.csv` repeat the `id` of an earlier row, and the policy's key must name one row: lines 5, 6",
            "64-bit hash",
            "check failed: 1 of 1 policy did not pass",
        ],
    );
    let v = check_json(&wd, &["k.yaml", "--data", "d.csv"], 1);
    let key = &v["policies"][0]["data"]["key"];
    assert_eq!(key["field"], "id");
    assert_eq!((u(&key["empty"]), u(&key["duplicates"])), (2, 2));
    assert_eq!(key["empty_lines"], serde_json::json!([4, 7]));
    assert_eq!(key["duplicate_lines"], serde_json::json!([5, 6]));
    let out = wd.stdout(&["check", "k.yaml", "--data", "fine.csv"]);
    assert_contains(&out, &["ok: `fine.csv` fits: 2 rows"]);
}

#[test]
fn check_data_finds_a_duplicate_key_in_another_chunk_of_a_large_file() {
    let wd = with_data(60_000);
    let mut data = wd.read("d.csv");
    let first_row = data.lines().nth(1).unwrap().to_owned();
    data.push_str(&first_row);
    data.push('\n');
    wd.write("d.csv", data);
    let policy = repo_file("policies/jd_plus.yaml");
    let policy = policy.to_str().unwrap();
    let err = wd.fails(&["check", policy, "--data", "d.csv", "--threads", "4"], 1);
    assert_contains(
        &err,
        &[
            "error: 1 row(s) of `d.csv` repeat the `user_id` of an earlier row, and the policy's key must name one row: line 60002",
        ],
    );
}

#[test]
fn check_refuses_a_script_reason_that_is_not_upper_snake_case_without_data() {
    let wd = Workdir::new();
    wd.write(
        "s.yaml",
        "policy: s\nkey: id\nfields: { id: string, score: int }\nscript: s.rhai\n",
    )
    .write(
        "s.rhai",
        "fn decide(user) {\n    if user.score < 600 {\n        return decline(\"bad code\");\n    }\n    approve(100)\n}\n",
    );
    let err = wd.fails(&["check", "s.yaml"], 1);
    assert_contains(
        &err,
        &[
            "error: reason `bad code` is not a reason code",
            "--> s.rhai:3:24",
            "help: write it in UPPER_SNAKE_CASE",
        ],
    );
    // The same in `decide`: refused when the policy loads, before any row.
    wd.write("d.csv", "id,score\na,700\n");
    let err = wd.fails(&["decide", "s.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &["reason `bad code` is not a reason code", "s.rhai:3:24"],
    );
}

#[test]
fn check_allows_a_computed_amount_band_without_when_before_others() {
    let wd = Workdir::new();
    wd.write(
        "l.yaml",
        r#"policy: l
fields: { income: decimal, score: int }
rules:
  - { id: r, reason: R, when: { score: { gte: 1 } } }
limit:
  - amount: "income * 0.5"
  - when: { score: { gte: 700 } }
    amount: 5000
  - amount: 800
"#,
    )
    .write("d.csv", "income,score\n1000,800\n,800\n,500\n");
    let out = wd.stdout(&["check", "l.yaml"]);
    assert_contains(
        &out,
        &[
            "ok: l.yaml",
            "3 limit band(s)",
            "warning: l.yaml:6:13: the limit band without `when` takes every approved row whose amount `income * 0.5` is not missing: the bands after it are reached only by rows where it is missing",
        ],
    );
    // As the README says: a missing amount falls through to the next band.
    assert_eq!(
        wd.stdout(&["decide", "l.yaml", "--data", "d.csv"]),
        "row,outcome,reasons,limit\n2,approve,,500.00\n3,approve,,5000.00\n4,approve,,800.00\n"
    );
    // A fixed amount without `when` before other bands still cannot be reached past.
    wd.write(
        "f.yaml",
        "policy: f\nfields: { score: int }\nrules:\n  - { id: r, reason: R, when: { score: { gte: 1 } } }\nlimit:\n  - amount: 300\n  - amount: 800\n",
    );
    let err = wd.fails(&["check", "f.yaml"], 1);
    assert_contains(
        &err,
        &[
            "error: a limit band without `when` comes before other bands, which can never be reached",
            "--> f.yaml:6:13",
        ],
    );
}
