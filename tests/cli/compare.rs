//! `polsim compare CHAMPION [CHALLENGER]`: the swap-set matrix, the swap
//! reasons, the deltas, the segment deltas and the changes file, each checked
//! against figures worked out here from two `polsim decide` runs joined on the
//! key, the sample's own columns (read with the csv crate), and one `polsim
//! simulate` run per side.

use super::*;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::HashMap;
use std::str::FromStr;

const SAMPLE: &str = "datasets/sample.csv";
const JD_PLUS: &str = "policies/jd_plus.yaml";
const ZHIMA_600: &str = "policies/zhima_600.yaml";
const MERCHANT_REVIEW: &str = "policies/merchant_review.yaml";

/// The four cells of the swap matrix, in the order the report lists them.
const CELLS: [&str; 4] = ["both", "champion_only", "challenger_only", "neither"];

/// A champion/challenger comparison spelled twice: the arguments of
/// `compare` (before `--data`), and the arguments with which `decide` and
/// `simulate` run each side on its own.
struct Case {
    compare: &'static [&'static str],
    champion: &'static [&'static str],
    challenger: &'static [&'static str],
}

/// The same policy with a higher cutoff: swap-outs only.
const RAISED_CUTOFF: Case = Case {
    compare: &[JD_PLUS, "--challenger-set", "min_score=620"],
    champion: &[JD_PLUS],
    challenger: &[JD_PLUS, "--set", "min_score=620"],
};

/// A lower cutoff and a higher minimum age: swaps both ways, for different
/// reasons.
const TRADE_OFF: Case = Case {
    compare: &[
        JD_PLUS,
        "--challenger-set",
        "min_score=580",
        "--challenger-set",
        "min_age=21",
    ],
    champion: &[JD_PLUS],
    challenger: &[JD_PLUS, "--set", "min_score=580", "--set", "min_age=21"],
};

/// Another policy file as the challenger: other rules, other limits, no
/// repayment model.
const OTHER_POLICY: Case = Case {
    compare: &[JD_PLUS, ZHIMA_600],
    champion: &[JD_PLUS],
    challenger: &[ZHIMA_600],
};

/// `--set` reaches both policies; the challenger has no `min_age`, so that
/// one is the champion's alone.
const SET_FOR_BOTH: Case = Case {
    compare: &[
        JD_PLUS,
        ZHIMA_600,
        "--set",
        "min_score=620",
        "--set",
        "min_age=21",
    ],
    champion: &[JD_PLUS, "--set", "min_score=620", "--set", "min_age=21"],
    challenger: &[ZHIMA_600, "--set", "min_score=620"],
};

/// `--challenger-set` applies on top of `--set`.
const CHALLENGER_SET_OVER_SET: Case = Case {
    compare: &[
        JD_PLUS,
        "--set",
        "min_score=620",
        "--challenger-set",
        "min_score=640",
    ],
    champion: &[JD_PLUS, "--set", "min_score=620"],
    challenger: &[JD_PLUS, "--set", "min_score=640"],
};

/// A policy with review rules: a shorter thin-file window moves rows from
/// review (not approved) to approve.
const SHORTER_THIN_FILE: Case = Case {
    compare: &[MERCHANT_REVIEW, "--challenger-set", "thin_file_months=3"],
    champion: &[MERCHANT_REVIEW],
    challenger: &[MERCHANT_REVIEW, "--set", "thin_file_months=3"],
};

/// Runs polsim in the repository root, expects success, returns stdout.
fn run(args: &[&str]) -> String {
    succeeded(in_repo(args), args)
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// `polsim compare CASE --data sample.csv EXTRA... --format json`.
fn compare(case: &Case, extra: &[&str]) -> Value {
    let mut args = vec!["compare"];
    args.extend(case.compare);
    args.extend(["--data", SAMPLE]);
    args.extend(extra);
    args.extend(["--format", "json"]);
    parse_json(&run(&args))
}

/// `polsim simulate SIDE --data sample.csv EXTRA... --format json`.
fn simulate(side: &[&str], extra: &[&str]) -> Value {
    let mut args = vec!["simulate"];
    args.extend(side);
    args.extend(["--data", SAMPLE]);
    args.extend(extra);
    args.extend(["--format", "json"]);
    parse_json(&run(&args))
}

/// One line of `polsim decide --format csv`.
#[derive(Clone, Debug)]
struct Decision {
    key: String,
    outcome: String,
    reasons: String,
    limit: String,
}

impl Decision {
    fn approved(&self) -> bool {
        self.outcome == "approve"
    }

    /// The first reason: the one a row that is not approved is declined (or
    /// sent to review) for.
    fn primary(&self) -> &str {
        assert!(!self.approved(), "an approved row has no reason: {self:?}");
        let first = self.reasons.split(';').next().unwrap();
        assert!(
            !first.is_empty(),
            "a row not approved has a reason: {self:?}"
        );
        first
    }
}

/// `polsim decide SIDE --data sample.csv --format csv`, in file order.
fn decisions(side: &[&str]) -> Vec<Decision> {
    let mut args = vec!["decide"];
    args.extend(side);
    args.extend(["--data", SAMPLE, "--format", "csv"]);
    let text = run(&args);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[1..], ["outcome", "reasons", "limit"], "{header:?}");
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Decision {
                key: r[0].to_owned(),
                outcome: r[1].to_owned(),
                reasons: r[2].to_owned(),
                limit: r[3].to_owned(),
            }
        })
        .collect()
}

