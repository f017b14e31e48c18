//! Sign-up, e-mail verification, login (with lockout, rate limits and optional TOTP), logout
//! and password reset.
//!
//! Nothing here tells whether an address has an account: sign-up, resend and reset requests
//! answer the same way for every address, before even looking it up (sign-up hashes the
//! password first, whatever the address), and a failed login says only "invalid e-mail or
//! password" (unknown addresses are verified against a dummy hash so the timing matches).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Body;
use super::validate::Check;
use crate::db::audit::{AuditResult, NewAudit};
use crate::db::now_ms;
use crate::db::sessions::TokenPurpose;
use crate::db::users::{NewUser, User, UserStatus, UserView};
use crate::http::caller::{CSRF_COOKIE, Caller, ClientIp, SESSION_COOKIE};
use crate::http::{AppState, Problem};
use crate::security::secret::{self, SecretKind};
use crate::security::{password, totp};
use crate::system::System;

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
        .routes(routes!(signup))
        .routes(routes!(verify))
        .routes(routes!(resend_verification))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    pub email: String,
    pub password: String,
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
}

fn accepted(status: &'static str) -> Response {
    (StatusCode::ACCEPTED, axum::Json(Accepted { status })).into_response()
}

/// Audits a successful action of a signed-in caller.
pub(crate) async fn audit_ok(
    sys: &System,
    caller: &crate::http::caller::Caller,
    action: &str,
    target: Option<(&str, &str)>,
    detail: Option<&str>,
) {
    audit(
        sys,
        Some(&caller.user),
        action,
        target,
        &caller.ip_text(),
        AuditResult::Ok,
        detail,
    )
    .await;
}

pub(crate) async fn audit(
    sys: &System,
    actor: Option<&User>,
    action: &str,
    target: Option<(&str, &str)>,
    ip: &str,
    result: AuditResult,
    detail: Option<&str>,
) {
    let r = sys
        .db
        .audit(NewAudit {
            actor_id: actor.map(|u| u.id.as_str()),
            actor: actor.map_or("anonymous", |u| u.email.as_str()),
            action,
            target_type: target.map(|t| t.0),
            target_id: target.map(|t| t.1),
            ip: Some(ip),
            result: Some(result),
            detail,
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "audit write failed");
    }
}

fn mail_limited(sys: &System, ip: std::net::IpAddr) -> Result<(), Problem> {
    sys.limiters
        .mail_ip
        .check(&ip, Instant::now())
        .map_err(|r| Problem::too_many(r.0.as_secs() as u32))
}

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
        TokenPurpose::VerifyEmail => (
            "Verify your OnAir account",
            format!(
                "Hello {name},\n\nconfirm your e-mail address to activate your OnAir account:\n\n  {base}/console/verify?token={token}\n\nor send this token to POST /api/v1/auth/verify:\n\n  {token}\n\nThe link expires in 48 hours.\n",
                name = user.display_name
            ),
        ),
        TokenPurpose::ResetPassword => (
            "Reset your OnAir password",
            format!(
                "Hello {name},\n\nsomeone (hopefully you) asked to reset your OnAir password:\n\n  {base}/console/reset?token={token}\n\nor send this token with a new password to POST /api/v1/auth/password-reset/confirm:\n\n  {token}\n\nThe link expires in 1 hour. If you did not ask for this, ignore this message.\n",
                name = user.display_name
            ),
        ),
    };
    sys.mailer.send(&user.email, subject, &body).await;
    Ok(())
}

/// Creates a pending viewer account and mails a verification link. The answer is the same
/// whether or not the address has an account (its owner is mailed about the attempt instead),
/// and is sent before the address is looked at.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupBody,
    responses((status = 202, body = Accepted), (status = 403, body = crate::http::problem::ProblemBody),
              (status = 422, body = crate::http::problem::ProblemBody), (status = 429, body = crate::http::problem::ProblemBody)))]
async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<SignupBody>,
) -> Result<Response, Problem> {
    let sys = &state.sys;
    if !sys.settings.allow_signup {
        return Err(Problem::forbidden("sign-up is turned off on this server"));
    }
    let mut c = Check::new();
    c.email("email", &b.email);
    c.password_for("password", &b.password, &[&b.email, &b.display_name]);
    c.name("display_name", &b.display_name);
    c.done()?;
    mail_limited(sys, ip)?;
    // Everything before the answer is the same for every address: the hash (the expensive
    // step, so an existing address is not answered faster for skipping it, and the client
    // waits for it, which bounds how fast one client can make us hash), then the answer. What
    // differs — an account, an audit row, a token and a mail for a new address; a lookup and
    // a mail for a known one — happens after it (see `in_background`).
    let hash = sys
        .hash_password(&b.password)
        .await
        .map_err(|e| Problem::internal(&e))?;
    let sys = state.sys.clone();
    in_background("a sign-up", async move {
        register(&sys, &b.email, b.display_name.trim(), &hash, ip).await
    });
    Ok(accepted("check your e-mail to verify the address"))
}

