//! `winjob run`: start PROGRAM in a job, watch it, end it, report.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use winjob::{Accounting, CpuRate, Event, Job, Limits, ProcessExit};

use crate::cli::RunArgs;
use crate::parse::format_size;
use crate::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_LIMIT, EXIT_TIMEOUT, EXIT_USAGE, fail};

/// How often the main loop looks at PROGRAM and the job.
const POLL: Duration = Duration::from_millis(20);

/// The flag that sets `limit` (a library name from [`LIMIT_FLAGS`]).
fn flag_of(limit: &str) -> &'static str {
    LIMIT_FLAGS
        .iter()
        .find(|(l, _)| *l == limit)
        .map_or("a limit", |(_, flag)| flag)
}

/// The library's name of each limit `winjob run` sets, and its flag.
const LIMIT_FLAGS: [(&str, &str); 7] = [
    ("job_memory", "--memory"),
    ("process_memory", "--process-memory"),
    ("active_processes", "--max-processes"),
    ("cpu_rate", "--cpu-rate"),
    ("job_cpu_time", "--cpu-time"),
    ("priority", "--priority"),
    ("affinity", "--affinity"),
];
/// How long the report waits, after the job ended, for the `Empty` event
/// that closes the tree's events: only against one that never comes.
const END_EVENTS_WAIT: Duration = Duration::from_secs(10);

/// What the event thread gathered.
#[derive(Debug, Default)]
struct Seen {
    pids: BTreeSet<u32>,
    active: u64,
    peak: u64,
    limits_hit: Vec<&'static str>,
}

impl Seen {
    fn hit(&mut self, limit: &'static str) {
        if !self.limits_hit.contains(&limit) {
            self.limits_hit.push(limit);
        }
    }
}

/// The report, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Report {
    program: String,
    /// winjob's own exit code.
    exit_code: i64,
    /// PROGRAM's exit code, if it exited by itself.
    program_exit_code: Option<i64>,
    /// The signal that ended PROGRAM (Linux).
    program_signal: Option<i32>,
    /// `timeout`, `limit` or null.
    ended_by: Option<&'static str>,
    limits_hit: Vec<&'static str>,
    wall_time: f64,
    cpu_user: Option<f64>,
    cpu_kernel: Option<f64>,
    cpu_time: Option<f64>,
    peak_job_memory: Option<u64>,
    peak_process_memory: Option<u64>,
    processes_total: u64,
    processes_peak: u64,
    /// `killed`, `waited`, `kept` or `stopped` (after a timeout).
    leftovers: &'static str,
    io: Io,
    accounting: Accounting,
}

#[derive(Debug, Serialize)]
struct Io {
    read_bytes: Option<u64>,
    write_bytes: Option<u64>,
    other_bytes: Option<u64>,
    read_operations: Option<u64>,
    write_operations: Option<u64>,
    other_operations: Option<u64>,
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
        eprintln!(
            "winjob: warning: {flag} is not enforced here ({}); going on (--best-effort)",
            support.how
        );
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

/// Finds PROGRAM the way the OS will, to refuse a missing one before
/// anything starts. `None`: not found. Only a hint on Windows, where
/// `CreateProcess` also looks in the system directories.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return program.is_file().then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return Some(candidate);
        }
        if cfg!(windows) {
            for ext in ["exe", "com", "bat", "cmd"] {
                let with_ext = candidate.with_extension(ext);
                if with_ext.is_file() {
                    return Some(with_ext);
                }
            }
        }
    }
    None
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

fn event_json(event: &Event, t: f64) -> serde_json::Value {
    use serde_json::json;
    let exit = |e: &Option<ProcessExit>| match e {
        Some(ProcessExit::Code(c)) => json!({ "code": c }),
        Some(ProcessExit::Signal(s)) => json!({ "signal": s }),
        None => serde_json::Value::Null,
    };
    match event {
        Event::NewProcess { pid } => json!({ "t": t, "event": "new_process", "pid": pid }),
        Event::ExitProcess { pid, exit: e } => {
            json!({ "t": t, "event": "exit_process", "pid": pid, "exit": exit(e) })
        }
        Event::AbnormalExitProcess { pid, exit: e } => {
            json!({ "t": t, "event": "abnormal_exit_process", "pid": pid, "exit": exit(e) })
        }
        Event::Empty => json!({ "t": t, "event": "empty" }),
        Event::ActiveProcessLimit => json!({ "t": t, "event": "active_process_limit" }),
        Event::JobMemoryLimit => json!({ "t": t, "event": "job_memory_limit" }),
        Event::ProcessMemoryLimit { pid } => {
            json!({ "t": t, "event": "process_memory_limit", "pid": pid })
        }
        Event::EndOfJobTime => json!({ "t": t, "event": "end_of_job_time" }),
        Event::EndOfProcessTime { pid } => {
            json!({ "t": t, "event": "end_of_process_time", "pid": pid })
        }
        Event::NotificationLimit { limit } => {
            json!({ "t": t, "event": "notification_limit", "limit": limit })
        }
        Event::MessagesLost => json!({ "t": t, "event": "messages_lost" }),
        other => json!({ "t": t, "event": format!("{other:?}") }),
    }
}

