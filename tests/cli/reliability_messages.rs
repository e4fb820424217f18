//! Messages are read on a terminal: text from the data, the policy or a
//! script reaches them, and its control characters must arrive as escapes,
//! never as a cleared screen, a moved cursor or a line cut short.

use super::*;

/// Fails if `text` holds a control character other than a newline or a tab.
fn assert_no_raw_controls(text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(raw.is_empty(), "raw control characters {raw:?} in:\n{text}");
}

#[test]
fn a_cell_with_an_ansi_escape_is_quoted_escaped_in_the_error() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,\x1b[2J7\x00\n");
    let err = wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_no_raw_controls(&err);
    assert_contains(&err, &["\\u{1b}[2J7\\u{0}", "d.csv:2:"]);
}

#[test]
fn skipped_rows_listed_on_stderr_are_escaped_too() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY)
        .write("d.csv", "id,score\nu1,\x1b]0;owned\x07\nu2,700\n");
    let out = wd.output(&[
        "simulate",
        "p.yaml",
        "--data",
        "d.csv",
        "--skip-bad-rows",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_no_raw_controls(&err);
    assert_contains(&err, &["\\u{1b}]0;owned\\u{7}"]);
}

#[test]
fn a_policy_value_with_control_characters_is_escaped_in_the_snippet() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        "policy: p\nfields: { score: int }\nrules:\n  - { id: r, reason: R, when: { score: { gte: \"6\x1b[1A00\" } } }\n",
    );
    let err = wd.fails(&["check", "p.yaml"], 1);
    assert_no_raw_controls(&err);
    assert_contains(&err, &["p.yaml:4:", "\\u{1b}[1A"]);
}
