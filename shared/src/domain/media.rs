//! Media attachments: the kinds WhatsApp sends, what each dialect's names map to, their size
//! limits, and turning a raw `media` object into an `Attachment` (the media itself, or an upload
//! it names). The kinds and their mapping live here only, so a per-provider capability table can
//! take them as they are.

use std::ops::Range;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::ids::{UploadId, is_plausible_id};
use super::limits::{
    MAX_AUDIO_BYTES, MAX_DOCUMENT_BYTES, MAX_FILENAME_CHARS, MAX_IMAGE_BYTES, MAX_MIMETYPE_CHARS, MAX_STICKER_BYTES,
    MAX_URL_CHARS, MAX_VIDEO_BYTES,
};
use super::validation::{ValidationError, parse_web_url};

const MIB: usize = 1024 * 1024;

/// Standard alphabet; clients differ on padding, so both forms are accepted.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What is sent: one of WhatsApp's media messages, a gif being a video played as a gif and a
/// voice note an audio file shown as a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Gif,
    Audio,
    VoiceNote,
    Document,
    Sticker,
}

impl MediaKind {
    /// Every kind, for tables and tests.
    pub const ALL: [MediaKind; 7] = [
        MediaKind::Image,
        MediaKind::Video,
        MediaKind::Gif,
        MediaKind::Audio,
        MediaKind::VoiceNote,
        MediaKind::Document,
        MediaKind::Sticker,
    ];

    /// `media.type` of the Periskope dialect and of a presigned upload: the four kinds the contract names.
    pub fn parse(raw: &str) -> Result<MediaKind, ValidationError> {
        Self::parse_at(raw, "media.type")
    }

    /// As `parse`, for a field of another name.
    pub fn parse_at(raw: &str, field: &str) -> Result<MediaKind, ValidationError> {
        match raw {
            "image" => Ok(MediaKind::Image),
            "video" => Ok(MediaKind::Video),
            "audio" => Ok(MediaKind::Audio),
            "document" => Ok(MediaKind::Document),
            _ => Err(ValidationError::bad_request(
                "invalid_media_type",
                Some(field),
                format!("{field} must be one of image, video, audio or document"),
            )),
        }
    }

    /// Beeper's `attachment.type` hints, and what WhatsApp sends for each.
    pub fn from_beeper_hint(raw: &str, field: &str) -> Result<MediaKind, ValidationError> {
        match raw {
            "image" => Ok(MediaKind::Image),
            "video" => Ok(MediaKind::Video),
            "audio" => Ok(MediaKind::Audio),
            "file" => Ok(MediaKind::Document),
            "gif" => Ok(MediaKind::Gif),
            "voice-note" => Ok(MediaKind::VoiceNote),
            "sticker" => Ok(MediaKind::Sticker),
            _ => Err(ValidationError::bad_request(
                "invalid_media_type",
                Some(field),
                format!("{field} must be one of image, video, audio, file, gif, voice-note or sticker, or left out"),
            )),
        }
    }

    /// The kind a file of this MIME type is sent as when nobody said: by its top-level type,
    /// anything else as a document.
    pub fn infer(mimetype: &str) -> MediaKind {
        match mimetype.split('/').next().unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            _ => MediaKind::Document,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Gif => "gif",
            MediaKind::Audio => "audio",
            MediaKind::VoiceNote => "voice_note",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// WhatsApp's message type for it (the Cloud API's `type`).
    pub fn whatsapp_type(&self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video | MediaKind::Gif => "video",
            MediaKind::Audio | MediaKind::VoiceNote => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// WhatsApp Cloud API upload limits, so a job we accept is one the provider can take.
    pub fn max_bytes(&self) -> usize {
        match self {
            MediaKind::Image => MAX_IMAGE_BYTES,
            MediaKind::Video | MediaKind::Gif => MAX_VIDEO_BYTES,
            MediaKind::Audio | MediaKind::VoiceNote => MAX_AUDIO_BYTES,
            MediaKind::Document => MAX_DOCUMENT_BYTES,
            MediaKind::Sticker => MAX_STICKER_BYTES,
        }
    }

    /// Whether a file of `mimetype` can be sent as this kind: images, videos and audio by their
    /// top-level type, stickers only as WebP (WhatsApp's sticker format), documents as anything.
    pub fn accepts_mimetype(&self, mimetype: &str) -> bool {
        let essence = mimetype.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let top = essence.split('/').next().unwrap_or_default();
        match self {
            MediaKind::Image => top == "image",
            MediaKind::Video | MediaKind::Gif => top == "video",
            MediaKind::Audio | MediaKind::VoiceNote => top == "audio",
            MediaKind::Sticker => essence == "image/webp",
            MediaKind::Document => true,
        }
    }

    /// A human size of the limit, for error messages ("5 MiB", "500 KiB").
    pub fn limit_text(&self) -> String {
        let limit = self.max_bytes();
        if limit % MIB == 0 { format!("{} MiB", limit / MIB) } else { format!("{} KiB", limit / 1024) }
    }
}

/// The MIME type of a file by the extension of its name, for the common media formats.
pub fn guess_mimetype(filename: &str) -> Option<&'static str> {
    let (_, extension) = filename.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "mov" => "video/quicktime",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "zip" => "application/zip",
        _ => return None,
    })
}

