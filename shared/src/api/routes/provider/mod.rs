//! `/v1/provider/…`: what providers call, not clients: Meta's webhook (`whatsapp/webhook`) and an
//! `http` gateway's receipts (`http/receipts`). No API key: each request is signed with its
//! phone's secret, checked over the raw, bounded body before it is parsed (`receipts::inbound`).

pub mod http;
pub mod whatsapp;

use crate::api::ApiError;
use crate::domain::validation::ValidationError;
use crate::receipts::inbound::InboundError;

/// The largest receipts body read: Meta batches statuses, but a batch is a few KB each.
pub const MAX_RECEIPTS_BODY_BYTES: usize = 1024 * 1024;

impl From<InboundError> for ApiError {
    fn from(err: InboundError) -> Self {
        match err {
            InboundError::Unauthorized(why) => ApiError::BadSignature(why),
            InboundError::Forbidden(why) => ApiError::Forbidden(why),
            InboundError::Invalid(why) => {
                ApiError::Validation(ValidationError::bad_request("invalid_receipts", None, why))
            }
            InboundError::Unavailable(why) => ApiError::Unavailable(why),
        }
    }
}
