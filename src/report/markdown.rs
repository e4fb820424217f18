//! Markdown: the table report with Markdown tables and headings, for pasting
//! into a pull request or a wiki page.

use super::table::{Style, render_with};
use crate::report::simulation::SimulationReport;

pub fn render(report: &SimulationReport) -> String {
    render_with(report, Style::Markdown)
}
