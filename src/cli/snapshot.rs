//! `polsim test` snapshots: a dataset's headline metrics and every row's
//! outcome, kept in a small JSON file (`snapshot:` in a test file) that
//! `polsim test --update` writes. A later run fails when a metric moves past
//! its tolerance or more rows change outcome than `flipped` allows, and says
//! which rules now decide the rows that changed.
//!
//! Outcomes are packed two bits a row and base64-encoded: a million rows
//! take 333 KB.

use crate::engine::Outcome as Decision;
use crate::error::{Error, Result, printable};
use crate::policy::CompiledPolicy;
use base64::Engine;
use serde_json::{Value, json};
use std::path::Path;

/// The headline metrics a snapshot keeps, by their report path.
const METRICS: [&str; 8] = [
    "approved",
    "review",
    "declined",
    "approval_rate",
    "approved_exposure",
    "observed.bad_rate",
    "repayment.expected_loss",
    "repayment.expected_revenue",
];

/// Every row's outcome, and the rule that decided it (for the flips).
#[derive(Default)]
pub struct Rows {
    pub outcomes: Vec<Decision>,
    /// The primary rule of a declined or reviewed row.
    pub primary: Vec<u16>,
}

fn pack(outcomes: &[Decision]) -> String {
    let mut bytes = vec![0u8; outcomes.len().div_ceil(4)];
    for (i, o) in outcomes.iter().enumerate() {
        bytes[i / 4] |= (*o as u8) << (2 * (i % 4));
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unpack(text: &str, rows: usize) -> Option<Vec<u8>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    (bytes.len() == rows.div_ceil(4)).then(|| {
        (0..rows)
            .map(|i| (bytes[i / 4] >> (2 * (i % 4))) & 3)
            .collect()
    })
}

/// The snapshot of a run: its report (as JSON) and rows.
pub fn make(policy: &CompiledPolicy, report: &Value, rows: &Rows) -> Value {
    let metrics: serde_json::Map<String, Value> = METRICS
        .iter()
        .filter_map(|m| Some(((*m).to_owned(), super::test::metric(report, m)?.clone())))
        .collect();
    json!({
        "polsim": env!("CARGO_PKG_VERSION"),
        "policy": policy.id,
        "policy_sha256": policy.sha256,
        "params": report["manifest"]["params"],
        "data_sha256": report["manifest"]["data_sha256"],
        "rows": rows.outcomes.len(),
        "metrics": metrics,
        "outcomes": pack(&rows.outcomes),
    })
}

/// Writes the snapshot of a run to `path`.
pub fn write(path: &Path, snapshot: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(snapshot).expect("a snapshot serialises");
    text.push('\n');
    super::write_atomically(path, |out| {
        out.write_all(text.as_bytes())
            .map_err(|e| Error::write(path, e))
    })
}

/// What is wrong with this run against the snapshot at `path`; `None` when
/// it is within its tolerances.
pub fn compare(
    path: &Path,
    policy: &CompiledPolicy,
    report: &Value,
    rows: &Rows,
    tolerance: &[(String, f64)],
) -> Result<Option<String>> {
    let shown = printable(&path.display().to_string()).into_owned();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(format!(
                "there is no snapshot `{shown}` yet: write it with `polsim test --update`"
            )));
        }
        Err(e) => return Err(Error::read(path, e)),
    };
    let snap: Value = serde_json::from_str(&text).map_err(|e| {
        Error::usage(
            format!("snapshot `{shown}` is not a polsim snapshot: {e}"),
            "write it again with `polsim test --update`",
        )
    })?;
    let mut wrong = Vec::new();
    for (name, tol) in tolerance.iter().filter(|(n, _)| n != "flipped") {
        let value = |v: Option<&Value>| -> Option<f64> {
            match v? {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
        };
        let before = value(snap["metrics"].get(name.as_str()));
        let now = value(super::test::metric(report, name));
        match (before, now) {
            (Some(b), Some(n)) if (n - b).abs() > *tol + 1e-12 => wrong.push(format!(
                "{name} moved from {b} to {n} (by {:.6}), past its tolerance {tol}",
                (n - b).abs()
            )),
            (Some(_), Some(_)) => {}
            _ => wrong.push(format!(
                "`{name}` has a tolerance but is not a metric of the snapshot (it keeps {})",
                METRICS.join(", ")
            )),
        }
    }
    let n = rows.outcomes.len();
    let before = snap["rows"]
        .as_u64()
        .and_then(|r| unpack(snap["outcomes"].as_str()?, r as usize));
    match before {
        None => wrong.push(format!(
            "snapshot `{shown}` has no outcomes polsim can read: write it again with `polsim test --update`"
        )),
        Some(b) if b.len() != n => wrong.push(format!(
            "the snapshot has {} rows and the data {n}: the dataset changed; write the snapshot again with `polsim test --update` if that is meant",
            b.len()
        )),
        Some(b) => {
            let allowed = tolerance
                .iter()
                .find(|(name, _)| name == "flipped")
                .map_or(0.0, |(_, t)| *t);
            let mut by_rule: Vec<u64> = vec![0; policy.rules.len() + 1];
            let mut flipped = 0u64;
            for (row, (old, new)) in b.iter().zip(&rows.outcomes).enumerate() {
                if *old != *new as u8 {
                    flipped += 1;
                    let rule = usize::from(rows.primary[row]).min(policy.rules.len());
                    by_rule[rule] += 1;
                }
            }
            let share = if n == 0 { 0.0 } else { flipped as f64 / n as f64 };
            if share > allowed + 1e-12 {
                let mut causes: Vec<(String, u64)> = policy
                    .rules
                    .iter()
                    .zip(&by_rule)
                    .filter(|(_, c)| **c > 0)
                    .map(|(r, c)| (format!("{} ({})", r.id, r.reason), *c))
                    .collect();
                if by_rule[policy.rules.len()] > 0 {
                    causes.push(("now approved".to_owned(), by_rule[policy.rules.len()]));
                }
                causes.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
                wrong.push(format!(
                    "{flipped} of {n} rows ({:.2}%) changed outcome, more than `flipped: {allowed}` allows; by the rule that now decides them: {}",
                    share * 100.0,
                    causes
                        .iter()
                        .map(|(r, c)| format!("{r} {c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    Ok((!wrong.is_empty()).then(|| wrong.join("; ")))
}
