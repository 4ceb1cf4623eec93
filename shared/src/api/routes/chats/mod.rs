//! `/v1/chats/…` (seed 004, the Beeper Desktop API's send endpoint): sending to a chat
//! (`messages`) and resolving a sent message by its `pendingMessageID` (`messages/message`).

pub mod messages;

use crate::api::ApiError;
use crate::domain::chat_id::ChatId;

/// The path's `chatID` (percent-decoded by the router, so `%40` is `@`) as a chat: any form the
/// Periskope dialect takes, or Beeper's bridge form `!whatsapp_<digits>:<server>`.
fn chat_of(chat_id: &str) -> Result<ChatId, ApiError> {
    Ok(ChatId::parse_beeper(chat_id, "chatID")?)
}
