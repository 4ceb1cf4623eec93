//! Every limit Outbox enforces on what it is sent, defined once: validators, error messages and
//! tests import them from here.

use std::ops::RangeInclusive;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// WhatsApp's limit on a text message or caption, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// WhatsApp Cloud API upload limits, so a job we accept is one the provider can take.
pub const MAX_IMAGE_BYTES: usize = 5 * MIB;
pub const MAX_VIDEO_BYTES: usize = 16 * MIB;
pub const MAX_AUDIO_BYTES: usize = 16 * MIB;
pub const MAX_DOCUMENT_BYTES: usize = 100 * MIB;

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

/// How far ahead a message may be scheduled.
pub const MAX_SCHEDULE_AHEAD_DAYS: u64 = 30;
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(MAX_SCHEDULE_AHEAD_DAYS * 86_400);

/// How many chats one broadcast may list.
pub const MAX_BROADCAST_CHATS: usize = 1000;
/// The spacing between a broadcast's deliveries when none is given, and its bound.
pub const DEFAULT_BROADCAST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_BROADCAST_DELAY_SECS: f64 = 3600.0;

/// Longer than any id Outbox hands out (queue, unique, broadcast ids); DynamoDB keys stop at 2 KB.
pub const MAX_ID_BYTES: usize = 128;

/// A phone number: E.164 without the '+', this many digits.
pub const PHONE_DIGITS: RangeInclusive<usize> = 5..=15;

/// An `Idempotency-Key` header's length in bytes.
pub const IDEMPOTENCY_KEY_BYTES: RangeInclusive<usize> = 1..=255;

/// An org's human name, in characters.
pub const MAX_ORG_NAME_CHARS: usize = 100;
/// A phone_id chosen by an admin, in bytes.
pub const MAX_PHONE_ID_BYTES: usize = 64;
