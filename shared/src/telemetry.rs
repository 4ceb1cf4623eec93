//! Tracing setup (inside Lambda, `lambda_runtime`'s, which follows the function's logging
//! configuration; compact coloured text on a laptop), how log lines show an error with its causes,
//! and (`xray`) the X-Ray subsegments of an invocation's calls.

pub mod xray;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once. Inside Lambda: `lambda_runtime`'s, which takes its level
/// from `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, else info) and writes JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the template sets it). Elsewhere `RUST_LOG` filters (default `info`).
pub fn init() {
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        lambda_runtime::tracing::init_default_subscriber();
        return;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let result = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .compact()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
    // A second init (tests, the local runner's subcommands) keeps the first subscriber.
    let _ = result;
}

/// An error and its sources, `outer: cause: root cause`, for log lines: every error that wraps an
/// SDK's keeps it as its source, and this is how a log shows what actually went wrong.
pub fn chain<'a>(err: &'a (dyn std::error::Error + 'static)) -> ErrorChain<'a> {
    ErrorChain(err)
}

pub struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StoreError;

    #[test]
    fn a_chain_shows_every_source() {
        let err = StoreError::unavailable("GetItem", "connection refused");
        assert_eq!(chain(&err).to_string(), "the status store is unavailable (GetItem): connection refused");
    }
}
