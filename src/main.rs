//! The `polsim` binary: parse arguments, run, map errors to exit codes.

use clap::Parser;
use polsim::cli::{self, Cli};
use polsim::error::Error;
use polsim::note;

/// Checks the standard streams before Rust's runtime starts: the runtime
/// opens `/dev/null` on a closed one itself, which would hide that standard
/// output was closed (`>&-`) and make every write to it succeed.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static GUARD_STANDARD_FDS: extern "C" fn() = {
    extern "C" fn guard() {
        cli::guard_standard_fds();
    }
    guard
};

/// Counts what each thread allocates, so a script row that holds too much
/// memory is stopped (see `polsim::policy::script::memory`).
#[global_allocator]
static ALLOCATOR: polsim::policy::script::memory::Meter = polsim::policy::script::memory::Meter;

fn main() -> std::process::ExitCode {
    // A panic inside a script or a damaged file's decoder becomes an error
    // naming the row or the file; say nothing of it here.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !polsim::panics::quiet() {
            default_hook(info);
        }
    }));
    let cli = Cli::parse();
    let mut outcome = cli::run(cli);
    // A failed `say!` outweighs a failed check: the report did not get out.
    // A closed pipe does not: `check ... | head -1` still says whether it passed.
    if let Err(e) = cli::finish_stdout()
        && (outcome.is_ok() || matches!(outcome, Err(Error::CheckFailed(_))) && !closed_pipe(&e))
    {
        outcome = Err(e);
    }
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A closed pipe (`polsim decide ... | head`) is the reader's choice, not an error.
        Err(e) if closed_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match &e {
                Error::CheckFailed(summary) => note!("check failed: {summary}"),
                other => note!("{other}"),
            }
            std::process::ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn closed_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } | Error::Stdout(source)
        if source.kind() == std::io::ErrorKind::BrokenPipe)
}
