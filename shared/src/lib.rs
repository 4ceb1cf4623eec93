//! Outbox's hexagon: validated domain types, the ports they talk through, the AWS and in-memory
//! adapters behind those ports, the providers, and the two entrypoints (HTTP router, job handlers)
//! that every Lambda binary and the local runner wire together.

pub mod adapters;
pub mod admin;
pub mod api;
pub mod broadcast;
pub mod config;
pub mod dead_letter;
pub mod delivery;
pub mod domain;
pub mod enqueue;
pub mod idempotency;
pub mod local;
pub mod ports;
pub mod providers;
pub mod rate_limit;
pub mod telemetry;
pub mod wiring;

pub use config::Config;
