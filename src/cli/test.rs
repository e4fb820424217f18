//! `polsim test [PATH]...`: run every `*.test.yaml` under the paths — each
//! case through the engine, each dataset expectation against what
//! `simulate` reports — and say what failed; `--junit FILE` for CI.
//!
//! Exit 0 when everything passed, 1 on a failure, 2 on a broken test file.

use super::{Common, explain};
use crate::dataset::stream::{Input, StreamOptions};
use crate::engine::pass::{self, Accumulator, PassOptions, Plan, Rows};
use crate::engine::segments::SegmentSpec;
use crate::error::{Error, Result, printable};
use crate::policy::CompiledPolicy;
use crate::policy::compile::{MISSING_VALUE, compile_file_for};
use crate::policy::test_file::{self, Case, Check, DatasetTest, TestFile};
use crate::report::simulation::SimulationReport;
use crate::simulate::Simulation;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Test files, or directories to search for `*.test.yaml` [default: .]
    pub paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML, for CI systems to show.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Fail when a test file's cases cover less than PCT % of its policy's
    /// rules and limit bands.
    #[arg(long, value_name = "PCT")]
    pub min_coverage: Option<f64>,
    /// Write every dataset's `snapshot` file anew from this run.
    #[arg(long)]
    pub update: bool,
    #[command(flatten)]
    pub common: Common,
}

/// One checked thing: a case or an expectation.
struct Outcome {
    name: String,
    /// `None` when it passed; else what failed, and the detail.
    failure: Option<(String, String)>,
}

pub fn run(args: &Args) -> Result<()> {
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for root in &roots {
        find(root, &mut files)?;
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::usage(
            format!(
                "no `*.test.yaml` file under {}",
                roots
                    .iter()
                    .map(|r| format!("`{}`", printable(&r.display().to_string())))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "write a test file beside the policy, e.g. `policies/jd_plus.test.yaml` (see the README, *Policy tests*)",
        ));
    }
    // Every file is read before any runs: a broken one is exit 2 at once.
    let tests = files
        .iter()
        .map(|f| test_file::load(f))
        .collect::<Result<Vec<_>>>()?;
    let mut report = Report::new("polsim test");
    let (mut passed, mut failed) = (0, 0);
    // `--format json`: one object for tools instead of the lines.
    let json = args.common.format == Some(crate::report::Format::Json);
    let say = |line: String| {
        if !json {
            say!("{line}");
        }
    };
    let mut files_json = Vec::new();
    for t in &tests {
        let (mut results, coverage) = run_file(t, &args.common, args.update)?;
        let shown = printable(&t.path.display().to_string()).into_owned();
        say(coverage.summary(&shown));
        if let Some(min) = args.min_coverage {
            let pct = coverage.percent();
            results.push(Outcome {
                name: format!("coverage >= {min}%"),
                failure: (pct < min).then(|| {
                    (
                        format!("the cases cover {pct:.1}% of the rules and limit bands, below --min-coverage {min}"),
                        String::new(),
                    )
                }),
            });
        }
        let mut suite = TestSuite::new(shown.clone());
        for r in &results {
            match &r.failure {
                None => {
                    passed += 1;
                    if !args.common.quiet {
                        say(format!("ok    {shown}: {}", r.name));
                    }
                    suite.add_test_case(TestCase::new(r.name.clone(), TestCaseStatus::success()));
                }
                Some((message, detail)) => {
                    failed += 1;
                    say(format!("FAIL  {shown}: {}\n      {message}", r.name));
                    if !detail.is_empty() {
                        for line in detail.lines() {
                            say(format!("      {line}"));
                        }
                    }
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(message.clone());
                    status.set_description(detail.clone());
                    suite.add_test_case(TestCase::new(r.name.clone(), status));
                }
            }
        }
        report.add_test_suite(suite);
        files_json.push(serde_json::json!({
            "file": shown,
            "policy": coverage.policy,
            "coverage": coverage.percent(),
            "results": results.iter().map(|r| serde_json::json!({
                "name": r.name,
                "ok": r.failure.is_none(),
                "message": r.failure.as_ref().map(|f| &f.0),
            })).collect::<Vec<_>>(),
        }));
    }
    say(format!(
        "{passed} passed, {failed} failed, in {} test file(s)",
        tests.len()
    ));
    if json {
        let all = serde_json::json!({ "passed": passed, "failed": failed, "files": files_json });
        say!(
            "{}",
            serde_json::to_string_pretty(&all).expect("results serialise")
        );
    }
    if let Some(path) = &args.junit {
        let xml = report.to_string().map_err(|e| {
            Error::usage(
                format!("the JUnit report cannot be written: {e}"),
                "report this as a bug",
            )
        })?;
        super::write_atomically(path, |out| {
            out.write_all(xml.as_bytes())
                .map_err(|e| Error::write(path, e))
        })?;
    }
    if failed > 0 {
        return Err(Error::CheckFailed(format!("{failed} test(s) failed")));
    }
    Ok(())
}

