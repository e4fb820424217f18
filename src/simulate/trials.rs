//! The Monte Carlo of `simulate --trials N --seed S`: every trial draws
//! every approved row's outcome, and keeps the totals the report is made
//! of — the exposure that defaulted and that was returned, and the counts
//! of defaults, late payments and late payments reported to the bureau.
//!
//! **Deterministic.** A draw is a hash of (seed, trial, row identity), a
//! counter-based generator: the row identity is the policy's `key` (its
//! text, hashed) where it has one and the cell is not empty, else the
//! row's line. The same user draws the same outcome whichever file, shard
//! or chunk its row arrives in, and per-trial totals are exact sums
//! (decimals, counts), so any thread count, chunking or merge order gives
//! the same bytes.
//!
//! **A bad month.** With `correlation: ρ`, each trial draws one systematic
//! factor Z ~ N(0, 1) shared by every row, and a row's default probability
//! becomes Φ((Φ⁻¹(p) + √ρ·Z) / √(1−ρ)) (the one-factor Vasicek model);
//! the other outcomes keep their proportions of what is left. Over Z the
//! mean default probability is still p, so the trial mean stays the exact
//! expectation while the tail widens.
//!
//! A draw is a 64-bit uniform compared with the probabilities scaled to
//! 2⁶⁴ (from their decimals through doubles): defaults at the bottom,
//! returns next, late payments at the top, the reported ones topmost.

use crate::dataset::batch::{Column, ColumnData};
use crate::engine::evaluate::NONE;
use crate::engine::pass::{Accumulator, Chunk, Rows, same};
use crate::engine::{Decisions, Outcome};
use crate::error::Result;
use crate::policy::CompiledPolicy;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::sync::Arc;

/// The most trials one run may ask for: each keeps its totals in every
/// partial result.
pub const MAX_TRIALS: u32 = 100_000;

/// `--trials N --seed S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrialSpec {
    pub trials: u32,
    pub seed: u64,
}

/// Per trial, its totals over the rows added so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trials {
    /// The policy of the plan whose decisions are drawn.
    pub policy: usize,
    pub seed: u64,
    /// Σ exposure of the approved rows that defaulted.
    pub default_exposure: Vec<Decimal>,
    /// Σ exposure of the approved rows that returned the goods.
    pub returned_exposure: Vec<Decimal>,
    pub defaults: Vec<u64>,
    pub late: Vec<u64>,
    /// Late payments past `bureau_after_days`.
    pub reported_late: Vec<u64>,
    /// Drawn rows without a key; never in a partial (one with any is
    /// refused: see [`Unkeyed`]).
    #[serde(skip)]
    pub unkeyed: Unkeyed,
    #[serde(skip)]
    model: Shared,
}

/// The drawn rows that had no key (the policy names none, or the cell is
/// empty). Their draws follow their line, which is their place in the file
/// read: a whole file's run is still deterministic, but a part's lines are
/// not the whole's, so the partial of a part would not merge to the one
/// run's report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Unkeyed {
    pub rows: u64,
    /// The first such row's line.
    pub first_line: Option<u64>,
}

