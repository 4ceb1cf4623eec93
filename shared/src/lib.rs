//! Outbox's hexagon. The flows each have a folder: `send` (accept a message), `deliver` (the job
//! consumers), `stream` (the status-stream consumer: what follows a status change), `receipts`
//! (providers' delivery receipts applied to the records), `webhooks` (status events posted to
//! the orgs' webhooks) and `admin` (orgs, keys, phones, replay); `api` is the HTTP edge in front of
//! `send`. They work on `domain` types through `ports`, which `adapters` and `providers`
//! implement; `net` says where outbound requests may go; `wiring` puts it together for every
//! Lambda binary and for `local`, the emulator runner.

pub mod adapters;
pub mod admin;
pub mod api;
pub mod cache;
pub mod config;
pub mod deliver;
pub mod domain;
pub mod lazy_client;
#[cfg(feature = "local")]
pub mod local;
pub mod metrics;
pub mod net;
pub mod ports;
pub mod providers;
pub mod receipts;
pub mod send;
pub mod stream;
pub mod telemetry;
pub mod webhooks;
pub mod wiring;

pub use config::Config;
