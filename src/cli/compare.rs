//! `polsim compare CHAMPION [CHALLENGER] --data FILE`: both policies in one
//! pass — who changes decision, and is it worth it.

use super::partial::{DataPart, Partial, State};
use super::simulate::Emit;
use super::{
    Common, DataArgs, changed_warning, parse_assignment, refuse_output_onto_inputs,
    report_skipped_rows, write_atomically,
};
use crate::dataset::schema::ColumnSpec;
use crate::dataset::stream::{Input, StreamOptions};
use crate::engine::pass::{self, Accumulator, PassOptions, Plan, Rows};
use crate::engine::segments::SegmentSpec;
use crate::error::{Error, Result};
use crate::policy::CompiledPolicy;
use crate::policy::compile::compile_file_onto;
use crate::report::Format;
use crate::report::comparison::{Changes, CompareReport};
use crate::report::decisions::{self, ChangesWriter, DecisionWriter};
use crate::simulate::compare::Comparison;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy in production (YAML, or a `.rhai` script).
    pub champion: PathBuf,
    /// The policy that would replace it; with `--challenger-set`, may be
    /// left out to compare the champion with itself under other parameters.
    pub challenger: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Override a parameter of the challenger only, after `--set`
    /// (repeatable), e.g. `--challenger-set min_score=620`.
    #[arg(long = "challenger-set", value_name = "NAME=VALUE", value_parser = parse_assignment)]
    pub challenger_set: Vec<(String, String)>,
    /// Break the deltas down by a column, as `simulate --by` (repeatable).
    #[arg(long, value_name = "FIELD[:EDGES]")]
    pub by: Vec<String>,
    /// Write every row whose outcome or limit changes to this CSV file.
    #[arg(short, long, value_name = "CHANGES.csv")]
    pub output: Option<PathBuf>,
    /// What to print: the report, or the run's partial result for `polsim merge`
    #[arg(long, value_enum, default_value_t = Emit::Report, conflicts_with = "output")]
    pub emit: Emit,
    /// Write the partial result to FILE instead of printing the report
    #[arg(long, value_name = "FILE", conflicts_with_all = ["emit", "output"])]
    pub partial: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

/// `--challenger-set` names each parameter once (the message `--set` gives
/// for a repeat would name the wrong option).
fn check_challenger_set(set: &[(String, String)]) -> Result<()> {
    for (i, (name, value)) in set.iter().enumerate() {
        if let Some((_, first)) = set[..i].iter().find(|(n, _)| n == name) {
            return Err(Error::usage(
                format!(
                    "`--challenger-set {name}` is given twice (`--challenger-set {name}={first}` and `--challenger-set {name}={value}`)"
                ),
                format!("give `--challenger-set {name}=...` once, with the value you mean"),
            ));
        }
    }
    Ok(())
}

/// When the champion refuses a `--set` parameter it lacks and the
/// challenger has, the error that says to use `--challenger-set`.
fn set_for_the_challenger_only(
    args: &Args,
    challenger: &Path,
    data: Option<&Path>,
) -> Option<Error> {
    let champion = compile_file_onto(&args.champion, &[], data, &[]).ok()?;
    let (name, value) = args
        .common
        .set
        .iter()
        .find(|(n, _)| !champion.params.iter().any(|(p, _)| p == n))?;
    let plain = compile_file_onto(challenger, &[], data, &champion.columns).ok()?;
    plain.params.iter().any(|(p, _)| p == name).then(|| {
        Error::usage(
            format!(
                "`--set {name}=...` names no parameter of the champion `{}`; only the challenger `{}` has `{name}`",
                crate::error::printable(&champion.id),
                crate::error::printable(&plain.id)
            ),
            format!("set it for the challenger alone with `--challenger-set {name}={value}`"),
        )
    })
}

/// The plan of a comparison: `champion`, then the challenger (compiled by
/// `compile` with its overrides, onto the champion's columns) with `--set`
/// where it has the parameter and `--challenger-set` on top; and the
/// segments of `--by`.
pub fn comparison_plan(
    champion: CompiledPolicy,
    compile: impl Fn(&[(String, String)], &[ColumnSpec]) -> Result<CompiledPolicy>,
    set: &[(String, String)],
    challenger_set: &[(String, String)],
    by: &[String],
) -> Result<Plan> {
    // `--set` applies to the challenger where it has the parameter.
    let plain = compile(&[], &champion.columns)?;
    for (name, _) in challenger_set {
        if !plain.params.iter().any(|(p, _)| p == name) {
            let names: Vec<&str> = plain.params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::usage(
                format!(
                    "`--challenger-set {name}=...` names no parameter of policy `{}`",
                    crate::error::printable(&plain.id)
                ),
                crate::error::suggest(name, "parameters", &names),
            ));
        }
    }
    let mut overrides: Vec<(String, String)> = set
        .iter()
        .filter(|(n, _)| plain.params.iter().any(|(p, _)| p == n))
        .filter(|(n, _)| !challenger_set.iter().any(|(c, _)| c == n))
        .cloned()
        .collect();
    overrides.extend(challenger_set.iter().cloned());
    let challenger = compile(&overrides, &champion.columns)
        .map_err(|e| super::as_option(e, "--challenger-set", challenger_set))?;
    let segments = by
        .iter()
        .map(|b| SegmentSpec::parse(b)?.resolve(&champion))
        .collect::<Result<Vec<_>>>()?;
    Ok(Plan::new(vec![champion, challenger], segments))
}

