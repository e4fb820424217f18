//! A compiled policy × a batch → one decision per row. Pure: no IO.
//!
//! Rules are evaluated column-wise (each rule over the whole batch), then the
//! per-row facts the reports need are derived in a few tight passes: the
//! outcome, the first failing rule (the primary reason), how many rules
//! failed (to find the rows where a rule is the sole reason), the limit band
//! and whether the row is an observed bad.

use super::arith;
use super::kernels::{self, Cols, Scratch, TRUE, UNKNOWN};
use super::native_script::{Decided, NativeRows};
use super::rhai_row::{RhaiRows, RowId};
use crate::dataset::batch::{Batch, Column, ColumnData};
use crate::dataset::value::MAX_DECIMAL;
use crate::error::{Diagnostic, Error, Result};
use crate::policy::CompiledPolicy;
use crate::policy::compile::{Amount, Exposure};
use crate::policy::condition::{Col, Cond};
use crate::policy::model::Action;
use crate::policy::rhai_compile::DeriveHow;
use crate::policy::script::VerdictKind;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::hint::select_unpredictable;

/// The outcome of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Outcome {
    Approve = 0,
    Review = 1,
    Decline = 2,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Approve => "approve",
            Outcome::Review => "review",
            Outcome::Decline => "decline",
        }
    }
}

/// "No rule" / "no band".
pub const NONE: u16 = u16::MAX;

/// The repayment outcomes, in the order of [`Decisions::p`].
pub const OUTCOMES: [&str; 5] = ["returned", "early", "on_time", "late", "default"];

/// [`Decisions::observed_outcome`] of a row whose cell is empty.
pub const OBSERVED_UNKNOWN: u8 = 5;

/// The decisions for one batch. Reused from batch to batch.
#[derive(Default)]
pub struct Decisions {
    pub len: usize,
    pub outcome: Vec<Outcome>,
    /// Per rule, per row: the rule's truth value (it passes only on TRUE).
    pub rule_truth: Vec<Vec<u8>>,
    /// Index of the first failing rule, or [`NONE`]: where the waterfall removes the row.
    pub first_fail: Vec<u16>,
    /// The primary reason: the first failing rule of the action that decided
    /// the outcome (a decline rule for a declined row), or [`NONE`].
    pub primary: Vec<u16>,
    pub fail_count: Vec<u16>,
    /// Index of the limit band of an approved row, or [`NONE`].
    pub limit_band: Vec<u16>,
    /// Index of the repayment outcome band of an approved row, or [`NONE`].
    pub outcome_band: Vec<u16>,
    /// TRUE where the row is an observed bad (`observed.bad` holds).
    pub bad: Vec<u8>,
    /// The observed outcome of every row (`observed.outcome`), as an index
    /// into `returned, early, on_time, late, default`, or
    /// [`OBSERVED_UNKNOWN`] for an empty cell; empty without one.
    pub observed_outcome: Vec<u8>,
    /// The limit of an approved row with a band, when limits are computed
    /// per row ([`CompiledPolicy::dynamic_limits`]); empty otherwise.
    pub limit: Vec<Decimal>,
    /// The outcome probabilities (`returned, early, on_time, late, default`)
    /// of every row, when some band computes them per row
    /// ([`CompiledPolicy::dynamic_probabilities`]); zero for rows without
    /// a band; empty otherwise.
    pub p: Vec<[Decimal; 5]>,
    /// What each approved row puts at risk, when the policy has a repayment
    /// model: its exposure column, or its limit (zero without one). Read
    /// only for approved rows; empty without a repayment model.
    pub exposure: Vec<Decimal>,
    /// Whether a row's exposure cell has a value (all `true` for limits).
    pub exposure_valid: Vec<bool>,
    /// When the plan asks for it (`decide --explain`): per row, the
    /// conditions that failed with the values read (see
    /// [`super::trace::Why`]); empty for approved rows. Empty otherwise.
    pub why: Vec<String>,
}

impl Decisions {
    /// Whether rule `rule` failed on `row`.
    pub fn failed(&self, rule: usize, row: usize) -> bool {
        self.rule_truth[rule][row] != TRUE
    }

