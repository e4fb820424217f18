//! CSV: the report as long-format rows `section,item,metric,value`, so every
//! number is one cell a spreadsheet or a dataframe can pick up by name.

use crate::report::simulation::SimulationReport;

pub fn render(r: &SimulationReport) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    {
        let mut row = |section: &str, item: &str, metric: &str, value: String| {
            // Writing into memory cannot fail.
            let _ = w.write_record([section, item, metric, value.as_str()]);
        };
        row("section", "item", "metric", "value".to_owned());
        row("summary", &r.policy, "version", r.version.clone());
        for (metric, v) in [
            ("rows", r.rows),
            ("approved", r.approved),
            ("review", r.review),
            ("declined", r.declined),
            ("skipped_rows", r.skipped.count),
        ] {
            row("summary", &r.policy, metric, v.to_string());
        }
        row(
            "summary",
            &r.policy,
            "approval_rate",
            number(r.approval_rate),
        );
        row(
            "summary",
            &r.policy,
            "approved_exposure",
            r.approved_exposure.clone(),
        );
        for s in &r.reasons {
            row("reason", &s.rule, "reason", s.reason.clone());
            row("reason", &s.rule, "action", s.action.to_owned());
            row("reason", &s.rule, "failed", s.failed.to_string());
            row("reason", &s.rule, "primary", s.primary.to_string());
            row("reason", &s.rule, "sole", s.sole.to_string());
            if let Some(flag) = s.flag {
                row("reason", &s.rule, "flag", flag.to_owned());
            }
        }
        for s in &r.waterfall {
            row("waterfall", &s.rule, "removed", s.removed.to_string());
            row("waterfall", &s.rule, "remaining", s.remaining.to_string());
        }
        for l in &r.limits {
            let item = l.amount.clone().unwrap_or_else(|| "(no band)".to_owned());
            row("limit", &item, "approved", l.approved.to_string());
            row("limit", &item, "total_limit", l.total_limit.clone());
        }
        for (field, values) in &r.segments {
            for s in values {
                let section = format!("segment:{field}");
                row(&section, &s.value, "rows", s.rows.to_string());
                row(&section, &s.value, "approved", s.approved.to_string());
                row(&section, &s.value, "review", s.review.to_string());
                row(&section, &s.value, "declined", s.declined.to_string());
                row(&section, &s.value, "approval_rate", number(s.approval_rate));
                if let (Some(b), Some(ab)) = (s.bads, s.approved_bads) {
                    row(&section, &s.value, "bads", b.to_string());
                    row(&section, &s.value, "approved_bads", ab.to_string());
                }
            }
        }
        if let Some(p) = &r.repayment {
            row(
                "repayment",
                "",
                "expected_defaults",
                p.expected_defaults.to_string(),
            );
            row("repayment", "", "expected_loss", p.expected_loss.clone());
            row(
                "repayment",
                "",
                "expected_revenue",
                p.expected_revenue.clone(),
            );
            row("repayment", "", "unmodelled", p.unmodelled.to_string());
            for (name, share) in p.outcomes.entries() {
                row("repayment", name, "probability", number(share));
            }
            for (name, count) in p.expected_outcomes.entries() {
                row("repayment", name, "expected", number(count));
            }
            if let Some(b) = p.expected_bureau_reported {
                row("repayment", "", "expected_bureau_reported", b.to_string());
            }
            for l in &p.late_days {
                row("late_days", &l.days, "expected", l.expected.to_string());
            }
            for b in &p.bands {
                let band = b.band.to_string();
                row("repayment_band", &band, "approved", b.approved.to_string());
                row(
                    "repayment_band",
                    &band,
                    "expected_defaults",
                    b.expected_defaults.to_string(),
                );
                row(
                    "repayment_band",
                    &band,
                    "expected_loss",
                    b.expected_loss.clone(),
                );
                if let Some(c) = &b.calibration {
                    row(
                        "repayment_band",
                        &band,
                        "observed_bads",
                        c.observed_bads.to_string(),
                    );
                    row("repayment_band", &band, "z", number(c.z));
                    row("repayment_band", &band, "calibration", c.verdict.to_owned());
                }
            }
            if let Some(c) = &p.calibration {
                row("repayment", "", "calibration_z", number(c.z));
                row("repayment", "", "calibration", c.verdict.to_owned());
            }
            // The Monte Carlo of `--trials`, named as its JSON keys.
            if let (Some(trials), Some(seed)) = (p.trials, p.seed) {
                let section = "repayment.trials";
                row(section, "", "trials", trials.to_string());
                row(section, "", "seed", seed.to_string());
                row(
                    section,
                    "",
                    "correlation",
                    p.correlation.unwrap_or(0.0).to_string(),
                );
                for (item, d) in [("loss", &p.loss), ("revenue", &p.revenue)] {
                    let Some(d) = d else { continue };
                    for (metric, v) in [
                        ("mean", &d.mean),
                        ("sd", &d.sd),
                        ("se", &d.se),
                        ("p5", &d.p5),
                        ("p50", &d.p50),
                        ("p95", &d.p95),
                        ("p99", &d.p99),
                        ("var99", &d.var99),
                        ("es99", &d.es99),
                    ] {
                        row(section, item, metric, v.clone());
                    }
                }
                for (item, d) in [
                    ("defaults", &p.defaults),
                    ("bureau_reported", &p.bureau_reported),
                ] {
                    let Some(d) = d else { continue };
                    row(section, item, "mean", d.mean.to_string());
                    row(section, item, "sd", d.sd.to_string());
                    for (metric, v) in
                        [("p5", d.p5), ("p50", d.p50), ("p95", d.p95), ("p99", d.p99)]
                    {
                        row(section, item, metric, v.to_string());
                    }
                }
                for (i, b) in p.loss_histogram.iter().enumerate() {
                    let item = (i + 1).to_string();
                    row("repayment.loss_histogram", &item, "from", b.from.clone());
                    row("repayment.loss_histogram", &item, "to", b.to.clone());
                    row(
                        "repayment.loss_histogram",
                        &item,
                        "trials",
                        b.trials.to_string(),
                    );
                }
            }
        }
        if let Some(o) = &r.observed {
            row("observed", "approved", "bads", o.bads.to_string());
            row("observed", "approved", "bad_rate", number(o.bad_rate));
            row("observed", "all", "bads", o.population_bads.to_string());
            row("observed", "all", "bad_rate", number(o.population_bad_rate));
        }
        row("manifest", "", "polsim", r.manifest.polsim.to_owned());
        row(
            "manifest",
            "",
            "policy_sha256",
            r.manifest.policy_sha256.clone(),
        );
        row(
            "manifest",
            "",
            "data_sha256",
            r.manifest.data_sha256.clone().unwrap_or_default(),
        );
        for (name, value) in &r.manifest.params {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            let metric = if r.manifest.set.contains(name) {
                "param (--set)"
            } else {
                "param"
            };
            row("manifest", name, metric, value);
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A rate as a cell: empty when there is nothing to rate (JSON's `null`).
fn number(rate: Option<f64>) -> String {
    rate.map_or_else(String::new, |r| r.to_string())
}
