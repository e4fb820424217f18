//! Fuzz-target bodies, shared by `fuzz/` and the regression test.
//!
//! Each function takes the raw bytes a fuzzer made, decodes them into
//! something meaningful (a dataset and how to read it, a policy, an
//! expression or a script with rows to run it on), runs polsim on it and
//! checks the result against an oracle. It panics exactly when it finds a
//! bug: a disagreement with the oracle, or a panic inside polsim. Errors
//! polsim reports on bad input are not bugs, and return quietly.
//!
//! The targets in `fuzz/fuzz_targets/` are one-line calls of these; the
//! `fuzz_regressions` integration test replays every input under
//! `fuzz/regressions/<target>/` and `fuzz/seeds/<target>/` through them on
//! the stable toolchain, and the property tests of the engine use the same
//! comparisons on generated expressions and scripts.

mod csv_reader;
mod grammar;
mod lowered;
mod native_script;
mod policy_load;

pub use csv_reader::csv_reader;
pub use lowered::{Truths, lowered_expr, lowered_law, lowered_truths};
pub use native_script::{native_script, native_vs_rhai, traces_native_vs_rhai};
pub use policy_load::policy_load;

use crate::dataset::batch::{Batch, Parser};
use crate::dataset::chunker::Chunker;
use crate::dataset::schema::Schema;
use crate::policy::CompiledPolicy;

/// A target's body.
pub type Target = fn(&[u8]);

/// The names of the targets, as directories of `fuzz/seeds/` and
/// `fuzz/regressions/`, with their bodies.
pub const TARGETS: [(&str, Target); 4] = [
    ("csv_reader", csv_reader),
    ("policy_load", policy_load),
    ("lowered_expr", lowered_expr),
    ("native_script", native_script),
];

/// The fields of the rows the expression and script targets run on:
/// `a, b` ints, `d` decimal, `f` float, `p` bool, `s` string.
pub const ROW_FIELDS: &str = "a: int, b: int, d: decimal, f: float, p: bool, s: string";

/// The cells a byte can pick for each of `a, b, d, f, p, s` (the first of
/// each is a missing value). Small values mostly, and the edges of each type.
const CELLS: [&[&str]; 6] = [
    &[
        "",
        "0",
        "1",
        "2",
        "3",
        "-1",
        "-7",
        "19",
        "40",
        "1000000",
        "9223372036854775807",
        "-9223372036854775808",
        "4294967296",
    ],
    &[
        "",
        "0",
        "1",
        "5",
        "-3",
        "2",
        "9223372036854775807",
        "-9223372036854775807",
    ],
    &[
        "",
        "0",
        "0.5",
        "-1.25",
        "2.00",
        "3",
        "0.1",
        "99999999999999.99",
        "-0.01",
        "7.125",
    ],
    &[
        "", "0", "0.5", "-2.25", "3.0", "1e300", "-0.0", "0.1", "2.5e-8", "40",
    ],
    &["", "true", "false", "yes", "0"],
    &["", "x", "y", "z", "é", "X"],
];

/// Decodes rows of `a,b,d,f,p,s` from the start of `data`: one byte for the
/// number of rows (1 to 6), then a byte per cell. Returns the rows (as CSV
/// lines) and the rest of `data`.
pub(crate) fn decode_rows(data: &[u8]) -> (Vec<String>, &[u8]) {
    let Some((&n, mut rest)) = data.split_first() else {
        return (vec!["0,0,0,0,true,x".to_owned()], data);
    };
    let n = 1 + usize::from(n) % 6;
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let cells: Vec<&str> = CELLS
            .iter()
            .enumerate()
            .map(|(i, table)| {
                let pick = rest.get(i).copied().unwrap_or(1);
                table[usize::from(pick) % table.len()]
            })
            .collect();
        rest = rest.get(6..).unwrap_or(&[]);
        let row = cells.join(",");
        // A row of blanks is refused by the reader: give it a value.
        rows.push(if cells.iter().all(|c| c.is_empty()) {
            format!("0{row}")
        } else {
            row
        });
    }
    (rows, rest)
}

/// `data` (a header and rows, one chunk's worth) parsed for `policy`.
pub fn batch_of(policy: &CompiledPolicy, data: &str) -> Batch {
    let mut chunker = Chunker::new(data.as_bytes(), 1 << 16, "t.csv");
    let header = chunker.header().unwrap().unwrap();
    let schema = Schema::resolve("t.csv", &header, &policy.columns).unwrap();
    let chunk = chunker.next_chunk().unwrap().unwrap();
    let mut batch = Batch::new(&schema);
    Parser::default()
        .parse(
            &crate::dataset::batch::Piece::Text(&chunk),
            &schema,
            false,
            &mut batch,
            &mut Vec::new(),
        )
        .unwrap();
    batch
}

/// The rows as a dataset of `a,b,d,f,p,s`.
pub fn dataset_of(rows: &[String]) -> String {
    format!("a,b,d,f,p,s\n{}\n", rows.join("\n"))
}
