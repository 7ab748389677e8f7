//! `winjob run`: start PROGRAM in a job, watch it, end it, report.
//!
//! # Strategy
//!
//! Nothing sleeps and nothing polls: the main loop blocks in one channel's
//! `recv` (see `sys`), woken by PROGRAM's end, a stop signal, a job event,
//! the job becoming empty, or the next deadline it set itself (`--timeout`,
//! the end of a grace period, the next status in the terminal's title).
//! When PROGRAM has exited (and, with `--wait-all`, the job is empty),
//! whatever is left is killed, the job's last events are drained up to its
//! `Empty`, the orphans are reaped, and the report is printed: a run of
//! `true` costs a few milliseconds more than `true`.
//!
//! The exit code follows GNU `timeout` (the table is in `main.rs`, the
//! help and the README). The first stop signal stops the job gracefully
//! with the same signal, a second kills it; either way winjob exits with
//! the first signal's 128+N, however many arrive.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use winjob::{Accounting, CpuRate, Event, Job, Limits, ProcessExit};

use crate::cli::{LIMIT_FLAGS, RunArgs, flag_of};
use crate::report::{
    Cpu, InterruptReport, Io, Memory, Processes, ProgramExit, Report, SCHEMA, TimeoutReport,
};
use crate::sys::{self, Interrupt, Msg, Supervisor, TreeUsage};
use crate::{
    EXIT_CANNOT_RUN, EXIT_FAILURE, EXIT_KILLED, EXIT_LIMIT, EXIT_NOT_FOUND, EXIT_TIMEOUT,
    EXIT_USAGE, fail,
};

/// How long the end waits for the job's `Empty` event, which closes the
/// tree's events (a limit's event can come after PROGRAM's end): only a
/// bound against one that never comes.
const END_EVENTS_WAIT: Duration = Duration::from_secs(10);

/// How often the status in the terminal's title is redrawn.
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// What the events told.
#[derive(Debug, Default)]
struct Seen {
    /// Every process seen to start, with its name as first read.
    names: BTreeMap<u32, Option<String>>,
    active: u64,
    peak: u64,
    /// By the flag's name, without `--` (one name per limit: flags, events
    /// and report).
    limits_hit: Vec<&'static str>,
    empty: bool,
}

impl Seen {
    fn hit(&mut self, limit: &'static str) {
        if !self.limits_hit.contains(&limit) {
            self.limits_hit.push(limit);
        }
    }
}

/// The name of the limit an event reports, as its flag has it.
fn limit_of(event: &Event) -> Option<&'static str> {
    match event {
        Event::ActiveProcessLimit => Some("max-processes"),
        Event::JobMemoryLimit => Some("memory"),
        Event::ProcessMemoryLimit { .. } => Some("process-memory"),
        Event::EndOfJobTime => Some("cpu-time"),
        Event::EndOfProcessTime { .. } => Some("process-cpu-time"),
        _ => None,
    }
}

/// Builds the limits, refusing or dropping (with `--best-effort`) those this
/// machine cannot enforce. `Err` is the message of a usage error.
pub(crate) fn limits(args: &RunArgs) -> Result<Limits, String> {
    let mut limits = Limits::new();
    // (library name, flag)
    let mut wanted: Vec<&str> = Vec::new();
    if let Some(bytes) = args.memory {
        limits = limits.job_memory(bytes);
        wanted.push("job_memory");
    }
    if let Some(bytes) = args.process_memory {
        limits = limits.process_memory(bytes);
        wanted.push("process_memory");
    }
    if let Some(n) = args.max_processes {
        limits = limits.active_processes(n);
        wanted.push("active_processes");
    }
    if let Some(percent) = args.cpu_rate {
        let rate = CpuRate::percent(percent).map_err(|e| format!("--cpu-rate: {e}"))?;
        limits = limits.cpu_rate(rate);
        wanted.push("cpu_rate");
    }
    if let Some(time) = args.cpu_time {
        limits = limits.job_cpu_time(time);
        wanted.push("job_cpu_time");
    }
    if let Some(priority) = &args.priority {
        let priority = priority
            .parse()
            .map_err(|e: std::io::Error| format!("--priority: {e}"))?;
        limits = limits.priority(priority);
        wanted.push("priority");
    }
    if let Some(cpus) = &args.affinity {
        limits = limits.affinity(cpus.clone());
        wanted.push("affinity");
    }
    if wanted.is_empty() {
        return Ok(limits);
    }
    let caps = winjob::capabilities().map_err(|e| format!("cannot detect capabilities: {e}"))?;
    for limit in wanted {
        let flag = flag_of(limit);
        let Some(support) = caps.limits.iter().find(|l| l.limit == limit) else {
            continue;
        };
        if support.enforced {
            continue;
        }
        if !args.best_effort {
            return Err(format!(
                "{flag}: this machine cannot enforce it ({}); use --best-effort to go on without it",
                support.how
            ));
        }
        if !args.quiet {
            eprintln!(
                "winjob: warning: {flag} is not enforced here ({}); going on (--best-effort)",
                support.how
            );
        }
        // Linux refuses an unsupported limit; Windows (Wine) accepts it.
        if cfg!(not(windows)) {
            match limit {
                "job_memory" => limits.job_memory = None,
                "process_memory" => limits.process_memory = None,
                "active_processes" => limits.active_processes = None,
                "cpu_rate" => limits.cpu_rate = None,
                "job_cpu_time" => limits.job_cpu_time = None,
                "priority" => limits.priority = None,
                "affinity" => limits.affinity = None,
                _ => {}
            }
        }
    }
    limits.validate().map_err(|e| e.to_string())?;
    Ok(limits)
}

