//! The command line: one file per subcommand, each with its `Args` and `run`.
//!
//! Raw arguments become validated options here (parameters, formats, thread
//! counts) before any work starts; the library below knows nothing of clap.

mod check;
mod compare;
mod decide;
mod docs;
mod explain;
mod generate;
mod merge;
mod partial;
mod simulate;
mod snapshot;
mod stdio;
mod sweep;
mod temp;
mod test;

pub use stdio::{finish as finish_stdout, guard_standard_fds, say, stdout, stdout_error};

use crate::dataset::batch::SkippedRows;
use crate::dataset::stream::StreamOptions;
use crate::error::{Error, Result};
use crate::report::Format;
use clap::{Args, Parser, Subcommand};
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
    /// Why one user got their decision: every rule, condition by condition.
    Explain(explain::Args),
    /// Champion against challenger: the swap set, deltas, the rules behind the swaps.
    Compare(compare::Args),
    /// Evaluate a grid of parameter values in one pass: a cutoff table and chart.
    Sweep(sweep::Args),
    /// Merge partial results (`simulate --emit partial`) into the report of the whole.
    Merge(merge::Args),
    /// Run policy test files (`*.test.yaml`): cases and dataset expectations.
    Test(test::Args),
    /// Write a realistic synthetic user dataset.
    Gen(generate::Args),
    /// Print shell completions for polsim (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print polsim's man page (roff), e.g. `polsim man | man -l -`.
    Man(docs::ManArgs),
}

/// Runs the parsed command; the error says how to exit.
pub fn run(cli: Cli) -> Result<()> {
    crate::policy::script::row_deadline_setting().map_err(|message| {
        Error::usage(
            message,
            "set it to the seconds one row of a Rhai script may take (default 2), e.g. `POLSIM_ROW_DEADLINE=10`, or unset it",
        )
    })?;
    match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Decide(a) => decide::run(&a),
        Command::Simulate(a) => simulate::run(&a),
        Command::Compare(a) => compare::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Sweep(a) => sweep::run(&a),
        Command::Merge(a) => merge::run(&a),
        Command::Test(a) => test::run(&a),
        Command::Gen(a) => generate::run(&a),
        Command::Completions(a) => docs::completions(&a),
        Command::Man(a) => docs::man(&a),
    }
}

/// An error about overrides that the user gave with `option` rather than
/// `--set` (they reach the policy as `--set` overrides): its messages name
/// the option the user wrote.
pub(crate) fn as_option(e: Error, option: &str, overrides: &[(String, String)]) -> Error {
    let rename = |d: &mut crate::error::Diagnostic| {
        for (name, value) in overrides {
            d.message = d.message.replace(
                &format!("`--set {name}={value}`"),
                &format!("`{option} {name}={value}`"),
            );
        }
    };
    match e {
        Error::Usage(mut d) => {
            rename(&mut d);
            Error::Usage(d)
        }
        Error::Policy(mut all) => {
            all.iter_mut().for_each(rename);
            Error::Policy(all)
        }
        other => other,
    }
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
    /// Worker threads, at most 256 [default: all cores].
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// No progress bar, no notes on standard error.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options for commands that read a dataset.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// The dataset: CSV with a header row (also .csv.gz, .csv.zst), Parquet, or an Arrow IPC stream; `-` reads standard input
    #[arg(long, value_name = "FILE")]
    pub data: std::path::PathBuf,
    /// Count and skip malformed rows instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

/// `--format`, or the default: a table on a terminal, JSON otherwise.
pub fn format_or_default(format: Option<Format>) -> Format {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    })
}

