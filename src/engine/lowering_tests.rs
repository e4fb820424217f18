//! The lowered and the Rhai path agree: a property test over generated
//! expressions of the simple subset and generated rows, missing values and
//! zeros included.
//!
//! The comparison itself is `fuzzing::lowered_truths` (the `lowered_expr`
//! fuzz target runs it on expressions decoded from bytes): each expression
//! is compiled twice in one policy, lowered and in Rhai, and wherever Rhai
//! gives a definite answer the lowered path must give the same one. Here
//! the expressions cannot overflow, so one more law holds: on a row with no
//! missing value and no division, both paths give a definite answer.

use super::kernels::{TRUE, UNKNOWN};
use crate::fuzzing::{self, Truths};
use proptest::prelude::*;

fn num_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("d".to_owned()),
        Just("f".to_owned()),
        Just("$k".to_owned()),
        Just("params.r".to_owned()),
        (0i64..40).prop_map(|v| v.to_string()),
        (0u32..40, 1u32..10).prop_map(|(a, b)| format!("{a}.{b}")),
    ]
}

fn num_expr() -> impl Strategy<Value = String> {
    num_leaf().prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            3 => (inner.clone(), prop::sample::select(vec!["+", "-", "*"]), inner.clone())
                .prop_map(|(x, op, y)| format!("({x} {op} {y})")),
            1 => (inner.clone(), prop::sample::select(vec!["/", "%"]), inner.clone())
                .prop_map(|(x, op, y)| format!("({x} {op} {y})")),
            1 => inner.prop_map(|x| format!("-({x})")),
        ]
    })
}

fn bool_expr() -> impl Strategy<Value = String> {
    let cmp = prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]);
    let leaf = prop_oneof![
        1 => Just("p".to_owned()),
        1 => Just("s == \"x\"".to_owned()),
        1 => Just("s < \"y\"".to_owned()),
        4 => (num_leaf(), cmp.clone(), num_leaf()).prop_map(|(x, op, y)| format!("{x} {op} {y}")),
        3 => (
            num_expr(),
            prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
            num_expr()
        )
            .prop_map(|(x, op, y)| format!("{x} {op} {y}")),
    ];
    leaf.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(x, y)| format!("({x} && {y})")),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| format!("({x} || {y})")),
            inner.prop_map(|x| format!("!({x})")),
        ]
    })
}

fn cell<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Generated rows of `a,b,d,f,p,s` (int, int, decimal, float, bool,
/// string), each cell missing now and then; `b` takes the values of `b`.
pub(super) fn rows(
    b: impl Strategy<Value = i64>,
    max: usize,
) -> impl Strategy<Value = Vec<String>> {
    let row = (
        prop::option::weighted(0.85, -20i64..20),
        prop::option::weighted(0.85, b),
        prop::option::weighted(
            0.85,
            (-300i64..300).prop_map(|c| format!("{}.{:02}", c / 100, c.abs() % 100)),
        ),
        prop::option::weighted(0.85, (-40i32..40).prop_map(|v| f64::from(v) / 4.0)),
        prop::option::weighted(0.85, any::<bool>()),
        prop::option::weighted(0.85, prop::sample::select(vec!["x", "y", "z"])),
    );
    prop::collection::vec(row, 1..max).prop_map(|rows| {
        rows.into_iter()
            .map(|(a, b, d, f, p, s)| {
                let r = [cell(a), cell(b), cell(d), cell(f), cell(p), cell(s)].join(",");
                // A row of blanks is refused by the reader: give it a value.
                if r.bytes().all(|b| b == b',') {
                    format!("0{r}")
                } else {
                    r
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn lowered_and_rhai_paths_agree(expr in bool_expr(), rows in rows(0i64..5, 40)) {
        let truths = fuzzing::lowered_truths(&expr, &rows)
            .unwrap_or_else(|| panic!("not lowered, or does not compile: {expr}"));
        fuzzing::lowered_law(&expr, &rows, &truths);
        let divides = expr.contains('/') || expr.contains('%');
        for (i, Truths { lowered, rhai, missing }) in truths.into_iter().enumerate() {
            if !missing && !divides {
                prop_assert!(lowered != UNKNOWN, "row {} `{}`", i, expr);
                prop_assert_eq!(lowered == TRUE, rhai == TRUE, "row {} `{}` of {:?}", i, expr, rows);
            }
        }
    }
}
