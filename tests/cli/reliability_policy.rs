//! Loading and compiling policies: what the YAML reader would silently drop
//! (a NUL byte, a second document), nesting deep enough to overflow the
//! stack, decimals that would be rounded, reason codes that make the
//! `reasons` column ambiguous, and files too large to be a policy.

use super::*;

const HEAD: &str = "policy: p\nkey: id\nfields: { id: string, score: int }\nrules:\n";
const RULE_A: &str = "  - { id: a, reason: A, when: { score: { gte: 600 } } }\n";
const RULE_B: &str = "  - { id: b, reason: B, when: { score: { gte: 900 } } }\n";

/// A user the first rule approves and the second declines.
const USER: &str = "id,score\nu1,700\n";

/// `decide` on `policy` fails with exit 2 and `check` with exit 1, both
/// with the same message; returns it.
#[track_caller]
fn refused(wd: &Workdir, policy: &str) -> String {
    wd.write("p.yaml", policy).write("d.csv", USER);
    let decide = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    let check = wd.fails(&["check", "p.yaml"], 1);
    assert_contains(&check, &[decide.trim_end()]);
    decide
}

// ---------------------------------------------------------------------------
// Item 2: a NUL byte, `---` or `...` dropped the rest of the policy
// ---------------------------------------------------------------------------

#[test]
fn a_nul_byte_in_a_policy_is_refused_naming_its_line() {
    let wd = Workdir::new();
    let e = refused(&wd, &format!("{HEAD}{RULE_A}\0{RULE_B}"));
    assert_contains(
        &e,
        &[
            "error: the policy contains a NUL byte",
            "--> p.yaml:6:1",
            "6 | \u{2400}  - { id: b",
            "help: a policy is text: remove the NUL byte",
        ],
    );
}

#[test]
fn rules_after_a_document_end_marker_are_refused() {
    let wd = Workdir::new();
    let e = refused(&wd, &format!("{HEAD}{RULE_A}...\n{RULE_B}"));
    assert_contains(
        &e,
        &[
            "error: a second YAML document starts here: a policy is one document, and the document ends with `...` on line 6",
            "--> p.yaml:7:3",
            "help: remove the `---` or `...` line",
        ],
    );
}

#[test]
fn rules_after_a_second_document_marker_are_refused() {
    let wd = Workdir::new();
    let e = refused(&wd, &format!("{HEAD}{RULE_A}---\n{RULE_B}"));
    assert_contains(
        &e,
        &[
            "error: a second YAML document starts here: a policy is one document, and a `---` line starts a new one",
            "--> p.yaml:6:1",
        ],
    );
    // Even an empty second document: the `---` says something follows.
    let e = refused(&wd, &format!("{HEAD}{RULE_A}{RULE_B}---\n"));
    assert_contains(&e, &["--> p.yaml:7:1"]);
    // And text that is not YAML after the end is an error too, not ignored.
    let e = refused(&wd, &format!("{HEAD}{RULE_A}{RULE_B}...\n]]\n"));
    assert_contains(
        &e,
        &["a second YAML document starts here", "--> p.yaml:8:1"],
    );
}

#[test]
fn a_leading_document_marker_and_a_final_document_end_are_accepted() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        format!("---\n{HEAD}{RULE_A}{RULE_B}...\n# the end\n\n"),
    )
    .write("d.csv", USER);
    assert_contains(&wd.stdout(&["check", "p.yaml"]), &["2 rule(s)"]);
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\nu1,decline,B,\n"
    );
}

// ---------------------------------------------------------------------------
// Item 11: deep nesting overflowed the stack
// ---------------------------------------------------------------------------

/// A policy whose rule's `when` is `not:` nested `n` deep in block style:
/// the innermost mapping is at depth `n + 4` (policy, `rules`, the rule,
/// `when`), on line `n + 8`.
fn block_nots(n: usize) -> String {
    let mut s = format!("{HEAD}  - id: a\n    reason: A\n    when:\n");
    for level in 0..n {
        s.push_str(&format!("{}not:\n", " ".repeat(6 + 2 * level)));
    }
    s.push_str(&format!("{}score: 1\n", " ".repeat(6 + 2 * n)));
    s
}

