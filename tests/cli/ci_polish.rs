//! The CI-facing polish of `check`, `decide --help`, completions and the man
//! page: what a CI job or a new user meets first.

use super::*;

#[test]
fn decide_help_states_its_own_formats_and_default() {
    let wd = Workdir::new();
    let help = wd.stdout(&["decide", "--help"]);
    assert_contains(
        &help,
        &["--format <FORMAT>", "csv (the default) or json (one object per line)"],
    );
    assert!(!help.contains("table on a terminal"), "{help}");
    assert!(!help.contains("markdown"), "{help}");
}

#[test]
fn completions_are_generated_for_each_shell() {
    let wd = Workdir::new();
    let bash = wd.stdout(&["completions", "bash"]);
    assert_contains(&bash, &["_polsim()", "complete -F _polsim", "simulate", "--format"]);
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
        &[".TH polsim 1", ".SH NAME", "check", "decide", "simulate", "compare", "sweep", "completions"],
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
