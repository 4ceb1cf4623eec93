//! Uploads: files staged in S3 before a send names them. The record of one, the body of a
//! presigned upload (`POST /v1/media/uploads`) validated, and the names of a file uploaded
//! through the API (`/v1/assets/upload`), with its MIME type found from its bytes if not given.

use serde::{Deserialize, Serialize};

use super::ids::{OrgId, UploadId};
use super::limits::UPLOAD_LIFETIME;
use super::media::{MediaKind, check_filename, check_mimetype, too_large_for};
use super::time::Timestamp;
use super::validation::ValidationError;
use super::wire::decode_json_like;

/// One staged file. The org is part of its key, so another org's upload is not found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub org_id: OrgId,
    pub upload_id: UploadId,
    /// Under `uploads/{org}/{upload_id}/`.
    pub s3_key: String,
    pub filename: String,
    pub mimetype: String,
    /// The kind declared for a presigned upload; the asset routes leave it to the send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MediaKind>,
    /// Bytes: as declared for a presigned upload (the PUT is bound to it), as stored otherwise.
    pub size: u64,
    pub created_at: Timestamp,
    /// Epoch seconds after which a send may no longer name it (and DynamoDB's TTL removes it).
    pub expires_at: i64,
}

impl UploadRecord {
    /// A new upload of `file` by `org` at `now`, usable in sends for `UPLOAD_LIFETIME`.
    pub fn new(org: &OrgId, file: FileFacts, kind: Option<MediaKind>, now: Timestamp) -> UploadRecord {
        let upload_id = UploadId::generate();
        UploadRecord {
            s3_key: upload_key(org, &upload_id, &file.filename),
            org_id: org.clone(),
            upload_id,
            filename: file.filename,
            mimetype: file.mimetype,
            kind,
            size: file.size,
            created_at: now,
            expires_at: now.plus(UPLOAD_LIFETIME).epoch_secs(),
        }
    }

    /// Past its lifetime: a send may no longer name it, even before the TTL has removed it.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now.epoch_secs() >= self.expires_at
    }

    /// When it stops being usable.
    pub fn expires(&self) -> Timestamp {
        Timestamp::from_epoch_secs(self.expires_at).unwrap_or(self.created_at)
    }
}

/// What is known of a file before it is stored: its name, MIME type and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    pub filename: String,
    pub mimetype: String,
    pub size: u64,
}

/// `uploads/{org}/{upload_id}/{filename}`, the file name reduced to safe characters.
pub fn upload_key(org: &OrgId, upload_id: &UploadId, filename: &str) -> String {
    format!("uploads/{org}/{upload_id}/{}", safe_file_name(filename))
}

/// A file name as an S3 key segment: ASCII letters, digits, `.`, `-` and `_`, at most 100.
pub fn safe_file_name(filename: &str) -> String {
    filename
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect()
}

/// The raw body of `POST /v1/media/uploads`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "a JSON object")]
pub struct PresignRequest {
    pub filename: Option<String>,
    pub mimetype: Option<String>,
    pub size: Option<u64>,
    #[serde(rename = "type")]
    pub r#type: Option<String>,
}

/// A presigned upload that may be made: its file and the kind whose limit bounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedPresign {
    pub file: FileFacts,
    pub kind: MediaKind,
}

const PRESIGN_EXAMPLE: &str = r#"{"filename": "talk.mp4", "mimetype": "video/mp4", "size": 12000000, "type": "video"}"#;

impl PresignRequest {
    pub fn from_json(body: &[u8]) -> Result<PresignRequest, ValidationError> {
        decode_json_like(body, PRESIGN_EXAMPLE)
    }

