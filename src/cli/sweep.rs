//! `polsim sweep POLICY --data FILE --param NAME=START..END:STEP`: a grid
//! of parameter values, every point in one pass over the data, each equal
//! to `simulate --set` at its values.

use super::partial::{DataPart, Partial, State};
use super::simulate::Emit;
use super::{Common, DataArgs, changed_warning, refuse_output_onto_inputs, write_atomically};
use crate::dataset::schema::ColumnSpec;
use crate::dataset::stream::Input;
use crate::engine::pass::{self, PassOptions, Plan};
use crate::error::{Error, Result};
use crate::policy::CompiledPolicy;
use crate::policy::compile::compile_file_onto;
use crate::report::svg::YAxis;
use crate::report::sweep_points::{SweepReport, same_value};
use crate::simulate::sweep::{Axis, Sweep, Thresholds, Variants, grid_points, threshold_plan};
use rust_decimal::Decimal;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file: YAML, or a `.rhai` script (fields typed from the data).
    pub policy: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// A parameter and its values: `NAME=START..END:STEP` (END included
    /// when a step lands on it) or `NAME=V1,V2,...`. Once or twice; two
    /// give every combination, the first varying slowest.
    #[arg(long, value_name = "NAME=VALUES", required = true)]
    pub param: Vec<String>,
    /// Also draw the trade-off chart (approval rate against bad rate or
    /// loss) into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// The chart's vertical axis.
    #[arg(long, value_enum, default_value = "bad-rate", value_name = "Y")]
    pub plot_y: PlotY,
    /// What to print: the report, or the run's partial result for `polsim merge`
    #[arg(long, value_enum, default_value_t = Emit::Report, conflicts_with = "plot")]
    pub emit: Emit,
    /// Write the partial result to FILE instead of printing the report
    #[arg(long, value_name = "FILE", conflicts_with_all = ["emit", "plot"])]
    pub partial: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotY {
    /// Observed bad rate among approved users.
    #[value(alias = "bad_rate")]
    BadRate,
    /// Expected loss of the repayment model.
    Loss,
}

/// Beyond this many points a grid is probably a typo in a step.
const MAX_POINTS: usize = 1000;

