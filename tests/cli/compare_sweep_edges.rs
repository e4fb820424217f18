//! Bad and awkward input to `polsim compare` and `polsim sweep`: every
//! mistake is exit 2 with a message naming what the user typed and a help
//! line, never a panic, a silently missing figure or a wrong number.

use super::*;

const SAMPLE: &str = "datasets/sample.csv";
const JD_PLUS: &str = "policies/jd_plus.yaml";

/// `polsim ARGS...` from the repository root, expected to fail with exit 2.
fn usage_error(args: &[&str]) -> String {
    let err = failed(in_repo(args), args, 2);
    assert!(err.contains("help: "), "no help line:\n{err}");
    err
}

/// `polsim ARGS...` from the repository root, expected to succeed.
fn ok(args: &[&str]) -> String {
    succeeded(in_repo(args), args)
}

#[test]
fn a_range_wider_than_a_decimal_is_too_many_points_not_a_panic() {
    let max = "79228162514264337593543950335";
    for spec in [
        format!("min_score=0..{max}:0.1"),
        format!("min_score=-{max}..{max}:1e28"),
    ] {
        let err = usage_error(&["sweep", JD_PLUS, "--data", SAMPLE, "--param", &spec]);
        assert_contains(
            &err,
            &[&format!("`--param {spec}` makes more than 1000 points")],
        );
    }
}

