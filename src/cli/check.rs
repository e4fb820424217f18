//! `polsim check POLICY... [--data FILE]`: validate policies, and with
//! `--data` that the dataset has every declared field, parseable as declared,
//! and that the policy runs on every row.
//!
//! Exit 1 when a policy is invalid or the dataset does not fit; exit 2 only
//! when a file cannot be read at all.

use super::{Common, report_skipped};
use crate::dataset::batch::SkippedRows;
use crate::dataset::chunker::CHUNK_SIZE;
use crate::dataset::stream::Input;
use crate::engine::pass::{self, Accumulator, Chunk, PassOptions, Plan, Rows};
use crate::error::{Diagnostic, Error, Result};
use crate::policy::CompiledPolicy;
use crate::policy::compile::{Warning, compile_file_for};
use crate::report::Format;
use crate::report::decisions::RowIds;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(mut_arg("format", |a| a
    .help("Output format: table (the default) or json (one object for the whole run)")
    .hide_possible_values(true)))]
pub struct Args {
    /// Policy files: YAML, or `.rhai` scripts (with `--data`).
    #[arg(required = true)]
    pub policies: Vec<PathBuf>,
    /// Also check that this dataset fits every policy.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Make any warning fail the check (exit 1), as an error would.
    #[arg(long)]
    pub deny_warnings: bool,
    #[command(flatten)]
    pub common: Common,
}

