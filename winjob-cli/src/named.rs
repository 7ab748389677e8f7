//! `winjob caps`, and the subcommands on named jobs: `ps`, `stat`, `kill`.

use std::process::ExitCode;

use serde_json::json;
use winjob::{Job, Stopped};

use crate::cli::{CapsArgs, KillArgs, NameArgs};
use crate::{EXIT_FAILURE, EXIT_USAGE, fail};

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
            .map(|l| json!({ "limit": l.limit, "enforced": l.enforced, "how": l.how }))
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
        println!("{value}");
    } else {
        println!("{caps}");
    }
    ExitCode::SUCCESS
}

fn open(name: &str) -> Result<Job, ExitCode> {
    Job::open(name).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => fail(&format!("NAME {name:?}: {e}"), EXIT_USAGE),
        std::io::ErrorKind::NotFound => fail(&format!("no job is named {name:?}"), EXIT_FAILURE),
        _ => fail(&format!("cannot open job {name:?}: {e}"), EXIT_FAILURE),
    })
}

/// The name and CPU time (seconds) of a process, where this OS lets us read
/// them without unsafe code.
fn process_info(pid: u32) -> (Option<String>, Option<f64>) {
    #[cfg(target_os = "linux")]
    {
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|s| s.trim_end().to_owned());
        // utime and stime are fields 14 and 15, after the ")" ending comm.
        let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let rest = &stat[stat.rfind(')')? + 1..];
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let utime: u64 = fields.get(11)?.parse().ok()?;
                let stime: u64 = fields.get(12)?.parse().ok()?;
                // USER_HZ is 100 on every Linux architecture that matters.
                Some((utime + stime) as f64 / 100.0)
            });
        (name, cpu)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        (None, None)
    }
}

/// `winjob ps NAME`.
pub(crate) fn ps(args: &NameArgs) -> ExitCode {
    let job = match open(&args.name) {
        Ok(job) => job,
        Err(code) => return code,
    };
    let mut pids = match job.pids() {
        Ok(pids) => pids,
        Err(e) => {
            return fail(
                &format!("cannot list job {:?}: {e}", args.name),
                EXIT_FAILURE,
            );
        }
    };
    pids.sort_unstable();
    if args.json {
        let rows: Vec<_> = pids
            .iter()
            .map(|&pid| {
                let (name, cpu) = process_info(pid);
                json!({ "pid": pid, "name": name, "cpu_time": cpu })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!("{:>8}  {:>10}  NAME", "PID", "CPU");
        for pid in pids {
            let (name, cpu) = process_info(pid);
            let cpu = cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2}s"));
            println!("{pid:>8}  {cpu:>10}  {}", name.as_deref().unwrap_or("?"));
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
            Ok(text) => println!("{text}"),
            Err(e) => return fail(&format!("cannot write JSON: {e}"), EXIT_FAILURE),
        }
    } else {
        println!("{acct}");
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