/// The two decide runs joined on the key, in the champion's (file) order.
fn joined(case: &Case) -> Vec<(Decision, Decision)> {
    let champion = decisions(case.champion);
    let mut challenger: HashMap<String, Decision> = decisions(case.challenger)
        .into_iter()
        .map(|d| (d.key.clone(), d))
        .collect();
    assert_eq!(challenger.len(), champion.len(), "keys are unique");
    let pairs: Vec<(Decision, Decision)> = champion
        .into_iter()
        .map(|c| {
            let other = challenger
                .remove(&c.key)
                .unwrap_or_else(|| panic!("key {} only in the champion's run", c.key));
            (c, other)
        })
        .collect();
    assert!(challenger.is_empty());
    pairs
}

/// The cell of the swap matrix a row falls in.
fn cell(champion: &Decision, challenger: &Decision) -> &'static str {
    match (champion.approved(), challenger.approved()) {
        (true, true) => "both",
        (true, false) => "champion_only",
        (false, true) => "challenger_only",
        (false, false) => "neither",
    }
}

/// The columns of a sample row the figures here need.
struct SampleRow {
    defaulted: bool,
    zhima_score: Option<i64>,
    order_amount: Decimal,
    city_tier: String,
}

/// datasets/sample.csv by user_id.
fn sample() -> HashMap<String, SampleRow> {
    let mut reader = csv::Reader::from_path(repo_file(SAMPLE)).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (id, defaulted, score, amount, tier) = (
        col("user_id"),
        col("defaulted"),
        col("zhima_score"),
        col("order_amount"),
        col("city_tier"),
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let row = SampleRow {
                // The sample spells its booleans `true`/`false` and nothing
                // else; anything else would need the policy's bool parsing.
                defaulted: match &r[defaulted] {
                    "true" => true,
                    "false" => false,
                    other => panic!("defaulted is {other:?}"),
                },
                zhima_score: (!r[score].is_empty()).then(|| r[score].parse().unwrap()),
                order_amount: Decimal::from_str(&r[amount]).unwrap(),
                city_tier: r[tier].to_owned(),
            };
            (r[id].to_owned(), row)
        })
        .collect()
}

/// Expected loss and revenue of one approved row under policies/jd_plus.yaml
/// (exposure = order_amount; bands by score; returned 5%, loss given default
/// 85%, merchant fee 1.2%, late fee 5.00), exact.
fn jd_plus_loss_revenue(row: &SampleRow) -> (Decimal, Decimal) {
    let d = |s: &str| Decimal::from_str(s).unwrap();
    let score = row.zhima_score.expect("an approved row has a score");
    let (p_returned, p_default, p_late) = if score >= 750 {
        ("0.06", "0.0035", "0.045")
    } else if score >= 650 {
        ("0.055", "0.0083", "0.078")
    } else {
        ("0.068", "0.024", "0.134")
    };
    let amount = row.order_amount;
    let loss = amount * d(p_default) * d("0.85");
    let revenue = (amount - amount * d(p_returned)) * d("0.012") + d(p_late) * d("5.00");
    (loss, revenue)
}

/// Money as polsim prints it: rounded half away from zero, two places.
fn money(d: Decimal) -> String {
    let mut cents = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    cents.rescale(2);
    cents.to_string()
}

/// A decimal string of a report.
fn dec(v: &Value) -> Decimal {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"));
    Decimal::from_str(s).unwrap_or_else(|e| panic!("not a decimal ({e}): {s:?}"))
}

