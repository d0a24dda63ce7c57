//! WeChat's signatures (the `signature` and `msg_signature` query
//! parameters) and safe-mode encryption of pushes and replies ([`Cipher`]):
//! AES-256-CBC keyed by the EncodingAESKey, framed as 16 random bytes, a
//! big-endian length, the message and the app id, padded to 32 bytes.

use std::fmt;

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::Malformed;

/// The EncodingAESKey is base64 without its final "="; its last character
/// carries two spare bits that WeChat does not zero.
const AES_KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// WeChat pads the framed message to a multiple of this (not AES's 16).
const PADDING_BLOCK: usize = 32;

/// The random bytes in front of every framed message.
const RANDOM_LEN: usize = 16;

/// The `signature` of a plain-mode push or of the URL check: hex SHA-1 of
/// token, timestamp and nonce sorted and concatenated. It proves the call
/// comes from WeChat, which knows our token.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1(&mut [token, timestamp, nonce])
}

/// The `msg_signature` of a safe-mode push: like [`signature`] with the
/// `<Encrypt>` text as a fourth string, so the ciphertext is covered too.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sorted_sha1(&mut [token, timestamp, nonce, encrypt])
}

/// Whether a signature WeChat sent equals the one we computed, compared in
/// constant time (hex case ignored) so it cannot be guessed byte by byte.
pub fn signature_matches(given: &str, expected: &str) -> bool {
    given.to_ascii_lowercase().as_bytes().ct_eq(expected.to_ascii_lowercase().as_bytes()).into()
}

fn sorted_sha1(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut sha1 = Sha1::new();
    for part in parts.iter() {
        sha1.update(part.as_bytes());
    }
    hex::encode(sha1.finalize())
}

/// Safe-mode encryption for one Official Account: opens pushes and seals
/// replies.
pub struct Cipher {
    key: [u8; 32],
    app_id: String,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher").field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

impl Cipher {
    /// The cipher of the account `app_id` with its 43-character
    /// EncodingAESKey (base64 of the 32-byte AES key, without the final "=").
    pub fn new(encoding_aes_key: &str, app_id: &str) -> Result<Cipher, Malformed> {
        let malformed = || Malformed("the EncodingAESKey must be 43 base64 characters".to_owned());
        if encoding_aes_key.len() != 43 {
            return Err(malformed());
        }
        let key = AES_KEY_BASE64.decode(format!("{encoding_aes_key}=")).map_err(|_| malformed())?;
        let key = key.try_into().map_err(|_| malformed())?;
        Ok(Cipher { key, app_id: app_id.to_owned() })
    }

    /// The message inside a push's `<Encrypt>` text. Anything that does not
    /// decrypt, unpad and unframe cleanly, or was sealed for another app id,
    /// is [`Malformed`]. Check [`msg_signature`] first.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, Malformed> {
        let mut data = STANDARD
            .decode(encrypt_b64.trim())
            .map_err(|e| Malformed(format!("encrypted push is not base64: {e}")))?;
        let plain = self
            .decryptor()
            .decrypt_padded_mut::<NoPadding>(&mut data)
            .map_err(|_| Malformed("encrypted push is not whole AES blocks".to_owned()))?;
        if plain.is_empty() {
            return Err(Malformed("encrypted push is empty".to_owned()));
        }
        self.unframe(unpadded(plain)?)
    }

    /// Seals `message` for WeChat (a reply, or a test push) with the caller's
    /// 16 random bytes: the inverse of [`Cipher::decrypt`].
    pub fn encrypt(&self, message: &str, random16: [u8; 16]) -> String {
        let length = u32::try_from(message.len()).expect("a WeChat message is far below 4 GiB");
        let mut framed =
            Vec::with_capacity(RANDOM_LEN + 4 + message.len() + self.app_id.len() + PADDING_BLOCK);
        framed.extend_from_slice(&random16);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(message.as_bytes());
        framed.extend_from_slice(self.app_id.as_bytes());
        let pad = PADDING_BLOCK - framed.len() % PADDING_BLOCK;
        let pad_byte = u8::try_from(pad).expect("a pad is at most 32");
        framed.resize(framed.len() + pad, pad_byte);
        let framed_len = framed.len();
        let sealed = self
            .encryptor()
            .encrypt_padded_mut::<NoPadding>(&mut framed, framed_len)
            .expect("the framed message is padded to whole blocks");
        STANDARD.encode(sealed)
    }

