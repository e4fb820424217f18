//! `polsim sweep POLICY --param SPEC [--param SPEC]`: every point of the grid
//! is checked against `polsim simulate POLICY --set NAME=VALUE...` run on its
//! own, the marginal bad rate against the simulate runs of neighbouring
//! points, and `--plot` against the points of the report.

use super::*;

const SAMPLE: &str = "datasets/sample.csv";
const JD_PLUS: &str = "policies/jd_plus.yaml";

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// `polsim sweep policies/jd_plus.yaml --data sample.csv ARGS... --format json`,
/// from the repository root.
fn sweep(args: &[&str]) -> Value {
    let mut all = vec!["sweep", JD_PLUS, "--data", SAMPLE];
    all.extend(args);
    all.extend(["--format", "json"]);
    parse_json(&succeeded(in_repo(&all), &all))
}

/// `polsim simulate policies/jd_plus.yaml --data sample.csv --set S... --format json`.
fn simulate(sets: &[String]) -> Value {
    let mut all = vec!["simulate", JD_PLUS, "--data", SAMPLE];
    for s in sets {
        all.extend(["--set", s]);
    }
    all.extend(["--format", "json"]);
    parse_json(&succeeded(in_repo(&all), &all))
}

/// The points of a sweep report.
fn points(report: &Value) -> &Vec<Value> {
    report["points"]
        .as_array()
        .unwrap_or_else(|| panic!("no points: {report}"))
}

/// A point carries exactly simulate's figures for its params.
#[track_caller]
fn assert_point_is_simulate(point: &Value, sim: &Value, what: &str) {
    for k in [
        "approved",
        "declined",
        "review",
        "approval_rate",
        "approved_exposure",
    ] {
        assert_eq!(point[k], sim[k], "{what}: {k}");
        assert!(!sim[k].is_null(), "{what}: simulate has {k}");
    }
    for k in ["bads", "bad_rate"] {
        assert_eq!(
            point["observed"][k], sim["observed"][k],
            "{what}: observed.{k}"
        );
    }
    for k in ["expected_defaults", "expected_loss", "expected_revenue"] {
        assert_eq!(
            point["repayment"][k], sim["repayment"][k],
            "{what}: repayment.{k}"
        );
        assert!(!sim["repayment"][k].is_null(), "{what}: simulate has {k}");
    }
}

/// `(bads_i - bads_{i-1}) / (approved_i - approved_{i-1})` from two simulate
/// reports; None when approvals do not change.
fn marginal(previous: &Value, this: &Value) -> Option<f64> {
    let approved = u(&this["approved"]) as i64 - u(&previous["approved"]) as i64;
    let bads = u(&this["observed"]["bads"]) as i64 - u(&previous["observed"]["bads"]) as i64;
    (approved != 0).then(|| bads as f64 / approved as f64)
}

#[track_caller]
fn assert_marginal(point: &Value, expected: Option<f64>, what: &str) {
    let got = &point["marginal_bad_rate"];
    match expected {
        None => assert!(
            got.is_null(),
            "{what}: marginal_bad_rate {got} should be null"
        ),
        Some(x) => assert_eq!(got.as_f64(), Some(x), "{what}: marginal_bad_rate"),
    }
}

/// A one-param sweep of min_score over `values`: each point is simulate's,
/// in order, and the marginal bad rate is that of the simulate runs.
fn check_min_score_sweep(spec: &str, values: &[i64]) {
    let report = sweep(&["--param", spec]);
    let sims: Vec<Value> = values
        .iter()
        .map(|v| simulate(&[format!("min_score={v}")]))
        .collect();
    assert_eq!(report["policy"], sims[0]["policy"], "{spec}");
    assert_eq!(report["version"], sims[0]["version"], "{spec}");
    assert_eq!(report["rows"], sims[0]["rows"], "{spec}");
    assert_eq!(report["params"], serde_json::json!(["min_score"]), "{spec}");
    let points = points(&report);
    assert_eq!(points.len(), values.len(), "{spec}: one point per value");
    for (i, (point, sim)) in points.iter().zip(&sims).enumerate() {
        let what = format!("{spec} point {i}");
        assert_eq!(
            point["params"],
            serde_json::json!({ "min_score": values[i] }),
            "{what}"
        );
        assert_eq!(
            point["params"]["min_score"], sim["manifest"]["params"]["min_score"],
            "{what}: the value as simulate's manifest shows it"
        );
        assert_point_is_simulate(point, sim, &what);
        let expected = (i > 0).then(|| marginal(&sims[i - 1], sim)).flatten();
        assert_marginal(point, expected, &what);
    }
    for k in ["policy_sha256", "data_sha256"] {
        assert_eq!(report["manifest"][k], sims[0]["manifest"][k], "{spec}: {k}");
    }
}

// ---------------------------------------------------------------------------
// One param
// ---------------------------------------------------------------------------

#[test]
fn sweep_range_points_equal_simulate_at_each_value() {
    check_min_score_sweep(
        "min_score=560..680:20",
        &[560, 580, 600, 620, 640, 660, 680],
    );
}

