//! Datasets: CSV read in record-aligned chunks, parsed into typed column batches.

mod arrow_fill;
pub mod batch;
pub mod chunker;
pub mod fingerprint;
pub mod parquet;
mod regular;
pub mod schema;
pub mod stream;
pub mod value;
