//! `explain` and `decide --explain` on script policies: the path the
//! script took, each `if` with its value, the values it compared and the
//! fields it named, the same whether the script ran natively or in Rhai.

use super::*;

const SAMPLE: &str = "datasets/sample.csv";
const SCRIPT: &str = "policies/merchant_script.yaml";

fn run(args: &[&str], rhai: bool) -> String {
    let mut cmd = polsim();
    cmd.current_dir(repo_path("")).args(args);
    if rhai {
        cmd.env("POLSIM_SCRIPT", "rhai");
    }
    succeeded(cmd.output().unwrap(), args)
}

fn explain(policy: &str, key: &str, rhai: bool) -> Value {
    let args = [
        "explain", policy, "--data", SAMPLE, "--id", key, "--format", "json",
    ];
    let t: Value = serde_json::from_str(&run(&args, rhai)).unwrap();
    t[0].clone()
}

/// `decide --explain`'s rows: key → (outcome, reasons, why).
fn whys(policy: &str, rhai: bool) -> Vec<(String, String, String, String)> {
    let args = ["decide", policy, "--data", SAMPLE, "--explain"];
    let out = run(&args, rhai);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(&r.headers().unwrap()[4], "why");
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let f = |i: usize| rec[i].to_owned();
            (f(0), f(1), f(2), f(4))
        })
        .collect()
}

#[test]
fn explain_shows_each_check_the_script_evaluated_with_its_values() {
    let wd = Workdir::new();
    let out = wd.stdout(&[
        "explain",
        &repo_file(SCRIPT).to_string_lossy(),
        "--row",
        r#"{"user_id": "t1", "zhima_score": 583, "real_name_verified": true, "max_overdue_days": 3, "monthly_income": "8000", "order_amount": "300", "scenario": "rental"}"#,
        "--format",
        "table",
    ]);
    assert_contains(&out, &["outcome: decline — SCORE_TOO_LOW"]);
    assert_contains(
        &out,
        &["the checks it evaluated, in order (traced natively)"],
    );
    assert_contains(&out, &["line 20  !holds(user.real_name_verified)"]);
    assert_contains(&out, &["false   (read real_name_verified=true)"]);
    assert_contains(
        &out,
        &["false: !holds(3 <= 30)   (read max_overdue_days=3)"],
    );
    assert_contains(
        &out,
        &["line 30  user.zhima_score < score_floor(user.scenario, params)"],
    );
    assert_contains(
        &out,
        &["true: 583 < 650   (read zhima_score=583, scenario=rental)   ← decided the verdict"],
    );
    assert_contains(&out, &["line 31  decline(\"SCORE_TOO_LOW\")   the verdict"]);
    // The rule list of a declarative policy is not printed for a script.
    assert!(!out.contains("decided by the script"), "{out}");
}

#[test]
fn a_script_traced_natively_and_in_rhai_reads_the_same() {
    // One row of each outcome and reason, and every row by `decide --explain`.
    let native = whys(SCRIPT, false);
    let rhai = whys(SCRIPT, true);
    assert_eq!(native, rhai);
    let mut picked: Vec<&String> = Vec::new();
    let mut kinds = Vec::new();
    for (key, outcome, reasons, _) in &native {
        if !kinds.contains(&(outcome, reasons)) {
            kinds.push((outcome, reasons));
            picked.push(key);
        }
    }
    assert!(picked.len() >= 5, "{kinds:?}");
    for key in picked {
        let mut n = explain(SCRIPT, key, false);
        let mut r = explain(SCRIPT, key, true);
        assert_eq!(n["script"]["traced_by"], "native");
        assert_eq!(r["script"]["traced_by"], "rhai");
        n["script"]["traced_by"] = Value::Null;
        r["script"]["traced_by"] = Value::Null;
        assert_eq!(n, r, "{key}");
        assert!(!n["script"]["checks"].as_array().unwrap().is_empty());
    }
}

#[test]
fn decide_explain_gives_every_declined_or_reviewed_script_row_its_deciding_checks() {
    for policy in [SCRIPT, "tests/fixtures/jd_plus_script.yaml"] {
        let rows = whys(policy, false);
        let mut explained = 0;
        for (key, outcome, reasons, why) in &rows {
            if outcome == "approve" {
                assert_eq!(why, "", "{policy} {key}");
                continue;
            }
            // `REASON, REASON: CHECK is VALUE ... and CHECK is VALUE ...`
            let (codes, facts) = why
                .split_once(": ")
                .unwrap_or_else(|| panic!("{policy} {key}: {why:?}"));
            assert_eq!(codes, reasons.replace(';', ", "), "{policy} {key}");
            assert!(facts.contains(" is "), "{policy} {key}: {why}");
            explained += 1;
        }
        assert!(explained > 100, "{policy}: {explained}");
    }
}

