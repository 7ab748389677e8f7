//! The command line of a new process, quoted exactly as std quotes it.
//!
//! A Windows process gets one string, which its C runtime (or
//! `CommandLineToArgvW`) splits into arguments. std's rules, which this file
//! follows rule for rule so that a program sees the same arguments from
//! winjob's `Command` as from std's:
//!
//! - the program name is always put in quotes (a path cannot contain `"`);
//! - an argument is quoted if it is empty or has a space or a tab; inside
//!   it, `"` becomes `\"` and the backslashes before it are doubled, and so
//!   are the backslashes before the closing quote; a raw argument
//!   (`raw_arg`) is appended as it is;
//! - a batch file (`.bat`, `.cmd`) runs as `cmd.exe /e:ON /v:OFF /d /c
//!   ""SCRIPT" ARGS"`, where cmd.exe's own parsing applies: every argument
//!   with an ASCII character outside `[A-Za-z0-9#$*+-./:?@\_]` or a control
//!   character is quoted, `"` is doubled, `%` is defused as `%%cd:~,%`
//!   (which expands to nothing), and an argument with a carriage return or a
//!   line feed is refused, since cmd.exe would end the command there (the
//!   fix of CVE-2024-24576).
//!
//! Pure code on UTF-16 slices, so that its tests (the round trip through a
//! parser of the C runtime's rules, `parse`) run on every host.

use std::fmt;

/// One argument after the program name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Piece<'a> {
    /// Quoted as needed.
    Regular(&'a [u16]),
    /// Appended as it is.
    Raw(&'a [u16]),
}

/// Why a command line cannot be made; the caller turns it into
/// `InvalidInput`, naming the argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A NUL in the program (`None`) or in argument `n` (1-based).
    Nul(Option<usize>),
    /// A batch file's argument `n` has a carriage return or a line feed.
    BatchLineBreak(usize),
    /// A batch file's path contains `"` or ends with `\`.
    BatchPath,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Nul(None) => write!(f, "the program contains a NUL character"),
            Refused::Nul(Some(n)) => write!(f, "argument {n} contains a NUL character"),
            Refused::BatchLineBreak(n) => write!(
                f,
                "argument {n} to a batch file contains a carriage return or a line feed, at \
                 which cmd.exe would end the command line; refused, as std refuses it \
                 (CVE-2024-24576)"
            ),
            Refused::BatchPath => write!(
                f,
                "a batch file's path may not contain `\"` or end with `\\`"
            ),
        }
    }
}

const QUOTE: u16 = b'"' as u16;
const BACKSLASH: u16 = b'\\' as u16;
const SPACE: u16 = b' ' as u16;
const TAB: u16 = b'\t' as u16;

fn no_nul(s: &[u16], which: Option<usize>) -> Result<(), Refused> {
    if s.contains(&0) {
        Err(Refused::Nul(which))
    } else {
        Ok(())
    }
}

