//! `cargo xtask`: the workspace's harness and maintenance tasks.
//!
//! ```text
//! cargo xtask ci                  every check and every test suite (what CI runs)
//! cargo xtask linux               the Linux integration suites, in each mode
//! cargo xtask wine [FILTER...]    the Windows suites under Wine (FILTERs select tests)
//! cargo xtask vm [FILTER...]      the Linux suites in a pure cgroup v2 QEMU VM
//! cargo xtask vm --shell          a shell in that VM, for debugging
//! cargo xtask bindings [--check]  regenerate (or check) the Win32 bindings
//! cargo xtask bench               performance figures, Linux and Wine (target/bench/results.json)
//! cargo xtask stress [--full]     the stress suite, Linux modes and Wine (--full: issue #7's sizes)
//! cargo xtask soak [--runs N] [--load] [--suite TEXT]...
//!                                 the suites N times (--load: a busy loop per core beside them);
//!                                 lists every test that failed at least once
//! ```

use std::process::ExitCode;

mod bench;
mod bindings;
mod ci;
mod isolate;
mod run;
mod soak;
mod stress;
mod vm;
mod wine;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["ci"] => ci::ci(),
        ["linux"] => ci::linux(),
        ["wine", filters @ ..] => ci::windows(filters),
        ["vm", rest @ ..] => vm::run_command(rest),
        ["bindings"] => bindings::run(false),
        ["bindings", "--check"] => bindings::run(true),
        ["bench"] => bench::run(),
        ["stress", rest @ ..] => stress::run_command(rest),
        ["soak", rest @ ..] => soak::run_command(rest),
        _ => Err(format!(
            "unknown arguments {args:?}; usage: cargo xtask ci | linux | wine [FILTER...] | vm [--shell | FILTER...] | bindings [--check] | bench | stress [--full] | soak [--runs N] [--load] [--suite TEXT]..."
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
