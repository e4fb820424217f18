//! `polsim test`: policy test files run through the binary — cases,
//! dataset expectations, JUnit XML, exit codes.

use super::*;

const POLICY: &str = "policy: p\nparams: { min: 600 }\nkey: id\nfields: { id: string, score: int, tier: string }\nrules:\n  - id: min_score\n    reason: LOW\n    when: { score: { gte: $min } }\nlimit:\n  - when: { score: { gte: 700 } }\n    amount: 2000\n  - amount: 500\n";
const DATA: &str = "id,score,tier\na,720,1\nb,650,1\nc,550,2\nd,610,2\n";

fn workdir(test: &str) -> Workdir {
    let wd = Workdir::new();
    wd.write("p.yaml", POLICY);
    wd.write("d.csv", DATA);
    wd.write("p.test.yaml", test);
    wd
}

/// The JUnit report: (tests, failures) per suite, and failure messages.
fn junit(xml: &str) -> (usize, usize, Vec<String>) {
    let doc = roxmltree::Document::parse(xml).expect("JUnit XML parses");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let failures: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .map(|n| n.attribute("message").unwrap_or("").to_owned())
        .collect();
    (cases.len(), failures.len(), failures)
}

const PASSING: &str = "policy: p.yaml\nby: [tier]\ncases:\n  - name: a high score gets the top limit\n    input: { id: x, score: 720 }\n    expect: { outcome: approve, limit: 2000 }\n  - name: a low score is declined\n    input: { id: y, score: 500 }\n    expect: { outcome: decline, reasons: [LOW] }\n  - name: a missing score is declined\n    input: { id: z }\n    expect: { reasons_include: [LOW] }\ndatasets:\n  - data: d.csv\n    expect:\n      approved: 3\n      approval_rate: { between: [0.7, 0.8] }\n      segments.tier[2].approval_rate: 0.5\n      approved_exposure: { gte: 3000 }\n";

