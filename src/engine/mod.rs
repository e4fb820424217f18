//! Evaluation: a compiled policy applied to typed batches. Pure, no IO.

pub mod arith;
pub mod evaluate;
pub mod kernels;
#[cfg(test)]
mod lowering_tests;
pub mod native_script;
#[cfg(test)]
mod native_script_tests;
pub mod pass;
pub mod rhai_row;
pub mod script_trace;
pub mod segments;
pub mod trace;

pub use evaluate::{Decisions, Evaluator, Outcome};
