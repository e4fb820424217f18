//! `polsim gen --rows N --seed S [-o FILE]`: a synthetic user dataset, as
//! CSV (gzip- or zstd-compressed when FILE ends in `.gz` or `.zst`).

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
    /// Write to this file instead of standard output (compressed when it ends in .gz or .zst)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    match &args.output {
        Some(path) => {
            let name = path.to_string_lossy().to_ascii_lowercase();
            if [".parquet", ".arrow", ".arrows", ".xz", ".bz2", ".zip"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                return Err(Error::usage(
                    format!(
                        "`gen` writes CSV (plain, or compressed as `.gz` or `.zst`), and `{}` is named as another format",
                        crate::error::printable(&path.display().to_string())
                    ),
                    "name the file `.csv`, `.csv.gz` or `.csv.zst`, and convert it after if you need (`benches/compare.py to-parquet CSV OUT` writes a typed Parquet copy)",
                ));
            }
            write_atomically(path, |out| {
                let write = |out: &mut dyn std::io::Write| {
                    synthetic::write_dataset(out, args.rows, args.seed)
                };
                // Compressed as the name says, as polsim reads it back.
                let written = if name.ends_with(".gz") {
                    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
                    write(&mut gz).and_then(|()| gz.finish().map(drop))
                } else if name.ends_with(".zst") {
                    zstd::stream::write::Encoder::new(out, 3)
                        .and_then(|mut zst| write(&mut zst).and_then(|()| zst.finish().map(drop)))
                } else {
                    write(out)
                };
                written.map_err(|e| Error::write(path, e))
            })
        }
        None => synthetic::write_dataset(super::stdout(), args.rows, args.seed)
            .map_err(super::stdout_error),
    }
}
