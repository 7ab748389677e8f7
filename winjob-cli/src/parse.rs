//! Pure parsers for the values of the command line: sizes, durations,
//! percentages. Each returns a one-line message saying what is accepted.

use std::time::Duration;

/// What `SIZE` accepts, for messages and help.
pub(crate) const SIZE_FORMS: &str = "a size such as 1048576, 512K, 512MiB, 2G or 1.5GB (K/M/G/T and KiB/MiB/GiB/TiB are \
     powers of 1024, KB/MB/GB/TB powers of 1000)";

/// What `DURATION` accepts, for messages and help.
pub(crate) const DURATION_FORMS: &str = "a duration such as 1.5s, 200ms, 2m or 1h (units ns, us, ms, s, m, h, d; a bare number is seconds)";

/// Parses a size in bytes: `1048576`, `512K`, `512MiB`, `2G`, `1.5GB`.
///
/// Units are case-insensitive. `K`, `M`, `G`, `T` (with or without `iB`) are
/// powers of 1024; `KB`, `MB`, `GB`, `TB` are powers of 1000; `B` is bytes.
/// A fractional number is rounded down to a whole byte.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if t.starts_with('-') {
        return Err(format!("{s:?} is negative; expected {SIZE_FORMS}"));
    }
    let unit = unit.trim();
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "{s:?} has an unknown unit {unit:?}; expected {SIZE_FORMS}"
            ));
        }
    };
    let bad = || format!("{s:?} is not a size; expected {SIZE_FORMS}");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let too_big = || format!("{s:?} is too large; at most 2^64-1 bytes");
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(too_big)?;
    if !frac.is_empty() {
        if frac.contains('.') || frac.len() > 18 {
            return Err(bad());
        }
        let digits: u64 = frac.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(u32::try_from(frac.len()).map_err(|_| bad())?);
        let part = u128::from(digits) * u128::from(multiplier) / scale;
        bytes = bytes
            .checked_add(u64::try_from(part).map_err(|_| too_big())?)
            .ok_or_else(too_big)?;
    }
    Ok(bytes)
}

/// A signal of `--signal`: its number (Linux's numbering) and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signal {
    pub(crate) number: i32,
    pub(crate) name: &'static str,
}

/// Linux's signal numbers (x86, arm, most architectures), 1 to 31.
pub(crate) const SIGNALS: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// The name of signal `number` (`"TERM"` for 15), if it has one.
pub(crate) fn signal_name(number: i32) -> Option<&'static str> {
    let i = usize::try_from(number.checked_sub(1)?).ok()?;
    SIGNALS.get(i).copied()
}

/// Parses a signal: `TERM`, `SIGTERM`, `term` or `15`.
pub(crate) fn parse_signal(s: &str) -> Result<Signal, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "{s:?} is not a signal; expected a name such as TERM, INT, HUP, KILL or USR1 \
             (with or without SIG), or a number from 1 to 31"
        )
    };
    if let Ok(number) = t.parse::<i32>() {
        let name = signal_name(number).ok_or_else(bad)?;
        return Ok(Signal { number, name });
    }
    let upper = t.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let i = SIGNALS.iter().position(|n| *n == bare).ok_or_else(bad)?;
    Ok(Signal {
        number: i32::try_from(i + 1).map_err(|_| bad())?,
        name: SIGNALS[i],
    })
}

/// Parses a duration: `1.5s`, `200ms`, `2m`, `1h`, `90` (seconds).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("{s:?} is negative; expected {DURATION_FORMS}"));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let nanos_per_unit: u128 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => {
            return Err(format!(
                "{s:?} has an unknown unit {unit:?}; expected {DURATION_FORMS}"
            ));
        }
    };
    let bad = || format!("{s:?} is not a duration; expected {DURATION_FORMS}");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = whole.parse().map_err(|_| bad())?;
    let too_long = || format!("{s:?} is too long; at most 100 years");
    let mut nanos = whole.checked_mul(nanos_per_unit).ok_or_else(too_long)?;
    if !frac.is_empty() {
        if frac.contains('.') || frac.len() > 18 {
            return Err(bad());
        }
        let digits: u128 = frac.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(u32::try_from(frac.len()).map_err(|_| bad())?);
        // Checked: a whole part just below u128::MAX nanoseconds would wrap.
        nanos = nanos
            .checked_add(digits * nanos_per_unit / scale)
            .ok_or_else(too_long)?;
    }
    if nanos > 100 * 365 * 86_400_000_000_000 {
        return Err(too_long());
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
    let sub = u32::try_from(nanos % 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, sub))
}