/// The error for a file of `size` bytes over `kind`'s limit; `what` names the file.
pub fn too_large_for(kind: MediaKind, size: u64, field: &str, what: &str) -> ValidationError {
    ValidationError::payload_too_large(
        "media_too_large",
        Some(field),
        format!(
            "{what} is {size} bytes, over the {limit} bytes ({text}) allowed for {kind}",
            limit = kind.max_bytes(),
            text = kind.limit_text(),
            kind = kind.as_str(),
        ),
    )
}

/// What a request attaches: the media itself, or an upload that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    Media(Media),
    Upload(UploadRef),
}

/// Media named by its upload (`media.upload_id`, `attachment.uploadID`). The send flow resolves
/// it: the kind, file name and MIME type not given here are the upload's, and the object's real
/// size is checked against the kind's limit then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRef {
    pub upload_id: UploadId,
    pub kind: Option<MediaKind>,
    pub filename: Option<String>,
    pub mimetype: Option<String>,
    /// The request's field that named the upload, for errors.
    pub field: &'static str,
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

/// An upload id as given; one no upload could have is kept as is and simply not found.
pub fn parse_upload_id(raw: &str) -> UploadId {
    UploadId::from(if is_plausible_id(raw) { raw } else { "" })
}

/// A file name of at most `MAX_FILENAME_CHARS` characters.
pub fn check_filename(filename: String, field: &str) -> Result<String, ValidationError> {
    ValidationError::check_length(&filename, field, MAX_FILENAME_CHARS)?;
    Ok(filename)
}

/// A `type/subtype` MIME type of at most `MAX_MIMETYPE_CHARS` characters.
pub fn check_mimetype(mimetype: String, field: &str) -> Result<String, ValidationError> {
    ValidationError::check_length(&mimetype, field, MAX_MIMETYPE_CHARS)?;
    if !is_mimetype(&mimetype) {
        return Err(ValidationError::bad_request(
            "invalid_mimetype",
            Some(field),
            format!("{field} must look like type/subtype, e.g. image/jpeg or application/pdf"),
        ));
    }
    Ok(mimetype)
}

pub(super) fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

pub(super) fn required(value: Option<String>, field: &str) -> Result<String, ValidationError> {
    value.filter(|v| !v.trim().is_empty()).ok_or_else(|| ValidationError::missing_field(field))
}

/// `type/subtype` of RFC 6838 name characters; parameters after ';' (as in
/// `audio/ogg; codecs=opus`, which WhatsApp voice notes use) are allowed and passed through.
pub fn is_mimetype(raw: &str) -> bool {
    let essence = raw.split(';').next().unwrap_or_default();
    let is_name = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    !raw.chars().any(char::is_control) && essence.split_once('/').is_some_and(|(t, sub)| is_name(t) && is_name(sub))
}

/// An https URL with a host, kept exactly as given: it is passed through, never fetched here.
pub fn parse_url(url: String, field: &str) -> Result<String, ValidationError> {
    ValidationError::check_length(&url, field, MAX_URL_CHARS)?;
    match parse_web_url(&url, &["https"]) {
        Some(_) => Ok(url),
        None => Err(ValidationError::bad_request(
            "invalid_media_url",
            Some(field),
            format!("{field} must be an https:// URL with a host and no spaces, e.g. https://example.com/photo.jpg"),
        )),
    }
}

