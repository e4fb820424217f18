//! `explain` as a person reads it: what the user got, then every rule with
//! the values it read, the limit band and the repayment probabilities —
//! what an operator pastes into a reply to "why was I declined?".

use crate::engine::trace::{NodeTrace, RowTrace};
use crate::error::printable;
use crate::policy::CompiledPolicy;
use std::fmt::Write;

pub fn render(policy: &CompiledPolicy, t: &RowTrace) -> String {
    let mut out = String::new();
    let key = match (&policy.key_name, &t.key) {
        (Some(k), Some(v)) => format!(", {} {}", printable(k), printable(v)),
        _ => String::new(),
    };
    let which = match t.line {
        0 => "the row given".to_owned(),
        n => format!("the row on line {n}"),
    };
    let _ = writeln!(
        out,
        "policy {} v{} — {which}{key}",
        printable(&policy.id),
        printable(&policy.version),
    );
    let limit = t.limit.map_or(String::new(), |l| {
        format!(", limit {}", super::money_grouped(&super::money(l)))
    });
    let reasons = if t.reasons.is_empty() {
        String::new()
    } else {
        format!(" — {}", t.reasons.join(", "))
    };
    let _ = writeln!(out, "outcome: {}{limit}{reasons}", t.outcome);
    if !t.derived.is_empty() {
        let _ = writeln!(out, "\nderived fields");
        for (name, value) in &t.derived {
            let _ = writeln!(out, "  {} = {}", printable(name), printable(value));
        }
    }
    let _ = writeln!(out, "\nrules (in order)");
    for r in &t.rules {
        let mark = if r.verdict == "pass" { "pass" } else { "FAIL" };
        let because = if r.verdict == "pass" {
            String::new()
        } else {
            format!(" → {} ({})", r.reason, r.action)
        };
        let _ = writeln!(out, "  {mark}  {}{because}", printable(&r.rule));
        node(&mut out, &r.condition, 2);
    }
    if t.script {
        let _ = writeln!(
            out,
            "  (a script policy: the verdict is the script's; the checks inside it are not traced)"
        );
    }
    if !t.limits.is_empty() {
        let _ = writeln!(out, "\nlimit (the first band that matches)");
        for b in &t.limits {
            let mark = if b.taken { "taken" } else { "no" };
            let _ = writeln!(
                out,
                "  {mark:5}  band {}: amount {}",
                b.band + 1,
                printable(&b.amount)
            );
            match &b.condition {
                Some(c) => node(&mut out, c, 3),
                None => {
                    let _ = writeln!(out, "{}default band (no `when`)", "   ".repeat(3));
                }
            }
        }
    }
    if let Some(r) = &t.repayment {
        let p: Vec<String> = r.p.iter().map(|(n, p)| format!("{n} {p}")).collect();
        let _ = writeln!(out, "\nrepayment band {}: {}", r.band + 1, p.join(", "));
    }
    out
}

/// A condition node and its parts, indented.
fn node(out: &mut String, n: &NodeTrace, depth: usize) {
    let read = n
        .read
        .as_deref()
        .map_or(String::new(), |r| format!("   (read {})", printable(r)));
    let _ = writeln!(
        out,
        "{}{}  {}{read}",
        "   ".repeat(depth),
        n.truth,
        printable(&n.test)
    );
    for p in &n.parts {
        node(out, p, depth + 1);
    }
}