/// The command line for `program` (as the caller named it) and `args`,
/// without a terminating NUL.
pub(crate) fn command_line(program: &[u16], args: &[Piece<'_>]) -> Result<Vec<u16>, Refused> {
    no_nul(program, None)?;
    let mut cmd = Vec::with_capacity(program.len() + 2);
    cmd.push(QUOTE);
    cmd.extend_from_slice(program);
    cmd.push(QUOTE);
    for (i, arg) in args.iter().enumerate() {
        cmd.push(SPACE);
        append(&mut cmd, *arg, i + 1)?;
    }
    Ok(cmd)
}

fn append(cmd: &mut Vec<u16>, arg: Piece<'_>, n: usize) -> Result<(), Refused> {
    let arg = match arg {
        Piece::Raw(raw) => {
            no_nul(raw, Some(n))?;
            cmd.extend_from_slice(raw);
            return Ok(());
        }
        Piece::Regular(arg) => arg,
    };
    no_nul(arg, Some(n))?;
    let quote = arg.is_empty() || arg.iter().any(|&c| c == SPACE || c == TAB);
    if quote {
        cmd.push(QUOTE);
    }
    let mut backslashes = 0usize;
    for &c in arg {
        if c == BACKSLASH {
            backslashes += 1;
        } else {
            if c == QUOTE {
                // 2n + 1 backslashes in all before an inner quote.
                cmd.extend(std::iter::repeat_n(BACKSLASH, backslashes + 1));
            }
            backslashes = 0;
        }
        cmd.push(c);
    }
    if quote {
        // 2n in all before the closing quote.
        cmd.extend(std::iter::repeat_n(BACKSLASH, backslashes));
        cmd.push(QUOTE);
    }
    Ok(())
}

/// True if `path` names a batch file (ends with `.bat` or `.cmd`, any case).
pub(crate) fn is_batch_file(path: &[u16]) -> bool {
    let path = path.strip_suffix(&[0]).unwrap_or(path);
    let Some(tail) = path.len().checked_sub(4).and_then(|i| path.get(i..)) else {
        return false;
    };
    let lower: Vec<u16> = tail
        .iter()
        .map(|&c| {
            if (u16::from(b'A')..=u16::from(b'Z')).contains(&c) {
                c + 32
            } else {
                c
            }
        })
        .collect();
    lower == ".bat".encode_utf16().collect::<Vec<_>>()
        || lower == ".cmd".encode_utf16().collect::<Vec<_>>()
}

/// The command line that runs the batch file `script` (its resolved path)
/// through `cmd.exe`, without a terminating NUL.
pub(crate) fn batch_command_line(script: &[u16], args: &[Piece<'_>]) -> Result<Vec<u16>, Refused> {
    let script = script.strip_suffix(&[0]).unwrap_or(script);
    no_nul(script, None)?;
    if script.contains(&QUOTE) || script.last() == Some(&BACKSLASH) {
        return Err(Refused::BatchPath);
    }
    // The extra quote after /c is closed after the last argument.
    let mut cmd: Vec<u16> = "cmd.exe /e:ON /v:OFF /d /c \"".encode_utf16().collect();
    cmd.push(QUOTE);
    cmd.extend_from_slice(script);
    cmd.push(QUOTE);
    for (i, arg) in args.iter().enumerate() {
        cmd.push(SPACE);
        match *arg {
            Piece::Regular(a) => {
                if a.iter()
                    .any(|&c| c == u16::from(b'\r') || c == u16::from(b'\n'))
                {
                    return Err(Refused::BatchLineBreak(i + 1));
                }
                append_batch(&mut cmd, a, i + 1)?;
            }
            Piece::Raw(_) => append(&mut cmd, *arg, i + 1)?,
        }
    }
    cmd.push(QUOTE);
    Ok(cmd)
}

fn append_batch(cmd: &mut Vec<u16>, arg: &[u16], n: usize) -> Result<(), Refused> {
    no_nul(arg, Some(n))?;
    // Quoted if empty, or ending with `\` (which would escape a quote the
    // script adds, as in "%~1"), or with any character cmd.exe treats
    // specially.
    const UNQUOTED: &str = r"#$*+-./:?@\_";
    let mut quote = arg.is_empty() || arg.last() == Some(&BACKSLASH);
    for c in char::decode_utf16(arg.iter().copied()).flatten() {
        let ascii_needs_quotes =
            c.is_ascii() && !(c.is_ascii_alphanumeric() || UNQUOTED.contains(c));
        if ascii_needs_quotes || c.is_control() {
            quote = true;
        }
    }
    if quote {
        cmd.push(QUOTE);
    }
    let mut backslashes = 0usize;
    for &c in arg {
        if c == BACKSLASH {
            backslashes += 1;
        } else {
            if c == QUOTE {
                // 2n backslashes before an inner quote, which is doubled.
                cmd.extend(std::iter::repeat_n(BACKSLASH, backslashes));
                cmd.push(QUOTE);
            } else if c == u16::from(b'%') || c == u16::from(b'\r') {
                // `%` becomes `%%cd:~,%`: an empty substring of %cd%, which
                // keeps cmd.exe from expanding a %VARIABLE%.
                cmd.extend("%%cd:~,".encode_utf16());
            }
            backslashes = 0;
        }
        cmd.push(c);
    }
    if quote {
        cmd.extend(std::iter::repeat_n(BACKSLASH, backslashes));
        cmd.push(QUOTE);
    }
    Ok(())
}

/// Splits a command line as the C runtime (since 2008) and
/// `CommandLineToArgvW` do: the program name up to its closing quote or the
/// first blank, then arguments where `2n` backslashes before `"` are `n`
/// backslashes and a quote that toggles quoting, `2n+1` are `n` and a
/// literal quote, and `""` inside quotes is a literal quote. For the tests:
/// the child's view of a command line.
#[cfg(test)]
pub(crate) fn parse(cmd: &[u16]) -> Vec<Vec<u16>> {
    let mut out = Vec::new();
    let mut i = 0;
    // The program name.
    let mut program = Vec::new();
    if cmd.first() == Some(&QUOTE) {
        i = 1;
        while i < cmd.len() && cmd[i] != QUOTE {
            program.push(cmd[i]);
            i += 1;
        }
        i += 1;
    } else {
        while i < cmd.len() && cmd[i] != SPACE && cmd[i] != TAB {
            program.push(cmd[i]);
            i += 1;
        }
    }
    out.push(program);
    loop {
        while i < cmd.len() && (cmd[i] == SPACE || cmd[i] == TAB) {
            i += 1;
        }
        if i >= cmd.len() {
            return out;
        }
        let mut arg = Vec::new();
        let mut in_quotes = false;
        while i < cmd.len() {
            let c = cmd[i];
            if c == BACKSLASH {
                let start = i;
                while i < cmd.len() && cmd[i] == BACKSLASH {
                    i += 1;
                }
                let n = i - start;
                if cmd.get(i) == Some(&QUOTE) {
                    arg.extend(std::iter::repeat_n(BACKSLASH, n / 2));
                    if n % 2 == 1 {
                        arg.push(QUOTE);
                        i += 1;
                    }
                } else {
                    arg.extend(std::iter::repeat_n(BACKSLASH, n));
                }
                continue;
            }
            if c == QUOTE {
                if in_quotes && cmd.get(i + 1) == Some(&QUOTE) {
                    arg.push(QUOTE);
                    i += 2;
                    continue;
                }
                in_quotes = !in_quotes;
                i += 1;
                continue;
            }
            if !in_quotes && (c == SPACE || c == TAB) {
                break;
            }
            arg.push(c);
            i += 1;
        }
        out.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn line(program: &str, args: &[&str]) -> String {
        let args: Vec<Vec<u16>> = args.iter().map(|a| w(a)).collect();
        let pieces: Vec<Piece<'_>> = args.iter().map(|a| Piece::Regular(a)).collect();
        String::from_utf16(&command_line(&w(program), &pieces).unwrap()).unwrap()
    }

    #[test]
    fn known_quotings() {
        assert_eq!(line("prog", &["a", "b c", ""]), r#""prog" a "b c" """#);
        assert_eq!(line("prog", &[r#"a"b"#]), r#""prog" a\"b"#);
        assert_eq!(line("prog", &[r"a\\"]), r#""prog" a\\"#);
        assert_eq!(line("prog", &[r"a b\"]), r#""prog" "a b\\""#);
        assert_eq!(line("prog", &[r#"\"x"#]), r#""prog" \\\"x"#);
        let raw = w("/c \"echo hi\"");
        let cmd = command_line(&w("cmd.exe"), &[Piece::Raw(&raw)]).unwrap();
        assert_eq!(
            String::from_utf16(&cmd).unwrap(),
            r#""cmd.exe" /c "echo hi""#
        );
    }

    #[test]
    fn nul_bytes_and_batch_line_breaks_are_refused() {
        let nul = w("a\0b");
        assert_eq!(
            command_line(&w("p"), &[Piece::Regular(&w("ok")), Piece::Regular(&nul)]),
            Err(Refused::Nul(Some(2)))
        );
        for bad in ["a\nb", "a\rb", "\r\n"] {
            let bad = w(bad);
            assert_eq!(
                batch_command_line(&w(r"C:\x.bat"), &[Piece::Regular(&bad)]),
                Err(Refused::BatchLineBreak(1))
            );
        }
        assert_eq!(
            batch_command_line(&w(r#"C:\a"b.bat"#), &[]),
            Err(Refused::BatchPath)
        );
    }

    #[test]
    fn batch_arguments_are_quoted_and_defused() {
        let args: Vec<Vec<u16>> = ["plain", "a b", "%PATH%", "x\"y", "end\\", "&calc"]
            .iter()
            .map(|a| w(a))
            .collect();
        let pieces: Vec<Piece<'_>> = args.iter().map(|a| Piece::Regular(a)).collect();
        let cmd = batch_command_line(&w(r"C:\dir\s.bat"), &pieces).unwrap();
        assert_eq!(
            String::from_utf16(&cmd).unwrap(),
            r#"cmd.exe /e:ON /v:OFF /d /c ""C:\dir\s.bat" plain "a b" "%%cd:~,%PATH%%cd:~,%" "x""y" "end\\" "&calc"""#
        );
        assert!(is_batch_file(&w(r"C:\x.BAT")));
        assert!(is_batch_file(&w("y.Cmd\0")));
        assert!(!is_batch_file(&w("z.exe")));
        assert!(!is_batch_file(&w("bat")));
    }

    proptest! {
        /// Whatever the arguments, the child's C runtime splits the command
        /// line back into exactly them.
        #[test]
        fn quoting_round_trips(args in proptest::collection::vec("[ a\\\\\"\t'ü✓%^&]{0,10}", 0..8)) {
            let wide: Vec<Vec<u16>> = args.iter().map(|a| w(a)).collect();
            let pieces: Vec<Piece<'_>> = wide.iter().map(|a| Piece::Regular(a)).collect();
            let cmd = command_line(&w(r"C:\Program Files\p.exe"), &pieces).unwrap();
            let parsed = parse(&cmd);
            prop_assert_eq!(&parsed[0], &w(r"C:\Program Files\p.exe"));
            prop_assert_eq!(&parsed[1..], &wide[..]);
        }
    }
}
