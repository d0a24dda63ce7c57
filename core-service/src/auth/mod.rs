//! Credentials: PBKDF2-HMAC-SHA512 password hashes and the JWTs that agents
//! and visitors carry. Pure functions over secrets; no storage here.

pub mod password;
pub mod token;

pub use token::{Claims, Role, TokenKeys};