    fn decryptor(&self) -> cbc::Decryptor<Aes256> {
        cbc::Decryptor::new_from_slices(&self.key, &self.key[..16]).expect("a 32-byte key and 16-byte IV")
    }

    fn encryptor(&self) -> cbc::Encryptor<Aes256> {
        cbc::Encryptor::new_from_slices(&self.key, &self.key[..16]).expect("a 32-byte key and 16-byte IV")
    }

    /// The message of `random | length | message | app id`, if sealed for us.
    fn unframe(&self, framed: &[u8]) -> Result<String, Malformed> {
        let malformed = |what: &str| Malformed(format!("encrypted push {what}"));
        let after_random = framed.get(RANDOM_LEN..).ok_or_else(|| malformed("is too short"))?;
        let (length, rest) =
            after_random.split_first_chunk::<4>().ok_or_else(|| malformed("is too short"))?;
        let length = usize::try_from(u32::from_be_bytes(*length)).map_err(|_| malformed("is too long"))?;
        let (message, app_id) =
            rest.split_at_checked(length).ok_or_else(|| malformed("claims more bytes than it has"))?;
        if app_id != self.app_id.as_bytes() {
            return Err(malformed("was sealed for another app id"));
        }
        String::from_utf8(message.to_vec()).map_err(|_| malformed("is not UTF-8"))
    }
}

