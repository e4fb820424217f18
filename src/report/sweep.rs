//! The `sweep` report in every format, and its trade-off chart.

use super::svg::{PlotPoint, YAxis, trade_off};
use super::table::{NOT_A_RATE, Style, add_row, group, push, table};
use super::{Format, money_grouped};
use crate::report::sweep_points::{SweepPoint, SweepReport};
use std::fmt::Write;

/// Renders `report` in `format`, ending with a newline.
pub fn render(report: &SweepReport, format: Format) -> String {
    match format {
        Format::Json => {
            let mut text =
                serde_json::to_string_pretty(report).expect("a report always serialises");
            text.push('\n');
            text
        }
        Format::Csv => csv(report),
        Format::Table => human(report, Style::Terminal),
        Format::Markdown => human(report, Style::Markdown),
    }
}

/// A rate as a table shows it: a percentage with two decimals.
fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{:.2}%", r * 100.0),
        None => NOT_A_RATE.to_owned(),
    }
}

/// A swept value as the JSON report (and `simulate`'s manifest) shows it:
/// `0600` and `+600` are `600`.
fn shown(value: &str) -> String {
    match crate::report::simulation::param_json(value) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn human(r: &SweepReport, style: Style) -> String {
    let mut out = String::new();
    let title = format!(
        "sweep of {} over {} — {} points, {} rows",
        crate::error::printable(&r.policy),
        r.params.join(" × "),
        r.points.len(),
        group(r.rows)
    );
    match style {
        Style::Terminal => writeln!(out, "{title}\n"),
        Style::Markdown => writeln!(out, "# {title}\n"),
    }
    .expect("writing to a string");
    let observed = r.points.iter().any(|p| p.observed.is_some());
    let repayment = r.points.iter().any(|p| p.repayment.is_some());
    // Where a step sends users to review rather than declining them, the
    // approvals it loses are not all declines: say how many are reviewed.
    let review = r.points.iter().any(|p| p.review > 0);
    let mut header: Vec<&str> = r.params.iter().map(String::as_str).collect();
    header.extend(["approved", "approval rate"]);
    if review {
        header.push("review");
    }
    if observed {
        header.extend(["bads", "bad rate", "marginal bad rate"]);
    }
    if repayment {
        header.extend(["expected loss", "expected revenue"]);
    }
    let mut t = table(style, &header, r.params.len());
    for p in &r.points {
        let mut row: Vec<String> = p
            .params
            .iter()
            .enumerate()
            .map(|(i, (_, v))| {
                let last = i + 1 == p.params.len();
                if last && p.current {
                    format!("{} (current)", shown(v))
                } else {
                    shown(v)
                }
            })
            .collect();
        row.extend([group(p.approved), percent(p.approval_rate)]);
        if review {
            row.push(group(p.review));
        }
        if observed {
            let o = p.observed.as_ref();
            row.extend([
                o.map_or(String::new(), |o| group(o.bads)),
                percent(o.and_then(|o| o.bad_rate)),
                p.marginal_bad_rate
                    .map_or_else(|| "—".to_owned(), |m| percent(Some(m))),
            ]);
        }
        if repayment {
            let money = |f: fn(&SweepPoint) -> Option<&String>| {
                f(p).map_or(String::new(), |m| money_grouped(m))
            };
            row.extend([
                money(|p| p.repayment.as_ref().map(|r| &r.expected_loss)),
                money(|p| p.repayment.as_ref().map(|r| &r.expected_revenue)),
            ]);
        }
        add_row(&mut t, style, row);
    }
    push(&mut out, t);
    if observed {
        let _ = writeln!(
            out,
            "The marginal bad rate is the bad rate of the users between a row and the one above \
             it: (bads - bads above) / (approved - approved above), what a cutoff is chosen on; \
             — where there is no row above or the approvals do not change."
        );
        if let [first, last] = r.params.as_slice() {
            let _ = writeln!(
                out,
                "Here it runs along `{}`, within each `{}` (the first row of each `{}` has none).",
                crate::error::printable(last),
                crate::error::printable(first),
                crate::error::printable(first)
            );
        }
    }
    if r.skipped_rows > 0 {
        let _ = writeln!(out, "Skipped {} malformed row(s).", group(r.skipped_rows));
    }
    out
}

/// Long format: one line per point and metric, as `simulate`'s CSV.
fn csv(r: &SweepReport) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let number = |x: Option<f64>| x.map_or(String::new(), |x| x.to_string());
    let mut header: Vec<String> = r.params.clone();
    header.extend(["metric".to_owned(), "value".to_owned()]);
    let _ = w.write_record(&header);
    for p in &r.points {
        let mut row = |metric: &str, value: String| {
            let mut record: Vec<String> = p.params.iter().map(|(_, v)| shown(v)).collect();
            record.extend([metric.to_owned(), value]);
            let _ = w.write_record(&record);
        };
        row("approved", p.approved.to_string());
        row("declined", p.declined.to_string());
        row("review", p.review.to_string());
        row("approval_rate", number(p.approval_rate));
        row("approved_exposure", p.approved_exposure.clone());
        if let Some(o) = &p.observed {
            row("observed.bads", o.bads.to_string());
            row("observed.bad_rate", number(o.bad_rate));
            row("marginal_bad_rate", number(p.marginal_bad_rate));
        }
        if let Some(m) = &p.repayment {
            row(
                "repayment.expected_defaults",
                m.expected_defaults.to_string(),
            );
            row("repayment.expected_loss", m.expected_loss.clone());
            row("repayment.expected_revenue", m.expected_revenue.clone());
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The trade-off chart: approval rate against bad rate or expected loss.
pub fn plot(r: &SweepReport, y: YAxis) -> String {
    let two = r.params.len() == 2;
    let points: Vec<PlotPoint> = r
        .points
        .iter()
        .map(|p| {
            let (last_name, last) = p.params.last().expect("a point has params");
            PlotPoint {
                label: if two {
                    shown(last)
                } else {
                    format!("{last_name}={}", shown(last))
                },
                series: if two {
                    format!("{}={}", p.params[0].0, shown(&p.params[0].1))
                } else {
                    String::new()
                },
                x: p.approval_rate,
                y: match y {
                    YAxis::BadRate => p.observed.as_ref().and_then(|o| o.bad_rate),
                    YAxis::Loss => p
                        .repayment
                        .as_ref()
                        .and_then(|m| m.expected_loss.parse::<f64>().ok()),
                },
                current: p.current,
            }
        })
        .collect();
    let title = format!(
        "{}: approval rate against {}",
        r.policy,
        match y {
            YAxis::BadRate => "bad rate",
            YAxis::Loss => "expected loss",
        }
    );
    // With two parameters a point's label is its value of the second: say so.
    let what = match r.params.as_slice() {
        [first, last] => format!(
            "{} × {} (a line per {first}, points labelled with {last})",
            first, last
        ),
        _ => r.params.join(" × "),
    };
    let subtitle = format!(
        "sweep of {what} on {} rows{}",
        group(r.rows),
        r.manifest
            .data_sha256
            .as_deref()
            .map_or(String::new(), |h| format!(", data sha256 {}", &h[..12]))
    );
    trade_off(&title, &subtitle, &points, y)
}
