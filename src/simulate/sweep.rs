//! `sweep`: a grid of parameter values, every point in one pass.
//!
//! Every point must equal `simulate --set` at its values. The plain way,
//! [`Variants`], runs one compiled policy per point. Most sweeps move one
//! threshold of one rule (`zhima_score >= $min_score`), and for those
//! [`Thresholds`] evaluates the policy only 2^k times (k ≤ 2 swept params):
//! with each swept rule passing and failing. Per row, the rule passes at a
//! run of the grid's values (the threshold comparisons are monotone), so a
//! row is counted once per bucket "passes at the first j values in pass
//! order", and each point is the sum of the buckets it covers.

use super::metrics::{Approved, Limits, Observed, Outcomes, RepaymentSums};
use crate::dataset::batch::SkippedRows;
use crate::dataset::value::Value;
use crate::engine::Decisions;
use crate::engine::kernels::TRUE;
use crate::engine::pass::{Accumulator, Chunk, Plan, Rows, same};
use crate::error::Result;
use crate::policy::CompiledPolicy;
use crate::policy::condition::{CmpOp, Cond};
use crate::policy::rhai_compile::DeriveHow;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What a sweep point reports: approvals, bads and money, as `simulate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PointMetrics {
    pub outcomes: Outcomes,
    pub limits: Limits,
    pub repayment: RepaymentSums,
    pub observed: Observed,
}

impl PointMetrics {
    pub fn new(policy: &CompiledPolicy) -> PointMetrics {
        let bands = policy.repayment.as_ref().map_or(0, |r| r.bands.len());
        PointMetrics {
            outcomes: Outcomes::default(),
            limits: Limits::new(policy.limits.len()),
            repayment: RepaymentSums::new(bands),
            observed: Observed::default(),
        }
    }

    pub fn add(&mut self, d: &Decisions, rows: Rows) {
        match rows {
            Rows::All(_) => {
                self.outcomes.add(d, rows);
                self.observed.add(d, rows);
            }
            Rows::Only(list) => {
                for &row in list {
                    let row = row as usize;
                    self.outcomes.add_row(d, row);
                    self.observed.add_row(d, row);
                }
            }
        }
        let approved = Approved::new(d, rows);
        self.limits.add_approved(&approved);
        self.repayment.add_approved(&approved);
    }

    pub fn merge(&mut self, o: &PointMetrics) -> Result<()> {
        self.outcomes.merge(&o.outcomes);
        self.limits.merge(&o.limits)?;
        self.repayment.merge(&o.repayment)?;
        self.observed.merge(&o.observed);
        Ok(())
    }
}

/// One swept parameter: its name and values, in the order given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

/// The points of a grid: the cartesian product of the axes, the first
/// varying slowest; each point as the value index on every axis.
pub fn grid_points(axes: &[Axis]) -> Vec<Vec<usize>> {
    let mut points = vec![Vec::new()];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                (0..axis.values.len()).map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    points
}

/// A sweep's state: one [`PointMetrics`] per point, however computed.
pub trait Sweep: Accumulator {
    fn points(&self) -> Result<Vec<PointMetrics>>;
    fn skipped(&self) -> &SkippedRows;
    /// The [`Plan::fingerprint`] of the plan the state was made on.
    fn plan(&self) -> &str;
}

/// One compiled policy per point: point `i` reads policy `i` of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variants {
    plan: String,
    points: Vec<PointMetrics>,
    skipped: SkippedRows,
}

impl Variants {
    pub fn new(plan: &Plan) -> Variants {
        Variants {
            plan: plan.fingerprint().to_owned(),
            points: plan.policies.iter().map(PointMetrics::new).collect(),
            skipped: SkippedRows::default(),
        }
    }
}

impl Accumulator for Variants {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        for (p, d) in self.points.iter_mut().zip(chunk.decisions) {
            p.add(d, rows);
        }
        self.skipped.add(chunk.skipped);
    }

    fn merge(&mut self, o: &Variants) -> Result<()> {
        same("plans", &self.plan, &o.plan)?;
        for (a, b) in self.points.iter_mut().zip(&o.points) {
            a.merge(b)?;
        }
        self.skipped.merge(&o.skipped);
        Ok(())
    }
}

impl Sweep for Variants {
    fn points(&self) -> Result<Vec<PointMetrics>> {
        Ok(self.points.clone())
    }

    fn skipped(&self) -> &SkippedRows {
        &self.skipped
    }

    fn plan(&self) -> &str {
        &self.plan
    }
}

/// A swept parameter that moves one threshold of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdAxis {
    /// The index in the policy of the rule it moves.
    pub rule: usize,
    /// The plan's probes of this axis: the rule's condition at each value.
    pub first_probe: usize,
    /// Per value, its position in pass order: a row passes at the first j
    /// values in this order, for some j.
    pub rank: Vec<usize>,
}

/// How a sweep of thresholds can be run: per axis, the rule and probes.
#[derive(Debug, Clone)]
pub struct ThresholdPlan {
    pub axes: Vec<ThresholdAxis>,
    /// The probes, in axis order then value order.
    pub probes: Vec<Cond>,
    /// The 2^k policies the plan evaluates: variant `v` has swept rule `m`
    /// failing where bit `m` of `v` is set, passing otherwise.
    pub variants: Vec<CompiledPolicy>,
}

/// Whether the policies `at[m][i]` (the base policy with axis `m` at value
/// `i`, the other axes at their first value) differ only in one threshold
/// of one rule per axis; if so, how to sweep them as [`Thresholds`].
pub fn threshold_plan(base: &CompiledPolicy, at: &[Vec<CompiledPolicy>]) -> Option<ThresholdPlan> {
    if base.script.is_some() || base.rhai.is_some() {
        return None;
    }
    let mut axes = Vec::new();
    let mut probes = Vec::new();
    for variants in at {
        let mut rule = None;
        let mut conds = Vec::new();
        for v in variants {
            if !same_but_rules(base, v) {
                return None;
            }
            let differ: Vec<usize> = (0..base.rules.len())
                .filter(|&r| base.rules[r] != v.rules[r])
                .collect();
            let r = match (differ.as_slice(), rule) {
                ([], Some(r)) => r,
                ([], None) => {
                    // The base value itself: the rule is found on another value.
                    conds.push(None);
                    continue;
                }
                ([r], None) => *r,
                ([r], Some(known)) if *r == known => known,
                _ => return None,
            };
            rule = Some(r);
            conds.push(Some(v.rules[r].cond.clone()));
        }
        let r = rule?;
        if axes.iter().any(|a: &ThresholdAxis| a.rule == r) {
            return None;
        }
        let conds: Vec<Cond> = conds
            .into_iter()
            .map(|c| c.unwrap_or_else(|| base.rules[r].cond.clone()))
            .collect();
        let rank = pass_order(&conds)?;
        axes.push(ThresholdAxis {
            rule: r,
            first_probe: probes.len(),
            rank,
        });
        probes.extend(conds);
    }
    let variants = (0..1usize << axes.len())
        .map(|v| {
            let mut p = base.clone();
            for (m, axis) in axes.iter().enumerate() {
                p.rules[axis.rule].cond = if v >> m & 1 == 1 {
                    Cond::Not(Box::new(Cond::True))
                } else {
                    Cond::True
                };
            }
            p
        })
        .collect();
    Some(ThresholdPlan {
        axes,
        probes,
        variants,
    })
}

/// Whether two compilations of a policy differ in their rules' conditions at most.
fn same_but_rules(a: &CompiledPolicy, b: &CompiledPolicy) -> bool {
    let derived = a.derived.len() == b.derived.len()
        && a.derived.iter().zip(&b.derived).all(|(x, y)| {
            x.name == y.name
                && x.ty == y.ty
                && match (&x.how, &y.how) {
                    (DeriveHow::Cond(p), DeriveHow::Cond(q)) => p == q,
                    (DeriveHow::Num(p), DeriveHow::Num(q)) => p == q,
                    _ => false,
                }
        });
    derived
        && a.rules.len() == b.rules.len()
        && a.rules
            .iter()
            .zip(&b.rules)
            .all(|(x, y)| x.id == y.id && x.reason == y.reason && x.action == y.action)
        && a.limits == b.limits
        && a.exposure == b.exposure
        && a.repayment == b.repayment
        && a.observed == b.observed
        && a.columns == b.columns
}

/// The order in which a row starts passing threshold conditions `conds`
/// (one comparison of one column each, `>`, `>=`, `<` or `<=`, the same but
/// for the value): per condition its rank, so that every row passes exactly
/// the conditions of rank below some j. `None` when they are not such.
fn pass_order(conds: &[Cond]) -> Option<Vec<usize>> {
    let mut leaves = Vec::new();
    for mut c in conds {
        // `all: [x]` and `any: [x]` are `x`.
        while let Cond::All(v) | Cond::Any(v) = c
            && v.len() == 1
        {
            c = &v[0];
        }
        match c {
            Cond::Compare { column, op, value } => leaves.push((*column, *op, value)),
            _ => return None,
        }
    }
    let (column, op, _) = leaves[0];
    if leaves.iter().any(|(c, o, _)| *c != column || *o != op) {
        return None;
    }
    // `x >= t` passes for the smallest thresholds first; `x <= t` for the largest.
    let ascending = match op {
        CmpOp::Gt | CmpOp::Gte => true,
        CmpOp::Lt | CmpOp::Lte => false,
        _ => return None,
    };
    let mut order: Vec<usize> = (0..leaves.len()).collect();
    let mut comparable = true;
    order.sort_by(|&a, &b| {
        let o = compare(leaves[a].2, leaves[b].2).unwrap_or_else(|| {
            comparable = false;
            Ordering::Equal
        });
        if ascending { o } else { o.reverse() }
    });
    let tie = |w: &[usize]| compare(leaves[w[0]].2, leaves[w[1]].2) == Some(Ordering::Equal);
    if !comparable || order.windows(2).any(tie) {
        return None;
    }
    let mut rank = vec![0; leaves.len()];
    for (position, &i) in order.iter().enumerate() {
        rank[i] = position;
    }
    Some(rank)
}

/// Two thresholds of one type, in order.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Decimal(x), Value::Decimal(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        _ => None,
    }
}

/// A threshold sweep's state: per bucket (for each axis, the number of its
/// values a row passes at) and per variant, the metrics of its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    plan: String,
    axes: Vec<ThresholdAxis>,
    /// By `bucket * variants + variant`, the buckets some row fell in (a
    /// chunk touches few of a large grid's).
    buckets: BTreeMap<u32, PointMetrics>,
    empty: PointMetrics,
    skipped: SkippedRows,
}

impl Thresholds {
    pub fn new(plan: &Plan, axes: &[ThresholdAxis]) -> Thresholds {
        Thresholds {
            plan: plan.fingerprint().to_owned(),
            axes: axes.to_vec(),
            buckets: BTreeMap::new(),
            empty: PointMetrics::new(&plan.policies[0]),
            skipped: SkippedRows::default(),
        }
    }

    fn variants(&self) -> usize {
        1 << self.axes.len()
    }
}

impl Accumulator for Thresholds {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        // Each row's bucket: per axis, how many of its values it passes at.
        let mut bucket = vec![0u32; chunk.len];
        let mut stride = 1;
        for axis in &self.axes {
            let probes = &chunk.probes[axis.first_probe..axis.first_probe + axis.rank.len()];
            for probe in probes {
                for (b, t) in bucket.iter_mut().zip(probe) {
                    *b += stride * u32::from(*t == TRUE);
                }
            }
            stride *= axis.rank.len() as u32 + 1;
        }
        let mut starts = vec![0u32; stride as usize + 1];
        rows.for_each(|row| starts[bucket[row] as usize + 1] += 1);
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; rows.len()];
        rows.for_each(|row| {
            let at = &mut next[bucket[row] as usize];
            order[*at as usize] = row as u32;
            *at += 1;
        });
        let variants = self.variants();
        for b in 0..stride as usize {
            let group = &order[starts[b] as usize..starts[b + 1] as usize];
            if group.is_empty() {
                continue;
            }
            for v in 0..variants {
                let key = (b * variants + v) as u32;
                let metrics = self
                    .buckets
                    .entry(key)
                    .or_insert_with(|| self.empty.clone());
                metrics.add(&chunk.decisions[v], Rows::Only(group));
            }
        }
        self.skipped.add(chunk.skipped);
    }

    fn merge(&mut self, o: &Thresholds) -> Result<()> {
        same("plans", &self.plan, &o.plan)?;
        same("sweep grids", &self.axes, &o.axes)?;
        for (key, b) in &o.buckets {
            match self.buckets.get_mut(key) {
                Some(a) => a.merge(b)?,
                None => {
                    self.buckets.insert(*key, b.clone());
                }
            }
        }
        self.skipped.merge(&o.skipped);
        Ok(())
    }
}

impl Sweep for Thresholds {
    fn points(&self) -> Result<Vec<PointMetrics>> {
        let axes: Vec<Axis> = self
            .axes
            .iter()
            .map(|a| Axis {
                name: String::new(),
                values: vec![String::new(); a.rank.len()],
            })
            .collect();
        let variants = self.variants();
        let mut out = Vec::new();
        for point in grid_points(&axes) {
            let mut total = self.empty.clone();
            for (&key, metrics) in &self.buckets {
                let (b, variant) = (key as usize / variants, key as usize % variants);
                // Decode the bucket: per axis, the values its rows pass at.
                let (mut rest, mut v) = (b, 0);
                for (m, axis) in self.axes.iter().enumerate() {
                    let n = axis.rank.len() + 1;
                    let passes = rest % n;
                    rest /= n;
                    if axis.rank[point[m]] >= passes {
                        v |= 1 << m;
                    }
                }
                if v == variant {
                    total.merge(metrics)?;
                }
            }
            out.push(total);
        }
        Ok(out)
    }

    fn skipped(&self) -> &SkippedRows {
        &self.skipped
    }

    fn plan(&self) -> &str {
        &self.plan
    }
}