/// The `*.test.yaml` files at or under `path`.
fn find(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::read(path, e))?;
    if meta.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|e| Error::read(path, e))?;
    for entry in entries {
        let p = entry.map_err(|e| Error::read(path, e))?.path();
        if p.is_dir() {
            find(&p, out)?;
        } else if test_file::is_test_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// The policy's overrides: the file's `params`, then `--set` over them.
fn overrides(t: &TestFile, common: &Common) -> Vec<(String, String)> {
    let mut o: Vec<(String, String)> = t
        .params
        .iter()
        .filter(|(n, _)| !common.set.iter().any(|(s, _)| s == n))
        .cloned()
        .collect();
    o.extend(common.set.iter().cloned());
    o
}

/// What a test file's cases exercised of its policy, and what its datasets
/// made fail.
struct Coverage {
    policy: String,
    /// Per rule: its id, whether some case fails it, whether some case
    /// reaches it (no earlier decline rule failed) and passes it, and
    /// whether it fails on some test dataset.
    rules: Vec<(String, bool, bool, bool)>,
    /// Per limit band: its amount, and whether some case lands in it.
    bands: Vec<(String, bool)>,
    /// Per rule: whether it counts.
    counted: Vec<bool>,
    datasets: bool,
}

impl Coverage {
    fn new(policy: &CompiledPolicy) -> Coverage {
        Coverage {
            policy: policy.id.clone(),
            rules: policy
                .rules
                .iter()
                .map(|r| (r.id.clone(), false, false, false))
                .collect(),
            // A script's "met a missing value" reason is polsim's, not a rule
            // the author wrote: it is not counted.
            counted: policy
                .rules
                .iter()
                .map(|r| !(policy.script.is_some() && r.reason == MISSING_VALUE))
                .collect(),
            bands: if policy.script.is_some() {
                Vec::new()
            } else {
                policy
                    .limits
                    .iter()
                    .map(|b| (crate::report::amount_text(&b.amount), false))
                    .collect()
            },
            datasets: false,
        }
    }

    /// The rules that count.
    fn counted(&self) -> impl Iterator<Item = &(String, bool, bool, bool)> {
        self.rules
            .iter()
            .zip(&self.counted)
            .filter(|(_, c)| **c)
            .map(|(r, _)| r)
    }

    fn percent(&self) -> f64 {
        let total = self.counted().count() + self.bands.len();
        let covered = self.counted().filter(|r| r.1 && r.2).count()
            + self.bands.iter().filter(|b| b.1).count();
        if total == 0 {
            100.0
        } else {
            100.0 * covered as f64 / total as f64
        }
    }

    fn summary(&self, file: &str) -> String {
        let rules = self.counted().filter(|r| r.1 && r.2).count();
        let bands = self.bands.iter().filter(|b| b.1).count();
        let mut out = format!(
            "coverage {file} (policy `{}`): {rules}/{} rules, {bands}/{} limit bands, {:.1}%",
            printable(&self.policy),
            self.counted().count(),
            self.bands.len(),
            self.percent()
        );
        for (id, fails, passes, _) in self.counted() {
            let why = match (fails, passes) {
                (false, false) => "no case fails it, and none reaches it and passes",
                (false, true) => "no case fails it",
                (true, false) => "no case reaches it and passes it",
                _ => continue,
            };
            out.push_str(&format!(
                "\n  not covered: rule `{}` ({why})",
                printable(id)
            ));
        }
        for (b, (amount, hit)) in self.bands.iter().enumerate() {
            if !hit {
                out.push_str(&format!(
                    "\n  not covered: limit band {} (amount {}): no case lands in it",
                    b + 1,
                    printable(amount)
                ));
            }
        }
        if self.datasets {
            let idle: Vec<String> = self
                .counted()
                .filter(|r| !r.3)
                .map(|r| format!("`{}`", printable(&r.0)))
                .collect();
            if !idle.is_empty() {
                out.push_str(&format!(
                    "\n  rules that fail on no test dataset: {}",
                    idle.join(", ")
                ));
            }
        }
        out
    }
}

fn run_file(t: &TestFile, common: &Common, update: bool) -> Result<(Vec<Outcome>, Coverage)> {
    let first_data = t.datasets.first().map(|d| d.data.as_path());
    let policy = compile_file_for(&t.policy, &overrides(t, common), first_data)?;
    let mut coverage = Coverage::new(&policy);
    let mut out = Vec::new();
    if !t.cases.is_empty() {
        out.extend(run_cases(&policy, &t.cases, &mut coverage)?);
    }
    for d in &t.datasets {
        out.extend(run_dataset(t, &policy, d, common, &mut coverage, update)?);
    }
    Ok((out, coverage))
}

fn run_cases(
    policy: &CompiledPolicy,
    cases: &[Case],
    coverage: &mut Coverage,
) -> Result<Vec<Outcome>> {
    let names: Vec<&str> = policy.declared.iter().map(|c| c.name.as_str()).collect();
    let mut rows = Vec::new();
    for case in cases {
        for (field, _) in &case.input {
            if !names.contains(&field.as_str()) {
                return Err(Error::Usage(
                    crate::error::Diagnostic::new(format!(
                        "case `{}` gives `{}`, which policy `{}` does not declare",
                        printable(&case.name),
                        printable(field),
                        printable(&policy.id)
                    ))
                    .at(case.at.clone())
                    .help(
                        match crate::error::did_you_mean(field, names.iter().copied()) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => format!("its fields are {}", names.join(", ")),
                        },
                    ),
                ));
            }
        }
        rows.push(
            names
                .iter()
                .map(|n| {
                    case.input
                        .iter()
                        .find(|(f, _)| f == n)
                        .and_then(|(_, v)| v.clone())
                })
                .collect::<Vec<Option<String>>>(),
        );
    }
    let csv = explain::rows_csv(policy, &rows);
    let lines: Vec<u64> = vec![0; cases.len()];
    let traces = explain::traces(policy, Input::from_bytes("the cases", csv), &lines)?;
    for trace in &traces {
        // A rule is reached when no decline rule before it failed.
        let mut reached = true;
        for ((_, fails, passes, _), (rule, r)) in coverage
            .rules
            .iter_mut()
            .zip(trace.rules.iter().zip(&policy.rules))
        {
            let failed = rule.verdict == "fail";
            *fails |= failed;
            *passes |= reached && !failed;
            if failed && r.action == crate::policy::model::Action::Decline {
                reached = false;
            }
        }
        for b in trace.limits.iter().filter(|b| b.taken) {
            if let Some(band) = coverage.bands.get_mut(b.band) {
                band.1 = true;
            }
        }
    }
    Ok(cases
        .iter()
        .zip(&traces)
        .map(|(case, trace)| {
            let mut wrong = Vec::new();
            if let Some(o) = &case.outcome
                && o != trace.outcome
            {
                wrong.push(format!("outcome: expected {o}, got {}", trace.outcome));
            }
            if let Some(r) = &case.reasons
                && *r != trace.reasons
            {
                wrong.push(format!(
                    "reasons: expected [{}], got [{}]",
                    r.join(", "),
                    trace.reasons.join(", ")
                ));
            }
            for r in &case.reasons_include {
                if !trace.reasons.contains(r) {
                    wrong.push(format!(
                        "reasons: expected to include {r}, got [{}]",
                        trace.reasons.join(", ")
                    ));
                }
            }
            if let Some(l) = &case.limit {
                let want = l.parse::<Decimal>().ok();
                if want != trace.limit {
                    let got = trace.limit.map_or("none".to_owned(), |l| l.to_string());
                    wrong.push(format!("limit: expected {l}, got {got}"));
                }
            }
            Outcome {
                name: format!("case: {}", case.name),
                failure: (!wrong.is_empty()).then(|| {
                    (
                        format!("{} ({})", wrong.join("; "), case.at),
                        crate::report::explain::render(policy, trace),
                    )
                }),
            }
        })
        .collect())
}