    /// Type, filename, mimetype, then size: a size over the type's limit is 413, a MIME type the
    /// type cannot carry 400.
    pub fn validate(self) -> Result<ValidatedPresign, ValidationError> {
        let required = |value: Option<String>, field: &str| {
            value.filter(|v| !v.trim().is_empty()).ok_or_else(|| ValidationError::missing_field(field))
        };
        let kind = MediaKind::parse_at(&required(self.r#type, "type")?, "type")?;
        let filename = check_filename(required(self.filename, "filename")?, "filename")?;
        let mimetype = check_mimetype(required(self.mimetype, "mimetype")?, "mimetype")?;
        check_kind_takes(kind, &mimetype, "mimetype")?;
        let size = self.size.ok_or_else(|| ValidationError::missing_field("size"))?;
        if size == 0 {
            return Err(ValidationError::bad_request("invalid_size", Some("size"), "size must be at least 1 byte"));
        }
        if size > kind.max_bytes() as u64 {
            return Err(too_large_for(kind, size, "size", "size"));
        }
        Ok(ValidatedPresign { file: FileFacts { filename, mimetype, size }, kind })
    }
}

/// `kind` can carry a file of `mimetype`, or the 400 that says which types it takes.
pub fn check_kind_takes(kind: MediaKind, mimetype: &str, field: &str) -> Result<(), ValidationError> {
    if kind.accepts_mimetype(mimetype) {
        return Ok(());
    }
    let takes = match kind {
        MediaKind::Image => "image/*",
        MediaKind::Video | MediaKind::Gif => "video/*",
        MediaKind::Audio | MediaKind::VoiceNote => "audio/*",
        MediaKind::Sticker => "image/webp",
        MediaKind::Document => "any type",
    };
    Err(ValidationError::bad_request(
        "mimetype_mismatch",
        Some(field),
        format!("{field} {mimetype:?} cannot be sent as {}, which takes {takes}", kind.as_str()),
    ))
}

/// The raw body of `POST /v1/assets/upload/base64` (Beeper's names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "a JSON object")]
pub struct Base64Upload {
    pub content: Option<String>,
    #[serde(rename = "fileName")]
    pub file_name: Option<String>,
    #[serde(rename = "mimeType")]
    pub mime_type: Option<String>,
}

const BASE64_EXAMPLE: &str = r#"{"content": "iVBORw0KGgo…", "fileName": "dot.png", "mimeType": "image/png"}"#;

impl Base64Upload {
    pub fn from_json(body: &[u8]) -> Result<Base64Upload, ValidationError> {
        decode_json_like(body, BASE64_EXAMPLE)
    }
}

/// The name and MIME type of an uploaded file: as given, else the multipart part's, else (for the
/// MIME type) found from the file's first bytes, else `application/octet-stream`.
pub fn name_file(
    bytes: &[u8],
    filename: Option<String>,
    mimetype: Option<String>,
    field_prefix: &str,
) -> Result<FileFacts, ValidationError> {
    let filename = match filename.filter(|f| !f.trim().is_empty()) {
        Some(filename) => check_filename(filename, &format!("{field_prefix}fileName"))?,
        None => "file".to_string(),
    };
    let mimetype = match mimetype.filter(|m| !m.trim().is_empty()) {
        Some(mimetype) => check_mimetype(mimetype, &format!("{field_prefix}mimeType"))?,
        None => sniff_mimetype(bytes).to_string(),
    };
    Ok(FileFacts { filename, mimetype, size: bytes.len() as u64 })
}

/// The MIME type of the common media formats by their magic bytes; anything else is
/// `application/octet-stream` (sent as a document).
pub fn sniff_mimetype(bytes: &[u8]) -> &'static str {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if at(0, b"\xff\xd8\xff") {
        "image/jpeg"
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        "image/gif"
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        "image/webp"
    } else if at(0, b"%PDF-") {
        "application/pdf"
    } else if at(0, b"OggS") {
        "audio/ogg"
    } else if at(4, b"ftypM4A") {
        "audio/mp4"
    } else if at(4, b"ftyp") {
        "video/mp4"
    } else if at(0, b"ID3") || at(0, b"\xff\xfb") || at(0, b"\xff\xf3") {
        "audio/mpeg"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validation::ValidationErrorKind;
    use serde_json::json;

    fn presign(body: serde_json::Value) -> Result<ValidatedPresign, ValidationError> {
        PresignRequest::from_json(body.to_string().as_bytes())?.validate()
    }

    #[test]
    fn a_presign_declares_a_file_its_type_can_carry_within_the_limit() {
        let ok = presign(
            json!({"filename": "talk.mp4", "mimetype": "video/mp4", "size": 16 * 1024 * 1024, "type": "video"}),
        )
        .expect("at the limit");
        assert_eq!(ok.kind, MediaKind::Video);
        assert_eq!(ok.file, FileFacts { filename: "talk.mp4".into(), mimetype: "video/mp4".into(), size: 16 << 20 });
        let doc =
            presign(json!({"filename": "a.pdf", "mimetype": "application/pdf", "size": 100 << 20, "type": "document"}));
        assert!(doc.is_ok());
    }

    #[test]
    fn presign_rejections_name_their_field() {
        let cases = [
            (
                json!({"filename": "a", "mimetype": "video/mp4", "size": (16 << 20) + 1, "type": "video"}),
                "media_too_large",
                "size",
                ValidationErrorKind::PayloadTooLarge,
            ),
            (
                json!({"filename": "a", "mimetype": "image/png", "size": (5 << 20) + 1, "type": "image"}),
                "media_too_large",
                "size",
                ValidationErrorKind::PayloadTooLarge,
            ),
            (
                json!({"filename": "a", "mimetype": "application/pdf", "size": 10, "type": "image"}),
                "mimetype_mismatch",
                "mimetype",
                ValidationErrorKind::BadRequest,
            ),
            (
                json!({"filename": "a", "mimetype": "image/png", "size": 10, "type": "sticker"}),
                "invalid_media_type",
                "type",
                ValidationErrorKind::BadRequest,
            ),
            (
                json!({"filename": "a", "mimetype": "image/png", "size": 10}),
                "missing_field",
                "type",
                ValidationErrorKind::BadRequest,
            ),
            (
                json!({"mimetype": "image/png", "size": 10, "type": "image"}),
                "missing_field",
                "filename",
                ValidationErrorKind::BadRequest,
            ),
            (
                json!({"filename": "a", "mimetype": "png", "size": 10, "type": "image"}),
                "invalid_mimetype",
                "mimetype",
                ValidationErrorKind::BadRequest,
            ),
            (
                json!({"filename": "a", "mimetype": "image/png", "type": "image"}),
                "missing_field",
                "size",
                ValidationErrorKind::BadRequest,
            ),
            (
                json!({"filename": "a", "mimetype": "image/png", "size": 0, "type": "image"}),
                "invalid_size",
                "size",
                ValidationErrorKind::BadRequest,
            ),
            (
                json!({"filename": "a", "mimetype": "image/png", "size": -1, "type": "image"}),
                "invalid_type",
                "size",
                ValidationErrorKind::BadRequest,
            ),
        ];
        for (body, code, field, kind) in cases {
            let err = presign(body.clone()).expect_err(&body.to_string());
            assert_eq!(
                (err.code, err.field.as_deref(), err.kind),
                (code, Some(field), kind),
                "{body}: {}",
                err.message
            );
        }
        let err =
            presign(json!({"filename": "a", "mimetype": "video/mp4", "size": 20 << 20, "type": "video"})).unwrap_err();
        assert!(err.message.contains("16 MiB") && err.message.contains("20971520"), "{}", err.message);
    }

    #[test]
    fn uploads_expire_after_their_lifetime_and_keys_name_the_org() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let file = FileFacts { filename: "../my photo.png".into(), mimetype: "image/png".into(), size: 3 };
        let record = UploadRecord::new(&OrgId::from("org-1"), file, None, now);
        assert_eq!(record.s3_key, format!("uploads/org-1/{}/.._my_photo.png", record.upload_id));
        assert!(!record.is_expired(now.plus(UPLOAD_LIFETIME - std::time::Duration::from_secs(1))));
        assert!(record.is_expired(now.plus(UPLOAD_LIFETIME)));
        assert_eq!(record.expires(), now.plus(UPLOAD_LIFETIME));
    }

