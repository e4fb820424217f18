//! Output formats for the `simulate` report, one file per format, and the
//! SVG chart of `sweep --plot`.

pub mod compare;
pub mod comparison;
pub mod csv;
pub mod decisions;
pub mod explain;
pub mod json;
pub mod markdown;
pub mod repayment;
pub mod repayment_table;
pub mod simulation;
pub mod svg;
pub mod sweep;
pub mod sweep_points;
pub mod table;

use crate::report::simulation::SimulationReport;
use rust_decimal::{Decimal, RoundingStrategy};

/// The formats a report (and `--format`) can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
}

/// Renders `report` in `format`, ending with a newline.
pub fn render(report: &SimulationReport, format: Format) -> String {
    match format {
        Format::Table => table::render(report),
        Format::Markdown => markdown::render(report),
        Format::Json => json::render(report),
        Format::Csv => csv::render(report),
    }
}

/// Money as JSON, CSV and decisions carry it: rounded half away from zero to
/// cents, always two decimals, no grouping (`122301608.13`).
pub fn money(d: Decimal) -> String {
    let mut cents = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    cents.rescale(2);
    cents.to_string()
}

/// A limit band's amount as reports show it: money, or the expression
/// that computes it per row.
pub fn amount_text(amount: &crate::policy::compile::Amount) -> String {
    use crate::policy::compile::Amount;
    match amount {
        Amount::Fixed(d) => money(*d),
        Amount::Column(_, text) => text.clone(),
    }
}

/// Money as a table shows it: the text [`money`] gives, its whole part
/// digit-grouped like counts (`122,301,608.13`). Text that is not such an
/// amount (a limit computed from a column shows the column's name) is
/// returned as it is.
pub fn money_grouped(money: &str) -> String {
    let (sign, unsigned) = match money.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", money),
    };
    let (whole, cents) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let is_amount = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && cents.bytes().all(|b| b.is_ascii_digit());
    if !is_amount {
        return money.to_owned();
    }
    let mut out = String::with_capacity(money.len() + whole.len() / 3);
    out.push_str(sign);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if unsigned.contains('.') {
        out.push('.');
        out.push_str(cents);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_always_shows_cents_and_rounds_half_away() {
        assert_eq!(money(Decimal::new(5705000, 0)), "5705000.00");
        assert_eq!(money(Decimal::new(12345, 3)), "12.35");
        assert_eq!(money(Decimal::new(-12345, 3)), "-12.35");
        assert_eq!(money(Decimal::new(1, 1)), "0.10");
    }

    #[test]
    fn table_money_is_grouped_like_counts() {
        assert_eq!(money_grouped("122301608.13"), "122,301,608.13");
        assert_eq!(money_grouped("5705000.00"), "5,705,000.00");
        assert_eq!(money_grouped("800.00"), "800.00");
        assert_eq!(money_grouped("0.00"), "0.00");
        assert_eq!(money_grouped("-1234.50"), "-1,234.50");
        assert_eq!(
            money_grouped(&money(Decimal::new(-99999999, 2))),
            "-999,999.99"
        );
        // A limit computed per row is described by its column, kept as it is.
        assert_eq!(money_grouped("credit_line"), "credit_line");
        assert_eq!(money_grouped("1e5"), "1e5");
        // Past what a u64 holds: a sum over many rows.
        assert_eq!(
            money_grouped("123456789012345678901234.56"),
            "123,456,789,012,345,678,901,234.56"
        );
    }
}
