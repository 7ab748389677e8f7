//! The command line, declared with clap.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::parse;

/// Run a program and its whole process tree in a job: limit it, watch it,
/// account for it, and kill all of it at once.
#[derive(Debug, Parser)]
#[command(
    name = "winjob",
    version,
    after_help = "Examples:\n  winjob run --memory 512MiB --timeout 2m -- make -j8\n  winjob caps --json\n\n\
Exit codes of `run`, as GNU timeout's: PROGRAM's exit code (128+N when signal N ended it); \
123 a job limit ended it; 124 --timeout ended it; 125 winjob failed or a bad command line; \
126 PROGRAM cannot run; 127 PROGRAM not found; 137 killed after --timeout's grace period; \
130/143/129 winjob got SIGINT/SIGTERM/SIGHUP and stopped the job.\n\
`ps`, `stat`, `kill`: 0 done, 1 no job has that NAME, 125 failed or a bad command line."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run PROGRAM in a new job, with limits; report what it used.
    Run(Box<RunArgs>),
    /// Show what this machine can enforce: the job mode and each limit.
    #[command(after_help = "Example:\n  winjob caps\n  winjob caps --json")]
    Caps(CapsArgs),
    /// List the processes of a named job (pid, CPU time, memory, name, path with --json).
    #[command(
        after_help = "Example:\n  winjob run --name build --keep -- make -j8 &\n  winjob ps build"
    )]
    Ps(NameArgs),
    /// Show the accounting of a named job.
    #[command(after_help = "Example:\n  winjob stat build --json")]
    Stat(NameArgs),
    /// Stop a named job: ask every process to exit, then kill after the grace period.
    #[command(after_help = "Example:\n  winjob kill build --grace 10s")]
    Kill(KillArgs),
}