/// `--leaf-cgroup`: the library's leaf move (Linux), or a usage error.
fn enter_leaf_cgroup() -> Result<(), (String, u8)> {
    #[cfg(target_os = "linux")]
    return winjob::os::linux::enter_leaf_cgroup()
        .map(drop)
        .map_err(|e| (format!("--leaf-cgroup: {e}"), EXIT_FAILURE));
    #[cfg(not(target_os = "linux"))]
    Err((
        "--leaf-cgroup is Linux only; it has no meaning here".to_owned(),
        EXIT_USAGE,
    ))
}

/// Where PROGRAM is, as the spawn will look for it, to refuse a missing
/// one before a job exists. Unix only: Windows' `CreateProcess` also looks
/// in the system directories, so there the spawn decides.
enum Lookup {
    Found,
    NotFound,
    Directory(PathBuf),
}

fn look_up(program: &Path) -> Lookup {
    if cfg!(windows) {
        return Lookup::Found;
    }
    let check = |p: &Path| {
        if p.is_dir() {
            Some(Lookup::Directory(p.to_owned()))
        } else if p.exists() {
            Some(Lookup::Found)
        } else {
            None
        }
    };
    if program.components().count() > 1 || program.is_absolute() {
        return check(program).unwrap_or(Lookup::NotFound);
    }
    let Some(path) = std::env::var_os("PATH") else {
        return Lookup::NotFound;
    };
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        // A directory of that name in PATH is skipped, as execvp does.
        if candidate.is_file() {
            return Lookup::Found;
        }
    }
    Lookup::NotFound
}

/// The exit code and message for a spawn that failed: 127 not found, 126
/// found but not runnable, 125 anything else.
fn spawn_failure(program: &str, e: &io::Error) -> (String, u8) {
    // ERROR_BAD_EXE_FORMAT and its kin (Windows), ENOEXEC (Unix).
    const BAD_FORMAT: [i32; 3] = [193, 216, 8];
    match e.kind() {
        io::ErrorKind::NotFound => (format!("{program:?}: not found: {e}"), EXIT_NOT_FOUND),
        io::ErrorKind::PermissionDenied | io::ErrorKind::IsADirectory => {
            (format!("{program:?}: cannot run: {e}"), EXIT_CANNOT_RUN)
        }
        _ if e.raw_os_error().is_some_and(|c| BAD_FORMAT.contains(&c)) => {
            (format!("{program:?}: cannot run: {e}"), EXIT_CANNOT_RUN)
        }
        _ => (format!("cannot start {program:?}: {e}"), EXIT_FAILURE),
    }
}

/// Where events go, if anywhere.
enum EventSink {
    None,
    Stderr,
    File(File),
}

impl EventSink {
    fn write(&mut self, line: &str) {
        match self {
            EventSink::None => {}
            EventSink::Stderr => eprintln!("{line}"),
            EventSink::File(file) => {
                let _ = writeln!(file, "{line}");
            }
        }
    }

    fn on(&self) -> bool {
        !matches!(self, EventSink::None)
    }
}

