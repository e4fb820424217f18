//! polsim: a rules engine for credit eligibility and policy simulation.
//!
//! Policies (YAML) are loaded and compiled once into a [`policy::CompiledPolicy`];
//! datasets (CSV) stream through in record-aligned chunks that are parsed into
//! typed column batches in parallel; the engine evaluates a batch into
//! decisions, and simulation folds decisions into mergeable aggregates. The
//! command-line front end in [`cli`] only wires these stages together.

/// `println!` that never panics. A failed write is kept and becomes the
/// run's error when the command ends (exit 2), except a closed pipe
/// (`| head`), which is the reader's choice.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics, for notes and errors on standard error.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod cli;
pub mod dataset;
pub mod engine;
pub mod error;
/// Fuzz-target bodies, shared by `fuzz/` and the regression test.
#[doc(hidden)]
pub mod fuzzing;
pub mod panics;
pub mod policy;
pub mod report;
pub mod simulate;
pub mod synthetic;