pub fn run(args: &Args) -> Result<()> {
    let format = args.common.format();
    if format == Format::Csv {
        return Err(Error::usage(
            "`compare` writes table, json or markdown, not csv",
            "use `--format json` for tools; `-o changes.csv` writes the changed rows as CSV",
        ));
    }
    let challenger_path = match (&args.challenger, args.challenger_set.is_empty()) {
        (Some(p), _) => p.as_path(),
        (None, false) => args.champion.as_path(),
        (None, true) => {
            return Err(Error::usage(
                "`compare` needs a challenger: a second policy, or `--challenger-set`",
                "e.g. `polsim compare champion.yaml challenger.yaml --data FILE`, or `polsim compare policy.yaml --challenger-set min_score=620 --data FILE`",
            ));
        }
    };
    let data = Some(args.data.data.as_path());
    if let Some(out) = &args.output {
        let shown = crate::error::printable(&out.display().to_string()).into_owned();
        if std::fs::metadata(out).is_ok_and(|m| m.is_dir()) {
            return Err(Error::usage(
                format!("`-o {shown}` is a directory"),
                format!("name the changes file, e.g. `-o {shown}/changes.csv`"),
            ));
        }
        refuse_output_onto_inputs(
            ("-o", "changes.csv"),
            out,
            &[
                ("dataset", &args.data.data),
                ("champion", &args.champion),
                ("challenger", challenger_path),
            ],
        )?;
    }
    if let Some(out) = &args.partial {
        refuse_output_onto_inputs(
            ("--partial", "part1.partial"),
            out,
            &[
                ("dataset", &args.data.data),
                ("champion", &args.champion),
                ("challenger", challenger_path),
            ],
        )?;
    }
    check_challenger_set(&args.challenger_set)?;
    let champion = match compile_file_onto(&args.champion, &args.common.set, data, &[]) {
        Ok(p) => p,
        Err(e) => return Err(set_for_the_challenger_only(args, challenger_path, data).unwrap_or(e)),
    };
    let plan = comparison_plan(
        champion,
        |overrides, base| compile_file_onto(challenger_path, overrides, data, base),
        &args.common.set,
        &args.challenger_set,
        &args.by,
    )?;

    let input = Input::open(&args.data.data)?;
    let name = input.name.clone();
    let options = PassOptions::tolerant(
        StreamOptions {
            hash: true,
            ..args.common.stream()
        },
        args.data.skip_bad_rows,
    );
    let mut total = Comparison::new(&plan);
    let mut changed = 0u64;
    let mut summary = None;
    let run_pass = |out: Option<&mut dyn Write>,
                    failed: &dyn Fn(std::io::Error) -> Error,
                    total: &mut Comparison,
                    changed: &mut u64|
     -> Result<crate::dataset::stream::StreamSummary> {
        let writer = ChangesWriter {
            champion: DecisionWriter::new(&plan.policies[0], decisions::Format::Csv),
            challenger: DecisionWriter::new(&plan.policies[1], decisions::Format::Csv),
        };
        let writes = out.is_some();
        let mut out = out;
        let mut header = writes.then(|| writer.header());
        let summary = pass::run_local(
            &plan,
            input,
            &options,
            || (),
            |(), chunk| {
                let mut part = Comparison::new(&plan);
                part.add(chunk, Rows::All(chunk.len));
                let lines = writes.then(|| writer.write(chunk));
                (part, lines)
            },
            |(part, lines)| {
                total.merge(&part)?;
                if let (Some(out), Some((bytes, n))) = (out.as_deref_mut(), lines) {
                    *changed += n;
                    if let Some(h) = header.take() {
                        out.write_all(&h).map_err(failed)?;
                    }
                    out.write_all(&bytes).map_err(failed)?;
                }
                Ok(())
            },
        )?;
        if let (Some(out), Some(h)) = (out, header) {
            out.write_all(&h).map_err(failed)?;
        }
        Ok(summary)
    };
    match &args.output {
        Some(path) => write_atomically(path, |out| {
            summary = Some(run_pass(
                Some(out),
                &|e| Error::write(path, e),
                &mut total,
                &mut changed,
            )?);
            Ok(())
        })?,
        None => {
            summary = Some(run_pass(
                None,
                &|e| Error::write(Path::new("-"), e),
                &mut total,
                &mut changed,
            )?)
        }
    }
    let summary = summary.expect("the pass ran");
    if summary.changed_while_read {
        crate::note!("{}", changed_warning(&name));
    }
    report_skipped_rows(&args.common, &total.champion.skipped, &name);
    let changes = args.output.as_ref().map(|p| Changes {
        rows: changed,
        file: p.display().to_string(),
    });
    if args.emit == Emit::Partial || args.partial.is_some() {
        let part = DataPart {
            name: name.clone(),
            sha256: summary.data_sha256.clone(),
            rows: total.champion.whole.outcomes.rows,
        };
        let mut partial = Partial::new(
            "compare",
            &plan.policies,
            &args.common.set,
            part,
            State::Comparison(Box::new(total)),
        )?;
        partial.challenger_set = args.challenger_set.clone();
        partial.by = args.by.clone();
        return partial.write(args.partial.as_deref());
    }
    let report = CompareReport::build(&plan, &total, summary.data_sha256, changes);
    let text = crate::report::compare::render(&report, format);
    let mut out = super::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(super::stdout_error)
}
