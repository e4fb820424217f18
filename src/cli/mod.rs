//! The command line: one file per subcommand, each with its `Args` and `run`.
//!
//! Raw arguments become validated options here (parameters, formats, thread
//! counts) before any work starts; the library below knows nothing of clap.

mod check;
mod decide;
mod generate;
mod simulate;

use crate::dataset::batch::SkippedRows;
use crate::dataset::stream::StreamOptions;
use crate::error::{Error, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;

/// A rules engine for credit eligibility and policy simulation.
#[derive(Debug, Parser)]
#[command(name = "polsim", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate policies; with --data, check the dataset fits them.
    Check(check::Args),
    /// One decision per row: key, outcome, reasons, limit.
    Decide(decide::Args),
    /// The headline report: approvals, decline reasons, waterfall, segments.
    Simulate(simulate::Args),
    /// Write a realistic synthetic user dataset.
    Gen(generate::Args),
}

/// Runs the parsed command; the error says how to exit.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Decide(a) => decide::run(&a),
        Command::Simulate(a) => simulate::run(&a),
        Command::Gen(a) => generate::run(&a),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
}

/// Options every command that runs a policy shares.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Override a policy parameter (repeatable), e.g. `--set min_score=650`.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_assignment)]
    pub set: Vec<(String, String)>,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar, no notes on standard error.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options for commands that read a dataset.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// The dataset (CSV with a header row); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub data: std::path::PathBuf,
    /// Count and skip malformed rows instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl Common {
    pub fn format(&self) -> Format {
        self.format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        })
    }

    pub fn stream(&self) -> StreamOptions {
        let mut options = StreamOptions::default();
        if let Some(n) = self.threads.filter(|n| *n > 0) {
            options.threads = n;
        }
        options.progress =
            !self.quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        options
    }

    /// Prints a note on standard error unless `--quiet`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            note!("{text}");
        }
    }
}

fn parse_assignment(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not NAME=VALUE; write e.g. `--set min_score=650`"
        )),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, renamed
/// into place only once complete, so a failed run never leaves a file that
/// looks finished.
pub fn write_atomically(
    path: &std::path::Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".polsim-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::write(path, std::io::Error::from(e.kind())))?;
    {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut out)?;
        std::io::Write::flush(&mut out).map_err(|e| Error::write(path, e))?;
    }
    // Temporary files are private (0600); the result is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    replace_with(tmp, path)
}

/// Puts the complete temporary file where the user asked for it.
///
/// An existing file there is swapped with it in one atomic step
/// (`RENAME_EXCHANGE`), then the old contents are deleted with the temporary
/// name. A plain rename over an existing file would do the same, but ext4
/// takes it for an application replacing a file without `fsync` and writes
/// the new file's blocks out there and then (`auto_da_alloc`): for a 350 MB
/// decisions file, a rerun spent longer in that than in deciding. Like the
/// rename, the exchange leaves durability to the kernel's usual write-back.
fn replace_with(tmp: tempfile::NamedTempFile, path: &std::path::Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if renameat_with(CWD, tmp.path(), CWD, path, RenameFlags::EXCHANGE).is_ok() {
            // `tmp` now names the old contents; dropping it deletes them.
            drop(tmp);
            return Ok(());
        }
    }
    // The error names the temporary file; name the file the user asked for.
    tmp.persist(path)
        .map_err(|e| Error::write(path, std::io::Error::from(e.error.kind())))?;
    Ok(())
}

/// The warning for a dataset that changed during the pass (`--skip-bad-rows`).
pub fn changed_warning(data: &str) -> String {
    format!(
        "warning: dataset `{data}` changed while it was read; the results mix its old and new contents and the report has no data hash"
    )
}

/// Lists rows that did not parse on standard error: how many, then the first few.
pub fn report_skipped(headline: &str, skipped: &SkippedRows, data: &str) {
    if skipped.count == 0 {
        return;
    }
    note!("{headline}");
    for s in &skipped.examples {
        note!(
            "  {}:{}: {}",
            crate::error::printable(data),
            s.line,
            crate::error::printable(&s.reason)
        );
    }
    let more = skipped.count - skipped.examples.len() as u64;
    if more > 0 {
        note!("  … and {more} more");
    }
}
