//! The network edge towards users' systems: where requests to user-configured URLs (provider
//! endpoints, webhooks) may go, and the signatures on what goes out and comes in.

pub mod egress;
pub mod signatures;