fn event_text(event: &Event, t: f64) -> String {
    let what = match event {
        Event::NewProcess { pid } => format!("process {pid} started"),
        Event::ExitProcess { pid, exit } => match exit {
            Some(e) => format!("process {pid} exited ({e})"),
            None => format!("process {pid} exited"),
        },
        Event::AbnormalExitProcess { pid, exit } => match exit {
            Some(e) => format!("process {pid} crashed ({e})"),
            None => format!("process {pid} crashed"),
        },
        Event::Empty => "job is empty".to_owned(),
        Event::ActiveProcessLimit => "limit hit: max processes".to_owned(),
        Event::JobMemoryLimit => "limit hit: job memory".to_owned(),
        Event::ProcessMemoryLimit { pid } => format!("limit hit: process memory (process {pid})"),
        Event::EndOfJobTime => "limit hit: job CPU time".to_owned(),
        Event::EndOfProcessTime { pid } => format!("limit hit: process CPU time (process {pid})"),
        Event::NotificationLimit { limit } => {
            format!("notification limit crossed: {}", limit.unwrap_or("unknown"))
        }
        Event::MessagesLost => "some events were lost".to_owned(),
        other => format!("{other:?}"),
    };
    format!("winjob: [{t:8.3}s] {what}")
}

/// Records `event` in `seen`.
fn record(seen: &mut Seen, event: &Event) {
    match event {
        Event::NewProcess { pid } if seen.pids.insert(*pid) => {
            seen.active += 1;
            seen.peak = seen.peak.max(seen.active);
        }
        Event::ExitProcess { .. } | Event::AbnormalExitProcess { .. } => {
            seen.active = seen.active.saturating_sub(1);
        }
        Event::Empty => seen.active = 0,
        Event::ActiveProcessLimit => seen.hit("max_processes"),
        Event::JobMemoryLimit => seen.hit("memory"),
        Event::ProcessMemoryLimit { .. } => seen.hit("process_memory"),
        Event::EndOfJobTime => seen.hit("cpu_time"),
        Event::EndOfProcessTime { .. } => seen.hit("process_cpu_time"),
        _ => {}
    }
}

/// Live status on a terminal.
struct Status {
    on: bool,
    last: Instant,
    shown: bool,
}