impl Common {
    pub fn format(&self) -> Format {
        format_or_default(self.format)
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

/// The most worker threads `--threads` accepts: far more than the cores of
/// any machine polsim runs on; each thread holds chunks and buffers.
pub const MAX_THREADS: usize = 256;

fn parse_threads(text: &str) -> std::result::Result<usize, String> {
    let too_many =
        || format!("at most {MAX_THREADS} worker threads; `0` or no `--threads` uses all cores");
    match text.parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        Ok(_) => Err(too_many()),
        // Too large for a number at all is too many threads.
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(too_many()),
        Err(_) => Err(format!(
            "`{text}` is not a number of threads; write e.g. `--threads 4`"
        )),
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

/// Writes the output of `-o FILE`.
///
/// A regular file (new, or one there already) is written atomically: into a
/// temporary file beside it, put into place only once complete, so a failed
/// or interrupted run never leaves a file that looks finished. An existing
/// file keeps its mode (and owner, where polsim may set it); a new one gets
/// 0666 less the umask, as a shell's `>` would give it.
///
/// A symbolic link is followed (through a chain, to the end): the file it
/// names is replaced and the link stays. A dangling link creates the file it
/// names. Anything else that is not a directory — a device such as
/// `/dev/null`, a FIFO — is opened and written through, as a shell's `>`
/// would; it is never replaced. A directory (or a link to one) is an error.
pub fn write_atomically(
    path: &std::path::Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> Result<()>,
) -> Result<()> {
    let target = follow_links(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => Error::Io {
            action: "write",
            path: path.to_owned(),
            help: "the symbolic links lead round in a loop; point one of them at a file",
            source: e,
        },
        _ => Error::write(path, e),
    })?;
    let existing = match std::fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::write(path, e)),
    };
    match &existing {
        Some(m) if m.is_dir() => {
            let what = if target == path {
                "a directory".to_owned()
            } else {
                format!("a symbolic link to the directory `{}`", target.display())
            };
            return Err(Error::usage(
                format!("cannot write to `{}`: it is {what}", path.display()),
                "name a file to write, e.g. `-o out/decisions.csv`",
            ));
        }
        Some(m) if !m.is_file() => return write_through(path, &target, fill),
        _ => {}
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        existing
            .as_ref()
            .map_or(0o666, |m| m.permissions().mode() & 0o777)
    };
    #[cfg(not(unix))]
    let mode = 0o666;
    let mut tmp = temp::Temp::new_in(dir, mode)
        .map_err(|e| Error::write(path, std::io::Error::from(e.kind())))?;
    // The mode given at creation loses the umask's bits; an existing file's
    // mode is kept exactly, after its owner (changing the owner clears set-id bits).
    #[cfg(unix)]
    if let Some(m) = &existing {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid()));
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777));
    }
    {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut out)?;
        std::io::Write::flush(&mut out).map_err(|e| Error::write(path, e))?;
    }
    tmp.finish(|tmp| replace_with(tmp, &target))
        .map_err(|e| Error::write(path, e))
}

/// The path a chain of symbolic links ends at (`path` itself if it is not a
/// link); the end need not exist. Relative links are read from their directory.
fn follow_links(path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let mut at = path.to_path_buf();
    // Linux's own limit on links followed in one lookup.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&at)?;
                at = match at.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(at),
        }
    }
    #[cfg(unix)]
    return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
    #[cfg(not(unix))]
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes into what is already at `target` (a device, a FIFO) without
/// replacing it. A FIFO waits for its reader, as with a shell's `>`.
fn write_through(
    path: &std::path::Path,
    target: &std::path::Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> Result<()>,
) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(|e| Error::write(path, e))?;
    let mut out = std::io::BufWriter::new(file);
    fill(&mut out)?;
    std::io::Write::flush(&mut out).map_err(|e| Error::write(path, e))
}

/// Puts the complete temporary file at `path`, a regular file or nothing.
///
/// An existing file there is swapped with it in one atomic step
/// (`RENAME_EXCHANGE`), then the old contents are deleted with the temporary
/// name. A plain rename over an existing file would do the same, but ext4
/// takes it for an application replacing a file without `fsync` and writes
/// the new file's blocks out there and then (`auto_da_alloc`): for a 350 MB
/// decisions file, a rerun spent longer in that than in deciding. Like the
/// rename, the exchange leaves durability to the kernel's usual write-back.
fn replace_with(tmp: tempfile::NamedTempFile, path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if renameat_with(CWD, tmp.path(), CWD, path, RenameFlags::EXCHANGE).is_ok() {
            // `tmp` now names the old contents; dropping it deletes them.
            drop(tmp);
            return Ok(());
        }
    }
    // The error names the temporary file; the caller names the file the user asked for.
    tmp.persist(path)
        .map_err(|e| std::io::Error::from(e.error.kind()))?;
    Ok(())
}

