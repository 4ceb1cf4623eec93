//! `/v1/assets/…` (seed 004's asset routes): staging a file through the API, as multipart or
//! base64, for a later send to name by its `uploadID`. The body is Lambda's (6 MB at most);
//! larger files go through `POST /v1/media/uploads`.

pub mod upload;

use serde_json::{Value, json};

use crate::domain::upload::UploadRecord;

/// Beeper's answer to an upload, plus when the `uploadID` stops being usable.
fn uploaded(upload: &UploadRecord) -> Value {
    json!({
        "uploadID": upload.upload_id,
        "fileName": upload.filename,
        "mimeType": upload.mimetype,
        "fileSize": upload.size,
        "expiresAt": upload.expires(),
    })
}