/// Decodes the base64 in `field` (optionally a `data:<mime>;base64,` URL); with a `kind`, a file
/// over its limit is refused before the decoded copy is allocated.
pub fn decode_base64(data: &str, field: &str, kind: Option<MediaKind>) -> Result<Vec<u8>, ValidationError> {
    Base64Decoded::of_text(data, kind).into_bytes(field, kind)
}

/// Base64 symbols decoded per step: a multiple of 4, small enough for the stack.
const DECODE_CHUNK: usize = 8 * 1024;

/// Why a text is not a file in base64; completes "{field} …".
pub(crate) type NotBase64 = &'static str;

const NOT_BASE64: NotBase64 = "is not valid base64";

/// Base64 media decoded, or why not, with its size as counted before decoding (so a file over its
/// kind's limit is `media_too_large` even when it is not valid base64 either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64Decoded {
    size: usize,
    bytes: Result<Vec<u8>, NotBase64>,
}

impl Base64Decoded {
    /// Decodes `data` into a new buffer of the decoded size; over `kind`'s limit, without decoding.
    pub fn of_text(data: &str, kind: Option<MediaKind>) -> Base64Decoded {
        let payload = match base64_payload(data) {
            Ok(payload) => payload.as_bytes(),
            Err(why) => return Base64Decoded { size: 0, bytes: Err(why) },
        };
        let size = decoded_size(payload);
        if kind.is_some_and(|kind| size > kind.max_bytes()) {
            return Base64Decoded { size, bytes: Err(NOT_BASE64) };
        }
        let mut out = Vec::with_capacity(size);
        let bytes = decode_chunks(payload, 0..payload.len(), |bytes| out.extend_from_slice(bytes)).map(|_| out);
        Base64Decoded { size, bytes }
    }

    /// Decodes the base64 text at `text` of `body` over the body itself, from its first byte: the
    /// decoded file is the body's buffer, truncated, with no second copy of the media in memory.
    pub fn in_place(mut body: Vec<u8>, text: Range<usize>) -> Base64Decoded {
        let payload = match body.get(text.clone()).map(std::str::from_utf8) {
            Some(Ok(text)) => base64_payload(text).map(str::len),
            _ => Err(NOT_BASE64),
        };
        let payload = match payload {
            Ok(len) => text.end - len..text.end,
            Err(why) => return Base64Decoded { size: 0, bytes: Err(why) },
        };
        let size = decoded_size(&body[payload.clone()]);
        let bytes = decode_chunks_in_place(&mut body, payload).map(|len| {
            body.truncate(len);
            body
        });
        Base64Decoded { size, bytes }
    }

    /// The decoded file, or the 4xx for `field`: too large for `kind` first, then not base64.
    pub fn into_bytes(self, field: &str, kind: Option<MediaKind>) -> Result<Vec<u8>, ValidationError> {
        if let Some(kind) = kind.filter(|kind| self.size > kind.max_bytes()) {
            return Err(too_large(self.size, kind));
        }
        let invalid = |why: &str| {
            ValidationError::bad_request(
                "invalid_base64",
                Some(field),
                format!(
                    "{field} {why}; send the file's bytes as standard base64 (A-Z, a-z, 0-9, +, /), \
                     optionally as data:<mime>;base64,<data>"
                ),
            )
        };
        match self.bytes {
            Ok(bytes) if bytes.is_empty() => Err(invalid("decodes to an empty file")),
            Ok(bytes) => Ok(bytes),
            Err(why) => Err(invalid(why)),
        }
    }
}

/// The base64 of `data`, past its `data:<mime>;base64,` prefix if it is a data URL.
fn base64_payload(data: &str) -> Result<&str, NotBase64> {
    match data.strip_prefix("data:") {
        Some(data_url) => match data_url.split_once(";base64,") {
            Some((mime, payload)) if !mime.contains(',') => Ok(payload),
            _ => Err("is a data: URL without ;base64,"),
        },
        None => Ok(data),
    }
}

/// Exact decoded length of valid base64: 3 bytes per 4 symbols, padding and whitespace excluded.
fn decoded_size(payload: &[u8]) -> usize {
    payload.iter().filter(|b| !b.is_ascii_whitespace() && **b != b'=').count() * 3 / 4
}

