//! Lowered expressions against Rhai.
//!
//! Each expression is compiled twice in one policy: as written (the simple
//! subset, lowered onto the column kernels) and as
//! `if (EXPR) { true } else { false }`, which is outside the subset and so
//! runs in Rhai. The law: wherever Rhai gives a definite answer, the
//! lowered path gives the same one. (Where a missing value reaches `&&`,
//! `||` or a division by zero, Rhai gives up on the whole expression, while
//! the lowered path may still know the answer, as SQL does:
//! `unknown || true` is true.) A float divided by zero is NaN, and Rhai
//! compares an int with NaN as equal (`0 == 0.1 % 0` is true), so
//! expressions with a division are not held to it.

use super::grammar::Choices;
use super::{ROW_FIELDS, batch_of, dataset_of, decode_rows};
use crate::engine::kernels::{FALSE, TRUE};
use crate::engine::{Decisions, Evaluator};
use crate::policy::compile::compile;
use crate::policy::load;
use std::path::Path;

/// One row's truth values: lowered, in Rhai, and whether the row has a
/// missing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truths {
    pub lowered: u8,
    pub rhai: u8,
    pub missing: bool,
}

/// The fuzz target: rows from the first bytes, then a byte whose lowest
/// bit says how to read the rest: as the expression's text (0), or as the
/// choices that build an expression of the subset (1).
pub fn lowered_expr(data: &[u8]) {
    let (rows, rest) = decode_rows(data);
    let expr = match rest.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => Choices::new(rest).bool_expr(4),
        Some((_, text)) => match std::str::from_utf8(text) {
            Ok(text) => text.to_owned(),
            Err(_) => return,
        },
        None => return,
    };
    if let Some(truths) = lowered_truths(&expr, &rows) {
        lowered_law(&expr, &rows, &truths);
    }
}

/// Checks the law on `truths`, the result of [`lowered_truths`].
pub fn lowered_law(expr: &str, rows: &[String], truths: &[Truths]) {
    if expr.contains('/') || expr.contains('%') {
        return;
    }
    for (i, t) in truths.iter().enumerate() {
        if t.rhai == TRUE {
            assert_eq!(t.lowered, TRUE, "row {i} `{expr}` of {rows:?}");
        }
        if t.rhai == FALSE && !t.missing {
            assert_eq!(t.lowered, FALSE, "row {i} `{expr}` of {rows:?}");
        }
    }
}

/// Runs `expr` both ways on `rows` (of `a,b,d,f,p,s`, with params `k: 3`
/// and `r: 0.5`); `None` when it is not an expression of the simple subset
/// that compiles.
pub fn lowered_truths(expr: &str, rows: &[String]) -> Option<Vec<Truths>> {
    // The text goes into single-quoted YAML on one line.
    if expr.trim().is_empty() || expr.chars().any(char::is_control) {
        return None;
    }
    let quoted = expr.replace('\'', "''");
    let yaml = format!(
        "policy: t\nparams: {{ k: 3, r: 0.5 }}\nfields: {{ {ROW_FIELDS} }}\nrules:\n  - {{ id: lowered, reason: L, expr: '{quoted}' }}\n  - {{ id: rhai, reason: R, expr: 'if ({quoted}) {{ true }} else {{ false }}' }}\n"
    );
    let (mut src, def) = load::load_str(Path::new("t.yaml"), yaml).ok()?;
    let policy = compile(&mut src, &def, &[]).ok()?;
    // Only the second form runs in Rhai (so the first was lowered).
    if policy.derived.len() != 1 || policy.rules.len() != 2 {
        return None;
    }
    let batch = batch_of(&policy, &dataset_of(rows));
    let mut d = Decisions::default();
    Evaluator::new(&policy).evaluate(&batch, &mut d).ok()?;
    Some(
        (0..batch.len)
            .map(|row| Truths {
                lowered: d.rule_truth[0][row],
                rhai: d.rule_truth[1][row],
                missing: rows[row].split(',').any(str::is_empty),
            })
            .collect(),
    )
}
