//! The repayment tables of the human `simulate` report: the model's
//! expectations per outcome band with their backtest, the `late_days`
//! buckets, and the Monte Carlo with a text histogram of trial losses.

use super::money_grouped;
use super::repayment::{Calibration, CountDist, MoneyDist, RepaymentStat};
use super::table::{NOT_A_RATE, Style, add_row, group, push, table};
use std::fmt::Write;

/// `z = 1.23, within noise`.
pub fn verdict(c: &Calibration) -> String {
    match c.z {
        Some(z) => format!("z = {z:+.2}: {}", c.verdict),
        None => c.verdict.to_owned(),
    }
}

/// The tables after the repayment summary; `heading` writes a section title.
pub fn render(
    out: &mut String,
    style: Style,
    p: &RepaymentStat,
    heading: &dyn Fn(&mut String, &str),
) {
    if p.bands.len() > 1 || p.bands.iter().any(|b| b.calibration.is_some()) {
        heading(out, "Repayment by outcome band");
        let with_bads = p.bands.iter().any(|b| b.calibration.is_some());
        let mut cols = vec![
            "band",
            "approved",
            "exposure",
            "expected defaults",
            "expected loss",
        ];
        if with_bads {
            cols.extend(["observed bads", "calibration"]);
        }
        let mut t = table(style, &cols, 1);
        for b in &p.bands {
            let mut row = vec![
                b.band.to_string(),
                group(b.approved),
                money_grouped(&b.exposure),
                format!("{:.2}", b.expected_defaults),
                money_grouped(&b.expected_loss),
            ];
            match &b.calibration {
                Some(c) => row.extend([group(c.observed_bads), verdict(c)]),
                // A band without an approved row has nothing to test.
                None if with_bads => row.extend([group(0), NOT_A_RATE.to_owned()]),
                None => {}
            }
            add_row(&mut t, style, row);
        }
        if let Some(c) = &p.calibration {
            let mut row = vec![
                "all".to_owned(),
                group(p.bands.iter().map(|b| b.approved).sum()),
                String::new(),
                format!("{:.2}", c.expected_defaults),
                money_grouped(&p.expected_loss),
            ];
            row.extend([group(c.observed_bads), verdict(c)]);
            add_row(&mut t, style, row);
        }
        push(out, t);
    }
    if p.bands.iter().any(|b| b.observed_outcomes.is_some()) {
        heading(out, "Observed outcomes beside the model (approved rows)");
        let mut t = table(
            style,
            &["band", "outcome", "observed share", "model share"],
            2,
        );
        for b in &p.bands {
            let Some(o) = &b.observed_outcomes else {
                continue;
            };
            for ((name, seen), (_, model)) in
                o.observed.entries().into_iter().zip(o.expected.entries())
            {
                let share = |x: Option<f64>| {
                    x.map_or_else(|| "n/a".to_owned(), |x| format!("{:.2}%", x * 100.0))
                };
                add_row(
                    &mut t,
                    style,
                    vec![
                        b.band.to_string(),
                        name.to_owned(),
                        share(seen),
                        share(model),
                    ],
                );
            }
        }
        push(out, t);
    }
    if !p.late_days.is_empty() {
        heading(out, "Late payments by days past due (expected)");
        let mut t = table(
            style,
            &["days past due", "share", "expected", "reported to bureau"],
            1,
        );
        for l in &p.late_days {
            add_row(
                &mut t,
                style,
                vec![
                    l.days.clone(),
                    // A share of the model, as written (`30%`), not a rate of rows.
                    format!("{}%", ((l.share * 1e6).round() / 1e4)),
                    format!("{:.2}", l.expected),
                    if l.reported { "yes" } else { "no" }.to_owned(),
                ],
            );
        }
        push(out, t);
    }
    let (Some(trials), Some(loss)) = (p.trials, &p.loss) else {
        return;
    };
    let correlation = match p.correlation {
        Some(rho) if rho > 0.0 => format!(", correlation {rho}"),
        _ => ", independent draws".to_owned(),
    };
    heading(
        out,
        &format!(
            "Monte Carlo: {} trial{}, seed {}{correlation}",
            group(trials as u64),
            if trials == 1 { "" } else { "s" },
            p.seed.unwrap_or(0)
        ),
    );
    let mut t = table(
        style,
        &["measure", "mean", "sd", "p5", "p50", "p95", "p99"],
        1,
    );
    let money_row = |name: &str, d: &MoneyDist| {
        vec![
            name.to_owned(),
            money_grouped(&d.mean),
            money_grouped(&d.sd),
            money_grouped(&d.p5),
            money_grouped(&d.p50),
            money_grouped(&d.p95),
            money_grouped(&d.p99),
        ]
    };
    let count_row = |name: &str, d: &CountDist| {
        vec![
            name.to_owned(),
            format!("{:.2}", d.mean),
            format!("{:.2}", d.sd),
            group(d.p5),
            group(d.p50),
            group(d.p95),
            group(d.p99),
        ]
    };
    add_row(&mut t, style, money_row("loss", loss));
    if let Some(r) = &p.revenue {
        add_row(&mut t, style, money_row("revenue", r));
    }
    if let Some(d) = &p.defaults {
        add_row(&mut t, style, count_row("defaults", d));
    }
    if let Some(d) = &p.bureau_reported {
        add_row(&mut t, style, count_row("reported to bureau", d));
    }
    push(out, t);
    // One trial has no spread to estimate a standard error from.
    let se = if trials > 1 {
        format!(" ± {} (standard error)", money_grouped(&loss.se))
    } else {
        " (one trial: no standard error)".to_owned()
    };
    let _ = writeln!(
        out,
        "loss: mean {}{se} against the exact {}; VaR99 {} (the 99th percentile of trial losses); ES99 {} (the mean of the worst 1% of trials)\n",
        money_grouped(&loss.mean),
        money_grouped(&p.expected_loss),
        money_grouped(&loss.var99),
        money_grouped(&loss.es99),
    );
    let most = p
        .loss_histogram
        .iter()
        .map(|b| b.trials)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = p
        .loss_histogram
        .iter()
        .map(|b| money_grouped(&b.from).len() + money_grouped(&b.to).len())
        .max()
        .unwrap_or(0)
        + 3;
    let fence = if style == Style::Markdown {
        "```\n"
    } else {
        ""
    };
    let _ = write!(out, "{fence}");
    let _ = writeln!(out, "trial losses");
    for b in &p.loss_histogram {
        let range = format!("{} – {}", money_grouped(&b.from), money_grouped(&b.to));
        let bar = "█".repeat(((b.trials * 40).div_ceil(most)) as usize);
        let _ = writeln!(out, "  {range:<width$}  {bar} {}", group(b.trials));
    }
    let _ = writeln!(out, "{fence}");
}
