//! Adapters: the only code that names `aws_sdk_*` (with `local`, the emulator runner). Each
//! implements ports over one AWS service, plus in-memory twins for handler tests; `sdk_trace`
//! records every client's calls as X-Ray subsegments.

pub mod aws;
pub mod dynamodb;
pub mod memory;
pub mod s3;
mod sdk_trace;
pub mod secrets_manager;
pub mod sqs;