fn event_line(event: &Event, t: f64, name: Option<&str>, json: bool) -> String {
    use serde_json::json;
    let exit = |e: &Option<ProcessExit>| match e {
        Some(ProcessExit::Code(c)) => json!({ "code": c }),
        Some(ProcessExit::Signal(s)) => json!({ "signal": s }),
        None => serde_json::Value::Null,
    };
    let who = |pid: &u32| match name {
        Some(n) => format!("process {pid} ({n})"),
        None => format!("process {pid}"),
    };
    let limit = limit_of(event);
    if json {
        let mut value = match event {
            Event::NewProcess { pid } => json!({ "event": "new_process", "pid": pid }),
            Event::ExitProcess { pid, exit: e } => {
                json!({ "event": "exit_process", "pid": pid, "exit": exit(e) })
            }
            Event::AbnormalExitProcess { pid, exit: e } => {
                json!({ "event": "abnormal_exit_process", "pid": pid, "exit": exit(e) })
            }
            Event::Empty => json!({ "event": "empty" }),
            Event::ProcessMemoryLimit { pid } | Event::EndOfProcessTime { pid } => {
                json!({ "event": "limit_hit", "limit": limit, "pid": pid })
            }
            _ if limit.is_some() => json!({ "event": "limit_hit", "limit": limit }),
            Event::NotificationLimit { limit } => {
                json!({ "event": "notification_limit", "limit": limit })
            }
            Event::MessagesLost => json!({ "event": "messages_lost" }),
            other => json!({ "event": format!("{other:?}") }),
        };
        value["t"] = json!(t);
        if let Some(name) = name {
            value["name"] = json!(name);
        }
        return value.to_string();
    }
    let what = match event {
        Event::NewProcess { pid } => format!("{} started", who(pid)),
        Event::ExitProcess { pid, exit } => match exit {
            Some(e) => format!("{} exited ({e})", who(pid)),
            None => format!("{} exited", who(pid)),
        },
        Event::AbnormalExitProcess { pid, exit } => match exit {
            Some(e) => format!("{} crashed ({e})", who(pid)),
            None => format!("{} crashed", who(pid)),
        },
        Event::Empty => "job is empty".to_owned(),
        Event::ProcessMemoryLimit { pid } | Event::EndOfProcessTime { pid } => {
            format!("limit hit: --{} ({})", limit.unwrap_or("?"), who(pid))
        }
        _ if limit.is_some() => format!("limit hit: --{}", limit.unwrap_or("?")),
        Event::NotificationLimit { limit } => {
            format!("notification limit crossed: {}", limit.unwrap_or("unknown"))
        }
        Event::MessagesLost => "some events were lost".to_owned(),
        other => format!("{other:?}"),
    };
    format!("winjob: [{t:8.3}s] {what}")
}

/// The state of one run, as the main loop changes it.
struct Run<'a> {
    args: &'a RunArgs,
    job: &'a Job,
    start: Instant,
    seen: Seen,
    sink: EventSink,
    program_status: Option<io::Result<ExitStatus>>,
    /// The first stop request, and how many came.
    interrupt: Option<Interrupt>,
    interrupts: u32,
    timed_out: bool,
    /// While a graceful stop runs: when the grace period ends.
    kill_at: Option<Instant>,
    /// The grace period ran out (or a second interrupt came).
    killed: bool,
    job_empty: bool,
    /// A thread is in `Job::wait`.
    waiting_for_job: bool,
    failure: Option<String>,
    /// Processes in the job when PROGRAM ended.
    left: Option<u64>,
    acct: Accounting,
}

