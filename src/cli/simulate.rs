//! `polsim simulate POLICY --data FILE [--by FIELD]...`: the headline report.

use super::partial::{DataPart, Partial, State};
use super::{Common, DataArgs, changed_warning};
use crate::dataset::stream::Input;
use crate::engine::pass::{PassOptions, Plan};
use crate::engine::segments::SegmentSpec;
use crate::error::{CallerColumn, Diagnostic, Error, Location, Result};
use crate::policy::CompiledPolicy;
use crate::policy::compile::compile_file_for;
use crate::report;
use crate::report::simulation::SimulationReport;
use crate::simulate;
use crate::simulate::trials::{MAX_TRIALS, TrialSpec};
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
    /// Monte Carlo: draw every approved row's outcome in N trials (1 to
    /// 100,000) and report the distribution of loss, revenue, defaults and
    /// bureau reports
    #[arg(long, value_name = "N", value_parser = parse_trials)]
    pub trials: Option<u32>,
    /// The seed of the trials' draws [default: 42]; the same seed gives the
    /// same trials
    #[arg(long, value_name = "S", requires = "trials")]
    pub seed: Option<u64>,
    /// What to print: the report, or the run's partial result (the exact
    /// mergeable state of this part of the data) for `polsim merge`
    #[arg(long, value_enum, default_value_t = Emit::Report)]
    pub emit: Emit,
    /// Write the partial result to FILE instead of printing the report
    #[arg(long, value_name = "FILE", conflicts_with = "emit")]
    pub partial: Option<PathBuf>,
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
    let trials = trial_spec(args, &policy)?;
    let partial = args.emit == Emit::Partial || args.partial.is_some();
    if partial && trials.is_some() && policy.key.is_none() {
        return Err(Error::Usage(
            Diagnostic::new(format!(
                "`--trials` with a partial result needs the policy's `key`, and `{}` has none",
                policy.path.display()
            ))
            .help("a row's Monte Carlo draws follow its key, or else its line, which a part of the data numbers from its own start: add `key: COLUMN` naming a column unique to each user (such as `user_id`), so the parts merge to one run's report"),
        ));
    }
    let plan = Plan::new(vec![policy], segments);
    let options = PassOptions::tolerant(args.common.stream(), args.data.skip_bad_rows);
    let input = Input::open(&args.data.data)?;
    let name = input.name.clone();
    if let Some(out) = &args.partial {
        super::refuse_output_onto_inputs(
            ("--partial", "part1.partial"),
            out,
            &[("--data", &args.data.data), ("the policy", &args.policy)],
        )?;
    }
    let (state, summary) =
        simulate::simulate(&plan, input, &options, trials).map_err(word_segment_columns)?;
    // Drawn rows without a key: refused in a partial, noted in a report.
    let unkeyed = state
        .trials
        .as_ref()
        .map(|t| t.unkeyed)
        .filter(|u| u.rows > 0);
    let key = plan.policies[0].key_name.as_deref().unwrap_or("key");
    if partial && let Some(unkeyed) = unkeyed {
        let line = unkeyed.first_line.unwrap_or(0);
        return Err(Error::Data(
                Diagnostic::new(format!(
                    "{} approved row(s) of `{name}` have an empty `{key}`, the first on line {line}: their Monte Carlo draws would follow their line in this part, and the partials would not merge to one run's report",
                    unkeyed.rows
                ))
                .at(Location::new(&name, line as usize, 1))
                .help(format!("fill in `{key}` for every row (`polsim check POLICY --data FILE` lists the rows without one), or run the whole data in one `polsim simulate --trials`")),
            ));
    }
    super::note_skipped_rows(&args.common, &state.skipped, &name);
    if partial {
        let part = DataPart {
            name: name.clone(),
            sha256: summary.data_sha256.clone(),
            rows: state.whole.outcomes.rows,
        };
        let mut partial = Partial::new(
            "simulate",
            &plan.policies,
            &args.common.set,
            part,
            State::Simulation(Box::new(state)),
        )?;
        partial.by = args.by.clone();
        partial.trials = trials.map(|t| t.trials);
        partial.seed = trials.map(|t| t.seed);
        return partial.write(args.partial.as_deref());
    }
    let report = SimulationReport::build(&plan, 0, &state, summary.data_sha256, None);
    if let Some(unkeyed) = unkeyed {
        let what = if plan.policies[0].key.is_some() {
            format!("have an empty `{key}`")
        } else {
            "have no key (the policy names none)".to_owned()
        };
        args.common.note(&format!(
            "note: {} approved row(s) {what}: their Monte Carlo draws follow their line, so the same users in another order, or in parts, draw otherwise",
            unkeyed.rows
        ));
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

/// `--emit`: the report, or the partial result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    Report,
    Partial,
}