#[test]
fn reasons_pushed_onto_an_array_are_decided_by_the_checks_that_pushed_them() {
    let policy = "tests/fixtures/jd_plus_script.yaml";
    let rows = whys(policy, false);
    let (key, _, _, why) = rows
        .iter()
        .find(|(_, _, reasons, _)| reasons.contains(";"))
        .expect("a row declined for two reasons");
    let t = explain(policy, key, false);
    let decided: Vec<&str> = t["script"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["decided"] == true)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    // One check per reason pushed, and the one whose body declines.
    let reasons = t["reasons"].as_array().unwrap().len();
    assert_eq!(decided.len(), reasons + 1, "{decided:?}");
    assert_eq!(decided.last(), Some(&"reasons.len() > 0"));
    for check in &decided {
        assert!(why.contains(check), "{why} lacks {check}");
    }
}

#[test]
fn a_row_a_missing_value_stopped_shows_the_check_it_stopped_on() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nfields: { score: int, tier: int }\nscript: s.rhai\n",
    );
    wd.write(
        "s.rhai",
        "fn decide(user) {\n    if user.tier > 1 { return decline(\"TIER\"); }\n    if user.score >= 600 { approve(100) } else { decline(\"LOW\") }\n}\n",
    );
    wd.write("d.csv", "score,tier\n,1\n550,1\n");
    let out = wd.stdout(&["decide", "p.yaml", "--data", "d.csv", "--explain"]);
    assert_contains(
        &out,
        &[
            "2,decline,MISSING_VALUE,,MISSING_VALUE: user.score >= 600 is missing: missing >= 600 (score=missing)",
        ],
    );
    // The `else` branch holds the verdict: the false check decided it.
    assert_contains(
        &out,
        &["3,decline,LOW,,LOW: user.score >= 600 is false: 550 >= 600 (score=550)"],
    );
    let t = wd.json(&["explain", "p.yaml", "--row", r#"{"tier": 1}"#]);
    let script = &t[0]["script"];
    assert_eq!(script["verdict"], Value::Null);
    assert_eq!(script["checks"][1]["value"], "missing");
    assert_eq!(script["checks"][1]["decided"], true);
    let table = wd.stdout(&[
        "explain",
        "p.yaml",
        "--row",
        r#"{"tier": 1}"#,
        "--format",
        "table",
    ]);
    assert_contains(&table, &["a missing value stopped the script"]);
}

#[test]
fn a_script_outside_the_native_subset_is_traced_in_rhai() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nfields: { score: int, city: string }\nscript: s.rhai\n",
    );
    // `in` and a `for` loop are not in the native subset.
    wd.write(
        "s.rhai",
        "fn decide(user) {\n    let n = 0;\n    for i in 0..3 { n += i; }\n    if user.city in [\"sh\", \"bj\"] {\n        if user.score < 600 + n { return decline(\"LOW\"); }\n    }\n    approve(100)\n}\n",
    );
    let check = wd.stdout(&["check", "p.yaml"]);
    assert_contains(&check, &["Rhai"]);
    let t = wd.json(&[
        "explain",
        "p.yaml",
        "--row",
        r#"{"score": 590, "city": "sh"}"#,
    ]);
    let script = &t[0]["script"];
    assert_eq!(script["traced_by"], "rhai");
    let checks = script["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{script}");
    assert_eq!(checks[0]["check"], r#"user.city in ["sh", "bj"]"#);
    assert_eq!(checks[0]["value"], "true");
    assert_eq!(checks[0]["reads"], serde_json::json!([["city", "sh"]]));
    assert_eq!(checks[1]["check"], "user.score < 600 + n");
    assert_eq!(checks[1]["compared"], "590 < 603");
    assert_eq!(checks[1]["line"], 5);
    assert_eq!(checks[1]["column"], 9);
    assert!(checks.iter().all(|c| c["decided"] == true), "{script}");
    assert_eq!(script["verdict"]["call"], r#"decline("LOW")"#);
    assert_eq!(script["verdict"]["line"], 5);
}
