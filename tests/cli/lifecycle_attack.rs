//! The repayment lifecycle and the Monte Carlo of `simulate --trials`, as an
//! adversarial user and a new one try them: formats that must carry the
//! trials, backtests with nothing to test, and the wording of errors.

use super::*;

/// Two outcome bands (a score of 700 or more, and the rest), late days and a
/// bureau grace period, and both kinds of observation.
const POLICY: &str = "policy: p\nversion: 1\nkey: id\nfields:\n  id: string\n  score: int\n  amount: decimal\n  bad: bool\n  outcome: string\nrules:\n  - id: min_score\n    reason: LOW\n    when: { score: { gte: $min } }\nparams:\n  min: 600\nrepayment:\n  exposure: amount\n  outcomes:\n    - when: { score: { gte: 700 } }\n      p: { returned: 0.05, early: 0.2, late: 0.1, default: 0.01 }\n    - p: { returned: 0.05, early: 0.2, late: 0.1, default: 0.05 }\n  late_days: { \"1-7\": 0.5, \"8-30\": 0.5 }\n  bureau_after_days: 7\n  correlation: 0.05\n  loss_given_default: 0.9\n  merchant_fee_rate: 0.01\n  late_fee: 5\nobserved:\n  bad: { bad: true }\n  outcome: outcome\n";

const DATA: &str = "id,score,amount,bad,outcome\na,650,100.00,false,on_time\nb,660,200.00,true,default\nc,610,300.00,false,late\nd,550,400.00,false,\ne,640,50.00,false,early\n";

fn workdir(policy: &str) -> Workdir {
    let wd = Workdir::new();
    wd.write("p.yaml", policy).write("d.csv", DATA);
    wd
}

#[test]
fn csv_carries_the_monte_carlo_of_trials() {
    let wd = workdir(POLICY);
    let args = [
        "simulate", "p.yaml", "--data", "d.csv", "--trials", "200", "--seed", "7",
    ];
    let r = wd.json(&args);
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = wd.stdout(&csv_args);
    let trials = &r["repayment"];
    let line = |item: &str, metric: &str, value: &str| {
        format!("repayment.trials,{item},{metric},{value}\n")
    };
    assert_contains(
        &csv,
        &[
            &line("", "trials", "200"),
            &line("", "seed", "7"),
            &line("", "correlation", "0.05"),
            &line("loss", "mean", trials["loss"]["mean"].as_str().unwrap()),
            &line("loss", "var99", trials["loss"]["var99"].as_str().unwrap()),
            &line("loss", "es99", trials["loss"]["es99"].as_str().unwrap()),
            &line("revenue", "p50", trials["revenue"]["p50"].as_str().unwrap()),
            &line("defaults", "p99", &trials["defaults"]["p99"].to_string()),
            &line(
                "bureau_reported",
                "p5",
                &trials["bureau_reported"]["p5"].to_string(),
            ),
            "repayment.loss_histogram,1,from,",
        ],
    );
    let bins: u64 = csv
        .lines()
        .filter(|l| l.starts_with("repayment.loss_histogram,") && l.contains(",trials,"))
        .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(bins, 200, "every trial is in one histogram bin:\n{csv}");
    // Without --trials the CSV has no such rows.
    let plain = wd.stdout(&["simulate", "p.yaml", "--data", "d.csv", "--format", "csv"]);
    assert!(!plain.contains("repayment.trials"), "{plain}");
}

#[test]
fn a_band_without_approved_rows_has_no_calibration_verdict() {
    // No approved row scores 700 or more: band 1 has nothing to test.
    let wd = workdir(POLICY);
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv"]);
    let bands = r["repayment"]["bands"].as_array().unwrap();
    assert_eq!(u(&bands[0]["approved"]), 0);
    assert_eq!(bands[0].get("calibration"), None, "{:#}", bands[0]);
    assert_eq!(bands[1]["calibration"]["observed_bads"], 1);
    let table = wd.stdout(&["simulate", "p.yaml", "--data", "d.csv", "--format", "table"]);
    let band1 = table
        .lines()
        .find(|l| l.starts_with("│ 1 "))
        .unwrap_or_else(|| panic!("no band 1 row:\n{table}"));
    assert!(band1.contains("n/a"), "{band1}");
    assert!(!band1.contains("within noise"), "{band1}");

    // No approved row at all: neither the bands nor the whole are tested.
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv", "--set", "min=900"]);
    assert_eq!(
        r["repayment"].get("calibration"),
        None,
        "{:#}",
        r["repayment"]
    );
    for b in r["repayment"]["bands"].as_array().unwrap() {
        assert_eq!(b.get("calibration"), None, "{b:#}");
    }
    let table = wd.stdout(&[
        "simulate", "p.yaml", "--data", "d.csv", "--set", "min=900", "--format", "table",
    ]);
    assert!(!table.contains("within noise"), "{table}");
}

#[test]
fn trials_too_large_for_a_number_say_the_range() {
    let wd = workdir(POLICY);
    let err = wd.fails(
        &[
            "simulate",
            "p.yaml",
            "--data",
            "d.csv",
            "--trials",
            "99999999999999",
        ],
        2,
    );
    assert_contains(&err, &["--trials", "not between 1 and 100000"]);
    assert!(!err.contains("4294967295"), "{err}");
    let err = wd.fails(
        &["simulate", "p.yaml", "--data", "d.csv", "--trials", "1e3"],
        2,
    );
    assert_contains(&err, &["`1e3` is not a number of trials"]);
}

