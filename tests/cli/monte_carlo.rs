//! The repayment lifecycle and the Monte Carlo of `simulate --trials`:
//! the trial mean agrees with the exact expectation, correlation widens the
//! tail, results are the same at any thread count and wherever a user's row
//! sits, expected counts match an independent computation, and the
//! calibration backtest tells a miscalibrated model from a good one.

use super::*;
use rust_decimal::Decimal;
use std::str::FromStr;

const SAMPLE: &str = "datasets/sample.csv";
const JD_PLUS: &str = "policies/jd_plus.yaml";

fn simulate_json(args: &[&str]) -> Value {
    let mut all = vec!["simulate"];
    all.extend(args);
    all.extend(["--format", "json", "--quiet"]);
    let out = succeeded(in_repo(&all), &all);
    serde_json::from_str(&out).expect("simulate prints JSON")
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("money string: {v}"))).unwrap()
}

/// jd_plus with its `correlation` replaced, in `wd`.
fn jd_plus_with_correlation(wd: &Workdir, rho: &str) -> String {
    let text = std::fs::read_to_string(repo_file(JD_PLUS)).unwrap();
    let replaced = text.replace("correlation: 0.05", &format!("correlation: {rho}"));
    assert_ne!(text, replaced);
    let name = format!("jd_{rho}.yaml");
    wd.write(&name, replaced);
    wd.path(&name).to_string_lossy().into_owned()
}

