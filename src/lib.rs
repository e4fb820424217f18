//! polsim: a rules engine for credit eligibility and policy simulation.
//!
//! Policies (YAML) are loaded and compiled once into a [`policy::CompiledPolicy`];
//! datasets (CSV) stream through in record-aligned chunks that are parsed into
//! typed column batches in parallel; the engine evaluates a batch into
//! decisions, and simulation folds decisions into mergeable aggregates. The
//! command-line front end in [`cli`] only wires these stages together.

pub mod cli;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod policy;
pub mod report;
pub mod simulate;
pub mod synthetic;