    #[test]
    fn file_names_and_types_default_and_are_checked() {
        let png = b"\x89PNG\r\n\x1a\nrest";
        assert_eq!(
            name_file(png, None, None, "").unwrap(),
            FileFacts { filename: "file".into(), mimetype: "image/png".into(), size: png.len() as u64 }
        );
        let named = name_file(png, Some("dot.png".into()), Some("image/x-custom".into()), "").unwrap();
        assert_eq!((named.filename.as_str(), named.mimetype.as_str()), ("dot.png", "image/x-custom"));
        let err = name_file(png, None, Some("png".into()), "").unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("invalid_mimetype", Some("mimeType")));
        let err = name_file(png, Some("x".repeat(256)), None, "").unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("too_long", Some("fileName")));
    }

    #[test]
    fn common_formats_are_sniffed_by_their_magic_bytes() {
        let cases: [(&[u8], &str); 11] = [
            (b"\x89PNG\r\n\x1a\n....", "image/png"),
            (b"\xff\xd8\xff\xe0....", "image/jpeg"),
            (b"GIF89a....", "image/gif"),
            (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
            (b"%PDF-1.7", "application/pdf"),
            (b"OggS\x00\x02", "audio/ogg"),
            (b"\x00\x00\x00\x20ftypM4A ", "audio/mp4"),
            (b"\x00\x00\x00\x20ftypisom", "video/mp4"),
            (b"ID3\x04\x00", "audio/mpeg"),
            (b"hello", "application/octet-stream"),
            (b"", "application/octet-stream"),
        ];
        for (bytes, mime) in cases {
            assert_eq!(sniff_mimetype(bytes), mime, "{bytes:?}");
        }
    }
}