impl<'a> Run<'a> {
    fn handle<'s>(&mut self, msg: Msg, tx: &Sender<Msg>, scope: &'s thread::Scope<'s, '_>)
    where
        'a: 's,
    {
        match msg {
            Msg::Exited(status) => {
                if self.job.accounting_into(&mut self.acct).is_ok() {
                    self.left = self.acct.active_processes;
                }
                self.program_status = Some(status);
            }
            Msg::Interrupt(interrupt) => {
                self.interrupts += 1;
                if self.interrupt.is_none() {
                    self.interrupt = Some(interrupt);
                    if !self.args.quiet {
                        eprintln!(
                            "winjob: got {}: stopping the job ({} again to kill it)",
                            interrupt.name(),
                            if interrupt == Interrupt::CTRL_C {
                                "Ctrl+C"
                            } else {
                                "signal"
                            }
                        );
                    }
                    let signal = crate::parse::Signal {
                        number: interrupt.signal,
                        name: crate::parse::signal_name(interrupt.signal).unwrap_or("TERM"),
                    };
                    self.begin_stop(signal, tx, scope);
                } else if !self.killed {
                    if !self.args.quiet {
                        eprintln!("winjob: got {} again: killing the job", interrupt.name());
                    }
                    self.kill();
                }
            }
            Msg::Event(event) => self.event(&event),
            Msg::JobEmpty(result) => {
                self.waiting_for_job = false;
                match result {
                    Ok(()) => self.job_empty = true,
                    Err(e) => {
                        self.failure
                            .get_or_insert(format!("cannot wait for the job: {e}"));
                    }
                }
            }
        }
    }

    fn event(&mut self, event: &Event) {
        let t = self.start.elapsed().as_secs_f64();
        let name = match event {
            Event::NewProcess { pid } => {
                let name = if self.sink.on() {
                    sys::process_name(self.job, *pid)
                } else {
                    None
                };
                if self.seen.names.insert(*pid, name.clone()).is_none() {
                    self.seen.active += 1;
                    self.seen.peak = self.seen.peak.max(self.seen.active);
                }
                name
            }
            Event::ExitProcess { pid, .. }
            | Event::AbnormalExitProcess { pid, .. }
            | Event::ProcessMemoryLimit { pid }
            | Event::EndOfProcessTime { pid } => self.seen.names.get(pid).cloned().flatten(),
            _ => None,
        };
        match event {
            Event::ExitProcess { .. } | Event::AbnormalExitProcess { .. } => {
                self.seen.active = self.seen.active.saturating_sub(1);
            }
            Event::Empty => {
                self.seen.active = 0;
                self.seen.empty = true;
                self.job_empty = true;
            }
            _ => {}
        }
        if let Some(limit) = limit_of(event) {
            self.seen.hit(limit);
        }
        if self.sink.on() {
            let line = event_line(event, t, name.as_deref(), self.args.json);
            self.sink.write(&line);
        }
    }

    /// Starts a graceful stop: `signal` to every process, then a kill when
    /// the grace period ends.
    fn begin_stop<'s>(
        &mut self,
        signal: crate::parse::Signal,
        tx: &Sender<Msg>,
        scope: &'s thread::Scope<'s, '_>,
    ) where
        'a: 's,
    {
        self.watch_job(tx, scope);
        if self.args.grace.is_zero() {
            self.kill();
            return;
        }
        if let Err(e) = sys::request_stop(self.job, signal) {
            self.failure
                .get_or_insert(format!("cannot ask the job's processes to stop: {e}"));
            self.kill();
            return;
        }
        self.kill_at = Some(Instant::now() + self.args.grace);
    }

    fn kill(&mut self) {
        self.kill_at = None;
        self.killed = true;
        if let Err(e) = self.job.terminate(1) {
            self.failure
                .get_or_insert(format!("cannot kill the job's processes: {e}"));
        }
    }

    /// A thread that tells when the job is empty, once.
    fn watch_job<'s>(&mut self, tx: &Sender<Msg>, scope: &'s thread::Scope<'s, '_>)
    where
        'a: 's,
    {
        if self.waiting_for_job || self.job_empty {
            return;
        }
        self.waiting_for_job = true;
        let (job, tx) = (self.job, tx.clone());
        scope.spawn(move || {
            let _ = tx.send(Msg::JobEmpty(job.wait()));
        });
    }

    fn stopping(&self) -> bool {
        self.timed_out || self.interrupt.is_some()
    }

    /// True once the loop has nothing left to wait for.
    fn finished(&self) -> bool {
        if self.program_status.is_none() {
            return false;
        }
        if self.failure.is_some() {
            return true;
        }
        if self.stopping() || self.args.wait_all {
            return self.job_empty;
        }
        true
    }
}

/// Runs `winjob run`.
pub(crate) fn run(args: &RunArgs) -> ExitCode {
    match prepare(args) {
        Ok(prepared) => supervise(args, prepared),
        Err((message, code)) => fail(&message, code),
    }
}

/// What is ready before PROGRAM starts.
struct Prepared {
    job: Job,
    limits: Limits,
    report_file: Option<File>,
    sink: EventSink,
}

