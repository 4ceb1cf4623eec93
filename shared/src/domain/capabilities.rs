//! What each provider can send: one table, read by the provider at delivery and by the send at
//! acceptance (each chat of a broadcast too), so a message a provider cannot carry is refused
//! with 400 and its reason at once instead of failing later.

use super::chat_id::ChatId;
use super::content::Content;
use super::media::{Attachment, MediaKind};
use super::message::MessageRecord;
use super::tenant::ProviderKind;
use super::validation::ValidationError;

/// One provider's row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub polls: bool,
    pub group_chats: bool,
    /// Text with audio or a sticker (WhatsApp Cloud carries a caption on images, videos and documents only).
    pub captioned_audio: bool,
}

/// The table. The sandbox and an `http` gateway take everything (a gateway refuses what it
/// cannot send itself); Meta's Cloud API has no polls, no groups and no caption on audio or stickers.
pub fn capabilities(provider: ProviderKind) -> Capabilities {
    match provider {
        ProviderKind::Sandbox | ProviderKind::Http => {
            Capabilities { polls: true, group_chats: true, captioned_audio: true }
        }
        ProviderKind::WhatsappCloud => Capabilities { polls: false, group_chats: false, captioned_audio: false },
    }
}

/// What a message asks of its provider.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub chat_id: &'a ChatId,
    pub text: bool,
    /// `None` also when the kind is not known yet (an upload named without its type).
    pub media: Option<MediaKind>,
    pub poll: bool,
}

impl<'a> Shape<'a> {
    pub fn of_record(record: &'a MessageRecord) -> Shape<'a> {
        Shape {
            chat_id: &record.chat_id,
            text: record.text.is_some(),
            media: record.media.as_ref().map(|media| media.kind),
            poll: record.poll.is_some(),
        }
    }

    pub fn of_content(chat_id: &'a ChatId, content: &Content) -> Shape<'a> {
        let media = content.media.as_ref().and_then(|attachment| match attachment {
            Attachment::Media(media) => Some(media.kind),
            Attachment::Upload(upload) => upload.kind,
        });
        Shape { chat_id, text: content.text.is_some(), media, poll: content.poll.is_some() }
    }
}

/// Why `provider` cannot send a message of `shape`, if it cannot.
pub fn refusal(provider: ProviderKind, shape: Shape) -> Option<String> {
    let can = capabilities(provider);
    let name = provider.as_str();
    if shape.poll && !can.polls {
        return Some(format!("{name} cannot send polls; send the question as text"));
    }
    if let Some(kind) = shape.media {
        let uncaptioned = matches!(kind.whatsapp_type(), "audio" | "sticker");
        if uncaptioned && shape.text && !can.captioned_audio {
            return Some(format!(
                "{name}: {} messages cannot carry text; send the text as its own message",
                kind.whatsapp_type()
            ));
        }
    }
    if shape.chat_id.is_group() && !can.group_chats {
        return Some(format!(
            "{name} cannot send to groups ({}); send to each member's number instead",
            shape.chat_id.as_str()
        ));
    }
    None
}

/// The code of a send the phone's provider cannot carry.
pub const UNSUPPORTED: &str = "unsupported_by_provider";

/// The send-time form: 400 `unsupported_by_provider`.
pub fn check(provider: ProviderKind, shape: Shape) -> Result<(), ValidationError> {
    match refusal(provider, shape) {
        Some(reason) => Err(ValidationError::bad_request(UNSUPPORTED, None, reason)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(chat: &ChatId, text: bool, media: Option<MediaKind>, poll: bool) -> Shape<'_> {
        Shape { chat_id: chat, text, media, poll }
    }

    #[test]
    fn whatsapp_cloud_refuses_polls_groups_and_captioned_audio_the_others_take_all() {
        let person = ChatId::parse("919537851844").unwrap();
        let group = ChatId::parse("120363025246125486@g.us").unwrap();
        let cloud = ProviderKind::WhatsappCloud;
        assert!(refusal(cloud, shape(&person, true, None, true)).unwrap().contains("polls"));
        assert!(refusal(cloud, shape(&group, true, None, false)).unwrap().contains("groups"));
        for kind in [MediaKind::Audio, MediaKind::VoiceNote, MediaKind::Sticker] {
            assert!(refusal(cloud, shape(&person, true, Some(kind), false)).unwrap().contains("cannot carry text"));
            assert_eq!(refusal(cloud, shape(&person, false, Some(kind), false)), None);
        }
        assert_eq!(refusal(cloud, shape(&person, true, Some(MediaKind::Image), false)), None);
        for other in [ProviderKind::Sandbox, ProviderKind::Http] {
            assert_eq!(refusal(other, shape(&group, true, Some(MediaKind::Audio), true)), None);
        }
        assert_eq!(check(cloud, shape(&group, true, None, false)).unwrap_err().code, "unsupported_by_provider");
    }
}
