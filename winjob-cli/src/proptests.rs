//! Property tests of whole command lines: arbitrary argument vectors, made
//! of `winjob`'s own subcommands, flags and values of every kind (good, bad,
//! negative, overflowing, non-ASCII) mixed with random text, go through
//! clap (`Cli::try_parse_from`) and, for `winjob run`, through the CLI's own
//! checks of the parsed options (`run::limits`, which also asks the library
//! to validate the limits and what this machine enforces). Nothing may
//! panic; a refused command line is exit code 2 with a one-line message (or
//! clap's help, exit 0 when asked for); accepted options give limits the
//! library accepts.

use clap::Parser;
use clap::error::ErrorKind;
use proptest::prelude::*;

use crate::cli::{Cli, Command};
use crate::{EXIT_USAGE, refusal, run};

/// Subcommands and flags, as a user types them.
const WORDS: &[&str] = &[
    "run",
    "caps",
    "ps",
    "stat",
    "kill",
    "help",
    "--",
    "--memory",
    "--process-memory",
    "--max-processes",
    "--cpu-rate",
    "--cpu-time",
    "--timeout",
    "--grace",
    "--priority",
    "--affinity",
    "--name",
    "--breakaway",
    "--ui-restrict",
    "--leaf-cgroup",
    "--wait-all",
    "--keep",
    "--events",
    "--json",
    "--report-file",
    "--quiet",
    "-q",
    "--best-effort",
    "--help",
    "-h",
    "--version",
    "-V",
];

/// Values, valid and not, for every kind of option.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "64",
    "64MiB",
    "1.5GB",
    "1MiB",
    "1048575",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999T",
    "0.5",
    "12.5%",
    "100",
    "150",
    "0.001",
    "NaN",
    "inf",
    "1e3",
    "",
    " ",
    "200ms",
    "1.5s",
    "10m",
    "0s",
    "-2s",
    "1000000d",
    "340282366920938463463374607431768211.5us",
    "idle",
    "normal",
    "high",
    "urgent",
    "0-1",
    "0,4095",
    "4096",
    "3-1",
    "never",
    "silent",
    "handles,all",
    "bogus",
    "build",
    "sh",
    "-c",
    "true",
    "x",
    "é",
    "--memory=512MiB",
    "--cpu-rate=-5",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(WORDS).prop_map(str::to_owned),
        4 => prop::sample::select(VALUES).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
        1 => "-{1,2}[a-z-]{0,14}(=\\PC{0,6})?",
    ]
}

/// The options of `winjob run` that take a value.
const RUN_OPTIONS: &[&str] = &[
    "--memory",
    "--process-memory",
    "--max-processes",
    "--cpu-rate",
    "--cpu-time",
    "--timeout",
    "--grace",
    "--priority",
    "--affinity",
    "--name",
    "--breakaway",
    "--ui-restrict",
];

/// `run`, options with values, `--`, a program: lines that clap often
/// accepts, so that the CLI's own checks get their share.
fn run_line() -> impl Strategy<Value = Vec<String>> {
    (
        proptest::collection::vec(
            (
                prop::sample::select(RUN_OPTIONS),
                prop::sample::select(VALUES),
            ),
            0..5,
        ),
        proptest::option::of(prop::sample::select(&["--best-effort", "--json", "-q"][..])),
        prop::sample::select(&["sh", "x", "true"][..]),
    )
        .prop_map(|(options, flag, program)| {
            let mut line = vec!["run".to_owned()];
            for (option, value) in options {
                line.push(option.to_owned());
                line.push(value.to_owned());
            }
            line.extend(flag.map(str::to_owned));
            line.push("--".to_owned());
            line.push(program.to_owned());
            line
        })
}

/// Found by the property below: a valid `--ui-restrict` list made clap
/// panic ("Mismatch between definition and access"), on every OS.
#[test]
fn ui_restrict_takes_a_whole_list() {
    let cli =
        Cli::try_parse_from(["winjob", "run", "--ui-restrict", "handles,all", "--", "x"]).unwrap();
    let Command::Run(args) = cli.command else {
        panic!("not run")
    };
    assert_eq!(
        args.ui_restrict,
        Some(vec!["handles".to_owned(), "all".to_owned()])
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_command_lines_are_parsed_or_refused_as_usage_errors(
        tokens in prop_oneof![proptest::collection::vec(token(), 0..10), run_line()],
    ) {
        let argv = std::iter::once("winjob".to_owned()).chain(tokens.iter().cloned());
        match Cli::try_parse_from(argv) {
            Err(e) => {
                let (code, line) = refusal(&e);
                match e.kind() {
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                        prop_assert_eq!(code, 0);
                        prop_assert!(line.is_none());
                    }
                    ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                        prop_assert_eq!(code, EXIT_USAGE);
                    }
                    kind => {
                        prop_assert_eq!(code, EXIT_USAGE, "{:?}", kind);
                        let line = line.unwrap_or_default();
                        prop_assert!(!line.trim().is_empty(), "{:?}: empty message", tokens);
                        prop_assert!(!line.contains('\n'), "{:?}: {:?}", tokens, line);
                    }
                }
            }
            Ok(cli) => {
                if let Command::Run(args) = cli.command {
                    // `winjob run` exits 2 with this message when it is Err.
                    match run::limits(&args) {
                        Ok(limits) => prop_assert!(
                            limits.validate().is_ok(),
                            "{:?}: {:?} would be refused by the library",
                            tokens,
                            limits
                        ),
                        Err(message) => {
                            prop_assert!(!message.trim().is_empty());
                            prop_assert!(!message.contains('\n'), "{:?}", message);
                        }
                    }
                    prop_assert!(!args.command.is_empty(), "{:?}: no PROGRAM", tokens);
                }
            }
        }
    }
}