/// Everything that can be refused before PROGRAM starts: the command line,
/// the limits, PROGRAM's lookup, the output files, the job.
fn prepare(args: &RunArgs) -> Result<Prepared, (String, u8)> {
    let usage = |m: String| (m, EXIT_USAGE);
    let Some(program) = args.command.first() else {
        return Err(usage(
            "run: PROGRAM is missing; usage: winjob run [OPTIONS] -- PROGRAM [ARGS...]".into(),
        ));
    };
    if !cfg!(windows) && (args.breakaway.is_some() || args.ui_restrict.is_some()) {
        return Err(usage(
            "--breakaway and --ui-restrict are Windows only; they have no meaning here".into(),
        ));
    }
    sys::check_signal(args.signal).map_err(usage)?;
    if args.leaf_cgroup {
        enter_leaf_cgroup()?;
    }
    let limits = limits(args).map_err(usage)?;
    let name = program.to_string_lossy();
    match look_up(Path::new(program)) {
        Lookup::Found => {}
        Lookup::NotFound => {
            return Err((
                format!("{name:?}: not found (not a file, nor a program in PATH)"),
                EXIT_NOT_FOUND,
            ));
        }
        Lookup::Directory(path) => {
            return Err((
                format!("{:?}: cannot run: it is a directory", path.display()),
                EXIT_CANNOT_RUN,
            ));
        }
    }
    // Files are opened before anything starts, so that a bad path is a
    // usage error.
    let create = |flag: &str, path: &PathBuf| {
        File::create(path)
            .map_err(|e| usage(format!("{flag}: cannot create {}: {e}", path.display())))
    };
    let report_file = args
        .report_file
        .as_ref()
        .map(|p| create("--report-file", p))
        .transpose()?;
    let sink = match &args.events_file {
        Some(path) => EventSink::File(create("--events-file", path)?),
        None if args.events && !args.quiet => EventSink::Stderr,
        None => EventSink::None,
    };
    let job = create_job(args, &limits)?;
    Ok(Prepared {
        job,
        limits,
        report_file,
        sink,
    })
}

