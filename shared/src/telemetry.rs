//! Tracing setup: JSON lines inside Lambda (CloudWatch), compact coloured text on a laptop.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; `RUST_LOG` filters (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if in_lambda {
        // Lambda adds its own timestamp and request id to every line.
        builder.json().flatten_event(true).without_time().with_current_span(false).try_init()
    } else {
        builder.compact().with_target(false).with_ansi(std::io::stdout().is_terminal()).try_init()
    };
    // A second init (tests, the local runner's subcommands) keeps the first subscriber.
    let _ = result;
}
