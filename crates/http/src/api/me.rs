//! The signed-in user: profile, password, two-factor sign-in, sessions and access tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{audit, audit_ok};
use super::auth::{PROBLEM_LOCKED, check_totp};
use super::extract::Body;
use super::validate::Check;
use crate::caller::{Caller, CallerAuth};
use crate::db::audit::AuditResult;
use crate::db::now_ms;
use crate::db::sessions::{ApiToken, Session};
use crate::db::users::UserView;
use crate::problem::ProblemBody;
use crate::security::secret::{self, SecretKind};
use crate::security::{password, totp};
use crate::system::System;
use crate::{AppState, Problem};

/// Scopes a personal access token can carry.
pub const TOKEN_SCOPES: &[&str] = &["read", "write"];
/// Longest token lifetime (days).
pub const MAX_TOKEN_DAYS: i64 = 3650;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me))
        .routes(routes!(totp_setup))
        .routes(routes!(totp_enable))
        .routes(routes!(totp_disable))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_all_sessions))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = UserView), (status = 401, body = ProblemBody)))]
async fn get_me(caller: Caller) -> Json<UserView> {
    Json(UserView::from(&caller.user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    pub display_name: Option<String>,
    /// A new password; needs `current_password`.
    pub password: Option<String>,
    pub current_password: Option<String>,
}

/// The user after a change, and what a password change ended.
#[derive(Serialize, ToSchema)]
pub struct UpdatedMe {
    #[serde(flatten)]
    pub user: UserView,
    /// With a password change: how many other console sessions were signed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_sessions: Option<u64>,
    /// With a password change: how many personal access tokens were revoked (all of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_tokens: Option<u64>,
}

/// Changes the display name and/or password. A password change ends every other credential,
/// as a password reset does: the other console sessions and all personal access tokens,
/// including one making the request (a console session making it stays signed in). The
/// answer says how many ended.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", request_body = UpdateMe,
    responses((status = 200, body = UpdatedMe), (status = 403, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<UpdateMe>,
) -> Result<Json<UpdatedMe>, Problem> {
    let sys = &state.sys;
    let mut c = Check::new();
    if let Some(n) = &b.display_name {
        c.name("display_name", n);
    }
    if let Some(p) = &b.password {
        c.password("password", p);
        if b.current_password.is_none() {
            c.fail("current_password", "is needed to change the password");
        }
    }
    c.done()?;
    let mut revoked = None;
    if let Some(p) = &b.password {
        let current = b.current_password.as_deref().unwrap_or("");
        check_current_password(sys, &caller, current, "user.password_change").await?;
        let hash = sys
            .hash_password(p)
            .await
            .map_err(|e| Problem::internal(&e))?;
        sys.db.set_password_hash(caller.id(), &hash).await?;
        // Whoever knew the old password may have signed in or minted a token with it: a
        // change ends what it could have made, like a reset. A token making the change is no
        // exception (it may be the leaked credential); a console session is kept so the
        // person at the console stays signed in.
        let sessions = sys
            .db
            .revoke_all_sessions(caller.id(), caller.session_id())
            .await?;
        let tokens = sys.db.revoke_all_api_tokens(caller.id()).await?;
        revoked = Some((sessions, tokens));
        audit_ok(
            sys,
            &caller,
            "user.password_change",
            Some(("user", caller.id())),
            Some(&format!(
                "{sessions} other sessions signed out, {tokens} access tokens revoked"
            )),
        )
        .await;
    }
    if let Some(n) = &b.display_name {
        sys.db.set_display_name(caller.id(), n.trim()).await?;
    }
    let user = sys
        .db
        .user(caller.id())
        .await?
        .ok_or_else(|| Problem::not_found("no such user"))?;
    Ok(Json(UpdatedMe {
        user: UserView::from(&user),
        revoked_sessions: revoked.map(|r| r.0),
        revoked_tokens: revoked.map(|r| r.1),
    }))
}

/// Refuses personal access tokens: how the account signs in (two-factor) is changed only from
/// a console session, so a leaked token cannot enroll its holder's authenticator and lock the
/// owner out.
fn require_console(caller: &Caller) -> Result<(), Problem> {
    if matches!(caller.auth, CallerAuth::Token { .. }) {
        return Err(Problem::forbidden(
            "two-factor sign-in is changed from a console session, not with an access token",
        ));
    }
    Ok(())
}

/// Checks the caller's password before a sensitive change; a wrong one is audited under
/// `action` and refused with 403 (not 401: the caller is signed in, the proof is wrong).
///
/// This is a password check like login's, so it is limited like login's: every attempt
/// takes from the client IP's login budget (429 beyond), a wrong password counts toward the
/// account's lockout, a locked account is refused (429, `account-locked`) whatever the
/// password, and a right one clears the failure count. Without this, a stolen session or
/// token was an unlimited password-guessing oracle.
pub(crate) async fn check_current_password(
    sys: &System,
    caller: &Caller,
    current: &str,
    action: &str,
) -> Result<(), Problem> {
    if let Err(r) = sys
        .check_ip_limit(crate::cluster::SharedLimit::Login, caller.ip)
        .await
    {
        metrics::counter!("onair_login_rate_limited_total").increment(1);
        return Err(Problem::too_many(r.0.as_secs() as u32));
    }
    if caller.user.locked_until.is_some_and(|t| t > now_ms()) {
        audit(
            sys,
            Some(&caller.user),
            action,
            Some(("user", caller.id())),
            &caller.ip_text(),
            AuditResult::Denied,
            Some("account locked"),
        )
        .await;
        return Err(
            Problem::too_many(sys.limits.lockout.as_secs() as u32).with_kind(PROBLEM_LOCKED)
        );
    }
    let ok = current.len() <= password::MAX_PASSWORD_LEN
        && password::verify(current, Some(&caller.user.password_hash)).await;
    if ok {
        if caller.user.failed_logins > 0 {
            sys.db.clear_login_failures(caller.id()).await?;
        }
        return Ok(());
    }
    metrics::counter!("onair_login_failed_total").increment(1);
    let lock_until = now_ms() + sys.limits.lockout.as_millis() as i64;
    sys.db
        .record_login_failure(caller.id(), sys.limits.lockout_threshold, lock_until)
        .await?;
    audit(
        sys,
        Some(&caller.user),
        action,
        Some(("user", caller.id())),
        &caller.ip_text(),
        AuditResult::Denied,
        Some("wrong current password"),
    )
    .await;
    Err(Problem::forbidden("current password is wrong"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirm {
    /// The account's password.
    pub current_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TotpSetup {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// `otpauth://` URI for a QR code.
    pub otpauth_uri: String,
}

/// Starts two-factor setup: a new secret that `totp/enable` confirms with a first code. Console
/// sessions only (403 for access tokens); needs the current password.
#[utoipa::path(post, path = "/api/v1/me/totp/setup", tag = "me", request_body = PasswordConfirm,
    responses((status = 200, body = TotpSetup), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody),
              (status = 422, body = ProblemBody)))]
async fn totp_setup(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<PasswordConfirm>,
) -> Result<Json<TotpSetup>, Problem> {
    require_console(&caller)?;
    if caller.user.totp_secret.is_some() {
        return Err(Problem::conflict(
            "two-factor sign-in is already on; disable it first",
        ));
    }
    check_current_password(&state.sys, &caller, &b.current_password, "user.totp_setup").await?;
    let secret = totp::secret_base32(&totp::generate_secret());
    state
        .sys
        .db
        .set_totp_pending(caller.id(), Some(&secret))
        .await?;
    let raw = totp::parse_base32(&secret).map_err(|e| Problem::internal(&e))?;
    Ok(Json(TotpSetup {
        otpauth_uri: totp::otpauth_uri("OnAir", &caller.user.email, &raw),
        secret,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// Six-digit code of the authenticator app.
    pub code: String,
    /// The account's password.
    pub current_password: String,
}

/// Turns two-factor sign-in on, confirming the pending secret with a current code. Console
/// sessions only (403 for access tokens); needs the current password.
#[utoipa::path(post, path = "/api/v1/me/totp/enable", tag = "me", request_body = CodeBody,
    responses((status = 204), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
              (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn totp_enable(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<CodeBody>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    require_console(&caller)?;
    let Some(pending) = caller.user.totp_pending.clone() else {
        return Err(Problem::conflict("start with POST /api/v1/me/totp/setup"));
    };
    check_current_password(sys, &caller, &b.current_password, "user.totp_enable").await?;
    check_totp(sys, &caller.user, &pending, &b.code).await?;
    let step = sys
        .db
        .user(caller.id())
        .await?
        .and_then(|u| u.totp_last_step);
    sys.db.set_totp(caller.id(), Some(&pending), step).await?;
    audit_ok(
        sys,
        &caller,
        "user.totp_enable",
        Some(("user", caller.id())),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns two-factor sign-in off; needs a current code and the current password. Console
/// sessions only (403 for access tokens).
#[utoipa::path(post, path = "/api/v1/me/totp/disable", tag = "me", request_body = CodeBody,
    responses((status = 204), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
              (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn totp_disable(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<CodeBody>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    require_console(&caller)?;
    let Some(secret) = caller.user.totp_secret.clone() else {
        return Err(Problem::conflict("two-factor sign-in is off"));
    };
    check_current_password(sys, &caller, &b.current_password, "user.totp_disable").await?;
    check_totp(sys, &caller.user, &secret, &b.code).await?;
    sys.db.set_totp(caller.id(), None, None).await?;
    audit_ok(
        sys,
        &caller,
        "user.totp_disable",
        Some(("user", caller.id())),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub session: Session,
    /// This is the session making the request.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

/// The user's signed-in console sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", responses((status = 200, body = SessionList)))]
async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SessionList>, Problem> {
    let items = state
        .sys
        .db
        .list_sessions(caller.id())
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: caller.session_id() == Some(s.id.as_str()),
            session: s,
        })
        .collect();
    Ok(Json(SessionList { items }))
}

/// Signs one session out.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn revoke_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    if state.sys.db.revoke_session(caller.id(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("no such session"))
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeAllBody {
    /// Keep the session making this request signed in.
    #[serde(default)]
    pub keep_current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// Signs every session out (optionally but this one) and revokes every access token.
#[utoipa::path(post, path = "/api/v1/me/sessions/revoke-all", tag = "me", request_body = RevokeAllBody,
    responses((status = 200, body = Revoked)))]
async fn revoke_all_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<RevokeAllBody>,
) -> Result<Json<Revoked>, Problem> {
    let sys = &state.sys;
    let keep = if b.keep_current {
        caller.session_id()
    } else {
        None
    };
    let mut revoked = sys.db.revoke_all_sessions(caller.id(), keep).await?;
    revoked += sys.db.revoke_all_api_tokens(caller.id()).await?;
    audit_ok(
        sys,
        &caller,
        "user.revoke_all_sessions",
        Some(("user", caller.id())),
        None,
    )
    .await;
    Ok(Json(Revoked { revoked }))
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<ApiToken>,
}

/// The user's personal access tokens (without their secrets).
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "me", responses((status = 200, body = TokenList)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TokenList>, Problem> {
    Ok(Json(TokenList {
        items: state.sys.db.list_api_tokens(caller.id()).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// `read` and/or `write`.
    pub scopes: Vec<String>,
    /// Days until it expires; never when absent.
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: ApiToken,
    /// The bearer token. Shown only now: store it.
    pub token: String,
}

/// Creates a personal access token.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "me", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), Problem> {
    let sys = &state.sys;
    // A token must not mint tokens: that would outlive its own revocation.
    if matches!(caller.auth, CallerAuth::Token { .. }) {
        return Err(Problem::forbidden(
            "access tokens are created from a console session",
        ));
    }
    let mut c = Check::new();
    c.name("name", &b.name);
    if b.scopes.is_empty() || b.scopes.iter().any(|s| !TOKEN_SCOPES.contains(&s.as_str())) {
        c.fail("scopes", "must be a non-empty list of read, write");
    }
    if let Some(d) = b.expires_in_days
        && !(1..=MAX_TOKEN_DAYS).contains(&d)
    {
        c.fail("expires_in_days", format!("must be 1..={MAX_TOKEN_DAYS}"));
    }
    c.done()?;
    let mut scopes: Vec<String> = b.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let token = secret::generate(SecretKind::ApiToken);
    let expires_at = b.expires_in_days.map(|d| now_ms() + d * 86_400_000);
    let info = sys
        .db
        .create_api_token(
            caller.id(),
            b.name.trim(),
            &secret::digest(&token),
            &secret::visible_prefix(&token),
            &scopes,
            expires_at,
        )
        .await?;
    audit_ok(
        sys,
        &caller,
        "token.create",
        Some(("token", &info.id)),
        None,
    )
    .await;
    Ok((StatusCode::CREATED, Json(CreatedToken { info, token })))
}

/// Revokes a personal access token.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "me", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    if sys.db.revoke_api_token(caller.id(), &id).await? {
        audit_ok(sys, &caller, "token.revoke", Some(("token", &id)), None).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("no such token"))
    }
}
