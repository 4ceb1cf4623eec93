//! Validated domain types: what a request becomes, what a message record holds, what a job carries.
//! Wire shapes (`wire`) and limits (`limits`) have their own modules; nothing here does I/O.

pub mod broadcast;
pub mod capabilities;
pub mod chat_id;
pub mod content;
pub mod counters;
pub mod ids;
pub mod job;
pub mod limits;
pub mod markdown;
pub mod media;
pub mod message;
pub mod poll;
pub mod receipt;
pub mod send;
pub mod tenant;
pub mod time;
pub mod upload;
pub mod validation;
pub mod webhook;
pub mod wire;