/// `all:` nested `n` deep in block style, each holding a list.
fn block_alls(n: usize) -> String {
    let mut s = format!("{HEAD}  - id: a\n    reason: A\n    when:\n      all:\n");
    let mut indent = 6;
    for _ in 1..n {
        s.push_str(&format!("{}- all:\n", " ".repeat(indent + 2)));
        indent += 4;
    }
    s.push_str(&format!("{}- score: 1\n", " ".repeat(indent + 2)));
    s
}

#[test]
fn block_nesting_is_limited_before_the_loader_recurses() {
    let wd = Workdir::new();
    wd.write("d.csv", USER);
    // At the limit: 64 levels of mappings and lists.
    wd.write("p.yaml", block_nots(60));
    wd.stdout(&["check", "p.yaml"]);
    // One more: refused at the innermost mapping's key.
    let e = refused(&wd, &block_nots(61));
    assert_contains(
        &e,
        &[
            "error: the policy nests mappings and lists more than 64 deep here",
            &format!("--> p.yaml:69:{}", 7 + 2 * 61),
            "help: flatten it",
        ],
    );
    // `all:` holds a list: two levels each.
    wd.write("p.yaml", block_alls(30));
    wd.stdout(&["check", "p.yaml"]);
    assert_contains(
        &refused(&wd, &block_alls(31)),
        &["nests mappings and lists more than 64 deep"],
    );
}

#[test]
fn deep_block_nesting_is_an_error_not_a_stack_overflow() {
    let wd = Workdir::new();
    // 2,000 `not:` (an indented block grows fast: this is 4 MB) and 1,400
    // `all:`, deep enough to overflow the stack of a debug build.
    for policy in [block_nots(2_000), block_alls(1_400)] {
        assert_contains(
            &refused(&wd, &policy),
            &["nests mappings and lists more than 64 deep"],
        );
    }
    // Compact block lists nest without indenting: 100,000 deep on one line.
    let e = refused(
        &wd,
        &format!(
            "{HEAD}{RULE_A}observed:\n  bad:\n    {}x\n",
            "- ".repeat(100_000)
        ),
    );
    assert_contains(
        &e,
        &["nests mappings and lists more than 64 deep", "p.yaml:8:"],
    );
}

#[test]
fn flow_nesting_has_the_same_limit() {
    let flow = |n: usize| {
        format!(
            "{HEAD}  - {{ id: a, reason: A, when: {}{{ score: 1 }}{} }}\n",
            "{ not: ".repeat(n),
            " }".repeat(n)
        )
    };
    let wd = Workdir::new();
    wd.write("p.yaml", flow(60));
    wd.stdout(&["check", "p.yaml"]);
    for n in [61, 300, 100_000] {
        assert_contains(
            &refused(&wd, &flow(n)),
            &[
                "nests mappings and lists more than 64 deep",
                "--> p.yaml:5:",
            ],
        );
    }
}

/// A policy with one `expr` rule.
fn expr_rule(expr: &str) -> String {
    format!("{HEAD}  - id: a\n    reason: A\n    expr: \"{expr}\"\n")
}

#[test]
fn deep_expressions_are_an_error_not_a_stack_overflow() {
    let n = 100_000;
    let wd = Workdir::new();
    for expr in [
        format!("{}score > 1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}(score > 1)", "!".repeat(n)),
        format!("{}score > 1", "- ".repeat(n)),
        format!("{} > 1", vec!["score"; n].join(" + ")),
        format!("{} > 1", vec!["score"; n].join(" * ")),
        vec!["score > 1"; n].join(" && "),
    ] {
        let e = refused(&wd, &expr_rule(&expr));
        assert_contains(
            &e,
            &[
                "error: rule `a` nests deeper than 64 levels",
                "--> p.yaml:7:",
                "help: split it",
            ],
        );
    }
}

#[test]
fn expressions_nest_up_to_the_limit() {
    let wd = Workdir::new();
    wd.write("d.csv", USER);
    // Depth counts operators and parentheses: each case is 64 deep, then 65.
    let cases: [&dyn Fn(usize) -> String; 3] = [
        &|n| format!("{}score > 1{}", "(".repeat(n - 1), ")".repeat(n - 1)),
        &|n| format!("{}(score > 1)", "!".repeat(n - 2)),
        &|n| format!("{} > 1", vec!["score"; n].join(" + ")),
    ];
    for case in cases {
        wd.write("p.yaml", expr_rule(&case(64)));
        wd.stdout(&["check", "p.yaml"]);
        assert_contains(
            &refused(&wd, &expr_rule(&case(65))),
            &["rule `a` nests deeper than 64 levels"],
        );
    }
}