#[test]
fn sweep_list_points_equal_simulate_at_each_value() {
    check_min_score_sweep("min_score=580,600,620", &[580, 600, 620]);
}

#[test]
fn sweep_range_ends_at_the_last_step_before_an_end_it_does_not_land_on() {
    check_min_score_sweep("min_score=580..630:20", &[580, 600, 620]);
}

#[test]
fn sweep_marginal_bad_rate_of_the_second_point_is_the_step_between_simulate_runs() {
    let report = sweep(&["--param", "min_score=580,600"]);
    let (a, b) = (
        simulate(&["min_score=580".to_owned()]),
        simulate(&["min_score=600".to_owned()]),
    );
    let points = points(&report);
    assert!(points[0]["marginal_bad_rate"].is_null(), "first point");
    let approved = u(&b["approved"]) as f64 - u(&a["approved"]) as f64;
    let bads = u(&b["observed"]["bads"]) as f64 - u(&a["observed"]["bads"]) as f64;
    assert_ne!(approved, 0.0, "the cutoff moves approvals on the sample");
    assert_eq!(
        points[1]["marginal_bad_rate"].as_f64(),
        Some(bads / approved)
    );
}

#[test]
fn sweep_marginal_bad_rate_is_null_when_approvals_do_not_change() {
    // Nobody in the sample is younger than 16: min_age 10 and 12 approve the
    // same rows; 18 declines some more.
    let values = [10, 12, 18];
    let report = sweep(&["--param", "min_age=10,12,18"]);
    let sims: Vec<Value> = values
        .iter()
        .map(|v| simulate(&[format!("min_age={v}")]))
        .collect();
    assert_eq!(sims[0]["approved"], sims[1]["approved"]);
    assert_ne!(sims[1]["approved"], sims[2]["approved"]);
    let points = points(&report);
    assert_eq!(points.len(), 3);
    for (i, (point, sim)) in points.iter().zip(&sims).enumerate() {
        let what = format!("min_age point {i}");
        assert_point_is_simulate(point, sim, &what);
        let expected = (i > 0).then(|| marginal(&sims[i - 1], sim)).flatten();
        assert_marginal(point, expected, &what);
    }
    assert!(points[1]["marginal_bad_rate"].is_null(), "{}", points[1]);
}

// ---------------------------------------------------------------------------
// Two params
// ---------------------------------------------------------------------------

#[test]
fn sweep_two_params_is_the_product_with_the_first_varying_slowest() {
    let report = sweep(&[
        "--param",
        "min_score=580..620:20",
        "--param",
        "min_age=18,21",
    ]);
    assert_eq!(
        report["params"],
        serde_json::json!(["min_score", "min_age"])
    );
    let grid: Vec<(i64, i64)> = [580, 600, 620]
        .iter()
        .flat_map(|s| [18, 21].map(|a| (*s, a)))
        .collect();
    let points = points(&report);
    assert_eq!(points.len(), 6);
    let mut previous: Option<Value> = None;
    for (i, (point, (score, age))) in points.iter().zip(grid).enumerate() {
        let what = format!("point {i} (min_score={score}, min_age={age})");
        let sim = simulate(&[format!("min_score={score}"), format!("min_age={age}")]);
        assert_eq!(
            point["params"],
            serde_json::json!({ "min_score": score, "min_age": age }),
            "{what}"
        );
        assert_point_is_simulate(point, &sim, &what);
        // Along the last param: each min_score starts a new line.
        let expected = match (&previous, age) {
            (Some(p), 21) => marginal(p, &sim),
            _ => None,
        };
        assert_marginal(point, expected, &what);
        previous = Some(sim);
    }
}

// ---------------------------------------------------------------------------
// Decimal steps
// ---------------------------------------------------------------------------

const RATIO_POLICY: &str = "policy: ratio
version: 1
key: id
params:
  max_ratio: 0.2
fields:
  id: string
  ratio: decimal
  amount: decimal
  bad: bool
rules:
  - id: ratio
    reason: RATIO_TOO_HIGH
    when: { ratio: { lte: $max_ratio } }
limit:
  - amount: 100
repayment:
  exposure: amount
  outcomes:
    - p: { returned: 0.0, early: 0.1, late: 0.1, default: 0.1 }
  loss_given_default: 0.5
  merchant_fee_rate: 0.01
  late_fee: 1.00
observed:
  bad: { bad: true }
";

/// Ratios on the steps of the sweeps below: a value summed up in binary
/// floating point (0.7 + 0.1 = 0.7999999999999999) would leave one out.
const RATIO_DATA: &str = "id,ratio,amount,bad
a,0.05,10.00,false
b,0.1,20.00,true
c,0.15,30.00,false
d,0.2,40.00,true
e,0.3,50.00,false
f,0.35,60.00,true
g,0.8,70.00,false
h,0.9,80.00,true
i,0.95,90.00,false
";

