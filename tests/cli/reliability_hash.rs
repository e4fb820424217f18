//! The data hash in a report's manifest is the hash of the data that was
//! counted, or there is none: a cache entry polsim did not write, one taken
//! while the file could still change unseen, or a file written to during
//! the run must never put a wrong `data_sha256` in a report.

use super::*;
use std::os::unix::fs::MetadataExt;

/// A cache line for `path` as polsim keys it, with the time its hashing
/// started (`started_ns`) and the hash it claims.
fn cache_line(path: &Path, started_ns: i128, sha: &str) -> String {
    let m = std::fs::metadata(path).unwrap();
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{started_ns}\t{sha}\n",
        std::fs::canonicalize(path).unwrap().display(),
        m.dev(),
        m.ino(),
        m.len(),
        ns(m.mtime(), m.mtime_nsec()),
        ns(m.ctime(), m.ctime_nsec()),
    )
}

/// A line of the cache file of earlier versions (`data-sha256.tsv`).
fn old_cache_line(path: &Path, sha: &str) -> String {
    let m = std::fs::metadata(path).unwrap();
    format!(
        "{}\t{}\t{}\t{}\t{}.{}\t{}.{}\t{sha}\n",
        std::fs::canonicalize(path).unwrap().display(),
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    )
}

fn last_change_ns(path: &Path) -> i128 {
    let m = std::fs::metadata(path).unwrap();
    i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec())
}

/// `simulate --format json` with the hash cache in `cache`: the reported hash.
fn reported_hash(wd: &Workdir, cache: &Path) -> String {
    let out = wd
        .command(&["simulate", "p.yaml", "--data", "d.csv", "--format", "json"])
        .env("POLSIM_CACHE_DIR", cache)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", show(&out)));
    r["manifest"]["data_sha256"].as_str().unwrap().to_owned()
}

const DATA: &str = "id,score\nu1,700\n";

#[test]
fn a_forged_cache_entry_that_is_not_lowercase_hex_is_not_reported_as_the_hash() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY).write("d.csv", DATA);
    let cache = wd.path("cache");
    std::fs::create_dir(&cache).unwrap();
    let settled = last_change_ns(&wd.path("d.csv")) + 3_600_000_000_000;
    for forged in ["Z".repeat(64), "AB".repeat(32), "ab".repeat(31)] {
        let line = cache_line(&wd.path("d.csv"), settled, &forged);
        std::fs::write(cache.join("data-sha256.v2.tsv"), &line).unwrap();
        // The same forgery in the cache of earlier versions, which trusted it.
        std::fs::write(
            cache.join("data-sha256.tsv"),
            old_cache_line(&wd.path("d.csv"), &forged),
        )
        .unwrap();
        assert_eq!(
            reported_hash(&wd, &cache),
            sha256_hex(DATA.as_bytes()),
            "{forged}"
        );
    }
}

#[test]
fn a_settled_cache_entry_is_reused_and_a_racy_one_is_not() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY).write("d.csv", DATA);
    let cache = wd.path("cache");
    std::fs::create_dir(&cache).unwrap();
    let data = wd.path("d.csv");
    let remembered = "ab".repeat(32);
    // Hashed an hour after the file last changed: trusted, so reported as is
    // (which is how this test can tell that the cache was used at all).
    let settled = last_change_ns(&data) + 3_600_000_000_000;
    std::fs::write(
        cache.join("data-sha256.v2.tsv"),
        cache_line(&data, settled, &remembered),
    )
    .unwrap();
    assert_eq!(reported_hash(&wd, &cache), remembered);
    // Hashed right after the last change, when a write into an already dirty
    // page (through `mmap`) would not have moved the file's times: racy, so
    // the hash is computed again.
    let racy = last_change_ns(&data) + 1_000_000;
    std::fs::write(
        cache.join("data-sha256.v2.tsv"),
        cache_line(&data, racy, &remembered),
    )
    .unwrap();
    assert_eq!(reported_hash(&wd, &cache), sha256_hex(DATA.as_bytes()));
    // A hash computed now is remembered with the time it started, so it stays
    // racy (and is recomputed) until the file has been still for a while.
    let entries = std::fs::read_to_string(cache.join("data-sha256.v2.tsv")).unwrap();
    assert!(entries.contains(&sha256_hex(DATA.as_bytes())), "{entries}");
    assert_eq!(reported_hash(&wd, &cache), sha256_hex(DATA.as_bytes()));
}

/// Runs `args` while another thread keeps moving the data file's
/// modification time, as a program still writing it would; returns the output.
fn run_while_the_file_changes(wd: &Workdir, args: &[&str]) -> Output {
    let mut rows = String::from("id,score\n");
    for i in 0..200_000 {
        rows.push_str(&format!("u{i},{}\n", 500 + i % 300));
    }
    wd.write("p.yaml", SCORE_POLICY).write("d.csv", rows);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let toucher = {
        let (stop, path) = (stop.clone(), wd.path("d.csv"));
        std::thread::spawn(move || {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            let base = std::time::SystemTime::now();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let _ = file.set_modified(base + std::time::Duration::from_millis(i));
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let out = wd.output(args);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    toucher.join().unwrap();
    out
}

#[test]
fn a_file_written_to_during_the_run_is_an_error_not_a_report() {
    let wd = Workdir::new();
    let args = ["simulate", "p.yaml", "--data", "d.csv", "--format", "json"];
    let err = failed(run_while_the_file_changes(&wd, &args), &args, 2);
    assert_contains(
        &err,
        &[
            "error: dataset `d.csv` changed while it was read",
            "--> d.csv:1:1",
            "help: run again",
        ],
    );
    let args = ["decide", "p.yaml", "--data", "d.csv", "-o", "out.csv"];
    let err = failed(run_while_the_file_changes(&wd, &args), &args, 2);
    assert_contains(&err, &["changed while it was read"]);
    assert!(
        !wd.path("out.csv").exists(),
        "no output that looks complete"
    );
}

#[test]
fn a_file_written_to_during_the_run_is_a_warning_and_no_hash_under_skip_bad_rows() {
    let wd = Workdir::new();
    let args = [
        "simulate",
        "p.yaml",
        "--data",
        "d.csv",
        "--format",
        "json",
        "--skip-bad-rows",
    ];
    let out = run_while_the_file_changes(&wd, &args);
    let stdout = succeeded(out.clone(), &args);
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["manifest"]["data_sha256"], Value::Null);
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        &["warning: dataset `d.csv` changed while it was read"],
    );
}

#[test]
fn an_empty_or_relative_cache_dir_never_writes_into_the_working_directory() {
    let wd = Workdir::new();
    wd.write("p.yaml", SCORE_POLICY).write("d.csv", DATA);
    for dir in ["", "relative-cache"] {
        let out = wd
            .command(&["simulate", "p.yaml", "--data", "d.csv", "--format", "json"])
            .env("POLSIM_CACHE_DIR", dir)
            .env("XDG_CACHE_HOME", "")
            .env("HOME", wd.path("home"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        assert_eq!(
            wd.files(),
            ["d.csv", "home", "p.yaml"],
            "POLSIM_CACHE_DIR={dir:?}"
        );
        assert!(wd.path("home/.cache/polsim/data-sha256.v2.tsv").exists());
        std::fs::remove_dir_all(wd.path("home")).unwrap();
    }
}