#[test]
fn a_passing_suite_exits_0_and_writes_junit() {
    let wd = workdir(PASSING);
    let out = wd.output(&["test", ".", "--junit", "report.xml"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_contains(&stdout, &["7 passed, 0 failed, in 1 test file(s)"]);
    let (tests, failures, _) = junit(&wd.read("report.xml"));
    assert_eq!((tests, failures), (7, 0));
}

#[test]
fn a_failing_case_or_expectation_exits_1_and_says_what_and_why() {
    let failing = PASSING
        .replace("limit: 2000", "limit: 500")
        .replace("approved: 3", "approved: 4");
    let wd = workdir(&failing);
    let out = wd.output(&["test", "p.test.yaml", "--junit", "report.xml"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_contains(
        &stdout,
        &[
            "FAIL",
            "limit: expected 500, got 2000",
            // The trace that led there, as `explain` shows it.
            "true  score >= 700   (read 720)",
            "approved: expected = 4, got 3",
            "5 passed, 2 failed",
        ],
    );
    let (tests, failures, messages) = junit(&wd.read("report.xml"));
    assert_eq!((tests, failures), (7, 2));
    assert!(
        messages
            .iter()
            .any(|m| m.contains("limit: expected 500, got 2000")),
        "{messages:?}"
    );
}

#[test]
fn set_applies_to_the_tested_policy_and_params_to_the_file() {
    let wd = workdir(PASSING);
    // At min 750 the 720 case is declined: the suite fails.
    let out = wd.output(&["test", ".", "--set", "min=750"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["outcome: expected approve, got decline"],
    );
    // A test file's own params.
    let wd = workdir(&PASSING.replace("by: [tier]", "by: [tier]\nparams: { min: 750 }"));
    let out = wd.output(&["test", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn a_broken_test_file_is_exit_2_at_its_line_and_column() {
    let wd = workdir(
        "policy: p.yaml\ncases:\n  - name: x\n    input: { id: x }\n    expect: { outcom: approve }\n",
    );
    let err = wd.fails(&["test", "."], 2);
    assert_contains(&err, &["p.test.yaml:5:15", "unknown key `outcom`", "help:"]);
    let wd = workdir(
        "policy: p.yaml\ncases:\n  - name: x\n    input: { scor: 1 }\n    expect: { outcome: approve }\n",
    );
    let err = wd.fails(&["test", "."], 2);
    assert_contains(&err, &["gives `scor`", "did you mean `score`?"]);
    let wd = workdir(
        PASSING
            .replace(
                "segments.tier[2].approval_rate",
                "segments.tier[2].aproval_rate",
            )
            .as_str(),
    );
    let out = wd.output(&["test", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["`segments.tier[2].aproval_rate` is not a metric"],
    );
}

#[test]
fn the_bundled_policies_pass_their_tests() {
    let args = ["test", "policies/"];
    let out = succeeded(in_repo(&args), &args);
    assert_contains(&out, &["0 failed"]);
}

#[test]
fn coverage_names_what_no_case_exercised_and_min_coverage_fails_below_it() {
    let wd = workdir(
        "policy: p.yaml\ncases:\n  - name: a high score\n    input: { id: x, score: 720 }\n    expect: { outcome: approve }\ndatasets:\n  - data: d.csv\n    expect: { approved: 3 }\n",
    );
    // One rule never failed by a case, one band of two landed in: 1 of 3.
    let out = wd.output(&["test", ".", "--min-coverage", "50"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_contains(
        &stdout,
        &[
            "0/1 rules, 1/2 limit bands, 33.3%",
            "not covered: rule `min_score` (no case fails it)",
            "not covered: limit band 2 (amount 500.00): no case lands in it",
            "below --min-coverage 50",
        ],
    );
    // The dataset makes the rule fail: it is not listed as idle on data.
    assert!(
        !stdout.contains("rules that fail on no test dataset"),
        "{stdout}"
    );
    let out = wd.output(&["test", ".", "--min-coverage", "30"]);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn a_snapshot_is_written_by_update_and_fails_a_run_that_drifts_past_its_tolerance() {
    let wd = workdir(
        "policy: p.yaml\ndatasets:\n  - data: d.csv\n    snapshot: p.snap.json\n    tolerance: { approval_rate: 0.3, flipped: 0.3 }\n",
    );
    // No snapshot yet: the run says how to write one.
    let out = wd.output(&["test", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["no snapshot", "polsim test --update"],
    );
    let out = wd.output(&["test", ".", "--update"]);
    assert!(out.status.success(), "{}", show(&out));
    let snap: Value = serde_json::from_str(&wd.read("p.snap.json")).unwrap();
    assert_eq!(snap["rows"], 4);
    assert_eq!(snap["metrics"]["approved"], 3);
    // Unchanged: passes.
    let out = wd.output(&["test", "."]);
    assert!(out.status.success(), "{}", show(&out));
    // min 620 declines one row of four (25 %): within both tolerances.
    let out = wd.output(&["test", ".", "--set", "min=620"]);
    assert!(out.status.success(), "{}", show(&out));
    // min 700 declines two more (50 %): past both, naming the rule.
    let out = wd.output(&["test", ".", "--set", "min=700"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &[
            "approval_rate moved from 0.75 to 0.25",
            "2 of 4 rows (50.00%) changed outcome, more than `flipped: 0.3` allows",
            "min_score (LOW) 2",
        ],
    );
}

#[test]
fn format_json_gives_tools_every_result() {
    let failing = PASSING.replace("limit: 2000", "limit: 500");
    let wd = workdir(&failing);
    let out = wd.output(&["test", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(6), Some(1))
    );
    let results = v["files"][0]["results"].as_array().unwrap();
    let bad: Vec<&Value> = results.iter().filter(|r| r["ok"] == false).collect();
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0]["message"]
            .as_str()
            .unwrap()
            .contains("limit: expected 500, got 2000")
    );
}
