//! Validated domain types: what a send request becomes, what a message record holds, what a job carries.

pub mod broadcast;
pub mod chat_id;
pub mod clock;
pub mod job;
pub mod media;
pub mod message;
pub mod poll;
pub mod send;
pub mod tenant;
pub mod validation;