impl Status {
    fn show(&mut self, start: Instant, acct: &Accounting) {
        if !self.on || self.last.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let cpu = acct
            .cpu_time()
            .map_or_else(|| "n/a".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
        let mem = acct
            .peak_job_memory
            .map_or_else(|| "n/a".to_owned(), format_size);
        eprint!(
            "\r\x1b[Kwinjob: {:.1}s  processes {}  cpu {cpu}  peak memory {mem}",
            start.elapsed().as_secs_f64(),
            acct.active_processes.unwrap_or(0),
        );
        let _ = std::io::stderr().flush();
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

/// Runs `winjob run`.
pub(crate) fn run(args: &RunArgs) -> ExitCode {
    let Some((program, program_args)) = args.command.split_first() else {
        return fail(
            "run: PROGRAM is missing; usage: winjob run [OPTIONS] -- PROGRAM [ARGS...]",
            EXIT_USAGE,
        );
    };
    let program_name = program.to_string_lossy().into_owned();
    if cfg!(windows) && (args.breakaway.is_some() || args.ui_restrict.is_some()) {
        // Accepted and applied below.
    } else if args.breakaway.is_some() || args.ui_restrict.is_some() {
        return fail(
            "--breakaway and --ui-restrict are Windows only; they have no meaning here",
            EXIT_USAGE,
        );
    }
    if args.leaf_cgroup
        && let Err((message, code)) = enter_leaf_cgroup()
    {
        return fail(&message, code);
    }
    let limits = match limits(args) {
        Ok(limits) => limits,
        Err(message) => return fail(&message, EXIT_USAGE),
    };
    if !cfg!(windows) && find_program(Path::new(program)).is_none() {
        return fail(
            &format!("PROGRAM {program_name:?} cannot be found (not a file, nor in PATH)"),
            EXIT_USAGE,
        );
    }
    // The report file is opened before anything starts, so that a bad path
    // is a usage error.
    let mut report_file = match &args.report_file {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some(file),
            Err(e) => {
                return fail(
                    &format!("--report-file: cannot create {}: {e}", path.display()),
                    EXIT_USAGE,
                );
            }
        },
        None => None,
    };

    let mut builder = Job::builder();
    builder.kill_on_drop(!args.keep).limits(limits.clone());
    if let Some(name) = &args.name {
        builder.name(name.clone());
    }
    #[cfg(windows)]
    windows_options(&mut builder, args);
    let job = match builder.create() {
        Ok(job) => job,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            // The library names the limit; the user typed the flag.
            let message = e.to_string();
            return match LIMIT_FLAGS
                .iter()
                .find(|(limit, _)| message.starts_with(&format!("{limit} ")))
            {
                Some((_, flag)) => fail(&format!("{flag}: {message}"), EXIT_USAGE),
                None if message.starts_with("job name ") => {
                    fail(&format!("--name: {message}"), EXIT_USAGE)
                }
                None => fail(&message, EXIT_USAGE),
            };
        }
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            return fail(
                &format!(
                    "{e}; this machine cannot enforce it (use --best-effort to go on without it)"
                ),
                EXIT_USAGE,
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return fail(
                &format!("--name: a job with this name exists: {e}"),
                EXIT_USAGE,
            );
        }
        Err(e) => return fail(&format!("cannot create a job: {e}"), EXIT_FAILURE),
    };
    #[cfg(windows)]
    if let Err(e) = apply_ui(&job, args) {
        return fail(&format!("--ui-restrict: {e}"), EXIT_FAILURE);
    }
    let events = match job.events() {
        Ok(events) => events,
        Err(e) => return fail(&format!("cannot watch the job's events: {e}"), EXIT_FAILURE),
    };

    // Ctrl+C (and SIGTERM): the first stops the job gracefully, a second
    // kills it. Counted here, acted on by the loop below; counted from
    // before PROGRAM starts, so that no early one is lost.
    let interrupts = Arc::new(AtomicUsize::new(0));
    {
        let interrupts = Arc::clone(&interrupts);
        if let Err(e) = ctrlc::set_handler(move || {
            interrupts.fetch_add(1, Ordering::SeqCst);
        }) {
            eprintln!("winjob: warning: Ctrl+C will not be forwarded to the job: {e}");
        }
    }
    let start = Instant::now();
    // winjob's own Command: born in the job, without std's fork on Linux.
    let mut child = match winjob::Command::new(program)
        .args(program_args)
        .spawn_in(&job)
    {
        Ok(child) => child,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            return fail(
                &format!("PROGRAM {program_name:?} cannot be started: {e}"),
                EXIT_USAGE,
            );
        }
        Err(e) => return fail(&format!("cannot start {program_name:?}: {e}"), EXIT_FAILURE),
    };

    // The event thread: print and record events until told to stop.
    let seen = Arc::new(Mutex::new(Seen::default()));
    // Set when the watcher is to finish; `expect_empty` when the job ended,
    // so that the watcher first waits for the `Empty` that closes the tree's
    // events (whatever the end produced comes before it).
    let done = Arc::new(AtomicBool::new(false));
    let expect_empty = Arc::new(AtomicBool::new(false));
    let watcher = {
        let seen = Arc::clone(&seen);
        let done = Arc::clone(&done);
        let expect_empty = Arc::clone(&expect_empty);
        let (print, json) = (args.events, args.json);
        thread::spawn(move || {
            // Handles one event; true if it was `Empty`.
            let handle = |event: Event| -> bool {
                let t = start.elapsed().as_secs_f64();
                if print {
                    if json {
                        eprintln!("{}", event_json(&event, t));
                    } else {
                        eprintln!("{}", event_text(&event, t));
                    }
                }
                record(&mut seen.lock().unwrap_or_else(|e| e.into_inner()), &event);
                event == Event::Empty
            };
            let mut last_was_empty = false;
            while !done.load(Ordering::Acquire) {
                if let Some(event) = events.recv_timeout(POLL) {
                    last_was_empty = handle(event);
                }
                if events.is_closed() {
                    break;
                }
            }
            // The job ended: until its `Empty` (a bound only against an event
            // that never comes), then whatever is queued.
            let until = Instant::now() + END_EVENTS_WAIT;
            while expect_empty.load(Ordering::Acquire)
                && !last_was_empty
                && !events.is_closed()
                && Instant::now() < until
            {
                if let Some(event) = events.recv_timeout(POLL) {
                    last_was_empty = handle(event);
                }
            }
            while let Some(event) = events.try_recv() {
                handle(event);
            }
        })
    };