/// `plain` without its PKCS#7 padding of 1 to 32 bytes (WeChat pads to 32,
/// which stock 16-byte unpadders refuse), every pad byte checked.
fn unpadded(plain: &[u8]) -> Result<&[u8], Malformed> {
    let bad_padding = || Malformed("encrypted push has bad padding".to_owned());
    let &pad = plain.last().ok_or_else(bad_padding)?;
    let pad_len = usize::from(pad);
    if !(1..=PADDING_BLOCK).contains(&pad_len) || pad_len > plain.len() {
        return Err(bad_padding());
    }
    let (message, padding) = plain.split_at(plain.len() - pad_len);
    if padding.iter().any(|&byte| byte != pad) {
        return Err(bad_padding());
    }
    Ok(message)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    // The sample of WeChat's official message-encryption library
    // (WXBizMsgCrypt, the "使用示例二：对用户回复的消息解密" example shipped
    // with its PHP/Python/Java/C#/Go versions), reproduced in many public
    // repositories' tests: token, EncodingAESKey, receiver id, the POST's
    // timestamp, nonce and msg_signature, its <Encrypt> text, and the
    // documented plaintext.
    pub(crate) const TOKEN: &str = "QDG6eK";
    pub(crate) const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    pub(crate) const APP_ID: &str = "wx5823bf96d3bd56c7";
    pub(crate) const TIMESTAMP: &str = "1409659813";
    pub(crate) const NONCE: &str = "1372623149";
    pub(crate) const MSG_SIGNATURE: &str = "477715d11cdb4164915debcba66cb864d751f3e6";
    pub(crate) const ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
    pub(crate) const PLAINTEXT: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";
    /// The sample's random prefix: the first 16 decrypted bytes (found with
    /// `openssl enc -d -aes-256-cbc -nopad`), which let `encrypt` reproduce
    /// the sample byte for byte. Its padding is 30 bytes: more than AES's 16.
    const SAMPLE_RANDOM: [u8; 16] = *b"0960688932c47ef1";

    fn cipher() -> Cipher {
        Cipher::new(AES_KEY, APP_ID).unwrap()
    }

    #[test]
    fn the_official_sample_verifies_and_decrypts() {
        let computed = msg_signature(TOKEN, TIMESTAMP, NONCE, ENCRYPT);
        assert_eq!(computed, MSG_SIGNATURE);
        assert!(signature_matches(MSG_SIGNATURE, &computed));
        assert_eq!(cipher().decrypt(ENCRYPT).unwrap(), PLAINTEXT);
    }

    #[test]
    fn the_official_url_check_sample_verifies_and_decrypts() {
        // The same library's "使用示例一：验证回调URL" sample.
        let echostr =
            "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
        assert_eq!(
            msg_signature(TOKEN, "1409659589", "263014780", echostr),
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
        );
        assert_eq!(cipher().decrypt(echostr).unwrap(), "1616140317555161061");
    }

    #[test]
    fn encrypt_reproduces_the_official_sample() {
        assert_eq!(cipher().encrypt(PLAINTEXT, SAMPLE_RANDOM), ENCRYPT);
    }

    #[test]
    fn the_plain_signature_sorts_three_strings() {
        // Computed independently: Python's hashlib.sha1 over
        // "".join(sorted(["QDG6eK", "1409659813", "1372623149"])).
        assert_eq!(signature(TOKEN, TIMESTAMP, NONCE), "d2157f2f9079f4d6257b45edf665c43c62e60a0a");
        assert_eq!(signature(NONCE, TOKEN, TIMESTAMP), signature(TOKEN, TIMESTAMP, NONCE));
    }

    #[test]
    fn signatures_compare_exactly() {
        assert!(signature_matches(&MSG_SIGNATURE.to_uppercase(), MSG_SIGNATURE));
        assert!(!signature_matches("477715d11cdb4164915debcba66cb864d751f3e7", MSG_SIGNATURE));
        assert!(!signature_matches("", MSG_SIGNATURE));
    }

    #[test]
    fn messages_of_every_padding_length_round_trip() {
        let cipher = cipher();
        for length in 0..100 {
            let message: String = "你好a😀".chars().cycle().take(length).collect();
            let sealed = cipher.encrypt(&message, [length as u8; 16]);
            assert_eq!(cipher.decrypt(&sealed).unwrap(), message);
        }
    }

    #[test]
    fn pushes_for_another_account_or_tampered_are_malformed() {
        let other = Cipher::new(AES_KEY, "wx0000000000000000").unwrap();
        assert!(other.decrypt(ENCRYPT).is_err());
        assert!(cipher().decrypt("not base64!").is_err());
        assert!(cipher().decrypt("").is_err());
        assert!(cipher().decrypt(&STANDARD.encode([0u8; 20])).is_err(), "not whole blocks");
        let mut flipped = STANDARD.decode(ENCRYPT).unwrap();
        let last_pad_byte = flipped.len() - 17; // CBC: flips the same bit one block on
        flipped[last_pad_byte] ^= 1;
        assert!(cipher().decrypt(&STANDARD.encode(&flipped)).is_err());
    }

    #[test]
    fn padding_is_checked_byte_by_byte() {
        assert_eq!(unpadded(&[b'a', 2, 2]).unwrap(), b"a");
        assert_eq!(unpadded(&[32; 32]).unwrap(), b"");
        assert!(unpadded(&[b'a', 1, 2]).is_err());
        assert!(unpadded(&[0; 32]).is_err());
        assert!(unpadded(&[33; 64]).is_err());
        assert!(unpadded(&[3, 3]).is_err());
    }

    #[test]
    fn a_key_of_the_wrong_size_is_refused() {
        assert!(Cipher::new(&AES_KEY[..42], APP_ID).is_err());
        assert!(Cipher::new(&format!("{AES_KEY}A"), APP_ID).is_err());
        assert!(Cipher::new("!WmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", APP_ID).is_err());
    }
}
