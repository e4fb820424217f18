//! Evaluation: a compiled policy applied to typed batches. Pure, no IO.

pub mod decide;
pub mod evaluate;
pub mod kernels;
pub mod arith;
pub mod rhai_row;

pub use evaluate::{Decisions, Evaluator, Outcome};