#[test]
fn sweep_decimal_steps_are_exact() {
    let wd = Workdir::new();
    wd.write("p.yaml", RATIO_POLICY).write("d.csv", RATIO_DATA);
    for (spec, values) in [
        ("max_ratio=0.1..0.3:0.1", ["0.1", "0.2", "0.3"]),
        ("max_ratio=0.7..0.9:0.1", ["0.7", "0.8", "0.9"]),
    ] {
        let report = wd.json(&["sweep", "p.yaml", "--data", "d.csv", "--param", spec]);
        let points = points(&report);
        assert_eq!(points.len(), 3, "{spec}: {report}");
        let mut previous: Option<Value> = None;
        for (i, (point, v)) in points.iter().zip(values).enumerate() {
            let what = format!("{spec} point {i}");
            let set = format!("max_ratio={v}");
            let sim = wd.json(&["simulate", "p.yaml", "--data", "d.csv", "--set", &set]);
            assert_eq!(
                point["params"]["max_ratio"],
                serde_json::json!(v.parse::<f64>().unwrap()),
                "{what}"
            );
            assert_eq!(
                point["params"]["max_ratio"], sim["manifest"]["params"]["max_ratio"],
                "{what}: the value as simulate's manifest shows it"
            );
            assert_point_is_simulate(point, &sim, &what);
            let expected = previous.as_ref().and_then(|p| marginal(p, &sim));
            assert_marginal(point, expected, &what);
            previous = Some(sim);
        }
    }
}

// ---------------------------------------------------------------------------
// Usage errors
// ---------------------------------------------------------------------------

fn sweep_fails(args: &[&str]) -> String {
    let mut all = vec!["sweep", JD_PLUS, "--data", SAMPLE];
    all.extend(args);
    failed(in_repo(&all), &all, 2)
}

#[test]
fn sweep_of_an_unknown_param_is_a_usage_error_naming_it() {
    for spec in ["nosuch=1,2", "nosuch=1..3:1"] {
        let err = sweep_fails(&["--param", spec]);
        assert_contains(&err, &["error:", "nosuch"]);
    }
}

#[test]
fn sweep_of_a_bad_range_or_step_is_a_usage_error_with_help() {
    for spec in [
        "min_score=600..500:10",
        "min_score=500..600:0",
        "min_score=500..600:-10",
    ] {
        let err = sweep_fails(&["--param", spec]);
        assert_contains(&err, &["error:", "help:"]);
    }
    // No step, no value, no `=`: refused too.
    for spec in ["min_score=500..600", "min_score=", "min_score"] {
        sweep_fails(&["--param", spec]);
    }
}

#[test]
fn sweep_of_more_than_two_params_is_a_usage_error() {
    // policies/merchant_review.yaml has four params: two sweep, three do not.
    let mut args = vec![
        "sweep",
        "policies/merchant_review.yaml",
        "--data",
        SAMPLE,
        "--param",
        "min_score=500,550",
        "--param",
        "max_order=2000,3000",
        "--format",
        "json",
    ];
    let report = parse_json(&succeeded(in_repo(&args), &args));
    assert_eq!(points(&report).len(), 4);
    args.extend(["--param", "thin_file_months=3,6"]);
    let err = failed(in_repo(&args), &args, 2);
    assert_contains(&err, &["error:", "--param"]);
    // And at least one.
    let err = sweep_fails(&[]);
    assert_contains(&err, &["error:", "--param"]);
}

// ---------------------------------------------------------------------------
// --plot
// ---------------------------------------------------------------------------

/// The elements of an SVG file whose class names a `point`.
fn point_marks(svg: &str) -> usize {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("the plot is not XML ({e}):\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split_whitespace().any(|w| w == "point"))
        })
        .count()
}

#[test]
fn sweep_plot_is_svg_with_one_mark_per_point() {
    let policy = repo_file(JD_PLUS).to_string_lossy().into_owned();
    let data = repo_file(SAMPLE).to_string_lossy().into_owned();
    for (params, plot_y) in [
        (&["--param", "min_score=560..680:20"][..], None),
        (&["--param", "min_score=560..680:20"][..], Some("loss")),
        (&["--param", "min_score=560..680:20"][..], Some("bad_rate")),
        (
            &[
                "--param",
                "min_score=580,600",
                "--param",
                "min_age=18,21,25",
            ][..],
            None,
        ),
    ] {
        let wd = Workdir::new();
        let mut args = vec![
            "sweep",
            policy.as_str(),
            "--data",
            data.as_str(),
            "--plot",
            "cutoffs.svg",
        ];
        args.extend(params);
        if let Some(y) = plot_y {
            args.extend(["--plot-y", y]);
        }
        let report = wd.json(&args);
        assert_eq!(
            point_marks(&wd.read("cutoffs.svg")),
            points(&report).len(),
            "{args:?}"
        );
        assert_eq!(
            wd.files(),
            ["cutoffs.svg"],
            "{args:?}: nothing else written"
        );
    }
}
