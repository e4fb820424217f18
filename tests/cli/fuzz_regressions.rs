//! Every input a fuzzer found (`fuzz/regressions/<target>/`) and every seed
//! (`fuzz/seeds/<target>/`), replayed through the fuzz-target bodies on the
//! stable toolchain: a body panics exactly when it finds a bug.

use super::*;
use polsim::fuzzing::TARGETS;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `target` on every file under `fuzz/<kind>/<target>/`; the files
/// that panic, with the message.
fn replay(kind: &str, target: &str) -> (usize, Vec<String>) {
    let (_, body) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a fuzz target of that name");
    let dir = repo_file(&format!("fuzz/{kind}/{target}"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (0, Vec::new());
    };
    // Dot files (`.gitkeep`) keep an empty directory in git.
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    paths.sort();
    let mut failed = Vec::new();
    for path in &paths {
        let data = std::fs::read(path).unwrap();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {message}", path.display()));
        }
    }
    (paths.len(), failed)
}

fn replay_all(target: &str) {
    let (seeds, mut failed) = replay("seeds", target);
    let (regressions, more) = replay("regressions", target);
    failed.extend(more);
    assert!(seeds > 0, "no seeds for {target}");
    assert!(
        failed.is_empty(),
        "{} of {} inputs of {target} find a bug:\n{}",
        failed.len(),
        seeds + regressions,
        failed.join("\n\n")
    );
}

#[test]
fn fuzz_inputs_of_csv_reader_agree_with_the_csv_crate() {
    replay_all("csv_reader");
}

#[test]
fn fuzz_inputs_of_policy_load_never_panic() {
    replay_all("policy_load");
}

#[test]
fn fuzz_inputs_of_lowered_expr_agree_with_rhai() {
    replay_all("lowered_expr");
}

#[test]
fn fuzz_inputs_of_native_script_agree_with_rhai() {
    replay_all("native_script");
}

#[test]
fn every_fuzz_target_has_its_directories() {
    for (target, _) in TARGETS {
        assert!(
            repo_file(&format!("fuzz/fuzz_targets/{target}.rs")).exists(),
            "{target}"
        );
        assert!(
            repo_file(&format!("fuzz/regressions/{target}")).is_dir(),
            "{target}"
        );
    }
}