/// What `check` found of one policy, for `--format json`.
struct Checked {
    path: PathBuf,
    policy: Option<(String, String)>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Warning>,
    data: Option<Value>,
    ok: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let json = match args.common.format {
        None | Some(Format::Table) => false,
        Some(Format::Json) => true,
        Some(other) => {
            return Err(Error::usage(
                format!("`check` writes table or json, not {other:?}").to_lowercase(),
                "use `--format table` (the default) or `--format json` (one object for the whole run)",
            ));
        }
    };
    if args.data.as_deref() == Some(std::path::Path::new("-")) && args.policies.len() > 1 {
        return Err(Error::usage(
            "`--data -` can be read only once, so it can check only one policy",
            "save the data to a file and pass it with `--data FILE`, or check one policy at a time",
        ));
    }
    if args.data.is_none()
        && let Some(script) = args
            .policies
            .iter()
            .find(|p| crate::policy::rhai_file::is_script(p))
    {
        return Err(Error::usage(
            format!(
                "`{}` is a script: its fields are typed from the dataset, so checking it needs `--data`",
                crate::error::printable(&script.display().to_string())
            ),
            format!(
                "give the dataset it will run on: `polsim check {} --data FILE`",
                crate::error::printable(&script.display().to_string())
            ),
        ));
    }
    let mut failures = 0;
    let mut results = Vec::new();
    for path in &args.policies {
        // `check policies/*.yaml` meets the policies' test files too.
        if crate::policy::test_file::is_test_file(path) {
            match crate::policy::test_file::load(path) {
                Ok(t) if !json => say!(
                    "ok: {} — a test file of `{}`: {} case(s), {} dataset(s); run it with `polsim test`",
                    path.display(),
                    t.policy.display(),
                    t.cases.len(),
                    t.datasets.len()
                ),
                Ok(_) => {}
                Err(e) => {
                    note!("{e}");
                    failures += 1;
                }
            }
            continue;
        }
        let mut checked = Checked {
            path: path.clone(),
            policy: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            data: None,
            ok: true,
        };
        match compile_file_for(path, &args.common.set, args.data.as_deref()) {
            Ok(policy) => {
                checked.policy = Some((policy.id.clone(), policy.version.clone()));
                checked.warnings = policy.warnings.clone();
                if !json {
                    say!("ok: {} — {}", path.display(), summary(&policy));
                    for w in &policy.warnings {
                        say!("  warning: {w}");
                    }
                }
                if args.deny_warnings && !policy.warnings.is_empty() {
                    checked.ok = false;
                    if !json {
                        note!(
                            "{}",
                            Diagnostic::new(format!(
                                "`{}` has {} warning(s), and `--deny-warnings` makes a warning fail the check",
                                crate::error::printable(&path.display().to_string()),
                                policy.warnings.len()
                            ))
                            .help("change the policy as the warnings say, or check without `--deny-warnings`")
                        );
                    }
                }
                if let Some(data) = &args.data {
                    match check_data(policy, data, &args.common, json) {
                        Ok(found) => {
                            if found.ok() {
                                if !json {
                                    say!(
                                        "  ok: `{}` fits: {} rows, every declared field present and parseable",
                                        data.display(),
                                        found.rows
                                    );
                                }
                            } else {
                                checked.ok = false;
                            }
                            checked.data = Some(found.to_json(data, Vec::new()));
                        }
                        Err(e @ (Error::Io { .. } | Error::Usage(_))) => return Err(e),
                        Err(e) => {
                            if !json {
                                note!("{e}");
                            }
                            checked.ok = false;
                            checked.data = Some(DataCheck::default().to_json(data, diagnostics(e)));
                        }
                    }
                }
            }
            Err(e @ (Error::Io { .. } | Error::Usage(_))) => return Err(e),
            Err(e) => {
                if !json {
                    note!("{e}");
                }
                checked.ok = false;
                checked.errors = diagnostics(e);
            }
        }
        if !checked.ok {
            failures += 1;
        }
        results.push(checked);
    }
    if json {
        let report = json!({
            "ok": failures == 0,
            "policies": results.iter().map(Checked::to_json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        say!("{text}");
    }
    if failures > 0 {
        return Err(Error::CheckFailed(format!(
            "{failures} of {} polic{} did not pass",
            args.policies.len(),
            if args.policies.len() == 1 { "y" } else { "ies" }
        )));
    }
    Ok(())
}

/// The problems an error reports, one diagnostic each.
fn diagnostics(e: Error) -> Vec<Diagnostic> {
    match e {
        Error::Policy(all) => all,
        Error::Data(d) | Error::Usage(d) => vec![d],
        other => vec![Diagnostic::new(other.to_string())],
    }
}

fn diagnostic_json(d: &Diagnostic) -> Value {
    let at = d.location.as_ref();
    json!({
        "file": at.map(|l| l.file.display().to_string()),
        "line": at.map(|l| l.line),
        "column": at.map(|l| l.column),
        "message": d.message,
        "help": d.help,
    })
}

fn warning_json(w: &Warning) -> Value {
    let at = w.location.as_ref();
    json!({
        "file": at.map(|l| l.file.display().to_string()),
        "line": at.map(|l| l.line),
        "column": at.map(|l| l.column),
        "message": w.message,
    })
}

impl Checked {
    fn to_json(&self) -> Value {
        json!({
            "path": self.path.display().to_string(),
            "id": self.policy.as_ref().map(|p| &p.0),
            "version": self.policy.as_ref().map(|p| &p.1),
            "ok": self.ok,
            "errors": self.errors.iter().map(diagnostic_json).collect::<Vec<_>>(),
            "warnings": self.warnings.iter().map(warning_json).collect::<Vec<_>>(),
            "data": self.data,
        })
    }
}

fn summary(p: &CompiledPolicy) -> String {
    let script = match &p.script {
        Some(s) if s.native.is_some() => "; the script runs natively".to_owned(),
        Some(s) => format!(
            "; the script runs in Rhai, outside the native subset (see the README, *Speed*): {}",
            s.in_rhai_because.as_deref().unwrap_or("")
        ),
        None => String::new(),
    };
    format!(
        "policy `{}`{}: {} rule(s), {} limit band(s), reads {} of {} declared field(s){script}",
        p.id,
        if p.version.is_empty() {
            String::new()
        } else {
            format!(" v{}", p.version)
        },
        p.rules.len(),
        p.limits.len(),
        p.columns.len(),
        p.declared.len()
    )
}

/// What reading the dataset found for one policy.
#[derive(Default)]
struct DataCheck {
    /// Rows that parsed (and ran).
    rows: u64,
    skipped: SkippedRows,
    /// The policy's key field and the rows whose key is empty or repeated.
    key: Option<(String, KeyLines, KeyLines)>,
}

impl DataCheck {
    fn ok(&self) -> bool {
        self.skipped.count == 0
            && self
                .key
                .as_ref()
                .is_none_or(|(_, empty, repeated)| empty.count == 0 && repeated.count == 0)
    }

    fn to_json(&self, data: &std::path::Path, errors: Vec<Diagnostic>) -> Value {
        json!({
            "path": data.display().to_string(),
            "ok": errors.is_empty() && self.ok(),
            "rows": self.rows,
            "bad_rows": self.skipped.count,
            "bad_row_examples": self.skipped.examples.iter().map(|r| json!({
                "line": r.line,
                "message": r.reason,
            })).collect::<Vec<_>>(),
            "key": self.key.as_ref().map(|(field, empty, repeated)| json!({
                "field": field,
                "empty": empty.count,
                "empty_lines": empty.lines,
                "duplicates": repeated.count,
                "duplicate_lines": repeated.lines,
            })),
            "errors": errors.iter().map(diagnostic_json).collect::<Vec<_>>(),
        })
    }
}

/// Reads the whole dataset with every declared field and runs the policy on
/// every row that parses, so an expression or script that fails on some row
/// is found here rather than in the analyst's run. Problems with the rows
/// are listed on standard error (unless `quiet_report`: the JSON carries them).
fn check_data(
    policy: CompiledPolicy,
    data: &std::path::Path,
    common: &Common,
    quiet_report: bool,
) -> Result<DataCheck> {
    let declared = policy.declared.clone();
    let key_name = policy.key.and(policy.key_name.clone());
    let plan = Plan::reading(vec![policy], Vec::new(), &declared);
    let input = Input::open(data)?;
    let name = input.name.clone();
    let options = PassOptions {
        stream: common.stream(),
        skip_bad_rows: true,
    };
    let mut total = RowCount {
        // To size the set of key hashes once (see `RowCount::merge`).
        file_bytes: std::fs::metadata(data)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len()),
        ..RowCount::default()
    };
    pass::run(&plan, input, &options, RowCount::default, |part| {
        total.merge(&part)
    })?;
    let found = DataCheck {
        rows: total.rows,
        skipped: total.skipped,
        key: key_name.map(|k| (k, total.empty, total.repeated)),
    };
    if quiet_report {
        return Ok(found);
    }
    // Problems are the point of `check`: shown even with --quiet.
    let bad = &found.skipped;
    if bad.count > 0 {
        let headline = format!(
            "error: {} row(s) of `{name}` do not parse as the policy declares",
            bad.count
        );
        report_skipped(&headline, bad, &name);
    }
    if let Some((key, empty, repeated)) = &found.key {
        let name = crate::error::printable(&name);
        let key = crate::error::printable(key);
        if empty.count > 0 {
            note!(
                "{}",
                Diagnostic::new(format!(
                    "{} row(s) of `{name}` have no `{key}`, the policy's key: {}",
                    empty.count,
                    empty.describe()
                ))
                .help(format!(
                    "give every row its `{key}`: the key is what names a row in decisions and what joins them to other data"
                ))
            );
        }
        if repeated.count > 0 {
            note!(
                "{}",
                Diagnostic::new(format!(
                    "{} row(s) of `{name}` repeat the `{key}` of an earlier row, and the policy's key must name one row: {}",
                    repeated.count,
                    repeated.describe()
                ))
                .help(format!(
                    "give every row its own `{key}` (keys are compared by a 64-bit hash of each, not kept, so memory stays small; two different keys taken for one are about 3 in a million at 10 million rows)"
                ))
            );
        }
    }
    Ok(found)
}

/// Rows with a problem key: every one counted, the lines of the first few kept.
#[derive(Default)]
struct KeyLines {
    count: u64,
    lines: Vec<u64>,
}

impl KeyLines {
    const SHOWN: usize = 10;

    fn add(&mut self, line: u64) {
        self.count += 1;
        if self.lines.len() < Self::SHOWN {
            self.lines.push(line);
        }
    }

    /// Adds `later`, which comes after these rows in the file.
    fn merge(&mut self, later: &KeyLines) {
        self.count += later.count;
        let room = Self::SHOWN.saturating_sub(self.lines.len());
        self.lines.extend(later.lines.iter().take(room));
    }

    /// `line 3`, `lines 3, 7`, `lines 3, 7, … and 12 more`.
    fn describe(&self) -> String {
        let lines: Vec<String> = self.lines.iter().map(u64::to_string).collect();
        let more = self.count - self.lines.len() as u64;
        format!(
            "line{} {}{}",
            if self.count == 1 { "" } else { "s" },
            lines.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    }
}

/// A hasher for keys that are hashes already: a [`HashSet`] of them keeps
/// them as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A key's 64-bit hash (SipHash, with the same keys in every part of the pass).
fn key_hash(key: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(key);
    h.finish()
}

/// `check`'s sink: rows that parsed (and ran), and rows that did not.
#[derive(Default)]
struct RowCount {
    rows: u64,
    skipped: SkippedRows,
    /// A chunk's rows with a key, in file order: the key's hash and the
    /// row's line, folded into `seen` by `merge`.
    keys: Vec<(u64, u64)>,
    /// The hash of every key folded so far: 8 bytes a row, not the key.
    seen: HashSet<u64, BuildHasherDefault<Prehashed>>,
    /// Rows whose key is empty, and rows whose key an earlier row has.
    empty: KeyLines,
    repeated: KeyLines,
    /// The dataset's size, when it is a file: with the first chunk's rows,
    /// an estimate of the rows to come.
    file_bytes: Option<u64>,
}

impl Accumulator for RowCount {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        self.rows += rows.len() as u64;
        self.skipped.add(chunk.skipped);
        // `check` runs one policy a pass: its key is the plan's first.
        if let Some(column) = chunk.keys.first().copied().flatten() {
            let ids = RowIds {
                lines: chunk.lines,
                key: Some(column),
            };
            let mut key = Vec::with_capacity(32);
            self.keys.reserve(rows.len());
            rows.for_each(|row| {
                key.clear();
                ids.key(row, &mut key);
                if key.is_empty() {
                    self.empty.add(chunk.lines[row]);
                } else {
                    self.keys.push((key_hash(&key), chunk.lines[row]));
                }
            });
        }
    }

    fn merge(&mut self, other: &RowCount) -> Result<()> {
        self.rows += other.rows;
        self.skipped.merge(&other.skipped);
        // Parts come in file order, so a key already seen is a repeat.
        self.empty.merge(&other.empty);
        if self.seen.capacity() == 0
            && let Some(bytes) = self.file_bytes
        {
            // A chunk is about `CHUNK_SIZE` bytes: sized once, rather than
            // grown (and copied) a dozen times, and never past two bytes a row.
            let per_chunk = other.keys.len() as u64;
            let rows = (bytes.saturating_mul(per_chunk) / CHUNK_SIZE as u64)
                .max(per_chunk)
                .min(bytes / 2);
            self.seen.reserve(usize::try_from(rows).unwrap_or(0));
        }
        for &(hash, line) in &other.keys {
            if !self.seen.insert(hash) {
                self.repeated.add(line);
            }
        }
        Ok(())
    }
}
