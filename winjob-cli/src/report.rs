//! The report of `winjob run`: what ended PROGRAM, and what the tree used.
//!
//! One [`Report`] is printed as text or as JSON (`"schema": 1`, each field
//! documented in the README). A figure the OS does not give is `null`, and
//! [`Report::unavailable`] says why; each figure names what it measures
//! where OSes differ (a cgroup's memory charge is not a resident set).

use serde::Serialize;

use crate::parse::format_size;

/// The JSON report's schema version: fields are only added within one.
pub(crate) const SCHEMA: u32 = 1;

/// The report (see the README's "Report" section for every field).
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) schema: u32,
    pub(crate) program: String,
    /// winjob's own exit code.
    pub(crate) exit_code: i64,
    /// `exit`, `signal`, `timeout`, `limit`, `interrupt` or `failure`.
    pub(crate) ended_by: &'static str,
    /// How PROGRAM ended: `{"code": N}` or `{"signal": N, "name": "KILL"}`;
    /// `null` if it was not seen to end.
    pub(crate) program_exit: Option<ProgramExit>,
    /// The stop request winjob received, if any.
    pub(crate) interrupt: Option<InterruptReport>,
    /// The stop signals winjob inherited as ignored and left ignored
    /// (`nohup` makes `SIGHUP` one): the tree ignores them too.
    pub(crate) signals_ignored: Vec<String>,
    /// `--timeout`, if it expired.
    pub(crate) timeout: Option<TimeoutReport>,
    /// The limits that were hit, by the flag's name: `memory`,
    /// `process-memory`, `max-processes`, `cpu-time`, `timeout`.
    pub(crate) limits_hit: Vec<&'static str>,
    pub(crate) wall_seconds: f64,
    pub(crate) cpu: Cpu,
    pub(crate) memory: Memory,
    pub(crate) processes: Processes,
    pub(crate) io: Io,
    /// Why a `null` figure is `null`, by its path (`memory.peak_job_bytes`).
    pub(crate) unavailable: std::collections::BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum ProgramExit {
    Code {
        code: i64,
    },
    Signal {
        signal: i32,
        name: Option<&'static str>,
    },
}

#[derive(Debug, Serialize)]
pub(crate) struct InterruptReport {
    /// `SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`.
    pub(crate) signal: String,
    /// How many arrived; a second one kills the job at once.
    pub(crate) count: u32,
}

