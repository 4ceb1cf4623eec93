//! Adapters: the only code that names `aws_sdk_*`. Each implements ports over one AWS service,
//! plus in-memory twins for handler tests.

pub mod aws;
pub mod dynamodb;
pub mod memory;
pub mod provision;
pub mod s3;
pub mod secrets_manager;
pub mod sqs;
pub mod sqs_event_source;
