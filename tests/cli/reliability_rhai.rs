//! The Rhai sandbox: a script that nests values deeply, runs away inside
//! the operation limit, or writes top-level statements ends with an error
//! naming the script, the place and the row, never an abort or a hang.

use super::*;

const POLICY: &str = "policy: s
key: user_id
params: { min_score: 600 }
fields: { user_id: string, score: int }
script: s.rhai
";

const DATA: &str = "user_id,score\nu1,700\n";

/// Writes the script beside the policy and data; the work directory.
fn script(text: &str) -> Workdir {
    let wd = Workdir::new();
    wd.write("p.yaml", POLICY)
        .write("s.rhai", text)
        .write("d.csv", DATA);
    wd
}

/// `decide` fails with exit 2, `check --data` with exit 1, both with the message.
fn row_error(text: &str) -> String {
    let wd = script(text);
    let err = wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    let check = wd.fails(&["check", "p.yaml", "--data", "d.csv"], 1);
    let first = err.lines().next().unwrap_or_default().to_owned();
    assert_contains(&check, &[&first]);
    err
}

#[test]
fn rhai_deeply_nested_array_printed_or_compared_is_an_error_not_an_abort() {
    let build = "let a = []; for i in 0..2000 { a = [a]; }";
    for what in [
        "print(a);",
        "if a == a { }",
        "a.to_string();",
        "debug(a);",
        "let s = `${a}`;",
        "let m = #{x: a}; print(m);",
        "if [a].contains(a) { }",
    ] {
        let text = format!("fn decide(user) {{\n    {build} {what}\n    approve()\n}}\n");
        let err = row_error(&text);
        assert_contains(
            &err,
            &[
                "error: script `s.rhai` printed or compared arrays or maps nested more than 64 deep on d.csv line 2 (user_id `u1`)",
                "--> s.rhai:2:",
                "help: arrays and maps may be printed and compared only 64 levels deep",
            ],
        );
        // The place is the walk, after the loop that built the value.
        let col: usize = err
            .split("--> s.rhai:2:")
            .nth(1)
            .and_then(|r| r.lines().next())
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        assert!(col >= 47, "{what}: column {col}\n{err}");
    }
}

#[test]
fn rhai_nested_maps_printed_are_an_error() {
    let err = row_error(
        "fn decide(user) {\n    let m = #{};\n    for i in 0..500 { m = #{ inner: m, s: \"x\" }; }\n    print(m);\n    approve()\n}\n",
    );
    assert_contains(
        &err,
        &["nested more than 64 deep on d.csv line 2", "--> s.rhai:4:5"],
    );
}

#[test]
fn rhai_values_at_the_nesting_bound_print_and_compare_as_before() {
    // 64 levels (the bound) print and compare; Rhai's own format is kept.
    let wd = script(
        "fn decide(user) {\n    let a = [1];\n    for i in 0..63 { a = [a, #{k: \"v\"}]; }\n    let b = a;\n    if a == b && a.contains(b[1]) && `${a}`.len() > 0 && [[1, \"x\"], #{k: 2.5}].to_string() == \"[[1, \\\"x\\\"], #{\\\"k\\\": 2.5}]\" { approve(1) } else { decline(\"NO\") }\n}\n",
    );
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "user_id,outcome,reasons,limit\nu1,approve,,1.00\n"
    );
}

#[test]
fn rhai_deep_values_within_the_sizes_are_cloned_and_dropped_safely() {
    // Rhai clones, sizes and drops values recursively, even after the row
    // fails. (The unit test `script::tests::rhai_walks_values_as_deep_as_the_sizes_allow`
    // goes to the sizes' bound; building one in a script takes quadratic time.)
    let err = row_error(
        "fn decide(user) {\n    let a = [];\n    for i in 0..1000 { a = #{x: [a]}; }\n    let b = a;\n    let c = [a] + [b];\n    switch c { [1] => 1, _ => 2 };\n    throw a;\n}\n",
    );
    assert_contains(
        &err,
        &[
            "a value of arrays or maps nested more than 64 deep",
            "--> s.rhai:7:5",
        ],
    );
}

#[test]
fn rhai_contains_in_a_loop_ends_at_the_operation_limit() {
    let err = row_error(
        "fn decide(user) {\n    let a = [];\n    a.pad(10000, 1);\n    for j in 0..160000 { a.contains(2); }\n    approve()\n}\n",
    );
    assert_contains(
        &err,
        &[
            "error: script `s.rhai` ran more than 1000000 operations on d.csv line 2 (user_id `u1`)",
            "--> s.rhai:4:",
            "help: a loop that never ends?",
        ],
    );
}

#[test]
fn rhai_in_and_index_of_and_sort_in_a_loop_end_at_the_operation_limit() {
    for step in [
        "if 2 in a { }",
        "a.index_of(2);",
        "a.sort();",
        "a.reverse();",
        "if a == a { }",
    ] {
        let err = row_error(&format!(
            "fn decide(user) {{\n    let a = [];\n    a.pad(10000, 1);\n    for j in 0..160000 {{ {step} }}\n    approve()\n}}\n"
        ));
        assert_contains(
            &err,
            &[
                "ran more than 1000000 operations on d.csv line 2",
                "--> s.rhai:4:",
            ],
        );
    }
}

#[test]
fn rhai_row_that_copies_a_large_array_every_step_ends_at_the_deadline() {
    let wd = script(
        "fn decide(user) {\n    let a = [];\n    a.pad(10000, 1);\n    loop { let b = a; }\n}\n",
    );
    let started = std::time::Instant::now();
    let args = ["decide", "p.yaml", "--data", "d.csv"];
    let out = wd
        .command(&args)
        .env_remove("POLSIM_ROW_DEADLINE")
        .output()
        .unwrap();
    let err = failed(out, &args, 2);
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    assert_contains(
        &err,
        &[
            "error: script `s.rhai` ran longer than 2 seconds on d.csv line 2 (user_id `u1`)",
            "--> s.rhai:4:",
            "help: a loop that never ends, or that copies large arrays or strings on every step?",
        ],
    );
}

