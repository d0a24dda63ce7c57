//! Forged tokens: claims like the core's, signed with the test secret (as
//! good as real ones), with another secret, or not at all; and reading a
//! token's claims without checking them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::JWT_SECRET;

/// Now in JWT seconds, for `iat` and `exp` claims.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims the core signs for an agent.
pub fn agent_claims(agent_id: &str, ver: i64, iat: i64, exp: i64) -> serde_json::Value {
    serde_json::json!({
        "iss": "livechat", "aud": "livechat", "sub": agent_id, "role": "agent",
        "iat": iat, "exp": exp, "ver": ver,
    })
}

/// The claims the core signs for a visitor.
pub fn visitor_claims(visitor_id: &str, room_id: &str, name: &str, iat: i64, exp: i64) -> serde_json::Value {
    serde_json::json!({
        "iss": "livechat", "aud": "livechat", "sub": visitor_id, "role": "visitor",
        "iat": iat, "exp": exp, "room": room_id, "name": name,
    })
}

/// A token signed HS256 with `secret`.
pub fn forge_token_with(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode JWT")
}

/// A token signed with the test core's own secret: as good as a real one.
pub fn forge_token(claims: &serde_json::Value) -> String {
    forge_token_with(JWT_SECRET, claims)
}

/// An unsigned token: header `{"alg":"none"}` and an empty signature.
pub fn forge_unsigned_token(claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

/// The decoded claims of a JWT, without checking anything.
pub fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
        .expect("JSON payload")
}
