//! `polsim decide POLICY --data FILE [-o OUT.csv]`: one decision per row.
//!
//! Workers format their chunk's rows themselves; the output is written in
//! file order. With `-o`, the file appears only when complete.

use super::{
    Common, DataArgs, changed_warning, refuse_output_onto_inputs, report_skipped_rows,
    write_atomically,
};
use crate::dataset::batch::SkippedRows;
use crate::dataset::stream::Input;
use crate::engine::pass::{self, PassOptions, Plan};
use crate::error::{Error, Result};
use crate::policy::compile::compile_file_for;
use crate::report::Format;
use crate::report::decisions::{self, DecisionLines, DecisionWriter};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(mut_arg("format", |a| a
    .help("Output format: csv (the default) or json (one object per line)")
    .hide_possible_values(true)))]
pub struct Args {
    /// The policy file: YAML, or a `.rhai` script (fields typed from the data).
    pub policy: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Write decisions to this file instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Add a `why` column: for every declined or reviewed row, the
    /// conditions that failed with the values read (`zhima_score=583<600`).
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(args: &Args) -> Result<()> {
    let format = match args.common.format {
        None | Some(Format::Csv) => decisions::Format::Csv,
        Some(Format::Json) => decisions::Format::JsonLines,
        Some(other) => {
            return Err(Error::usage(
                format!("`decide` writes csv or json, not {other:?}").to_lowercase(),
                "use `--format csv` (the default) or `--format json` (one object per line)",
            ));
        }
    };
    if let Some(out) = &args.output {
        refuse_output_onto_inputs(
            ("-o", "decisions.csv"),
            out,
            &[("dataset", &args.data.data), ("policy", &args.policy)],
        )?;
    }
    let policy = compile_file_for(&args.policy, &args.common.set, Some(&args.data.data))?;
    if let (Some(out), Some(script)) = (&args.output, &policy.script) {
        refuse_output_onto_inputs(
            ("-o", "decisions.csv"),
            out,
            &[("policy's script", &script.site.file)],
        )?;
    }
    let mut plan = Plan::new(vec![policy], Vec::new());
    plan.explain = args.explain;
    let input = Input::open(&args.data.data)?;
    let name = input.name.clone();
    let options = PassOptions::tolerant(args.common.stream(), args.data.skip_bad_rows);
    let mut skipped_rows = SkippedRows::default();

    // `failed` says what a failed write was, naming the file or standard output.
    let pass = |out: &mut dyn Write, failed: &dyn Fn(std::io::Error) -> Error| -> Result<()> {
        let writer = DecisionWriter::new(&plan.policies[0], format).explain(args.explain);
        // The header goes out with the first rows, so a dataset that does not
        // fit (a missing column) produces no output at all.
        let mut header = Some(writer.header());
        let summary = pass::run_local(
            &plan,
            input,
            &options,
            DecisionLines::worker,
            |local, chunk| DecisionLines::write(&writer, 0, chunk, local),
            |lines| {
                skipped_rows.merge(&lines.skipped);
                if let Some(h) = header.take() {
                    out.write_all(&h).map_err(failed)?;
                }
                out.write_all(&lines.bytes).map_err(failed)
            },
        )?;
        if summary.changed_while_read {
            note!("{}", changed_warning(&name));
        }
        match header {
            Some(h) => out.write_all(&h).map_err(failed),
            None => Ok(()),
        }
    };
    match &args.output {
        Some(path) => write_atomically(path, |out| pass(out, &|e| Error::write(path, e)))?,
        None => {
            let mut out = std::io::BufWriter::new(super::stdout());
            pass(&mut out, &super::stdout_error)?;
            out.flush().map_err(super::stdout_error)?;
        }
    }
    report_skipped_rows(&args.common, &skipped_rows, &name);
    Ok(())
}