/// `winjob run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  winjob run --memory 512MiB --max-processes 64 --timeout 2m -- make -j8\n  \
winjob run --cpu-rate 25% --report json --report-file report.json -- ./bench\n  \
winjob run --timeout 10 -k 2 --preserve-status -- ./flaky-test\n  \
winjob run --name build --keep -- ./server\n\n\
SIZE: 1048576, 512K, 512MiB, 2G (K/M/G/T = 1024-based, KB/MB/GB/TB = 1000-based).\n\
DURATION: 1.5s, 200ms, 2m, 1h (a bare number is seconds).\n\n\
Exit codes (as GNU timeout's):\n  \
PROGRAM's    its own exit code; 128+N if signal N ended it\n  \
123          a job limit (--cpu-time, --memory) ended it\n  \
124          --timeout ended it (PROGRAM's own status with --preserve-status)\n  \
125          winjob itself failed, or a bad command line: nothing was started\n  \
126          PROGRAM was found but cannot run (not executable, a directory)\n  \
127          PROGRAM was not found\n  \
137          --timeout's grace period ran out and the tree was killed\n  \
130/143/129  winjob got SIGINT (Ctrl+C) / SIGTERM / SIGHUP: it stopped the job (the\n               \
first gracefully, with --signal; a second kills it) and exits 128+N\n\n\
Signals: an INT, TERM, HUP or QUIT that winjob inherited as ignored (nohup, `cmd &` in a\n\
script) stays ignored, by winjob and by the tree, which inherits the same disposition;\n\
otherwise each stops the job as above. Ctrl+C on a terminal also reaches the\n\
processes in the terminal's foreground group directly, as it would without winjob."
)]
pub(crate) struct RunArgs {
    /// Memory limit for the whole job (SIZE, at least 1MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory, allow_hyphen_values = true)]
    pub(crate) memory: Option<u64>,
    /// Memory limit for each process (SIZE, at least 1MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory, allow_hyphen_values = true)]
    pub(crate) process_memory: Option<u64>,
    /// Most processes in the job at once (at least 1). Linux counts tasks, so
    /// threads too (the pids controller, at most 4194304); Windows counts
    /// processes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), allow_hyphen_values = true)]
    pub(crate) max_processes: Option<u32>,
    /// Hard CPU cap, as a share of the whole machine (0.01 to 100, e.g. 25 or 12.5%).
    #[arg(long, value_name = "PERCENT", value_parser = parse::parse_percent, allow_hyphen_values = true)]
    pub(crate) cpu_rate: Option<f64>,
    /// User-mode CPU time the whole job may use (DURATION), exited
    /// processes included; then it is killed (exit 123). Kernel-mode time
    /// is not counted, on Linux as on Windows, whose job time limit this is.
    #[arg(long, value_name = "DURATION", value_parser = parse_cpu_time, allow_hyphen_values = true)]
    pub(crate) cpu_time: Option<Duration>,
    /// Wall-clock limit (DURATION; 0 = none): then stop the tree gracefully
    /// with --signal, and kill it after --grace.
    #[arg(long, value_name = "DURATION", value_parser = parse::parse_duration, allow_hyphen_values = true)]
    pub(crate) timeout: Option<Duration>,
    /// How long a graceful stop may take before the tree is killed
    /// (DURATION; 0 kills at once). `-k`/`--kill-after` as timeout has it.
    #[arg(long, short = 'k', visible_alias = "kill-after", value_name = "DURATION", default_value = "5s", value_parser = parse::parse_duration, allow_hyphen_values = true)]
    pub(crate) grace: Duration,
    /// The signal of a graceful stop, by name or number (TERM, INT, HUP,
    /// 15...). Linux only; Windows stops with CTRL_BREAK and WM_CLOSE.
    #[arg(long, short = 's', value_name = "SIGNAL", default_value = "TERM", value_parser = parse::parse_signal)]
    pub(crate) signal: parse::Signal,
    /// After --timeout, exit with PROGRAM's own status instead of 124.
    #[arg(long)]
    pub(crate) preserve_status: bool,
    /// Scheduling priority of every process.
    #[arg(long, value_name = "PRIORITY", value_parser = ["idle", "below-normal", "normal", "above-normal", "high"])]
    pub(crate) priority: Option<String>,
    /// CPUs the processes may run on (a list such as 0,2-3).
    #[arg(long, value_name = "LIST", value_parser = parse_affinity)]
    pub(crate) affinity: Option<winjob::CpuSet>,
    /// Name the job, so that `winjob ps/stat/kill NAME` can find it.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// Windows only: may processes start children outside the job.
    #[arg(long, value_name = "MODE", value_parser = ["never", "allowed", "silent"])]
    pub(crate) breakaway: Option<String>,
    /// Windows only: UI restrictions, comma-separated (handles, read-clipboard,
    /// write-clipboard, system-parameters, display-settings, global-atoms,
    /// desktop, exit-windows, ime, all).
    // The full path keeps clap's derive from reading `Vec` as "repeatable,
    // one item per value" (a panic at parse time): `parse_ui_list` turns the
    // whole LIST, one value, into the `Vec`.
    #[arg(long, value_name = "LIST", value_parser = parse_ui_list)]
    pub(crate) ui_restrict: Option<std::vec::Vec<String>>,
    /// Linux only: first move the processes of winjob's cgroup into a leaf
    /// child, so that jobs get the controllers of a delegated cgroup (run under
    /// `systemd-run --user --scope -p Delegate=yes`).
    #[arg(long)]
    pub(crate) leaf_cgroup: bool,
    /// When PROGRAM exits, wait until every process of the job has exited
    /// (instead of killing them).
    #[arg(long, conflicts_with = "keep")]
    pub(crate) wait_all: bool,
    /// When PROGRAM exits, leave the rest of the job running (needs --name).
    #[arg(long, requires = "name")]
    pub(crate) keep: bool,
    /// Print each job event as it happens, on stderr or to --events-file
    /// (JSON lines with --json).
    #[arg(long)]
    pub(crate) events: bool,
    /// Write the events to PATH instead of stderr (implies --events).
    #[arg(long, value_name = "PATH")]
    pub(crate) events_file: Option<PathBuf>,
    /// The report at the end: text, json (schema 1, see the README) or
    /// none. Default: text, or json with --json.
    #[arg(long, value_name = "FORMAT", value_parser = ["none", "text", "json"])]
    pub(crate) report: Option<String>,
    /// JSON for the report and the events.
    #[arg(long)]
    pub(crate) json: bool,
    /// Write the report to PATH instead of stderr.
    #[arg(long, value_name = "PATH")]
    pub(crate) report_file: Option<PathBuf>,
    /// Nothing of winjob's on the terminal but errors: no status in the
    /// terminal's title, no warnings, no report on stderr (a --report-file
    /// and an --events-file are still written).
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// A limit this machine cannot enforce is a warning, not an error.
    #[arg(long)]
    pub(crate) best_effort: bool,
    /// The program to run, then its arguments.
    #[arg(required = true, last = true, value_name = "PROGRAM")]
    pub(crate) command: Vec<OsString>,
}

