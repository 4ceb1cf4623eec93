//! Outbound network rules: where requests to user-configured URLs (provider endpoints, webhooks)
//! may go.

pub mod egress;
