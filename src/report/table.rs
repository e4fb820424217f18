//! The human report: headline numbers, reasons, waterfall, limits, segments,
//! repayment and backtest, as tables. Rules that do no work on the data are
//! flagged, since they are candidates for removal or a sign of a typo.

use super::money_grouped;
use crate::report::simulation::SimulationReport;
use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{CellAlignment, Table};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Terminal,
    Markdown,
}

pub fn render(report: &SimulationReport) -> String {
    render_with(report, Style::Terminal)
}

pub fn render_with(r: &SimulationReport, style: Style) -> String {
    let mut out = String::new();
    let heading = |out: &mut String, text: &str| match style {
        Style::Terminal => {
            let _ = writeln!(out, "\n{}", crate::error::printable(text));
        }
        Style::Markdown => {
            let _ = writeln!(out, "\n## {}\n", crate::error::printable(text));
        }
    };
    let title = format!(
        "{}{} — {} rows",
        crate::error::printable(&r.policy),
        if r.version.is_empty() {
            String::new()
        } else {
            format!(" v{}", crate::error::printable(&r.version))
        },
        group(r.rows)
    );
    match style {
        Style::Terminal => {
            let _ = writeln!(out, "{title}");
        }
        Style::Markdown => {
            let _ = writeln!(out, "# {title}");
        }
    }

    heading(&mut out, "Outcomes");
    let mut t = table(style, &["outcome", "rows", "share"], 1);
    for (name, n) in [
        ("approve", r.approved),
        ("review", r.review),
        ("decline", r.declined),
    ] {
        add_row(
            &mut t,
            style,
            vec![name.to_owned(), group(n), pct(n, r.rows)],
        );
    }
    push(&mut out, t);
    let _ = writeln!(
        out,
        "approved exposure: {}",
        money_grouped(&r.approved_exposure)
    );
    if r.skipped.count > 0 {
        let _ = writeln!(out, "skipped malformed rows: {}", group(r.skipped.count));
    }

    heading(&mut out, "Reasons (rules that failed)");
    let mut t = table(
        style,
        &[
            "rule", "reason", "action", "failed", "primary", "sole", "note",
        ],
        3,
    );
    for s in &r.reasons {
        let note = match s.flag {
            Some("never_fails") => "never fails: does no work on this data",
            Some("shadowed") => {
                "shadowed: never the deciding reason; other rules decide every row it fails"
            }
            _ => "",
        };
        add_row(
            &mut t,
            style,
            vec![
                s.rule.clone(),
                s.reason.clone(),
                s.action.to_owned(),
                group(s.failed),
                group(s.primary),
                group(s.sole),
                note.to_owned(),
            ],
        );
    }
    push(&mut out, t);

    heading(&mut out, "Waterfall (rules applied in order)");
    let mut t = table(
        style,
        &["rule", "removed", "remaining", "remaining share"],
        1,
    );
    add_row(
        &mut t,
        style,
        vec![
            "(all rows)".to_owned(),
            String::new(),
            group(r.rows),
            pct(r.rows, r.rows),
        ],
    );
    for w in &r.waterfall {
        add_row(
            &mut t,
            style,
            vec![
                w.rule.clone(),
                group(w.removed),
                group(w.remaining),
                pct(w.remaining, r.rows),
            ],
        );
    }
    push(&mut out, t);

    if !r.limits.is_empty() {
        heading(&mut out, "Limits");
        let mut t = table(style, &["limit", "approved", "total limit"], 1);
        for l in &r.limits {
            add_row(
                &mut t,
                style,
                vec![
                    l.amount
                        .as_deref()
                        .map_or_else(|| "(no band)".to_owned(), money_grouped),
                    group(l.approved),
                    money_grouped(&l.total_limit),
                ],
            );
        }
        push(&mut out, t);
    }

    for (field, rows) in &r.segments {
        heading(&mut out, &format!("Segments by {field}"));
        let with_bads = rows.iter().any(|s| s.bads.is_some());
        let mut cols = vec![
            field.as_str(),
            "rows",
            "approved",
            "review",
            "declined",
            "approval rate",
        ];
        if with_bads {
            cols.extend(["bads", "approved bads", "approved bad rate"]);
        }
        let modelled = rows.iter().any(|s| s.repayment.is_some());
        if modelled {
            cols.extend(["expected defaults", "expected loss"]);
        }
        let calibrated = rows.iter().any(|s| s.calibration.is_some());
        if calibrated {
            cols.push("calibration");
        }
        let mut t = table(style, &cols, 1);
        for s in rows {
            let mut row = vec![
                s.value.clone(),
                group(s.rows),
                group(s.approved),
                group(s.review),
                group(s.declined),
                pct(s.approved, s.rows),
            ];
            if let (Some(b), Some(ab)) = (s.bads, s.approved_bads) {
                row.extend([group(b), group(ab), pct(ab, s.approved)]);
            }
            if let Some(p) = &s.repayment {
                row.extend([
                    format!("{:.2}", p.expected_defaults),
                    money_grouped(&p.expected_loss),
                ]);
            }
            match &s.calibration {
                Some(c) => row.push(super::repayment_table::verdict(c)),
                None if calibrated => row.push(NOT_A_RATE.to_owned()),
                None => {}
            }
            add_row(&mut t, style, row);
        }
        push(&mut out, t);
    }

    if let Some(p) = &r.repayment {
        heading(&mut out, "Repayment (expected over approved rows)");
        let mut t = table(style, &["measure", "value"], 1);
        add_row(
            &mut t,
            style,
            vec![
                "expected defaults".to_owned(),
                format!("{:.2}", p.expected_defaults),
            ],
        );
        add_row(
            &mut t,
            style,
            vec!["expected loss".to_owned(), money_grouped(&p.expected_loss)],
        );
        add_row(
            &mut t,
            style,
            vec![
                "expected revenue".to_owned(),
                money_grouped(&p.expected_revenue),
            ],
        );
        for (name, share) in p.outcomes.entries() {
            add_row(
                &mut t,
                style,
                vec![
                    format!("p({name})"),
                    share.map_or_else(|| NOT_A_RATE.to_owned(), |s| format!("{:.2}%", s * 100.0)),
                ],
            );
        }
        if let Some(b) = p.expected_bureau_reported {
            add_row(
                &mut t,
                style,
                vec!["expected reported to bureau".to_owned(), format!("{b:.2}")],
            );
        }
        if p.unmodelled > 0 {
            add_row(
                &mut t,
                style,
                vec![
                    "approved rows no outcome band matched".to_owned(),
                    group(p.unmodelled),
                ],
            );
        }
        push(&mut out, t);
        super::repayment_table::render(&mut out, style, p, &heading);
    }

    if let Some(o) = &r.observed {
        heading(&mut out, "Backtest (observed outcomes)");
        let mut t = table(style, &["population", "bads", "bad rate"], 1);
        add_row(
            &mut t,
            style,
            vec![
                "approved".to_owned(),
                group(o.bads),
                pct(o.bads, r.approved),
            ],
        );
        add_row(
            &mut t,
            style,
            vec![
                "all rows".to_owned(),
                group(o.population_bads),
                pct(o.population_bads, r.rows),
            ],
        );
        push(&mut out, t);
    }

    let m = &r.manifest;
    let data = if m.parts.is_empty() {
        format!(
            "data sha256 {}",
            m.data_sha256
                .as_deref()
                .map_or("(none: the file changed while read)", |h| &h[..12])
        )
    } else {
        format!("data merged from {} parts", m.parts.len())
    };
    let _ = writeln!(
        out,
        "polsim {} · policy sha256 {} · {data}",
        m.polsim,
        &m.policy_sha256[..12],
    );
    if !m.params.is_empty() {
        let params: Vec<String> = m
            .params
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                if m.set.contains(k) {
                    format!("{k}={v} (--set)")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "params: {}",
            crate::error::printable(&params.join(", "))
        );
    }
    out
}

