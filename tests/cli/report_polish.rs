//! The `simulate` report's presentation: rates with no denominator, money in
//! tables, the order of segments, the manifest's `set`, and the wording of
//! errors about `--by` columns.

use super::*;

const HEADER: &str = "user_id,zhima_score,is_plus_member,real_name_verified,overdue_count_12m,age,order_amount,defaulted,city\n";

/// A Workdir with the bundled jd_plus policy as `p.yaml` and `data` as `d.csv`.
fn jd_plus_with(data: &str) -> Workdir {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        std::fs::read(repo_file("policies/jd_plus.yaml")).unwrap(),
    );
    wd.write("d.csv", data);
    wd
}

fn run(wd: &Workdir, format: &str, by: &[&str]) -> String {
    let mut args = vec!["simulate", "p.yaml", "--data", "d.csv", "--format", format];
    for b in by {
        args.extend(["--by", b]);
    }
    wd.stdout(&args)
}

#[test]
fn empty_dataset_gives_null_rates_not_zero() {
    let wd = jd_plus_with(HEADER);
    let r: Value = serde_json::from_str(&run(&wd, "json", &["city"])).unwrap();
    assert_eq!(u(&r["rows"]), 0);
    assert_eq!(r["approval_rate"], Value::Null);
    assert_eq!(r["observed"]["bad_rate"], Value::Null);
    assert_eq!(r["observed"]["population_bad_rate"], Value::Null);
    for outcome in ["returned", "early", "on_time", "late", "default"] {
        let share = &r["repayment"]["outcomes"][outcome];
        assert_eq!(share, &Value::Null, "outcomes.{outcome}");
    }
    // Counts and sums stay numbers: zero of them is a fact, not a missing rate.
    assert_eq!(r["observed"]["bads"], 0);
    assert_eq!(r["repayment"]["expected_defaults"], 0.0);
    assert_eq!(r["approved_exposure"], "0.00");

    for format in ["table", "markdown"] {
        let text = run(&wd, format, &["city"]);
        assert!(
            !text.contains("0.00%"),
            "{format}: a share of no rows is not 0.00%:\n{text}"
        );
        assert!(!text.contains(" - "), "{format}: a bare dash:\n{text}");
        assert_contains(
            &text,
            &["approve", "n/a", "p(default)", "all rows", "(all rows)"],
        );
    }
    let csv = run(&wd, "csv", &[]);
    assert_contains(
        &csv,
        &[
            "summary,jd-plus-bnpl,approval_rate,\n",
            "observed,approved,bad_rate,\n",
            "observed,all,bad_rate,\n",
            "repayment,default,probability,\n",
        ],
    );
}

#[test]
fn segment_with_no_approvals_has_null_approved_bad_rate() {
    // `sh` is approved once; every row of `bj` is declined (not a PLUS member).
    let wd = jd_plus_with(&format!(
        "{HEADER}u1,700,true,true,0,30,100.00,false,sh\nu2,700,false,true,0,30,100.00,true,bj\nu3,700,false,true,0,30,100.00,false,bj\n"
    ));
    let r: Value = serde_json::from_str(&run(&wd, "json", &["city"])).unwrap();
    let segments = r["segments"]["city"].as_array().unwrap();
    let bj = segments.iter().find(|s| s["value"] == "bj").unwrap();
    let sh = segments.iter().find(|s| s["value"] == "sh").unwrap();
    assert_eq!((u(&bj["approved"]), u(&bj["bads"])), (0, 1));
    assert_eq!(bj["approved_bad_rate"], Value::Null);
    assert_eq!(bj["approval_rate"], 0.0);
    assert_eq!(sh["approved_bad_rate"], 0.0);
    for format in ["table", "markdown"] {
        let text = run(&wd, format, &["city"]);
        let bj_row = text
            .lines()
            .find(|l| l.contains("bj"))
            .unwrap_or_else(|| panic!("{format}: no row for bj:\n{text}"));
        assert!(
            bj_row.trim_end().ends_with("n/a │") || bj_row.trim_end().ends_with("n/a |"),
            "{format}: the approved bad rate of a segment with no approvals is n/a: {bj_row}"
        );
    }
}