fn run_dataset(
    t: &TestFile,
    policy: &CompiledPolicy,
    d: &DatasetTest,
    common: &Common,
    coverage: &mut Coverage,
    update: bool,
) -> Result<Vec<Outcome>> {
    let segments =
        t.by.iter()
            .map(|b| SegmentSpec::parse(b)?.resolve(policy))
            .collect::<Result<Vec<_>>>()?;
    let plan = Plan::new(vec![policy.clone()], segments);
    let options = PassOptions {
        stream: StreamOptions {
            progress: false,
            ..common.stream()
        },
        skip_bad_rows: false,
    };
    let input = Input::open(&d.data)?;
    let (state, summary, rows) = simulate_rows(&plan, input, &options, d.snapshot.is_some())?;
    let report = SimulationReport::build(&plan, 0, &state, summary.data_sha256, None);
    coverage.datasets = true;
    for (rule, stat) in coverage.rules.iter_mut().zip(&report.reasons) {
        rule.3 |= stat.failed > 0;
    }
    let json = serde_json::to_value(&report).expect("a report serialises");
    let data = printable(&d.data.display().to_string()).into_owned();
    let mut out = Vec::new();
    if let Some(path) = &d.snapshot {
        let shown = printable(&path.display().to_string()).into_owned();
        if update {
            super::snapshot::write(path, &super::snapshot::make(policy, &json, &rows))?;
            out.push(Outcome {
                name: format!("{data}: snapshot {shown} (written)"),
                failure: None,
            });
        } else {
            let wrong = super::snapshot::compare(path, policy, &json, &rows, &d.tolerance)?;
            out.push(Outcome {
                name: format!("{data}: snapshot {shown}"),
                failure: wrong.map(|w| (format!("{w} ({})", d.at), String::new())),
            });
        }
    }
    out.extend(d.expect.iter().map(|e| {
        let got = metric(&json, &e.metric);
        let failure = match &got {
            None => Some(format!(
                "`{}` is not a metric of the report ({})",
                e.metric, e.at
            )),
            Some(v) => (!holds(v, &e.check)).then(|| {
                format!(
                    "{}: expected {}, got {} ({})",
                    e.metric,
                    e.check.describe(),
                    show(v),
                    e.at
                )
            }),
        };
        Outcome {
            name: format!("{data}: {} {}", e.metric, e.check.describe()),
            failure: failure.map(|f| (f, String::new())),
        }
    }));
    Ok(out)
}

