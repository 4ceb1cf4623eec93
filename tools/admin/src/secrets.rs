//! Secret flags without the secret on the command line: each one's value comes from argv (the
//! contract's form), from its environment variable, or, given as `-`, from a line of stdin, so
//! that neither shell history nor the process list needs to hold it.

use std::convert::Infallible;
use std::io::{self, BufRead, IsTerminal, Write};

use secrecy::SecretString;

/// What the operator gave for a secret flag.
#[derive(Debug, Clone)]
pub enum SecretArg {
    /// `-`: the next line of stdin.
    Stdin,
    Given(SecretString),
}

impl SecretArg {
    /// clap's parser for secret flags; it never fails, so clap never echoes a secret in an error.
    pub fn parse(raw: &str) -> Result<SecretArg, Infallible> {
        Ok(if raw == "-" { SecretArg::Stdin } else { SecretArg::Given(raw.into()) })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    #[error(
        "{flag} is `-`, but stdin ended before its line (each `-` reads one line, in the order the flags are listed in --help)"
    )]
    Ended { flag: &'static str },
    #[error("{flag} is `-`, but stdin could not be read: {source}")]
    Unreadable {
        flag: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Reads the `-` secrets from stdin, one line each, in the order they are asked for.
pub struct SecretReader<R> {
    lines: R,
    /// On a terminal, say what to type (the input is visible, but stays out of history).
    prompt: bool,
}

impl SecretReader<io::StdinLock<'static>> {
    pub fn stdin() -> Self {
        let stdin = io::stdin();
        let prompt = stdin.is_terminal();
        SecretReader { lines: stdin.lock(), prompt }
    }
}

impl<R: BufRead> SecretReader<R> {
    #[cfg(test)]
    pub fn over(lines: R) -> Self {
        SecretReader { lines, prompt: false }
    }

    /// The secret of `flag`: as given, or its line of stdin without the line ending.
    pub fn resolve(&mut self, flag: &'static str, arg: SecretArg) -> Result<SecretString, StdinError> {
        if let SecretArg::Given(secret) = arg {
            return Ok(secret);
        }
        if self.prompt {
            eprint!("{flag}: paste it and press Enter (shown as typed, but kept out of shell history): ");
            let _ = io::stderr().flush();
        }
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(0) => Err(StdinError::Ended { flag }),
            Ok(_) => {
                line.truncate(line.trim_end_matches(['\n', '\r']).len());
                // Moved, not copied: the one buffer is wiped when the secret is dropped.
                Ok(SecretString::from(line))
            }
            Err(source) => Err(StdinError::Unreadable { flag, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_dash_reads_the_next_line_and_anything_else_is_the_secret() {
        let mut reader = SecretReader::over(Cursor::new("tok-1\r\napp-2\n"));
        let parse = |raw: &str| SecretArg::parse(raw).unwrap();
        let read = |reader: &mut SecretReader<_>, flag, raw| reader.resolve(flag, parse(raw)).unwrap();
        assert_eq!(read(&mut reader, "--access-token", "-").expose_secret(), "tok-1");
        assert_eq!(read(&mut reader, "--app-secret", "given").expose_secret(), "given");
        assert_eq!(read(&mut reader, "--verify-token", "-").expose_secret(), "app-2");
        let err = reader.resolve("--signing-secret", parse("-")).unwrap_err();
        assert!(err.to_string().starts_with("--signing-secret is `-`, but stdin ended"), "{err}");
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let arg = SecretArg::parse("EAAG-secret").unwrap();
        assert!(!format!("{arg:?}").contains("EAAG-secret"));
    }
}
