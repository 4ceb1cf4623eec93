//! The route handlers, in modules named after their URLs: `/health`, `/v1/message/…`, `/v1/queue/…`.

pub mod health;
pub mod message;
pub mod queue;