// ---------------------------------------------------------------------------
// Item 5: decimals past 28 significant digits were silently rounded
// ---------------------------------------------------------------------------

const DEC_HEAD: &str = "policy: p\nkey: id\nfields: { id: string, income: decimal }\n";
const LONG: &str = "0.50000000000000000000000000001";

#[test]
fn a_decimal_cell_with_too_many_digits_is_refused() {
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        format!(
            "{DEC_HEAD}rules:\n  - {{ id: a, reason: A, when: {{ income: {{ gt: 0.5 }} }} }}\n"
        ),
    )
    .write("d.csv", format!("id,income\nu1,{LONG}\n"));
    let e = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    assert_contains(
        &e,
        &[
            &format!("`{LONG}` in column `income` (field 2) is a decimal with too many digits"),
            "--> d.csv:2:4",
            "help: a decimal holds 28 significant digits exactly",
        ],
    );
    assert!(!e.contains("not a decimal"), "{e}");
    // So does `simulate`, and `--skip-bad-rows` skips the row.
    wd.fails(&["simulate", "p.yaml", "--data", "d.csv"], 2);
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv", "--skip-bad-rows"]),
        "id,outcome,reasons,limit\n"
    );
}

#[test]
fn trailing_zeros_past_28_digits_lose_nothing_and_are_accepted() {
    let one = "1.000000000000000000000000000000000";
    let wd = Workdir::new();
    wd.write(
        "p.yaml",
        format!(
            "{DEC_HEAD}rules:\n  - {{ id: a, reason: A, when: {{ income: {{ gte: {one} }} }} }}\n"
        ),
    )
    .write(
        "d.csv",
        format!("id,income\nu1,{one}\nu2,0.9999999999999999999999999999\n"),
    );
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\nu1,approve,,\nu2,decline,A,\n"
    );
    // 28 significant digits, and 28 after the point, are held exactly.
    wd.write(
        "d.csv",
        "id,income\nu1,0.0000000000000000000000000001\nu2,123456789012345.1234567890123\n",
    );
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "id,outcome,reasons,limit\nu1,decline,A,\nu2,approve,,\n"
    );
}

#[test]
fn a_decimal_literal_with_too_many_digits_is_refused() {
    let wd = Workdir::new();
    let e = refused(
        &wd,
        &format!(
            "{DEC_HEAD}rules:\n  - id: a\n    reason: A\n    when: {{ income: {{ lt: {LONG} }} }}\n"
        ),
    );
    assert_contains(
        &e,
        &[
            &format!(
                "error: `{LONG}` has too many digits: a decimal holds 28 significant digits exactly, and this one would be rounded"
            ),
            "--> p.yaml:7:27",
            "help: round it to the precision you mean",
        ],
    );
    assert!(!e.contains("not a decimal"), "{e}");
    // In a list too, and past the point as well as in all.
    let e = refused(
        &wd,
        &format!(
            "{DEC_HEAD}rules:\n  - {{ id: a, reason: A, when: {{ income: {{ in: [1, 0.00000000000000000000000000001] }} }} }}\n"
        ),
    );
    assert_contains(
        &e,
        &["`0.00000000000000000000000000001` has too many digits"],
    );
}

