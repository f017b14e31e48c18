//! Random secrets handed to clients (session cookies, API tokens, stream keys, mailed tokens)
//! and how they are stored: only the SHA-256 of a secret is kept, so a database leak does not
//! leak credentials. The secrets have 256 bits of entropy, so a fast hash is enough (no
//! password-style stretching is needed).

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use rand::RngExt as _;
use sha2::{Digest as _, Sha256};

/// Longest secret accepted from a client before hashing.
pub const MAX_SECRET_LEN: usize = 256;

/// Kinds of secret, each with its own recognisable prefix (so leaked secrets can be found by
/// secret scanners and told apart at a glance).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// Console session cookie.
    Session,
    /// Personal access token (bearer).
    ApiToken,
    /// Device stream key, used as the RTMP stream name: only `[A-Za-z0-9_-]`.
    StreamKey,
    /// Single-use mailed token (verification, password reset).
    Mailed,
    /// Webhook signing secret.
    Webhook,
    /// CSRF token of a session.
    Csrf,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::Session => "oas_",
            SecretKind::ApiToken => "oat_",
            SecretKind::StreamKey => "sk_",
            SecretKind::Mailed => "oam_",
            SecretKind::Webhook => "whsec_",
            SecretKind::Csrf => "",
        }
    }
}

/// A new random secret: the kind's prefix and 32 random bytes, URL-safe base64.
pub fn generate(kind: SecretKind) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    format!("{}{}", kind.prefix(), BASE64URL_NOPAD.encode(&bytes))
}

/// What is stored for a secret: lowercase hex SHA-256.
pub fn digest(secret: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(secret.as_bytes()))
}

/// The visible part of a secret shown in listings: its prefix and 4 more characters.
pub fn visible_prefix(secret: &str) -> String {
    let cut = secret.find('_').map(|i| i + 1).unwrap_or(0) + 4;
    secret.chars().take(cut).collect()
}

/// Random bytes (signing keys).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill(&mut v[..]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_hashed() {
        let a = generate(SecretKind::StreamKey);
        let b = generate(SecretKind::StreamKey);
        assert_ne!(a, b);
        assert!(a.starts_with("sk_"));
        assert_eq!(a.len(), 3 + 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        );
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(visible_prefix(&a).len(), 7);
        assert!(a.starts_with(&visible_prefix(&a)));
    }
}