/// Decodes `input[range]` chunk by chunk, ASCII whitespace skipped, handing each chunk's bytes
/// to `emit`; returns the decoded length.
fn decode_chunks(input: &[u8], range: Range<usize>, mut emit: impl FnMut(&[u8])) -> Result<usize, NotBase64> {
    let (mut read, mut written) = (range.start, 0);
    let mut symbols = [0u8; DECODE_CHUNK];
    let mut bytes = [0u8; DECODE_CHUNK / 4 * 3];
    loop {
        let (count, last) = next_symbols(&input[..range.end], &mut read, &mut symbols);
        let decoded = decode_symbols(&symbols[..count], last, &mut bytes)?;
        emit(&bytes[..decoded]);
        written += decoded;
        if last {
            return Ok(written);
        }
    }
}

/// As `decode_chunks`, writing the bytes over `buf` from its start. Each chunk of symbols is copied
/// out before its bytes are written, and 4 symbols give at most 3 bytes, so the writing never
/// overtakes the reading. (Also the API function's, for a body API Gateway base64-encoded.)
pub(crate) fn decode_chunks_in_place(buf: &mut [u8], range: Range<usize>) -> Result<usize, NotBase64> {
    let (mut read, mut written) = (range.start, 0);
    let mut symbols = [0u8; DECODE_CHUNK];
    let mut bytes = [0u8; DECODE_CHUNK / 4 * 3];
    loop {
        let (count, last) = next_symbols(&buf[..range.end], &mut read, &mut symbols);
        let decoded = decode_symbols(&symbols[..count], last, &mut bytes)?;
        buf[written..written + decoded].copy_from_slice(&bytes[..decoded]);
        written += decoded;
        if last {
            return Ok(written);
        }
    }
}

/// Copies the next symbols from `input` at `*read` into `symbols`, skipping whitespace; the chunk
/// is the last when only whitespace follows it.
fn next_symbols(input: &[u8], read: &mut usize, symbols: &mut [u8; DECODE_CHUNK]) -> (usize, bool) {
    let mut count = 0;
    while count < DECODE_CHUNK && *read < input.len() {
        let b = input[*read];
        *read += 1;
        if !b.is_ascii_whitespace() {
            symbols[count] = b;
            count += 1;
        }
    }
    while *read < input.len() && input[*read].is_ascii_whitespace() {
        *read += 1;
    }
    (count, *read == input.len())
}

/// One chunk: a whole number of quads, or the last chunk, which alone may hold padding.
fn decode_symbols(symbols: &[u8], last: bool, bytes: &mut [u8]) -> Result<usize, NotBase64> {
    if !last && symbols.contains(&b'=') {
        return Err(NOT_BASE64);
    }
    BASE64.decode_slice(symbols, bytes).map_err(|_| NOT_BASE64)
}

