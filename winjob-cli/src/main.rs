//! `winjob`: run a program and its whole process tree in a job.
//!
//! ```text
//! winjob run [OPTIONS] -- PROGRAM [ARGS...]   run PROGRAM in a job, with limits
//! winjob caps [--json]                        what jobs can enforce on this machine
//! winjob ps NAME                              the processes of a named job
//! winjob stat NAME [--json]                   the accounting of a named job
//! winjob kill NAME [--grace D]                stop a named job
//! ```
//!
//! Exit codes of `winjob run`: PROGRAM's own exit code (128+N if a signal N
//! ended it); [`EXIT_LIMIT`] (123) when a job limit ended it; [`EXIT_TIMEOUT`]
//! (124) when `--timeout` ended it; [`EXIT_INTERRUPTED`] (130) when Ctrl+C
//! (or SIGTERM) did; [`EXIT_FAILURE`] (125) when winjob itself
//! failed; [`EXIT_USAGE`] (2) for a bad command line, in which case nothing was
//! started.
#![forbid(unsafe_code)]

mod cli;
mod named;
mod parse;
#[cfg(test)]
mod proptests;
mod run;

use std::process::ExitCode;

use clap::Parser;

/// Bad command line (also: PROGRAM not found, a limit this machine cannot
/// enforce without `--best-effort`). Nothing was started.
pub(crate) const EXIT_USAGE: u8 = 2;
/// A job limit (CPU time, memory) ended PROGRAM.
pub(crate) const EXIT_LIMIT: u8 = 123;
/// `--timeout` expired and winjob ended the tree.
pub(crate) const EXIT_TIMEOUT: u8 = 124;
/// `winjob run` was interrupted (Ctrl+C, SIGTERM) and stopped the job: 130,
/// as a shell reports a command ended by SIGINT.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;
/// winjob itself failed (creating the job, waiting, reporting).
pub(crate) const EXIT_FAILURE: u8 = 125;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            return match refusal(&e) {
                (code, Some(line)) => fail(&line, code),
                (code, None) => {
                    let _ = e.print();
                    ExitCode::from(code)
                }
            };
        }
    };
    match cli.command {
        cli::Command::Run(args) => run::run(&args),
        cli::Command::Caps(args) => named::caps(&args),
        cli::Command::Ps(args) => named::ps(&args),
        cli::Command::Stat(args) => named::stat(&args),
        cli::Command::Kill(args) => named::kill(&args),
    }
}

/// How `winjob` answers a command line clap did not take: the exit code, and
/// the one line for stderr, or `None` when clap's own text is printed (help
/// and version: exit 0; help shown for a missing subcommand: a usage error).
fn refusal(e: &clap::Error) -> (u8, Option<String>) {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => (0, None),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => (EXIT_USAGE, None),
        _ => {
            // One line: clap's first line, without its "error: " prefix.
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = first.join(" ");
            let line = line.strip_prefix("error: ").unwrap_or(&line).to_owned();
            (EXIT_USAGE, Some(line))
        }
    }
}

/// Writes one line on stdout. When the reader has gone away (`winjob caps |
/// head -1`), winjob ends at once and quietly with 141, the status a shell
/// reports for a tool that `SIGPIPE` ended (what a coreutils tool does),
/// instead of panicking; any other write error is winjob's failure (125).
pub(crate) fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        eprintln!("winjob: cannot write to stdout: {e}");
        std::process::exit(i32::from(EXIT_FAILURE));
    }
}

/// What `say` exits with when stdout's reader has gone: 128 + `SIGPIPE` (13).
const EXIT_BROKEN_PIPE: i32 = 141;

/// Prints `winjob: message` on stderr and returns `code`.
pub(crate) fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("winjob: {message}");
    ExitCode::from(code)
}
