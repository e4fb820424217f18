//! Evaluation: a compiled policy applied to typed batches. Pure, no IO.

pub mod decide;
pub mod evaluate;
pub mod kernels;

pub use evaluate::{Decisions, Evaluator, Outcome};
