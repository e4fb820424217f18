//! `polsim merge PARTIAL...`: the report of the whole from partial results
//! of its parts (`simulate`, `compare` or `sweep` with `--emit partial`),
//! the same as one run over all of the data but for the manifest, which
//! lists every part's data hash.
//!
//! The headers must agree (polsim version, policies and scripts,
//! parameters, `--by`, `--param`, trials and seed); the first mismatch is
//! the error. The policies are rebuilt from the text a partial carries, so
//! merging needs no files but the partials.

use super::partial::{DataPart, Partial, State};
use super::simulate::Emit;
use crate::engine::pass::Plan;
use crate::engine::segments::SegmentSpec;
use crate::error::{Error, Result};
use crate::report::comparison::CompareReport;
use crate::report::simulation::SimulationReport;
use crate::report::{self, Format};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Partial results, from `simulate`, `compare` or `sweep` with `--emit partial` or `--partial FILE`
    #[arg(required = true, value_name = "PARTIAL")]
    pub partials: Vec<PathBuf>,
    /// What to print: the report, or the merged partial result (to merge in stages)
    #[arg(long, value_enum, default_value_t = Emit::Report)]
    pub emit: Emit,
    /// Write the merged partial result to FILE instead of printing the report
    #[arg(long, value_name = "FILE", conflicts_with = "emit")]
    pub partial: Option<PathBuf>,
    /// Output format [default: table on a terminal, json otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub fn run(args: &Args) -> Result<()> {
    // Partials that pass their checksum yet do not fit together (made by
    // hand, with the checksum computed again) must not crash the merge.
    crate::panics::caught(|| merge(args)).unwrap_or_else(|why| {
        Err(Error::usage(
            format!("the partials hold states that do not fit together ({why})"),
            "make every partial again with `polsim … --emit partial`, from one polsim and the same options",
        ))
    })
}

fn merge(args: &Args) -> Result<()> {
    let mut parts = Vec::with_capacity(args.partials.len());
    if args.partials.iter().any(|p| p.as_os_str() == "-") {
        return Err(Error::usage(
            "`merge` reads partials from files, not from standard input (`-`)",
            "write each partial to a file (`--partial FILE`, or `--emit partial > FILE`) and name the files",
        ));
    }
    for path in &args.partials {
        parts.push(Partial::read(path)?);
    }
    let first = &parts[0];
    for (i, (p, path)) in parts.iter().zip(&args.partials).enumerate().skip(1) {
        first.check_same(p, i + 1, path)?;
    }
    no_data_twice(&parts, &args.partials)?;
    let mut total = first.state.clone();
    for (p, path) in parts.iter().zip(&args.partials).skip(1) {
        total.merge(&p.state).map_err(|_| damaged(path))?;
    }
    let data: Vec<DataPart> = parts.iter().flat_map(|p| p.data.iter().cloned()).collect();
    if args.emit == Emit::Partial || args.partial.is_some() {
        let merged = Partial {
            data,
            state: total,
            ..first.clone()
        };
        return merged.write(args.partial.as_deref());
    }
    // The policies, rebuilt from the text the partials carry, in a plan
    // that must be the one each part ran (its fingerprint is in the state).
    let dir = tempfile::tempdir().map_err(|e| Error::write(&std::env::temp_dir(), e))?;
    let format = super::format_or_default(args.format);
    let text = match (&first.state, &total) {
        (State::Simulation(_), State::Simulation(total)) => {
            let (policy, _) = first.policies[0].compile(&dir.path().join("0"), &first.set, &[])?;
            let segments = first
                .by
                .iter()
                .map(|b| SegmentSpec::parse(b)?.resolve(&policy))
                .collect::<Result<Vec<_>>>()?;
            let plan = Plan::new(vec![policy], segments);
            same_plan(plan.fingerprint(), &total.plan, &args.partials[0])?;
            let mut report = SimulationReport::build(&plan, 0, total, None, None);
            report.manifest.parts = data;
            report::render(&report, format)
        }
        (State::Comparison(_), State::Comparison(total)) => {
            if format == Format::Csv {
                return Err(Error::usage(
                    "`compare` writes table, json or markdown, not csv",
                    "use `--format json` for tools",
                ));
            }
            let (champion, _) =
                first.policies[0].compile(&dir.path().join("0"), &first.set, &[])?;
            let challenger = &first.policies[1];
            let plan = super::compare::comparison_plan(
                champion,
                |overrides, base| {
                    Ok(challenger
                        .compile(&dir.path().join("1"), overrides, base)?
                        .0)
                },
                &first.set,
                &first.challenger_set,
                &first.by,
            )?;
            same_plan(plan.fingerprint(), &total.champion.plan, &args.partials[0])?;
            let mut report = CompareReport::build(&plan, total, None, None);
            report.manifest.parts = data.clone();
            report.champion.manifest.parts = data.clone();
            report.challenger.manifest.parts = data;
            crate::report::compare::render(&report, format)
        }
        (State::Thresholds(_) | State::Variants(_), state) => {
            let axes = first
                .param
                .iter()
                .map(|p| super::sweep::parse_axis(p))
                .collect::<Result<Vec<_>>>()?;
            let source = &first.policies[0];
            let at = dir.path().join("0");
            let (base, _) = source.compile(&at, &first.set, &[])?;
            let plan = super::sweep::sweep_plan(
                |overrides, onto| Ok(source.compile(&at, overrides, onto)?.0),
                &first.set,
                &axes,
            )?;
            let mut report = super::sweep::sweep_report(&base, &plan, &axes, state, None)?;
            report.manifest.parts = data;
            crate::report::sweep::render(&report, format)
        }
        _ => return Err(damaged(&args.partials[0])),
    };
    let mut out = super::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(super::stdout_error)
}

/// The same data in two partials (one given twice, a task run twice, a
/// part inside a merged partial given again) would count its rows twice.
/// Parts are told apart by their bytes' SHA-256; empty parts (a header
/// alone, an empty Spark partition: no rows, none skipped) may repeat.
fn no_data_twice(parts: &[Partial], paths: &[PathBuf]) -> Result<()> {
    let mut seen: std::collections::HashMap<&str, (usize, &DataPart)> =
        std::collections::HashMap::new();
    for (i, p) in parts.iter().enumerate() {
        let skipped = p.state.skipped().count > 0;
        for d in p.data.iter().filter(|d| d.rows > 0 || skipped) {
            let Some(sha) = d.sha256.as_deref() else {
                continue;
            };
            match seen.get(sha) {
                Some(&(j, first)) if j != i => {
                    return Err(Error::usage(
                        format!(
                            "partials {} (`{}`, of `{}`) and {} (`{}`, of `{}`) cover the same data (sha256 {}, {} rows): merged, its rows would count twice",
                            j + 1,
                            paths[j].display(),
                            first.name,
                            i + 1,
                            paths[i].display(),
                            d.name,
                            &sha[..12.min(sha.len())],
                            d.rows
                        ),
                        "give each part's partial once (a task run twice, or a part already inside a merged partial); parts with the very same bytes are the same data",
                    ));
                }
                _ => {
                    seen.insert(sha, (i, d));
                }
            }
        }
    }
    Ok(())
}

/// A partial whose state does not go with its header.
fn damaged(path: &Path) -> Error {
    Error::usage(
        format!(
            "`{}` holds a state that does not match its header",
            path.display()
        ),
        "make the partial again with `polsim … --emit partial`",
    )
}

fn same_plan(rebuilt: &str, recorded: &str, path: &Path) -> Result<()> {
    if rebuilt == recorded {
        Ok(())
    } else {
        Err(damaged(path))
    }
}