    /// The rules that failed on `row`, in the order its reasons are given:
    /// those of the action that decided the outcome first (so the first is
    /// the primary reason), each group in rule order. With decline rules
    /// before review rules, as policies are usually written, this is simply
    /// rule order.
    pub fn failing_rules<'a>(
        &'a self,
        rules: &'a [crate::policy::compile::Rule],
        row: usize,
    ) -> impl Iterator<Item = usize> + 'a {
        let deciding = match self.outcome[row] {
            Outcome::Review => Action::Review,
            _ => Action::Decline,
        };
        let failing = move |want: bool| {
            rules
                .iter()
                .enumerate()
                .filter(move |(i, r)| (r.action == deciding) == want && self.failed(*i, row))
                .map(|(i, _)| i)
        };
        failing(true).chain(failing(false))
    }
}

/// Evaluates batches against one policy; keep one per worker.
pub struct Evaluator<'p> {
    policy: &'p CompiledPolicy,
    scratch: Scratch,
    band: Vec<u8>,
    declined: Vec<bool>,
    reviewed: Vec<bool>,
    first_decline: Vec<u16>,
    /// The derived columns of the current batch, in `policy.derived` order.
    derived: Vec<Column>,
    rhai: Option<RhaiRows>,
    /// Per repayment band: rows whose computed probabilities are all present.
    p_valid: Vec<Vec<bool>>,
    /// A script's verdicts for the current batch: outcome, and limit.
    verdicts: Vec<(VerdictKind, Option<Decimal>)>,
    reason_index: HashMap<String, u16>,
    /// The data's name, for messages.
    source: String,
    /// The key column and its name, to name rows in messages.
    key: Option<(usize, String)>,
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p CompiledPolicy) -> Self {
        Evaluator {
            policy,
            scratch: Scratch::default(),
            band: Vec::new(),
            declined: Vec::new(),
            reviewed: Vec::new(),
            first_decline: Vec::new(),
            derived: policy.derived.iter().map(|d| Column::new(d.ty)).collect(),
            rhai: RhaiRows::new(policy),
            p_valid: Vec::new(),
            verdicts: Vec::new(),
            reason_index: policy
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| (r.reason.clone(), i as u16))
                .collect(),
            source: "the data".to_owned(),
            key: policy
                .key
                .map(|k| (k, policy.key_name.clone().unwrap_or_default())),
        }
    }

    /// Names the data in messages.
    pub fn source(mut self, name: &str) -> Self {
        self.source = name.to_owned();
        self
    }

    /// The columns the policy computes, after [`Self::evaluate`].
    pub fn derived(&self) -> &[Column] {
        &self.derived
    }

    /// A view of a batch's parsed columns and this batch's derived ones.
    pub fn cols<'a>(&'a self, batch: &'a Batch) -> Cols<'a> {
        cols(batch, &self.derived)
    }

    pub fn evaluate(&mut self, batch: &Batch, d: &mut Decisions) -> Result<()> {
        let n = batch.len;
        self.compute_derived(batch)?;
        let policy = self.policy;
        let rules = &policy.rules;
        d.len = n;
        d.rule_truth.resize_with(rules.len(), Vec::new);
        if policy.script.is_some() {
            self.run_script(batch, d)?;
        } else {
            let mut scratch = std::mem::take(&mut self.scratch);
            let cols = self.cols(batch);
            for (rule, truth) in rules.iter().zip(&mut d.rule_truth) {
                kernels::eval(&rule.cond, &cols, truth, &mut scratch);
            }
            self.scratch = scratch;
        }

        reset(&mut d.first_fail, n, NONE);
        reset(&mut self.first_decline, n, NONE);
        reset(&mut d.fail_count, n, 0);
        reset(&mut self.declined, n, false);
        reset(&mut self.reviewed, n, false);
        for (i, rule) in rules.iter().enumerate().rev() {
            let truth = &d.rule_truth[i];
            let decline = rule.action == Action::Decline;
            let stop = if decline {
                &mut self.declined
            } else {
                &mut self.reviewed
            };
            let rows = truth
                .iter()
                .zip(&mut d.first_fail)
                .zip(&mut d.fail_count)
                .zip(stop.iter_mut());
            for (((truth, first), count), stop) in rows {
                let failed = *truth != TRUE;
                *first = select_unpredictable(failed, i as u16, *first);
                *count += u16::from(failed);
                *stop |= failed;
            }
            if decline {
                // Rows fail at random: a branch here mispredicts, a select does not.
                for (first, t) in self.first_decline.iter_mut().zip(truth) {
                    *first = select_unpredictable(*t != TRUE, i as u16, *first);
                }
            }
        }
        d.outcome.clear();
        if policy.script.is_some() {
            d.outcome.extend(self.verdicts.iter().map(|(v, _)| match v {
                VerdictKind::Approve => Outcome::Approve,
                VerdictKind::Review => Outcome::Review,
                VerdictKind::Decline => Outcome::Decline,
            }));
        } else {
            d.outcome
                .extend(self.declined.iter().zip(&self.reviewed).map(|(dec, rev)| {
                    if *dec {
                        Outcome::Decline
                    } else if *rev {
                        Outcome::Review
                    } else {
                        Outcome::Approve
                    }
                }));
        }

        d.primary.clear();
        d.primary.extend(
            d.outcome
                .iter()
                .zip(self.first_decline.iter().zip(&d.first_fail))
                .map(|(o, (dec, first))| {
                    select_unpredictable((*o == Outcome::Decline) & (*dec != NONE), *dec, *first)
                }),
        );

        self.limits(batch, d)?;
        self.outcome_bands(batch, d)?;
        self.exposure(batch, d);

        match &policy.observed {
            Some(cond) => {
                let mut scratch = std::mem::take(&mut self.scratch);
                kernels::eval(cond, &self.cols(batch), &mut d.bad, &mut scratch);
                self.scratch = scratch;
            }
            None => reset(&mut d.bad, n, 0),
        }
        d.observed_outcome.clear();
        if let Some(c) = policy.observed_outcome {
            let cols = self.cols(batch);
            let column = cols.get(c);
            for row in 0..n {
                let code = if column.valid[row] {
                    let cell = column.str(row);
                    let Some(code) = OUTCOMES.iter().position(|o| o.as_bytes() == cell) else {
                        return Err(self.bad_observed_outcome(batch, row, cell));
                    };
                    code as u8
                } else {
                    OBSERVED_UNKNOWN
                };
                d.observed_outcome.push(code);
            }
        }
        Ok(())
    }

    /// The error for an `observed.outcome` cell that names no outcome.
    fn bad_observed_outcome(&self, batch: &Batch, row: usize, cell: &[u8]) -> Error {
        let name = match self.policy.observed_outcome {
            Some(Col::Parsed(i)) => self.policy.columns[i].name.clone(),
            // A derived field: its `derive` name.
            Some(Col::Derived(k)) => {
                match self.policy.derived.get(k).and_then(|d| d.name.clone()) {
                    Some(name) => name,
                    None => "observed.outcome".to_owned(),
                }
            }
            None => "observed.outcome".to_owned(),
        };
        let at = row_id(&self.source, batch, &self.key, row);
        Error::Data(
            Diagnostic::new(format!(
                "`{name}` (`observed.outcome`) is `{}` on {at}: not an outcome",
                crate::error::printable(&String::from_utf8_lossy(cell))
            ))
            .help(format!(
                "its cells must be one of {}, or empty for an unknown outcome",
                OUTCOMES.join(", ")
            )),
        )
    }

    /// Computes the derived columns in order; each may read the ones before it.
    fn compute_derived(&mut self, batch: &Batch) -> Result<()> {
        let policy = self.policy;
        for (k, def) in policy.derived.iter().enumerate() {
            let (done, rest) = self.derived.split_at_mut(k);
            let out = &mut rest[0];
            let cols = Cols {
                parsed: &batch.columns,
                derived: done,
                len: batch.len,
            };
            match &def.how {
                DeriveHow::Cond(c) => {
                    kernels::eval(c, &cols, &mut self.band, &mut self.scratch);
                    out.truncate(0);
                    if let ColumnData::Bool(v) = &mut out.data {
                        v.extend(self.band.iter().map(|t| u8::from(*t == TRUE)));
                    }
                    out.valid.extend(self.band.iter().map(|t| *t != UNKNOWN));
                }
                DeriveHow::Num(num) => *out = arith::eval(num, &cols).into_owned(),
                DeriveHow::Rhai(e) => {
                    let rhai = self
                        .rhai
                        .as_mut()
                        .expect("a policy with Rhai expressions has an engine");
                    let (source, key) = (&self.source, &self.key);
                    let row_id = |row: usize| row_id(source, batch, key, row);
                    rhai.column(e, def.ty, &cols, &row_id, out)?;
                }
            }
        }
        Ok(())
    }

    /// A script policy: `decide(user)` per row, its reasons as failing rules.
    fn run_script(&mut self, batch: &Batch, d: &mut Decisions) -> Result<()> {
        let policy = self.policy;
        let script = policy.script.as_ref().expect("a script policy");
        let n = batch.len;
        for truth in &mut d.rule_truth {
            reset(truth, n, TRUE);
        }
        self.verdicts.clear();
        let missing_rule = policy.rules.len() - 1;
        let mut rhai = self.rhai.take().expect("a script policy has an engine");
        let verdicts = &mut self.verdicts;
        let result = (|| {
            let cols = cols(batch, &self.derived);
            let row_id = |row: usize| row_id(&self.source, batch, &self.key, row);
            let mut native = script.native.as_ref().map(|s| NativeRows::new(s, &cols));
            for row in 0..n {
                // The verdict, marking its reasons as failing rules; `None`
                // when a missing value left the row undecided.
                let verdict = match native.as_mut().map_or(Decided::Defer, |s| s.decide(row)) {
                    Decided::Verdict(kind, limit) => {
                        let reasons = native.as_ref().map_or(&[][..], |s| &s.reasons[..]);
                        for &i in reasons {
                            d.rule_truth[i as usize][row] = kernels::FALSE;
                        }
                        Some((kind, limit))
                    }
                    Decided::Missing => None,
                    Decided::Defer => match rhai.decide(script, &cols, row, &row_id)? {
                        None => None,
                        Some(v) => {
                            if v.outcome != VerdictKind::Approve && v.reasons.is_empty() {
                                return Err(script_error(
                                    script,
                                    &row_id(row),
                                    "returned `decline()` or `review()` without a reason code",
                                    "give a reason: `decline(\"SCORE_TOO_LOW\")`",
                                ));
                            }
                            for reason in &v.reasons {
                                let Some(i) = self.reason_index.get(reason.as_str()) else {
                                    return Err(script_error(
                                        script,
                                        &row_id(row),
                                        &format!(
                                            "returned reason `{reason}`, which is not written in the script as an UPPER_SNAKE_CASE string"
                                        ),
                                        "write every reason code as an UPPER_SNAKE_CASE string literal in the script, so reports know them before the run",
                                    ));
                                };
                                d.rule_truth[*i as usize][row] = kernels::FALSE;
                            }
                            Some((v.outcome, v.limit))
                        }
                    },
                };
                let Some((outcome, limit)) = verdict else {
                    d.rule_truth[missing_rule][row] = kernels::FALSE;
                    verdicts.push((VerdictKind::Decline, None));
                    continue;
                };
                if let Some((limit, problem)) = limit.and_then(|l| Some((l, limit_problem(&l)?))) {
                    return Err(script_error(
                        script,
                        &row_id(row),
                        &format!("approved with a limit of {limit}"),
                        &format!(
                            "a credit limit {problem}: `approve(max(0, amount))`, or decline the row"
                        ),
                    ));
                }
                verdicts.push((outcome, limit));
            }
            Ok(())
        })();
        self.rhai = Some(rhai);
        result
    }

    /// The repayment band of each approved row, and its probabilities when
    /// they are computed per row. A row whose computed probability is
    /// missing does not take the band, as with computed limit amounts.
    fn outcome_bands(&mut self, batch: &Batch, d: &mut Decisions) -> Result<()> {
        let policy = self.policy;
        let Some(repayment) = &policy.repayment else {
            reset(&mut d.outcome_band, batch.len, NONE);
            return Ok(());
        };
        let derived = &self.derived;
        self.p_valid.resize_with(repayment.bands.len(), Vec::new);
        for (band, valid) in repayment.bands.iter().zip(&mut self.p_valid) {
            if !band.is_dynamic() {
                continue;
            }
            valid.clear();
            valid.resize(batch.len, true);
            for c in band.computed.iter().flatten() {
                for (v, ok) in valid.iter_mut().zip(&derived[*c].valid) {
                    *v &= *ok;
                }
            }
        }
        let bands = repayment
            .bands
            .iter()
            .zip(&self.p_valid)
            .map(|(b, valid)| (b.cond.as_ref(), b.is_dynamic().then_some(&valid[..])));
        first_band(
            bands,
            &cols(batch, derived),
            &mut self.scratch,
            &mut self.band,
            &d.outcome,
            &mut d.outcome_band,
        );
        d.p.clear();
        if !policy.dynamic_probabilities() {
            return Ok(());
        }
        for row in 0..batch.len {
            let b = d.outcome_band[row];
            if b == NONE {
                d.p.push([Decimal::ZERO; 5]);
                continue;
            }
            let band = &repayment.bands[b as usize];
            let mut p = band.p;
            for (slot, c) in band.computed.iter().enumerate() {
                if let Some(c) = c
                    && let ColumnData::Decimal(v) = &derived[*c].data
                {
                    p[slot] = v[row];
                }
            }
            p[2] = Decimal::ZERO;
            let rest: Decimal = p.iter().sum();
            let bad = (0..5).find(|&k| p[k] < Decimal::ZERO || p[k] > Decimal::ONE);
            if bad.is_some() || rest > Decimal::ONE {
                let row = row_id(&self.source, batch, &self.key, row);
                let what = match bad {
                    Some(k) => format!(
                        "the `{}` probability `{}` is {}",
                        ["returned", "early", "on_time", "late", "default"][k],
                        band.texts[k].as_deref().unwrap_or_default(),
                        p[k]
                    ),
                    None => format!("the outcome probabilities add up to {rest}"),
                };
                return Err(Error::Data(
                    Diagnostic::new(format!("{what} on {row}, outside 0 to 1"))
                        .help("keep each probability, and their sum, between 0 and 1, e.g. `min(0.5, ...)`"),
                ));
            }
            p[2] = Decimal::ONE - rest;
            d.p.push(p);
        }
        Ok(())
    }

    /// Fills [`Decisions::exposure`]: the column as it is (a copy, not a
    /// loop), or the limit of each approved row.
    fn exposure(&self, batch: &Batch, d: &mut Decisions) {
        let policy = self.policy;
        d.exposure.clear();
        d.exposure_valid.clear();
        if policy.repayment.is_none() {
            return;
        }
        match policy.exposure {
            Exposure::Column(c) => {
                let column = self.cols(batch).get(c);
                let ColumnData::Decimal(v) = &column.data else {
                    unreachable!("an exposure column is a decimal")
                };
                d.exposure.extend_from_slice(&v[..batch.len]);
                d.exposure_valid
                    .extend_from_slice(&column.valid[..batch.len]);
            }
            Exposure::Limit => {
                d.exposure
                    .extend((0..batch.len).map(|row| match d.limit_band[row] {
                        b if b == NONE || d.outcome[row] != Outcome::Approve => Decimal::ZERO,
                        b => match policy.limits[b as usize].amount {
                            Amount::Fixed(x) => x,
                            Amount::Column(..) => d.limit[row],
                        },
                    }));
                d.exposure_valid.resize(batch.len, true);
            }
        }
    }

    /// The limit band (and, when computed per row, the amount) of each approved row.
    fn limits(&mut self, batch: &Batch, d: &mut Decisions) -> Result<()> {
        let policy = self.policy;
        let n = batch.len;
        if policy.script.is_some() {
            reset(&mut d.limit_band, n, NONE);
            d.limit.clear();
            for (row, (kind, limit)) in self.verdicts.iter().enumerate() {
                d.limit.push(limit.unwrap_or_default());
                if *kind == VerdictKind::Approve && limit.is_some() {
                    d.limit_band[row] = 0;
                }
            }
            return Ok(());
        }
        let derived = &self.derived;
        let bands = policy.limits.iter().map(|b| {
            let valid = match &b.amount {
                Amount::Column(c, _) => Some(&derived[*c].valid[..]),
                Amount::Fixed(_) => None,
            };
            (b.cond.as_ref(), valid)
        });
        first_band(
            bands,
            &cols(batch, derived),
            &mut self.scratch,
            &mut self.band,
            &d.outcome,
            &mut d.limit_band,
        );
        d.limit.clear();
        if policy.dynamic_limits() {
            d.limit.extend((0..n).map(|row| match d.limit_band[row] {
                NONE => Decimal::ZERO,
                b => match &policy.limits[b as usize].amount {
                    Amount::Fixed(x) => *x,
                    Amount::Column(c, _) => match &derived[*c].data {
                        ColumnData::Decimal(v) => v[row],
                        _ => Decimal::ZERO,
                    },
                },
            }));
            if let Some((row, problem)) = d
                .limit
                .iter()
                .enumerate()
                .find_map(|(row, l)| Some((row, limit_problem(l)?)))
            {
                let band = &policy.limits[d.limit_band[row] as usize];
                let written = match &band.amount {
                    Amount::Column(_, text) => text.as_str(),
                    Amount::Fixed(_) => "",
                };
                return Err(Error::Data(
                    Diagnostic::new(format!(
                        "the limit `{written}` is {} on {}: a credit limit {problem}",
                        d.limit[row],
                        row_id(&self.source, batch, &self.key, row)
                    ))
                    .help("keep the amount at 0 or more, e.g. `max(0, monthly_income - 2000)`, or give the band a `when` that excludes such rows"),
                ));
            }
        }
        Ok(())
    }
}

