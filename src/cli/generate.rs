//! `polsim gen --rows N --seed S [-o FILE]`: a synthetic user dataset.

use super::write_atomically;
use crate::error::{Error, Result};
use crate::synthetic;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of users (rows) to write.
    #[arg(long, value_name = "N")]
    pub rows: u64,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub seed: u64,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    match &args.output {
        Some(path) => write_atomically(path, |out| {
            synthetic::write_dataset(out, args.rows, args.seed).map_err(|e| Error::write(path, e))
        }),
        None => synthetic::write_dataset(super::stdout(), args.rows, args.seed)
            .map_err(super::stdout_error),
    }
}
