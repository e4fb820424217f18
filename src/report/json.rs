//! JSON: the machine-readable report of SPEC §3. Field order is fixed by the
//! report structs, so the same run gives byte-identical output.

use crate::report::simulation::SimulationReport;

pub fn render(report: &SimulationReport) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a report always serialises");
    text.push('\n');
    text
}