/// Sign-up's work after the answer: a pending account and its verification mail, or, for an
/// address that already has an account, a mail telling its owner.
async fn register(
    sys: &System,
    email: &str,
    display_name: &str,
    password_hash: &str,
    ip: std::net::IpAddr,
) -> Result<(), Problem> {
    match sys
        .db
        .create_user(NewUser {
            email,
            display_name,
            password_hash,
            role: sys.settings.signup_role,
            status: UserStatus::Pending,
            email_verified: false,
        })
        .await
    {
        Ok(user) => {
            audit(
                sys,
                Some(&user),
                "user.signup",
                Some(("user", &user.id)),
                &ip.to_string(),
                AuditResult::Ok,
                None,
            )
            .await;
            send_token_mail(sys, &user, TokenPurpose::VerifyEmail).await
        }
        Err(crate::db::DbError::Conflict(_)) => {
            if let Some(existing) = sys.db.user_by_email(email).await? {
                sys.mailer
                    .send(
                        &existing.email,
                        "Sign-up attempt on OnAir",
                        "Someone tried to create an OnAir account with this address, which already has one.\nIf it was you, sign in or reset your password.\n",
                    )
                    .await;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub token: String,
}

/// Verifies an e-mail address with the mailed token; a pending account becomes active.
#[utoipa::path(post, path = "/api/v1/auth/verify", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = UserView), (status = 400, body = crate::http::problem::ProblemBody)))]
async fn verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<TokenBody>,
) -> Result<axum::Json<UserView>, Problem> {
    let sys = &state.sys;
    let invalid = || Problem::bad_request("invalid, used or expired verification token");
    if b.token.len() > secret::MAX_SECRET_LEN {
        return Err(invalid());
    }
    let Some(user_id) = sys
        .db
        .consume_user_token(TokenPurpose::VerifyEmail, &secret::digest(&b.token))
        .await?
    else {
        return Err(invalid());
    };
    sys.db.verify_email(&user_id).await?;
    let user = sys.db.user(&user_id).await?.ok_or_else(invalid)?;
    audit(
        sys,
        Some(&user),
        "user.verify_email",
        Some(("user", &user.id)),
        &ip.to_string(),
        AuditResult::Ok,
        None,
    )
    .await;
    Ok(axum::Json(UserView::from(&user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    pub email: String,
}

/// Mails a new verification link to a pending account (same answer for every address).
#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth", request_body = EmailBody,
    responses((status = 202, body = Accepted), (status = 429, body = crate::http::problem::ProblemBody)))]
async fn resend_verification(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<EmailBody>,
) -> Result<Response, Problem> {
    mail_limited(&state.sys, ip)?;
    let sys = state.sys.clone();
    in_background("resending a verification link", async move {
        if let Some(user) = account_for(&sys, &b.email).await?
            && user.status == UserStatus::Pending
        {
            send_token_mail(&sys, &user, TokenPurpose::VerifyEmail).await?;
        }
        Ok(())
    });
    Ok(accepted(
        "if the address has a pending account, a new link was sent",
    ))
}

/// The account of a well-formed address, if any. No account has an address with control
/// characters (and a NUL would make PostgreSQL refuse the lookup).
async fn account_for(sys: &System, email: &str) -> Result<Option<User>, Problem> {
    if email.len() > super::validate::MAX_EMAIL_LEN || email.chars().any(char::is_control) {
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
    /// Six-digit code of the authenticator app, when two-factor sign-in is on.
    #[serde(default)]
    pub totp_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: UserView,
    /// Echo in the `X-CSRF-Token` header of every state-changing console request.
    pub csrf_token: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

fn cookie_header(
    name: &str,
    value: &str,
    max_age: i64,
    http_only: bool,
    secure: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Checks a TOTP code for `user` and records its step (no replay). The error is the client's.
pub(crate) async fn check_totp(
    sys: &System,
    user: &User,
    secret_b32: &str,
    code: &str,
) -> Result<(), Problem> {
    let secret = totp::parse_base32(secret_b32).map_err(|e| Problem::internal(&e))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = user.totp_last_step.map(|s| s as u64);
    let step = totp::verify(&secret, code, now, TOTP_SKEW_STEPS, last).map_err(|_| {
        Problem::unauthorized("invalid two-factor code").with_kind(PROBLEM_MFA_REQUIRED)
    })?;
    if !sys.db.use_totp_step(&user.id, step as i64).await? {
        return Err(
            Problem::unauthorized("two-factor code already used").with_kind(PROBLEM_MFA_REQUIRED)
        );
    }
    Ok(())
}

/// Signs in: sets the `onair_session` (HttpOnly) and `onair_csrf` cookies.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::http::problem::ProblemBody),
              (status = 403, body = crate::http::problem::ProblemBody), (status = 429, body = crate::http::problem::ProblemBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Body(b): Body<LoginBody>,
) -> Result<Response, Problem> {
    let sys = &state.sys;
    let now = Instant::now();
    let ip_text = ip.to_string();
    if let Err(r) = sys.limiters.login_ip.check(&ip, now) {
        metrics::counter!("onair_login_rate_limited_total").increment(1);
        return Err(Problem::too_many(r.0.as_secs() as u32));
    }
    let bad = || Problem::unauthorized("invalid e-mail or password");
    // No account has an address with control characters (sign-up refuses them), and a NUL
    // would make PostgreSQL refuse the lookup: answer like any unknown address, on every
    // backend.
    if b.email.len() > super::validate::MAX_EMAIL_LEN
        || b.email.chars().any(char::is_control)
        || b.password.len() > password::MAX_PASSWORD_LEN
    {
        return Err(bad());
    }
    let user = sys.db.user_by_email(&b.email).await?;
    let locked = match &user {
        Some(u) => u.locked_until.is_some_and(|t| t > now_ms()),
        None => sys
            .limiters
            .unknown_account
            .is_locked(&b.email.to_ascii_lowercase(), now),
    };
    if locked {
        audit(
            sys,
            user.as_ref(),
            "user.login",
            user.as_ref().map(|u| ("user", u.id.as_str())),
            &ip_text,
            AuditResult::Denied,
            Some("account locked"),
        )
        .await;
        return Err(
            Problem::too_many(sys.limits.lockout.as_secs() as u32).with_kind(PROBLEM_LOCKED)
        );
    }
    let ok = password::verify(&b.password, user.as_ref().map(|u| u.password_hash.as_str())).await;
    let Some(user) = user.filter(|_| ok) else {
        metrics::counter!("onair_login_failed_total").increment(1);
        match sys.db.user_by_email(&b.email).await? {
            Some(u) => {
                let lock_until = now_ms() + sys.limits.lockout.as_millis() as i64;
                sys.db
                    .record_login_failure(&u.id, sys.limits.lockout_threshold, lock_until)
                    .await?;
                audit(
                    sys,
                    Some(&u),
                    "user.login",
                    Some(("user", &u.id)),
                    &ip_text,
                    AuditResult::Denied,
                    Some("wrong password"),
                )
                .await;
            }
            None => {
                sys.limiters
                    .unknown_account
                    .record_failure(&b.email.to_ascii_lowercase(), now);
                audit(
                    sys,
                    None,
                    "user.login",
                    None,
                    &ip_text,
                    AuditResult::Denied,
                    Some("unknown e-mail"),
                )
                .await;
            }
        }
        return Err(bad());
    };
    // The right password of an account that may not sign in: refused, and on the record like
    // every other refused sign-in.
    let refusal = match user.status {
        UserStatus::Active => None,
        UserStatus::Pending => Some((
            "e-mail not verified",
            Problem::forbidden("verify your e-mail address first").with_kind(PROBLEM_UNVERIFIED),
        )),
        UserStatus::Disabled => Some((
            "account disabled",
            Problem::forbidden("this account is disabled"),
        )),
    };
    if let Some((note, problem)) = refusal {
        audit(
            sys,
            Some(&user),
            "user.login",
            Some(("user", &user.id)),
            &ip_text,
            AuditResult::Denied,
            Some(note),
        )
        .await;
        return Err(problem);
    }
    if let Some(secret_b32) = &user.totp_secret {
        let Some(code) = b.totp_code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(
                Problem::unauthorized("two-factor code required").with_kind(PROBLEM_MFA_REQUIRED)
            );
        };
        if let Err(p) = check_totp(sys, &user, secret_b32, code).await {
            let lock_until = now_ms() + sys.limits.lockout.as_millis() as i64;
            sys.db
                .record_login_failure(&user.id, sys.limits.lockout_threshold, lock_until)
                .await?;
            audit(
                sys,
                Some(&user),
                "user.login",
                Some(("user", &user.id)),
                &ip_text,
                AuditResult::Denied,
                Some("wrong two-factor code"),
            )
            .await;
            return Err(p);
        }
    }
    sys.db.clear_login_failures(&user.id).await?;
    let token = secret::generate(SecretKind::Session);
    let csrf = secret::generate(SecretKind::Csrf);
    let ttl = sys.settings.session_ttl;
    let expires_at = now_ms() + ttl.as_millis() as i64;
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect::<String>());
    sys.db
        .create_session(
            &user.id,
            &secret::digest(&token),
            &csrf,
            Some(&ip_text),
            ua.as_deref(),
            expires_at,
        )
        .await?;
    audit(
        sys,
        Some(&user),
        "user.login",
        Some(("user", &user.id)),
        &ip_text,
        AuditResult::Ok,
        None,
    )
    .await;
    metrics::counter!("onair_login_total").increment(1);
    let secure = sys.settings.tls.is_some();
    let max_age = ttl.as_secs() as i64;
    let mut res = axum::Json(LoginResponse {
        user: UserView::from(&user),
        csrf_token: csrf.clone(),
        expires_at,
    })
    .into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, &token, max_age, true, secure),
    );
    h.append(
        header::SET_COOKIE,
        cookie_header(CSRF_COOKIE, &csrf, max_age, false, secure),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Signs out of this console session (clears the cookies).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = crate::http::problem::ProblemBody)))]
