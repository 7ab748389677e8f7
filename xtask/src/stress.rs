//! `cargo xtask stress [--full]`: the stress suite, `winjob-testbins/tests/stress.rs`.
//!
//! Its tests are `#[ignore]`d, so the ordinary suites leave them out; this
//! runs them (`--ignored`, one at a time, since they count the resources of
//! the whole test process) natively once per Linux mode this host provides
//! (`WINJOB_MODE`), checking afterwards that no job directory or helper is
//! left, and then under Wine with a server for the run. The sizes go to the
//! tests through the environment: bounded ones that keep `cargo xtask ci`'s
//! stress step to about three minutes on a 2-core machine, or with `--full`
//! the sizes issue #7 names (10 000 job lifetimes, 100 owner kills).
//!
//! What each test proves is said at the top of `stress.rs`; every figure it
//! measures is printed (`--show-output`) and shows in this task's output.

use std::process::Command;
use std::time::Instant;

use crate::ci::{LINUX_MODES, SuiteOutcome, mode_root, no_leftovers, report};
use crate::isolate::Isolation;
use crate::run::{Counts, Failed, Outcome, cargo_test, cargo_test_command};
use crate::wine;

/// How hard each test pushes.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Job lifetimes (create, spawn, terminate, drop).
    cycles: u32,
    /// Spawns by each of the 16 spawning threads.
    spawns: u32,
    /// Owners killed at pseudo-random moments.
    kills: u32,
    /// Members each killed owner spawns.
    members: u32,
    /// How long the fork bomb is watched pushing against its limit.
    bomb_secs: u32,
    /// Watched jobs created and dropped by 8 threads.
    watched: u32,
}

/// Natively (measured on the 2-core CI machine) a job lifetime costs 3 to
/// 7 ms and an owner run about 30 ms; each Linux mode gets these.
const CI_LINUX: Sizes = Sizes {
    cycles: 1_000,
    spawns: 4,
    kills: 100,
    members: 10,
    bomb_secs: 2,
    watched: 1_000,
};

/// Under Wine a process start costs tens of milliseconds: a job lifetime
/// 15 to 30 ms, an owner run with 4 members about 120 ms.
const CI_WINE: Sizes = Sizes {
    cycles: 300,
    spawns: 2,
    kills: 20,
    members: 4,
    bomb_secs: 2,
    watched: 100,
};

const FULL_LINUX: Sizes = Sizes {
    cycles: 10_000,
    spawns: 16,
    kills: 100,
    members: 10,
    bomb_secs: 10,
    watched: 10_000,
};

const FULL_WINE: Sizes = Sizes {
    cycles: 10_000,
    spawns: 8,
    kills: 100,
    members: 6,
    bomb_secs: 10,
    watched: 1_000,
};

impl Sizes {
    fn apply(self, command: &mut Command) {
        command
            .env("WINJOB_STRESS_CYCLES", self.cycles.to_string())
            .env("WINJOB_STRESS_SPAWNS", self.spawns.to_string())
            .env("WINJOB_STRESS_KILLS", self.kills.to_string())
            .env("WINJOB_STRESS_OWNER_MEMBERS", self.members.to_string())
            .env("WINJOB_STRESS_BOMB_SECS", self.bomb_secs.to_string())
            .env("WINJOB_STRESS_WATCHED", self.watched.to_string());
    }
}

/// `cargo test` of the stress binary alone, its ignored tests one at a time.
fn stress_test(target: Option<&str>) -> Command {
    let mut command = cargo_test_command();
    if let Some(target) = target {
        command.args(["--target", target]);
    }
    command.args([
        "-p",
        "winjob-testbins",
        "--test",
        "stress",
        "--",
        "--ignored",
        "--show-output",
        "--test-threads=1",
    ]);
    command
}

/// The stress suite natively, in each Linux mode this host provides.
pub(crate) fn linux(full: bool) -> Outcome {
    let sizes = if full { FULL_LINUX } else { CI_LINUX };
    let mut total = Counts::default();
    let mut failures = Vec::new();
    for mode in LINUX_MODES {
        let root = match mode_root(mode) {
            Ok(root) => root,
            Err(why) => {
                println!("skipped: stress, {mode}: this host cannot provide it: {why}");
                total.skipped.push(format!("stress, {mode}: {why}"));
                continue;
            }
        };
        let mut test = stress_test(None);
        test.env("WINJOB_MODE", mode);
        sizes.apply(&mut test);
        match cargo_test(&mut test).and_then(|counts| {
            no_leftovers(root.as_deref())?;
            Ok(counts)
        }) {
            Ok(counts) => total.add(counts),
            Err(Failed { why, counts }) => {
                failures.push(format!("{mode}: {why}"));
                total.add(*counts);
            }
        }
    }
    if failures.is_empty() {
        Ok(total)
    } else {
        Err(Failed {
            why: failures.join("; "),
            counts: Box::new(total),
        })
    }
}

/// The stress suite under Wine, with a server for the run.
pub(crate) fn windows(full: bool) -> Outcome {
    let sizes = if full { FULL_WINE } else { CI_WINE };
    let server = wine::Server::start()?;
    let mut test = stress_test(Some(wine::TARGET));
    wine::configure(&mut test);
    sizes.apply(&mut test);
    let result = cargo_test(&mut test);
    // Stopping the server closes whatever output it still held open.
    drop(server);
    result
}

/// `cargo xtask stress [--full]`: both sides, then a summary.
pub(crate) fn run_command(args: &[&str]) -> Result<(), String> {
    let full = match args {
        [] => false,
        ["--full"] => true,
        _ => {
            return Err(format!(
                "unknown arguments {args:?}; usage: cargo xtask stress [--full]"
            ));
        }
    };
    wine::ensure_tools()?;
    let started = Instant::now();
    let outcomes = {
        let _isolation = Isolation::enter();
        vec![
            SuiteOutcome {
                suite: "stress: linux".into(),
                result: linux(full),
            },
            SuiteOutcome {
                suite: "stress: windows under Wine".into(),
                result: windows(full),
            },
        ]
    };
    let title = if full {
        "winjob stress --full"
    } else {
        "winjob stress"
    };
    report(title, &outcomes, &[], started.elapsed());
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if failed > 0 {
        return Err(format!("{failed} stress suite(s) failed"));
    }
    Ok(())
}