/// `a - b` of two rates that may be null.
fn rate_delta(a: &Value, b: &Value) -> Option<f64> {
    Some(a.as_f64()? - b.as_f64()?)
}

#[track_caller]
fn assert_rate_delta(got: &Value, expected: Option<f64>, what: &str) {
    match expected {
        None => assert!(got.is_null(), "{what}: {got} should be null"),
        Some(x) => {
            let got = got
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: not a number: {got}"));
            assert!((got - x).abs() < 1e-12, "{what}: {got} != {x}");
        }
    }
}

/// Every cell's rows, share, bads and bad_rate are those of the two decide
/// runs joined on the key (bads by the sample's `defaulted` column, the
/// policies' `observed.bad`).
fn check_swap_cells(case: &Case, report: &Value) {
    let sample = sample();
    let pairs = joined(case);
    let total = pairs.len() as u64;
    let mut rows: BTreeMap<&str, u64> = CELLS.iter().map(|c| (*c, 0)).collect();
    let mut bads = rows.clone();
    for (champion, challenger) in &pairs {
        let c = cell(champion, challenger);
        *rows.get_mut(c).unwrap() += 1;
        *bads.get_mut(c).unwrap() += u64::from(sample[&champion.key].defaulted);
    }
    let swap = &report["swap"];
    for c in CELLS {
        let what = format!("{:?} swap.{c}", case.compare);
        let got = &swap[c];
        assert_eq!(u(&got["rows"]), rows[c], "{what}.rows");
        assert_eq!(
            got["share"].as_f64(),
            Some(rows[c] as f64 / total as f64),
            "{what}.share"
        );
        assert_eq!(u(&got["bads"]), bads[c], "{what}.bads");
        if rows[c] == 0 {
            assert!(got["bad_rate"].is_null(), "{what}.bad_rate: {got}");
        } else {
            assert_eq!(
                got["bad_rate"].as_f64(),
                Some(bads[c] as f64 / rows[c] as f64),
                "{what}.bad_rate"
            );
        }
    }
}

/// `(rule, reason, rows)` of a swap_reasons list.
fn reason_rows(list: &Value) -> Vec<(String, String, u64)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
                u(&r["rows"]),
            )
        })
        .collect()
}

