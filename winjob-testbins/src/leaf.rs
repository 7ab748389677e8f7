//! `leaf-owner`: a process in a delegated cgroup that opts into the leaf move
//! (`winjob::os::linux::enter_leaf_cgroup`), for the test that checks it.

use std::io::{self, BufRead};
use std::process::{Command, ExitCode, Stdio};

use crate::say;

/// Whether `job_memory` is enforced, and how or why not.
fn memory_support() -> io::Result<String> {
    let caps = winjob::capabilities()?;
    let memory = caps
        .limits
        .iter()
        .find(|l| l.limit == "job_memory")
        .ok_or_else(|| io::Error::other("capabilities list no job_memory"))?;
    let yes = if memory.enforced { "yes" } else { "no" };
    Ok(format!("{yes} {}", memory.how))
}

fn relay(prefix: &str, command: &mut Command) -> io::Result<()> {
    let output = command.stdout(Stdio::piped()).output()?;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        say(&format!("{prefix} {line}"));
    }
    Ok(())
}

pub(crate) fn leaf_owner() -> io::Result<ExitCode> {
    // The test moves this process into the cgroup under test, then says go.
    let mut go = String::new();
    io::stdin().lock().read_line(&mut go)?;
    say(&format!("before-memory {}", memory_support()?));
    let leaf = winjob::os::linux::enter_leaf_cgroup()?;
    say(&format!("leaf {}", leaf.display()));
    let after = memory_support()?;
    say(&format!("after-memory {after}"));
    let mut builder = winjob::Job::builder();
    if after.starts_with("yes") {
        builder.limits(winjob::Limits::new().job_memory(64 << 20));
    }
    let job = builder.create()?;
    let me = std::env::current_exe()?;
    let mut child = job.spawn(Command::new(&me).arg("whereami").stdout(Stdio::piped()))?;
    let output = std::mem::take(&mut child.stdout);
    let text = io::read_to_string(output.ok_or_else(|| io::Error::other("no stdout"))?)?;
    child.wait()?;
    for line in text.lines() {
        say(&format!("job {line}"));
    }
    relay("plain", Command::new(&me).arg("whereami"))?;
    Ok(ExitCode::SUCCESS)
}
