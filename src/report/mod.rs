//! Output formats for the `simulate` report, one file per format, and the
//! SVG chart of `sweep --plot`.

pub mod csv;
pub mod json;
pub mod markdown;
pub mod svg;
pub mod table;

use crate::cli::Format;
use crate::simulate::report::SimulationReport;

/// Renders `report` in `format`, ending with a newline.
pub fn render(report: &SimulationReport, format: Format) -> String {
    match format {
        Format::Table => table::render(report),
        Format::Markdown => markdown::render(report),
        Format::Json => json::render(report),
        Format::Csv => csv::render(report),
    }
}
