//! The three messengers, each as the platform sees us: how its webhooks are
//! verified and parsed into an [`Inbound`], and how a text is sent back
//! ([`Platform::send`]). Pure parsing and signing here and in the channel
//! modules; the queueing around them lives in `inbound` and `outbound`.

pub mod messenger;
pub mod split;
pub mod telegram;
pub mod wechat;

use std::time::Duration;

use async_trait::async_trait;

/// A customer's message, as every platform's update is normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The customer on the platform (Telegram chat id, Messenger PSID,
    /// WeChat OpenID): where replies go.
    pub external_user_id: String,
    /// What agents see as the customer's name.
    pub display_name: String,
    /// The text, or a readable placeholder in brackets (`[photo]`).
    pub text: String,
    /// The platform's id of this message; a redelivery carries the same.
    pub platform_message_id: String,
    /// When the platform says it was sent (unix milliseconds).
    pub sent_at_ms: i64,
}

/// A webhook body that does not parse: 400, nothing queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed update: {0}")]
pub struct Malformed(pub String);

/// What the platform said to one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The platform took it.
    Delivered,
    /// Worth trying again (429, 5xx, timeout, connection refused), after
    /// `retry_after` when the platform said how long.
    Transient { reason: String, retry_after: Option<Duration> },
    /// Will never succeed (window closed, bot blocked, user unknown): the
    /// agent is told in the room instead.
    Permanent { reason: String },
}

/// Sending a text to a customer on one platform.
#[async_trait]
pub trait Platform: Send + Sync {
    /// The channel's name on the wire (`telegram`, `messenger`, `wechat`).
    fn name(&self) -> &'static str;
    /// The longest text one send may carry.
    fn limit(&self) -> split::Limit;
    /// Sends one text (already within `limit`).
    async fn send(&self, external_user_id: &str, text: &str) -> SendOutcome;
}

/// A transport error's text and causes, without the URL (it holds the token).
pub(crate) fn described(error: reqwest::Error) -> String {
    use std::error::Error as _;
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// A send that got no answer: one that could not even be built (a bad API
/// URL) never will; anything else (refused, reset, timed out) may next time.
pub(crate) fn unanswered(platform: &str, error: reqwest::Error) -> SendOutcome {
    if error.is_builder() {
        SendOutcome::Permanent { reason: format!("{platform} request not built: {}", described(error)) }
    } else {
        SendOutcome::Transient {
            reason: format!("{platform} unreachable: {}", described(error)),
            retry_after: None,
        }
    }
}

/// Whatever arrives at a webhook, signed or not (safe-mode WeChat parses
/// its XML before it can check the signature), gets an answer, never a
/// panic: property runs over arbitrary bytes, and the seed corpus in
/// `fuzz-corpus/` (inputs an adversarial run would send), replayed always.
#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    use super::{messenger, telegram, wechat};

    /// A cipher with WeChat's sample key, for decrypting junk.
    fn cipher() -> wechat::Cipher {
        wechat::Cipher::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7").unwrap()
    }

    /// Every parser an inbound body meets.
    fn answer_everything(body: &[u8]) {
        let _ = telegram::parse_update(body);
        let _ = messenger::parse_batch(body);
        let _ = wechat::parse_push(body);
        if let Ok(encrypted) = wechat::encrypted_part(body) {
            let _ = cipher().decrypt(&encrypted);
        }
    }

    proptest! {
        #[test]
        fn any_bytes_get_an_answer(body in prop::collection::vec(any::<u8>(), 0..400)) {
            answer_everything(&body);
        }

        #[test]
        fn any_base64_ish_ciphertext_is_refused_or_read(text in "[A-Za-z0-9+/=]{0,200}") {
            let _ = cipher().decrypt(&text);
        }
    }

    #[test]
    fn every_input_of_the_corpus_gets_an_answer() {
        let mut seen = 0;
        for channel in ["telegram", "messenger", "wechat"] {
            let dir = format!("{}/fuzz-corpus/{channel}", env!("CARGO_MANIFEST_DIR"));
            for entry in std::fs::read_dir(dir).unwrap() {
                answer_everything(&std::fs::read(entry.unwrap().path()).unwrap());
                seen += 1;
            }
        }
        assert!(seen >= 10, "the corpus is there: {seen} files");
    }
}
