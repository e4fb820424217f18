//! `explain` as a person reads it: what the user got, then every rule with
//! the values it read, the limit band and the repayment probabilities —
//! what an operator pastes into a reply to "why was I declined?".

use crate::engine::script_trace::ScriptTrace;
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
    if let Some(script) = &t.script {
        render_script(&mut out, script);
    } else {
        let _ = writeln!(out, "\nrules (in order)");
    }
    for r in t.rules.iter().filter(|_| t.script.is_none()) {
        let mark = if r.verdict == "pass" { "pass" } else { "FAIL" };
        let because = if r.verdict == "pass" {
            String::new()
        } else {
            format!(" → {} ({})", r.reason, r.action)
        };
        let _ = writeln!(out, "  {mark}  {}{because}", printable(&r.rule));
        node(&mut out, &r.condition, 2);
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

/// A script's path: each check with its value, the values it compared and
/// the fields it names; then the verdict.
fn render_script(out: &mut String, s: &ScriptTrace) {
    let by = match s.traced_by {
        "native" => "traced natively",
        _ => "traced in Rhai",
    };
    let _ = writeln!(
        out,
        "\nscript {} — the checks it evaluated, in order ({by})",
        printable(&s.file)
    );
    if s.checks.is_empty() {
        let _ = writeln!(out, "  (none: the verdict stands outside every `if`)");
    }
    for c in &s.checks {
        let _ = writeln!(out, "  line {:<3} {}", c.line, printable(&c.check));
        let compared = c
            .compared
            .as_ref()
            .map_or(String::new(), |x| format!(": {}", printable(x)));
        let reads: Vec<String> = c
            .reads
            .iter()
            .map(|(n, v)| format!("{}={}", printable(n), printable(v)))
            .collect();
        let reads = if reads.is_empty() {
            String::new()
        } else {
            format!("   (read {})", reads.join(", "))
        };
        let decided = if c.decided {
            "   ← decided the verdict"
        } else {
            ""
        };
        let _ = writeln!(out, "           {}{compared}{reads}{decided}", c.value);
    }
    match &s.verdict {
        Some(v) => {
            let _ = writeln!(
                out,
                "  line {:<3} {}   the verdict",
                v.line,
                printable(&v.call)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  a missing value stopped the script: the row is undecided (MISSING_VALUE)"
            );
        }
    }
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