/// A table with right-aligned numeric columns from `first_numeric` on.
pub(crate) fn table(style: Style, header: &[&str], first_numeric: usize) -> Table {
    let mut t = Table::new();
    t.load_style(match style {
        Style::Terminal => UTF8_FULL_CONDENSED,
        Style::Markdown => ASCII_MARKDOWN,
    });
    t.set_header(header.iter().map(|h| escape(style, h)).collect::<Vec<_>>());
    for i in first_numeric..header.len() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// Adds a row of cells, each escaped for `style`.
pub(crate) fn add_row(t: &mut Table, style: Style, row: Vec<String>) {
    t.add_row(
        row.iter()
            .map(|c| escape(style, c).into_owned())
            .collect::<Vec<_>>(),
    );
}

/// Text from the data or the policy (a segment's value, a reason) as it can
/// be shown: control characters escaped (`\n`, `\u{1b}`), so a value cannot
/// split a row or drive the terminal, and in Markdown `|` escaped as `\|`,
/// so it cannot add a column.
fn escape(style: Style, text: &str) -> std::borrow::Cow<'_, str> {
    let text = crate::error::printable(text);
    if style == Style::Markdown && text.contains('|') {
        return std::borrow::Cow::Owned(text.replace('|', "\\|"));
    }
    text
}

/// A table, then a blank line so that text after it is its own paragraph.
pub(crate) fn push(out: &mut String, t: Table) {
    let _ = writeln!(out, "{t}\n");
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a table shows for a rate of nothing (no rows, no approved rows),
/// where JSON has `null`.
pub(crate) const NOT_A_RATE: &str = "n/a";

/// `part / whole` as a percentage with two decimals, rounded half away from
/// zero on the exact fraction (65.205% shows as 65.21%, not as the nearest
/// double's 65.20%); [`NOT_A_RATE`] when `whole` is zero.
pub(crate) fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return NOT_A_RATE.to_owned();
    }
    let hundredths = (u128::from(part) * 20_000 + u128::from(whole)) / (2 * u128::from(whole));
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentages_round_the_exact_fraction() {
        assert_eq!(super::pct(13041, 20000), "65.21%");
        assert_eq!(super::pct(1, 3), "33.33%");
        assert_eq!(super::pct(2, 3), "66.67%");
        assert_eq!(super::pct(0, 7), "0.00%");
        assert_eq!(super::pct(7, 7), "100.00%");
        assert_eq!(super::pct(1, 0), "n/a");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1000), "1,000");
        assert_eq!(super::group(1234567), "1,234,567");
    }
}
