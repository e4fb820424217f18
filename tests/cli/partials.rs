//! Partial results and `polsim merge`: splitting the data anywhere between
//! records, emitting a partial per part (any order, any thread count) and
//! merging gives the report of one run over the whole — byte for byte but
//! for the manifest's data fields, Monte Carlo included.

use super::*;
use proptest::prelude::*;

const SAMPLE: &str = "datasets/sample.csv";

/// The JD policy's path.
fn jd_plus() -> String {
    repo_file("policies/jd_plus.yaml")
        .to_string_lossy()
        .into_owned()
}

/// The sample's header and records.
fn sample() -> (String, Vec<String>) {
    let text = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    let mut lines = text.lines().map(str::to_owned);
    let header = lines.next().unwrap();
    (header, lines.collect())
}

/// A report's JSON without what only a merge or only a whole run has.
fn comparable(mut report: Value) -> Value {
    let m = report["manifest"].as_object_mut().unwrap();
    m.remove("parts");
    m.remove("data_sha256");
    report
}

fn run_json(wd: &Workdir, args: &[&str]) -> Value {
    let out = succeeded(wd.output(args), args);
    serde_json::from_str(&out).unwrap()
}

/// Writes the parts of `records` cut at `cuts`, emits a partial of each
/// with `policy_args`, and merges them in `order`: the merged report.
fn split_and_merge(
    wd: &Workdir,
    header: &str,
    records: &[String],
    cuts: &[usize],
    order: &[usize],
    threads: &[usize],
    policy_args: &[&str],
) -> Value {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied());
    bounds.push(records.len());
    let mut partials = Vec::new();
    for (i, w) in bounds.windows(2).enumerate() {
        let name = format!("part{i}.csv");
        wd.write(
            &name,
            format!("{header}\n{}\n", records[w[0]..w[1]].join("\n")),
        );
        let out = format!("part{i}.partial");
        let t = threads[i % threads.len()].to_string();
        let mut args = vec!["simulate"];
        args.extend(policy_args);
        args.extend([
            "--data",
            &name,
            "--threads",
            &t,
            "--partial",
            &out,
            "--quiet",
        ]);
        succeeded(wd.output(&args), &args);
        partials.push(out);
    }
    let mut args = vec!["merge".to_owned()];
    args.extend(order.iter().map(|&i| partials[i % partials.len()].clone()));
    args.extend(["--format".to_owned(), "json".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_json(wd, &args)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// The law, over random splits, thread counts and merge orders, with
    /// segments and the Monte Carlo.
    #[test]
    fn splitting_emitting_and_merging_gives_the_whole_runs_report(
        cuts in prop::collection::btree_set(1usize..19_999, 1..4),
        seed in 0u64..1000,
        threads in prop::collection::vec(1usize..4, 1..4),
    ) {
        let (header, records) = sample();
        let wd = Workdir::new();
        let policy = jd_plus();
        let seed = seed.to_string();
        let policy_args = [
            policy.as_str(), "--by", "city_tier", "--by", "zhima_score:600,700",
            "--trials", "100", "--seed", &seed,
        ];
        let cuts: Vec<usize> = cuts.into_iter().collect();
        // Merge in reverse order.
        let order: Vec<usize> = (0..=cuts.len()).rev().collect();
        let merged = split_and_merge(&wd, &header, &records, &cuts, &order, &threads, &policy_args);
        let data = repo_file(SAMPLE).to_string_lossy().into_owned();
        let mut whole = vec!["simulate"];
        whole.extend(policy_args);
        whole.extend(["--data", &data, "--format", "json"]);
        let whole = run_json(&wd, &whole);
        prop_assert_eq!(merged["manifest"]["parts"].as_array().unwrap().len(), cuts.len() + 1);
        prop_assert_eq!(comparable(merged), comparable(whole));
    }
}

#[test]
fn a_merged_report_lists_every_parts_data_and_text_formats_work() {
    let (header, records) = sample();
    let wd = Workdir::new();
    let policy = repo_file("policies/zhima_600.yaml")
        .to_string_lossy()
        .into_owned();
    let merged = split_and_merge(&wd, &header, &records, &[5000], &[0, 1], &[2], &[&policy]);
    let parts = merged["manifest"]["parts"].as_array().unwrap();
    assert_eq!(parts[0]["name"], "part0.csv");
    assert_eq!(parts[0]["rows"], 5000);
    assert_eq!(parts[1]["rows"], 15000);
    assert_eq!(parts[0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(merged["manifest"]["data_sha256"], Value::Null);
    let table = wd.stdout(&[
        "merge",
        "part0.partial",
        "part1.partial",
        "--format",
        "table",
    ]);
    assert_contains(
        &table,
        &["zhima-600 v1 — 20,000 rows", "data merged from 2 parts"],
    );
}

#[test]
fn a_merge_in_stages_equals_one_merge() {
    let (header, records) = sample();
    let wd = Workdir::new();
    let policy = jd_plus();
    let direct = split_and_merge(
        &wd,
        &header,
        &records,
        &[3000, 9000, 15000],
        &[0, 1, 2, 3],
        &[1],
        &[&policy, "--trials", "50"],
    );
    succeeded(
        wd.output(&[
            "merge",
            "part0.partial",
            "part1.partial",
            "--partial",
            "a.partial",
        ]),
        &["merge"],
    );
    succeeded(
        wd.output(&[
            "merge",
            "part2.partial",
            "part3.partial",
            "--emit",
            "partial",
        ]),
        &["merge"],
    );
    let out = wd.output(&[
        "merge",
        "part2.partial",
        "part3.partial",
        "--emit",
        "partial",
    ]);
    wd.write("b.partial", out.stdout);
    let staged = run_json(
        &wd,
        &["merge", "a.partial", "b.partial", "--format", "json"],
    );
    assert_eq!(staged, direct);
}

/// The same data twice (a partial given twice, a task run twice, a part
/// already inside a merged partial) would count its rows twice: refused.
/// Empty parts, which hash alike, may repeat.
#[test]
fn merge_refuses_the_same_data_twice_but_not_empty_parts() {
    let (header, records) = sample();
    let wd = Workdir::new();
    let policy = jd_plus();
    split_and_merge(&wd, &header, &records, &[5000], &[0, 1], &[1], &[&policy]);
    let err = wd.fails(
        &["merge", "part0.partial", "part1.partial", "part0.partial"],
        2,
    );
    assert_contains(
        &err,
        &[
            "partials 1 (`part0.partial`, of `part0.csv`) and 3 (`part0.partial`, of `part0.csv`) cover the same data",
            "5000 rows): merged, its rows would count twice",
        ],
    );
    succeeded(
        wd.output(&[
            "merge",
            "part0.partial",
            "part1.partial",
            "--partial",
            "m.partial",
        ]),
        &["merge"],
    );
    let err = wd.fails(&["merge", "m.partial", "part1.partial"], 2);
    assert_contains(
        &err,
        &[
            "partials 1 (`m.partial`, of `part1.csv`) and 2 (`part1.partial`, of `part1.csv`) cover the same data",
        ],
    );
    // A part whose every row was skipped has no rows, yet is not empty.
    wd.write(
        "bad.csv",
        format!(
            "{header}\nu1,abc{}\nu2,xyz{}\n",
            ",x".repeat(13),
            ",x".repeat(13)
        ),
    );
    for out in ["b1.partial", "b2.partial"] {
        succeeded(
            wd.output(&[
                "simulate",
                &policy,
                "--data",
                "bad.csv",
                "--skip-bad-rows",
                "--quiet",
                "--partial",
                out,
            ]),
            &["simulate"],
        );
    }
    let err = wd.fails(&["merge", "b1.partial", "b2.partial"], 2);
    assert_contains(&err, &["cover the same data"]);
    // Two empty parts: a header alone each.
    wd.write("e.csv", format!("{header}\n"));
    for out in ["e1.partial", "e2.partial"] {
        succeeded(
            wd.output(&["simulate", &policy, "--data", "e.csv", "--partial", out]),
            &["simulate"],
        );
    }
    let merged = run_json(
        &wd,
        &[
            "merge",
            "e1.partial",
            "part0.partial",
            "e2.partial",
            "part1.partial",
            "--format",
            "json",
        ],
    );
    assert_eq!(merged["rows"], 20000);
}

/// A partial changed after polsim wrote it (an edit to its state or its
/// header, a flipped digit) is refused by its `sha256`, not merged into a
/// wrong report; one made by hand, checksum and all, whose state does not
/// fit is an error, not a crash.
#[test]
fn merge_refuses_a_partial_whose_state_was_changed() {
    let (header, records) = sample();
    let wd = Workdir::new();
    let policy = jd_plus();
    split_and_merge(
        &wd,
        &header,
        &records,
        &[5000],
        &[0, 1],
        &[1],
        &[&policy, "--trials", "5"],
    );
    let text = wd.read("part1.partial");
    let original: Value = serde_json::from_str(&text).unwrap();
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 6] = [
        ("a part's data hash", |v| {
            v["data"][0]["sha256"] = "0".repeat(64).into();
        }),
        ("a part's rows", |v| v["data"][0]["rows"] = 0.into()),
        ("the --set list", |v| {
            v["set"] = serde_json::json!([["min_score", "600"]]);
        }),
        ("approved", |v| {
            let n = v["state"]["of"]["whole"]["outcomes"]["approved"]
                .as_u64()
                .unwrap();
            v["state"]["of"]["whole"]["outcomes"]["approved"] = (n + 1).into();
        }),
        ("rows", |v| {
            let n = v["state"]["of"]["whole"]["outcomes"]["rows"]
                .as_u64()
                .unwrap();
            v["state"]["of"]["whole"]["outcomes"]["rows"] = (n - 1).into();
        }),
        ("a trial", |v| {
            let n = v["state"]["of"]["trials"]["defaults"][2].as_u64().unwrap();
            v["state"]["of"]["trials"]["defaults"][2] = (n + 1).into();
        }),
    ];
    for (what, edit) in edits {
        let mut v = original.clone();
        edit(&mut v);
        assert_ne!(v, original, "{what}");
        wd.write("edited.partial", serde_json::to_string(&v).unwrap());
        let err = wd.fails(&["merge", "part0.partial", "edited.partial"], 2);
        assert_contains(
            &err,
            &[
                "`edited.partial` is a damaged partial result: it does not match its `sha256`: it was changed after polsim wrote it",
            ],
        );
    }
    // Read and written again unchanged (other whitespace, key order), it merges.
    wd.write(
        "same.partial",
        serde_json::to_string_pretty(&original).unwrap(),
    );
    succeeded(
        wd.output(&["merge", "part0.partial", "same.partial"]),
        &["merge"],
    );
    // Forged: the whole's reasons cut to two.
    let key = "\"reasons\":{\"failed\":[";
    let start = text.find(key).unwrap() + key.len();
    let end = start + text[start..].find(']').unwrap();
    let all = &text[start - 1..=end];
    let two: Vec<&str> = text[start..end].split(',').take(2).collect();
    wd.write(
        "forged.partial",
        forge(&text, all, &format!("[{}]", two.join(","))),
    );
    let out = wd.output(&["merge", "forged.partial"]);
    let err = failed(out, &["merge"], 2);
    assert!(!err.contains("panicked"), "{err}");
    assert_contains(&err, &["help: make every partial again"]);
}

/// `--by` specs that segment alike, written with other spaces, merge; the
/// report is the whole run's.
#[test]
fn by_specs_written_with_other_spaces_merge() {
    let (header, records) = sample();
    let wd = Workdir::new();
    let policy = jd_plus();
    let part = |rows: &[String]| format!("{header}\n{}\n", rows.join("\n"));
    wd.write("a.csv", part(&records[..8000]));
    wd.write("b.csv", part(&records[8000..]));
    for (data, by, out) in [
        ("a.csv", "zhima_score:600,700", "a.partial"),
        ("b.csv", "zhima_score:600, 700", "b.partial"),
    ] {
        let args = [
            "simulate",
            &policy,
            "--data",
            data,
            "--by",
            by,
            "--partial",
            out,
        ];
        succeeded(wd.output(&args), &args);
    }
    let merged = run_json(
        &wd,
        &["merge", "b.partial", "a.partial", "--format", "json"],
    );
    let data = repo_file(SAMPLE).to_string_lossy().into_owned();
    let whole = run_json(
        &wd,
        &[
            "simulate",
            &policy,
            "--data",
            &data,
            "--by",
            "zhima_score:600,700",
            "--format",
            "json",
        ],
    );
    assert_eq!(comparable(merged), comparable(whole));
}

/// `text` (a partial as polsim wrote it) with `from` replaced by `to` and
/// its checksum made again as polsim makes it: the JSON as written, with
/// `sha256` empty. What a forger could do.
fn forge(text: &str, from: &str, to: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap();
    let sha = v["sha256"].as_str().unwrap();
    assert!(text.contains(from), "{from}");
    let edited = text.replacen(from, to, 1);
    let unsigned = edited.trim_end().replacen(sha, "", 1);
    edited.replacen(sha, &sha256_hex(unsigned.as_bytes()), 1)
}

/// `merge` writes a partial's policy and script only inside its own
/// directory: a file name with a directory, an absolute path or a `..`
/// past the policy's place is refused, and nothing is written there.
#[test]
fn merge_writes_nothing_outside_its_directory_whatever_a_partial_names() {
    let wd = Workdir::new();
    wd.write("d.csv", std::fs::read(repo_file(SAMPLE)).unwrap());
    for f in ["merchant_script.yaml", "merchant_script.rhai"] {
        wd.write(
            f,
            std::fs::read(repo_file(&format!("policies/{f}"))).unwrap(),
        );
    }
    let args = [
        "simulate",
        "merchant_script.yaml",
        "--data",
        "d.csv",
        "--partial",
        "s.partial",
    ];
    succeeded(wd.output(&args), &args);
    let text = wd.read("s.partial");
    let victim = wd.path("victim.txt");
    let victim = victim.to_string_lossy();
    for (from, to) in [
        (
            "\"file\":\"merchant_script.yaml\"",
            format!("\"file\":\"{victim}\""),
        ),
        (
            "\"file\":\"merchant_script.yaml\"",
            "\"file\":\"../../victim.txt\"".to_owned(),
        ),
        ("[\"merchant_script.rhai\",", format!("[\"{victim}\",")),
        (
            "[\"merchant_script.rhai\",",
            "[\"a/../../../victim.txt\",".to_owned(),
        ),
    ] {
        wd.write("evil.partial", forge(&text, from, &to));
        let err = wd.fails(&["merge", "evil.partial"], 2);
        assert_contains(&err, &["which merge cannot write inside its own directory"]);
        assert!(!wd.path("victim.txt").exists(), "{to}");
    }
    // A script beside or above its policy, as a policy may name it, merges.
    std::fs::create_dir_all(wd.path("p")).unwrap();
    let yaml = wd.read("merchant_script.yaml").replace(
        "script: merchant_script.rhai",
        "script: ../merchant_script.rhai",
    );
    wd.write("p/m.yaml", yaml);
    let args = [
        "simulate",
        "p/m.yaml",
        "--data",
        "d.csv",
        "--partial",
        "up.partial",
    ];
    succeeded(wd.output(&args), &args);
    succeeded(wd.output(&["merge", "up.partial"]), &["merge"]);
}

/// With `--skip-bad-rows`, a partial lists the rows it skipped on
/// standard error as the report does (the partial carries their count).
#[test]
fn a_partial_lists_the_rows_it_skipped() {
    let (header, records) = sample();
    let wd = Workdir::new();
    let mut rows = records[..50].to_vec();
    rows[9] = format!("u_bad,not_a_score{}", ",x".repeat(13));
    wd.write("d.csv", format!("{header}\n{}\n", rows.join("\n")));
    let policy = jd_plus();
    for command in [
        vec!["simulate", policy.as_str()],
        vec!["sweep", policy.as_str(), "--param", "min_score=600..620:10"],
    ] {
        let mut args = command.clone();
        args.extend(["--data", "d.csv", "--skip-bad-rows", "--emit", "partial"]);
        let out = wd.output(&args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        succeeded(out, &args);
        assert_contains(
            &err,
            &["note: skipped 1 malformed row(s) of `d.csv`", "d.csv:11:"],
        );
    }
}

#[test]
fn script_and_rhai_policies_merge_too() {
    let (header, records) = sample();
    let wd = Workdir::new();
    for policy in [
        "policies/merchant_script.yaml",
        "tests/fixtures/jd_plus_script.yaml",
    ] {
        let policy = repo_file(policy).to_string_lossy().into_owned();
        let merged = split_and_merge(&wd, &header, &records, &[12345], &[1, 0], &[2], &[&policy]);
        let whole = run_json(
            &wd,
            &[
                "simulate",
                &policy,
                "--data",
                &repo_file(SAMPLE).to_string_lossy(),
                "--format",
                "json",
            ],
        );
        assert_eq!(comparable(merged), comparable(whole), "{policy}");
    }
    // A `.rhai` policy typed from the data's header.
    wd.write("s.rhai", "fn decide(user) { if user.zhima_score >= 600 { approve(500) } else { decline(\"LOW\") } }\n");
    let merged = split_and_merge(&wd, &header, &records, &[777], &[0, 1], &[1], &["s.rhai"]);
    let whole = run_json(
        &wd,
        &[
            "simulate",
            "s.rhai",
            "--data",
            &repo_file(SAMPLE).to_string_lossy(),
            "--format",
            "json",
        ],
    );
    assert_eq!(comparable(merged), comparable(whole));
}

#[test]
fn merge_refuses_partials_made_differently_naming_the_first_mismatch() {
    let wd = Workdir::new();
    wd.write("d.csv", std::fs::read(repo_file(SAMPLE)).unwrap());
    let policy = jd_plus();
    let emit = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "simulate",
            policy.as_str(),
            "--data",
            "d.csv",
            "--partial",
            out,
        ];
        args.extend(extra);
        succeeded(wd.output(&args), &args);
    };
    emit("a.partial", &[]);
    emit("b.partial", &[]);
    emit("c.partial", &["--set", "min_score=620"]);
    emit("d.partial", &["--by", "city_tier"]);
    emit("e.partial", &["--trials", "10"]);
    emit("g.partial", &["--set", "min_score=600"]);
    emit(
        "h1.partial",
        &["--set", "min_score=620", "--set", "min_age=20"],
    );
    emit(
        "h2.partial",
        &["--set", "min_age=20", "--set", "min_score=620"],
    );
    let err = wd.fails(&["merge", "a.partial", "b.partial", "c.partial"], 2);
    assert_contains(
        &err,
        &[
            "partial 3 (`c.partial`) was made with `--set min_score=620`, the others with `min_score=600`",
        ],
    );
    // The policy's own value, set or not: the same numbers, but the
    // merged manifest's `set` would depend on the order.
    for order in [["a.partial", "g.partial"], ["g.partial", "a.partial"]] {
        let err = wd.fails(&["merge", order[0], order[1]], 2);
        assert_contains(
            &err,
            &[
                "partial 2 (",
                "was made with ",
                "`--set min_score=600`",
                "no `--set`",
            ],
        );
    }
    // The same overrides in another order: the manifest lists them in
    // the order given, so the merge would depend on the partials' order.
    let err = wd.fails(&["merge", "h1.partial", "h2.partial"], 2);
    assert_contains(
        &err,
        &[
            "was made with `--set min_age=20` `--set min_score=620`, the others with `--set min_score=620` `--set min_age=20`",
        ],
    );
    let err = wd.fails(&["merge", "a.partial", "d.partial"], 2);
    assert_contains(
        &err,
        &["partial 2 (`d.partial`) was made with `--by city_tier`, the others with no `--by`"],
    );
    let err = wd.fails(&["merge", "a.partial", "e.partial"], 2);
    assert_contains(
        &err,
        &[
            "partial 2 (`e.partial`) was made with `--trials 10 --seed 42`, the others with no `--trials`",
        ],
    );
    let other = repo_file("policies/zhima_600.yaml")
        .to_string_lossy()
        .into_owned();
    succeeded(
        wd.output(&[
            "simulate",
            &other,
            "--data",
            "d.csv",
            "--partial",
            "f.partial",
        ]),
        &["simulate"],
    );
    let err = wd.fails(&["merge", "a.partial", "f.partial"], 2);
    assert_contains(
        &err,
        &["partial 2 (`f.partial`) was made with another policy: `zhima_600.yaml`"],
    );
    // Not a partial, a damaged one, another format version.
    let err = wd.fails(&["merge", "a.partial", "d.csv"], 2);
    assert_contains(&err, &["`d.csv` is not a polsim partial result"]);
    let text = wd.read("a.partial");
    wd.write(
        "v2.partial",
        text.replacen("\"version\":1", "\"version\":2", 1),
    );
    let err = wd.fails(&["merge", "v2.partial"], 2);
    assert_contains(
        &err,
        &["`v2.partial` is a partial of format version 2; this polsim reads version 1"],
    );
    wd.write("cut.partial", &text[..text.len() / 2]);
    let err = wd.fails(&["merge", "cut.partial"], 2);
    assert_contains(
        &err,
        &[
            "`cut.partial` is a partial result cut short",
            "make it again",
        ],
    );
    let err = wd.fails(&["merge", "d.csv"], 2);
    assert_contains(&err, &["`polsim simulate`, `compare` or `sweep`"]);
    let err = wd.fails(&["merge", "a.partial", "-"], 2);
    assert_contains(
        &err,
        &["`merge` reads partials from files, not from standard input"],
    );
    // The same YAML with another script: the script is named.
    for f in ["merchant_script.yaml", "merchant_script.rhai"] {
        wd.write(
            f,
            std::fs::read(repo_file(&format!("policies/{f}"))).unwrap(),
        );
    }
    let script = |out: &str| {
        let args = [
            "simulate",
            "merchant_script.yaml",
            "--data",
            "d.csv",
            "--partial",
            out,
        ];
        succeeded(wd.output(&args), &args);
    };
    script("s1.partial");
    let rhai = wd.read("merchant_script.rhai");
    wd.write("merchant_script.rhai", rhai + "// changed\n");
    script("s2.partial");
    let err = wd.fails(&["merge", "s1.partial", "s2.partial"], 2);
    assert_contains(
        &err,
        &[
            "partial 2 (`s2.partial`) was made with another script `merchant_script.rhai` (sha256 ",
            "`merchant_script.yaml` is the same",
        ],
    );
}

/// A row's draws follow its key, or else its line, which a part numbers
/// from its own start: a partial with `--trials` needs every drawn row
/// keyed, or its merge would differ from the whole run's Monte Carlo.
#[test]
fn a_partial_with_trials_refuses_rows_without_a_key() {
    let wd = Workdir::new();
    let (header, records) = sample();
    let text = std::fs::read_to_string(repo_file("policies/jd_plus.yaml")).unwrap();
    assert!(text.contains("key: user_id"), "the policy has a key");
    wd.write("nokey.yaml", text.replace("key: user_id", ""));
    wd.write("jd.yaml", &text);
    let part = |rows: &[String]| format!("{header}\n{}\n", rows.join("\n"));
    wd.write("d.csv", part(&records[..3000]));
    // Every user id blanked from the 101st row on.
    let blanked: Vec<String> = records[..3000]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i < 100 {
                r.clone()
            } else {
                format!(",{}", r.split_once(',').unwrap().1)
            }
        })
        .collect();
    wd.write("blank.csv", part(&blanked));
    let err = wd.fails(
        &[
            "simulate",
            "nokey.yaml",
            "--data",
            "d.csv",
            "--trials",
            "20",
            "--emit",
            "partial",
        ],
        2,
    );
    assert_contains(
        &err,
        &[
            "`--trials` with a partial result needs the policy's `key`, and `nokey.yaml` has none",
            "add `key: COLUMN`",
        ],
    );
    let err = wd.fails(
        &[
            "simulate",
            "jd.yaml",
            "--data",
            "blank.csv",
            "--trials",
            "20",
            "--partial",
            "b.partial",
        ],
        2,
    );
    assert_contains(
        &err,
        &[
            "697 approved row(s) of `blank.csv` have an empty `user_id`, the first on line 103:",
            "blank.csv:103:1",
        ],
    );
    assert!(!wd.path("b.partial").exists());
    // Without --trials, or the whole file in one run, they are fine.
    succeeded(
        wd.output(&[
            "simulate",
            "nokey.yaml",
            "--data",
            "d.csv",
            "--emit",
            "partial",
        ]),
        &["simulate"],
    );
    let out = wd.output(&[
        "simulate",
        "jd.yaml",
        "--data",
        "blank.csv",
        "--trials",
        "20",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    succeeded(out, &["simulate"]);
    assert_contains(
        &err,
        &["have an empty `user_id`", "draws follow their line"],
    );
}

#[test]
fn a_partial_is_not_written_over_the_data() {
    let wd = Workdir::new();
    wd.write("d.csv", std::fs::read(repo_file(SAMPLE)).unwrap());
    let before = wd.read("d.csv");
    let policy = jd_plus();
    let err = wd.fails(
        &["simulate", &policy, "--data", "d.csv", "--partial", "d.csv"],
        2,
    );
    assert_contains(
        &err,
        &[
            "`--partial d.csv` is the same file as the --data, `d.csv`",
            "e.g. `--partial part1.partial`",
        ],
    );
    assert_eq!(wd.read("d.csv"), before);
    // Into a directory that does not exist: said so, with what to do.
    let err = wd.fails(
        &[
            "simulate",
            &policy,
            "--data",
            "d.csv",
            "--partial",
            "no/such/p.partial",
        ],
        2,
    );
    assert_contains(
        &err,
        &[
            "cannot write `no/such/p.partial`: the directory `no/such` does not exist",
            "mkdir -p no/such",
        ],
    );
}

#[test]
fn parts_that_type_a_scripts_fields_differently_are_refused() {
    let wd = Workdir::new();
    wd.write(
        "s.rhai",
        "fn decide(user) { if user.score >= 600 { approve(500) } else { decline(\"LOW\") } }\n",
    );
    wd.write("a.csv", "user_id,score,amount\nu1,700,10\nu2,500,20\n");
    wd.write("b.csv", "user_id,score,amount\nu3,650,10.5\n");
    for part in ["a", "b"] {
        let (data, out) = (format!("{part}.csv"), format!("{part}.partial"));
        let args = ["simulate", "s.rhai", "--data", &data, "--partial", &out];
        succeeded(wd.output(&args), &args);
    }
    let err = wd.fails(&["merge", "a.partial", "b.partial"], 2);
    assert_contains(
        &err,
        &[
            "partial 2 (`b.partial`) typed the script's fields from its data as user_id: string, score: int, amount: decimal; the first as user_id: string, score: int, amount: int",
            "write a YAML policy with `fields` and `script:`",
        ],
    );
}

/// Splits the sample in three, runs `command` with `args` on each part
/// with `--emit partial`, merges: the merged JSON and the whole run's.
fn merged_and_whole(command: &str, args: &[&str]) -> (Value, Value) {
    let (header, records) = sample();
    let wd = Workdir::new();
    let mut partials = Vec::new();
    for (i, w) in [0, 4321, 15000, records.len()].windows(2).enumerate() {
        let name = format!("part{i}.csv");
        wd.write(
            &name,
            format!("{header}\n{}\n", records[w[0]..w[1]].join("\n")),
        );
        let mut all = vec![command];
        all.extend(args);
        all.extend(["--data", &name, "--emit", "partial"]);
        let out = succeeded(wd.output(&all), &all);
        let file = format!("part{i}.partial");
        wd.write(&file, out);
        partials.push(file);
    }
    partials.reverse();
    let mut merge = vec!["merge"];
    merge.extend(partials.iter().map(String::as_str));
    merge.extend(["--format", "json"]);
    let merged = run_json(&wd, &merge);
    let data = repo_file(SAMPLE).to_string_lossy().into_owned();
    let mut whole = vec![command];
    whole.extend(args);
    whole.extend(["--data", &data, "--format", "json"]);
    (merged, run_json(&wd, &whole))
}

#[test]
fn compare_partials_merge_into_the_whole_comparison() {
    let jd = jd_plus();
    let merchant = repo_file("policies/merchant_review.yaml")
        .to_string_lossy()
        .into_owned();
    for args in [
        vec![
            jd.as_str(),
            "--challenger-set",
            "min_score=620",
            "--by",
            "city_tier",
        ],
        vec![jd.as_str(), merchant.as_str(), "--set", "min_score=610"],
    ] {
        let (mut merged, mut whole) = merged_and_whole("compare", &args);
        assert_eq!(merged["manifest"]["parts"].as_array().unwrap().len(), 3);
        for r in [&mut merged, &mut whole] {
            for side in ["champion", "challenger"] {
                *r = {
                    let mut v = r.clone();
                    v[side] = comparable(v[side].clone());
                    v
                };
            }
        }
        assert_eq!(comparable(merged), comparable(whole), "{args:?}");
    }
}

#[test]
fn sweep_partials_merge_into_the_whole_sweep() {
    let jd = jd_plus();
    // A threshold sweep (bucketed), and one that runs a policy per point.
    for param in ["min_score=560..680:20", "min_age=18,21,25"] {
        let (merged, whole) = merged_and_whole("sweep", &[&jd, "--param", param]);
        assert_eq!(
            merged["manifest"]["parts"].as_array().unwrap().len(),
            3,
            "{param}"
        );
        assert_eq!(comparable(merged), comparable(whole), "{param}");
    }
}

#[test]
fn partials_of_different_commands_or_grids_do_not_merge() {
    let wd = Workdir::new();
    wd.write("d.csv", std::fs::read(repo_file(SAMPLE)).unwrap());
    let jd = jd_plus();
    let run = |args: &[&str], out: &str| {
        let mut all = args.to_vec();
        all.extend(["--data", "d.csv", "--partial", out]);
        succeeded(wd.output(&all), &all);
    };
    run(&["simulate", &jd], "s.partial");
    run(&["sweep", &jd, "--param", "min_score=600,620"], "a.partial");
    run(&["sweep", &jd, "--param", "min_score=600,640"], "b.partial");
    run(
        &["compare", &jd, "--challenger-set", "min_score=620"],
        "c.partial",
    );
    run(
        &["compare", &jd, "--challenger-set", "min_score=640"],
        "d.partial",
    );
    let err = wd.fails(&["merge", "s.partial", "a.partial"], 2);
    assert_contains(
        &err,
        &["partial 2 (`a.partial`) was made by `sweep`, the first by `simulate`"],
    );
    let err = wd.fails(&["merge", "a.partial", "b.partial"], 2);
    assert_contains(
        &err,
        &[
            "partial 2 (`b.partial`) was made with `--param min_score=600,640`, the others with `--param min_score=600,620`",
        ],
    );
    let err = wd.fails(&["merge", "c.partial", "d.partial"], 2);
    assert_contains(
        &err,
        &[
            "partial 2 (`d.partial`) was made with `--challenger-set min_score=640` for the challenger, the others with `--challenger-set min_score=620`",
            "help: make every partial with the same `--challenger-set` values",
        ],
    );
}
