//! Every limit Outbox enforces on what it is sent, defined once for every dialect (Periskope's,
//! `/v1/send`, Beeper's) and every way in (inline, uploads): validators, error messages, the
//! README's limits table and tests import them from here.

use std::ops::RangeInclusive;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// WhatsApp's limit on a text message or caption, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// WhatsApp Cloud API upload limits, so a job we accept is one the provider can take. A gif is
/// a video and a voice note an audio file; a sticker's limit is WhatsApp's for animated ones.
pub const MAX_IMAGE_BYTES: usize = 5 * MIB;
pub const MAX_VIDEO_BYTES: usize = 16 * MIB;
pub const MAX_AUDIO_BYTES: usize = 16 * MIB;
pub const MAX_DOCUMENT_BYTES: usize = 100 * MIB;
pub const MAX_STICKER_BYTES: usize = 500 * 1024;

/// The largest request body Lambda takes synchronously (6 MB); `OUTBOX_MAX_BODY_BYTES` defaults to it.
pub const MAX_REQUEST_BYTES: usize = 6 * MIB;
/// The largest file that fits inline as base64 in such a body (4 symbols per 3 bytes), before the
/// JSON around it: about 4.5 MiB. Anything larger goes through a presigned upload.
pub const MAX_INLINE_FILE_BYTES: usize = MAX_REQUEST_BYTES / 4 * 3;

/// How long an `upload_id` / `uploadID` may be used in a send after its upload started. The
/// object itself is kept like staged media (the bucket's lifecycle rule), so a message that used
/// it can still be delivered later.
pub const UPLOAD_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a presigned upload URL accepts its PUT.
pub const PRESIGNED_PUT_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The text parts of a multipart upload (`fileName`, `mimeType`) are short; a bound keeps a
/// client from filling memory through them.
pub const MAX_MULTIPART_TEXT_BYTES: usize = 1024;
/// Parts of one multipart upload, known or not, before it is refused.
pub const MAX_MULTIPART_PARTS: usize = 8;

/// `/v1/send`'s `preview`: custom link-preview fields, few and short, so a record stays small.
pub const MAX_PREVIEW_FIELDS: usize = 10;
pub const MAX_PREVIEW_KEY_CHARS: usize = 64;
pub const MAX_PREVIEW_VALUE_CHARS: usize = 2048;

/// Bounds on the free-text media fields, so that a record stays far below DynamoDB's 400 KB.
pub const MAX_FILENAME_CHARS: usize = 255;
pub const MAX_MIMETYPE_CHARS: usize = 255;
pub const MAX_URL_CHARS: usize = 2048;

/// A message id to reply to is short; the bound keeps records small.
pub const MAX_REPLY_TO_CHARS: usize = 512;

/// WhatsApp's limits on a poll's name and each option's text; a generous bound on the id.
pub const MAX_POLL_NAME_CHARS: usize = 255;
pub const MAX_POLL_OPTION_CHARS: usize = 100;
pub const MAX_POLL_ID_CHARS: usize = 256;
/// WhatsApp's bounds on the number of poll options.
pub const POLL_OPTIONS: RangeInclusive<usize> = 2..=12;

/// The schedule horizon: no message is due later than this after it is accepted, be it a send's
/// `scheduled_at` or a broadcast's last chat (`scheduled_at + delay × (chats - 1)`). Staged media
/// must outlive it: the `media/` lifecycle rule in `template.yaml` is this plus `RetentionDays`.
pub const MAX_SCHEDULE_AHEAD_DAYS: u64 = 30;
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(MAX_SCHEDULE_AHEAD_DAYS * 86_400);

/// How many chats one broadcast may list.
pub const MAX_BROADCAST_CHATS: usize = 1000;
/// The spacing between a broadcast's deliveries when none is given, and its bound.
pub const DEFAULT_BROADCAST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_BROADCAST_DELAY_SECS: f64 = 3600.0;

/// Longer than any id Outbox hands out (queue, unique, broadcast ids); DynamoDB keys stop at 2 KB.
pub const MAX_ID_BYTES: usize = 128;

/// A group chat id (`…@g.us`), in characters: WhatsApp's are at most 36; the bound keeps keys small.
pub const MAX_GROUP_CHAT_ID_CHARS: usize = 64;

/// Queue ids one purge may name: a broadcast's worth.
pub const MAX_PURGE_IDS: usize = 1000;

/// A phone number: E.164 without the '+', this many digits.
pub const PHONE_DIGITS: RangeInclusive<usize> = 5..=15;

/// An `Idempotency-Key` header's length in bytes.
pub const IDEMPOTENCY_KEY_BYTES: RangeInclusive<usize> = 1..=255;

/// An org's human name, in characters.
pub const MAX_ORG_NAME_CHARS: usize = 100;
/// A phone_id chosen by an admin, in bytes.
pub const MAX_PHONE_ID_BYTES: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    /// The template's media lifecycle (`MediaExpiry`: days per `RetentionDays`) must keep staged
    /// media for the whole schedule horizon on top of retention.
    #[test]
    fn the_media_lifecycle_in_the_template_covers_the_schedule_horizon() {
        let template = include_str!("../../../template.yaml");
        let mapping = template.split("\n  MediaExpiry:\n").nth(1).expect("template.yaml has Mappings.MediaExpiry");
        let mut lines = mapping.lines().take_while(|l| l.starts_with("    ")).filter(|l| !l.trim().starts_with('#'));
        let days = |line: Option<&str>, name: &str| -> u64 {
            let line = line.unwrap_or_default().trim();
            line.strip_prefix(name).and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("{name} N: {line}"))
        };
        let mut checked = 0;
        while let Some(key) = lines.next() {
            let retention: u64 = key.trim().trim_end_matches(':').trim_matches('"').parse().expect("a day count");
            assert_eq!(days(lines.next(), "Days:"), retention + MAX_SCHEDULE_AHEAD_DAYS, "MediaExpiry {retention}");
            // An upload may be sent up to a day after it is made.
            assert_eq!(
                days(lines.next(), "UploadDays:"),
                retention + MAX_SCHEDULE_AHEAD_DAYS + 1,
                "uploads {retention}"
            );
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} MediaExpiry entries found");
        let allowed = template.split("\n  RetentionDays:\n").nth(1).expect("the RetentionDays parameter");
        let allowed = allowed.lines().find_map(|l| l.trim().strip_prefix("AllowedValues: [")).expect("AllowedValues");
        assert_eq!(
            allowed.trim_end_matches(']').split(", ").count(),
            checked,
            "one MediaExpiry entry per allowed value"
        );
    }
}
