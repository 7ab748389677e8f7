//! `cargo xtask bench`: the performance figures of issue #7, on Linux and on
//! Windows under Wine, in one table and one JSON file.
//!
//! 1. `cargo bench -p winjob-testbins --bench jobs` natively (the library in
//!    this host's default mode), results to `target/bench/linux.json`;
//! 2. the same bench cross-compiled for `x86_64-pc-windows-gnu` and run under
//!    Wine with a persistent server, results to
//!    `target/bench/windows_wine.json`;
//! 3. both merged into `target/bench/results.json` as
//!    `{"machine": …, "date": …, "linux": …, "windows_wine": …}`, with the
//!    machine described here (CPU model, cores, kernel, the library's mode
//!    from `winjob caps`, the Wine version);
//! 4. the bench binary renders the merged file as one table
//!    (`jobs --table results.json`).
//!
//! What each figure measures, and how, is documented at the top of
//! `winjob-testbins/benches/jobs.rs`. The bench reports timings and never
//! fails on one; this task fails only if a run fails (something did not
//! work), after writing and printing whatever was measured.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::run::{cargo, target_dir};
use crate::wine;

pub(crate) fn run() -> Result<(), String> {
    let started = Instant::now();
    let load_before = load_average();
    let dir = target_dir().join("bench");
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let linux_file = dir.join("linux.json");
    let wine_file = dir.join("windows_wine.json");
    let results_file = dir.join("results.json");
    for file in [&linux_file, &wine_file, &results_file] {
        let _ = fs::remove_file(file);
    }

    // The `winjob` command, which the bench finds beside its helper (the
    // bench profile builds into `release`).
    let cli = crate::run::run(cargo().args(["build", "--release", "-p", "winjob-cli"]));
    let mut native = cargo();
    native
        .args(["bench", "-p", "winjob-testbins", "--bench", "jobs"])
        .env("WINJOB_BENCH_OUT", &linux_file)
        .env_remove("WINJOB_MODE");
    let linux = cli
        .and_then(|()| crate::run::run(&mut native))
        .and_then(|()| read(&linux_file));

    let windows = wine::ensure_tools().and_then(|()| {
        crate::run::run(cargo().args([
            "build",
            "--release",
            "--target",
            wine::TARGET,
            "-p",
            "winjob-cli",
        ]))?;
        let server = wine::Server::start()?;
        let mut under_wine = cargo();
        under_wine
            .args([
                "bench",
                "--target",
                wine::TARGET,
                "-p",
                "winjob-testbins",
                "--bench",
                "jobs",
            ])
            // Drive Z: is the host's root in a Wine prefix.
            .env("WINJOB_BENCH_OUT", format!("Z:{}", wine_file.display()));
        wine::configure(&mut under_wine);
        let result = crate::run::run(&mut under_wine);
        drop(server);
        result.and_then(|()| read(&wine_file))
    });

    let part = |result: &Result<String, String>| match result {
        Ok(json) => json.trim().to_owned(),
        Err(e) => format!("{{\"error\": {}}}", json_string(e)),
    };
    let merged = format!(
        "{{\n\"machine\": {},\n\"date\": {},\n\"linux\": {},\n\"windows_wine\": {}\n}}\n",
        machine(&load_before),
        json_string(&utc_now()),
        part(&linux),
        part(&windows)
    );
    fs::write(&results_file, merged)
        .map_err(|e| format!("cannot write {}: {e}", results_file.display()))?;

    // The native bench binary renders the table (it has the JSON parser).
    let mut table = cargo();
    table
        .args([
            "bench",
            "-q",
            "-p",
            "winjob-testbins",
            "--bench",
            "jobs",
            "--",
            "--table",
        ])
        .arg(&results_file);
    let rendered = crate::run::run(&mut table);
    println!("results: {}", results_file.display());
    println!("took {:.0?}", started.elapsed());

    let failures: Vec<String> = [("linux", &linux), ("windows under Wine", &windows)]
        .into_iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
        .chain(rendered.err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("the bench failed: {}", failures.join("; ")))
    }
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("no results in {}: {e}", path.display()))
}

/// The first three fields of `/proc/loadavg`: the load averages over 1, 5
/// and 15 minutes. Other work on the machine shows in the figures; this
/// says how much there was.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The machine, as a JSON object: CPU model, cores, kernel, the library's
/// Linux mode (from `winjob caps`), the Wine version, and the load averages
/// before and after the runs.
fn machine(load_before: &str) -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let caps = cargo()
        .args(["run", "-q", "-p", "winjob-cli", "--", "caps"])
        .env_remove("WINJOB_MODE")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |key: &str| {
        caps.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or("unknown")
            .trim()
            .to_owned()
    };
    // `wine --version` starts no server, so its output can be captured.
    let wine = Command::new("wine")
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{{\"cpu\": {}, \"cores\": {cores}, \"kernel\": {}, \"cgroup_mode\": {}, \
         \"cgroup_mode_reason\": {}, \"wine\": {}, \"load_before\": {}, \"load_after\": {}}}",
        json_string(cpu),
        json_string(kernel.trim()),
        json_string(&field("mode:")),
        json_string(&field("why:")),
        json_string(if wine.is_empty() { "no wine" } else { &wine }),
        json_string(load_before),
        json_string(&load_average()),
    )
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
    }
}
