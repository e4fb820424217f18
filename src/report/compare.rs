//! The `compare` report: the swap matrix, the deltas, the rules behind the
//! swaps, per-segment deltas; JSON for tools, tables for people.

use super::table::{NOT_A_RATE, Style, add_row, group, pct, push, table};
use super::{Format, money_grouped};
use crate::report::comparison::{CompareReport, Deltas, SwapReason};
use std::fmt::Write;

/// Renders `report` in `format` (not CSV: the changes file is the CSV).
pub fn render(report: &CompareReport, format: Format) -> String {
    match format {
        Format::Json | Format::Csv => {
            let mut text =
                serde_json::to_string_pretty(report).expect("a report always serialises");
            text.push('\n');
            text
        }
        Format::Table => human(report, Style::Terminal),
        Format::Markdown => human(report, Style::Markdown),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| NOT_A_RATE.to_owned(), |r| format!("{:.2}%", r * 100.0))
}

/// A rate's change in percentage points, signed.
fn points(delta: Option<f64>) -> String {
    delta.map_or_else(
        || NOT_A_RATE.to_owned(),
        |d| format!("{:+.2} pp", d * 100.0),
    )
}

/// A money change, signed and grouped.
fn signed(money: &str) -> String {
    let grouped = money_grouped(money);
    if grouped.starts_with('-') {
        grouped
    } else {
        format!("+{grouped}")
    }
}

/// Money of a side without a repayment model is `n/a`, not a blank.
fn opt_money(m: &Option<String>) -> String {
    m.as_deref()
        .map_or_else(|| NOT_A_RATE.to_owned(), money_grouped)
}

/// Whether either side has a repayment model, and an `observed` condition:
/// the deltas table's rows of those figures are shown when either side has
/// them (a side without, or a delta of a rate without a denominator, is
/// `n/a`), never dropped because a delta is null.
fn has_money(r: &CompareReport) -> bool {
    r.champion.repayment.is_some() || r.challenger.repayment.is_some()
}

fn has_observed(r: &CompareReport) -> bool {
    r.champion.observed.is_some() || r.challenger.observed.is_some()
}

fn human(r: &CompareReport, style: Style) -> String {
    let mut out = String::new();
    let (a, b) = (&r.champion, &r.challenger);
    let name = |p: &crate::report::simulation::SimulationReport| {
        let set = &p.manifest.set;
        if set.is_empty() {
            crate::error::printable(&p.policy).into_owned()
        } else {
            let values: Vec<String> = set
                .iter()
                .map(|n| {
                    format!(
                        "{n}={}",
                        p.manifest
                            .params
                            .get(n)
                            .map_or(String::new(), |v| v.to_string())
                    )
                })
                .collect();
            format!(
                "{} ({})",
                crate::error::printable(&p.policy),
                values.join(", ")
            )
        }
    };
    // One blank line before a heading: a table already ends with one.
    let heading = |out: &mut String, text: &str| {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        match style {
            Style::Terminal => writeln!(out, "{text}"),
            Style::Markdown => writeln!(out, "## {text}\n"),
        }
        .expect("writing to a string")
    };
    let title = format!(
        "champion {} against challenger {} — {} rows",
        name(a),
        name(b),
        group(a.rows)
    );
    match style {
        Style::Terminal => writeln!(out, "{title}"),
        Style::Markdown => writeln!(out, "# {title}"),
    }
    .expect("writing to a string");

    heading(&mut out, "Swap set");
    let observed = r.swap.both.bads.is_some();
    let money = r.swap.both.expected_loss.champion.is_some()
        || r.swap.both.expected_loss.challenger.is_some();
    let mut header = vec!["cell", "rows", "share"];
    if observed {
        header.extend(["bads", "bad rate"]);
    }
    if money {
        header.extend([
            "champion loss",
            "challenger loss",
            "champion revenue",
            "challenger revenue",
        ]);
    }
    let mut t = table(style, &header, 1);
    for (cell, c) in r.swap.cells() {
        let label = match cell {
            "both" => "approved by both",
            "champion_only" => "champion only (swap-outs)",
            "challenger_only" => "challenger only (swap-ins)",
            _ => "neither",
        };
        let mut row = vec![label.to_owned(), group(c.rows), pct(c.rows, a.rows)];
        if observed {
            row.extend([c.bads.map_or(String::new(), group), percent(c.bad_rate)]);
        }
        if money {
            row.extend([
                opt_money(&c.expected_loss.champion),
                opt_money(&c.expected_loss.challenger),
                opt_money(&c.expected_revenue.champion),
                opt_money(&c.expected_revenue.challenger),
            ]);
        }
        add_row(&mut t, style, row);
    }
    push(&mut out, t);
    if observed && r.swap.challenger_only.rows > 0 {
        let _ = writeln!(
            out,
            "Note: swap-ins were declined by the champion, so when the champion was in production they \
             never got credit and their observed outcome here is not real life's; treat their bad rate as \
             a guess, and test a challenger on a random sample before trusting it."
        );
    }

    heading(&mut out, "Deltas (challenger − champion)");
    push(&mut out, deltas_table(style, r, &r.deltas));
    let [ea, eb] = &r.exposure_measures;
    if ea != eb {
        let _ = writeln!(
            out,
            "Note: approved exposure is the sum of {ea} for the champion and of {eb} for the \
             challenger, so its delta compares two different measures."
        );
    }

    for (title, reasons) in [
        (
            "Swap-outs by the challenger's primary reason",
            &r.swap_reasons.swap_outs,
        ),
        (
            "Swap-ins by the champion's primary reason",
            &r.swap_reasons.swap_ins,
        ),
    ] {
        if reasons.is_empty() {
            continue;
        }
        heading(&mut out, title);
        push(&mut out, reasons_table(style, reasons));
    }

    // A segment table shows deltas only: a column is there when both sides
    // have the figure (else it would be n/a all the way down).
    let segment_money = r.champion.repayment.is_some() && r.challenger.repayment.is_some();
    let segment_observed = r.champion.observed.is_some() && r.challenger.observed.is_some();
    for (field, segments) in &r.segments {
        heading(&mut out, &format!("Deltas by {field}"));
        // How many rows each segment holds, so a large change in a tiny
        // segment is seen for what it is.
        let sizes = a.segments.iter().find(|(k, _)| k == field).map(|(_, s)| s);
        let size = |value: &str| {
            sizes
                .and_then(|s| s.iter().find(|e| e.value == value))
                .map_or_else(|| NOT_A_RATE.to_owned(), |e| group(e.rows))
        };
        let mut header = vec![field.as_str(), "rows", "approval rate", "approved exposure"];
        if segment_money {
            header.extend(["expected loss", "expected revenue"]);
        }
        if segment_observed {
            header.push("bad rate");
        }
        let mut t = table(style, &header, 1);
        for s in segments {
            let d = &s.deltas;
            let mut row = vec![
                s.value.clone(),
                size(&s.value),
                points(d.approval_rate),
                signed(&d.approved_exposure),
            ];
            if segment_money {
                let money =
                    |m: &Option<String>| m.as_deref().map_or_else(|| NOT_A_RATE.to_owned(), signed);
                row.extend([money(&d.expected_loss), money(&d.expected_revenue)]);
            }
            if segment_observed {
                row.push(points(d.observed_bad_rate));
            }
            add_row(&mut t, style, row);
        }
        push(&mut out, t);
    }
    if let Some(c) = &r.changes {
        let _ = writeln!(
            out,
            "Wrote the {} row(s) whose outcome or limit changed to {}.",
            group(c.rows),
            crate::error::printable(&c.file)
        );
    }
    out
}

