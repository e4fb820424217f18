//! `polsim explain`: one user traced through a policy. What it shows must
//! be what the engine decided (the same outcome and reasons as `decide`)
//! and what the row holds (the values it read are the row's cells).

use super::*;

const SAMPLE: &str = "datasets/sample.csv";

fn explain_json(args: &[&str]) -> Value {
    let mut all = vec!["explain"];
    all.extend(args);
    all.extend(["--format", "json"]);
    let out = succeeded(in_repo(&all), &all);
    serde_json::from_str(&out).expect("explain prints JSON")
}

/// The sample's rows by key: header name → cell.
fn sample_rows() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(repo_file(SAMPLE)).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let row: BTreeMap<String, String> = header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect();
            (row["user_id"].clone(), row)
        })
        .collect()
}

/// `decide`'s outcome and reasons, by key.
fn decided(policy: &str) -> BTreeMap<String, (String, String)> {
    let args = ["decide", policy, "--data", SAMPLE, "--format", "csv"];
    let out = succeeded(in_repo(&args), &args);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[0].to_owned(), (rec[1].to_owned(), rec[2].to_owned()))
        })
        .collect()
}

/// Every leaf a trace node holds: (test, read).
fn leaves(node: &Value, out: &mut Vec<(String, String)>) {
    if let Some(read) = node["read"].as_str() {
        out.push((node["test"].as_str().unwrap().to_owned(), read.to_owned()));
    }
    for p in node["parts"].as_array().into_iter().flatten() {
        leaves(p, out);
    }
}

#[test]
fn explain_agrees_with_decide_and_reads_the_rows_cells() {
    let rows = sample_rows();
    for policy in [
        "policies/jd_plus.yaml",
        "policies/jd_plus_expr.yaml",
        "policies/merchant_review.yaml",
        "policies/merchant_script.yaml",
    ] {
        let decisions = decided(policy);
        // The first declined, reviewed and approved users of the sample.
        let mut picked = Vec::new();
        for want in ["decline", "review", "approve"] {
            if let Some((key, _)) = decisions.iter().find(|(_, (o, _))| o == want) {
                picked.push(key.clone());
            }
        }
        let mut compared = 0;
        for key in picked {
            let traces = explain_json(&[policy, "--data", SAMPLE, "--id", &key]);
            let t = &traces[0];
            let (outcome, reasons) = &decisions[&key];
            assert_eq!(t["outcome"], outcome.as_str(), "{policy} {key}");
            let got: Vec<&str> = t["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert_eq!(got.join(";"), *reasons, "{policy} {key}");
            assert_eq!(t["key"], key.as_str());
            // Every value a condition read is the row's cell (typed: `1`
            // of a bool reads `true`, an empty cell `missing`).
            let mut read = Vec::new();
            for r in t["rules"].as_array().unwrap() {
                leaves(&r["condition"], &mut read);
            }
            // A script's checks: the fields each names, with their values.
            for c in t["script"]["checks"].as_array().into_iter().flatten() {
                for pair in c["reads"].as_array().unwrap() {
                    let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
                    read.push((name.to_owned(), value.to_owned()));
                }
            }
            for (test, value) in read {
                let Some(field) = test.split_whitespace().next() else {
                    continue;
                };
                let Some(cell) = rows[&key].get(field) else {
                    continue;
                };
                let expected = if cell.trim().is_empty() {
                    "missing".to_owned()
                } else {
                    match cell.as_str() {
                        "1" | "yes" | "y" | "t" | "True" | "TRUE" if value == "true" => {
                            "true".to_owned()
                        }
                        "0" | "no" | "n" | "f" | "False" | "FALSE" if value == "false" => {
                            "false".to_owned()
                        }
                        c => c.to_owned(),
                    }
                };
                assert_eq!(value, expected, "{policy} {key}: `{test}`");
                compared += 1;
            }
        }
        assert!(compared > 0, "{policy}: no value was compared");
    }
}

#[test]
fn explain_shows_the_failing_condition_with_the_value_it_read() {
    let wd = Workdir::new();
    let out = wd.stdout(&[
        "explain",
        &repo_file("policies/jd_plus.yaml").to_string_lossy(),
        "--row",
        r#"{"user_id": "t1", "zhima_score": 583, "is_plus_member": true, "real_name_verified": true, "overdue_count_12m": 0, "age": 30, "order_amount": "300.00"}"#,
        "--format",
        "table",
    ]);
    assert_contains(&out, &["outcome: decline — SCORE_TOO_LOW"]);
    assert_contains(&out, &["FAIL  min_score → SCORE_TOO_LOW (decline)"]);
    assert_contains(&out, &["false  zhima_score >= 600   (read 583)"]);
}

#[test]
fn a_field_left_out_of_row_is_missing_and_fails_its_rule() {
    let t = &explain_json(&[
        "policies/zhima_600.yaml",
        "--row",
        r#"{"overdue_count_12m": 0}"#,
    ])[0];
    assert_eq!(t["outcome"], "decline");
    let rule = &t["rules"][0];
    assert_eq!(rule["verdict"], "fail");
    assert_eq!(rule["condition"]["read"], "missing");
    assert_eq!(rule["condition"]["truth"], "unknown");
}

#[test]
fn an_unknown_key_or_field_is_a_usage_error() {
    let err = failed(
        in_repo(&[
            "explain",
            "policies/jd_plus.yaml",
            "--data",
            SAMPLE,
            "--id",
            "nosuch",
        ]),
        &["explain"],
        2,
    );
    assert_contains(
        &err,
        &["no row of `datasets/sample.csv` has `user_id` = `nosuch`"],
    );
    let err = failed(
        in_repo(&[
            "explain",
            "policies/jd_plus.yaml",
            "--row",
            r#"{"zhima_scor": 1}"#,
        ]),
        &["explain"],
        2,
    );
    assert_contains(&err, &["`--row` names `zhima_scor`"]);
    assert_contains(&err, &["did you mean `zhima_score`?"]);
    failed(
        in_repo(&["explain", "policies/jd_plus.yaml"]),
        &["explain"],
        2,
    );
}

#[test]
fn a_key_found_on_several_rows_explains_each() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nkey: id\nfields: { id: string, score: int }\nrules:\n  - id: min\n    reason: LOW\n    when: { score: { gte: 600 } }\n",
    );
    wd.write("d.csv", "id,score\na,700\nb,500\na,550\n");
    let out = wd.output(&[
        "explain", "p.yaml", "--data", "d.csv", "--id", "a", "--format", "json",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let traces: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<u64> = traces
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 4]);
    assert_eq!(traces[0]["outcome"], "approve");
    assert_eq!(traces[1]["outcome"], "decline");
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        &["2 rows of `d.csv` have `id` = `a` (lines 2, 4)"],
    );
}

