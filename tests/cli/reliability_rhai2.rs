//! The Rhai sandbox, second round: a row's memory is bounded whichever way a
//! script grows a value, the per-row deadline holds when every step copies a
//! large value, a `.rhai` policy refuses a dataset it cannot read twice, a
//! reason code given to both `review` and `decline` is refused, and a float
//! too large for a decimal is printed short.

use super::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The first two rows of the bundled sample.
fn sample_head(rows: usize) -> String {
    let text = std::fs::read_to_string(repo_file("datasets/sample.csv")).expect("read the sample");
    let mut out = String::new();
    for line in text.lines().take(rows + 1) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// How a run of polsim ended.
struct Run {
    code: Option<i32>,
    stderr: String,
    /// Peak resident memory of the child, in KiB.
    max_rss_kib: i64,
    elapsed: Duration,
}

/// Runs polsim in `wd` with standard input `stdin` (a file in `wd`, or
/// nothing), killing it after `limit`: a run that needs the kill fails.
// The child is reaped by `wait4`, which gives its peak memory too.
#[allow(clippy::zombie_processes)]
/// Runs polsim with the default per-row deadline only where `args` name the
/// deadline's own test script (`slow.rhai`); elsewhere the clock is taken
/// out of the way, as in `polsim()`.
fn run(wd: &Workdir, args: &[&str], stdin: Option<&str>, limit: Duration) -> Run {
    let bin = assert_cmd::cargo::cargo_bin("polsim");
    let err_path = wd.path("stderr.txt");
    let mut cmd = std::process::Command::new(bin);
    cmd.current_dir(wd.dir.path())
        .args(args)
        .env("POLSIM_CACHE_DIR", "off")
        .env_remove("POLSIM_ROW_DEADLINE")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).expect("create stderr.txt"));
    match stdin {
        Some(name) => cmd.stdin(std::fs::File::open(wd.path(name)).expect("open stdin file")),
        None => cmd.stdin(Stdio::null()),
    };
    if !args.contains(&"slow.rhai") {
        cmd.env("POLSIM_ROW_DEADLINE", "600");
    }
    let start = Instant::now();
    let child = cmd.spawn().expect("run polsim");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed `rusage` is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut peak = None;
    loop {
        peak = peak.max(own_peak_kib(pid as u32));
        // SAFETY: waits for our own child; `status` and `usage` are valid.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(r, 0, "wait4 failed");
        if start.elapsed() > limit {
            // SAFETY: our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            panic!(
                "polsim {args:?} still ran after {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = start.elapsed();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Run {
        code,
        stderr: std::fs::read_to_string(&err_path).expect("read stderr.txt"),
        max_rss_kib: peak.unwrap_or(usage.ru_maxrss),
        elapsed,
    }
}

/// A script reads `s` as a string of 9,990 bytes.
fn with_long_string(body: &str) -> String {
    format!(
        "fn decide(user) {{\n    let s = \"\"; s.pad(9990, \"x\");\n    {body}\n    approve(1)\n}}\n"
    )
}

#[test]
fn rhai_map_index_assignment_cannot_take_unbounded_memory() {
    let wd = Workdir::new();
    wd.write("s2.csv", sample_head(2));
    for body in [
        // The reviewer's reproducer: a map grown by `m[key] = value`.
        "let m = #{}; for i in 0..60000 { m[`k${i}`] = s + i; }",
        // Nested, through a property.
        "let m = #{a: #{}}; for i in 0..60000 { m.a[`k${i}`] = s + i; }",
        // Arrays of strings, filled by index.
        "let a = []; a.pad(10000, 0); for i in 0..10000 { a[i] = s + i; }",
        // Maps of arrays.
        "let m = #{}; for i in 0..60000 { m[`k${i}`] = [s + i]; }",
    ] {
        wd.write("mem.rhai", with_long_string(body));
        let r = run(
            &wd,
            &["decide", "mem.rhai", "--data", "s2.csv", "--threads", "1"],
            None,
            Duration::from_secs(60),
        );
        assert_eq!(r.code, Some(2), "{body}\n{}", r.stderr);
        assert_contains(
            &r.stderr,
            &[
                "error: script `mem.rhai` held more than 64 MiB of memory on s2.csv line 2 (user_id `u00000001`)",
                "--> mem.rhai:3:",
                "help: a map or array that grows on every step of a loop? strings are limited to 10000 bytes, arrays and maps to 10000 items",
            ],
        );
        assert!(
            r.max_rss_kib < 200 * 1024,
            "{body}: peak memory {} KiB",
            r.max_rss_kib
        );
    }
}