#[test]
fn the_trial_mean_is_within_four_standard_errors_of_the_exact_expectation() {
    let wd = Workdir::new();
    let data = repo_file(SAMPLE).to_string_lossy().into_owned();
    for rho in ["0", "0.1"] {
        let policy = jd_plus_with_correlation(&wd, rho);
        let r = simulate_json(&[&policy, "--data", &data, "--trials", "2000", "--seed", "7"]);
        let p = &r["repayment"];
        assert_eq!(p["trials"], 2000);
        assert_eq!(p["seed"], 7);
        let (mean, se, exact) = (
            dec(&p["loss"]["mean"]),
            dec(&p["loss"]["se"]),
            dec(&p["expected_loss"]),
        );
        assert!(se > Decimal::ZERO);
        assert!(
            (mean - exact).abs() <= se * Decimal::from(4),
            "ρ {rho}: loss mean {mean} vs exact {exact} (se {se})"
        );
        let (mean, se, exact) = (
            dec(&p["revenue"]["mean"]),
            dec(&p["revenue"]["se"]),
            dec(&p["expected_revenue"]),
        );
        assert!(
            (mean - exact).abs() <= se * Decimal::from(4),
            "ρ {rho}: revenue mean {mean} vs exact {exact}"
        );
        let d = &p["defaults"];
        let se = d["sd"].as_f64().unwrap() / 2000f64.sqrt();
        let exact = p["expected_defaults"].as_f64().unwrap();
        assert!(
            (d["mean"].as_f64().unwrap() - exact).abs() <= 4.0 * se,
            "ρ {rho}: defaults {d} vs {exact}"
        );
        let b = &p["bureau_reported"];
        let se = b["sd"].as_f64().unwrap() / 2000f64.sqrt();
        let exact = p["expected_bureau_reported"].as_f64().unwrap();
        assert!(
            (b["mean"].as_f64().unwrap() - exact).abs() <= 4.0 * se,
            "ρ {rho}: bureau {b} vs {exact}"
        );
        // Percentiles in order; the expected shortfall beyond the VaR.
        let l = &p["loss"];
        let order: Vec<Decimal> = ["p5", "p50", "p95", "p99"]
            .iter()
            .map(|k| dec(&l[*k]))
            .collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{l}");
        assert_eq!(l["var99"], l["p99"]);
        assert!(dec(&l["es99"]) >= dec(&l["var99"]), "{l}");
        let bins: u64 = p["loss_histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["trials"].as_u64().unwrap())
            .sum();
        assert_eq!(bins, 2000);
    }
}

#[test]
fn correlation_widens_the_tail_at_the_same_seed() {
    let wd = Workdir::new();
    let data = repo_file(SAMPLE).to_string_lossy().into_owned();
    let p99 = |rho: &str| {
        let policy = jd_plus_with_correlation(&wd, rho);
        let r = simulate_json(&[&policy, "--data", &data, "--trials", "1000", "--seed", "3"]);
        (
            dec(&r["repayment"]["loss"]["p99"]),
            dec(&r["repayment"]["loss"]["sd"]),
        )
    };
    let (independent, sd0) = p99("0");
    let (correlated, sd1) = p99("0.1");
    assert!(
        correlated > independent,
        "p99 {correlated} with ρ 0.1, {independent} without"
    );
    assert!(
        sd1 > sd0 * Decimal::from(2),
        "sd {sd1} with ρ 0.1, {sd0} without"
    );
}

#[test]
fn the_same_seed_gives_the_same_json_at_any_thread_count() {
    let run = |threads: &str| {
        let args = [
            "simulate",
            JD_PLUS,
            "--data",
            SAMPLE,
            "--trials",
            "300",
            "--seed",
            "11",
            "--by",
            "city_tier",
            "--threads",
            threads,
            "--format",
            "json",
            "--quiet",
        ];
        succeeded(in_repo(&args), &args)
    };
    let one = run("1");
    assert_eq!(one, run("2"));
    assert_eq!(one, run("8"));
    let r: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(r["manifest"]["seed"], 11);
    // Another seed, other draws; the exact expectations stay.
    let args = [
        "simulate", JD_PLUS, "--data", SAMPLE, "--trials", "300", "--seed", "12", "--format",
        "json",
    ];
    let other: Value = serde_json::from_str(&succeeded(in_repo(&args), &args)).unwrap();
    assert_ne!(other["repayment"]["loss"], r["repayment"]["loss"]);
    assert_eq!(
        other["repayment"]["expected_loss"],
        r["repayment"]["expected_loss"]
    );
}

#[test]
fn a_user_draws_the_same_outcomes_wherever_the_row_sits() {
    // The sample's rows in reverse order: with a `key`, every trial's totals
    // are the same.
    let text = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    lines.reverse();
    let wd = Workdir::new();
    wd.write("shuffled.csv", format!("{header}\n{}\n", lines.join("\n")));
    let policy = repo_file(JD_PLUS).to_string_lossy().into_owned();
    let a = simulate_json(&[
        &policy,
        "--data",
        &repo_file(SAMPLE).to_string_lossy(),
        "--trials",
        "200",
    ]);
    let b = simulate_json(&[
        &policy,
        "--data",
        &wd.path("shuffled.csv").to_string_lossy(),
        "--trials",
        "200",
    ]);
    assert_eq!(a["repayment"], b["repayment"]);
    assert_ne!(a["manifest"]["data_sha256"], b["manifest"]["data_sha256"]);
}

#[test]
fn expected_outcome_counts_match_an_independent_computation() {
    // jd_plus's bands and probabilities, applied by hand to the sample.
    let mut r = csv::Reader::from_path(repo_file(SAMPLE)).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (score, plus, real, overdue, age) = (
        col("zhima_score"),
        col("is_plus_member"),
        col("real_name_verified"),
        col("overdue_count_12m"),
        col("age"),
    );
    let d = |s: &str| Decimal::from_str(s).unwrap();
    let mut sums = [Decimal::ZERO; 5];
    let mut bureau = Decimal::ZERO;
    for rec in r.records() {
        let rec = rec.unwrap();
        let Ok(s) = rec[score].parse::<i64>() else {
            continue;
        };
        let ok = &rec[real] == "true"
            && &rec[plus] == "true"
            && s >= 600
            && &rec[overdue] == "0"
            && rec[age].parse::<i64>().unwrap() >= 18;
        if !ok {
            continue;
        }
        let [returned, early, late, default] = if s >= 750 {
            ["0.06", "0.30", "0.045", "0.0035"]
        } else if s >= 650 {
            ["0.055", "0.235", "0.078", "0.0083"]
        } else {
            ["0.068", "0.178", "0.134", "0.024"]
        }
        .map(d);
        let on_time = Decimal::ONE - returned - early - late - default;
        for (sum, p) in sums
            .iter_mut()
            .zip([returned, early, on_time, late, default])
        {
            *sum += p;
        }
        // Late past 14 days: the `15-30` bucket, 30 %; and every default.
        bureau += late * d("0.30") + default;
    }
    let p = &simulate_json(&[JD_PLUS, "--data", SAMPLE])["repayment"];
    for (name, sum) in ["returned", "early", "on_time", "late", "default"]
        .iter()
        .zip(sums)
    {
        let got = p["expected_outcomes"][name].as_f64().unwrap();
        assert!(
            (got - sum.to_string().parse::<f64>().unwrap()).abs() < 1e-6,
            "{name}: {got} vs {sum}"
        );
    }
    let got = p["expected_bureau_reported"].as_f64().unwrap();
    assert!(
        (got - bureau.to_string().parse::<f64>().unwrap()).abs() < 1e-6,
        "bureau {got} vs {bureau}"
    );
    let late: f64 = p["late_days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["expected"].as_f64().unwrap())
        .sum();
    assert!((late - sums[3].to_string().parse::<f64>().unwrap()).abs() < 1e-6);
}

/// A one-band model with default probability `p` over rows of which
/// `bads` of `rows` defaulted.
fn calibration_case(wd: &Workdir, p: &str, rows: usize, bads: usize) -> Value {
    wd.write(
        "m.yaml",
        format!(
            "policy: m\nkey: id\nfields: {{ id: string, amount: decimal, bad: bool }}\nrules: []\nrepayment:\n  exposure: amount\n  outcomes:\n    - p: {{ default: {p} }}\nobserved:\n  bad: {{ bad: true }}\n"
        ),
    );
    let body: String = (0..rows)
        .map(|i| format!("u{i},100.00,{}\n", i < bads))
        .collect();
    wd.write("m.csv", format!("id,amount,bad\n{body}"));
    wd.json(&["simulate", "m.yaml", "--data", "m.csv"])
}

#[test]
fn the_backtest_tells_a_miscalibrated_model() {
    let wd = Workdir::new();
    // 2,000 rows, 1 % expected: 20 ± 4.4.
    let good = calibration_case(&wd, "0.01", 2000, 22);
    let optimistic = calibration_case(&wd, "0.01", 2000, 60);
    let pessimistic = calibration_case(&wd, "0.01", 2000, 3);
    for (r, verdict) in [
        (&good, "within noise"),
        (&optimistic, "model too optimistic"),
        (&pessimistic, "model too pessimistic"),
    ] {
        let c = &r["repayment"]["calibration"];
        assert_eq!(c["verdict"], verdict, "{c}");
        assert_eq!(c["expected_defaults"], 20.0);
        assert_eq!(
            r["repayment"]["bands"][0]["calibration"]["verdict"],
            verdict
        );
    }
    let z = optimistic["repayment"]["calibration"]["z"]
        .as_f64()
        .unwrap();
    // (60 − 20) / √(2000 × 0.01 × 0.99)
    assert!((z - 40.0 / (19.8f64).sqrt()).abs() < 1e-9, "{z}");
    let text = wd.stdout(&["simulate", "m.yaml", "--data", "m.csv", "--format", "table"]);
    assert_contains(
        &text,
        &["Repayment by outcome band", "model too pessimistic"],
    );
}

#[test]
fn observed_outcomes_are_shown_beside_the_model() {
    let r = simulate_json(&["policies/zhima_600.yaml", "--data", SAMPLE]);
    let bands = r["repayment"]["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 2);
    for b in bands {
        let o = &b["observed_outcomes"];
        assert_eq!(u(&o["known"]) + u(&o["unknown"]), u(&b["approved"]));
        let shares: f64 = ["returned", "early", "on_time", "late", "default"]
            .iter()
            .map(|k| o["observed"][k].as_f64().unwrap())
            .sum();
        assert!((shares - 1.0).abs() < 1e-9);
        // The bundled model is calibrated on the sample.
        assert_eq!(b["calibration"]["verdict"], "within noise", "{b}");
    }
}

#[test]
fn a_cell_that_names_no_outcome_is_an_error_with_its_line() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nfields: { amount: decimal, bad: bool, outcome: string }\nrules: []\nrepayment:\n  exposure: amount\n  outcomes:\n    - p: { default: 0.01 }\nobserved:\n  bad: { bad: true }\n  outcome: outcome\n",
    );
    wd.write(
        "d.csv",
        "amount,bad,outcome\n1.00,false,early\n2.00,false,\n3.00,true,paid\n",
    );
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &["`outcome` (`observed.outcome`) is `paid` on d.csv line 4: not an outcome"],
    );
    assert_contains(
        &err,
        &["help: its cells must be one of returned, early, on_time, late, default"],
    );
}

