//! End-to-end tests of the `winjob` binary: on Linux natively, on Windows
//! (and under Wine) with `cmd /c`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WINJOB: &str = env!("CARGO_BIN_EXE_winjob");

/// The deadline of any wait in these tests: against a hang only, so long
/// that a busy machine never meets it (what is expected takes milliseconds).
#[allow(dead_code)] // Linux tests only
const LONG: Duration = Duration::from_secs(30);

fn winjob(args: &[&str]) -> Output {
    Command::new(WINJOB)
        .args(args)
        .output()
        .expect("cannot run winjob")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("winjob-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}"))
}

/// Runs `winjob run --json --report-file REPORT ARGS...`, with REPORT in a
/// scratch directory named after `test`, and returns the output and the
/// parsed report.
fn run_reported(test: &str, args: &[&str]) -> (Output, serde_json::Value) {
    let report = scratch(test).join("report.json");
    let mut all = vec!["run", "--json", "--report-file", report.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = winjob(&all);
    let v = read_json(&report);
    (out, v)
}

/// True if the report lists `limit` among the limits hit.
#[allow(dead_code)] // Linux tests only
fn limit_hit(report: &serde_json::Value, limit: &str) -> bool {
    report["limits_hit"]
        .as_array()
        .is_some_and(|hit| hit.iter().any(|l| l == limit))
}

#[test]
fn help_shows_examples() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["caps", "--help"],
        &["ps", "--help"],
        &["stat", "--help"],
        &["kill", "--help"],
    ] {
        let out = winjob(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(
            stdout(&out).contains("Example"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn caps_text_and_json() {
    let out = winjob(&["caps"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("mode:"));
    let out = winjob(&["caps", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["mode"].is_string());
    assert!(v["limits"].as_array().is_some_and(|l| !l.is_empty()));
}

#[test]
fn missing_program_is_a_usage_error_and_not_found_is_127() {
    let out = winjob(&["run"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let out = winjob(&["run", "--", "winjob-no-such-program-xyz"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("winjob-no-such-program-xyz") && err.contains("not found"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// PROGRAM typed without `--`: clap takes it for an unknown argument; the
/// message says what to type.
#[test]
fn a_missing_dash_dash_gets_a_hint() {
    let out = winjob(&["run", "sleep", "1"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("put -- before PROGRAM"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn unknown_job_name_exits_1() {
    for command in ["stat", "ps", "kill"] {
        let out = winjob(&[command, "winjob-cli-no-such-job"]);
        assert_eq!(out.status.code(), Some(1), "{command}: {out:?}");
        assert!(
            stderr(&out).contains("no job is named"),
            "{command}: {out:?}"
        );
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    fn caps() -> serde_json::Value {
        serde_json::from_slice(&winjob(&["caps", "--json"]).stdout).unwrap()
    }

    /// Whether `limit` is enforced here; prints the skip line if not.
    fn enforced(limit: &str, test: &str) -> bool {
        let caps = caps();
        let ok = caps["limits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["limit"] == limit && l["enforced"] == true);
        if !ok {
            println!("skipped: {test}: {limit} is not enforced here");
        }
        ok
    }

    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    fn wait_dead(pid: u32, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if !alive(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        !alive(pid)
    }

    fn read_pid(path: &std::path::Path, within: Duration) -> u32 {
        let end = Instant::now() + within;
        loop {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            assert!(Instant::now() < end, "no pid in {}", path.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn exit_code_passes_through() {
        let out = winjob(&["run", "--", "sh", "-c", "exit 7"]);
        assert_eq!(out.status.code(), Some(7), "{out:?}");
        assert!(stderr(&out).contains("exit code 7"));
        let quiet = winjob(&["run", "-q", "--", "sh", "-c", "exit 7"]);
        assert_eq!(quiet.status.code(), Some(7), "{quiet:?}");
        assert_eq!(stderr(&quiet), "", "-q prints nothing but errors");
    }

    #[test]
    fn tree_is_killed_after_program_exits() {
        let dir = scratch("tree");
        let pidfile = dir.join("pid");
        let script = format!("sleep 300 & echo $! > {}; exit 0", pidfile.display());
        let out = winjob(&["run", "--", "sh", "-c", &script]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let pid = read_pid(&pidfile, LONG);
        assert!(wait_dead(pid, LONG), "sleep {pid} survived");
        assert!(
            stderr(&out).contains("left at the end: 1 (killed)"),
            "{}",
            stderr(&out)
        );
    }

    #[test]
    fn sigkill_to_winjob_kills_the_tree() {
        let dir = scratch("sigkill");
        let pidfile = dir.join("pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let mut child = Command::new(WINJOB)
            .args(["run", "-q", "--", "sh", "-c", &script])
            .spawn()
            .unwrap();
        let pid = read_pid(&pidfile, LONG);
        assert!(alive(pid));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(wait_dead(pid, LONG), "sleep {pid} survived");
    }

    /// Sends SIGINT to the winjob process (as Ctrl+C would, to it alone).
    fn interrupt(child: &std::process::Child) {
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn ctrl_c_stops_the_tree_gracefully() {
        let dir = scratch("interrupt");
        let pidfile = dir.join("pid");
        let report = dir.join("report.json");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let mut child = Command::new(WINJOB)
            .args([
                "run",
                "-q",
                "--json",
                "--report-file",
                report.to_str().unwrap(),
            ])
            .args(["--", "sh", "-c", &script])
            .spawn()
            .unwrap();
        let pid = read_pid(&pidfile, LONG);
        let started = Instant::now();
        interrupt(&child);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{status:?}");
        assert!(started.elapsed() < LONG, "{:?}", started.elapsed());
        assert!(wait_dead(pid, LONG), "sleep {pid} survived");
        let v = read_json(&report);
        assert_eq!(v["ended_by"], "interrupt", "{v}");
        assert_eq!(v["interrupt"]["signal"], "SIGINT", "{v}");
        assert_eq!(v["interrupt"]["count"], 1, "{v}");
        assert_eq!(v["processes"]["leftovers"], "stopped", "{v}");
    }

    #[test]
    fn a_second_ctrl_c_kills_what_ignores_the_first() {
        let dir = scratch("interrupt2");
        let pidfile = dir.join("pid");
        // Ignores SIGTERM (and SIGINT): only the kill ends it.
        let script = format!(
            "trap '' TERM INT; echo $$ > {}; while :; do sleep 0.05; done",
            pidfile.display()
        );
        let mut child = Command::new(WINJOB)
            .args(["run", "--grace", "60s", "--", "sh", "-c", &script])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let said = {
            use std::io::BufRead;
            let (tx, rx) = std::sync::mpsc::channel();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let pid = read_pid(&pidfile, LONG);
        interrupt(&child);
        // The second Ctrl+C only once winjob acted on the first (two that
        // arrive together are one signal).
        let deadline = Instant::now() + LONG;
        loop {
            let line = said
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("winjob did not say it was interrupted");
            if line.contains("got SIGINT: stopping the job") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(alive(pid), "the first Ctrl+C must only ask");
        let started = Instant::now();
        interrupt(&child);
        let status = child.wait().unwrap();
        assert!(started.elapsed() < LONG, "{:?}", started.elapsed());
        assert_eq!(status.code(), Some(130), "{status:?}");
        assert!(wait_dead(pid, LONG), "sh {pid} survived");
    }

    /// Every row of the exit-code table, against what GNU `timeout`
    /// returns for the same case, both run here: (winjob's flags,
    /// timeout's arguments before the program, the program).
    #[test]
    fn exit_codes_match_gnu_timeout() {
        if Command::new("timeout").arg("--version").output().is_err() {
            println!("skipped: exit_codes_match_gnu_timeout: no `timeout` command");
            return;
        }
        let dir = scratch("exitcodes");
        let not_executable = dir.join("not-executable");
        std::fs::write(&not_executable, "#!/bin/sh\nexit 0\n").unwrap();
        let not_executable = not_executable.to_str().unwrap().to_owned();
        let directory = dir.to_str().unwrap().to_owned();
        // A program that traps a signal must have set its trap when the
        // timeout fires: those rows give the shell a second, hundreds of
        // times what it needs on a loaded machine.
        let trap_term = "trap 'exit 7' TERM; sleep 10 & wait";
        let ignore_term = "trap '' TERM; sleep 3";
        let trap_int = "trap 'exit 5' INT; sleep 10 & wait";
        #[allow(clippy::type_complexity)]
        let rows: &[(&str, &[&str], &[&str], &[&str], i32)] = &[
            ("success", &[], &["10"], &["true"], 0),
            ("exit code", &[], &["10"], &["sh", "-c", "exit 3"], 3),
            (
                "not found",
                &[],
                &["10"],
                &["winjob-no-such-program-xyz"],
                127,
            ),
            ("not executable", &[], &["10"], &[&not_executable], 126),
            ("a directory", &[], &["10"], &[&directory], 126),
            (
                "timed out",
                &["--timeout", "0.2"],
                &["0.2"],
                &["sleep", "10"],
                124,
            ),
            (
                "timed out, TERM trapped",
                &["--timeout", "1"],
                &["1"],
                &["sh", "-c", trap_term],
                124,
            ),
            (
                "--preserve-status, TERM trapped",
                &["--preserve-status", "--timeout", "1"],
                &["--preserve-status", "1"],
                &["sh", "-c", trap_term],
                7,
            ),
            (
                "--preserve-status, killed by TERM",
                &["--preserve-status", "--timeout", "0.2"],
                &["--preserve-status", "0.2"],
                &["sleep", "10"],
                143,
            ),
            (
                "-k after TERM is ignored",
                &["-k", "0.2", "--timeout", "1"],
                &["-k", "0.2", "1"],
                &["sh", "-c", ignore_term],
                137,
            ),
            (
                "--signal KILL",
                &["--signal", "KILL", "--timeout", "0.2"],
                &["-s", "KILL", "0.2"],
                &["sleep", "10"],
                137,
            ),
            (
                "--signal INT, trapped, --preserve-status",
                &["-s", "INT", "--preserve-status", "--timeout", "1"],
                &["-s", "INT", "--preserve-status", "1"],
                &["sh", "-c", trap_int],
                5,
            ),
            (
                "--timeout 0 is no limit",
                &["--timeout", "0"],
                &["0"],
                &["sh", "-c", "sleep 0.3; exit 4"],
                4,
            ),
            (
                "killed by a signal",
                &[],
                &["10"],
                &["sh", "-c", "kill -USR1 $$"],
                128 + 10,
            ),
            (
                "a bad option",
                &["--no-such-option"],
                &["--no-such-option", "10"],
                &["true"],
                125,
            ),
        ];
        for (what, ours, theirs, program, expected) in rows {
            let gnu = Command::new("timeout")
                .args(*theirs)
                .args(*program)
                .output()
                .unwrap();
            let out = Command::new(WINJOB)
                .arg("run")
                .arg("-q")
                .args(*ours)
                .arg("--")
                .args(*program)
                .output()
                .unwrap();
            // As a shell reports it: `timeout` kills itself with its
            // group when it sends SIGKILL.
            let shell = |status: std::process::ExitStatus| {
                use std::os::unix::process::ExitStatusExt;
                status.code().or(status.signal().map(|s| 128 + s))
            };
            assert_eq!(
                shell(gnu.status),
                Some(*expected),
                "{what}: GNU timeout: {gnu:?}"
            );
            assert_eq!(
                shell(out.status),
                Some(*expected),
                "{what}: winjob: {out:?}"
            );
            assert_eq!(
                out.status.code(),
                Some(*expected),
                "{what}: winjob: {out:?}"
            );
        }
    }

    /// Sends `signal` to winjob, waits for it, and returns its exit code and
    /// report. `gap` between repeated signals.
    fn signalled(
        test: &str,
        script: &str,
        signals: &[&str],
        gap: Duration,
    ) -> (i32, serde_json::Value) {
        let dir = scratch(test);
        let pidfile = dir.join("pid");
        let report = dir.join("report.json");
        let script = format!("echo $$ > {}; {script}", pidfile.display());
        let mut child = Command::new(WINJOB)
            .args([
                "run",
                "-q",
                "--grace",
                "1s",
                "--report",
                "json",
                "--report-file",
            ])
            .arg(&report)
            .args(["--", "sh", "-c", &script])
            .spawn()
            .unwrap();
        let pid = read_pid(&pidfile, LONG);
        for (i, signal) in signals.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(gap);
            }
            let sent = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }
        let status = child.wait().unwrap();
        assert!(wait_dead(pid, LONG), "{test}: sh {pid} survived");
        (status.code().unwrap_or(-1), read_json(&report))
    }

    /// SIGTERM and SIGHUP stop the job and exit 143 and 129; however many
    /// SIGINTs arrive, and however close together, the code is 130, and
    /// the report says so.
    #[test]
    fn stop_signals_exit_with_their_own_code() {
        let (code, v) = signalled("sigterm", "sleep 30 & wait", &["TERM"], Duration::ZERO);
        assert_eq!(code, 143, "{v}");
        assert_eq!(v["interrupt"]["signal"], "SIGTERM", "{v}");
        let (code, v) = signalled("sighup", "sleep 30 & wait", &["HUP"], Duration::ZERO);
        assert_eq!(code, 129, "{v}");
        assert_eq!(v["interrupt"]["signal"], "SIGHUP", "{v}");
        // Ignores the polite stop: the second SIGINT kills.
        let ignoring = "trap '' INT TERM; while :; do sleep 0.05; done";
        for gap in [
            Duration::ZERO,
            Duration::from_millis(20),
            Duration::from_millis(300),
        ] {
            let (code, v) = signalled("sigint2", ignoring, &["INT", "INT"], gap);
            assert_eq!(code, 130, "{gap:?}: {v}");
            assert_eq!(v["ended_by"], "interrupt", "{v}");
            assert_eq!(v["interrupt"]["signal"], "SIGINT", "{v}");
        }
    }

    /// `nohup winjob run ...`: the hang-up winjob inherited as ignored
    /// stays ignored, by winjob and by the tree, which finishes.
    #[test]
    fn an_inherited_ignore_is_kept() {
        let dir = scratch("nohup");
        let report = dir.join("report.json");
        let marker = dir.join("finished");
        // sh starts winjob with SIGHUP ignored (as nohup does), then
        // sends it a hang-up.
        let script = format!(
            "trap '' HUP; {WINJOB} run --report json --report-file {} -- sh -c \
             'sleep 0.5; touch {}' & sleep 0.2; kill -HUP $!; wait $!",
            report.display(),
            marker.display()
        );
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(marker.exists(), "the tree did not finish: {out:?}");
        let v = read_json(&report);
        assert!(v["interrupt"].is_null(), "{v}");
        assert!(
            v["signals_ignored"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "SIGHUP"),
            "{v}"
        );
    }

    /// `--cpu-time` counts user-mode time, as Windows' job time limit does:
    /// a job that spends its time in the kernel runs to its end, and the
    /// report does not claim the limit.
    #[test]
    fn cpu_time_is_judged_as_enforced_on_user_time() {
        if !enforced(
            "job_cpu_time",
            "cpu_time_is_judged_as_enforced_on_user_time",
        ) {
            return;
        }
        // Reading /dev/zero clears the buffer in the kernel: system time.
        let (out, v) = run_reported(
            "kernelcpu",
            &[
                "--cpu-time",
                "100ms",
                "--",
                "dd",
                "if=/dev/zero",
                "of=/dev/null",
                "bs=1M",
                "count=40000",
            ],
        );
        let kernel = v["cpu"]["kernel_seconds"].as_f64().unwrap();
        let user = v["cpu"]["user_seconds"].as_f64().unwrap();
        assert!(kernel > 0.2, "the workload must be kernel-heavy: {v}");
        assert!(user < 0.1, "and light in user mode: {v}");
        assert_eq!(out.status.code(), Some(0), "{out:?} {v}");
        assert!(!limit_hit(&v, "cpu-time"), "{v}");
    }

    /// The tree's figures come from `wait4`'s rusage (winjob is the tree's
    /// subreaper): for a multi-process workload, CPU time and the largest
    /// resident set agree with `/usr/bin/time -v` within 5 %. Both measure
    /// the same run (`time -v` runs inside the job), since two runs of a
    /// workload differ by more than that.
    #[test]
    fn tree_figures_match_time_v() {
        if !std::path::Path::new("/usr/bin/time").exists() {
            println!("skipped: tree_figures_match_time_v: no /usr/bin/time (package time)");
            return;
        }
        // Four processes; one holds ~64 MiB (a shell string).
        let workload = "(i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done) & \
                        (i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done) & \
                        (a=$(head -c 67108864 /dev/zero | tr '\\0' x); sleep 0.2; : ${#a}) & \
                        wait";
        let (out, v) = run_reported(
            "timev",
            &["--", "/usr/bin/time", "-v", "sh", "-c", workload],
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let text = stderr(&out);
        let field = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        let their_cpu = field("User time (seconds):") + field("System time (seconds):");
        let their_rss = field("Maximum resident set size (kbytes):") * 1024.0;
        let our_cpu = v["cpu"]["user_seconds"].as_f64().unwrap()
            + v["cpu"]["kernel_seconds"].as_f64().unwrap();
        let our_rss = v["memory"]["peak_process_bytes"].as_f64().unwrap();
        // time -v prints to 10 ms; winjob's figure includes `time` itself.
        assert!(
            (our_cpu - their_cpu).abs() <= 0.05 * their_cpu + 0.02,
            "cpu: winjob {our_cpu} s, time -v {their_cpu} s"
        );
        assert!(
            (our_rss - their_rss).abs() <= 0.05 * their_rss,
            "max RSS: winjob {our_rss} B, time -v {their_rss} B"
        );
        assert!(
            their_rss > 64.0 * 1024.0 * 1024.0,
            "the workload's string: {text}"
        );
        assert!(
            v["memory"]["peak_process_measures"]
                .as_str()
                .unwrap()
                .contains("resident")
        );
    }

    #[test]
    fn wait_all_waits_for_the_tree() {
        let dir = scratch("waitall");
        let marker = dir.join("marker");
        let script = format!("(sleep 0.3; touch {}) & exit 0", marker.display());
        let out = winjob(&["run", "-q", "--wait-all", "--", "sh", "-c", &script]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(marker.exists(), "--wait-all returned before the tree ended");
        let _ = std::fs::remove_file(&marker);
        // Without --wait-all the tree is killed when sh exits: the
        // background process, which would touch the marker after 5 s, dies
        // first (its end is waited for, however long it takes).
        let pidfile = dir.join("pid");
        let script = format!(
            "(sleep 5; touch {}) & echo $! > {}; exit 0",
            marker.display(),
            pidfile.display()
        );
        let out = winjob(&["run", "-q", "--", "sh", "-c", &script]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let background = read_pid(&pidfile, LONG);
        assert!(wait_dead(background, LONG), "{background} survived");
        assert!(!marker.exists(), "the background process was not killed");
    }

    #[test]
    fn json_report_of_a_spinner() {
        if Command::new("timeout").arg("--version").output().is_err() {
            println!("skipped: json_report_of_a_spinner: no `timeout` command");
            return;
        }
        // The spinner prints its own CPU time (`/proc/self/stat`, in clock
        // ticks) when `timeout` stops it: the reference for the job's
        // figure. How much CPU a second of spinning gets depends on what
        // else runs on the machine; the two figures agree whatever it is.
        let (out, v) = run_reported(
            "spinner",
            &[
                "--",
                "timeout",
                "1",
                "sh",
                "-c",
                "trap 'echo \"ticks $(getconf CLK_TCK)\"; cat /proc/$$/stat; exit 0' TERM; \
                 while :; do :; done",
            ],
        );
        // `timeout` itself exits with 124; that is PROGRAM's code.
        assert_eq!(out.status.code(), Some(124), "{out:?}");
        assert_eq!(v["schema"], 1, "{v}");
        assert_eq!(v["program_exit"]["code"], 124, "{v}");
        assert_eq!(v["ended_by"], "exit", "{v}");
        let printed = stdout(&out);
        let ticks: f64 = printed
            .lines()
            .find_map(|l| l.strip_prefix("ticks "))
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no clock tick rate in {printed:?}"));
        let stat = printed
            .lines()
            .find_map(|l| l.rsplit_once(") ").map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no /proc/PID/stat line in {printed:?}"));
        let fields: Vec<f64> = stat
            .split_whitespace()
            .skip(11) // utime and stime are fields 14 and 15; state is 3
            .take(2)
            .map(|f| f.parse().expect("a tick count"))
            .collect();
        let own = (fields[0] + fields[1]) / ticks;
        let cpu = v["cpu"]["user_seconds"].as_f64().expect("user_seconds")
            + v["cpu"]["kernel_seconds"].as_f64().expect("kernel_seconds");
        // The job's figure holds the spinner's (read before it exited), to
        // a tick, and little more: `timeout`, `cat` and `getconf` barely run.
        assert!(
            cpu >= own - 2.0 / ticks && cpu <= own + 0.25,
            "job cpu time {cpu} s, the spinner's own {own} s"
        );
        assert!(v["wall_seconds"].as_f64().unwrap() >= 0.9);
        assert!(v["processes"]["total"].as_u64().unwrap() >= 2);
    }

    #[test]
    fn timeout_stops_the_tree() {
        let start = Instant::now();
        let (out, v) = run_reported(
            "timeout",
            &[
                "--timeout",
                "300ms",
                "--grace",
                "200ms",
                "--",
                "sh",
                "-c",
                "trap '' TERM; sleep 30",
            ],
        );
        // sh ignores TERM: the grace period runs out and the tree is
        // killed, which `timeout -k` reports as 137.
        assert_eq!(out.status.code(), Some(137), "{out:?}");
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(v["ended_by"], "timeout");
        assert_eq!(v["exit_code"], 137);
        assert_eq!(v["timeout"]["killed"], true, "{v}");
        assert!(limit_hit(&v, "timeout"), "{v}");
    }

    #[test]
    fn memory_limit_is_hit_and_reported() {
        if !enforced("job_memory", "memory_limit_is_hit_and_reported") {
            return;
        }
        let (out, v) = run_reported(
            "memory",
            &[
                "--memory",
                "32MiB",
                "--",
                "sh",
                "-c",
                "a=x; while :; do a=\"$a$a\"; done",
            ],
        );
        assert!(limit_hit(&v, "memory"), "{v}");
        assert_eq!(out.status.code(), Some(123), "{out:?}");
        assert_eq!(v["ended_by"], "limit");
    }

    #[test]
    fn process_limit_is_hit_and_reported() {
        if !enforced("active_processes", "process_limit_is_hit_and_reported") {
            return;
        }
        let (out, v) = run_reported(
            "procs",
            &[
                "--max-processes",
                "3",
                "--",
                "sh",
                "-c",
                "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait",
            ],
        );
        assert!(limit_hit(&v, "max-processes"), "{v} {out:?}");
    }

    /// Not a test: the threaded program of
    /// [`max_processes_counts_threads_on_linux`], run by it (`--ignored`)
    /// inside a job. Starts `WINJOB_CLI_THREADS` threads that live half a
    /// second and prints how many started.
    #[test]
    #[ignore = "a helper program, run by max_processes_counts_threads_on_linux"]
    fn thread_helper() {
        let wanted: usize = std::env::var("WINJOB_CLI_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let started: Vec<_> = (0..wanted)
            .map_while(|_| {
                std::thread::Builder::new()
                    .spawn(|| std::thread::sleep(Duration::from_millis(500)))
                    .ok()
            })
            .collect();
        println!("started {} of {wanted} threads", started.len());
        for thread in started {
            thread.join().unwrap();
        }
    }

    /// Linux's `--max-processes` is the pids controller, which counts
    /// tasks: one process that starts threads hits it, and the report
    /// says so beside a process count of one.
    #[test]
    fn max_processes_counts_threads_on_linux() {
        if !enforced("active_processes", "max_processes_counts_threads_on_linux") {
            return;
        }
        let me = std::env::current_exe().unwrap();
        let report = scratch("threads").join("report.json");
        let out = Command::new(WINJOB)
            .args([
                "run",
                "--max-processes",
                "4",
                "--report",
                "json",
                "--report-file",
            ])
            .arg(&report)
            .arg("--")
            .arg(&me)
            .args([
                "--ignored",
                "--exact",
                "linux::thread_helper",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env("WINJOB_CLI_THREADS", "8")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let said = stdout(&out);
        let started: usize = said
            .lines()
            .find_map(|l| l.split_once("started ").map(|(_, rest)| rest))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("the helper did not say: {said}"));
        // The test harness's own threads are tasks too.
        assert!(
            started <= 3,
            "{started} threads started under --max-processes 4"
        );
        let v = read_json(&report);
        assert_eq!(v["processes"]["peak"], 1, "{v}");
        assert!(limit_hit(&v, "max-processes"), "{v}");
    }

    #[test]
    fn cpu_time_limit_ends_the_job() {
        if !enforced("job_cpu_time", "cpu_time_limit_ends_the_job") {
            return;
        }
        let out = winjob(&[
            "run",
            "-q",
            "--cpu-time",
            "300ms",
            "--",
            "sh",
            "-c",
            "while :; do :; done",
        ]);
        assert_eq!(out.status.code(), Some(123), "{out:?}");
        let err = stderr(&out);
        assert_eq!(err, "", "-q: nothing of winjob's but errors");
        let (out, v) = run_reported(
            "cputime",
            &[
                "--cpu-time",
                "300ms",
                "--",
                "sh",
                "-c",
                "while :; do :; done",
            ],
        );
        assert_eq!(out.status.code(), Some(123), "{out:?}");
        assert!(limit_hit(&v, "cpu-time"), "{v}");
        assert_eq!(v["ended_by"], "limit", "{v}");
        assert!(v["cpu"]["user_seconds"].as_f64().unwrap() >= 0.3, "{v}");
    }

    #[test]
    fn events_as_json_lines() {
        let out = winjob(&[
            "run",
            "--events",
            "--json",
            "--",
            "sh",
            "-c",
            "sleep 1 & wait",
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let lines: Vec<serde_json::Value> = stderr(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect();
        let new = lines.iter().filter(|v| v["event"] == "new_process").count();
        assert!(new >= 2, "{lines:?}");
        // Each start names the process.
        assert!(
            lines
                .iter()
                .filter(|v| v["event"] == "new_process")
                .all(|v| v["name"].is_string()),
            "{lines:?}"
        );
        // The last line is the report.
        assert!(lines.last().unwrap()["exit_code"] == 0);
        assert!(lines.last().unwrap()["schema"] == 1);
    }

    /// A reader that goes away (`winjob caps | true`) ends winjob quietly,
    /// as it does a coreutils tool: no panic, 141 as after SIGPIPE.
    #[test]
    fn a_closed_stdout_ends_quietly() {
        for args in [&["caps"][..], &["caps", "--json"]] {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let out = Command::new(WINJOB)
                .args(args)
                .stdout(writer)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(141), "{args:?}: {out:?}");
            assert_eq!(stderr(&out), "", "{args:?}");
        }
    }

    #[test]
    fn bad_flags_are_refused_and_nothing_starts() {
        let dir = scratch("badflags");
        let marker = dir.join("started");
        let script = format!("touch {}", marker.display());
        let cases: &[(&[&str], &str)] = &[
            (&["--memory", "-1"], "--memory"),
            (&["--memory", "12XB"], "--memory"),
            (&["--memory", "100"], "--memory"),
            (&["--process-memory", "abc"], "--process-memory"),
            (&["--max-processes", "0"], "--max-processes"),
            (&["--max-processes", "-3"], "--max-processes"),
            // Above Linux's PID_MAX_LIMIT: refused before the kernel is asked.
            (&["--max-processes", "4194305"], "4194304"),
            // A cgroup's own file, not a job.
            (&["--name", "cgroup.procs"], "reserved"),
            (&["--name", "memory.max"], "reserved"),
            (&["--cpu-rate", "0"], "--cpu-rate"),
            (&["--cpu-rate", "150"], "--cpu-rate"),
            (&["--cpu-time", "1x"], "--cpu-time"),
            (&["--timeout", "-5s"], "--timeout"),
            (&["--timeout", "5parsecs"], "--timeout"),
            (&["--signal", "SIGFOO"], "--signal"),
            (&["--report", "xml"], "--report"),
            (&["--cpu-time", "0"], "--cpu-time"),
            (
                &["--events-file", "/nonexistent/dir/e.json"],
                "--events-file",
            ),
            (&["--grace", "soon"], "--grace"),
            (&["--priority", "urgent"], "--priority"),
            (&["--affinity", "4000"], "--affinity"),
            (&["--affinity", "2-1"], "--affinity"),
            (&["--keep"], "--name"),
            (&["--breakaway", "silent"], "--breakaway"),
            (
                &["--report-file", "/nonexistent/dir/r.json"],
                "--report-file",
            ),
        ];
        for (flags, named) in cases {
            let mut args = vec!["run"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["--", "sh", "-c", &script]);
            let out = winjob(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(125), "{flags:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{flags:?}: {err}");
            assert!(err.contains(named), "{flags:?}: {err}");
            assert!(!marker.exists(), "{flags:?} started the program");
        }
    }

    /// Removes the terminal-title sequences winjob writes: OSC 2 (`ESC ] 2 ;
    /// ... BEL`) and the title stack's push and pop (`ESC [ 22;2t`, `ESC [
    /// 23;2t`). Returns the rest and how many titles were set.
    fn strip_titles(screen: &str) -> (String, usize) {
        let mut out = String::new();
        let mut titles = 0;
        let mut rest = screen;
        loop {
            let osc = rest.find("\x1b]2;");
            let csi = ["\x1b[22;2t", "\x1b[23;2t"]
                .iter()
                .filter_map(|p| rest.find(p))
                .min();
            let osc_first = match (osc, csi) {
                (None, None) => {
                    out.push_str(rest);
                    return (out, titles);
                }
                (Some(o), Some(c)) => o < c,
                (o, _) => o.is_some(),
            };
            if let (true, Some(o)) = (osc_first, osc) {
                out.push_str(&rest[..o]);
                let end = rest[o..].find('\x07').expect("an OSC without its BEL");
                titles += 1;
                rest = &rest[o + end + 1..];
            } else if let Some(c) = csi {
                out.push_str(&rest[..c]);
                rest = &rest[c + "\x1b[22;2t".len()..];
            }
        }
    }

    /// On a terminal (a pseudo-terminal from `script`), `winjob run` shows
    /// its live status in the terminal's title, never in its text: every
    /// line the program prints starts a line of its own, a prompt without a
    /// newline is not erased, and `--quiet` writes nothing at all.
    #[test]
    fn status_goes_to_the_title_and_the_terminal_stays_the_programs() {
        let program = "echo MARK-A; sleep 1.2; echo MARK-B; sleep 0.6; printf prompt; \
                       sleep 0.6; echo; echo MARK-C";
        let on_a_terminal = |flags: &str| {
            let inner = format!("{WINJOB} run {flags} -- sh -c '{program}'");
            Command::new("script")
                .args(["-qec", &inner, "/dev/null"])
                .stdin(std::process::Stdio::null())
                .output()
        };
        let out = match on_a_terminal("") {
            Ok(out) => out,
            Err(e) => {
                println!(
                    "skipped: status_goes_to_the_title_and_the_terminal_stays_the_programs: \
                     cannot run script(1): {e}"
                );
                return;
            }
        };
        assert!(out.status.success(), "{out:?}");
        // The pseudo-terminal merges stderr into what script prints.
        let screen = stdout(&out);
        assert!(
            screen.contains("\x1b[22;2t") && screen.contains("\x1b[23;2t"),
            "{screen:?}"
        );
        let (text, titles) = strip_titles(&screen);
        assert!(titles >= 2, "expected refreshed titles: {screen:?}");
        assert!(!text.contains('\x1b'), "no other escape: {text:?}");
        let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
        for mark in ["MARK-A", "MARK-B", "prompt", "MARK-C"] {
            assert!(
                lines.contains(&mark),
                "{mark} is not a line of its own: {text:?}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("winjob: sh: exit code 0")),
            "the report: {text:?}"
        );

        let quiet = on_a_terminal("--quiet").unwrap();
        assert!(quiet.status.success(), "{quiet:?}");
        let screen = stdout(&quiet);
        assert!(
            !screen.contains('\x1b') && !screen.contains("winjob"),
            "{screen:?}"
        );
    }

    /// `--leaf-cgroup` in a scratch cgroup standing in for a delegated scope:
    /// a shell moves itself there and becomes winjob, which moves the scope's
    /// processes into the leaf and runs the program in a job of the scope.
    #[test]
    fn leaf_cgroup_moves_winjob_out_of_its_scope() {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/");
        let caps = stdout(&winjob(&["caps"]));
        let Some(mount) = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .find_map(|line| {
                let (before, after) = line.split_once(" - ")?;
                after
                    .starts_with("cgroup2 ")
                    .then(|| before.split(' ').nth(4).map(str::to_owned))?
            })
        else {
            println!("skipped: leaf_cgroup_moves_winjob_out_of_its_scope: no cgroup2 mount");
            return;
        };
        let name = format!("winjob-cli-scope-{}", std::process::id());
        let scope = std::path::Path::new(&mount)
            .join(own.trim_start_matches('/'))
            .join(&name);
        if let Err(e) = std::fs::create_dir(&scope) {
            println!(
                "skipped: leaf_cgroup_moves_winjob_out_of_its_scope: cannot create {}: {e}",
                scope.display()
            );
            return;
        }
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec {WINJOB} run -q --leaf-cgroup -- cat /proc/self/cgroup",
            scope.display()
        );
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        let procs_left = std::fs::read_to_string(scope.join("cgroup.procs")).unwrap();
        // winjob's guardian tidies up for a moment after winjob exits.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(scope.join("winjob-leaf/cgroup.procs"))
            .is_ok_and(|p| !p.trim().is_empty())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        for dir in ["winjob", "winjob-leaf", ""] {
            let _ = std::fs::remove_dir(scope.join(dir));
        }
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(procs_left.trim(), "", "the scope must hold no process");
        assert!(
            !scope.exists(),
            "the scope (and its leaf) could not be removed"
        );
        let scope_path = format!("{}/{name}", own.trim_end_matches('/'));
        let program = stdout(&out);
        if caps.contains("mode: cgroup-v2") {
            assert!(
                program.contains(&format!("0::{scope_path}/winjob/")),
                "the program runs in a job of the scope: {program}"
            );
        } else {
            println!(
                "skipped: leaf_cgroup_moves_winjob_out_of_its_scope: jobs are not cgroup v2 \
                 jobs in this mode; only the move was checked"
            );
        }
    }

    #[test]
    fn every_portable_limit_is_accepted() {
        let out = winjob(&[
            "run",
            "-q",
            "--cpu-rate",
            "50",
            "--priority",
            "below-normal",
            "--affinity",
            "0",
            "--process-memory",
            "256MiB",
            "--max-processes",
            "10",
            "--cpu-time",
            "10s",
            "--memory",
            "256MiB",
            "--timeout",
            "30s",
            "--",
            "sh",
            "-c",
            "exit 5",
        ]);
        assert_eq!(out.status.code(), Some(5), "{out:?}");
    }

    #[test]
    fn unenforceable_limit_needs_best_effort() {
        // Process-group mode has no cgroup: the job memory limit cannot be enforced.
        let run = |extra: &[&str]| {
            let mut args = vec!["run", "-q"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["--memory", "64MiB", "--", "sh", "-c", "exit 0"]);
            Command::new(WINJOB)
                .args(&args)
                .env("WINJOB_MODE", "process-group")
                .output()
                .unwrap()
        };
        let out = run(&[]);
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        assert!(stderr(&out).contains("--memory"), "{}", stderr(&out));
        assert!(stderr(&out).contains("--best-effort"), "{}", stderr(&out));
        let quiet = run(&["--best-effort"]);
        assert_eq!(quiet.status.code(), Some(0), "{quiet:?}");
        assert_eq!(stderr(&quiet), "", "-q hides the warning too");
        let out = Command::new(WINJOB)
            .args([
                "run",
                "--report",
                "none",
                "--best-effort",
                "--memory",
                "64MiB",
            ])
            .args(["--", "sh", "-c", "exit 0"])
            .env("WINJOB_MODE", "process-group")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(
            stderr(&out).contains("warning: --memory"),
            "{}",
            stderr(&out)
        );
    }

    #[test]
    fn keep_and_wait_all_conflict() {
        let out = winjob(&["run", "--name", "x", "--keep", "--wait-all", "--", "true"]);
        assert_eq!(out.status.code(), Some(125), "{out:?}");
    }

    #[test]
    fn named_job_ps_stat_kill() {
        let name = format!("winjob-cli-test-{}", std::process::id());
        let dir = scratch("named");
        let pidfile = dir.join("pid");
        // The kept process must not hold the stderr pipe that `output` reads to its end.
        let script = format!(
            "sleep 300 >/dev/null 2>&1 & echo $! > {}; exit 0",
            pidfile.display()
        );
        let out = winjob(&["run", "--name", &name, "--keep", "--", "sh", "-c", &script]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(stderr(&out).contains("1 (kept)"), "{}", stderr(&out));
        let pid = read_pid(&pidfile, LONG);
        assert!(alive(pid), "--keep killed the rest");

        let out = winjob(&["ps", &name]);
        assert!(out.status.success(), "{out:?}");
        let ps = stdout(&out);
        assert!(
            ps.contains(&pid.to_string()) && ps.contains("sleep"),
            "{ps}"
        );

        let out = winjob(&["stat", &name, "--json"]);
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["active_processes"], 1, "{v}");

        let out = winjob(&["kill", &name, "--grace", "1s"]);
        assert!(out.status.success(), "{out:?}");
        assert!(wait_dead(pid, LONG), "kill left {pid} alive");
    }
}

#[cfg(windows)]
mod windows {
    use super::*;

    #[test]
    fn exit_code_passes_through() {
        let out = winjob(&["run", "-q", "--", "cmd", "/c", "exit 7"]);
        assert_eq!(out.status.code(), Some(7), "{out:?}");
    }

    #[test]
    fn tree_is_killed_and_counted() {
        let start = Instant::now();
        let (out, v) = run_reported(
            "wtree",
            &[
                "--",
                "cmd",
                "/c",
                "start /b ping -n 60 127.0.0.1 >nul & exit 3",
            ],
        );
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        // ping would run for a minute: winjob returned because it was killed.
        assert!(start.elapsed() < Duration::from_secs(30));
        assert!(v["processes"]["total"].as_u64().unwrap() >= 2, "{v}");
        assert_eq!(v["processes"]["leftovers"], "killed");
        assert_eq!(v["program_exit"]["code"], 3);
        assert_eq!(v["schema"], 1);
    }

    /// `winjob ps NAME` run by the job's own program: it lists the members
    /// (cmd.exe, and the winjob.exe doing the listing) with names and paths.
    #[test]
    fn named_job_ps_shows_names_and_paths() {
        let name = format!("winjob-cli-wps-{}", std::process::id());
        // Under Wine the build path is a Unix one; cmd wants a drive letter.
        let exe = if WINJOB.starts_with('/') {
            format!("Z:{}", WINJOB.replace('/', "\\"))
        } else {
            WINJOB.to_owned()
        };
        let out = winjob(&[
            "run",
            "-q",
            "--name",
            &name,
            "--",
            "cmd",
            "/c",
            &format!("{exe} ps {name} --json"),
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let rows: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
        let rows = rows.as_array().unwrap();
        let names: Vec<String> = rows
            .iter()
            .map(|r| r["name"].as_str().unwrap_or("").to_ascii_lowercase())
            .collect();
        assert!(names.iter().any(|n| n == "cmd.exe"), "{rows:?}");
        assert!(names.iter().any(|n| n == "winjob.exe"), "{rows:?}");
        for row in rows {
            assert!(row["pid"].as_u64().is_some(), "{row}");
            let path = row["path"].as_str().unwrap_or("").to_ascii_lowercase();
            assert!(path.ends_with(".exe"), "{row}");
            assert!(row["memory"].as_u64().is_some_and(|m| m > 0), "{row}");
        }
    }

    #[test]
    fn unenforced_limits_under_wine_need_best_effort() {
        if std::env::var_os("WINJOB_UNDER_WINE").is_none_or(|v| v != "1") {
            println!("skipped: unenforced_limits_under_wine_need_best_effort: not under Wine");
            return;
        }
        let out = winjob(&[
            "run", "-q", "--memory", "64MiB", "--", "cmd", "/c", "exit 0",
        ]);
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        let out = winjob(&[
            "run",
            "-q",
            "--best-effort",
            "--memory",
            "64MiB",
            "--",
            "cmd",
            "/c",
            "exit 4",
        ]);
        assert_eq!(out.status.code(), Some(4), "{out:?}");
    }

    #[test]
    fn bad_flags_are_refused() {
        for flags in [
            &["--memory", "-1"][..],
            &["--cpu-rate", "150"],
            &["--ui-restrict", "bogus"],
            &["--breakaway", "sometimes"],
            &["--leaf-cgroup"],
            &["--signal", "HUP"],
        ] {
            let mut args = vec!["run"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["--", "cmd", "/c", "exit 0"]);
            let out = winjob(&args);
            assert_eq!(out.status.code(), Some(125), "{flags:?}: {out:?}");
        }
    }
}
