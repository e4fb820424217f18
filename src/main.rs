//! The `polsim` binary: parse arguments, run, map errors to exit codes.

use clap::Parser;
use polsim::cli::{self, Cli};
use polsim::error::Error;
use polsim::note;

fn main() -> std::process::ExitCode {
    // A panic inside a script becomes an error naming the row; say nothing of it here.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !polsim::engine::rhai_row::in_rhai() {
            default_hook(info);
        }
    }));
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A closed pipe (`polsim decide ... | head`) is the reader's choice, not an error.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            match &e {
                Error::CheckFailed(summary) => note!("check failed: {summary}"),
                other => note!("{other}"),
            }
            std::process::ExitCode::from(e.exit_code() as u8)
        }
    }
}