#[test]
fn lifecycle_keys_are_checked_at_load() {
    let wd = Workdir::new();
    let policy = |extra: &str| {
        format!(
            "policy: p\nparams: {{ grace: 10 }}\nfields: {{ amount: decimal, n: int }}\nrules: []\nrepayment:\n  exposure: amount\n  outcomes:\n    - p: {{ default: 0.01, late: 0.1 }}\n{extra}"
        )
    };
    for (extra, message) in [
        (
            "  late_days: { \"1-30\": 0.7, \"31-60\": 0.2 }\n",
            "`late_days` shares add up to 0.9, not 1",
        ),
        (
            "  late_days: { \"1-30\": 0.7, \"20-60\": 0.3 }\n",
            "`late_days` bucket `20-60` does not come after `1-30`",
        ),
        (
            "  late_days: { \"soon\": 1 }\n",
            "`late_days` bucket `soon` is not a range of days past due",
        ),
        (
            "  late_days: { \"1-30\": 0.7, \"31+\": 0.3 }\n  bureau_after_days: 40\n",
            "`bureau_after_days: 40` falls inside the `late_days` bucket `31+`",
        ),
        (
            "  bureau_after_days: 30\n",
            "`bureau_after_days` needs `late_days`",
        ),
        (
            "  late_days: { \"1-30\": 1 }\n  bureau_after_days: 1.5\n",
            "`bureau_after_days` must be a whole number of days, not `1.5`",
        ),
        ("  correlation: 1\n", "`correlation` must be below 1"),
        (
            "  correlation: -0.1\n",
            "`correlation` must be between 0 and 1, not `-0.1`",
        ),
        (
            "observed:\n  bad: { n: 1 }\n  outcome: n\n",
            "`observed.outcome` field `n` is an int, not a string",
        ),
    ] {
        wd.write("p.yaml", policy(extra));
        let err = wd.fails(&["check", "p.yaml"], 1);
        assert_contains(&err, &[message, "p.yaml:"]);
    }
    // A grace period given as a parameter, on a bucket edge.
    wd.write(
        "p.yaml",
        policy("  late_days: { \"1-10\": 0.5, \"11+\": 0.5 }\n  bureau_after_days: $grace\n"),
    );
    succeeded(wd.output(&["check", "p.yaml"]), &["check"]);
}