fn deltas_table(style: Style, r: &CompareReport, d: &Deltas) -> comfy_table::Table {
    let (a, b) = (&r.champion, &r.challenger);
    let mut t = table(style, &["metric", "champion", "challenger", "delta"], 1);
    add_row(
        &mut t,
        style,
        vec![
            "approval rate".into(),
            percent(a.approval_rate),
            percent(b.approval_rate),
            points(d.approval_rate),
        ],
    );
    add_row(
        &mut t,
        style,
        vec![
            "approved exposure".into(),
            money_grouped(&a.approved_exposure),
            money_grouped(&b.approved_exposure),
            signed(&d.approved_exposure),
        ],
    );
    let repay = |p: &crate::report::simulation::SimulationReport, loss: bool| {
        p.repayment.as_ref().map_or(NOT_A_RATE.to_owned(), |m| {
            money_grouped(if loss {
                &m.expected_loss
            } else {
                &m.expected_revenue
            })
        })
    };
    if has_money(r) {
        let delta = |m: &Option<String>| m.as_deref().map_or_else(|| NOT_A_RATE.to_owned(), signed);
        add_row(
            &mut t,
            style,
            vec![
                "expected loss".into(),
                repay(a, true),
                repay(b, true),
                delta(&d.expected_loss),
            ],
        );
        add_row(
            &mut t,
            style,
            vec![
                "expected revenue".into(),
                repay(a, false),
                repay(b, false),
                delta(&d.expected_revenue),
            ],
        );
    }
    if has_observed(r) {
        let bad = |p: &crate::report::simulation::SimulationReport| {
            percent(p.observed.as_ref().and_then(|o| o.bad_rate))
        };
        add_row(
            &mut t,
            style,
            vec![
                "observed bad rate".into(),
                bad(a),
                bad(b),
                points(d.observed_bad_rate),
            ],
        );
    }
    t
}

fn reasons_table(style: Style, reasons: &[SwapReason]) -> comfy_table::Table {
    let mut t = table(style, &["rule", "reason", "rows"], 2);
    for s in reasons {
        add_row(
            &mut t,
            style,
            vec![s.rule.clone(), s.reason.clone(), group(s.rows)],
        );
    }
    t
}