/// `simulate`'s pass, also keeping every row's outcome and deciding rule
/// (in file order) when `rows` is set, for a snapshot.
fn simulate_rows(
    plan: &Plan,
    input: Input,
    options: &PassOptions,
    rows: bool,
) -> Result<(
    Simulation,
    crate::dataset::stream::StreamSummary,
    super::snapshot::Rows,
)> {
    let options = PassOptions {
        stream: StreamOptions {
            hash: true,
            ..options.stream.clone()
        },
        ..options.clone()
    };
    let mut total = Simulation::new(plan, 0);
    let mut kept = super::snapshot::Rows::default();
    let summary = pass::run_local(
        plan,
        input,
        &options,
        || (),
        |(), chunk| {
            let mut part = Simulation::new(plan, 0);
            part.add(chunk, Rows::All(chunk.len));
            let d = &chunk.decisions[0];
            let kept = rows.then(|| {
                (
                    d.outcome[..chunk.len].to_vec(),
                    d.primary[..chunk.len].to_vec(),
                )
            });
            (part, kept)
        },
        |(part, rows)| {
            total.merge(&part)?;
            if let Some((outcomes, primary)) = rows {
                kept.outcomes.extend(outcomes);
                kept.primary.extend(primary);
            }
            Ok(())
        },
    )?;
    Ok((total, summary, kept))
}

/// The value at a metric path: `a.b`, `segments.FIELD[VALUE].metric`.
pub(crate) fn metric<'v>(json: &'v Value, path: &str) -> Option<&'v Value> {
    let mut at = json;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, Some(rest.strip_suffix(']')?)),
            None => (part, None),
        };
        at = at.get(name)?;
        if let Some(value) = index {
            at = at
                .as_array()?
                .iter()
                .find(|e| e.get("value").and_then(Value::as_str) == Some(value))?;
        }
    }
    Some(at)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A metric as an exact number: money is a decimal string, rates JSON
/// numbers (read as the shortest decimal that prints them).
fn number(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => n.to_string().parse::<Decimal>().ok().or_else(|| {
            n.as_f64()
                .and_then(|f| Decimal::from_scientific(&format!("{f:e}")).ok())
        }),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn holds(v: &Value, check: &Check) -> bool {
    let want = |s: &str| s.parse::<Decimal>().ok();
    match (check, number(v)) {
        (Check::Eq(s), Some(x)) => want(s) == Some(x) || show(v) == *s,
        (Check::Eq(s), None) => show(v) == *s,
        (Check::Between(lo, hi), Some(x)) => {
            want(lo).is_some_and(|lo| lo <= x) && want(hi).is_some_and(|hi| x <= hi)
        }
        (Check::Lte(s), Some(x)) => want(s).is_some_and(|s| x <= s),
        (Check::Gte(s), Some(x)) => want(s).is_some_and(|s| x >= s),
        _ => false,
    }
}
