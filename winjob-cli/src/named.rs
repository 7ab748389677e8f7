//! `winjob caps`, and the subcommands on named jobs: `ps`, `stat`, `kill`.

use std::process::ExitCode;

use serde_json::json;
use winjob::{Job, Stopped};

use crate::cli::{CapsArgs, KillArgs, LIMIT_FLAGS, NameArgs};
use crate::{EXIT_FAILURE, EXIT_NO_SUCH_JOB, EXIT_USAGE, fail, say};

/// `winjob caps`.
pub(crate) fn caps(args: &CapsArgs) -> ExitCode {
    let caps = match winjob::capabilities() {
        Ok(caps) => caps,
        Err(e) => return fail(&format!("cannot detect capabilities: {e}"), EXIT_FAILURE),
    };
    if args.json {
        let limits: Vec<_> = caps
            .limits
            .iter()
            .map(|l| {
                json!({
                    "limit": l.limit,
                    "flag": LIMIT_FLAGS.iter().find(|(n, _)| *n == l.limit).map(|(_, f)| f),
                    "enforced": l.enforced,
                    "how": l.how,
                })
            })
            .collect();
        let value = json!({
            "mode": caps.mode.as_str(),
            "job_root": caps.job_root.as_ref().map(|p| p.display().to_string()),
            "contained": caps.contained,
            "kill_on_owner_crash": caps.kill_on_owner_crash,
            "atomic_terminate": caps.atomic_terminate,
            "reason": caps.reason,
            "limits": limits,
        });
        say(format_args!("{value}"));
    } else {
        // The library names each limit; the flag that sets it follows.
        let text = caps.to_string();
        for line in text.lines() {
            let flagged = line
                .strip_prefix("limit ")
                .and_then(|rest| rest.split_once(':'))
                .and_then(|(name, rest)| {
                    let (_, flag) = LIMIT_FLAGS.iter().find(|(n, _)| *n == name)?;
                    Some(format!("limit {name} ({flag}):{rest}"))
                });
            say(format_args!("{}", flagged.as_deref().unwrap_or(line)));
        }
    }
    ExitCode::SUCCESS
}

fn open(name: &str) -> Result<Job, ExitCode> {
    Job::open(name).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => fail(&format!("NAME {name:?}: {e}"), EXIT_USAGE),
        std::io::ErrorKind::NotFound => {
            fail(&format!("no job is named {name:?}"), EXIT_NO_SUCH_JOB)
        }
        _ => fail(&format!("cannot open job {name:?}: {e}"), EXIT_FAILURE),
    })
}

/// `winjob ps NAME`: each member's pid, CPU time, memory and name, from
/// `Job::processes`.
pub(crate) fn ps(args: &NameArgs) -> ExitCode {
    let job = match open(&args.name) {
        Ok(job) => job,
        Err(code) => return code,
    };
    let mut processes = match job.processes() {
        Ok(processes) => processes,
        Err(e) => {
            return fail(
                &format!("cannot list job {:?}: {e}", args.name),
                EXIT_FAILURE,
            );
        }
    };
    processes.sort_unstable_by_key(|p| p.pid);
    if args.json {
        match serde_json::to_string(&processes) {
            Ok(text) => say(format_args!("{text}")),
            Err(e) => return fail(&format!("cannot write JSON: {e}"), EXIT_FAILURE),
        }
    } else {
        say(format_args!(
            "{:>8} {:>10} {:>10} NAME",
            "PID", "CPU", "MEMORY"
        ));
        for process in processes {
            say(format_args!("{process}"));
        }
    }
    ExitCode::SUCCESS
}

/// `winjob stat NAME`.
pub(crate) fn stat(args: &NameArgs) -> ExitCode {
    let job = match open(&args.name) {
        Ok(job) => job,
        Err(code) => return code,
    };
    let acct = match job.accounting() {
        Ok(acct) => acct,
        Err(e) => {
            return fail(
                &format!("cannot read the accounting of {:?}: {e}", args.name),
                EXIT_FAILURE,
            );
        }
    };
    if args.json {
        match serde_json::to_string(&acct) {
            Ok(text) => say(format_args!("{text}")),
            Err(e) => return fail(&format!("cannot write JSON: {e}"), EXIT_FAILURE),
        }
    } else {
        say(format_args!("{acct}"));
    }
    ExitCode::SUCCESS
}

/// `winjob kill NAME`.
pub(crate) fn kill(args: &KillArgs) -> ExitCode {
    let job = match open(&args.name) {
        Ok(job) => job,
        Err(code) => return code,
    };
    let result = if args.grace.is_zero() {
        job.terminate(1)
            .and_then(|()| job.wait())
            .map(|()| Stopped::Killed)
    } else {
        job.stop(args.grace)
    };
    match result {
        Ok(Stopped::Gracefully) => {
            eprintln!("winjob: every process of {:?} exited", args.name);
            ExitCode::SUCCESS
        }
        Ok(Stopped::Killed) => {
            eprintln!("winjob: the processes of {:?} were killed", args.name);
            ExitCode::SUCCESS
        }
        Err(e) => fail(
            &format!("cannot stop job {:?}: {e}", args.name),
            EXIT_FAILURE,
        ),
    }
}
