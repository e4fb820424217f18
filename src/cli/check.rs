//! `polsim check POLICY... [--data FILE]`: validate policies, and with
//! `--data` that the dataset has every declared field, parseable as declared,
//! and that the policy runs on every row.
//!
//! Exit 1 when a policy is invalid or the dataset does not fit; exit 2 only
//! when a file cannot be read at all.

use super::{Common, report_skipped};
use crate::dataset::batch::SkippedRows;
use crate::dataset::stream::Input;
use crate::engine::pass::{self, Accumulator, Chunk, PassOptions, Plan, Rows};
use crate::error::{Error, Result};
use crate::policy::CompiledPolicy;
use crate::policy::compile::compile_file_for;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files: YAML, or `.rhai` scripts (with `--data`).
    #[arg(required = true)]
    pub policies: Vec<PathBuf>,
    /// Also check that this dataset fits every policy.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(args: &Args) -> Result<()> {
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
    for path in &args.policies {
        // `check policies/*.yaml` meets the policies' test files too.
        if crate::policy::test_file::is_test_file(path) {
            match crate::policy::test_file::load(path) {
                Ok(t) => say!(
                    "ok: {} — a test file of `{}`: {} case(s), {} dataset(s); run it with `polsim test`",
                    path.display(),
                    t.policy.display(),
                    t.cases.len(),
                    t.datasets.len()
                ),
                Err(e) => {
                    note!("{e}");
                    failures += 1;
                }
            }
            continue;
        }
        match compile_file_for(path, &args.common.set, args.data.as_deref()) {
            Ok(policy) => {
                say!("ok: {} — {}", path.display(), summary(&policy));
                for w in &policy.warnings {
                    say!("  warning: {w}");
                }
                if let Some(data) = &args.data {
                    match check_data(policy, data, &args.common) {
                        Ok(rows) => say!(
                            "  ok: `{}` fits: {rows} rows, every declared field present and parseable",
                            data.display()
                        ),
                        Err(e @ (Error::Io { .. } | Error::Usage(_))) => return Err(e),
                        // Bad rows were listed as they were found.
                        Err(Error::CheckFailed(_)) => failures += 1,
                        Err(e) => {
                            note!("{e}");
                            failures += 1;
                        }
                    }
                }
            }
            Err(e @ (Error::Io { .. } | Error::Usage(_))) => return Err(e),
            Err(e) => {
                note!("{e}");
                failures += 1;
            }
        }
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

/// Reads the whole dataset with every declared field and runs the policy on
/// every row that parses, so an expression or script that fails on some row
/// is found here rather than in the analyst's run; returns the row count.
fn check_data(policy: CompiledPolicy, data: &std::path::Path, common: &Common) -> Result<u64> {
    let declared = policy.declared.clone();
    let plan = Plan::reading(vec![policy], Vec::new(), &declared);
    let input = Input::open(data)?;
    let name = input.name.clone();
    let options = PassOptions {
        stream: common.stream(),
        skip_bad_rows: true,
    };
    let mut total = RowCount::default();
    pass::run(&plan, input, &options, RowCount::default, |part| {
        total.merge(&part)
    })?;
    let bad = &total.skipped;
    if bad.count > 0 {
        // Problems are the point of `check`: shown even with --quiet.
        let headline = format!(
            "error: {} row(s) of `{name}` do not parse as the policy declares",
            bad.count
        );
        report_skipped(&headline, bad, &name);
        return Err(Error::CheckFailed(format!(
            "{} row(s) of `{name}` do not fit the policy",
            bad.count
        )));
    }
    Ok(total.rows)
}

/// `check`'s sink: rows that parsed (and ran), and rows that did not.
#[derive(Default)]
struct RowCount {
    rows: u64,
    skipped: SkippedRows,
}

impl Accumulator for RowCount {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        self.rows += rows.len() as u64;
        self.skipped.add(chunk.skipped);
    }

    fn merge(&mut self, other: &RowCount) -> Result<()> {
        self.rows += other.rows;
        self.skipped.merge(&other.skipped);
        Ok(())
    }
}
