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