/// The primary reasons of `rows`, counted, with their rules (in the order of
/// `side`'s simulate report), sorted by rows descending then rule order.
fn expected_reasons<'a>(
    rows: impl Iterator<Item = &'a Decision>,
    side: &Value,
) -> Vec<(String, String, u64)> {
    let rules: Vec<(String, String)> = side["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut counts = vec![0u64; rules.len()];
    for d in rows {
        let i = rules
            .iter()
            .position(|(_, reason)| reason == d.primary())
            .unwrap_or_else(|| panic!("reason of {d:?} is no rule's"));
        counts[i] += 1;
    }
    let mut list: Vec<(usize, u64)> = counts
        .into_iter()
        .enumerate()
        .filter(|(_, n)| *n > 0)
        .collect();
    list.sort_by_key(|&(i, n)| (std::cmp::Reverse(n), i));
    list.into_iter()
        .map(|(i, n)| (rules[i].0.clone(), rules[i].1.clone(), n))
        .collect()
}

/// swap_outs: the challenger's primary reason of each swap-out row;
/// swap_ins: the champion's primary reason of each swap-in row.
fn check_swap_reasons(case: &Case, report: &Value) {
    let pairs = joined(case);
    let champion = simulate(case.champion, &[]);
    let challenger = simulate(case.challenger, &[]);
    let outs = expected_reasons(
        pairs
            .iter()
            .filter(|(a, b)| a.approved() && !b.approved())
            .map(|(_, b)| b),
        &challenger,
    );
    let ins = expected_reasons(
        pairs
            .iter()
            .filter(|(a, b)| !a.approved() && b.approved())
            .map(|(a, _)| a),
        &champion,
    );
    let what = format!("{:?}", case.compare);
    assert_eq!(
        reason_rows(&report["swap_reasons"]["swap_outs"]),
        outs,
        "{what} swap_outs"
    );
    assert_eq!(
        reason_rows(&report["swap_reasons"]["swap_ins"]),
        ins,
        "{what} swap_ins"
    );
}

// ---------------------------------------------------------------------------
// The swap matrix
// ---------------------------------------------------------------------------

#[test]
fn swap_cells_of_a_challenger_set_are_two_decide_runs_joined_on_the_key() {
    for case in [&RAISED_CUTOFF, &TRADE_OFF] {
        check_swap_cells(case, &compare(case, &[]));
    }
}

#[test]
fn swap_cells_of_a_challenger_file_are_two_decide_runs_joined_on_the_key() {
    for case in [&OTHER_POLICY, &SET_FOR_BOTH] {
        check_swap_cells(case, &compare(case, &[]));
    }
}

#[test]
fn challenger_set_applies_on_top_of_set() {
    check_swap_cells(
        &CHALLENGER_SET_OVER_SET,
        &compare(&CHALLENGER_SET_OVER_SET, &[]),
    );
}

#[test]
fn a_review_row_is_not_approved_in_the_swap_cells() {
    let case = &SHORTER_THIN_FILE;
    let report = compare(case, &[]);
    check_swap_cells(case, &report);
    check_swap_reasons(case, &report);
    // The case moves rows out of review: they are swap-ins.
    let moved = joined(case)
        .iter()
        .filter(|(a, b)| a.outcome == "review" && b.approved())
        .count() as u64;
    assert!(moved > 0, "the case has rows that leave review");
    assert!(u(&report["swap"]["challenger_only"]["rows"]) >= moved);
}

#[test]
fn swap_reasons_count_the_primary_reason_on_the_declining_side() {
    for case in [&RAISED_CUTOFF, &TRADE_OFF, &OTHER_POLICY] {
        check_swap_reasons(case, &compare(case, &[]));
    }
}

// ---------------------------------------------------------------------------
// Each side, the deltas, the segments
// ---------------------------------------------------------------------------

#[test]
fn champion_and_challenger_are_what_simulate_prints_for_each() {
    for case in [&RAISED_CUTOFF, &OTHER_POLICY, &SET_FOR_BOTH] {
        let report = compare(case, &[]);
        let what = format!("{:?}", case.compare);
        assert!(report.get("changes").is_none(), "{what}: no -o, no changes");
        assert_eq!(report["champion"], simulate(case.champion, &[]), "{what}");
        assert_eq!(
            report["challenger"],
            simulate(case.challenger, &[]),
            "{what}"
        );
    }
    let by = ["--by", "city_tier", "--by", "zhima_score:600,650"];
    let report = compare(&RAISED_CUTOFF, &by);
    assert_eq!(report["champion"], simulate(RAISED_CUTOFF.champion, &by));
    assert_eq!(
        report["challenger"],
        simulate(RAISED_CUTOFF.challenger, &by)
    );
}

#[test]
fn deltas_are_challenger_minus_champion() {
    for case in [
        &RAISED_CUTOFF,
        &TRADE_OFF,
        &OTHER_POLICY,
        &SHORTER_THIN_FILE,
    ] {
        let report = compare(case, &[]);
        let (a, b) = (simulate(case.champion, &[]), simulate(case.challenger, &[]));
        let what = format!("{:?}", case.compare);
        let deltas = &report["deltas"];
        assert_rate_delta(
            &deltas["approval_rate"],
            rate_delta(&b["approval_rate"], &a["approval_rate"]),
            &format!("{what} approval_rate"),
        );
        assert_rate_delta(
            &deltas["observed_bad_rate"],
            rate_delta(&b["observed"]["bad_rate"], &a["observed"]["bad_rate"]),
            &format!("{what} observed_bad_rate"),
        );
        assert_eq!(
            dec(&deltas["approved_exposure"]),
            dec(&b["approved_exposure"]) - dec(&a["approved_exposure"]),
            "{what} approved_exposure"
        );
        // Loss and revenue where both sides have a repayment model.
        if a["repayment"].is_object() && b["repayment"].is_object() {
            for k in ["expected_loss", "expected_revenue"] {
                assert_eq!(
                    dec(&deltas[k]),
                    dec(&b["repayment"][k]) - dec(&a["repayment"][k]),
                    "{what} {k}"
                );
            }
        }
    }
}

#[test]
fn cell_expected_loss_and_revenue_add_up_to_each_sides_repayment() {
    for case in [&RAISED_CUTOFF, &TRADE_OFF, &SHORTER_THIN_FILE] {
        let report = compare(case, &[]);
        let what = format!("{:?}", case.compare);
        for (side, args) in [("champion", case.champion), ("challenger", case.challenger)] {
            let sim = simulate(args, &[]);
            for k in ["expected_loss", "expected_revenue"] {
                let sum: Decimal = CELLS.iter().map(|c| dec(&report["swap"][c][k][side])).sum();
                assert_eq!(
                    money(sum),
                    sim["repayment"][k].as_str().unwrap(),
                    "{what}: cells' {k}.{side}"
                );
            }
        }
    }
}

#[test]
fn cell_expected_loss_counts_only_the_rows_each_side_approves() {
    let sample = sample();
    for case in [&RAISED_CUTOFF, &TRADE_OFF] {
        let report = compare(case, &[]);
        let what = format!("{:?}", case.compare);
        // Exact sums per cell and side, of the rows that side approves.
        let mut sums: BTreeMap<(&str, &str, &str), Decimal> = BTreeMap::new();
        for c in CELLS {
            for side in ["champion", "challenger"] {
                for k in ["expected_loss", "expected_revenue"] {
                    sums.insert((c, side, k), Decimal::ZERO);
                }
            }
        }
        for (champion, challenger) in joined(case) {
            let c = cell(&champion, &challenger);
            for (side, d) in [("champion", &champion), ("challenger", &challenger)] {
                if d.approved() {
                    let (loss, revenue) = jd_plus_loss_revenue(&sample[&champion.key]);
                    *sums.get_mut(&(c, side, "expected_loss")).unwrap() += loss;
                    *sums.get_mut(&(c, side, "expected_revenue")).unwrap() += revenue;
                }
            }
        }
        for ((c, side, k), sum) in sums {
            let got = &report["swap"][c][k][side];
            if sum.is_zero() {
                assert_eq!(got, "0.00", "{what} swap.{c}.{k}.{side}");
            } else {
                // Each cell rounded on its own may differ from the exact
                // figure by a cent if the cells are made to add up to the
                // (rounded) total.
                let diff = (dec(got) - sum).abs();
                assert!(
                    diff <= Decimal::new(1, 2),
                    "{what} swap.{c}.{k}.{side}: {got} vs {sum}"
                );
            }
        }
    }
}

#[test]
fn segment_deltas_are_the_difference_of_the_two_sides_segments() {
    let sample = sample();
    for case in [&RAISED_CUTOFF, &TRADE_OFF] {
        let by = ["--by", "city_tier"];
        let report = compare(case, &by);
        let (a, b) = (simulate(case.champion, &by), simulate(case.challenger, &by));
        let what = format!("{:?}", case.compare);
        // Approved exposure (order_amount) per tier and side, from decide.
        let mut exposure: BTreeMap<String, Decimal> = BTreeMap::new();
        for (champion, challenger) in joined(case) {
            let row = &sample[&champion.key];
            let e = exposure.entry(row.city_tier.clone()).or_default();
            if challenger.approved() {
                *e += row.order_amount;
            }
            if champion.approved() {
                *e -= row.order_amount;
            }
        }
        let got = report["segments"]["city_tier"].as_array().unwrap();
        let (sa, sb) = (
            a["segments"]["city_tier"].as_array().unwrap(),
            b["segments"]["city_tier"].as_array().unwrap(),
        );
        let values: Vec<&Value> = got.iter().map(|s| &s["value"]).collect();
        let expected: Vec<&Value> = sa.iter().map(|s| &s["value"]).collect();
        assert_eq!(values, expected, "{what}: the segments are simulate's");
        assert_eq!(exposure.len(), got.len());
        for ((g, x), y) in got.iter().zip(sa).zip(sb) {
            assert_eq!(x["value"], y["value"]);
            let value = x["value"].as_str().unwrap();
            let what = format!("{what} city_tier {value}");
            assert_rate_delta(
                &g["deltas"]["approval_rate"],
                rate_delta(&y["approval_rate"], &x["approval_rate"]),
                &format!("{what} approval_rate"),
            );
            assert_rate_delta(
                &g["deltas"]["observed_bad_rate"],
                rate_delta(&y["approved_bad_rate"], &x["approved_bad_rate"]),
                &format!("{what} observed_bad_rate"),
            );
            assert_eq!(
                dec(&g["deltas"]["approved_exposure"]),
                exposure[value],
                "{what} approved_exposure"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// -o changes.csv
// ---------------------------------------------------------------------------

/// The header of a changes file; the key column is named as in `decide`:
/// the policy's key field, or `row`.
fn changes_header(key: &str) -> Vec<String> {
    let mut h = vec![key.to_owned()];
    h.extend(CHANGES_HEADER[1..].iter().map(|s| (*s).to_owned()));
    h
}

const CHANGES_HEADER: [&str; 7] = [
    "key",
    "champion_outcome",
    "challenger_outcome",
    "champion_reasons",
    "challenger_reasons",
    "champion_limit",
    "challenger_limit",
];

/// The records of a CSV file, header first.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// `args` with the repository's policy and data paths made absolute, to run
/// in a Workdir.
fn absolute(args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|a| {
            if a.starts_with("policies/") || a.starts_with("datasets/") {
                repo_file(a).to_string_lossy().into_owned()
            } else {
                (*a).to_owned()
            }
        })
        .collect()
}

#[test]
fn changes_file_lists_every_row_whose_outcome_or_limit_differs_in_file_order() {
    for case in [&RAISED_CUTOFF, &OTHER_POLICY, &SHORTER_THIN_FILE] {
        let what = format!("{:?}", case.compare);
        let mut expected = vec![changes_header("user_id")];
        for (a, b) in joined(case) {
            if a.outcome != b.outcome || a.limit != b.limit {
                expected.push(vec![
                    a.key, a.outcome, b.outcome, a.reasons, b.reasons, a.limit, b.limit,
                ]);
            }
        }
        assert!(expected.len() > 1, "{what}: the case changes rows");

        let wd = Workdir::new();
        let mut args = vec!["compare".to_owned()];
        args.extend(absolute(case.compare));
        args.extend(absolute(&["--data", SAMPLE, "-o", "changes.csv"]));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let report = wd.json(&args);
        assert_eq!(
            csv_records(&wd.read("changes.csv")),
            expected,
            "{what}: changes.csv"
        );
        assert_eq!(
            u(&report["changes"]["rows"]),
            expected.len() as u64 - 1,
            "{what}"
        );
        let file = report["changes"]["file"].as_str().unwrap();
        assert_eq!(
            wd.path(file).canonicalize().unwrap(),
            wd.path("changes.csv").canonicalize().unwrap(),
            "{what}: changes.file is {file:?}"
        );
    }
}

#[test]
fn changes_file_keys_rows_by_line_number_when_the_policy_has_no_key() {
    let policy = "policy: nokey\nparams: { min: 600 }\nfields: { s: int }\n\
                  rules:\n  - { id: r, reason: LOW, when: { s: { gte: $min } } }\n\
                  limit:\n  - { when: { s: { gte: 650 } }, amount: 900 }\n  - amount: 100\n";
    // A quoted newline makes a record span two lines: its key is its first.
    let data = "note,s\nplain,700\n\"two\nlines\",610\nafter,590\nlast,640\n";
    let wd = Workdir::new();
    wd.write("p.yaml", policy).write("d.csv", data);
    let decide = |set: &str| wd.stdout(&["decide", "p.yaml", "--data", "d.csv", "--set", set]);
    assert_eq!(
        decide("min=600"),
        "row,outcome,reasons,limit\n2,approve,,900.00\n3,approve,,100.00\n5,decline,LOW,\n6,approve,,100.00\n"
    );
    assert_eq!(
        decide("min=620"),
        "row,outcome,reasons,limit\n2,approve,,900.00\n3,decline,LOW,\n5,decline,LOW,\n6,approve,,100.00\n"
    );
    wd.json(&[
        "compare",
        "p.yaml",
        "--challenger-set",
        "min=620",
        "--data",
        "d.csv",
        "-o",
        "changes.csv",
    ]);
    assert_eq!(
        csv_records(&wd.read("changes.csv")),
        vec![
            changes_header("row"),
            ["3", "approve", "decline", "", "LOW", "100.00", ""]
                .map(str::to_owned)
                .to_vec(),
        ]
    );
}

// ---------------------------------------------------------------------------
// Usage errors
// ---------------------------------------------------------------------------

#[test]
fn compare_without_a_challenger_or_challenger_set_is_a_usage_error() {
    let args = ["compare", JD_PLUS, "--data", SAMPLE];
    let err = failed(in_repo(&args), &args, 2);
    assert_contains(&err, &["error:", "help:"]);
    // `--set` alone does not make a challenger.
    let args = [
        "compare",
        JD_PLUS,
        "--data",
        SAMPLE,
        "--set",
        "min_score=620",
    ];
    let err = failed(in_repo(&args), &args, 2);
    assert_contains(&err, &["error:", "help:"]);
}

#[test]
fn challenger_set_of_an_unknown_param_is_a_usage_error_naming_it() {
    let args = [
        "compare",
        JD_PLUS,
        "--challenger-set",
        "nosuch=1",
        "--data",
        SAMPLE,
    ];
    let err = failed(in_repo(&args), &args, 2);
    assert_contains(&err, &["error:", "nosuch"]);
}