/// Refuses an output file (`-o OUTPUT`) when it is one of the run's `inputs` (what each is,
/// and its path; `-` is standard input): the same file, by device and inode,
/// whatever the name, a symbolic link or a hard link. Writing the output
/// would replace the input, so this is checked before any work. Only a
/// regular file is at risk: a device or FIFO is written through, not replaced.
///
/// `option` is how the output was named (`-o`, `--partial`, `--plot`) and
/// a file name the help suggests instead.
pub fn refuse_output_onto_inputs(
    option: (&str, &str),
    output: &std::path::Path,
    inputs: &[(&str, &std::path::Path)],
) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(out) = std::fs::metadata(output) else {
            return Ok(());
        };
        if !out.is_file() {
            return Ok(());
        }
        for (what, path) in inputs {
            let input = if path.as_os_str() == "-" {
                use std::os::fd::AsFd;
                std::io::stdin()
                    .as_fd()
                    .try_clone_to_owned()
                    .map(std::fs::File::from)
                    .and_then(|f| f.metadata())
            } else {
                std::fs::metadata(path)
            };
            let Ok(input) = input else { continue };
            if input.dev() == out.dev() && input.ino() == out.ino() {
                let shown = if path.as_os_str() == "-" {
                    "standard input".to_owned()
                } else {
                    format!("`{}`", crate::error::printable(&path.display().to_string()))
                };
                let (flag, example) = option;
                return Err(Error::usage(
                    format!(
                        "`{flag} {}` is the same file as the {what}, {shown}: writing the output would replace it",
                        crate::error::printable(&output.display().to_string())
                    ),
                    format!("write the output to another file, e.g. `{flag} {example}`"),
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (output, inputs);
    Ok(())
}

/// The warning for a dataset that changed during the pass (`--skip-bad-rows`).
pub fn changed_warning(data: &str) -> String {
    format!(
        "warning: dataset `{data}` changed while it was read; the results mix its old and new contents and the report has no data hash"
    )
}

/// Says on standard error that `--skip-bad-rows` skipped rows: how many,
/// then (unless `--quiet`) the first few. For output that does not carry
/// the count itself (`decide`'s): even `--quiet` keeps it, so skipped rows
/// never vanish without a trace.
pub fn report_skipped_rows(common: &Common, skipped: &SkippedRows, data: &str) {
    let headline = format!(
        "note: skipped {} malformed row(s) of `{}` (--skip-bad-rows)",
        skipped.count,
        crate::error::printable(data)
    );
    if common.quiet {
        if skipped.count > 0 {
            note!("{headline}");
        }
    } else {
        report_skipped(&headline, skipped, data);
    }
}

/// The skipped rows of a command whose output carries their count
/// (`simulate`'s and `sweep`'s reports, a partial): listed unless `--quiet`.
pub fn note_skipped_rows(common: &Common, skipped: &SkippedRows, data: &str) {
    if !common.quiet {
        let headline = format!(
            "note: skipped {} malformed row(s) of `{}` (--skip-bad-rows)",
            skipped.count,
            crate::error::printable(data)
        );
        report_skipped(&headline, skipped, data);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_up_to_the_cap() {
        assert_eq!(parse_threads("0"), Ok(0));
        assert_eq!(parse_threads("256"), Ok(256));
        for too_many in [
            "257",
            "100000",
            "18446744073709551615",
            "99999999999999999999999",
        ] {
            let err = parse_threads(too_many).unwrap_err();
            assert!(err.starts_with("at most 256 worker threads"), "{err}");
        }
        assert!(parse_threads("-1").unwrap_err().contains("not a number"));
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_from_their_own_directory() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        std::fs::create_dir(at("sub")).unwrap();
        symlink("../end.csv", at("sub/one")).unwrap();
        symlink("sub/one", at("two")).unwrap();
        assert_eq!(follow_links(&at("two")).unwrap(), at("sub/../end.csv"));
        assert_eq!(follow_links(&at("plain")).unwrap(), at("plain"));
        symlink("b", at("a")).unwrap();
        symlink("a", at("b")).unwrap();
        let err = follow_links(&at("a")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }
}