    let mut status = Status {
        on: !args.quiet && !args.events && std::io::stderr().is_terminal(),
        last: Instant::now(),
        shown: false,
    };
    let mut acct = Accounting::default();
    let mut sampled_peak: u64 = 0;
    let deadline = args.timeout.map(|t| start + t);
    let mut timed_out = false;
    let mut failure: Option<String> = None;

    let mut interrupted = false;
    let mut killed_on_interrupt = false;

    // Wait for PROGRAM (and with --wait-all, for the whole job).
    let mut program_status: Option<ExitStatus> = None;
    thread::scope(|scope| {
        loop {
            match interrupts.load(Ordering::SeqCst) {
                0 => {}
                1 if !interrupted => {
                    interrupted = true;
                    status.clear();
                    eprintln!("winjob: interrupted: stopping the job (Ctrl+C again to kill it)");
                    let job = &job;
                    let grace = args.grace;
                    scope.spawn(move || job.stop(grace));
                }
                n if n >= 2 && !killed_on_interrupt => {
                    killed_on_interrupt = true;
                    eprintln!("winjob: interrupted again: killing the job");
                    let _ = job.terminate(1);
                }
                _ => {}
            }
            if program_status.is_none() {
                match child.try_wait() {
                    Ok(Some(s)) => program_status = Some(s),
                    Ok(None) => {}
                    Err(e) => {
                        failure = Some(format!("cannot wait for {program_name:?}: {e}"));
                        break;
                    }
                }
            }
            if job.accounting_into(&mut acct).is_ok() {
                sampled_peak = sampled_peak.max(acct.active_processes.unwrap_or(0));
            }
            if let Some(s) = program_status {
                let _ = s;
                if !args.wait_all {
                    break;
                }
                match job.wait_timeout(Duration::ZERO) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => {
                        failure = Some(format!("cannot wait for the job: {e}"));
                        break;
                    }
                }
            }
            if let Some(deadline) = deadline
                && Instant::now() >= deadline
            {
                timed_out = true;
                status.clear();
                if let Err(e) = job.stop(args.grace) {
                    failure = Some(format!("cannot stop the job after the timeout: {e}"));
                }
                break;
            }
            status.show(start, &acct);
            thread::sleep(POLL);
        }
    });
    status.clear();
    if program_status.is_none() {
        match child.wait() {
            Ok(s) => program_status = Some(s),
            Err(e) => failure = failure.or(Some(format!("cannot wait for {program_name:?}: {e}"))),
        }
    }
    let wall = start.elapsed();

    // Whatever PROGRAM left behind.
    let leftovers = if timed_out || interrupted {
        "stopped"
    } else if args.keep {
        "kept"
    } else if args.wait_all {
        "waited"
    } else {
        if let Err(e) = job.terminate(1).and_then(|()| job.wait()) {
            failure = failure.or(Some(format!(
                "cannot end the processes left in the job: {e}"
            )));
        }
        "killed"
    };
    if let Err(e) = job.accounting_into(&mut acct) {
        failure = failure.or(Some(format!("cannot read the job's accounting: {e}")));
    }
    // What the end of the tree produced is delivered up to the job's
    // `Empty`, which the watcher waits for; a kept job does not end.
    expect_empty.store(leftovers != "kept", Ordering::Release);
    done.store(true, Ordering::Release);
    let _ = watcher.join();
    let mut seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));

    // The Linux job CPU time watchdog sends no event: infer it.
    if let (Some(limit), Some(used)) = (limits.job_cpu_time, acct.cpu_time())
        && used >= limit
    {
        seen.hit("cpu_time");
    }

    let (program_code, program_signal) = exit_parts(program_status);
    let ended_by_limit = seen.limits_hit.contains(&"cpu_time")
        || (program_signal.is_some()
            && seen
                .limits_hit
                .iter()
                .any(|l| matches!(*l, "memory" | "process_memory" | "process_cpu_time")));
    let (ended_by, code): (Option<&'static str>, i64) = if failure.is_some() {
        (None, i64::from(EXIT_FAILURE))
    } else if timed_out {
        (Some("timeout"), i64::from(EXIT_TIMEOUT))
    } else if interrupted {
        (Some("interrupt"), i64::from(EXIT_INTERRUPTED))
    } else if ended_by_limit {
        (Some("limit"), i64::from(EXIT_LIMIT))
    } else if let Some(c) = program_code {
        (None, c)
    } else if let Some(s) = program_signal {
        (None, 128 + i64::from(s))
    } else {
        (None, i64::from(EXIT_FAILURE))
    };

    let mut pids = seen.pids.clone();
    pids.insert(child.id());
    let total = acct
        .total_processes
        .unwrap_or(0)
        .max(u64::try_from(pids.len()).unwrap_or(u64::MAX));
    let report = Report {
        program: program_name,
        exit_code: code,
        program_exit_code: program_code,
        program_signal,
        ended_by,
        limits_hit: seen.limits_hit.clone(),
        wall_time: wall.as_secs_f64(),
        cpu_user: acct.user_time.map(|d| d.as_secs_f64()),
        cpu_kernel: acct.kernel_time.map(|d| d.as_secs_f64()),
        cpu_time: acct.cpu_time().map(|d| d.as_secs_f64()),
        peak_job_memory: acct.peak_job_memory,
        peak_process_memory: acct.peak_process_memory,
        processes_total: total,
        processes_peak: sampled_peak.max(seen.peak).max(1),
        leftovers,
        io: Io {
            read_bytes: acct.read_bytes,
            write_bytes: acct.write_bytes,
            other_bytes: acct.other_bytes,
            read_operations: acct.read_operations,
            write_operations: acct.write_operations,
            other_operations: acct.other_operations,
        },
        accounting: acct,
    };
    let text = if args.json {
        serde_json::to_string(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    } else {
        report_text(&report)
    };
    match &mut report_file {
        Some(file) => {
            if let Err(e) = writeln!(file, "{text}") {
                failure = failure.or(Some(format!("cannot write the report: {e}")));
            }
        }
        None => eprintln!("{text}"),
    }
    if let Some(message) = &failure {
        return fail(message, EXIT_FAILURE);
    }
    exit_with(code)
}

