//! `polsim completions SHELL` and `polsim man`: shell completions and a man
//! page, generated from the command-line definition itself, so they never
//! fall behind it. Both print to standard output.

use super::Cli;
use crate::error::Result;
use clap::CommandFactory;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {}

/// Written into memory first: the generators panic on a failed write, and
/// a closed or full standard output is an error like any other here.
pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut command = Cli::command();
    let mut text = Vec::new();
    clap_complete::generate(args.shell, &mut command, "polsim", &mut text);
    write_out(&text)
}

/// The man page `polsim(1)`: every subcommand, the options of `polsim`.
pub fn man(_: &ManArgs) -> Result<()> {
    let mut text = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut text)
        .map_err(super::stdout_error)?;
    write_out(&text)
}

fn write_out(text: &[u8]) -> Result<()> {
    let mut out = super::stdout();
    out.write_all(text)
        .and_then(|()| out.flush())
        .map_err(super::stdout_error)
}
