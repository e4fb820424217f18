//! The merge law, for every accumulator: splitting the data at any chunk
//! boundaries, at any thread count, and merging the parts in any order and
//! grouping gives the same state as one pass; and the state survives a
//! round trip through its serialised form.

use super::Simulation;
use super::sweep::{Axis, Thresholds, Variants, threshold_plan};
use crate::dataset::stream::{Input, StreamOptions};
use crate::engine::pass::{self, Accumulator, PassOptions, Plan};
use crate::engine::segments::SegmentSpec;
use crate::policy::compile::compile_file_onto;
use proptest::prelude::*;
use std::fmt::Debug;
use std::path::Path;
use std::sync::OnceLock;

fn data() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut out = Vec::new();
        crate::synthetic::write_dataset(&mut out, 3000, 11).unwrap();
        out
    })
}

/// A champion and a challenger over one projection, with segments.
fn compare_plan() -> Plan {
    let champion =
        compile_file_onto(Path::new("policies/merchant_review.yaml"), &[], None, &[]).unwrap();
    let challenger = compile_file_onto(
        Path::new("policies/jd_plus.yaml"),
        &[("min_score".into(), "620".into())],
        None,
        &champion.columns,
    )
    .unwrap();
    let segments = ["scenario", "zhima_score:600,700", "is_plus_member"]
        .iter()
        .map(|s| SegmentSpec::parse(s).unwrap().resolve(&champion).unwrap())
        .collect();
    Plan::new(vec![champion, challenger], segments)
}

/// jd_plus at `min_score` = each of `values`, compiled onto one projection.
fn variants(values: &[&str]) -> Vec<crate::policy::CompiledPolicy> {
    let mut out: Vec<crate::policy::CompiledPolicy> = Vec::new();
    for v in values {
        let base = out.last().map(|p| p.columns.clone()).unwrap_or_default();
        out.push(
            compile_file_onto(
                Path::new("policies/jd_plus.yaml"),
                &[("min_score".into(), (*v).into())],
                None,
                &base,
            )
            .unwrap(),
        );
    }
    out
}

/// Each chunk's part, in file order.
fn parts<A: Accumulator>(
    plan: &Plan,
    chunk_size: usize,
    threads: usize,
    start: impl Fn() -> A + Sync,
) -> Vec<A> {
    let options = PassOptions {
        stream: StreamOptions {
            threads,
            chunk_size,
            ..StreamOptions::default()
        },
        skip_bad_rows: false,
    };
    let mut out = Vec::new();
    let input = Input::from_bytes("t.csv", data().to_vec());
    pass::run(plan, input, &options, start, |part| {
        out.push(part);
        Ok(())
    })
    .unwrap();
    out
}

/// Merges `parts` in groups of `group` consecutive parts, then the groups
/// in the order `order` gives (a permutation seed).
fn merged<A: Accumulator + Clone>(empty: &A, parts: &[A], group: usize, order: u64) -> A {
    let mut groups: Vec<A> = parts
        .chunks(group.max(1))
        .map(|g| {
            let mut total = empty.clone();
            for p in g {
                total.merge(p).unwrap();
            }
            total
        })
        .collect();
    // A deterministic shuffle from the seed.
    let mut state = order | 1;
    for i in (1..groups.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        groups.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut total = empty.clone();
    for g in &groups {
        total.merge(g).unwrap();
    }
    total
}

fn law<A>(
    plan: &Plan,
    start: impl Fn() -> A + Sync,
    chunk_size: usize,
    threads: usize,
    group: usize,
    order: u64,
) where
    A: Accumulator + Clone + PartialEq + Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let reference = {
        let whole = parts(plan, 1 << 24, 1, &start);
        assert_eq!(whole.len(), 1);
        whole.into_iter().next().unwrap()
    };
    let split = parts(plan, chunk_size, threads, &start);
    let total = merged(&start(), &split, group, order);
    assert_eq!(total, reference);
    let text = serde_json::to_string(&total).unwrap();
    let back: A = serde_json::from_str(&text).unwrap();
    assert_eq!(back, total);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn simulation_of_each_policy_merges_in_any_order(chunk_size in 40usize..60_000, threads in 1usize..4, group in 1usize..5, order: u64) {
        let plan = compare_plan();
        for index in 0..2 {
            law(&plan, || Simulation::new(&plan, index), chunk_size, threads, group, order);
        }
    }

    #[test]
    fn monte_carlo_trials_merge_in_any_order(chunk_size in 40usize..60_000, threads in 1usize..4, group in 1usize..5, order: u64, seed: u64) {
        let plan = compare_plan();
        let spec = super::trials::TrialSpec { trials: 50, seed };
        law(&plan, || Simulation::with_trials(&plan, 1, Some(spec)), chunk_size, threads, group, order);
    }

    #[test]
    fn comparison_and_swap_set_merge_in_any_order(chunk_size in 40usize..60_000, threads in 1usize..4, group in 1usize..5, order: u64) {
        let plan = compare_plan();
        law(&plan, || super::compare::Comparison::new(&plan), chunk_size, threads, group, order);
        let (a, b) = (&plan.policies[0], &plan.policies[1]);
        law(&plan, || super::swap::SwapSet::new(a, b), chunk_size, threads, group, order);
    }

    #[test]
    fn metrics_merge_in_any_order(chunk_size in 40usize..60_000, threads in 1usize..4, group in 1usize..5, order: u64) {
        let plan = compare_plan();
        law(&plan, || super::metrics::Metrics::new(1, &plan.policies[1]), chunk_size, threads, group, order);
    }

    #[test]
    fn sweep_states_merge_in_any_order(chunk_size in 40usize..60_000, threads in 1usize..4, group in 1usize..5, order: u64) {
        let values = ["560", "600", "640", "700"];
        let plan = Plan::new(variants(&values), Vec::new());
        law(&plan, || Variants::new(&plan), chunk_size, threads, group, order);

        let all = variants(&values);
        let fast = threshold_plan(&all[0], std::slice::from_ref(&all)).expect("min_score is one threshold");
        let mut plan = Plan::new(fast.variants, Vec::new());
        plan.probes = fast.probes;
        law(&plan, || Thresholds::new(&plan, &fast.axes), chunk_size, threads, group, order);
    }
}