#[test]
fn rhai_curry_and_capturing_closures_are_refused_when_the_policy_loads() {
    for (text, at) in [
        (
            "fn decide(user) {\n    let x = 1;\n    let f = |v| v + x;\n    approve(f.call(1))\n}\n",
            "--> s.rhai:3:",
        ),
        (
            "fn g(a) { a }\nfn decide(user) {\n    let f = Fn(\"g\");\n    f = f.curry(1);\n    approve()\n}\n",
            "--> s.rhai:4:",
        ),
    ] {
        let wd = script(text);
        let err = wd.fails(&["check", "p.yaml"], 1);
        assert_contains(
            &err,
            &[
                "the script curries a function pointer, or has a closure that captures a variable",
                at,
                "help: pass the value as an argument instead",
            ],
        );
    }
    // A closure of its own parameters is fine.
    let wd =
        script("fn decide(user) {\n    let a = [1, 2].map(|v| v * 2);\n    approve(a[1])\n}\n");
    assert_eq!(
        wd.stdout(&["decide", "p.yaml", "--data", "d.csv"]),
        "user_id,outcome,reasons,limit\nu1,approve,,4.00\n"
    );
}

#[test]
fn rhai_top_level_const_in_a_script_is_refused_when_the_policy_loads() {
    for (text, what) in [
        (
            "const LIMIT = 5000;\nfn decide(user) { approve(LIMIT) }\n",
            "a top-level `const`",
        ),
        (
            "fn decide(user) { approve(LIMIT) }\nlet LIMIT = 5000;\n",
            "a top-level `let`",
        ),
        (
            "fn decide(user) { approve(1) }\nprint(1);\n",
            "a statement outside any function",
        ),
    ] {
        let wd = script(text);
        let err = wd.fails(&["check", "p.yaml"], 1);
        let line = if text.starts_with("fn") { 2 } else { 1 };
        assert_contains(
            &err,
            &[
                &format!(
                    "error: the script has {what}, which `decide` cannot see and which never runs"
                ),
                &format!("--> s.rhai:{line}:1"),
                "help: a script holds only `fn` definitions: put a constant under `params`",
            ],
        );
        wd.fails(&["decide", "p.yaml", "--data", "d.csv"], 2);
    }
}

#[test]
fn rhai_nesting_scripts_run_in_rhai_not_natively() {
    // The native compiler must not take a script of this kind (it would
    // have to give the same errors).
    let wd = script(
        "fn decide(user) {\n    let a = [];\n    for i in 0..3 { a = [a]; }\n    print(a);\n    approve()\n}\n",
    );
    let out = wd.stdout(&["check", "p.yaml"]);
    assert_contains(&out, &["runs in Rhai"]);
}

#[test]
fn rhai_row_deadline_can_be_raised_and_a_bad_setting_is_a_usage_error() {
    let wd = script(
        "fn decide(user) {\n    let a = [];\n    a.pad(10000, 1);\n    loop { let b = a; }\n}\n",
    );
    let args = ["decide", "p.yaml", "--data", "d.csv"];
    let out = wd
        .command(&args)
        .env("POLSIM_ROW_DEADLINE", "0.5")
        .output()
        .unwrap();
    assert_contains(&failed(out, &args, 2), &["ran longer than 0.5 seconds"]);
    for bad in ["0", "-1", "abc", "inf"] {
        let out = wd
            .command(&args)
            .env("POLSIM_ROW_DEADLINE", bad)
            .output()
            .unwrap();
        assert_contains(
            &failed(out, &args, 2),
            &[
                &format!("error: `POLSIM_ROW_DEADLINE={bad}` is not a number of seconds"),
                "help: set it to the seconds",
            ],
        );
    }
}

/// Runs `polsim ARGS` in `wd` with its address space limited to `kib`
/// (`ulimit -v`), as on a cluster node or in a container with that limit.
fn with_address_space_limit(wd: &Workdir, kib: u64, args: &[&str]) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("polsim");
    let line = format!("ulimit -v {kib} && exec \"$0\" \"$@\"");
    std::process::Command::new("sh")
        .current_dir(wd.dir.path())
        .env("POLSIM_CACHE_DIR", "off")
        .args(["-c", &line])
        .arg(bin)
        .args(args)
        .output()
        .expect("run polsim under sh")
}

#[test]
fn regression_only_rhai_policies_need_the_large_worker_stack() {
    // Workers of a policy without Rhai keep the default stack, so a limit
    // on address space that the old binary ran under still works; a policy
    // that runs Rhai needs 256 MiB a worker and says so, not a panic.
    let wd = script("fn decide(user) { approve() }\n");
    wd.write("score.yaml", SCORE_POLICY)
        .write("s.csv", "id,score\nu1,700\nu2,500\n");
    let args = [
        "simulate",
        "score.yaml",
        "--data",
        "s.csv",
        "--format",
        "json",
        "--threads",
        "2",
    ];
    let out = with_address_space_limit(&wd, 200_000, &args);
    let report: Value = serde_json::from_str(&succeeded(out, &args)).unwrap();
    assert_eq!(report["approved"], 1);
    let args = ["decide", "p.yaml", "--data", "d.csv"];
    let err = failed(with_address_space_limit(&wd, 200_000, &args), &args, 2);
    assert_contains(
        &err,
        &[
            "error: cannot start a thread to read `d.csv`",
            "help: the process may be limited in memory or address space",
        ],
    );
}