#[derive(Debug, Serialize)]
pub(crate) struct TimeoutReport {
    pub(crate) seconds: f64,
    /// The signal of the graceful stop (`SIGTERM`), or null on Windows.
    pub(crate) signal: Option<String>,
    pub(crate) grace_seconds: f64,
    /// True if the grace period ran out and the tree was killed.
    pub(crate) killed: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Cpu {
    pub(crate) user_seconds: Option<f64>,
    pub(crate) kernel_seconds: Option<f64>,
    /// Where the times come from: `job` (the job's own accounting: every
    /// process that was in it) or `rusage` (the processes winjob and the
    /// tree reaped).
    pub(crate) source: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Memory {
    /// The largest memory of any one process.
    pub(crate) peak_process_bytes: Option<u64>,
    /// What `peak_process_bytes` measures.
    pub(crate) peak_process_measures: Option<&'static str>,
    /// The most memory of the whole job at once.
    pub(crate) peak_job_bytes: Option<u64>,
    /// What `peak_job_bytes` measures.
    pub(crate) peak_job_measures: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Processes {
    /// Every process that was in the job.
    pub(crate) total: Option<u64>,
    /// The most at once that winjob saw.
    pub(crate) peak: Option<u64>,
    /// What `--max-processes` counts here, at its highest (Linux: tasks,
    /// threads included, `pids.peak`), when the limit is set.
    pub(crate) limit_counted_peak: Option<u64>,
    /// Orphans of the tree that winjob reaped as their subreaper (Linux).
    pub(crate) orphans_reaped: Option<u64>,
    /// Processes still in the job when PROGRAM ended.
    pub(crate) left_when_program_ended: Option<u64>,
    /// What winjob did with those: `none` (there were none), `killed`,
    /// `waited` (`--wait-all`), `kept` (`--keep`), `stopped` (timeout or
    /// interrupt).
    pub(crate) leftovers: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct Io {
    pub(crate) read_bytes: Option<u64>,
    pub(crate) write_bytes: Option<u64>,
    pub(crate) read_operations: Option<u64>,
    pub(crate) write_operations: Option<u64>,
    /// What the four above count: every I/O call (Windows) or block-device
    /// I/O (Linux `io.stat`).
    pub(crate) measures: Option<&'static str>,
    /// File-system blocks read and written, 512-byte units (`rusage`: what
    /// `time -v` calls file system inputs and outputs).
    pub(crate) file_system_inputs: Option<u64>,
    pub(crate) file_system_outputs: Option<u64>,
}

impl Report {
    /// As JSON, one line.
    pub(crate) fn json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"schema\":{SCHEMA},\"error\":\"{e}\"}}"))
    }

    /// As text, for a terminal.
    pub(crate) fn text(&self) -> String {
        let secs = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.3} s"));
        let size = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), format_size);
        let count = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), |n| n.to_string());
        let what = |v: Option<&str>| v.map_or_else(String::new, |m| format!(" ({m})"));
        let exit = match &self.program_exit {
            Some(ProgramExit::Code { code }) => format!("exit code {code}"),
            Some(ProgramExit::Signal { signal, name }) => match name {
                Some(name) => format!("killed by signal {signal} (SIG{name})"),
                None => format!("killed by signal {signal}"),
            },
            None => "end unknown".to_owned(),
        };
        let ended = match self.ended_by {
            "timeout" => match &self.timeout {
                Some(t) if t.killed => format!(
                    "; --timeout {:.3} s expired, killed after the {:.3} s grace period",
                    t.seconds, t.grace_seconds
                ),
                Some(t) => format!("; --timeout {:.3} s expired, stopped", t.seconds),
                None => "; --timeout expired".to_owned(),
            },
            "interrupt" => match &self.interrupt {
                Some(i) if i.count > 1 => {
                    format!("; winjob got {} ({} times): job killed", i.signal, i.count)
                }
                Some(i) => format!("; winjob got {}: job stopped", i.signal),
                None => String::new(),
            },
            "limit" => format!("; ended by a limit: {}", self.limits_hit.join(", ")),
            _ => String::new(),
        };
        let limits = if self.limits_hit.is_empty() {
            "none".to_owned()
        } else {
            self.limits_hit.join(", ")
        };
        let tasks = self
            .processes
            .limit_counted_peak
            .map_or_else(String::new, |n| format!(" ({n} tasks at most)"));
        let fs = match (self.io.file_system_inputs, self.io.file_system_outputs) {
            (Some(i), Some(o)) => format!("; file system {i} blocks in, {o} out"),
            _ => String::new(),
        };
        format!(
            "winjob: {program}: {exit}{ended}; winjob exits with {code}\n\
             \x20 wall time:     {wall:.3} s\n\
             \x20 cpu:           {user} user, {kernel} kernel{cpu_source}\n\
             \x20 peak memory:   {peak_proc} per process{proc_what}; {peak_job} job{job_what}\n\
             \x20 processes:     {total} total, {peak} at most at once{tasks}; left at the end: {left} ({leftovers})\n\
             \x20 io:            read {rb}, written {wb}{io_what}{fs}\n\
             \x20 limits hit:    {limits}",
            program = self.program,
            code = self.exit_code,
            wall = self.wall_seconds,
            user = secs(self.cpu.user_seconds),
            kernel = secs(self.cpu.kernel_seconds),
            cpu_source = what(self.cpu.source),
            peak_proc = size(self.memory.peak_process_bytes),
            proc_what = what(self.memory.peak_process_measures),
            peak_job = size(self.memory.peak_job_bytes),
            job_what = what(self.memory.peak_job_measures),
            total = count(self.processes.total),
            peak = count(self.processes.peak),
            left = count(self.processes.left_when_program_ended),
            leftovers = self.processes.leftovers,
            rb = size(self.io.read_bytes),
            wb = size(self.io.write_bytes),
            io_what = what(self.io.measures),
        )
    }
}
