//! Native scripts against Rhai.
//!
//! A script policy is compiled once; it is evaluated as compiled (the
//! script runs natively) and again with its native form removed (it runs in
//! Rhai). The law: the same outcome, reasons and limit on every row, or the
//! same error.

use super::grammar::Choices;
use super::{ROW_FIELDS, batch_of, dataset_of, decode_rows};
use crate::engine::evaluate::NONE;
use crate::engine::native_script::NativeRows;
use crate::engine::script_trace::{Path, ScriptTracer};
use crate::engine::{Decisions, Evaluator};
use crate::policy::CompiledPolicy;
use crate::policy::compile::compile_file;
use std::cell::RefCell;

/// The fuzz target: rows from the first bytes, then a byte whose lowest
/// bit says how to read the rest: as the script's text (0), or as the
/// choices that build a script of the native subset (1).
pub fn native_script(data: &[u8]) {
    let (rows, rest) = decode_rows(data);
    let script = match rest.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => Choices::new(rest).script(),
        Some((_, text)) => match std::str::from_utf8(text) {
            Ok(text) => text.to_owned(),
            Err(_) => return,
        },
        None => return,
    };
    if let Some((native, rhai)) = native_vs_rhai(&script, &rows) {
        assert_eq!(native, rhai, "{script}\nrows {rows:?}");
    }
    for (row, (native, rhai)) in traces_native_vs_rhai(&script, &rows).iter().enumerate() {
        if let Some(native) = native {
            assert_eq!(native, rhai, "{script}\nrow {row} of {rows:?}");
        }
    }
}

/// Each row's decision, or the error.
pub type Run = Result<Vec<String>, String>;

thread_local! {
    /// A directory per thread for the policy and its script.
    static DIR: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// Compiles `script` (a `decide(user)` over `a,b,d,f,p,s`, with params
/// `k: 3`, `r: 0.5`, `name: x`) and runs it on `rows` natively and in Rhai;
/// `None` when it does not compile, or not natively.
pub fn native_vs_rhai(script: &str, rows: &[String]) -> Option<(Run, Run)> {
    let native = compile_script(script)?;
    let mut rhai = native.clone();
    rhai.script.as_mut()?.native.take()?;
    let data = dataset_of(rows);
    Some((evaluate(&native, &data), evaluate(&rhai, &data)))
}

/// Each row of `rows` traced natively (`None` for a row the native path
/// hands to Rhai) and in Rhai; empty when the script does not compile
/// natively or stops with an error.
pub fn traces_native_vs_rhai(script: &str, rows: &[String]) -> Vec<(Option<Path>, Path)> {
    let Some(policy) = compile_script(script) else {
        return Vec::new();
    };
    let Some(native) = policy.script.as_ref().and_then(|s| s.native.as_ref()) else {
        return Vec::new();
    };
    let batch = batch_of(&policy, &dataset_of(rows));
    let mut evaluator = Evaluator::new(&policy);
    if evaluator
        .evaluate(&batch, &mut Decisions::default())
        .is_err()
    {
        return Vec::new();
    }
    let cols = evaluator.cols(&batch);
    let mut tracer = ScriptTracer::default();
    (0..batch.len)
        .map(|row| {
            let by_native = NativeRows::new(native, &cols).trace(row);
            (by_native, tracer.rhai_path(&policy, &cols, row))
        })
        .collect()
}

/// The policy of `script`, over the fuzzers' fields and params.
fn compile_script(script: &str) -> Option<CompiledPolicy> {
    DIR.with_borrow_mut(|dir| {
        let dir = match dir {
            Some(d) => d,
            None => dir.insert(tempfile::tempdir().expect("a temporary directory")),
        };
        std::fs::write(dir.path().join("s.rhai"), script).expect("the script is written");
        let yaml = format!(
            "policy: t\nparams: {{ k: 3, r: 0.5, name: x }}\nfields: {{ {ROW_FIELDS} }}\nscript: s.rhai\n"
        );
        std::fs::write(dir.path().join("t.yaml"), yaml).expect("the policy is written");
        compile_file(&dir.path().join("t.yaml"), &[]).ok()
    })
}

/// Each row's (outcome, failing rules, limit), or the error.
fn evaluate(policy: &CompiledPolicy, data: &str) -> Run {
    let batch = batch_of(policy, data);
    let mut d = Decisions::default();
    Evaluator::new(policy)
        .evaluate(&batch, &mut d)
        .map_err(|e| e.to_string())?;
    Ok((0..batch.len)
        .map(|row| {
            let failed: Vec<usize> = (0..policy.rules.len())
                .filter(|&r| d.failed(r, row))
                .collect();
            let limit = d.limit.get(row).filter(|_| d.limit_band[row] != NONE);
            format!("{:?} {failed:?} {limit:?}", d.outcome[row])
        })
        .collect())
}