pub fn run(args: &Args) -> Result<()> {
    let axes = args
        .param
        .iter()
        .map(|p| parse_axis(p))
        .collect::<Result<Vec<_>>>()?;
    check_axes(&axes, &args.common.set)?;
    if let Some(out) = &args.plot {
        check_plot_target(out, args)?;
    }
    let data = Some(args.data.data.as_path());
    let base = compile_file_onto(&args.policy, &args.common.set, data, &[])?;
    for axis in &axes {
        if !base.params.iter().any(|(n, _)| *n == axis.name) {
            let names: Vec<&str> = base.params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::usage(
                format!(
                    "`--param {}`: the policy has no parameter `{}`",
                    axis.name, axis.name
                ),
                match crate::error::did_you_mean(&axis.name, names.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None if names.is_empty() => "the policy declares no `params`".to_owned(),
                    None => format!(
                        "its parameters are {}",
                        names
                            .iter()
                            .map(|n| format!("`{}`", crate::error::printable(n)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            ));
        }
    }
    if args.plot.is_some() {
        // Before the pass: a parameter adds or removes neither section.
        plot_check(&base, plot_y(args.plot_y))?;
    }
    let input = Input::open(&args.data.data)?;
    let name = input.name.clone();
    let options = PassOptions::tolerant(
        crate::dataset::stream::StreamOptions {
            hash: true,
            ..args.common.stream()
        },
        args.data.skip_bad_rows,
    );
    let plan = sweep_plan(
        |overrides, onto| compile_file_onto(&args.policy, overrides, data, onto),
        &args.common.set,
        &axes,
    )?;
    if let Some(out) = &args.partial {
        refuse_output_onto_inputs(
            ("--partial", "part1.partial"),
            out,
            &[("dataset", &args.data.data), ("policy", &args.policy)],
        )?;
    }
    let (state, sha, rows) = match &plan {
        SweepPlan::Thresholds(plan, fast_axes) => {
            let (state, sha) = fold(plan, input, &options, || Thresholds::new(plan, fast_axes))?;
            let rows = rows_of(&state)?;
            (State::Thresholds(Box::new(state)), sha, rows)
        }
        SweepPlan::Variants(plan) => {
            let (state, sha) = fold(plan, input, &options, || Variants::new(plan))?;
            let rows = rows_of(&state)?;
            (State::Variants(state), sha, rows)
        }
    };
    super::note_skipped_rows(&args.common, state.skipped(), &name);
    if args.emit == Emit::Partial || args.partial.is_some() {
        let part = DataPart {
            name: name.clone(),
            sha256: sha,
            rows,
        };
        let mut partial = Partial::new(
            "sweep",
            std::slice::from_ref(&base),
            &args.common.set,
            part,
            state,
        )?;
        partial.param = args.param.clone();
        return partial.write(args.partial.as_deref());
    }
    let report = sweep_report(&base, &plan, &axes, &state, sha)?;
    if let Some(path) = &args.plot {
        let y = plot_y(args.plot_y);
        let svg = crate::report::sweep::plot(&report, y);
        write_atomically(path, |out| {
            out.write_all(svg.as_bytes())
                .map_err(|e| Error::write(path, e))
        })?;
    }
    let text = crate::report::sweep::render(&report, args.common.format());
    let mut out = super::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(super::stdout_error)
}

/// Refuses, before the pass, a `--plot` onto an input or a directory, in
/// the words of `--plot` (the shared checks speak of `-o`).
fn check_plot_target(out: &std::path::Path, args: &Args) -> Result<()> {
    let shown = crate::error::printable(&out.display().to_string()).into_owned();
    if std::fs::metadata(out).is_ok_and(|m| m.is_dir()) {
        return Err(Error::usage(
            format!("`--plot {shown}` is a directory"),
            format!("name the chart's file, e.g. `--plot {shown}/sweep.svg`"),
        ));
    }
    refuse_output_onto_inputs(
        ("--plot", "sweep.svg"),
        out,
        &[("dataset", &args.data.data), ("policy", &args.policy)],
    )
}

/// An error about a swept value names the `--param` the user wrote (the
/// value reached the policy as an override, see [`super::as_option`]).
fn as_param(e: Error, axes: &[Axis], at: &[usize]) -> Error {
    let point: Vec<(String, String)> = axes
        .iter()
        .zip(at)
        .map(|(a, &v)| (a.name.clone(), a.values[v].clone()))
        .collect();
    super::as_option(e, "--param", &point)
}

/// How a sweep runs: one threshold per axis, bucketed
/// ([`Thresholds`]), or one compiled policy per point ([`Variants`]).
pub enum SweepPlan {
    Thresholds(Plan, Vec<crate::simulate::sweep::ThresholdAxis>),
    Variants(Plan),
}

/// The plan of a sweep of `axes` (each policy compiled by `compile` with its
/// overrides, onto the given columns), `set` applied under every point.
pub fn sweep_plan(
    compile: impl Fn(&[(String, String)], &[ColumnSpec]) -> Result<CompiledPolicy>,
    set: &[(String, String)],
    axes: &[Axis],
) -> Result<SweepPlan> {
    let overrides = |at: &[usize]| {
        let mut o = set.to_vec();
        o.extend(
            axes.iter()
                .zip(at)
                .map(|(a, &v)| (a.name.clone(), a.values[v].clone())),
        );
        o
    };
    let points = grid_points(axes);
    // The policy with one axis moved at a time tells whether the sweep is
    // one threshold per axis (see `simulate::sweep`).
    let first = vec![0; axes.len()];
    let start = compile(&overrides(&first), &[]).map_err(|e| as_param(e, axes, &first))?;
    let mut moved = Vec::new();
    for (m, axis) in axes.iter().enumerate() {
        let mut at = first.clone();
        let mut row = Vec::new();
        for v in 0..axis.values.len() {
            at[m] = v;
            row.push(compile(&overrides(&at), &[]).map_err(|e| as_param(e, axes, &at))?);
        }
        moved.push(row);
    }
    Ok(match threshold_plan(&start, &moved) {
        Some(fast) => {
            let mut plan = Plan::new(fast.variants, Vec::new());
            plan.probes = fast.probes;
            SweepPlan::Thresholds(plan, fast.axes)
        }
        None => {
            let mut policies: Vec<CompiledPolicy> = Vec::with_capacity(points.len());
            for at in &points {
                let onto = policies
                    .last()
                    .map(|p| p.columns.clone())
                    .unwrap_or_default();
                policies.push(compile(&overrides(at), &onto).map_err(|e| as_param(e, axes, at))?);
            }
            SweepPlan::Variants(Plan::new(policies, Vec::new()))
        }
    })
}

/// The report of a sweep's merged state.
pub fn sweep_report(
    base: &CompiledPolicy,
    plan: &SweepPlan,
    axes: &[Axis],
    state: &State,
    sha: Option<String>,
) -> Result<SweepReport> {
    match (plan, state) {
        (SweepPlan::Thresholds(plan, _), State::Thresholds(state)) => {
            let policy = &plan.policies[0];
            build(base, plan, |_| policy, axes, &**state, sha)
        }
        (SweepPlan::Variants(plan), State::Variants(state)) => {
            build(base, plan, |i| &plan.policies[i], axes, state, sha)
        }
        _ => Err(crate::engine::pass::plan_mismatch("kinds of sweep")),
    }
}

/// The rows a sweep's state covers (every point covers them all).
fn rows_of(state: &impl Sweep) -> Result<u64> {
    Ok(state.points()?.first().map_or(0, |p| p.outcomes.rows))
}

/// Runs the sweep's pass: the merged state, and the data's hash.
fn fold<S: Sweep>(
    plan: &Plan,
    input: Input,
    options: &PassOptions,
    start: impl Fn() -> S + Sync,
) -> Result<(S, Option<String>)> {
    let mut total = start();
    let name = input.name.clone();
    let summary = pass::run(plan, input, options, &start, |part| total.merge(&part))?;
    if summary.changed_while_read {
        crate::note!("{}", changed_warning(&name));
    }
    Ok((total, summary.data_sha256))
}

/// The report of `state`, made on `plan` (a state of another plan, such as
/// a damaged partial's, is refused).
fn build<'p, S: Sweep>(
    base: &'p CompiledPolicy,
    plan: &Plan,
    policy_of: impl Fn(usize) -> &'p CompiledPolicy,
    axes: &[Axis],
    state: &S,
    sha: Option<String>,
) -> Result<SweepReport> {
    crate::engine::pass::same("plans", &plan.fingerprint(), &state.plan())?;
    let metrics = state.points()?;
    let skipped = state.skipped().count;
    Ok(SweepReport::build(
        base, policy_of, axes, &metrics, skipped, sha,
    ))
}

/// A chart needs what its vertical axis shows.
fn plot_y(y: PlotY) -> YAxis {
    match y {
        PlotY::BadRate => YAxis::BadRate,
        PlotY::Loss => YAxis::Loss,
    }
}

fn plot_check(policy: &CompiledPolicy, y: YAxis) -> Result<()> {
    let missing = match y {
        YAxis::BadRate => policy.observed.is_none(),
        YAxis::Loss => policy.repayment.is_none(),
    };
    if !missing {
        return Ok(());
    }
    Err(match y {
        YAxis::BadRate => Error::usage(
            format!(
                "`--plot` draws the observed bad rate, and policy `{}` has no `observed`",
                crate::error::printable(&policy.id)
            ),
            "add `observed: { bad: ... }` to the policy, or plot expected loss with `--plot-y loss`",
        ),
        YAxis::Loss => Error::usage(
            format!(
                "`--plot-y loss` draws expected loss, and policy `{}` has no `repayment` model",
                crate::error::printable(&policy.id)
            ),
            "add a `repayment` section to the policy, or plot the bad rate with `--plot-y bad-rate`",
        ),
    })
}

/// `NAME=START..END:STEP` or `NAME=V1,V2,...`.
pub fn parse_axis(text: &str) -> Result<Axis> {
    let shape = "write `--param NAME=START..END:STEP` (e.g. `min_score=560..680:20`) or `--param NAME=V1,V2,...` (e.g. `min_score=580,600,620`)";
    let Some((name, values)) = text.split_once('=') else {
        return Err(Error::usage(format!("`--param {text}` has no `=`"), shape));
    };
    let name = name.trim();
    if name.is_empty() || values.trim().is_empty() {
        return Err(Error::usage(
            format!("`--param {text}` needs a name and values"),
            shape,
        ));
    }
    let values = match values.split_once("..") {
        Some((start, rest)) => range(text, start, rest, shape)?,
        None => {
            let values: Vec<String> = values.split(',').map(|v| v.trim().to_owned()).collect();
            if values.iter().any(String::is_empty) {
                return Err(Error::usage(
                    format!("`--param {text}` has an empty value"),
                    shape,
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].iter().any(|u| same_value(u, v)) {
                    return Err(Error::usage(
                        format!("`--param {text}` lists `{v}` twice"),
                        "give each value once",
                    ));
                }
            }
            values
        }
    };
    Ok(Axis {
        name: name.to_owned(),
        values,
    })
}

/// The values of `START..END:STEP`, in exact decimal steps.
fn range(text: &str, start: &str, rest: &str, shape: &str) -> Result<Vec<String>> {
    let Some((end, step)) = rest.split_once(':') else {
        return Err(Error::usage(
            format!("`--param {text}` has a range but no step"),
            shape,
        ));
    };
    if rest.starts_with('.') {
        return Err(Error::usage(
            format!("`--param {text}`: a range has two dots between its start and end"),
            shape,
        ));
    }
    let number = |s: &str| s.trim().parse::<Decimal>().ok();
    let (Some(start), Some(end), Some(step)) = (number(start), number(end), number(step)) else {
        // A number beyond a decimal's 28 digits is not "not a number".
        let huge = [start, end, step]
            .into_iter()
            .find(|s| number(s).is_none() && s.trim().parse::<f64>().is_ok_and(f64::is_finite));
        return Err(match huge {
            Some(n) => Error::usage(
                format!(
                    "`--param {text}`: `{}` has more digits than a range can step through exactly (28 at most)",
                    n.trim()
                ),
                "write the range with fewer digits, e.g. `min_score=560..680:20`",
            ),
            None => Error::usage(
                format!("`--param {text}`: the start, end and step of a range are numbers"),
                shape,
            ),
        });
    };
    if step <= Decimal::ZERO {
        return Err(Error::usage(
            format!("`--param {text}`: the step must be more than 0"),
            "write a positive step after the colon, e.g. `min_score=560..680:20`",
        ));
    }
    if start > end {
        return Err(Error::usage(
            format!("`--param {text}`: the range starts after it ends"),
            "write the smaller value first, e.g. `min_score=560..680:20`",
        ));
    }
    // A span or a quotient beyond what a decimal holds is far more than
    // `MAX_POINTS` steps (the step is at least 1e-28).
    let count = end
        .checked_sub(start)
        .and_then(|span| span.checked_div(step))
        .map(|n| n.floor())
        .ok_or_else(|| too_many(text))?;
    if count >= Decimal::from(MAX_POINTS) {
        return Err(too_many(text));
    }
    let count: u32 = count.try_into().map_err(|_| too_many(text))?;
    (0..=count)
        .map(|k| {
            step.checked_mul(Decimal::from(k))
                .and_then(|s| start.checked_add(s))
                // Without trailing zeros: `600..620:10.0` sweeps an int
                // parameter at 600, 610, 620 (not 610.0, which an int refuses).
                .map(|v| v.normalize().to_string())
                .ok_or_else(|| too_many(text))
        })
        .collect()
}

fn too_many(text: &str) -> Error {
    Error::usage(
        format!("`--param {text}` makes more than {MAX_POINTS} points"),
        "use a larger step or a shorter range",
    )
}

fn check_axes(axes: &[Axis], set: &[(String, String)]) -> Result<()> {
    if axes.len() > 2 {
        return Err(Error::usage(
            format!("`sweep` takes at most two `--param`, not {}", axes.len()),
            "sweep two parameters at a time; fix others with `--set NAME=VALUE`",
        ));
    }
    if axes.len() == 2 && axes[0].name == axes[1].name {
        return Err(Error::usage(
            format!("`--param {}` is given twice", axes[0].name),
            "give each parameter's values in one `--param`",
        ));
    }
    for axis in axes {
        if set.iter().any(|(n, _)| *n == axis.name) {
            return Err(Error::usage(
                format!(
                    "`{}` is both swept (`--param`) and fixed (`--set`)",
                    axis.name
                ),
                format!("drop `--set {}=...`, or sweep another parameter", axis.name),
            ));
        }
    }
    let points: usize = axes.iter().map(|a| a.values.len()).product();
    if points > MAX_POINTS {
        return Err(Error::usage(
            format!("the sweep has {points} points, more than {MAX_POINTS}"),
            "use larger steps or fewer values",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_step_exactly_and_include_the_end() {
        let a = parse_axis("r=0.1..0.3:0.1").unwrap();
        assert_eq!(a.values, ["0.1", "0.2", "0.3"]);
        let a = parse_axis("min_score=580..630:20").unwrap();
        assert_eq!(a.values, ["580", "600", "620"]);
        let a = parse_axis("m=600.0..620:10.0").unwrap();
        assert_eq!(a.values, ["600", "610", "620"]);
        let a = parse_axis("m=0.50..0.70:0.10").unwrap();
        assert_eq!(a.values, ["0.5", "0.6", "0.7"]);
        let a = parse_axis("m = 580, 600 ,620").unwrap();
        assert_eq!((a.name.as_str(), a.values.len()), ("m", 3));
    }

    #[test]
    fn bad_ranges_are_usage_errors() {
        for bad in [
            "m=600..500:10",
            "m=1..5:0",
            "m=1..5:-1",
            "m=1..5",
            "m=",
            "m",
            "m=1,,2",
            "m=1,1.0",
            "m=1..2000000:1",
        ] {
            assert!(parse_axis(bad).is_err(), "{bad}");
        }
    }
}
