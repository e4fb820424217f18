//! Output formats for the `simulate` report, one file per format.

pub mod csv;
pub mod decisions;
pub mod json;
pub mod markdown;
pub mod table;

use crate::simulate::report::SimulationReport;

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