#[test]
fn a_marginal_bad_rate_of_nothing_added_is_zero_not_minus_zero() {
    // 850 -> 900 removes 31 approvals and no bads: (0 - 0) / (0 - 31).
    let args = [
        "sweep",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--param",
        "min_score=850,900",
    ];
    let mut table = args.to_vec();
    table.extend(["--format", "table"]);
    let text = ok(&table);
    assert!(!text.contains("-0.00%"), "{text}");
    assert_contains(&text, &["0.00%"]);
    let mut json = args.to_vec();
    json.extend(["--format", "json"]);
    let text = ok(&json);
    assert!(!text.contains("-0.0"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["points"][1]["marginal_bad_rate"], 0.0);
}

#[test]
fn compare_shows_the_bad_rate_row_when_the_challenger_approves_nobody() {
    let args = [
        "compare",
        JD_PLUS,
        "--challenger-set",
        "min_score=2000",
        "--data",
        SAMPLE,
        "--by",
        "city_tier",
        "--format",
        "table",
    ];
    let text = ok(&args);
    let row = text
        .lines()
        .find(|l| l.contains("observed bad rate"))
        .unwrap_or_else(|| panic!("no observed bad rate row:\n{text}"));
    assert_contains(row, &["0.94%", "n/a"]);
    let by = &text[text.find("Deltas by city_tier").expect("segment table")..];
    assert_contains(by, &["bad rate"]);
}

#[test]
fn compare_shows_the_loss_of_the_side_that_has_a_repayment_model() {
    let args = [
        "compare",
        JD_PLUS,
        "tests/fixtures/zhima_600_limit_exposure.yaml",
        "--data",
        SAMPLE,
        "--format",
        "table",
    ];
    let text = ok(&args);
    let deltas = &text[text.find("Deltas (challenger").expect("deltas")..];
    let row = deltas
        .lines()
        .find(|l| l.contains("expected loss"))
        .unwrap_or_else(|| panic!("no expected loss row:\n{text}"));
    assert_contains(row, &["19,191.31", "n/a"]);
    // The swap set says n/a for the side without a model, not a blank.
    let both = text
        .lines()
        .find(|l| l.contains("approved by both"))
        .unwrap();
    let cells: Vec<&str> = both.split('┆').map(str::trim).collect();
    assert!(cells.iter().all(|c| !c.is_empty()), "{both}");
}

#[test]
fn compare_says_when_the_two_exposures_are_not_the_same_measure() {
    let args = [
        "compare",
        JD_PLUS,
        "tests/fixtures/zhima_600_limit_exposure.yaml",
        "--data",
        SAMPLE,
        "--format",
        "table",
    ];
    let text = ok(&args);
    assert_contains(&text, &["`order_amount`", "credit limits"]);
    // The same measure on both sides: no note.
    let same = ok(&[
        "compare",
        JD_PLUS,
        "--challenger-set",
        "min_score=620",
        "--data",
        SAMPLE,
        "--format",
        "table",
    ]);
    assert!(!same.contains("credit limits"), "{same}");
}

#[test]
fn challenger_set_mistakes_name_challenger_set() {
    let err = usage_error(&[
        "compare",
        JD_PLUS,
        "--challenger-set",
        "min_score=620",
        "--challenger-set",
        "min_score=640",
        "--data",
        SAMPLE,
    ]);
    assert_contains(&err, &["`--challenger-set min_score` is given twice"]);
    assert!(!err.contains("--set min_score"), "{err}");
    let err = usage_error(&[
        "compare",
        JD_PLUS,
        "tests/fixtures/zhima_600_limit_exposure.yaml",
        "--challenger-set",
        "min_age=30",
        "--data",
        SAMPLE,
    ]);
    assert_contains(&err, &["`--challenger-set min_age=...`", "zhima-600"]);
    assert!(!err.contains("`--set"), "{err}");
    let err = usage_error(&[
        "compare",
        "tests/fixtures/zhima_600_limit_exposure.yaml",
        JD_PLUS,
        "--set",
        "min_age=30",
        "--data",
        SAMPLE,
    ]);
    assert_contains(&err, &["--challenger-set min_age=30"]);
}

#[test]
fn a_swept_value_of_the_wrong_type_names_the_param_flag() {
    for (spec, bad) in [
        ("min_score=abc,600", "`--param min_score=abc`"),
        ("min_score=600.5,620", "`--param min_score=600.5`"),
    ] {
        let err = usage_error(&["sweep", JD_PLUS, "--data", SAMPLE, "--param", spec]);
        assert_contains(&err, &[bad]);
        assert!(!err.contains("--set"), "{err}");
    }
}

#[test]
fn plot_onto_an_input_or_a_directory_names_the_plot_flag() {
    let w = Workdir::new();
    std::fs::copy(repo_file(SAMPLE), w.path("d.csv")).unwrap();
    std::fs::create_dir(w.path("dir")).unwrap();
    let policy = repo_file(JD_PLUS);
    let policy = policy.to_str().unwrap();
    for target in ["d.csv", "dir"] {
        let args = [
            "sweep",
            policy,
            "--data",
            "d.csv",
            "--param",
            "min_score=600,620",
            "--plot",
            target,
        ];
        let err = w.fails(&args, 2);
        assert_contains(&err, &[&format!("`--plot {target}`"), "help: "]);
        assert!(!err.contains("-o "), "{err}");
    }
    assert_eq!(
        std::fs::read(w.path("d.csv")).unwrap(),
        std::fs::read(repo_file(SAMPLE)).unwrap()
    );
}

#[test]
fn sweep_lists_the_skipped_rows_like_simulate() {
    let w = Workdir::new();
    let sample = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    let mut data: String = sample.lines().take(50).map(|l| format!("{l}\n")).collect();
    data.push_str("u9,abc,true,true,0,0,1,2,3,30,3,rental,on_time,0,false\n");
    w.write("d.csv", data);
    let policy = repo_file(JD_PLUS);
    let args = [
        "sweep",
        policy.to_str().unwrap(),
        "--data",
        "d.csv",
        "--param",
        "min_score=600,620",
        "--skip-bad-rows",
        "--format",
        "json",
    ];
    let out = w.output(&args);
    assert!(out.status.success(), "{}", show(&out));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_contains(&err, &["skipped 1 malformed row(s)", "d.csv:51:", "`abc`"]);
}

#[test]
fn a_range_with_a_decimal_step_sweeps_an_int_param_at_whole_values() {
    let v: Value = serde_json::from_str(&ok(&[
        "sweep",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--param",
        "min_score=600..620:10.0",
        "--format",
        "json",
    ]))
    .unwrap();
    let values: Vec<&Value> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["params"]["min_score"])
        .collect();
    assert_eq!(values, [600, 610, 620]);
    let sim: Value = serde_json::from_str(&ok(&[
        "simulate",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--set",
        "min_score=610",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["points"][1]["approved"], sim["approved"]);
}

#[test]
fn sweep_tables_show_values_as_the_json_does() {
    let text = ok(&[
        "sweep",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--param",
        "min_score=0600,+620",
        "--format",
        "table",
    ]);
    assert_contains(&text, &["│ 600 (current) ", "│ 620 "]);
    assert!(!text.contains("0600") && !text.contains("+620"), "{text}");
    let csv = ok(&[
        "sweep",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--param",
        "min_score=0600,+620",
        "--format",
        "csv",
    ]);
    assert_contains(&csv, &["\n600,approved,", "\n620,approved,"]);
}

#[test]
fn a_two_param_sweep_says_the_marginal_bad_rate_runs_along_the_last_param() {
    let text = ok(&[
        "sweep",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--param",
        "min_score=600,620",
        "--param",
        "min_age=18,21",
        "--format",
        "table",
    ]);
    assert_contains(&text, &["along `min_age`", "each `min_score`"]);
}

#[test]
fn the_chart_keeps_the_count_of_undrawn_points_it_cannot_name() {
    // 900..990 approve nobody: ten points without a bad rate.
    let w = Workdir::new();
    let policy = repo_file(JD_PLUS);
    let data = repo_file(SAMPLE);
    let args = [
        "sweep",
        policy.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--param",
        "min_score=0..990:10",
        "--plot",
        "c.svg",
        "--format",
        "json",
    ];
    w.stdout(&args);
    let svg = w.read("c.svg");
    let note = svg
        .lines()
        .find(|l| l.contains("Not drawn"))
        .unwrap_or_else(|| panic!("no note of the undrawn points:\n{svg}"));
    assert!(note.contains(" more</text>"), "{note}");
    assert!(!note.contains('…'), "{note}");
}

#[test]
fn a_chart_the_policy_cannot_draw_is_refused_before_the_data_is_read() {
    // The data is bad too: the chart's mistake is found without a pass.
    let w = Workdir::new();
    w.write(
        "p.yaml",
        "policy: p\nversion: 1\nparams:\n  min_score: 600\nfields:\n  zhima_score: int\n\
         rules:\n  - id: min_score\n    reason: LOW\n    when: { zhima_score: { gte: $min_score } }\n",
    );
    w.write("d.csv", "zhima_score\n650\nabc\n");
    for (y, says) in [
        ("bad-rate", "has no `observed`"),
        ("loss", "has no `repayment`"),
    ] {
        let err = w.fails(
            &[
                "sweep",
                "p.yaml",
                "--data",
                "d.csv",
                "--param",
                "min_score=600,620",
                "--plot",
                "c.svg",
                "--plot-y",
                y,
            ],
            2,
        );
        assert_contains(&err, &[says, "help: "]);
        assert!(!err.contains("abc"), "{err}");
    }
    assert!(!w.files().contains(&"c.svg".to_owned()));
}

#[test]
fn a_sweep_that_moves_users_to_review_shows_the_review_count() {
    let text = ok(&[
        "sweep",
        "policies/merchant_review.yaml",
        "--data",
        SAMPLE,
        "--param",
        "thin_file_months=0,6",
        "--format",
        "table",
    ]);
    let sim: Value = serde_json::from_str(&ok(&[
        "simulate",
        "policies/merchant_review.yaml",
        "--data",
        SAMPLE,
        "--format",
        "json",
    ]))
    .unwrap();
    let review = sim["review"].as_u64().unwrap();
    let grouped = {
        let s = review.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let header: Vec<&str> = text
        .lines()
        .find(|l| l.contains("approval rate"))
        .unwrap()
        .split('┆')
        .map(|c| c.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .collect();
    let at = header
        .iter()
        .position(|c| *c == "review")
        .unwrap_or_else(|| panic!("no review column:\n{text}"));
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.contains("6 (current)"))
        .unwrap()
        .split('┆')
        .map(|c| c.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .collect();
    assert_eq!(row[at], grouped, "{text}");
    // A policy that reviews nobody keeps the table as it was.
    let jd = ok(&[
        "sweep",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--param",
        "min_score=600,620",
        "--format",
        "table",
    ]);
    assert!(!jd.contains("review"), "{jd}");
}

#[test]
fn the_approval_rate_delta_is_the_change_in_approvals_over_the_rows() {
    // 4,763 approved at 600, 4,553 at 620, of 20,000 rows: -210 / 20,000.
    let text = ok(&[
        "compare",
        JD_PLUS,
        "--challenger-set",
        "min_score=620",
        "--data",
        SAMPLE,
        "--by",
        "city_tier",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["deltas"]["approval_rate"].as_f64(),
        Some(-210.0 / 20000.0)
    );
    assert!(text.contains("\"approval_rate\": -0.0105,"), "{text}");
}

#[test]
fn a_range_with_three_dots_or_too_many_digits_says_so() {
    let err = usage_error(&[
        "sweep",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--param",
        "min_score=600...700:10",
    ]);
    assert_contains(&err, &["two dots"]);
    assert!(!err.contains("starts after it ends"), "{err}");
    let err = usage_error(&[
        "sweep",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--param",
        "min_score=600..700:1e40",
    ]);
    assert_contains(&err, &["`1e40` has more digits"]);
}

#[test]
fn a_challenger_set_value_of_the_wrong_type_names_challenger_set() {
    for (value, says) in [
        ("min_score=abc", "`--challenger-set min_score=abc`"),
        ("min_score=600.5", "`--challenger-set min_score=600.5`"),
    ] {
        let err = usage_error(&[
            "compare",
            JD_PLUS,
            "--challenger-set",
            value,
            "--data",
            SAMPLE,
        ]);
        assert_contains(&err, &[says]);
        assert!(!err.contains("`--set"), "{err}");
    }
}

#[test]
fn a_two_param_chart_says_what_its_lines_and_labels_are() {
    let w = Workdir::new();
    let policy = repo_file(JD_PLUS);
    let data = repo_file(SAMPLE);
    w.stdout(&[
        "sweep",
        policy.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--param",
        "min_score=600,620",
        "--param",
        "min_age=18,21",
        "--plot",
        "c.svg",
        "--format",
        "json",
    ]);
    let svg = w.read("c.svg");
    assert_contains(
        &svg,
        &["a line per min_score, points labelled with min_age"],
    );
}

#[test]
fn compare_segment_tables_say_how_many_rows_each_segment_holds() {
    let args = [
        "compare",
        JD_PLUS,
        "--challenger-set",
        "min_score=620",
        "--data",
        SAMPLE,
        "--by",
        "city_tier",
    ];
    let mut json = args.to_vec();
    json.extend(["--format", "json"]);
    let v: Value = serde_json::from_str(&ok(&json)).unwrap();
    let tier1 = v["champion"]["segments"]["city_tier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["value"] == "1")
        .unwrap()["rows"]
        .as_u64()
        .unwrap();
    let mut table = args.to_vec();
    table.extend(["--format", "table"]);
    let text = ok(&table);
    let by = &text[text.find("Deltas by city_tier").unwrap()..];
    assert_contains(by, &["┆  rows ┆"]);
    let row = by.lines().find(|l| l.starts_with("│ 1 ")).unwrap();
    let cells: Vec<&str> = row.split('┆').map(str::trim).collect();
    assert_eq!(
        cells[1],
        format!("{},{:03}", tier1 / 1000, tier1 % 1000),
        "{row}"
    );
}

#[test]
fn rows_approved_by_both_under_the_same_money_model_show_the_same_cents() {
    let v: Value = serde_json::from_str(&ok(&[
        "compare",
        "policies/merchant_review.yaml",
        "--challenger-set",
        "thin_file_months=3",
        "--challenger-set",
        "max_order=2000",
        "--data",
        SAMPLE,
        "--format",
        "json",
    ]))
    .unwrap();
    let both = &v["swap"]["both"];
    for money in ["expected_loss", "expected_revenue"] {
        assert_eq!(
            both[money]["champion"], both[money]["challenger"],
            "{money}"
        );
        for side in ["champion", "challenger"] {
            let cents = |s: &Value| -> i64 {
                let s = s.as_str().unwrap();
                let (w, f) = s.split_once('.').unwrap();
                w.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
            };
            let sum: i64 = ["both", "champion_only", "challenger_only", "neither"]
                .iter()
                .map(|c| cents(&v["swap"][c][money][side]))
                .sum();
            assert_eq!(sum, cents(&v[side]["repayment"][money]), "{money} {side}");
        }
    }
}

#[test]
fn an_unknown_swept_name_lists_the_parameters_in_backticks() {
    let err = usage_error(&["sweep", JD_PLUS, "--data", SAMPLE, "--param", "zzz=1,2"]);
    assert_contains(
        &err,
        &[
            "`--param zzz`: the policy has no parameter `zzz`",
            "help: its parameters are `min_score`, `min_age`",
        ],
    );
}

#[test]
fn compare_output_onto_an_input_or_a_directory_suggests_a_changes_file() {
    let w = Workdir::new();
    std::fs::copy(repo_file(SAMPLE), w.path("d.csv")).unwrap();
    std::fs::create_dir(w.path("dir")).unwrap();
    let policy = repo_file(JD_PLUS);
    for (target, says) in [
        ("d.csv", "same file as the dataset"),
        ("dir", "is a directory"),
    ] {
        let err = w.fails(
            &[
                "compare",
                policy.to_str().unwrap(),
                "--challenger-set",
                "min_score=620",
                "--data",
                "d.csv",
                "-o",
                target,
            ],
            2,
        );
        assert_contains(&err, &[&format!("`-o {target}`"), says, "changes.csv"]);
        assert!(!err.contains("decisions.csv"), "{err}");
    }
    assert_eq!(
        std::fs::read(w.path("d.csv")).unwrap(),
        std::fs::read(repo_file(SAMPLE)).unwrap()
    );
}

#[test]
fn the_chart_has_no_current_value_legend_when_that_point_is_not_drawn() {
    // On a header-only dataset no point has a bad rate: nothing is drawn.
    let w = Workdir::new();
    let header = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    w.write("d.csv", format!("{}\n", header.lines().next().unwrap()));
    let policy = repo_file(JD_PLUS);
    w.stdout(&[
        "sweep",
        policy.to_str().unwrap(),
        "--data",
        "d.csv",
        "--param",
        "min_score=600,620",
        "--plot",
        "c.svg",
        "--format",
        "json",
    ]);
    let svg = w.read("c.svg");
    assert_contains(&svg, &["no data to plot"]);
    assert!(!svg.contains(">current value<"), "{svg}");
}

#[test]
fn the_swap_in_footnote_is_shown_only_when_there_are_swap_ins() {
    let table = |set: &str| {
        let out = polsim()
            .args(["compare", "policies/jd_plus.yaml", "--challenger-set", set])
            .args(["--data", "datasets/sample.csv", "--format", "table"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    // A looser cutoff lets users in: the note on their outcome is shown.
    assert!(table("min_score=580").contains("swap-ins were declined by the champion"));
    // A stricter one lets nobody in: no note about swap-ins there are none of.
    assert!(!table("min_score=620").contains("swap-ins were declined"));
}
