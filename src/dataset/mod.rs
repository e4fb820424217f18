//! Datasets: CSV read in record-aligned chunks, parsed into typed column batches.

pub mod value;
