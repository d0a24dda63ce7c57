//! A customer's message from a messenger, made storable: whatever the
//! platform sent (a name with control characters, a text longer than the
//! room allows, a NUL) is turned into messages the room takes, never
//! refused, because the customer cannot be asked to send it again.

use sha2::{Digest, Sha256};

use super::Channel;
use super::value::DisplayName;

/// What agents see when a customer sent an empty text.
const EMPTY_TEXT: &str = "[empty message]";

/// The customer's name as agents see it: the platform's name on one line,
/// cut to the name limit, else their id on the platform.
pub fn customer_name(display_name: &str, external_id: &str) -> String {
    let one_line: String =
        display_name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    let cut: String = one_line.trim().chars().take(DisplayName::MAX_CHARS).collect();
    if !cut.trim().is_empty() {
        return cut.trim().to_string();
    }
    let id: String = external_id.chars().filter(|c| !c.is_control()).take(DisplayName::MAX_CHARS).collect();
    if id.is_empty() { "Customer".to_string() } else { id }
}

/// The text as one or more messages of at most `max_chars` characters
/// each, without the characters no database stores (NUL) or no client
/// shows (other control characters except line breaks and tabs).
pub fn message_parts(text: &str, max_chars: u32) -> Vec<String> {
    let clean: String = text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r')).collect();
    if clean.trim().is_empty() {
        return vec![EMPTY_TEXT.to_string()];
    }
    let max = (max_chars as usize).max(1);
    let chars: Vec<char> = clean.chars().collect();
    chars.chunks(max).map(|c| c.iter().collect::<String>()).filter(|part| !part.trim().is_empty()).collect()
}

/// The idempotency key of part `index` of a platform message: a
/// redelivery of the same platform message id is stored once. Long ids
/// (Messenger's `mid` reach ~100 characters) are hashed to fit the 64
/// characters of a client id.
pub fn client_id(channel: Channel, platform_message_id: &str, index: usize) -> String {
    let suffix = if index == 0 { String::new() } else { format!("#{index}") };
    let plain = format!("{}:{platform_message_id}{suffix}", channel.as_str());
    if plain.chars().count() <= 64 && !plain.chars().any(char::is_control) {
        return plain;
    }
    let digest = Sha256::digest(platform_message_id.as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("{}#{hex}{suffix}", channel.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_one_line_and_falls_back_to_the_platform_id() {
        assert_eq!(customer_name("Ana\nMaria ", "42"), "Ana Maria");
        assert_eq!(customer_name(" \t", "42"), "42");
        assert_eq!(customer_name(&"x".repeat(300), "42").chars().count(), DisplayName::MAX_CHARS);
    }

    #[test]
    fn a_long_text_becomes_several_messages_and_nothing_is_lost() {
        let text = "é".repeat(25);
        let parts = message_parts(&text, 10);
        assert_eq!(parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn nul_and_control_characters_are_dropped_but_line_breaks_stay() {
        assert_eq!(message_parts("a\u{0}b\u{7}\nc", 100), ["ab\nc"]);
        assert_eq!(message_parts("\u{0}", 100), [EMPTY_TEXT]);
    }

    #[test]
    fn client_ids_fit_and_tell_parts_and_channels_apart() {
        assert_eq!(client_id(Channel::Telegram, "1001", 0), "telegram:1001");
        assert_eq!(client_id(Channel::Telegram, "1001", 2), "telegram:1001#2");
        let mid = "m_".to_string() + &"A".repeat(100);
        let long = client_id(Channel::Messenger, &mid, 1);
        assert!(long.chars().count() <= 64, "{long}");
        assert_ne!(long, client_id(Channel::Messenger, &mid, 0));
        assert_eq!(long, client_id(Channel::Messenger, &mid, 1), "stable across redeliveries");
    }
}
