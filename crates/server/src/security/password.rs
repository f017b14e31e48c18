//! Password hashing with Argon2id (RFC 9106) in PHC string format, and the password policy.
//!
//! Hashing costs tens of milliseconds of CPU by design, so callers run it on the blocking pool
//! ([`hash`] and [`verify`] are async wrappers that do).

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest accepted password (bytes): bounds the hashing work a request can ask for.
pub const MAX_PASSWORD_LEN: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_LEN} bytes")]
    TooLong,
    #[error("password hashing failed")]
    Hash,
}

/// Checks the password policy: length only (NIST SP 800-63B §5.1.1: no composition rules).
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// Argon2id with the crate's defaults (19 MiB, t = 2, p = 1: OWASP's recommendation).
fn hash_sync(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hash)
}

fn verify_sync(password: &str, phc: &str) -> bool {
    password.len() <= MAX_PASSWORD_LEN
        && Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok()
}

/// Hashes a password on the blocking pool.
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_sync(&password))
        .await
        .map_err(|_| PasswordError::Hash)?
}

/// Verifies a password against a PHC hash on the blocking pool. With `None` (no such user) it
/// verifies against a fixed dummy hash, so that the answer takes as long as for a real user.
pub async fn verify(password: &str, phc: Option<&str>) -> bool {
    let password = password.to_owned();
    let phc = phc.map(str::to_owned);
    tokio::task::spawn_blocking(move || match phc {
        Some(h) => verify_sync(&password, &h),
        None => {
            let _ = verify_sync(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_sync("onair-dummy-password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&h)).await);
        assert!(!verify("correct horse batterY", Some(&h)).await);
        assert!(!verify("correct horse battery", None).await);
        assert!(!verify("x", Some("not a phc string")).await);
        assert!(!verify(&"a".repeat(MAX_PASSWORD_LEN + 1), Some(&h)).await);
    }

    #[test]
    fn policy() {
        assert_eq!(check_policy("short"), Err(PasswordError::TooShort));
        assert_eq!(check_policy(&"x".repeat(300)), Err(PasswordError::TooLong));
        assert!(check_policy("ten chars!").is_ok());
        // Characters, not bytes, count towards the minimum.
        assert_eq!(check_policy("ééééé"), Err(PasswordError::TooShort));
    }
}