fn cols<'a>(batch: &'a Batch, derived: &'a [Column]) -> Cols<'a> {
    Cols {
        parsed: &batch.columns,
        derived,
        len: batch.len,
    }
}

fn row_id<'a>(
    source: &'a str,
    batch: &Batch,
    key: &'a Option<(usize, String)>,
    row: usize,
) -> RowId<'a> {
    RowId {
        source,
        line: batch.lines.get(row).copied().unwrap_or(0),
        key: key.as_ref().map(|(c, name)| {
            let col = &batch.columns[*c];
            let value = if col.valid[row] {
                match &col.data {
                    ColumnData::Int(v) => v[row].to_string(),
                    ColumnData::Float(v) => v[row].to_string(),
                    ColumnData::Decimal(v) => v[row].to_string(),
                    ColumnData::Bool(v) => (v[row] != 0).to_string(),
                    ColumnData::Str { .. } => String::from_utf8_lossy(col.str(row)).into_owned(),
                }
            } else {
                String::new()
            };
            (name.as_str(), value)
        }),
    }
}

fn script_error(
    script: &crate::policy::rhai_compile::ScriptPolicy,
    row: &RowId,
    what: &str,
    help: &str,
) -> Error {
    Error::Data(
        script
            .site
            .diagnostic(rhai::Position::NONE, format!("`decide` {what} on {row}"))
            .help(help),
    )
}

