//! `polsim merge PARTIAL...`: the report of the whole from partial results
//! of its parts (`simulate --emit partial`), the same as one run over all
//! of the data but for the manifest, which lists every part's data hash.
//!
//! The headers must agree (polsim version, policy and script, parameters,
//! `--by`, trials and seed); the first mismatch is the error. The policy is
//! rebuilt from the text a partial carries, so merging needs no files but
//! the partials.

use super::partial::Partial;
use super::simulate::Emit;
use crate::engine::pass::{Accumulator, Plan};
use crate::engine::segments::SegmentSpec;
use crate::error::{Error, Result};
use crate::report::simulation::SimulationReport;
use crate::report::{self, Format};
use crate::simulate::Simulation;
use crate::simulate::trials::TrialSpec;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Partial results, from `simulate --emit partial` or `--partial FILE`
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
    let mut parts = Vec::with_capacity(args.partials.len());
    for path in &args.partials {
        parts.push(Partial::read(path)?);
    }
    let first = &parts[0];
    for (i, (p, path)) in parts.iter().zip(&args.partials).enumerate().skip(1) {
        first.check_same(p, i + 1, path)?;
    }
    // The policy, rebuilt from the text the partials carry.
    let dir = tempfile::tempdir().map_err(|e| Error::write(&std::env::temp_dir(), e))?;
    let policy = first.policy.compile(dir.path(), &first.set)?;
    let segments = first
        .by
        .iter()
        .map(|b| SegmentSpec::parse(b)?.resolve(&policy))
        .collect::<Result<Vec<_>>>()?;
    let plan = Plan::new(vec![policy], segments);
    let spec = first
        .trials
        .zip(first.seed)
        .map(|(trials, seed)| TrialSpec { trials, seed });
    let mut total = Simulation::with_trials(&plan, 0, spec);
    for (p, path) in parts.iter().zip(&args.partials) {
        total.merge(&p.state).map_err(|_| {
            Error::usage(
                format!(
                    "`{}` holds a state that does not match its header",
                    path.display()
                ),
                "make the partial again with `polsim simulate … --emit partial`",
            )
        })?;
    }
    let data_parts: Vec<_> = parts.iter().flat_map(|p| p.data.iter().cloned()).collect();
    if args.emit == Emit::Partial || args.partial.is_some() {
        let merged = Partial {
            data: data_parts,
            state: total,
            ..first.clone()
        };
        return merged.write(args.partial.as_deref());
    }
    let mut report = SimulationReport::build(&plan, 0, &total, None, None);
    report.manifest.parts = data_parts;
    let format = args
        .format
        .unwrap_or(if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            Format::Table
        } else {
            Format::Json
        });
    let text = report::render(&report, format);
    let mut out = super::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(super::stdout_error)
}