async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let sys = &state.sys;
    if let Some(sid) = caller.session_id() {
        sys.db.revoke_session(caller.id(), sid).await?;
    }
    audit_ok(
        sys,
        &caller,
        "user.logout",
        Some(("user", caller.id())),
        None,
    )
    .await;
    let secure = sys.settings.tls.is_some();
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, "", 0, true, secure),
    );
    h.append(
        header::SET_COOKIE,
        cookie_header(CSRF_COOKIE, "", 0, false, secure),
    );
    Ok(res)
}

/// Mails a password-reset link (same answer for every address).
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = EmailBody,
    responses((status = 202, body = Accepted), (status = 429, body = crate::http::problem::ProblemBody)))]
async fn request_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<EmailBody>,
) -> Result<Response, Problem> {
    mail_limited(&state.sys, ip)?;
    let sys = state.sys.clone();
    in_background("a password-reset request", async move {
        if let Some(user) = account_for(&sys, &b.email).await?
            && user.status != UserStatus::Disabled
        {
            send_token_mail(&sys, &user, TokenPurpose::ResetPassword).await?;
            audit(
                &sys,
                Some(&user),
                "user.password_reset_request",
                Some(("user", &user.id)),
                &ip.to_string(),
                AuditResult::Ok,
                None,
            )
            .await;
        }
        Ok(())
    });
    Ok(accepted(
        "if the address has an account, a reset link was sent",
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    pub token: String,
    pub password: String,
}

/// Sets a new password with a mailed reset token; signs out every session of the account and
/// revokes its access tokens.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetBody,
    responses((status = 204), (status = 400, body = crate::http::problem::ProblemBody), (status = 422, body = crate::http::problem::ProblemBody)))]
async fn confirm_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<ResetBody>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    let mut c = Check::new();
    c.password("password", &b.password);
    c.done()?;
    let invalid = || Problem::bad_request("invalid, used or expired reset token");
    if b.token.len() > secret::MAX_SECRET_LEN {
        return Err(invalid());
    }
    let Some(user_id) = sys
        .db
        .consume_user_token(TokenPurpose::ResetPassword, &secret::digest(&b.token))
        .await?
    else {
        return Err(invalid());
    };
    let hash = sys
        .hash_password(&b.password)
        .await
        .map_err(|e| Problem::internal(&e))?;
    sys.db.set_password_hash(&user_id, &hash).await?;
    // Receiving the mail proves the address.
    sys.db.verify_email(&user_id).await?;
    sys.db.revoke_all_sessions(&user_id, None).await?;
    // Tokens too: whoever made the reset necessary may hold one.
    sys.db.revoke_all_api_tokens(&user_id).await?;
    let user = sys.db.user(&user_id).await?;
    audit(
        sys,
        user.as_ref(),
        "user.password_reset",
        Some(("user", &user_id)),
        &ip.to_string(),
        AuditResult::Ok,
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