/// For each approved row, the first band whose condition holds (`None`:
/// always holds) and whose amount, if computed, is not missing.
fn first_band<'c>(
    bands: impl Iterator<Item = (Option<&'c Cond>, Option<&'c [bool]>)>,
    cols: &Cols,
    scratch: &mut Scratch,
    band: &mut Vec<u8>,
    outcome: &[Outcome],
    out: &mut Vec<u16>,
) {
    {
        let n = cols.len;
        reset(out, n, NONE);
        for (b, (cond, amount_valid)) in bands.enumerate() {
            match cond {
                Some(cond) => kernels::eval(cond, cols, band, scratch),
                None => reset(band, n, TRUE),
            }
            // Without a branch per row: which band a row falls in is random.
            let b = b as u16;
            let rows = out.iter_mut().zip(&band[..n]).zip(&outcome[..n]);
            match amount_valid {
                None => {
                    for ((o, &t), &decided) in rows {
                        let take = (*o == NONE) & (decided == Outcome::Approve) & (t == TRUE);
                        *o = select_unpredictable(take, b, *o);
                    }
                }
                Some(valid) => {
                    for (((o, &t), &decided), &valid) in rows.zip(&valid[..n]) {
                        let take =
                            (*o == NONE) & (decided == Outcome::Approve) & (t == TRUE) & valid;
                        *o = select_unpredictable(take, b, *o);
                    }
                }
            }
        }
    }
}

/// What is wrong with a computed credit limit, if anything. Below 10^15, as
/// every decimal, so that totals cannot overflow (see `MAX_DECIMAL`).
fn limit_problem(limit: &Decimal) -> Option<&'static str> {
    if limit.is_sign_negative() && !limit.is_zero() {
        Some("cannot be negative")
    } else if *limit >= MAX_DECIMAL {
        Some("must be below 10^15 (a quadrillion)")
    } else {
        None
    }
}

fn reset<T: Copy>(v: &mut Vec<T>, len: usize, value: T) {
    v.clear();
    v.resize(len, value);
}