#[test]
fn a_derived_observed_outcome_is_named_in_its_error() {
    let policy = POLICY
        .replace(
            "rules:",
            "derive:\n  oc: { expr: \"if outcome == \\\"late\\\" { \\\"LATE\\\" } else { outcome }\", type: string }\nrules:",
        )
        .replace("  outcome: outcome\n", "  outcome: oc\n");
    let wd = workdir(&policy);
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &["`oc` (`observed.outcome`) is `LATE` on d.csv line 4 (id `c`)"],
    );
}

#[test]
fn an_int_observed_outcome_field_is_an_int() {
    let wd = workdir(&POLICY.replace("  outcome: outcome\n", "  outcome: score\n"));
    let err = wd.fails(&["check", "p.yaml"], 1);
    assert_contains(
        &err,
        &[
            "`observed.outcome` field `score` is an int, not a string",
            "p.yaml:30:12",
        ],
    );
}

#[test]
fn trials_on_a_bare_rhai_script_say_how_to_give_it_a_model() {
    let wd = workdir(POLICY);
    wd.write(
        "s.rhai",
        "fn decide(user) { if user.score >= 600 { approve() } else { decline(\"LOW\") } }\n",
    );
    let err = wd.fails(
        &["simulate", "s.rhai", "--data", "d.csv", "--trials", "10"],
        2,
    );
    assert_contains(
        &err,
        &[
            "`s.rhai` has no `repayment` model",
            "write a YAML policy with `script: s.rhai` and a `repayment:` section",
        ],
    );
}

#[test]
fn correlation_and_late_days_share_errors_say_what_they_are() {
    let wd = workdir(&POLICY.replace("correlation: 0.05", "correlation: -0.1"));
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "`correlation` must be between 0 and 1, not `-0.1`",
            "p.yaml:24:16",
            "help: ",
        ],
    );
    assert!(!err.contains("not a probability"), "{err}");
    let wd = workdir(&POLICY.replace("\"1-7\": 0.5", "\"1-7\": half"));
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &err,
        &[
            "the `late_days` share of `1-7` must be between 0 and 1, not `half`",
            "p.yaml:22:23",
        ],
    );
}

#[test]
fn observed_outcome_without_a_repayment_model_is_a_warning() {
    let start = POLICY.find("repayment:").unwrap();
    let end = POLICY.find("observed:").unwrap();
    let policy = format!("{}{}", &POLICY[..start], &POLICY[end..]);
    let wd = workdir(&policy);
    let out = wd.stdout(&["check", "p.yaml"]);
    assert_contains(
        &out,
        &["warning: p.yaml:18:12: `observed.outcome` does nothing without a `repayment` model"],
    );
    wd.fails(&["check", "p.yaml", "--deny-warnings"], 1);
}

#[test]
fn one_trial_claims_no_standard_error() {
    let wd = workdir(POLICY);
    let table = wd.stdout(&[
        "simulate", "p.yaml", "--data", "d.csv", "--trials", "1", "--format", "table",
    ]);
    assert_contains(
        &table,
        &[
            "Monte Carlo: 1 trial, seed 42",
            "(one trial: no standard error)",
        ],
    );
    assert!(!table.contains("± 0.00"), "{table}");
    let table = wd.stdout(&[
        "simulate", "p.yaml", "--data", "d.csv", "--trials", "2", "--format", "table",
    ]);
    assert_contains(
        &table,
        &[
            "Monte Carlo: 2 trials",
            "(standard error) against the exact",
        ],
    );
}

#[test]
fn rows_with_an_unknown_observed_bad_are_left_out_of_the_backtest() {
    // 100 approved rows of band 2 (p(default) 0.05): 2 bads, 38 goods, and
    // 60 whose outcome is not known yet (an empty `bad` cell).
    let mut data = String::from("id,score,amount,bad,outcome,city\n");
    for i in 0..100 {
        let bad = match i {
            0..2 => "true",
            2..40 => "false",
            _ => "",
        };
        let city = if i % 2 == 0 { "x" } else { "y" };
        data.push_str(&format!("r{i},650,10.00,{bad},,{city}\n"));
    }
    let wd = Workdir::new();
    wd.write("p.yaml", POLICY).write("d.csv", &data);
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv", "--by", "city"]);
    let p = &r["repayment"];
    // The model's expectation is over every approved row ...
    assert_close(&p["expected_defaults"], 5.0);
    // ... its backtest over the 40 whose outcome is known: 2 expected, 2 seen.
    for c in [&p["calibration"], &p["bands"][1]["calibration"]] {
        assert_close(&c["expected_defaults"], 2.0);
        assert_eq!(c["observed_bads"], 2);
        assert_close(&c["z"], 0.0);
        assert_eq!(c["verdict"], "within noise");
    }
    // Per segment too: `x` holds one bad and 20 known rows (1 expected).
    let x = &r["segments"]["city"][0];
    assert_eq!(x["value"], "x");
    assert_close(&x["calibration"]["expected_defaults"], 1.0);
    assert_eq!(x["calibration"]["observed_bads"], 1);

    // No known outcome at all: nothing to test.
    let data = data.replace(",true,", ",,").replace(",false,", ",,");
    wd.write("d.csv", &data);
    let r = wd.json(&["simulate", "p.yaml", "--data", "d.csv"]);
    assert_eq!(
        r["repayment"].get("calibration"),
        None,
        "{:#}",
        r["repayment"]
    );
}
