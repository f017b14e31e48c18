//! Sign-up, e-mail verification, login (with lockout, rate limits and optional TOTP), logout
//! and password reset.
//!
//! Nothing here tells whether an address has an account: sign-up, resend and reset requests
//! answer the same way for every address, before even looking it up (sign-up hashes the
//! password first, whatever the address), and a failed login says only "invalid e-mail or
//! password" (unknown addresses are verified against a dummy hash so the timing matches).

//!
//! One file per flow: [`signup`] (sign-up, verification, resending the link), [`login`] (login,
//! logout, the TOTP check shared with the profile's two-factor settings), [`reset`] (password
//! reset). The mails they send are written in `crate::mail::templates`; audit rows go through
//! `super::audit::{audit, audit_ok}`.

mod login;
mod reset;
mod signup;

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::db::now_ms;
use crate::db::sessions::TokenPurpose;
use crate::db::users::User;
use crate::mail::templates;
use crate::security::secret::{self, SecretKind};
use crate::system::System;
use crate::{AppState, Problem};

pub(crate) use login::check_totp;

/// How long a verification link is valid.
pub const VERIFY_TOKEN_TTL: Duration = Duration::from_secs(48 * 3600);
/// How long a password-reset link is valid.
pub const RESET_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// TOTP codes accepted this many 30 s steps early or late (clock drift).
pub const TOTP_SKEW_STEPS: u8 = 1;

pub const PROBLEM_MFA_REQUIRED: &str = "https://onair.invalid/problems/mfa-required";
pub const PROBLEM_UNVERIFIED: &str = "https://onair.invalid/problems/email-unverified";
pub const PROBLEM_LOCKED: &str = "https://onair.invalid/problems/account-locked";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(signup::router())
        .merge(login::router())
        .merge(reset::router())
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
}

fn accepted(status: &'static str) -> Response {
    (StatusCode::ACCEPTED, axum::Json(Accepted { status })).into_response()
}

async fn mail_limited(sys: &System, ip: std::net::IpAddr) -> Result<(), Problem> {
    sys.check_ip_limit(crate::cluster::SharedLimit::Mail, ip)
        .await
        .map_err(|r| Problem::too_many(r.0.as_secs() as u32))
}

/// Mails `user` a single-use link for `purpose` (the token's digest is stored, with its expiry).
async fn send_token_mail(sys: &System, user: &User, purpose: TokenPurpose) -> Result<(), Problem> {
    let token = secret::generate(SecretKind::Mailed);
    let ttl = match purpose {
        TokenPurpose::VerifyEmail => VERIFY_TOKEN_TTL,
        TokenPurpose::ResetPassword => RESET_TOKEN_TTL,
    };
    sys.db
        .create_user_token(
            &user.id,
            purpose,
            &secret::digest(&token),
            now_ms() + ttl.as_millis() as i64,
        )
        .await?;
    let base = sys.public_url();
    let (subject, body) = match purpose {
        TokenPurpose::VerifyEmail => templates::verify_email(&user.display_name, &base, &token),
        TokenPurpose::ResetPassword => templates::reset_password(&user.display_name, &base, &token),
    };
    sys.mailer.send(&user.email, subject, &body).await;
    Ok(())
}

/// The account of a well-formed address, if any. No account has an address with control
/// characters (and a NUL would make PostgreSQL refuse the lookup).
async fn account_for(sys: &System, email: &str) -> Result<Option<User>, Problem> {
    if email.len() > crate::api::validate::MAX_EMAIL_LEN || email.chars().any(char::is_control) {
        return Ok(None);
    }
    Ok(sys.db.user_by_email(email).await?)
}

/// Runs `work` after the answer is sent. Sign-up, resend and reset requests answer before
/// looking the address up: for an address with an account the work is a token transaction,
/// an outbox insert and an audit row (sign-up: a failed insert, a lookup and a mail), for one
/// without a single lookup (sign-up: an account, an audit row, a token and a mail), and
/// waiting for it would let the response time tell which addresses have accounts. Failures
/// are logged.
fn in_background(
    what: &'static str,
    work: impl Future<Output = Result<(), Problem>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(p) = work.await {
            tracing::warn!(problem = ?p, "{what} failed");
        }
    });
}
