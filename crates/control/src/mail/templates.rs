//! The text of every mail OnAir sends: `(subject, body)`, plain text. Links are built on `base`,
//! which is `--public-url` (never a request's `Host`: see `http::origin`).

/// The verification link of a new account (valid 48 hours).
pub fn verify_email(name: &str, base: &str, token: &str) -> (&'static str, String) {
    (
        "Verify your OnAir account",
        format!(
            "Hello {name},\n\nconfirm your e-mail address to activate your OnAir account:\n\n  {base}/console/verify?token={token}\n\nor send this token to POST /api/v1/auth/verify:\n\n  {token}\n\nThe link expires in 48 hours.\n"
        ),
    )
}

/// A password-reset link (valid 1 hour).
pub fn reset_password(name: &str, base: &str, token: &str) -> (&'static str, String) {
    (
        "Reset your OnAir password",
        format!(
            "Hello {name},\n\nsomeone (hopefully you) asked to reset your OnAir password:\n\n  {base}/console/reset?token={token}\n\nor send this token with a new password to POST /api/v1/auth/password-reset/confirm:\n\n  {token}\n\nThe link expires in 1 hour. If you did not ask for this, ignore this message.\n"
        ),
    )
}

/// To the owner of an address someone tried to sign up with again.
pub fn signup_attempt() -> (&'static str, String) {
    (
        "Sign-up attempt on OnAir",
        "Someone tried to create an OnAir account with this address, which already has one.\nIf it was you, sign in or reset your password.\n".to_owned(),
    )
}