/// PROGRAM's exit code and the signal that ended it.
fn exit_parts(status: Option<ExitStatus>) -> (Option<i64>, Option<i32>) {
    let Some(status) = status else {
        return (None, None);
    };
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
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

fn report_text(r: &Report) -> String {
    let secs = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.3} s"));
    let size = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), format_size);
    let count = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), |n| n.to_string());
    let exit = match (r.program_exit_code, r.program_signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "unknown".to_owned(),
    };
    let ended = match r.ended_by {
        Some("timeout") => " (ended by winjob: --timeout)".to_owned(),
        Some(by) => format!(" (ended by winjob: {by})"),
        None => String::new(),
    };
    let limits = if r.limits_hit.is_empty() {
        "none".to_owned()
    } else {
        r.limits_hit.join(", ")
    };
    format!(
        "winjob: {program}: {exit}{ended}; winjob exits with {code}\n\
         \x20 wall time:      {wall:.3} s\n\
         \x20 cpu user:       {user}\n\
         \x20 cpu kernel:     {kernel}\n\
         \x20 peak memory:    {peak_job} (job), {peak_proc} (process)\n\
         \x20 processes:      {total} total, {peak} at most at once; rest {leftovers}\n\
         \x20 io:             read {rb}, written {wb} ({ro} reads, {wo} writes)\n\
         \x20 limits hit:     {limits}",
        program = r.program,
        code = r.exit_code,
        wall = r.wall_time,
        user = secs(r.cpu_user),
        kernel = secs(r.cpu_kernel),
        peak_job = size(r.peak_job_memory),
        peak_proc = size(r.peak_process_memory),
        total = r.processes_total,
        peak = r.processes_peak,
        leftovers = r.leftovers,
        rb = size(r.io.read_bytes),
        wb = size(r.io.write_bytes),
        ro = count(r.io.read_operations),
        wo = count(r.io.write_operations),
    )
}