#[test]
fn parameters_set_values_amounts_and_probabilities_with_too_many_digits_are_refused() {
    let wd = Workdir::new();
    // A parameter, where it is defined (once, however often it is used).
    let e = refused(
        &wd,
        &format!(
            "policy: p\nkey: id\nparams: {{ cut: {LONG} }}\nfields: {{ id: string, income: decimal }}\nrules:\n  - {{ id: a, reason: A, when: {{ income: {{ gt: $cut }} }} }}\n  - {{ id: b, reason: B, expr: \"income > $cut\" }}\n"
        ),
    );
    assert_contains(
        &e,
        &[
            &format!("error: parameter `cut` (`{LONG}`) has too many digits"),
            "--> p.yaml:3:16",
        ],
    );
    assert_eq!(e.matches("too many digits").count(), 1, "{e}");

    // `--set`.
    let policy = "policy: p\nkey: id\nparams: { cut: 0.5 }\nfields: { id: string, income: decimal }\nrules:\n  - { id: a, reason: A, when: { income: { gt: $cut } } }\n";
    wd.write("p.yaml", policy)
        .write("d.csv", "id,income\nu1,0.6\n");
    let e = wd.fails(
        &[
            "decide",
            "p.yaml",
            "--data",
            "d.csv",
            "--set",
            &format!("cut={LONG}"),
        ],
        2,
    );
    assert_contains(
        &e,
        &[&format!("error: `--set cut={LONG}` has too many digits")],
    );

    // A limit amount, an outcome probability, a rate and a late fee.
    let limit = "1999.500000000000000000000000001";
    for (yaml, at) in [
        (format!("limit:\n  - amount: {limit}\n"), "p.yaml:7:13"),
        (
            format!("repayment:\n  outcomes:\n    - p: {{ default: {LONG} }}\n"),
            "p.yaml:8:21",
        ),
        (
            format!("repayment:\n  loss_given_default: {LONG}\n"),
            "p.yaml:7:23",
        ),
        (format!("repayment:\n  late_fee: {limit}\n"), "p.yaml:7:13"),
    ] {
        let e = refused(
            &wd,
            &format!(
                "{DEC_HEAD}rules:\n  - {{ id: a, reason: A, when: {{ income: {{ gt: 0 }} }} }}\n{yaml}"
            ),
        );
        assert_contains(&e, &["has too many digits", at]);
        assert!(
            !e.contains("Rhai"),
            "read as a number, not an expression:\n{e}"
        );
    }
}

#[test]
fn a_number_in_an_expression_cannot_be_silently_rounded() {
    let wd = Workdir::new();
    // Rhai reads a number with a point as a float, which would hold this as 0.5.
    for expr in [
        format!("income > {LONG}"),
        format!("min(income, 1) > {LONG}"),
        "income * 3.14159265358979323846 > 1".to_owned(),
    ] {
        let e = refused(
            &wd,
            &format!("{DEC_HEAD}rules:\n  - id: a\n    reason: A\n    expr: \"{expr}\"\n"),
        );
        assert_contains(
            &e,
            &[
                "in rule `a` has too many digits: a number with a point is read as a float, which holds it as `",
            ],
        );
    }
    // A float that meets a decimal is read as the decimal it prints as:
    // 1.5e-29 prints with 30 digits after the point, more than a decimal holds.
    let e = refused(
        &wd,
        &format!(
            "{DEC_HEAD}rules:\n  - id: a\n    reason: A\n    expr: \"income > 0.000000000000000000000000000015\"\n"
        ),
    );
    assert_contains(
        &e,
        &["meets a decimal, and is read as the decimal it prints as, which has too many digits"],
    );
    // A derived field and a computed amount too.
    let e = refused(
        &wd,
        &format!(
            "{DEC_HEAD}derive:\n  half: \"income * {LONG}\"\nrules:\n  - {{ id: a, reason: A, when: {{ income: {{ gt: 0 }} }} }}\nlimit:\n  - amount: \"income * {LONG}\"\n"
        ),
    );
    assert_contains(
        &e,
        &[
            "in derived field `half` has too many digits",
            "in a limit `amount` has too many digits",
        ],
    );
    // A script too.
    wd.write(
        "s.rhai",
        format!("fn decide(user) {{ if user.income > {LONG} {{ approve(1) }} else {{ decline(\"LOW\") }} }}\n"),
    );
    let e = refused(&wd, &format!("{DEC_HEAD}script: s.rhai\n"));
    assert_contains(&e, &["in the script has too many digits", "--> s.rhai:1:"]);
}

// ---------------------------------------------------------------------------
// Item 8: YAML reason codes were not validated
// ---------------------------------------------------------------------------

#[test]
fn reason_codes_must_be_upper_snake_case() {
    let wd = Workdir::new();
    for (reason, shown) in [
        ("\"LOW;HIGH\"", "`LOW;HIGH`"),
        ("\"A,B\"", "`A,B`"),
        ("\"A B\"", "`A B`"),
        ("\"A\\tB\"", "`A\\tB`"),
        ("\"A\\nB\"", "`A\\nB`"),
        ("low_score", "`low_score`"),
        ("1ST", "`1ST`"),
        ("_LOW", "`_LOW`"),
    ] {
        let e = refused(
            &wd,
            &format!(
                "{HEAD}  - id: a\n    reason: {reason}\n    when: {{ score: {{ gte: 600 }} }}\n"
            ),
        );
        assert_contains(
            &e,
            &[
                &format!("error: reason {shown} is not a reason code"),
                "--> p.yaml:6:13",
                "help: write it in UPPER_SNAKE_CASE, such as `SCORE_TOO_LOW`",
            ],
        );
    }
    for empty in ["\"\"", "", "''"] {
        let e = refused(
            &wd,
            &format!(
                "{HEAD}  - id: a\n    reason: {empty}\n    when: {{ score: {{ gte: 600 }} }}\n"
            ),
        );
        assert_contains(&e, &["error: a rule's `reason` is empty", "--> p.yaml:6:5"]);
    }
}

