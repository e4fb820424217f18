//! Policy load and compile: arbitrary bytes as a policy file, with and
//! without `--set` overrides, must give a policy or errors, never a panic.

use crate::policy::compile::compile_file;
use crate::policy::load::load_file;
use std::cell::RefCell;
use std::path::PathBuf;

/// The scripts the bundled policies and fixtures name, beside the policy so
/// that a seed's `script:` resolves.
const SCRIPTS: [(&str, &str); 3] = [
    (
        "merchant_script.rhai",
        include_str!("../../policies/merchant_script.rhai"),
    ),
    (
        "jd_plus_script.rhai",
        include_str!("../../tests/fixtures/jd_plus_script.rhai"),
    ),
    (
        "scripted.rhai",
        include_str!("../../tests/fixtures/rhai/scripted.rhai"),
    ),
];

/// Values tried for every parameter when the input sets none.
const VALUES: [&str; 10] = [
    "0",
    "-1",
    "650",
    "0.5",
    "true",
    "x",
    "1e3",
    "99999999999999999999999999999",
    "",
    "9223372036854775808",
];

thread_local! {
    /// A directory per thread for the policy and the scripts it may name.
    static DIR: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// The fuzz target. Lines `#set NAME=VALUE` at the start (comments to YAML)
/// are `--set` overrides; without any, each parameter is set in turn to a
/// value picked by the input's last byte.
pub fn policy_load(data: &[u8]) {
    let path = DIR.with_borrow_mut(|dir| -> PathBuf {
        let dir = match dir {
            Some(d) => d,
            None => {
                let d = tempfile::tempdir().expect("a temporary directory");
                for (name, text) in SCRIPTS {
                    std::fs::write(d.path().join(name), text).expect("the script is written");
                }
                dir.insert(d)
            }
        };
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, data).expect("the policy is written");
        path
    });
    let sets = overrides(data);
    let _ = compile_file(&path, &[]);
    if !sets.is_empty() {
        let _ = compile_file(&path, &sets);
        return;
    }
    let Ok((_, def)) = load_file(&path) else {
        return;
    };
    let value = VALUES[usize::from(data.last().copied().unwrap_or(0)) % VALUES.len()];
    for param in def.params.iter().take(4) {
        let set = [(param.name.as_str().to_owned(), value.to_owned())];
        let _ = compile_file(&path, &set);
    }
}

/// The `#set NAME=VALUE` lines at the start of `data`, parsed as the
/// command line parses `--set`.
fn overrides(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .map_while(|line| line.strip_prefix("#set "))
        .filter_map(|a| {
            let (name, value) = a.split_once('=')?;
            (!name.trim().is_empty()).then(|| (name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}
