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
//! Exit codes of `winjob run` follow GNU `timeout` (see [`cli`]'s help
//! and the README's table): PROGRAM's own code, or 128+N when signal N
//! ended it; [`EXIT_LIMIT`] (123) a job limit; [`EXIT_TIMEOUT`] (124)
//! `--timeout`; [`EXIT_FAILURE`] (125) winjob itself failed or the command
//! line is wrong; [`EXIT_CANNOT_RUN`] (126) PROGRAM was found but cannot
//! run; [`EXIT_NOT_FOUND`] (127) it was not found; 128+N when winjob itself
//! received signal N (130 Ctrl+C, 143 SIGTERM, 129 SIGHUP) and stopped the
//! job; 137 when `--timeout`'s grace period ran out and the tree was killed.
#![forbid(unsafe_code)]

mod cli;
mod named;
mod parse;
#[cfg(test)]
mod proptests;
mod report;
mod run;
mod sys;

use std::process::ExitCode;

use clap::Parser;

/// A bad command line: nothing was started. The same code as a failure of
/// winjob's own, as `timeout` has it: 125 never comes from PROGRAM's side
/// of the table.
pub(crate) const EXIT_USAGE: u8 = 125;
/// A job limit (CPU time, memory) ended PROGRAM.
pub(crate) const EXIT_LIMIT: u8 = 123;
/// `--timeout` expired and winjob ended the tree.
pub(crate) const EXIT_TIMEOUT: u8 = 124;
/// winjob itself failed (creating the job, waiting, reporting).
pub(crate) const EXIT_FAILURE: u8 = 125;
/// PROGRAM was found but cannot run (not executable, a directory, a bad
/// format).
pub(crate) const EXIT_CANNOT_RUN: u8 = 126;
/// PROGRAM was not found.
pub(crate) const EXIT_NOT_FOUND: u8 = 127;
/// What `winjob run` exits with when the grace period after `--timeout` ran
/// out and the tree was killed: 128 + `SIGKILL`, as `timeout -k` reports.
pub(crate) const EXIT_KILLED: u8 = 137;
/// `winjob ps/stat/kill NAME`: no job has that name (as `pgrep` and `kill`
/// say "nothing matched").
pub(crate) const EXIT_NO_SUCH_JOB: u8 = 1;

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
            let mut line = line.strip_prefix("error: ").unwrap_or(&line).to_owned();
            if let Some(hint) = dash_dash_hint(e.kind(), std::env::args_os().skip(1)) {
                line.push_str(hint);
            }
            (EXIT_USAGE, Some(line))
        }
    }
}

/// The hint for `winjob run PROGRAM ARGS` typed without `--`: clap takes
/// PROGRAM for an unknown argument (or a missing one, when only options
/// follow `run`).
fn dash_dash_hint(
    kind: clap::error::ErrorKind,
    mut args: impl Iterator<Item = std::ffi::OsString>,
) -> Option<&'static str> {
    use clap::error::ErrorKind;
    if !matches!(
        kind,
        ErrorKind::UnknownArgument | ErrorKind::MissingRequiredArgument
    ) {
        return None;
    }
    let first = args.next()?;
    let rest: Vec<_> = args.collect();
    (first == "run" && !rest.iter().any(|a| a == "--"))
        .then_some("; put -- before PROGRAM: winjob run [OPTIONS] -- PROGRAM [ARGS...]")
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
