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
    #[error(
        "password is too common or too easy to guess (a well-known password, a word with a few \
         digits, a keyboard pattern, your name or address): choose another"
    )]
    TooGuessable,
    #[error("password hashing failed")]
    Hash,
}

/// Fewest guesses (log10) a new password must need by zxcvbn's estimate: 10^6 is where it
/// stops calling a password "too guessable" (it falls to online guessing below that).
pub const MIN_GUESSES_LOG10: f64 = 6.0;

/// Checks the password policy (NIST SP 800-63B §5.1.1.2: a minimum length, no composition
/// rules, and a blocklist of common, expected or compromised values): at least
/// [`MIN_PASSWORD_LEN`] characters, and not guessable in fewer than 10^[`MIN_GUESSES_LOG10`]
/// tries by zxcvbn, whose estimate matches the password against ranked lists of leaked
/// passwords, words and names, keyboard patterns, sequences, repeats and dates.
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    check_policy_for(password, &[])
}

/// [`check_policy`], also refusing passwords built from `user_inputs` (the account's e-mail
/// address and name).
pub fn check_policy_for(password: &str, user_inputs: &[&str]) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    if zxcvbn::zxcvbn(password, user_inputs).guesses_log10() < MIN_GUESSES_LOG10 {
        return Err(PasswordError::TooGuessable);
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

    #[test]
    fn common_and_patterned_passwords_are_refused() {
        for weak in [
            "password123",
            "1234567890",
            "qwertyuiop",
            "iloveyou12",
            "aaaaaaaaaaaa",
            "Password1!",
        ] {
            assert_eq!(
                check_policy(weak),
                Err(PasswordError::TooGuessable),
                "{weak}"
            );
        }
        let inputs = ["alice@example.com", "Alice"];
        assert_eq!(
            check_policy_for("alice@example.com", &inputs),
            Err(PasswordError::TooGuessable)
        );
        for good in [
            "correct horse battery staple",
            "alice's long password",
            "vX9#mq2!Lr",
        ] {
            assert_eq!(check_policy_for(good, &inputs), Ok(()), "{good}");
        }
        // The longest accepted input is estimated quickly enough to check inline.
        let long = "ab1!".repeat(MAX_PASSWORD_LEN / 4);
        let t = std::time::Instant::now();
        let _ = check_policy(&long);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }
}