#[test]
fn one_reason_code_on_two_rules_is_refused() {
    let wd = Workdir::new();
    let e = refused(
        &wd,
        &format!("{HEAD}{RULE_A}  - {{ id: b, reason: A, when: {{ score: {{ gte: 900 }} }} }}\n"),
    );
    assert_contains(
        &e,
        &[
            "error: reason `A` is used by rule `a` and rule `b`",
            "--> p.yaml:6:22",
            "help: give every rule its own reason code",
        ],
    );
}

#[test]
fn the_bundled_policies_still_pass() {
    for policy in [
        "policies/jd_plus.yaml",
        "policies/jd_plus_expr.yaml",
        "policies/merchant_review.yaml",
        "policies/merchant_script.yaml",
        "policies/zhima_600.yaml",
    ] {
        succeeded(in_repo(&["check", policy]), &["check", policy]);
    }
}

// ---------------------------------------------------------------------------
// Item 17c: no cap on the size of a policy
// ---------------------------------------------------------------------------

const CAP: usize = 4 << 20;

/// A valid policy padded with comment lines to exactly `size` bytes.
fn padded(size: usize) -> String {
    let mut s = format!("{HEAD}{RULE_A}");
    while s.len() < size {
        let n = (size - s.len()).min(80);
        s.push_str(&"#".repeat(n - 1));
        s.push('\n');
    }
    assert_eq!(s.len(), size);
    s
}

#[test]
fn a_policy_over_the_size_cap_is_refused() {
    let wd = Workdir::new();
    wd.write("p.yaml", padded(CAP));
    wd.stdout(&["check", "p.yaml"]);
    wd.write("p.yaml", padded(CAP + 1));
    let e = wd.fails(&["check", "p.yaml"], 2);
    assert_contains(
        &e,
        &[
            "error: `p.yaml` is 4.0 MiB or more, and a policy file may be at most 4 MiB",
            "--> p.yaml:1:1",
            "help: check that this is the policy",
        ],
    );
    // A large sparse file is refused by its size, without being read.
    let file = std::fs::File::create(wd.path("big.yaml")).unwrap();
    file.set_len(64 << 20).unwrap();
    let e = wd.fails(&["decide", "big.yaml", "--data", "d.csv"], 2);
    assert_contains(&e, &["`big.yaml` is 64.0 MiB or more"]);
}

#[test]
fn a_fifo_cannot_get_past_the_policy_size_cap() {
    let wd = Workdir::new();
    let fifo = wd.path("p.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    // The writer stops on its own, so a reader without a cap ends too; it
    // is not joined, so that a polsim that never opens the FIFO fails the
    // test instead of hanging it.
    let body = padded(CAP + 4096);
    std::thread::spawn(move || {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
            let _ = f.write_all(body.as_bytes());
        }
    });
    let e = wd.fails(&["check", "p.yaml"], 2);
    assert_contains(&e, &["a policy file may be at most 4 MiB"]);
}

#[test]
fn a_script_over_the_size_cap_is_refused() {
    let wd = Workdir::new();
    let mut script = String::from("fn decide(user) { approve(1) }\n");
    while script.len() <= CAP {
        script.push_str("// padding\n");
    }
    wd.write("s.rhai", &script)
        .write("d.csv", "id,income\nu1,1\n");
    let e = refused(&wd, &format!("{DEC_HEAD}script: s.rhai\n"));
    assert_contains(
        &e,
        &[
            "`s.rhai` is 4.0 MiB or more, and a script file may be at most 4 MiB",
            "--> p.yaml:4:9",
        ],
    );
    // Given as the policy itself.
    let e = wd.fails(&["check", "s.rhai", "--data", "d.csv"], 2);
    assert_contains(
        &e,
        &["a script file may be at most 4 MiB", "--> s.rhai:1:1"],
    );
}
