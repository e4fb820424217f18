//! The lowered and the Rhai path agree: a property test over generated
//! expressions of the simple subset and generated rows, missing values and
//! zeros included.
//!
//! Each expression is compiled twice in one policy: as written (the simple
//! subset, lowered onto the column kernels) and as `if EXPR { true } else { false }`, which
//! is outside the subset and so runs in Rhai. The law: wherever Rhai gives a
//! definite answer, the lowered path gives the same one; and on a row with
//! no missing value and no division, Rhai always gives one. (Where a missing
//! value reaches `&&`, `||` or a division by zero, Rhai gives up on the
//! whole expression, while the lowered path may still know the answer, as
//! SQL does: `unknown || true` is true.)

use super::kernels::{FALSE, TRUE, UNKNOWN};
use super::{Decisions, Evaluator};
use crate::dataset::batch::{Batch, Parser};
use crate::dataset::chunker::Chunker;
use crate::dataset::schema::Schema;
use crate::policy::CompiledPolicy;
use crate::policy::compile::compile;
use crate::policy::load;
use proptest::prelude::*;
use std::path::Path;

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

/// `data` (a header and rows, one chunk's worth) parsed for `policy`.
pub(super) fn batch_of(policy: &CompiledPolicy, data: &str) -> Batch {
    let mut chunker = Chunker::new(data.as_bytes(), 1 << 16, "t.csv");
    let header = chunker.header().unwrap().unwrap();
    let schema = Schema::resolve("t.csv", &header, &policy.columns).unwrap();
    let chunk = chunker.next_chunk().unwrap().unwrap();
    let mut batch = Batch::new(&schema);
    Parser::default()
        .parse(&chunk, &schema, false, &mut batch, &mut Vec::new())
        .unwrap();
    batch
}

/// Per row: (lowered truth, Rhai truth, whether the row has a missing value).
fn run(expr: &str, rows: &[String]) -> Vec<(u8, u8, bool)> {
    let yaml = format!(
        "policy: t\nparams: {{ k: 3, r: 0.5 }}\nfields: {{ a: int, b: int, d: decimal, f: float, p: bool, s: string }}\nrules:\n  - {{ id: lowered, reason: L, expr: '{expr}' }}\n  - {{ id: rhai, reason: R, expr: 'if {expr} {{ true }} else {{ false }}' }}\n"
    );
    let (mut src, def) = load::load_str(Path::new("t.yaml"), yaml).unwrap();
    let policy = compile(&mut src, &def, &[]).unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(
        policy.derived.len(),
        1,
        "only the second form runs in Rhai: {expr}"
    );
    let batch = batch_of(&policy, &format!("a,b,d,f,p,s\n{}\n", rows.join("\n")));
    let mut d = Decisions::default();
    Evaluator::new(&policy).evaluate(&batch, &mut d).unwrap();
    (0..batch.len)
        .map(|row| {
            let missing = rows[row].split(',').any(str::is_empty);
            (d.rule_truth[0][row], d.rule_truth[1][row], missing)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn lowered_and_rhai_paths_agree(expr in bool_expr(), rows in rows(0i64..5, 40)) {
        let divides = expr.contains('/') || expr.contains('%');
        for (i, (lowered, rhai, missing)) in run(&expr, &rows).into_iter().enumerate() {
            // The Rhai form's truth is TRUE or not; UNKNOWN rows come out as not TRUE.
            // A float divided by zero is NaN, and Rhai compares an int with
            // NaN as equal (`0 == 0.1 % 0` is true), so expressions with a
            // division are not held to this.
            if rhai == TRUE && !divides {
                prop_assert_eq!(lowered, TRUE, "row {} `{}` of {:?}", i, expr, rows);
            }
            if !missing && !divides {
                prop_assert!(lowered != UNKNOWN, "row {} `{}`", i, expr);
                prop_assert_eq!(lowered == TRUE, rhai == TRUE, "row {} `{}` of {:?}", i, expr, rows);
            }
            if rhai == FALSE && !missing && !divides {
                prop_assert_eq!(lowered, FALSE);
            }
        }
    }
}