/// Parses a percentage of the whole machine, above 0 and at most 100:
/// `25`, `25%`, `12.5%`.
pub(crate) fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    let accepted = "a percentage of the whole machine above 0 and at most 100, such as 25 or 12.5%";
    let valid = !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.chars().filter(|&c| c == '.').count() <= 1;
    if number.starts_with('-') {
        return Err(format!("{s:?} is negative; expected {accepted}"));
    }
    let value: f64 = if valid { number.parse().ok() } else { None }
        .ok_or_else(|| format!("{s:?} is not a percentage; expected {accepted}"))?;
    if !(0.01..=100.0).contains(&value) {
        return Err(format!("{s:?} is out of range; expected {accepted}"));
    }
    Ok(value)
}

/// Formats a byte count for people: `512.0 MiB`.
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        for (text, number, name) in [
            ("TERM", 15, "TERM"),
            ("SIGTERM", 15, "TERM"),
            ("term", 15, "TERM"),
            (" sigint ", 2, "INT"),
            ("9", 9, "KILL"),
            ("1", 1, "HUP"),
            ("31", 31, "SYS"),
            ("USR1", 10, "USR1"),
        ] {
            assert_eq!(parse_signal(text), Ok(Signal { number, name }), "{text}");
        }
        for bad in ["", "0", "32", "-1", "SIG", "TERMINATE", "SIGSIGTERM", "1.5"] {
            let e = parse_signal(bad).unwrap_err();
            assert!(e.contains("not a signal"), "{bad}: {e}");
        }
        assert_eq!(signal_name(15), Some("TERM"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(32), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("512mib"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("64 M"), Ok(64 << 20));
        assert_eq!(parse_size("7B"), Ok(7));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn bad_sizes() {
        for bad in [
            "",
            "-1",
            "-5M",
            "12X",
            "M",
            "1..5M",
            ".5M",
            "5.M",
            "1.2.3G",
            "abc",
            "1e6",
            "99999999999999999999",
            "20000000T",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(
                err.contains("size") || err.contains("negative") || err.contains("large"),
                "{bad}: {err}"
            );
        }
        assert!(parse_size("-1").unwrap_err().contains("negative"));
        assert!(parse_size("3Q").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0.001ms"), Ok(Duration::from_nanos(1000)));
    }

    #[test]
    fn bad_durations() {
        for bad in [
            "", "-1s", "1x", "s", "1.s", ".5s", "1.2.3s", "1e3s", "1000000d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("-2s").unwrap_err().contains("negative"));
        assert!(parse_duration("5y").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("25"), Ok(25.0));
        assert_eq!(parse_percent("12.5%"), Ok(12.5));
        assert_eq!(parse_percent("100"), Ok(100.0));
        assert_eq!(parse_percent("0.01"), Ok(0.01));
        for bad in [
            "0", "150", "100.5", "-5", "abc", "", "%", "NaN", "inf", "1e2",
        ] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_sizes() {
        assert_eq!(format_size(10), "10 B");
        assert_eq!(format_size(512 << 20), "512.0 MiB");
        assert_eq!(format_size(1536), "1.5 KiB");
    }
}

/// Property tests of the parsers: arbitrary strings never make them panic;
/// sizes and durations built from a number and a unit parse to exactly that
/// number times the unit, or, past the largest value, to an error saying so:
/// arithmetic overflow is an error, never a wrapped value.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Each size unit, as written, and its multiplier.
    const SIZE_UNITS: [(&str, u64); 16] = [
        ("", 1),
        ("B", 1),
        ("K", 1 << 10),
        ("KiB", 1 << 10),
        ("kib", 1 << 10),
        ("M", 1 << 20),
        ("MiB", 1 << 20),
        ("G", 1 << 30),
        ("GiB", 1 << 30),
        ("T", 1 << 40),
        ("TiB", 1 << 40),
        ("KB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("TB", 1_000_000_000_000),
        ("tb", 1_000_000_000_000),
    ];

    /// Each duration unit and its length in nanoseconds.
    const DURATION_UNITS: [(&str, u128); 9] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("", 1_000_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ];

    const MAX_NANOS: u128 = 100 * 365 * 86_400_000_000_000;

    /// Whole numbers, dense where a unit's multiplication overflows: at
    /// `limit / multiplier` for the limits of `u64` and `u128`.
    fn whole(multiplier: u128) -> impl Strategy<Value = u128> {
        let edge64 = u128::from(u64::MAX) / multiplier;
        let edge128 = u128::MAX / multiplier;
        let near = |edge: u128| edge.saturating_sub(2)..=edge.saturating_add(2);
        prop_oneof![
            any::<u64>().prop_map(u128::from),
            0u128..10_000,
            near(edge64),
            near(edge128),
            Just(u128::MAX),
        ]
    }

    /// A fraction's digits: none, or 1 to 19 of them (18 is the most the
    /// parsers accept).
    fn fraction() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[0-9]{1,19}"]
    }

    /// `whole.fraction` times `multiplier`, rounded down, exactly.
    fn exact(whole: u128, fraction: &str, multiplier: u128) -> Option<u128> {
        let mut value = whole.checked_mul(multiplier)?;
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().ok()?;
            let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
            // digits < 10^19 and multiplier < 2^47: no overflow.
            value = value.checked_add(digits * multiplier / scale)?;
        }
        Some(value)
    }

    fn number(whole: u128, fraction: &str) -> String {
        if fraction.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{fraction}")
        }
    }

    /// Found by the properties below: the fraction's nanoseconds were added
    /// unchecked to a whole part just below `u128::MAX` nanoseconds, which
    /// panicked in debug builds and wrapped to 44 ns in release builds.
    #[test]
    fn a_fraction_that_overflows_is_too_long() {
        let e = parse_duration("340282366920938463463374607431768211.5us").unwrap_err();
        assert!(e.contains("too long"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,32}", numeric in "[-+ .0-9eEkKmMgGtTiIbBsuµnhd%]{0,24}") {
            for input in [&text, &numeric] {
                let _ = parse_size(input);
                let _ = parse_duration(input);
                let _ = parse_percent(input);
            }
        }

        #[test]
        fn sizes_are_the_number_times_the_unit_or_too_large(
            (whole, unit, multiplier) in (0..SIZE_UNITS.len()).prop_flat_map(|u| {
                let (unit, multiplier) = SIZE_UNITS[u];
                (whole(u128::from(multiplier)), Just(unit), Just(multiplier))
            }),
            fraction in fraction(),
        ) {
            let text = format!("{}{unit}", number(whole, &fraction));
            let parsed = parse_size(&text);
            let expected = if fraction.len() > 18 {
                None
            } else {
                exact(whole, &fraction, u128::from(multiplier))
            };
            match (parsed, expected) {
                (Ok(bytes), Some(value)) => prop_assert_eq!(u128::from(bytes), value, "{}", text),
                (Err(e), Some(value)) if value > u128::from(u64::MAX) => {
                    prop_assert!(e.contains("too large") || e.contains("not a size"), "{}: {}", text, e);
                }
                (Err(e), None) => {
                    prop_assert!(
                        e.contains("too large") || e.contains("not a size"),
                        "{}: {}", text, e
                    );
                }
                (parsed, expected) => prop_assert!(false, "{}: {:?}, expected {:?}", text, parsed, expected),
            }
        }

        #[test]
        fn durations_are_the_number_times_the_unit_or_too_long(
            (whole, unit, nanos) in (0..DURATION_UNITS.len()).prop_flat_map(|u| {
                let (unit, nanos) = DURATION_UNITS[u];
                (whole(nanos), Just(unit), Just(nanos))
            }),
            fraction in fraction(),
        ) {
            let text = format!("{}{unit}", number(whole, &fraction));
            let parsed = parse_duration(&text);
            let expected = if fraction.len() > 18 {
                None
            } else {
                exact(whole, &fraction, nanos)
            };
            match (parsed, expected) {
                (Ok(d), Some(value)) if value <= MAX_NANOS => prop_assert_eq!(d.as_nanos(), value, "{}", text),
                (Err(e), Some(value)) if value > MAX_NANOS => {
                    prop_assert!(e.contains("too long") || e.contains("not a duration"), "{}: {}", text, e);
                }
                (Err(e), None) => {
                    prop_assert!(
                        e.contains("too long") || e.contains("not a duration"),
                        "{}: {}", text, e
                    );
                }
                (parsed, expected) => prop_assert!(false, "{}: {:?}, expected {:?} ns", text, parsed, expected),
            }
        }

        #[test]
        fn percents_in_range_parse_to_themselves(hundredths in 1u32..=10_000, sign in any::<bool>()) {
            let text = format!("{}.{:02}{}", hundredths / 100, hundredths % 100, if sign { "%" } else { "" });
            let value = parse_percent(&text);
            prop_assert_eq!(value, Ok(f64::from(hundredths) / 100.0), "{}", text);
        }
    }
}
