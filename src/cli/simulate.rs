//! `polsim simulate POLICY --data FILE [--by FIELD]...`: the headline report.

use super::{Common, DataArgs, changed_warning, report_skipped};
use crate::dataset::stream::Input;
use crate::error::Result;
use crate::policy::compile::compile_file_for;
use crate::report;
use crate::engine::pass::{PassOptions, Plan};
use crate::engine::segments::SegmentSpec;
use crate::simulate;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file: YAML, or a `.rhai` script (fields typed from the data).
    pub policy: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Break approvals down by a column; `FIELD:EDGE,EDGE,...` bins a number
    /// (e.g. `--by zhima_score:550,600,650,700`). Repeatable.
    #[arg(long, value_name = "FIELD[:EDGES]")]
    pub by: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

/// Past this many values, a segmentation is probably of an identifier.
const MANY_SEGMENTS: usize = 1000;

pub fn run(args: &Args) -> Result<()> {
    let policy = compile_file_for(&args.policy, &args.common.set, Some(&args.data.data))?;
    let segments = args
        .by
        .iter()
        .map(|b| SegmentSpec::parse(b)?.resolve(&policy))
        .collect::<Result<Vec<_>>>()?;
    let plan = Plan::new(vec![policy], segments);
    let options = PassOptions::tolerant(args.common.stream(), args.data.skip_bad_rows);
    let input = Input::open(&args.data.data)?;
    let name = input.name.clone();
    let report = simulate::run(&plan, input, &options)?;
    if !args.common.quiet {
        let headline = format!(
            "note: skipped {} malformed row(s) of `{name}` (--skip-bad-rows)",
            report.skipped.count
        );
        report_skipped(&headline, &report.skipped, &name);
    }
    if report.manifest.data_sha256.is_none() {
        crate::note!("{}", changed_warning(&name));
    }
    for (field, values) in &report.segments {
        if values.len() > MANY_SEGMENTS {
            args.common.note(&format!("note: `--by {field}` made {} segments; an identifier column makes one per row — bin numbers with `--by {field}:EDGES`", values.len()));
        }
    }
    let text = report::render(&report, args.common.format());
    let mut out = super::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(super::stdout_error)
}