/// `winjob caps`.
#[derive(Debug, Args)]
pub(crate) struct CapsArgs {
    /// As JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `winjob ps` and `winjob stat`.
#[derive(Debug, Args)]
pub(crate) struct NameArgs {
    /// The job's name (as given to `winjob run --name`).
    pub(crate) name: String,
    /// As JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `winjob kill`.
#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// The job's name (as given to `winjob run --name`).
    pub(crate) name: String,
    /// How long the processes get to exit before they are killed (DURATION; 0 kills at once).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::parse_duration, allow_hyphen_values = true)]
    pub(crate) grace: Duration,
}

/// The flag that sets `limit` (a library name from [`LIMIT_FLAGS`]).
pub(crate) fn flag_of(limit: &str) -> &'static str {
    LIMIT_FLAGS
        .iter()
        .find(|(l, _)| *l == limit)
        .map_or("a limit", |(_, flag)| flag)
}

/// The library's name of each limit `winjob run` sets, and its flag.
pub(crate) const LIMIT_FLAGS: [(&str, &str); 7] = [
    ("job_memory", "--memory"),
    ("process_memory", "--process-memory"),
    ("active_processes", "--max-processes"),
    ("cpu_rate", "--cpu-rate"),
    ("job_cpu_time", "--cpu-time"),
    ("priority", "--priority"),
    ("affinity", "--affinity"),
];

fn parse_memory(s: &str) -> Result<u64, String> {
    let bytes = parse::parse_size(s)?;
    if bytes < winjob::MIN_MEMORY_LIMIT {
        return Err(format!(
            "{s:?} is below the minimum of 1MiB; expected {}",
            parse::SIZE_FORMS
        ));
    }
    Ok(bytes)
}

fn parse_cpu_time(s: &str) -> Result<Duration, String> {
    let d = parse::parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "{s:?} is zero; expected a positive duration such as 1.5s, 200ms or 2m"
        ));
    }
    Ok(d)
}

/// The CPUs of this machine, where they can be known.
fn machine_cpus() -> Option<winjob::CpuSet> {
    #[cfg(target_os = "linux")]
    if let Ok(text) = std::fs::read_to_string("/sys/devices/system/cpu/possible") {
        return text.trim().parse().ok();
    }
    let n = std::thread::available_parallelism().ok()?.get();
    Some((0..u32::try_from(n).ok()?).collect())
}

fn parse_affinity(s: &str) -> Result<winjob::CpuSet, String> {
    let set: winjob::CpuSet = s.parse().map_err(|e: std::io::Error| e.to_string())?;
    if let Some(cpus) = machine_cpus()
        && let Some(missing) = set.iter().find(|c| !cpus.contains(*c))
    {
        return Err(format!(
            "CPU {missing} does not exist; this machine has CPUs {cpus}"
        ));
    }
    Ok(set)
}

/// The names `--ui-restrict` accepts.
pub(crate) const UI_NAMES: [&str; 10] = [
    "handles",
    "read-clipboard",
    "write-clipboard",
    "system-parameters",
    "display-settings",
    "global-atoms",
    "desktop",
    "exit-windows",
    "ime",
    "all",
];

fn parse_ui_list(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        if !UI_NAMES.contains(&part) {
            return Err(format!(
                "{part:?} is not a UI restriction; accepted: {}",
                UI_NAMES.join(", ")
            ));
        }
        out.push(part.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_flags_parse() {
        let cli = Cli::try_parse_from([
            "winjob",
            "run",
            "--memory",
            "64MiB",
            "--cpu-rate",
            "12.5%",
            "--timeout",
            "1.5s",
            "--affinity",
            "0",
            "--",
            "sh",
            "-c",
            "true",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.memory, Some(64 << 20));
        assert_eq!(run.cpu_rate, Some(12.5));
        assert_eq!(run.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(run.grace, Duration::from_secs(5));
        assert_eq!(run.command, ["sh", "-c", "true"]);
    }

    #[test]
    fn bad_flags_are_refused() {
        for args in [
            &["run", "--memory", "-1", "--", "x"][..],
            &["run", "--memory", "10", "--", "x"],
            &["run", "--cpu-rate", "0", "--", "x"],
            &["run", "--cpu-rate", "150", "--", "x"],
            &["run", "--affinity", "4095", "--", "x"],
            &["run", "--max-processes", "0", "--", "x"],
            &["run", "--cpu-time", "0", "--", "x"],
            &["run", "--signal", "NOPE", "--", "x"],
            &["run", "--report", "xml", "--", "x"],
            &["run", "--keep", "--", "x"],
            &["run", "--priority", "urgent", "--", "x"],
            &["run", "--ui-restrict", "bogus", "--", "x"],
            &["run"],
        ] {
            let argv = std::iter::once("winjob").chain(args.iter().copied());
            assert!(Cli::try_parse_from(argv).is_err(), "{args:?}");
        }
    }
}