/// Inline media over its limit: the error names the ways to send a large file.
fn too_large(size: usize, kind: MediaKind) -> ValidationError {
    let mut err = too_large_for(kind, size as u64, "media.filedata", "media.filedata decodes to a file that");
    err.message.push_str(
        "; large files go through POST /v1/media/uploads (a presigned upload straight to storage) \
         or an https media.url",
    );
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validation::ValidationErrorKind;
    use crate::domain::wire::RawMedia;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    fn raw(kind: &str) -> RawMedia {
        RawMedia {
            r#type: Some(kind.into()),
            url: None,
            filedata: None,
            upload_id: None,
            filename: Some("photo.jpg".into()),
            mimetype: Some("image/jpeg".into()),
        }
    }

    /// Media given in full (a URL or inline bytes); an upload reference is a test failure.
    fn parse_media(raw: RawMedia) -> Result<Media, ValidationError> {
        match Media::parse(raw)? {
            Attachment::Media(media) => Ok(media),
            Attachment::Upload(upload) => panic!("expected media, got {upload:?}"),
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
        let expected = [
            (MediaKind::Image, 5 * MIB, "5 MiB"),
            (MediaKind::Video, 16 * MIB, "16 MiB"),
            (MediaKind::Gif, 16 * MIB, "16 MiB"),
            (MediaKind::Audio, 16 * MIB, "16 MiB"),
            (MediaKind::VoiceNote, 16 * MIB, "16 MiB"),
            (MediaKind::Document, 100 * MIB, "100 MiB"),
            (MediaKind::Sticker, 500 * 1024, "500 KiB"),
        ];
        for (kind, bytes, text) in expected {
            assert_eq!((kind.max_bytes(), kind.limit_text().as_str()), (bytes, text), "{kind:?}");
        }
    }

    #[test]
    fn every_dialects_names_map_to_one_kind_and_whatsapp_type() {
        let beeper = [
            ("image", MediaKind::Image, "image"),
            ("video", MediaKind::Video, "video"),
            ("audio", MediaKind::Audio, "audio"),
            ("file", MediaKind::Document, "document"),
            ("gif", MediaKind::Gif, "video"),
            ("voice-note", MediaKind::VoiceNote, "audio"),
            ("sticker", MediaKind::Sticker, "sticker"),
        ];
        for (hint, kind, whatsapp) in beeper {
            assert_eq!(MediaKind::from_beeper_hint(hint, "attachment.type"), Ok(kind), "{hint}");
            assert_eq!(kind.whatsapp_type(), whatsapp, "{hint}");
        }
        let err = MediaKind::from_beeper_hint("document", "attachment.type").unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("invalid_media_type", Some("attachment.type")));
        for (mime, kind) in [
            ("image/png", MediaKind::Image),
            ("IMAGE/webp", MediaKind::Image),
            ("video/mp4", MediaKind::Video),
            ("audio/ogg; codecs=opus", MediaKind::Audio),
            ("application/pdf", MediaKind::Document),
            ("text/plain", MediaKind::Document),
        ] {
            assert_eq!(MediaKind::infer(mime), kind, "{mime}");
        }
        for kind in MediaKind::ALL {
            let json = serde_json::to_string(&kind).expect("serialise");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<MediaKind>(&json).expect("deserialise"), kind);
        }
    }

    #[test]
    fn mimetypes_are_guessed_from_common_extensions_only() {
        for (name, mime) in
            [("a.JPG", Some("image/jpeg")), ("talk.ogg", Some("audio/ogg")), ("r.pdf", Some("application/pdf"))]
        {
            assert_eq!(guess_mimetype(name), mime, "{name}");
        }
        for name in ["file", "a.unknown", ".", "noext."] {
            assert_eq!(guess_mimetype(name), None, "{name}");
        }
    }

    #[test]
    fn a_kind_takes_only_files_it_can_send() {
        let cases = [
            (MediaKind::Image, "image/jpeg", true),
            (MediaKind::Image, "application/pdf", false),
            (MediaKind::Gif, "video/mp4", true),
            (MediaKind::VoiceNote, "audio/ogg; codecs=opus", true),
            (MediaKind::VoiceNote, "video/ogg", false),
            (MediaKind::Sticker, "image/webp", true),
            (MediaKind::Sticker, "image/png", false),
            (MediaKind::Document, "application/zip", true),
        ];
        for (kind, mime, ok) in cases {
            assert_eq!(kind.accepts_mimetype(mime), ok, "{kind:?} {mime}");
        }
    }

    #[test]
    fn an_upload_id_stands_for_the_source_and_names_default_to_the_upload() {
        let upload = RawMedia {
            r#type: Some("video".into()),
            upload_id: Some("upload-1".into()),
            filename: None,
            mimetype: None,
            ..raw("video")
        };
        assert_eq!(
            Media::parse(upload.clone()).expect("valid"),
            Attachment::Upload(UploadRef {
                upload_id: UploadId::from("upload-1"),
                kind: Some(MediaKind::Video),
                filename: None,
                mimetype: None,
                field: "media.upload_id",
            })
        );
        let both = RawMedia { url: Some("https://e.com/a".into()), ..upload.clone() };
        assert_rejects(both, "invalid_media_source", "media");
        let bad_mime = RawMedia { mimetype: Some("video".into()), ..upload.clone() };
        assert_rejects(bad_mime, "invalid_mimetype", "media.mimetype");
        let untyped = RawMedia { r#type: None, ..upload };
        assert_rejects(untyped, "missing_field", "media.type");
    }

    #[test]
    fn https_url_is_accepted_as_given() {
        let media = parse_media(with_url("https://cdn.example.com/a.jpg?x=1")).expect("valid");
        assert_eq!(media.source, MediaSource::Url("https://cdn.example.com/a.jpg?x=1".into()));
        assert_eq!(
            (media.kind, media.filename.as_str(), media.mimetype.as_str()),
            (MediaKind::Image, "photo.jpg", "image/jpeg")
        );
        for ok in ["HTTPS://example.com", "https://user@example.com:8443/a", "https://[::1]:443/a"] {
            assert!(parse_media(with_url(ok)).is_ok(), "{ok}");
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
        assert_eq!(err.message, "give exactly one of media.url, media.filedata or media.upload_id");
        assert_rejects(raw("image"), "invalid_media_source", "media");
        let empties = RawMedia { url: Some(String::new()), filedata: Some(String::new().into()), ..raw("image") };
        assert_rejects(empties, "invalid_media_source", "media");
    }

    #[test]
    fn empty_string_source_counts_as_absent() {
        let media = RawMedia { url: Some(String::new()), filedata: Some("aGk=".into()), ..raw("image") };
        assert_eq!(parse_media(media).expect("valid").source, MediaSource::Inline(b"hi".to_vec()));
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
            let media = parse_media(with_data(data)).expect(data);
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
        let media = parse_media(with_data(&STANDARD.encode(vec![7u8; limit]))).expect("at the limit");
        assert_eq!(media.source, MediaSource::Inline(vec![7u8; limit]));
        let err =
            assert_rejects(with_data(&STANDARD.encode(vec![7u8; limit + 1])), "media_too_large", "media.filedata");
        assert_eq!(err.kind, ValidationErrorKind::PayloadTooLarge);
        for part in ["5242881 bytes", "5242880 bytes", "5 MiB", "image", "POST /v1/media/uploads", "media.url"] {
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
        assert!(parse_media(RawMedia { filedata: Some(six_mib.clone().into()), ..raw("video") }).is_ok());
        assert_rejects(
            RawMedia { filedata: Some(six_mib.into()), ..raw("image") },
            "media_too_large",
            "media.filedata",
        );
    }

    proptest! {
        #[test]
        fn filedata_decodes_to_exactly_the_encoded_bytes(
            bytes in prop::collection::vec(any::<u8>(), 1..16_384),
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
            let media = parse_media(with_data(&data)).expect("valid base64");
            prop_assert_eq!(&media.source, &MediaSource::Inline(bytes.clone()));
            let (body, text) = in_a_body(&data);
            prop_assert_eq!(Base64Decoded::in_place(body, text).into_bytes("f", None).expect("valid"), bytes);
        }
    }

    /// `text` between JSON-like bytes, and where it is.
    fn in_a_body(text: &str) -> (Vec<u8>, Range<usize>) {
        let body = format!(r#"{{"chat_id": "1", "media": {{"filedata": "{text}"}}}}"#);
        let start = body.find(text).expect("inside");
        (body.into_bytes(), start..start + text.len())
    }

    #[test]
    fn decoding_over_the_body_matches_decoding_a_copy_chunk_boundaries_included() {
        let long = STANDARD.encode((0..20_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>());
        let wrapped = long.as_bytes().chunks(76).map(|l| std::str::from_utf8(l).expect("ascii")).collect::<Vec<_>>();
        let cases = [
            long.clone(),
            wrapped.join("\r\n"),
            format!("{}{}", " ".repeat(DECODE_CHUNK), &long[..400]),
            // Padding that ends the first chunk exactly, with more data after it.
            format!("{}aGk={}", &long[..DECODE_CHUNK - 4], &long[..400]),
            format!("{}=", &long[..DECODE_CHUNK + 3]),
            "aGVsbG8=".into(),
            " aG Vs bG 8= ".into(),
            "data:text/plain;charset=utf-8;base64,aGVs\nbG8".into(),
            "data:image/png,aGk=".into(),
            "not base64!".into(),
            "aGVsbG8=aGk=".into(),
            "====".into(),
            "a".into(),
            "   ".into(),
        ];
        for text in cases {
            let (body, span) = in_a_body(&text);
            let copied = Base64Decoded::of_text(&text, None);
            assert_eq!(Base64Decoded::in_place(body, span), copied, "{}", &text[..text.len().min(40)]);
        }
        let split = format!("{}aGk={}", &long[..DECODE_CHUNK - 4], &long[..400]);
        assert_eq!(Base64Decoded::of_text(&split, None).bytes, Err(NOT_BASE64));
        assert_eq!(Base64Decoded::of_text(&long, None).bytes.expect("valid").len(), 20_000);
    }
}