/// `decide --explain`'s `why` column, by key.
fn why_column(policy: &str) -> BTreeMap<String, (String, String)> {
    let args = [
        "decide",
        policy,
        "--data",
        SAMPLE,
        "--explain",
        "--format",
        "csv",
    ];
    let out = succeeded(in_repo(&args), &args);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["user_id", "outcome", "reasons", "limit", "why"]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[0].to_owned(), (rec[2].to_owned(), rec[4].to_owned()))
        })
        .collect()
}

#[test]
fn decide_explain_agrees_with_explain_on_declined_rows() {
    for policy in ["policies/jd_plus.yaml", "policies/merchant_review.yaml"] {
        let why = why_column(policy);
        let plain = decided(policy);
        let mut checked = 0;
        for (key, (reasons, text)) in &why {
            let (outcome, _) = &plain[key];
            if outcome == "approve" {
                assert!(
                    text.is_empty(),
                    "{policy} {key}: an approved row has no why"
                );
                continue;
            }
            // One `REASON: facts` per failing rule, in the reasons' order.
            let parts: Vec<&str> = text.split("; ").collect();
            let named: Vec<&str> = parts.iter().map(|p| p.split(':').next().unwrap()).collect();
            assert_eq!(named.join(";"), *reasons, "{policy} {key}: {text}");
            if checked < 12 {
                // Each failing leaf `explain` shows is in the facts, with its value.
                let t = &explain_json(&[policy, "--data", SAMPLE, "--id", key])[0];
                for r in t["rules"].as_array().unwrap() {
                    if r["verdict"] != "fail" {
                        continue;
                    }
                    let mut read = Vec::new();
                    leaves(&r["condition"], &mut read);
                    let facts = parts
                        .iter()
                        .find(|p| p.starts_with(&format!("{}:", r["reason"].as_str().unwrap())))
                        .unwrap();
                    assert!(
                        read.iter().any(|(test, value)| {
                            let field = test.split_whitespace().next().unwrap();
                            facts.contains(&format!("{field}={value}"))
                                || facts.contains(&format!("{field} missing"))
                                || facts.contains(&format!("{field} present"))
                        }),
                        "{policy} {key}: {facts} against {read:?}"
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 12, "{policy}: enough declined rows");
    }
}