#[test]
fn rhai_values_within_the_size_limits_still_run() {
    // A full map of long-ish keys, copied and compared: well within the memory bound.
    let wd = Workdir::new();
    wd.write("s2.csv", sample_head(2)).write(
        "ok.rhai",
        "fn decide(user) {\n    let m = #{}; for i in 0..10000 { m[`key_number_${i}`] = i; }\n    let c = m; for j in 0..20 { c = m; }\n    if c != m { return decline(\"NO\"); }\n    approve(m.len())\n}\n",
    );
    let out = wd.stdout(&["decide", "ok.rhai", "--data", "s2.csv"]);
    assert_eq!(
        out,
        "user_id,outcome,reasons,limit\nu00000001,approve,,10000.00\nu00000002,approve,,10000.00\n"
    );
}

#[test]
fn rhai_deadline_holds_when_every_step_copies_a_large_map() {
    let wd = Workdir::new();
    wd.write("s2.csv", sample_head(2)).write(
        "slow.rhai",
        // A map of 10,000 items, within the limits, copied on every step:
        // each step counts a few operations but takes a millisecond or more.
        "fn decide(user) {\n    let m = #{}; for i in 0..10000 { m[`k${i}`] = i; }\n    for j in 0..100000 { let c = m; }\n    approve(1)\n}\n",
    );
    let r = run(
        &wd,
        &["decide", "slow.rhai", "--data", "s2.csv", "--threads", "1"],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_contains(
        &r.stderr,
        &[
            "error: script `slow.rhai` ran longer than 2 seconds on s2.csv line 2 (user_id `u00000001`)",
            "--> slow.rhai:",
        ],
    );
    // The row runs twice (the second time to find where it was), each at
    // most the deadline and one copy over it.
    assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
}

/// The message a `.rhai` policy gives for a dataset it cannot read twice.
fn needs_a_file(stderr: &str, shown: &str) {
    assert_contains(
        stderr,
        &[
            &format!(
                "error: `z.rhai` is a script, whose fields are typed from the dataset, so it needs `--data FILE` (a regular file, not a pipe or device like `{shown}`)"
            ),
            "help: save the dataset to a file first, or write a YAML policy with `fields` and `script:`",
        ],
    );
}

#[test]
fn rhai_script_policy_refuses_a_fifo_as_data_without_hanging() {
    let wd = Workdir::new();
    wd.write("z.rhai", "fn decide(user) { approve(1) }\n");
    let status = std::process::Command::new("mkfifo")
        .current_dir(wd.dir.path())
        .arg("df.csv")
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    for command in ["decide", "simulate", "check"] {
        // No writer ever opens the FIFO: opening it for reading would wait forever.
        let r = run(
            &wd,
            &[command, "z.rhai", "--data", "df.csv"],
            None,
            Duration::from_secs(10),
        );
        assert_eq!(r.code, Some(2), "{command}: {}", r.stderr);
        needs_a_file(&r.stderr, "df.csv");
    }
}

#[test]
fn rhai_script_policy_refuses_a_pipe_as_data() {
    // `--data <(cat d.csv)` names a pipe in /dev/fd; so does standard input from one.
    let wd = Workdir::new();
    wd.write("z.rhai", "fn decide(user) { approve(1) }\n")
        .write("d.csv", sample_head(200));
    let mut child = polsim_std(&wd)
        .args(["decide", "z.rhai", "--data", "/dev/fd/0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run polsim");
    let mut stdin = child.stdin.take().expect("a pipe");
    let data = sample_head(200);
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(data.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for polsim");
    writer.join().expect("the writer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    needs_a_file(&stderr, "/dev/fd/0");
    // A regular file still works.
    wd.stdout(&["decide", "z.rhai", "--data", "d.csv"]);
}

fn polsim_std(wd: &Workdir) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("polsim"));
    cmd.current_dir(wd.dir.path())
        .env("POLSIM_CACHE_DIR", "off");
    cmd
}

#[test]
fn rhai_reason_code_given_to_both_decline_and_review_is_refused() {
    let wd = Workdir::new();
    wd.write("s2.csv", sample_head(2));
    for (text, message, at) in [
        (
            "fn decide(user) { if user.zhima_score > 700 { decline(\"AA\") } else { review(\"AA\") } }\n",
            "error: reason `AA` is given to `decline` at same.rhai:1:55 and to `review` at same.rhai:1:77",
            "--> same.rhai:1:77",
        ),
        (
            "fn decide(user) {\n    if user.age < 20 { return review(\"YOUNG\"); }\n    let r = [];\n    r.push(\"YOUNG\");\n    decline(r)\n}\n",
            "error: reason `YOUNG` is given to `review` at same.rhai:2:38 and to `decline` at same.rhai:4:12",
            "--> same.rhai:4:12",
        ),
    ] {
        wd.write("same.rhai", text);
        // `check` reports the policy as failing (exit 1), the others stop (exit 2).
        for (command, code) in [("simulate", 2), ("decide", 2), ("check", 1)] {
            let err = wd.fails(&[command, "same.rhai", "--data", "s2.csv"], code);
            assert_contains(
                &err,
                &[
                    message,
                    at,
                    "help: give a review and a decline their own reason codes",
                ],
            );
        }
    }
    // Codes of one action each, and a code compared but never returned, are fine.
    wd.write(
        "ok.rhai",
        "fn decide(user) {\n    if user.scenario == \"AA\" { return review(\"AA\"); }\n    if user.age < 20 { decline(\"YOUNG\") } else { review(\"OLD\") }\n}\n",
    );
    wd.stdout(&["decide", "ok.rhai", "--data", "s2.csv"]);
}

#[test]
fn rhai_float_too_large_for_a_decimal_prints_short() {
    let wd = Workdir::new();
    wd.write("s2.csv", sample_head(2)).write(
        "f.rhai",
        "fn decide(user) { if user.monthly_income * 1.0e300 > 1 { approve(1) } else { approve(2) } }\n",
    );
    let err = wd.fails(&["decide", "f.rhai", "--data", "s2.csv"], 2);
    assert_contains(
        &err,
        &["failed on s2.csv line 2 (user_id `u00000001`): 1e300 is not a decimal number"],
    );
    assert!(!err.contains("000000000000"), "{err}");
}

/// A bare `.rhai` policy types its columns from the data's first rows; a
/// later cell of another kind says so, and how to declare the type.
#[test]
fn a_later_cell_unlike_a_rhai_policys_typed_column_says_how_it_was_typed() {
    let wd = Workdir::new();
    let mut csv = "user_id,amount\n".to_owned();
    for i in 0..1500 {
        let amount = if i == 1200 {
            "12.50".to_owned()
        } else {
            i.to_string()
        };
        csv.push_str(&format!("u{i},{amount}\n"));
    }
    wd.write("t.csv", csv);
    wd.write(
        "s.rhai",
        "fn decide(user) { if user.amount >= 600 { approve(500) } else { decline(\"LOW\") } }\n",
    );
    let err = wd.fails(&["simulate", "s.rhai", "--data", "t.csv"], 2);
    assert_contains(
        &err,
        &[
            "`12.50` in column `amount` (field 2) is not an int",
            "t.csv:1202:",
            "types each column from the data's first 1000 rows, and `amount` read as an int there",
            "`fields: { amount: … }` beside `script:`",
        ],
    );
}