impl Unkeyed {
    fn merge(&mut self, o: &Unkeyed) {
        self.rows += o.rows;
        self.first_line = match (self.first_line, o.first_line) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The model a partial draws with, made once from the policy and shared by
/// every partial; states compare (and serialise) by their totals alone.
#[derive(Debug, Clone, Default)]
struct Shared(Arc<Model>);

impl PartialEq for Shared {
    fn eq(&self, _: &Shared) -> bool {
        true
    }
}

/// What a draw compares with: per outcome band, the default probability
/// and the others as doubles; the systematic factor of each trial.
#[derive(Debug, Default)]
struct Model {
    bands: Vec<Option<[f64; 5]>>,
    /// Share of late payments reported to the bureau.
    reported: f64,
    sqrt_rho: f64,
    sqrt_1m_rho: f64,
    /// Per trial: the mixer of its draws, and its factor Z (0 without correlation).
    trial_keys: Vec<u64>,
    factors: Vec<f64>,
    /// Per trial, per band: its [`thresholds`] (zeros for a band that
    /// computes its probabilities per row).
    tables: Vec<[u64; 4]>,
    seed_key: u64,
}

impl Trials {
    pub fn new(index: usize, policy: &CompiledPolicy, spec: TrialSpec) -> Trials {
        let n = spec.trials as usize;
        let seed_key = splitmix(spec.seed ^ 0x706f_6c73_696d_0001);
        let mut model = match &policy.repayment {
            Some(r) => {
                let rho = r.correlation.to_f64().unwrap_or(0.0);
                Model {
                    bands: r
                        .bands
                        .iter()
                        .map(|b| (!b.is_dynamic()).then(|| b.p.map(|p| p.to_f64().unwrap_or(0.0))))
                        .collect(),
                    reported: r
                        .reported_late_share()
                        .and_then(|s| s.to_f64())
                        .unwrap_or(0.0),
                    sqrt_rho: rho.sqrt(),
                    sqrt_1m_rho: (1.0 - rho).sqrt(),
                    trial_keys: (0..n as u64)
                        .map(|t| splitmix(seed_key ^ splitmix(t.wrapping_add(1))))
                        .collect(),
                    factors: (0..n as u64)
                        .map(|t| {
                            if rho == 0.0 {
                                return 0.0;
                            }
                            let u = splitmix(seed_key ^ splitmix(t ^ 0x5eed_fac7_0000_0000));
                            normal_quantile(((u >> 11) as f64 + 0.5) / (1u64 << 53) as f64)
                        })
                        .collect(),
                    tables: Vec::new(),
                    seed_key,
                }
            }
            None => Model::default(),
        };
        // Without correlation every trial has the same thresholds.
        let tables = if model.sqrt_rho == 0.0 { n.min(1) } else { n };
        model.tables = (0..tables)
            .flat_map(|t| {
                let model = &model;
                model
                    .bands
                    .iter()
                    .map(move |b| b.map_or([0; 4], |p| thresholds(&p, model, t)))
            })
            .collect();
        Trials {
            policy: index,
            seed: spec.seed,
            default_exposure: vec![Decimal::ZERO; n],
            returned_exposure: vec![Decimal::ZERO; n],
            defaults: vec![0; n],
            late: vec![0; n],
            reported_late: vec![0; n],
            unkeyed: Unkeyed::default(),
            model: Shared(Arc::new(model)),
        }
    }

    pub fn trials(&self) -> usize {
        self.defaults.len()
    }
}

/// The approved, modelled rows of a chunk, gathered for the draws.
#[derive(Default)]
struct Gathered {
    ids: Vec<u64>,
    bands: Vec<u16>,
    /// Exposure as an integer at `scale`, when every row's fits.
    cents: Vec<i64>,
    scale: u32,
    /// Otherwise the exposures as they are (slower).
    exact: Vec<Decimal>,
    /// Rows whose probabilities are computed per row: their index in the
    /// vectors above, their probabilities, and Φ⁻¹ of the default one (with
    /// correlation: it is the same in every trial).
    dynamic: Vec<(usize, [f64; 5], f64)>,
}

thread_local! {
    static GATHERED: RefCell<Gathered> = RefCell::default();
}

/// Exposures are drawn as integers when every one of a chunk has at most
/// this many decimals (and fits); otherwise as decimals, more slowly.
const MAX_SCALE: u32 = 8;

impl Accumulator for Trials {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        if self.model.0.bands.is_empty() || self.trials() == 0 {
            return;
        }
        let d = &chunk.decisions[self.policy];
        GATHERED.with_borrow_mut(|g| {
            let model = self.model.0.clone();
            let unkeyed = gather(g, d, chunk, self.policy, rows, &model);
            self.unkeyed.merge(&unkeyed);
            for t in 0..self.trials() {
                let (default_exposure, returned_exposure, counts) = if g.exact.is_empty() {
                    let (a, b, c) = draw_trial(g, &g.cents, &model, t);
                    let at = |x: i128| Decimal::from_i128_with_scale(x, g.scale);
                    (at(a), at(b), c)
                } else {
                    draw_trial(g, &g.exact, &model, t)
                };
                self.default_exposure[t] += default_exposure;
                self.returned_exposure[t] += returned_exposure;
                self.defaults[t] += counts[0];
                self.late[t] += counts[1];
                self.reported_late[t] += counts[2];
            }
        });
    }

    fn merge(&mut self, o: &Trials) -> Result<()> {
        same("policies", &self.policy, &o.policy)?;
        same("seeds", &self.seed, &o.seed)?;
        same("trial counts", &self.trials(), &o.trials())?;
        for t in 0..self.trials() {
            self.default_exposure[t] += o.default_exposure[t];
            self.returned_exposure[t] += o.returned_exposure[t];
            self.defaults[t] += o.defaults[t];
            self.late[t] += o.late[t];
            self.reported_late[t] += o.reported_late[t];
        }
        self.unkeyed.merge(&o.unkeyed);
        Ok(())
    }
}

/// Gathers the approved, modelled rows of `rows` into `g`: their identity
/// hashes, bands and exposures; returns those without a key.
fn gather(
    g: &mut Gathered,
    d: &Decisions,
    chunk: &Chunk,
    policy: usize,
    rows: Rows,
    model: &Model,
) -> Unkeyed {
    g.ids.clear();
    g.bands.clear();
    g.cents.clear();
    g.exact.clear();
    g.dynamic.clear();
    let key = chunk.keys.get(policy).copied().flatten();
    let money = !d.exposure.is_empty();
    let mut scale = 0;
    let mut unkeyed = Unkeyed::default();
    rows.for_each(|row| {
        let band = d.outcome_band[row];
        if d.outcome[row] != Outcome::Approve || band == NONE {
            return;
        }
        let id = match key.filter(|k| k.valid[row]) {
            Some(k) => key_hash(k, row),
            None => {
                unkeyed.rows += 1;
                unkeyed.first_line.get_or_insert(chunk.lines[row]);
                splitmix(chunk.lines[row] ^ 0x6c69_6e65_0000_0000)
            }
        };
        let exposure = if money && d.exposure_valid[row] {
            d.exposure[row]
        } else {
            Decimal::ZERO
        };
        scale = scale.max(exposure.scale());
        g.ids.push(splitmix(id ^ model.seed_key));
        g.bands.push(band);
        g.exact.push(exposure);
        if model.bands[usize::from(band)].is_none() {
            let p = d.p[row].map(|p| p.to_f64().unwrap_or(0.0));
            let q = if model.sqrt_rho == 0.0 {
                0.0
            } else {
                normal_quantile(p[4])
            };
            g.dynamic.push((g.ids.len() - 1, p, q));
        }
    });
    // As integers at one scale, when they all fit.
    if scale <= MAX_SCALE {
        let cents = g.exact.iter().map(|x| {
            let mut x = *x;
            x.rescale(scale);
            i64::try_from(x.mantissa()).ok()
        });
        if let Some(cents) = cents.collect::<Option<Vec<i64>>>() {
            g.cents = cents;
            g.scale = scale;
            g.exact.clear();
        }
    }
    unkeyed
}

/// An exposure as drawn: an integer (summed in an `i128`) or a decimal.
trait Exposure: Copy {
    type Sum: Copy + Default + std::ops::AddAssign;
    fn sum(self) -> Self::Sum;
}

impl Exposure for i64 {
    type Sum = i128;
    #[inline(always)]
    fn sum(self) -> i128 {
        i128::from(self)
    }
}

impl Exposure for Decimal {
    type Sum = Decimal;
    fn sum(self) -> Decimal {
        self
    }
}

/// Draws trial `t` for every gathered row: the exposure that defaulted,
/// the exposure returned, and the counts of defaults, late payments and
/// reported late payments.
fn draw_trial<E: Exposure>(
    g: &Gathered,
    exposure: &[E],
    model: &Model,
    t: usize,
) -> (E::Sum, E::Sum, [u64; 3]) {
    let key = model.trial_keys[t];
    let bands = model.bands.len();
    let at = if model.sqrt_rho == 0.0 { 0 } else { t };
    let table = &model.tables[at * bands..(at + 1) * bands];
    let (mut de, mut re) = (E::Sum::default(), E::Sum::default());
    let (mut nd, mut nl, mut nb) = (0u64, 0u64, 0u64);
    let mut draw = |id: u64, [d, dr, l, b]: [u64; 4], e: E| {
        let u = mix(id ^ key);
        let top = !u;
        let is_default = u < d;
        let is_returned = !is_default & (u < dr);
        de += if is_default {
            e.sum()
        } else {
            E::Sum::default()
        };
        re += if is_returned {
            e.sum()
        } else {
            E::Sum::default()
        };
        nd += u64::from(is_default);
        nl += u64::from(top < l);
        nb += u64::from(top < b);
    };
    // A row whose band computes its probabilities finds zero thresholds
    // in the table (it draws nothing there) and is drawn below with its own.
    for ((&id, &band), &e) in g.ids.iter().zip(&g.bands).zip(exposure) {
        draw(id, table[usize::from(band)], e);
    }
    for &(i, p, q) in &g.dynamic {
        draw(g.ids[i], thresholds_at(&p, q, model, t), exposure[i]);
    }
    (de, re, [nd, nl, nb])
}

/// A band's thresholds in trial `t`: `[default, default + returned, late,
/// reported late]`, the first two from the bottom of the 64-bit range and
/// the last two from its top.
fn thresholds(p: &[f64; 5], model: &Model, t: usize) -> [u64; 4] {
    let q = if model.sqrt_rho == 0.0 {
        0.0
    } else {
        normal_quantile(p[4])
    };
    thresholds_at(p, q, model, t)
}

/// [`thresholds`], given `q` = Φ⁻¹(p(default)) (unused without correlation).
fn thresholds_at(p: &[f64; 5], q: f64, model: &Model, t: usize) -> [u64; 4] {
    let [returned, _, _, late, default] = *p;
    let (pd, k) = if model.sqrt_rho == 0.0 {
        (default, 1.0)
    } else {
        let z = model.factors[t];
        let pd = conditional_default(default, q, z, model.sqrt_rho, model.sqrt_1m_rho);
        let k = if default < 1.0 {
            (1.0 - pd) / (1.0 - default)
        } else {
            0.0
        };
        (pd, k)
    };
    [
        scaled(pd),
        scaled(pd + k * returned),
        scaled(k * late),
        scaled(k * late * model.reported),
    ]
}

/// Vasicek: the default probability `p` (whose Φ⁻¹ is `q`) given the
/// systematic factor `z`.
fn conditional_default(p: f64, q: f64, z: f64, sqrt_rho: f64, sqrt_1m_rho: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    normal_cdf((q + sqrt_rho * z) / sqrt_1m_rho)
}

/// A probability as a share of 2⁶⁴.
fn scaled(p: f64) -> u64 {
    if p >= 1.0 {
        u64::MAX
    } else if p <= 0.0 {
        0
    } else {
        (p * 18_446_744_073_709_551_616.0) as u64
    }
}

/// Φ, the standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Φ⁻¹ (Acklam's rational approximation, refined by one Halley step).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let low = 0.024_25;
    let x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step on Φ(x) − p.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// SplitMix64's finaliser: a 64-bit bijection that mixes every bit.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The draw of a row in a trial: its identity mixed with the trial's key.
#[inline(always)]
fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
    z = (z ^ (z >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
    z ^ (z >> 32)
}

/// The identity of a row by its key's text (FNV-1a, then mixed), so the
/// same key draws the same outcomes in any file.
fn key_hash(col: &Column, row: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    match &col.data {
        ColumnData::Str { .. } => eat(col.str(row)),
        ColumnData::Int(v) => eat(itoa::Buffer::new().format(v[row]).as_bytes()),
        ColumnData::Decimal(v) => eat(v[row].to_string().as_bytes()),
        ColumnData::Float(v) => eat(v[row].to_string().as_bytes()),
        ColumnData::Bool(v) => eat(if v[row] != 0 { b"true" } else { b"false" }),
    }
    splitmix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_quantile_inverts_the_distribution_function() {
        for p in [1e-9, 0.001, 0.02, 0.1, 0.3, 0.5, 0.77, 0.975, 0.999_999] {
            let x = normal_quantile(p);
            assert!((normal_cdf(x) - p).abs() < 1e-14 * p.max(1e-3), "{p}: {x}");
        }
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
    }

    #[test]
    fn the_conditional_default_probability_averages_to_p() {
        // E_Z[Φ((Φ⁻¹(p) + √ρ Z) / √(1−ρ))] = p, by quadrature over Z.
        for (p, rho) in [(0.01, 0.05), (0.2, 0.15), (0.004, 0.3)] {
            let (sr, s1) = (f64::sqrt(rho), f64::sqrt(1.0 - rho));
            let n = 20_000;
            let mean: f64 = (0..n)
                .map(|i| {
                    let z = normal_quantile((i as f64 + 0.5) / n as f64);
                    conditional_default(p, normal_quantile(p), z, sr, s1)
                })
                .sum::<f64>()
                / n as f64;
            assert!((mean - p).abs() < 1e-4 * p.max(0.01), "{p} {rho}: {mean}");
        }
    }

    #[test]
    fn thresholds_split_the_range_by_probability() {
        let model = Model {
            reported: 0.5,
            ..Model::default()
        };
        let [d, dr, l, b] = thresholds(&[0.25, 0.25, 0.25, 0.2, 0.05], &model, 0);
        let share = |x: u64| x as f64 / 18_446_744_073_709_551_616.0;
        assert!((share(d) - 0.05).abs() < 1e-15);
        assert!((share(dr) - 0.30).abs() < 1e-15);
        assert!((share(l) - 0.2).abs() < 1e-15);
        assert!((share(b) - 0.1).abs() < 1e-15);
    }
}
