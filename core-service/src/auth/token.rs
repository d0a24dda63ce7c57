//! JWTs (HS256) for agents and visitors.
//!
//! Agent tokens carry a token version: the core compares it with the stored
//! one on every call, so a password change, a disable or a delete revokes
//! every token at once. Visitor tokens are scoped to one room.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "livechat";
const AUDIENCE: &str = "livechat";

/// Whose token it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Visitor,
}

/// The claims livechat signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// Agent id or visitor id.
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    /// Agents: must equal the stored token version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<i64>,
    /// Visitors: the one room the token opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Visitors: their display name (they have no account to look it up in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Signing and verifying keys from the shared secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Derived from the secret: makes `tag` unguessable without it.
    tag_salt: [u8; 32],
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(***)")
    }
}

impl TokenKeys {
    /// A short keyed digest of `data` (a client address, say): the same on
    /// every replica, meaningless without the secret, so that what is
    /// stored to count by address is not the address.
    pub fn tag(&self, data: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::new().chain_update(self.tag_salt).chain_update(data.as_bytes()).finalize();
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    pub fn new(secret: &[u8]) -> Self {
        // Only HS256 is accepted: "none" and asymmetric algorithms are refused
        // before the signature is even looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            tag_salt: {
                use sha2::Digest;
                sha2::Sha256::new().chain_update(b"livechat-tag:").chain_update(secret).finalize().into()
            },
        }
    }

    /// A token for an agent, valid for `ttl_secs` from `now_secs`.
    pub fn agent_token(
        &self,
        agent_id: &str,
        version: i64,
        now_secs: i64,
        ttl_secs: u64,
    ) -> anyhow::Result<String> {
        self.sign(&Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: agent_id.into(),
            role: Role::Agent,
            iat: now_secs,
            exp: now_secs + ttl_secs as i64,
            ver: Some(version),
            room: None,
            name: None,
        })
    }

    /// A token that opens one room for its visitor.
    pub fn visitor_token(
        &self,
        visitor_id: &str,
        name: &str,
        room_id: &str,
        now_secs: i64,
        ttl_secs: u64,
    ) -> anyhow::Result<String> {
        self.sign(&Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: visitor_id.into(),
            role: Role::Visitor,
            iat: now_secs,
            exp: now_secs + ttl_secs as i64,
            ver: None,
            room: Some(room_id.into()),
            name: Some(name.into()),
        })
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)?)
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        let c = data.claims;
        // A visitor token without a room, or an agent token without a version,
        // was not made by us.
        let well_formed = match c.role {
            Role::Agent => c.ver.is_some(),
            Role::Visitor => c.room.is_some(),
        };
        if well_formed { Ok(c) } else { Err(jsonwebtoken::errors::ErrorKind::InvalidToken.into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn an_agent_token_round_trips() {
        let keys = TokenKeys::new(b"secret-secret-secret-secret-1234");
        let t = keys.agent_token("a1", 3, now(), 60).unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.role, c.ver), ("a1", Role::Agent, Some(3)));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = TokenKeys::new(b"k");
        let t = keys.agent_token("a1", 0, now() - 1000, 10).unwrap();
        assert!(keys.verify(&t).is_err());
    }

    #[test]
    fn another_secret_is_refused() {
        let t = TokenKeys::new(b"one").visitor_token("v", "Ana", "r", now(), 60).unwrap();
        assert!(TokenKeys::new(b"two").verify(&t).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = TokenKeys::new(b"k");
        let t = keys.visitor_token("v", "Ana", "r", now(), 60).unwrap();
        let payload = t.split('.').nth(1).unwrap();
        let header =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys.verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn a_visitor_token_without_a_room_is_refused() {
        let keys = TokenKeys::new(b"k");
        let mut c = keys.verify(&keys.visitor_token("v", "Ana", "r", now(), 60).unwrap()).unwrap();
        c.room = None;
        assert!(keys.verify(&keys.sign(&c).unwrap()).is_err());
    }
}