#[test]
fn merging_partials_of_different_plans_is_refused() {
    let plan = compare_plan();
    let mut a = Simulation::new(&plan, 0);
    let b = Simulation::new(&Plan::new(variants(&["600"]), Vec::new()), 0);
    let e = a.merge(&b).unwrap_err().to_string();
    assert!(
        e.contains("cannot merge partial results of different plans"),
        "{e}"
    );
}

#[test]
fn a_threshold_sweep_equals_one_policy_per_point() {
    let values = ["560", "600", "640", "700", "580"];
    let all = variants(&values);
    let fast = threshold_plan(&all[0], std::slice::from_ref(&all)).unwrap();
    assert_same_points(all, fast);
}

/// A threshold sweep's points equal those of one policy per point (`all`,
/// the grid's policies compiled onto one projection).
fn assert_same_points(all: Vec<crate::policy::CompiledPolicy>, fast: super::sweep::ThresholdPlan) {
    use super::sweep::Sweep;
    let slow_plan = Plan::new(all, Vec::new());
    let slow = merged(
        &Variants::new(&slow_plan),
        &parts(&slow_plan, 50_000, 2, || Variants::new(&slow_plan)),
        1,
        0,
    );
    let mut plan = Plan::new(fast.variants, Vec::new());
    plan.probes = fast.probes;
    let quick = merged(
        &Thresholds::new(&plan, &fast.axes),
        &parts(&plan, 50_000, 2, || Thresholds::new(&plan, &fast.axes)),
        1,
        0,
    );
    assert_eq!(quick.points().unwrap(), slow.points().unwrap());
}

#[test]
fn a_two_threshold_sweep_equals_one_policy_per_point() {
    // min_score × min_age, each one threshold of its own rule.
    let axes = [
        Axis {
            name: "min_score".into(),
            values: vec!["560".into(), "620".into(), "600".into()],
        },
        Axis {
            name: "min_age".into(),
            values: vec!["18".into(), "25".into()],
        },
    ];
    let compile = |at: &[usize], base: &[crate::dataset::schema::ColumnSpec]| {
        let overrides: Vec<(String, String)> = axes
            .iter()
            .zip(at)
            .map(|(a, &v)| (a.name.clone(), a.values[v].clone()))
            .collect();
        compile_file_onto(Path::new("policies/jd_plus.yaml"), &overrides, None, base).unwrap()
    };
    let mut all: Vec<crate::policy::CompiledPolicy> = Vec::new();
    for at in super::sweep::grid_points(&axes) {
        let base = all.last().map(|p| p.columns.clone()).unwrap_or_default();
        all.push(compile(&at, &base));
    }
    let moved: Vec<Vec<crate::policy::CompiledPolicy>> = (0..2)
        .map(|m| {
            (0..axes[m].values.len())
                .map(|v| {
                    let mut at = vec![0, 0];
                    at[m] = v;
                    compile(&at, &[])
                })
                .collect()
        })
        .collect();
    let fast = threshold_plan(&compile(&[0, 0], &[]), &moved).expect("two thresholds");
    assert_eq!(fast.variants.len(), 4);
    assert_same_points(all, fast);
}

#[test]
fn a_param_that_moves_two_rules_is_not_swept_by_buckets() {
    let policy = |overrides: &[(String, String)]| {
        compile_file_onto(Path::new("policies/jd_plus.yaml"), overrides, None, &[]).unwrap()
    };
    let base = policy(&[]);
    // The second value moves min_score and min_age: two rules, one axis.
    let moved = vec![vec![
        policy(&[("min_score".into(), "600".into())]),
        policy(&[
            ("min_score".into(), "620".into()),
            ("min_age".into(), "21".into()),
        ]),
    ]];
    assert!(threshold_plan(&base, &moved).is_none());
}

#[test]
fn a_threshold_inside_a_one_item_all_is_swept_by_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(
        &path,
        "policy: p\nparams: { min_score: 600 }\nfields: { zhima_score: int }\nrules:\n  - id: score\n    reason: LOW\n    when: { all: [ { zhima_score: { gte: $min_score } } ] }\n",
    )
    .unwrap();
    let at =
        |v: &str| compile_file_onto(&path, &[("min_score".into(), v.into())], None, &[]).unwrap();
    let moved = vec![vec![at("580"), at("600"), at("620")]];
    assert!(threshold_plan(&at("580"), &moved).is_some());
}
