//! Media attachments: the four kinds, their size limits, and turning a raw `media` object into a `Media`.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::limits::{
    MAX_AUDIO_BYTES, MAX_DOCUMENT_BYTES, MAX_FILENAME_CHARS, MAX_IMAGE_BYTES, MAX_MIMETYPE_CHARS, MAX_URL_CHARS,
    MAX_VIDEO_BYTES,
};
use super::validation::{ValidationError, parse_web_url};
use super::wire::RawMedia;

const MIB: usize = 1024 * 1024;

/// Standard alphabet; clients differ on padding, so both forms are accepted.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    pub fn parse(raw: &str) -> Result<MediaKind, ValidationError> {
        match raw {
            "image" => Ok(MediaKind::Image),
            "video" => Ok(MediaKind::Video),
            "audio" => Ok(MediaKind::Audio),
            "document" => Ok(MediaKind::Document),
            _ => Err(ValidationError::bad_request(
                "invalid_media_type",
                Some("media.type"),
                "media.type must be one of image, video, audio or document",
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }

    /// WhatsApp Cloud API upload limits, so a job we accept is one the provider can take.
    pub fn max_bytes(&self) -> usize {
        match self {
            MediaKind::Image => MAX_IMAGE_BYTES,
            MediaKind::Video => MAX_VIDEO_BYTES,
            MediaKind::Audio => MAX_AUDIO_BYTES,
            MediaKind::Document => MAX_DOCUMENT_BYTES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// An https URL, not fetched here.
    Url(String),
    /// The decoded bytes of `filedata`.
    Inline(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    pub source: MediaSource,
    pub filename: String,
    pub mimetype: String,
}

impl Media {
    /// Checks type, filename, mimetype, then the one source, in that order.
    pub fn parse(raw: RawMedia) -> Result<Media, ValidationError> {
        let kind = MediaKind::parse(&required(raw.r#type, "media.type")?)?;
        let filename = required(raw.filename, "media.filename")?;
        ValidationError::check_length(&filename, "media.filename", MAX_FILENAME_CHARS)?;
        let mimetype = required(raw.mimetype, "media.mimetype")?;
        ValidationError::check_length(&mimetype, "media.mimetype", MAX_MIMETYPE_CHARS)?;
        if !is_mimetype(&mimetype) {
            return Err(ValidationError::bad_request(
                "invalid_mimetype",
                Some("media.mimetype"),
                "media.mimetype must look like type/subtype, e.g. image/jpeg or application/pdf",
            ));
        }
        // An empty string is treated as absent, like an empty `message`.
        let source = match (non_empty(raw.url), non_empty(raw.filedata)) {
            (Some(url), None) => MediaSource::Url(parse_url(url)?),
            (None, Some(filedata)) => MediaSource::Inline(decode_filedata(&filedata, kind)?),
            _ => {
                return Err(ValidationError::bad_request(
                    "invalid_media_source",
                    Some("media"),
                    "give exactly one of media.url or media.filedata",
                ));
            }
        };
        Ok(Media { kind, source, filename, mimetype })
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn required(value: Option<String>, field: &str) -> Result<String, ValidationError> {
    value.filter(|v| !v.trim().is_empty()).ok_or_else(|| ValidationError::missing_field(field))
}

/// `type/subtype` of RFC 6838 name characters; parameters after ';' (as in
/// `audio/ogg; codecs=opus`, which WhatsApp voice notes use) are allowed and passed through.
fn is_mimetype(raw: &str) -> bool {
    let essence = raw.split(';').next().unwrap_or_default();
    let is_name = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    !raw.chars().any(char::is_control) && essence.split_once('/').is_some_and(|(t, sub)| is_name(t) && is_name(sub))
}

/// An https URL with a host, kept exactly as given: it is passed through, never fetched here.
fn parse_url(url: String) -> Result<String, ValidationError> {
    ValidationError::check_length(&url, "media.url", MAX_URL_CHARS)?;
    match parse_web_url(&url, &["https"]) {
        Some(_) => Ok(url),
        None => Err(ValidationError::bad_request(
            "invalid_media_url",
            Some("media.url"),
            "media.url must be an https:// URL with a host and no spaces, e.g. https://example.com/photo.jpg",
        )),
    }
}

/// Decodes `filedata`, rejecting an over-limit payload before allocating the decoded copy.
fn decode_filedata(filedata: &str, kind: MediaKind) -> Result<Vec<u8>, ValidationError> {
    let invalid = |why: &str| {
        ValidationError::bad_request(
            "invalid_base64",
            Some("media.filedata"),
            format!(
                "media.filedata {why}; send the file's bytes as standard base64 (A-Z, a-z, 0-9, +, /), \
                 optionally as data:<mime>;base64,<data>"
            ),
        )
    };
    let payload = match filedata.strip_prefix("data:") {
        Some(data_url) => match data_url.split_once(";base64,") {
            Some((mime, payload)) if !mime.contains(',') => payload,
            _ => return Err(invalid("is a data: URL without ;base64,")),
        },
        None => filedata,
    };
    // Exact decoded length of valid base64: 3 bytes per 4 symbols, padding and whitespace excluded.
    let symbols = payload.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=').count();
    let size = symbols * 3 / 4;
    if size > kind.max_bytes() {
        return Err(too_large(size, kind));
    }
    let compact: Cow<str> = if payload.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(payload.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(payload)
    };
    let bytes = BASE64.decode(compact.as_bytes()).map_err(|_| invalid("is not valid base64"))?;
    if bytes.is_empty() {
        return Err(invalid("decodes to an empty file"));
    }
    Ok(bytes)
}

fn too_large(size: usize, kind: MediaKind) -> ValidationError {
    ValidationError::payload_too_large(
        "media_too_large",
        Some("media.filedata"),
        format!(
            "media.filedata decodes to {size} bytes, over the {limit} bytes ({mib} MiB) allowed for {kind}; \
             upload large files with POST /v1/assets/upload or pass an https media.url instead",
            limit = kind.max_bytes(),
            mib = kind.max_bytes() / MIB,
            kind = kind.as_str(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validation::ValidationErrorKind;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    fn raw(kind: &str) -> RawMedia {
        RawMedia {
            r#type: Some(kind.into()),
            url: None,
            filedata: None,
            filename: Some("photo.jpg".into()),
            mimetype: Some("image/jpeg".into()),
        }
    }

    fn with_url(url: &str) -> RawMedia {
        RawMedia { url: Some(url.into()), ..raw("image") }
    }

    fn with_data(filedata: &str) -> RawMedia {
        RawMedia { filedata: Some(filedata.into()), ..raw("image") }
    }

    fn assert_rejects(media: RawMedia, code: &str, field: &str) -> ValidationError {
        let err = Media::parse(media).expect_err("should be rejected");
        assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{}", err.message);
        err
    }

    #[test]
    fn kinds_parse_and_print_lowercase() {
        for kind in [MediaKind::Image, MediaKind::Video, MediaKind::Audio, MediaKind::Document] {
            assert_eq!(MediaKind::parse(kind.as_str()), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).expect("serialise"), format!("\"{}\"", kind.as_str()));
        }
        for bad in ["sticker", "Image", "", " image"] {
            let err = MediaKind::parse(bad).expect_err(bad);
            assert_eq!((err.code, err.field.as_deref()), ("invalid_media_type", Some("media.type")));
        }
    }

    #[test]
    fn limits_follow_the_cloud_api() {
        assert_eq!(MediaKind::Image.max_bytes(), 5 * 1024 * 1024);
        assert_eq!(MediaKind::Video.max_bytes(), 16 * 1024 * 1024);
        assert_eq!(MediaKind::Audio.max_bytes(), 16 * 1024 * 1024);
        assert_eq!(MediaKind::Document.max_bytes(), 100 * 1024 * 1024);
    }

    #[test]
    fn https_url_is_accepted_as_given() {
        let media = Media::parse(with_url("https://cdn.example.com/a.jpg?x=1")).expect("valid");
        assert_eq!(media.source, MediaSource::Url("https://cdn.example.com/a.jpg?x=1".into()));
        assert_eq!(
            (media.kind, media.filename.as_str(), media.mimetype.as_str()),
            (MediaKind::Image, "photo.jpg", "image/jpeg")
        );
        for ok in ["HTTPS://example.com", "https://user@example.com:8443/a", "https://[::1]:443/a"] {
            assert!(Media::parse(with_url(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn non_https_or_hostless_urls_are_rejected() {
        for bad in [
            "http://example.com/a.jpg",
            "ftp://example.com/a",
            "https://",
            "https:///a.jpg",
            "https://:443/a",
            "https://user@/a",
            "https://exa mple.com/a",
            "https://example.com/a b",
            "example.com/a.jpg",
            "https\u{301}://x",
        ] {
            assert_rejects(with_url(bad), "invalid_media_url", "media.url");
        }
    }

    #[test]
    fn exactly_one_source_is_required() {
        let both =
            RawMedia { url: Some("https://example.com/a.jpg".into()), filedata: Some("aGk=".into()), ..raw("image") };
        let err = assert_rejects(both, "invalid_media_source", "media");
        assert_eq!(err.message, "give exactly one of media.url or media.filedata");
        assert_rejects(raw("image"), "invalid_media_source", "media");
        let empties = RawMedia { url: Some(String::new()), filedata: Some(String::new()), ..raw("image") };
        assert_rejects(empties, "invalid_media_source", "media");
    }

    #[test]
    fn empty_string_source_counts_as_absent() {
        let media = RawMedia { url: Some(String::new()), filedata: Some("aGk=".into()), ..raw("image") };
        assert_eq!(Media::parse(media).expect("valid").source, MediaSource::Inline(b"hi".to_vec()));
    }

    #[test]
    fn type_filename_and_mimetype_are_required_in_order() {
        assert_rejects(
            RawMedia { r#type: None, filename: None, ..with_url("https://e.com") },
            "missing_field",
            "media.type",
        );
        assert_rejects(
            RawMedia { r#type: Some("gif".into()), ..with_url("https://e.com") },
            "invalid_media_type",
            "media.type",
        );
        assert_rejects(
            RawMedia { filename: Some(" ".into()), mimetype: None, ..with_url("https://e.com") },
            "missing_field",
            "media.filename",
        );
        assert_rejects(
            RawMedia { mimetype: Some(String::new()), ..with_url("https://e.com") },
            "missing_field",
            "media.mimetype",
        );
        assert_rejects(
            RawMedia { mimetype: Some("jpeg".into()), ..raw("image") },
            "invalid_mimetype",
            "media.mimetype",
        );
    }

    #[test]
    fn mimetypes_need_type_and_subtype() {
        for ok in [
            "image/jpeg",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "audio/ogg; codecs=opus",
            "image/svg+xml",
        ] {
            assert!(is_mimetype(ok), "{ok}");
        }
        for bad in
            ["", "image", "image/", "/jpeg", "image /jpeg", "image/jp eg", "audio/ogg;\n", "a/b/c", "image/jpeg\n"]
        {
            assert!(!is_mimetype(bad), "{bad}");
        }
    }

    #[test]
    fn base64_with_whitespace_padding_or_data_prefix_is_accepted() {
        for data in [
            "aGVsbG8=",
            "aGVsbG8",
            "aGVs\nbG8=\r\n",
            " aG Vs bG 8= ",
            "data:image/jpeg;base64,aGVsbG8=",
            "data:text/plain;charset=utf-8;base64,aGVs\nbG8",
        ] {
            let media = Media::parse(with_data(data)).expect(data);
            assert_eq!(media.source, MediaSource::Inline(b"hello".to_vec()), "{data}");
        }
    }

    #[test]
    fn invalid_or_empty_base64_is_rejected() {
        for bad in [
            "not base64!",
            "aGVsbG8=aGk=",
            "a",
            "aGVsbG9-",
            "aGVsbG9_",
            "====",
            "   ",
            "data:image/png;base64,",
            "data:image/png,aGk=",
            "data:,aGk=",
        ] {
            let err = assert_rejects(with_data(bad), "invalid_base64", "media.filedata");
            assert_eq!(err.kind, ValidationErrorKind::BadRequest);
        }
    }

    #[test]
    fn image_of_exactly_5_mib_is_accepted_and_one_byte_more_is_too_large() {
        let limit = MediaKind::Image.max_bytes();
        let media = Media::parse(with_data(&STANDARD.encode(vec![7u8; limit]))).expect("at the limit");
        assert_eq!(media.source, MediaSource::Inline(vec![7u8; limit]));
        let err =
            assert_rejects(with_data(&STANDARD.encode(vec![7u8; limit + 1])), "media_too_large", "media.filedata");
        assert_eq!(err.kind, ValidationErrorKind::PayloadTooLarge);
        for part in ["5242881 bytes", "5242880 bytes", "5 MiB", "image", "POST /v1/assets/upload", "media.url"] {
            assert!(err.message.contains(part), "{part} missing from {}", err.message);
        }
    }

    #[test]
    fn oversized_garbage_is_too_large_before_it_is_decoded() {
        // Not valid base64, so only the up-front size estimate can produce this error.
        let err = assert_rejects(with_data(&"!".repeat(8 * MIB)), "media_too_large", "media.filedata");
        assert_eq!(err.kind, ValidationErrorKind::PayloadTooLarge);
    }

    #[test]
    fn limits_depend_on_the_kind() {
        let six_mib = STANDARD.encode(vec![0u8; 6 * MIB]);
        assert!(Media::parse(RawMedia { filedata: Some(six_mib.clone()), ..raw("video") }).is_ok());
        assert_rejects(RawMedia { filedata: Some(six_mib), ..raw("image") }, "media_too_large", "media.filedata");
    }

    proptest! {
        #[test]
        fn filedata_decodes_to_exactly_the_encoded_bytes(
            bytes in prop::collection::vec(any::<u8>(), 1..2048),
            pad in any::<bool>(),
            wrap in any::<bool>(),
        ) {
            let mut data = STANDARD.encode(&bytes);
            if !pad {
                data = data.trim_end_matches('=').to_owned();
            }
            if wrap {
                // MIME-style 76-column lines, as many encoders emit.
                let bytes = data.as_bytes();
                let lines: Vec<&[u8]> = bytes.chunks(76).collect();
                data = String::from_utf8(lines.join(&b"\r\n"[..])).expect("base64 is ASCII");
            }
            let media = Media::parse(with_data(&data)).expect("valid base64");
            prop_assert_eq!(media.source, MediaSource::Inline(bytes));
        }
    }
}