fn create_job(args: &RunArgs, limits: &Limits) -> Result<Job, (String, u8)> {
    let mut builder = Job::builder();
    builder.kill_on_drop(!args.keep).limits(limits.clone());
    if let Some(name) = &args.name {
        builder.name(name.clone());
    }
    #[cfg(windows)]
    windows_options(&mut builder, args);
    let job = match builder.create() {
        Ok(job) => job,
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            // The library names the limit; the user typed the flag.
            let message = e.to_string();
            let flag = LIMIT_FLAGS
                .iter()
                .find(|(limit, _)| message.starts_with(&format!("{limit} ")))
                .map(|(_, flag)| *flag)
                .or(message.starts_with("job name ").then_some("--name"));
            return Err(match flag {
                Some(flag) => (format!("{flag}: {message}"), EXIT_USAGE),
                None => (message, EXIT_USAGE),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            return Err((
                format!(
                    "{e}; this machine cannot enforce it (use --best-effort to go on without it)"
                ),
                EXIT_USAGE,
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let name = args.name.as_deref().unwrap_or_default();
            return Err((
                format!(
                    "--name: a job named {name:?} already exists; `winjob ps/stat/kill {name}` \
                     reach it"
                ),
                EXIT_USAGE,
            ));
        }
        Err(e) => return Err((format!("cannot create a job: {e}"), EXIT_FAILURE)),
    };
    #[cfg(windows)]
    if let Err(e) = apply_ui(&job, args) {
        return Err((format!("--ui-restrict: {e}"), EXIT_FAILURE));
    }
    Ok(job)
}

/// Starts PROGRAM in the job, waits for the end, reports.
fn supervise(args: &RunArgs, prepared: Prepared) -> ExitCode {
    let Prepared {
        job,
        limits,
        mut report_file,
        sink,
    } = prepared;
    let (program, program_args) = args
        .command
        .split_first()
        .expect("prepare refused an empty command");
    let program_name = program.to_string_lossy().into_owned();
    let (tx, rx) = mpsc::channel();
    let events = match job.events() {
        Ok(events) => events,
        Err(e) => return fail(&format!("cannot watch the job's events: {e}"), EXIT_FAILURE),
    };
    {
        // Ends when the job is dropped, which closes the stream.
        let tx = tx.clone();
        let forward = thread::Builder::new()
            .name("winjob-events".into())
            .spawn(move || {
                for event in &events {
                    if tx.send(Msg::Event(event)).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = forward {
            return fail(&format!("cannot watch the job's events: {e}"), EXIT_FAILURE);
        }
    }
    // Before PROGRAM starts, so that no early signal is lost.
    let mut supervisor = match Supervisor::start(tx.clone()) {
        Ok(s) => s,
        Err(e) => return fail(&format!("cannot catch the stop signals: {e}"), EXIT_FAILURE),
    };
    let start = Instant::now();
    // winjob's own Command: born in the job, without std's fork on Linux.
    let child = match winjob::Command::new(program)
        .args(program_args)
        .spawn_in(&job)
    {
        Ok(child) => child,
        Err(e) => {
            let (message, code) = spawn_failure(&program_name, &e);
            return fail(&message, code);
        }
    };
    let program_pid = child.id();
    supervisor.watch(child);

    let status_on = !args.quiet && std::io::stderr().is_terminal();
    if status_on {
        sys::title::push();
    }
    let mut run = Run {
        args,
        job: &job,
        start,
        seen: Seen::default(),
        sink,
        program_status: None,
        interrupt: None,
        interrupts: 0,
        timed_out: false,
        kill_at: None,
        killed: false,
        job_empty: false,
        waiting_for_job: false,
        failure: None,
        left: None,
        acct: Accounting::default(),
    };
    let deadline = args
        .timeout
        .filter(|t| !t.is_zero())
        .and_then(|t| start.checked_add(t));
    thread::scope(|scope| {
        main_loop(
            &mut run,
            &rx,
            &tx,
            scope,
            deadline,
            status_on,
            &program_name,
        );
        // Whatever is left, unless it is to be kept: a thread may be in
        // `Job::wait`, and the scope waits for it.
        if !args.keep || run.stopping() || run.failure.is_some() {
            if let Err(e) = job.terminate(1).and_then(|()| job.wait()) {
                run.failure
                    .get_or_insert(format!("cannot end the processes left in the job: {e}"));
            }
            run.job_empty = true;
        }
    });
    if status_on {
        sys::title::pop();
    }
    let wall = start.elapsed();

    // The job's last events, up to its `Empty` (a limit's event can follow
    // PROGRAM's end); a kept job has not ended.
    if run.job_empty {
        let until = Instant::now() + END_EVENTS_WAIT;
        while !run.seen.empty {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Msg::Event(event)) => run.event(&event),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    let ignored = supervisor.ignored.clone();
    let usage = supervisor.finish();
    if let Err(e) = job.accounting_into(&mut run.acct) {
        run.failure
            .get_or_insert(format!("cannot read the job's accounting: {e}"));
    }
    // Judged as enforced: the job CPU time limit counts user-mode time.
    if let (Some(limit), Some(user)) = (limits.job_cpu_time, run.acct.user_time)
        && user >= limit
    {
        run.seen.hit("cpu-time");
    }
    if run.timed_out {
        run.seen.hit("timeout");
    }
    let mut report = report(&run, program_name, program_pid, wall, usage.as_ref());
    report.signals_ignored = ignored
        .into_iter()
        .map(|signal| Interrupt { signal }.name())
        .collect();
    let format = match (&args.report, args.json) {
        (Some(f), _) => f.as_str(),
        (None, true) => "json",
        (None, false) => "text",
    };
    let text = match format {
        "json" => Some(report.json()),
        "text" => Some(report.text()),
        _ => None,
    };
    if let Some(text) = text {
        match &mut report_file {
            Some(file) => {
                if let Err(e) = writeln!(file, "{text}") {
                    run.failure
                        .get_or_insert(format!("cannot write the report: {e}"));
                }
            }
            None if !args.quiet => eprintln!("{text}"),
            None => {}
        }
    }
    if let Some(message) = &run.failure {
        return fail(message, EXIT_FAILURE);
    }
    exit_with(report.exit_code)
}

fn main_loop<'a, 's>(
    run: &mut Run<'a>,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    scope: &'s thread::Scope<'s, '_>,
    deadline: Option<Instant>,
    status_on: bool,
    program_name: &str,
) where
    'a: 's,
{
    let mut next_status = Instant::now() + STATUS_EVERY;
    while !run.finished() {
        if run.program_status.is_some() && run.args.wait_all {
            run.watch_job(tx, scope);
        }
        let mut wake: Option<Instant> = None;
        let mut sooner = |at: Instant| wake = Some(wake.map_or(at, |w| w.min(at)));
        if let Some(d) = deadline.filter(|_| !run.timed_out) {
            sooner(d);
        }
        if let Some(k) = run.kill_at {
            sooner(k);
        }
        if status_on {
            sooner(next_status);
        }
        let msg = match wake {
            None => rx.recv().ok(),
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    run.failure.get_or_insert("lost the watchers".into());
                    break;
                }
            },
        };
        if let Some(msg) = msg {
            run.handle(msg, tx, scope);
        }
        let now = Instant::now();
        if let Some(d) = deadline
            && !run.timed_out
            && run.interrupt.is_none()
            && now >= d
        {
            run.timed_out = true;
            let signal = run.args.signal;
            run.begin_stop(signal, tx, scope);
        }
        if run.kill_at.is_some_and(|k| now >= k) {
            run.kill();
        }
        if status_on && now >= next_status {
            next_status = now + STATUS_EVERY;
            if run.job.accounting_into(&mut run.acct).is_ok() {
                run.seen.peak = run.seen.peak.max(run.acct.active_processes.unwrap_or(0));
            }
            let cpu = run
                .acct
                .cpu_time()
                .map_or_else(|| "n/a".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
            sys::title::set(&format!(
                "winjob: {program_name} · {:.1}s · {} processes · cpu {cpu}",
                run.start.elapsed().as_secs_f64(),
                run.acct.active_processes.unwrap_or(0),
            ));
        }
    }
}

/// The report of a finished run.
fn report(
    run: &Run<'_>,
    program: String,
    program_pid: u32,
    wall: Duration,
    usage: Option<&TreeUsage>,
) -> Report {
    let args = run.args;
    let acct = &run.acct;
    let status = run.program_status.as_ref().and_then(|s| s.as_ref().ok());
    let (code, signal) = exit_parts(status);
    let program_exit = match (code, signal) {
        (Some(code), _) => Some(ProgramExit::Code { code }),
        (None, Some(signal)) => Some(ProgramExit::Signal {
            signal,
            name: crate::parse::signal_name(signal),
        }),
        (None, None) => None,
    };
    let own_status = code.or(signal.map(|s| 128 + i64::from(s)));
    let hit = |l: &str| run.seen.limits_hit.contains(&l);
    let ended_by_limit = hit("cpu-time")
        || (signal.is_some()
            && (hit("memory") || hit("process-memory") || hit("process-cpu-time")));
    let (ended_by, exit_code): (&'static str, i64) = if run.failure.is_some() {
        ("failure", i64::from(EXIT_FAILURE))
    } else if let Some(interrupt) = run.interrupt {
        ("interrupt", i64::from(interrupt.exit_code()))
    } else if run.timed_out {
        let code = if args.preserve_status {
            own_status.unwrap_or(i64::from(EXIT_FAILURE))
        } else if run.killed || signal == Some(9) {
            // As `timeout`: a tree that had to be killed (the grace period
            // ran out, or `--signal KILL`) is 128 + SIGKILL.
            i64::from(EXIT_KILLED)
        } else {
            i64::from(EXIT_TIMEOUT)
        };
        ("timeout", code)
    } else if ended_by_limit {
        ("limit", i64::from(EXIT_LIMIT))
    } else if let Some(c) = code {
        ("exit", c)
    } else if let Some(s) = signal {
        ("signal", 128 + i64::from(s))
    } else {
        ("failure", i64::from(EXIT_FAILURE))
    };

    let mut unavailable = BTreeMap::new();
    let mut na = |field: &'static str, why: &str| {
        unavailable.insert(field, why.to_owned());
    };
    let cpu = match (acct.user_time, acct.kernel_time, usage) {
        (Some(u), Some(k), _) => Cpu {
            user_seconds: Some(u.as_secs_f64()),
            kernel_seconds: Some(k.as_secs_f64()),
            source: Some("job"),
        },
        (_, _, Some(usage)) => Cpu {
            user_seconds: Some(usage.user_time.as_secs_f64()),
            kernel_seconds: Some(usage.system_time.as_secs_f64()),
            source: Some("rusage"),
        },
        _ => {
            na("cpu", sys::NO_CPU);
            Cpu {
                user_seconds: None,
                kernel_seconds: None,
                source: None,
            }
        }
    };
    let (peak_process_bytes, peak_process_measures) = match usage {
        Some(u) if u.max_rss > 0 => (Some(u.max_rss), Some(sys::RUSAGE_RSS)),
        _ => (
            acct.peak_process_memory,
            acct.peak_process_memory.map(|_| sys::PROCESS_MEMORY),
        ),
    };
    if peak_process_bytes.is_none() {
        na("memory.peak_process_bytes", sys::NO_PROCESS_MEMORY);
    }
    if acct.peak_job_memory.is_none() {
        na("memory.peak_job_bytes", sys::NO_JOB_MEMORY);
    }
    if acct.read_bytes.is_none() {
        na("io.read_bytes", sys::NO_IO);
    }
    if usage.is_none() {
        na("io.file_system_inputs", sys::NO_RUSAGE);
    }
    let total = acct.total_processes.unwrap_or(0).max(
        u64::try_from(
            run.seen.names.len() + usize::from(!run.seen.names.contains_key(&program_pid)),
        )
        .unwrap_or(u64::MAX),
    );
    let left = run.left;
    let leftovers = match left {
        Some(0) if !run.stopping() => "none",
        _ if run.stopping() => "stopped",
        _ if args.keep => "kept",
        _ if args.wait_all => "waited",
        _ => "killed",
    };
    let limit_counted_peak = args.max_processes.and_then(|_| sys::tasks_peak(run.job));
    if args.max_processes.is_some() && limit_counted_peak.is_none() {
        na("processes.limit_counted_peak", sys::NO_TASKS_PEAK);
    }
    if args.process_memory.is_some()
        && let Some(why) = sys::PROCESS_MEMORY_HIT_UNSEEN
    {
        na("limits_hit.process-memory", why);
    }
    Report {
        schema: SCHEMA,
        program,
        exit_code,
        ended_by,
        program_exit,
        interrupt: run.interrupt.map(|i| InterruptReport {
            signal: i.name(),
            count: run.interrupts,
        }),
        timeout: run.timed_out.then(|| TimeoutReport {
            seconds: args.timeout.unwrap_or_default().as_secs_f64(),
            signal: sys::SIGNALS.then(|| format!("SIG{}", args.signal.name)),
            grace_seconds: args.grace.as_secs_f64(),
            killed: run.killed,
        }),
        signals_ignored: Vec::new(),
        limits_hit: run.seen.limits_hit.clone(),
        wall_seconds: wall.as_secs_f64(),
        cpu,
        memory: Memory {
            peak_process_bytes,
            peak_process_measures,
            peak_job_bytes: acct.peak_job_memory,
            peak_job_measures: acct.peak_job_memory.map(|_| sys::JOB_MEMORY),
        },
        processes: Processes {
            total: Some(total.max(1)),
            peak: Some(run.seen.peak.max(1)),
            limit_counted_peak,
            orphans_reaped: usage.map(|u| u.orphans_reaped),
            left_when_program_ended: left,
            leftovers,
        },
        io: Io {
            read_bytes: acct.read_bytes,
            write_bytes: acct.write_bytes,
            read_operations: acct.read_operations,
            write_operations: acct.write_operations,
            measures: acct.read_bytes.map(|_| sys::IO),
            file_system_inputs: usage.map(|u| u.block_reads),
            file_system_outputs: usage.map(|u| u.block_writes),
        },
        unavailable,
    }
}

/// PROGRAM's exit code and the signal that ended it.
fn exit_parts(status: Option<&ExitStatus>) -> (Option<i64>, Option<i32>) {
    let Some(status) = status else {
        return (None, None);
    };
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(status);
    #[cfg(not(unix))]
    let signal = None;
    #[cfg(windows)]
    let code = status
        .code()
        .map(|c| i64::from(u32::from_ne_bytes(c.to_ne_bytes())));
    #[cfg(not(windows))]
    let code = status.code().map(i64::from);
    (code, signal)
}

/// Exits with `code`: the whole 32 bits on Windows, the low 8 elsewhere.
fn exit_with(code: i64) -> ExitCode {
    #[cfg(windows)]
    {
        let code = u32::try_from(code).unwrap_or(u32::from(EXIT_FAILURE));
        if code > 255 {
            std::process::exit(i32::from_ne_bytes(code.to_ne_bytes()));
        }
    }
    ExitCode::from(u8::try_from(code & 0xff).unwrap_or(EXIT_FAILURE))
}

#[cfg(windows)]
fn windows_options(builder: &mut winjob::JobBuilder, args: &RunArgs) {
    use winjob::os::windows::{Breakaway, JobBuilderExt};
    if let Some(mode) = &args.breakaway {
        builder.breakaway(match mode.as_str() {
            "allowed" => Breakaway::Allowed,
            "silent" => Breakaway::Silent,
            _ => Breakaway::Never,
        });
    }
}

#[cfg(windows)]
fn apply_ui(job: &Job, args: &RunArgs) -> std::io::Result<()> {
    use winjob::os::windows::{JobExt, UiRestrictions};
    let Some(list) = &args.ui_restrict else {
        return Ok(());
    };
    let mut ui = UiRestrictions::new();
    for name in list {
        match name.as_str() {
            "handles" => ui.handles = true,
            "read-clipboard" => ui.read_clipboard = true,
            "write-clipboard" => ui.write_clipboard = true,
            "system-parameters" => ui.system_parameters = true,
            "display-settings" => ui.display_settings = true,
            "global-atoms" => ui.global_atoms = true,
            "desktop" => ui.desktop = true,
            "exit-windows" => ui.exit_windows = true,
            "ime" => ui.ime = true,
            _ => ui = UiRestrictions::all(),
        }
    }
    job.set_ui_restrictions(ui)
}
