//! `winjob`: run a program and its whole process tree in a job.
//!
//! This is the skeleton of the command; the full set of flags (limits,
//! timeouts, events, reports) is its own piece of work. What works now:
//!
//! ```text
//! winjob caps                 what jobs can do on this machine
//! winjob run -- PROGRAM ARGS  run PROGRAM in a job; when it exits, kill
//!                             whatever it left behind; exit with its code
//! ```
#![forbid(unsafe_code)]

use std::process::{Command, ExitCode};

/// Exit code for usage errors, as for most Unix tools.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("caps") if args.len() == 1 => match winjob::capabilities() {
            Ok(caps) => {
                println!("{caps}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("cannot detect capabilities: {e}"), 1),
        },
        Some("run") => match args.get(1).map(String::as_str) {
            Some("--") if args.len() > 2 => run(&args[2], &args[3..]),
            _ => fail("run: expected `winjob run -- PROGRAM [ARGS...]`", USAGE),
        },
        Some("--version" | "-V") => {
            println!("winjob {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => fail(
            "usage: winjob caps | winjob run -- PROGRAM [ARGS...]",
            USAGE,
        ),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("winjob: {message}");
    ExitCode::from(code)
}

fn run(program: &str, args: &[String]) -> ExitCode {
    let job = match winjob::Job::new() {
        Ok(job) => job,
        Err(e) => return fail(&format!("cannot create a job: {e}"), 1),
    };
    let mut child = match job.spawn(Command::new(program).args(args)) {
        Ok(child) => child,
        Err(e) => return fail(&format!("cannot start {program:?}: {e}"), USAGE),
    };
    let status = match child.wait() {
        Ok(status) => status,
        Err(e) => return fail(&format!("cannot wait for {program:?}: {e}"), 1),
    };
    // Whatever PROGRAM left behind dies with the job.
    if let Err(e) = job.terminate(1).and_then(|()| job.wait()) {
        return fail(&format!("cannot end the processes left in the job: {e}"), 1);
    }
    match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)),
        None => ExitCode::from(128 + 9),
    }
}
