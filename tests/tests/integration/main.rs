//! Integration tests in one binary: the real handlers through the real AWS SDK against moto.
//! The harness is in `tests/src/lib.rs`.

mod admin;
mod blackbox;
mod delivery;
mod dialects;
mod edge;
mod openapi;
mod providers;
mod receipts;
mod send;
mod tracking;
mod webhook_events;
mod webhooks;
mod xray;