#[test]
fn trials_are_refused_where_they_cannot_run() {
    let err = failed(
        in_repo(&["simulate", JD_PLUS, "--data", SAMPLE, "--trials", "0"]),
        &["trials"],
        2,
    );
    assert_contains(&err, &["`--trials 0` is not between 1 and 100000"]);
    let err = failed(
        in_repo(&[
            "simulate",
            "tests/fixtures/zhima_600_limit_exposure.yaml",
            "--data",
            SAMPLE,
            "--trials",
            "10",
        ]),
        &["trials"],
        2,
    );
    assert_contains(&err, &["has no `repayment` model"]);
    let err = failed(
        in_repo(&["simulate", JD_PLUS, "--data", SAMPLE, "--seed", "3"]),
        &["seed"],
        2,
    );
    assert_contains(&err, &["--trials"]);
}

#[test]
fn the_table_shows_the_distribution_and_a_histogram() {
    let args = [
        "simulate", JD_PLUS, "--data", SAMPLE, "--trials", "500", "--format", "table",
    ];
    let text = succeeded(in_repo(&args), &args);
    assert_contains(
        &text,
        &[
            "Monte Carlo: 500 trials, seed 42, correlation 0.05",
            "reported to bureau",
            "VaR99",
            "ES99 ",
            "trial losses",
            "█",
            "Late payments by days past due (expected)",
        ],
    );
}

