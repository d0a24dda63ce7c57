//! Password hashes: PBKDF2-HMAC-SHA512, 210,000 iterations (OWASP), a random
//! 16-byte salt, stored as a PHC string so that the parameters travel with
//! the hash and can be raised later without breaking old accounts.

use pbkdf2::Pbkdf2;
use pbkdf2::password_hash::phc::PasswordHash;
use pbkdf2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::RngCore;

/// Hashes a new password. CPU-heavy (~0.1 s): call it off the async threads.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let hash = Pbkdf2::SHA512
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    Ok(hash.to_string())
}

/// Checks a password against a stored PHC string in constant time.
/// A malformed stored hash verifies as false (and is logged by the caller).
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Pbkdf2::SHA512.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A hash of a random password, verified against when the username is
/// unknown, so that both failures cost the same time.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut random = [0u8; 24];
        rand::rng().fill_bytes(&mut random);
        hash(&base64::Engine::encode(&base64::engine::general_purpose::STANDARD, random))
            .expect("hashing a random password cannot fail")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$pbkdf2-sha512$i=210000,"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterx", &h));
    }

    #[test]
    fn the_same_password_gets_a_different_salt_each_time() {
        assert_ne!(hash("same password").unwrap(), hash("same password").unwrap());
    }

    #[test]
    fn a_malformed_stored_hash_never_verifies() {
        assert!(!verify("x", "not a phc string"));
        assert!(!verify("", ""));
    }
}
