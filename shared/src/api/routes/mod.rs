//! The route handlers, in modules named after their URLs: `/health`, `/v1/message/…`,
//! `/v1/queue/…`, and the other dialects' `/v1/send`, `/v1/chats/…`, `/v1/assets/…`, plus
//! `/v1/media/uploads` for large files in any dialect, `/v1/provider/…` for providers' receipts,
//! and `/v1/webhooks/…` for the org's webhook subscriptions.

pub mod assets;
pub mod chats;
pub mod health;
pub mod media;
pub mod message;
pub mod provider;
pub mod queue;
pub mod send;
pub mod webhooks;