/// `--trials N --seed S`, checked against the policy.
fn trial_spec(args: &Args, policy: &CompiledPolicy) -> Result<Option<TrialSpec>> {
    let Some(trials) = args.trials else {
        return Ok(None);
    };
    if !(1..=MAX_TRIALS).contains(&trials) {
        return Err(Error::Usage(
            Diagnostic::new(format!(
                "`--trials {trials}` is not between 1 and {MAX_TRIALS}"
            ))
            .help("1,000 trials are usually enough for a p99; 10,000 for a steadier ES99"),
        ));
    }
    if policy.repayment.is_none() {
        let path = policy.path.display();
        // A bare script has no YAML to add a section to.
        let help = if policy.path.extension().is_some_and(|e| e == "rhai") {
            let file = policy
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            format!(
                "a `.rhai` file alone has no repayment model: write a YAML policy with `script: {file}` and a `repayment:` section with `outcomes` (see the policy format in the README)"
            )
        } else {
            "add a `repayment:` section with `outcomes` (see the policy format in the README)"
                .to_owned()
        };
        return Err(Error::Usage(
            Diagnostic::new(format!(
                "`--trials` draws repayment outcomes, and `{path}` has no `repayment` model"
            ))
            .help(help),
        ));
    }
    Ok(Some(TrialSpec {
        trials,
        seed: args.seed.unwrap_or(DEFAULT_SEED),
    }))
}

/// `--trials N` as a number; [`trial_spec`] checks its range. A number too
/// large for one is out of the range too, not "not in 0..=4294967295".
fn parse_trials(text: &str) -> std::result::Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(format!(
            "not between 1 and {MAX_TRIALS}; 1,000 trials are usually enough for a p99"
        )),
        Err(_) => Err(format!(
            "`{text}` is not a number of trials; write e.g. `--trials 1000`"
        )),
    }
}

/// The seed of `--trials` without `--seed`.
pub const DEFAULT_SEED: u64 = 42;

/// Words what the reader left to its caller about a `--by` column: the
/// reader knows no command line.
fn word_segment_columns(e: Error) -> Error {
    let Error::Data(mut d) = e else { return e };
    match d.caller_column.take().map(|c| *c) {
        Some(CallerColumn::Missing(_)) => d.message.push_str(", named by `--by`"),
        Some(CallerColumn::BadCell(name)) => {
            d.help = Some(format!(
                "`--by {name}:EDGES` bins numbers; for one segment per value write `--by {name}`"
            ));
        }
        None => {}
    }
    Error::Data(d)
}

#[cfg(test)]
mod tests {
    use super::word_segment_columns;
    use crate::dataset::batch::{Batch, Parser};
    use crate::dataset::schema::{ColumnSpec, Role};
    use crate::dataset::stream::{self, Input, StreamOptions};
    use crate::dataset::value::FieldType;
    use crate::error::{CallerColumn, Diagnostic, Error};

    /// The reader's error for `data` when it reads column `x` for `--by`.
    fn reader_error(data: &str, ty: FieldType) -> Diagnostic {
        let result = stream::run(
            Input::from_bytes("d.csv", data.as_bytes().to_vec()),
            &[ColumnSpec::new("x", ty).with_role(Role::Segment)],
            &StreamOptions::default(),
            |schema| (Parser::default(), Batch::new(schema)),
            |(parser, batch), chunk, schema| {
                parser.parse(chunk, schema, false, batch, &mut Vec::new())
            },
            |_| Ok(()),
        );
        match result {
            Err(Error::Data(d)) => d,
            other => panic!("not a data error: {other:?}"),
        }
    }

    #[test]
    fn the_reader_says_nothing_of_by_and_the_caller_words_it() {
        let missing = reader_error("y\n1\n", FieldType::String);
        assert_eq!(missing.message, "the dataset has no column `x`");
        assert_eq!(
            missing.caller_column.as_deref(),
            Some(&CallerColumn::Missing("x".into()))
        );
        let bad = reader_error("x\nabc\n", FieldType::Float);
        assert!(!bad.help.as_deref().unwrap_or("").contains("--by"), "{bad}");
        assert_eq!(
            bad.caller_column.as_deref(),
            Some(&CallerColumn::BadCell("x".into()))
        );

        let worded = word_segment_columns(Error::Data(missing)).to_string();
        assert!(
            worded.starts_with("error: the dataset has no column `x`, named by `--by`\n"),
            "{worded}"
        );
        let worded = word_segment_columns(Error::Data(bad)).to_string();
        assert!(
            worded.ends_with(
                "help: `--by x:EDGES` bins numbers; for one segment per value write `--by x`"
            ),
            "{worded}"
        );
    }
}