#[test]
fn each_segment_has_the_expectations_of_the_whole_and_they_add_up() {
    let r = simulate_json(&[JD_PLUS, "--data", SAMPLE, "--by", "city_tier"]);
    let p = &r["repayment"];
    let segments = r["segments"]["city_tier"].as_array().unwrap();
    let mut loss = Decimal::ZERO;
    let mut counts = [0.0f64; 5];
    let (mut defaults, mut bureau) = (0.0, 0.0);
    for s in segments {
        let e = &s["repayment"];
        loss += dec(&e["expected_loss"]);
        defaults += e["expected_defaults"].as_f64().unwrap();
        bureau += e["expected_bureau_reported"].as_f64().unwrap();
        for (c, k) in counts
            .iter_mut()
            .zip(["returned", "early", "on_time", "late", "default"])
        {
            *c += e["expected_outcomes"][k].as_f64().unwrap();
        }
        assert!(s["calibration"]["verdict"].is_string(), "{s}");
    }
    // Cents are rounded per segment: within a cent a segment of the total.
    let total = dec(&p["expected_loss"]);
    assert!(
        (loss - total).abs() <= Decimal::new(segments.len() as i64, 2),
        "{loss} vs {total}"
    );
    assert!((defaults - p["expected_defaults"].as_f64().unwrap()).abs() < 1e-6);
    assert!((bureau - p["expected_bureau_reported"].as_f64().unwrap()).abs() < 1e-6);
    for (c, k) in counts
        .iter()
        .zip(["returned", "early", "on_time", "late", "default"])
    {
        assert!(
            (c - p["expected_outcomes"][k].as_f64().unwrap()).abs() < 1e-6,
            "{k}"
        );
    }
}

#[test]
fn the_csv_report_has_the_same_figures_as_the_json() {
    let json = simulate_json(&[JD_PLUS, "--data", SAMPLE, "--trials", "200"]);
    let args = [
        "simulate", JD_PLUS, "--data", SAMPLE, "--trials", "200", "--format", "csv",
    ];
    let csv = succeeded(in_repo(&args), &args);
    let p = &json["repayment"];
    for (line, value) in [
        (
            "repayment.trials,loss,var99,",
            p["loss"]["var99"].as_str().unwrap().to_owned(),
        ),
        (
            "repayment.trials,loss,es99,",
            p["loss"]["es99"].as_str().unwrap().to_owned(),
        ),
        (
            "repayment.trials,defaults,p99,",
            p["defaults"]["p99"].to_string(),
        ),
        (
            "repayment_band,2,calibration,",
            p["bands"][1]["calibration"]["verdict"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        (
            "late_days,15-30,expected,",
            p["late_days"][2]["expected"].to_string(),
        ),
    ] {
        assert_contains(&csv, &[&format!("{line}{value}\n")]);
    }
}