#[test]
fn table_money_is_digit_grouped_json_money_is_not() {
    let args = [
        "simulate",
        "policies/jd_plus.yaml",
        "--data",
        "datasets/sample.csv",
        "--format",
    ];
    let with = |format: &str| {
        let mut a = args.to_vec();
        a.push(format);
        succeeded(in_repo(&a), &a)
    };
    for format in ["table", "markdown"] {
        let text = with(format);
        assert_contains(
            &text,
            &[
                "approved exposure: 2,441,036.32",
                "5,000.00",
                "5,705,000.00",
                "5,814,000.00",
                "572,000.00",
                "800.00",
            ],
        );
        assert!(!text.contains("2441036.32"), "{format}:\n{text}");
        assert!(!text.contains("5705000.00"), "{format}:\n{text}");
    }
    let json: Value = serde_json::from_str(&with("json")).unwrap();
    assert_eq!(json["approved_exposure"], "2441036.32");
    assert_eq!(json["limits"][0]["total_limit"], "5705000.00");
    assert_contains(&with("csv"), &["approved_exposure,2441036.32"]);
}

#[test]
fn segments_come_in_by_order_not_sorted_by_name() {
    let by = ["scenario", "age:30", "city_tier"];
    let mut args = vec![
        "simulate",
        "policies/jd_plus.yaml",
        "--data",
        "datasets/sample.csv",
    ];
    for b in by {
        args.extend(["--by", b]);
    }
    let with = |format: &str| {
        let mut a = args.clone();
        a.extend(["--format", format]);
        succeeded(in_repo(&a), &a)
    };
    let in_order = |text: &str, needles: &[&str]| {
        let at: Vec<usize> = needles
            .iter()
            .map(|n| text.find(n).unwrap_or_else(|| panic!("no {n} in:\n{text}")))
            .collect();
        assert!(at.is_sorted(), "{needles:?} out of order: {at:?}");
    };
    let json = with("json");
    in_order(
        &json,
        &["\"scenario\": [", "\"age\": [", "\"city_tier\": ["],
    );
    let keys: Vec<String> = serde_json::from_str::<Value>(&json).unwrap()["segments"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys.len(), 3);
    let headings = [
        "Segments by scenario",
        "Segments by age",
        "Segments by city_tier",
    ];
    in_order(&with("table"), &headings);
    in_order(&with("markdown"), &headings);
    in_order(
        &with("csv"),
        &["segment:scenario,", "segment:age,", "segment:city_tier,"],
    );
}

#[test]
fn the_same_by_twice_is_one_breakdown() {
    let args = [
        "simulate",
        "policies/jd_plus.yaml",
        "--data",
        "datasets/sample.csv",
        "--by",
        "city_tier",
        "--by",
        "scenario",
        "--by",
        "city_tier",
        "--format",
        "json",
    ];
    let text = succeeded(in_repo(&args), &args);
    assert_eq!(text.matches("\"city_tier\": [").count(), 1, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = r["segments"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["city_tier", "scenario"]);
}

#[test]
fn manifest_set_is_an_empty_list_without_set() {
    let wd = jd_plus_with(&format!("{HEADER}u1,700,true,true,0,30,100.00,false,sh\n"));
    let r: Value = serde_json::from_str(&run(&wd, "json", &[])).unwrap();
    assert_eq!(r["manifest"]["set"], serde_json::json!([]));
    let r = wd.json(&[
        "simulate",
        "p.yaml",
        "--data",
        "d.csv",
        "--set",
        "min_age=21",
    ]);
    assert_eq!(r["manifest"]["set"], serde_json::json!(["min_age"]));
    assert_eq!(r["manifest"]["params"]["min_age"], 21);
}

#[test]
fn errors_about_a_by_column_still_name_by() {
    let wd = jd_plus_with(&format!("{HEADER}u1,700,true,true,0,30,100.00,false,abc\n"));
    let err = wd.fails(
        &["simulate", "p.yaml", "--data", "d.csv", "--by", "city:1,2"],
        2,
    );
    assert_contains(
        &err,
        &[
            "error: `abc` in column `city` (field 9) is not a float",
            "--> d.csv:2:36",
            "help: `--by city:EDGES` bins numbers; for one segment per value write `--by city`",
        ],
    );
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv", "--by", "cty"], 2);
    assert_contains(
        &err,
        &[
            "error: the dataset has no column `cty`, named by `--by`",
            "--> d.csv:1:1",
            "help: did you mean `city`?",
        ],
    );
}
