//! Login (lockout, rate limits, optional TOTP; the session and CSRF cookies) and logout.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{PROBLEM_LOCKED, PROBLEM_MFA_REQUIRED, PROBLEM_UNVERIFIED, TOTP_SKEW_STEPS};
use crate::api::audit::{audit, audit_ok};
use crate::api::extract::Body;
use crate::caller::{CSRF_COOKIE, Caller, ClientIp, SESSION_COOKIE};
use crate::cluster::SharedLimit;
use crate::db::audit::AuditResult;
use crate::db::now_ms;
use crate::db::users::{User, UserStatus, UserView};
use crate::security::secret::{self, SecretKind};
use crate::security::{password, totp};
use crate::system::System;
use crate::{AppState, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
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

/// A refused sign-in, on the record like every other (`user.login`, denied, with why).
async fn audit_refused(sys: &System, user: Option<&User>, ip: &str, why: &str) {
    audit(
        sys,
        user,
        "user.login",
        user.map(|u| ("user", u.id.as_str())),
        ip,
        AuditResult::Denied,
        Some(why),
    )
    .await;
}

/// Counts a failed sign-in of `user` toward its lockout (`LimitSettings::lockout_threshold`
/// failures in a row lock it for `LimitSettings::lockout`).
async fn count_failure(sys: &System, user: &User) -> Result<(), Problem> {
    let lock_until = now_ms() + sys.limits.lockout.as_millis() as i64;
    sys.db
        .record_login_failure(&user.id, sys.limits.lockout_threshold, lock_until)
        .await?;
    Ok(())
}

/// Signs in: sets the `onair_session` (HttpOnly) and `onair_csrf` cookies.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::problem::ProblemBody),
              (status = 403, body = crate::problem::ProblemBody), (status = 429, body = crate::problem::ProblemBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Body(b): Body<LoginBody>,
) -> Result<Response, Problem> {
    let sys = &state.sys;
    let ip_text = ip.to_string();
    if let Err(r) = sys.check_ip_limit(SharedLimit::Login, ip).await {
        metrics::counter!("onair_login_rate_limited_total").increment(1);
        return Err(Problem::too_many(r.0.as_secs() as u32));
    }
    let bad = || Problem::unauthorized("invalid e-mail or password");
    // No account has an address with control characters (sign-up refuses them), and a NUL
    // would make PostgreSQL refuse the lookup: answer like any unknown address, on every
    // backend.
    if b.email.len() > crate::api::validate::MAX_EMAIL_LEN
        || b.email.chars().any(char::is_control)
        || b.password.len() > password::MAX_PASSWORD_LEN
    {
        return Err(bad());
    }
    let user = sys.db.user_by_email(&b.email).await?;
    let locked = match &user {
        Some(u) => u.locked_until.is_some_and(|t| t > now_ms()),
        None => {
            sys.unknown_account_locked(&b.email.to_ascii_lowercase())
                .await
        }
    };
    if locked {
        audit_refused(sys, user.as_ref(), &ip_text, "account locked").await;
        return Err(
            Problem::too_many(sys.limits.lockout.as_secs() as u32).with_kind(PROBLEM_LOCKED)
        );
    }
    let ok = password::verify(&b.password, user.as_ref().map(|u| u.password_hash.as_str())).await;
    let Some(user) = user.filter(|_| ok) else {
        metrics::counter!("onair_login_failed_total").increment(1);
        match sys.db.user_by_email(&b.email).await? {
            Some(u) => {
                count_failure(sys, &u).await?;
                audit_refused(sys, Some(&u), &ip_text, "wrong password").await;
            }
            None => {
                sys.record_unknown_account_failure(&b.email.to_ascii_lowercase())
                    .await;
                audit_refused(sys, None, &ip_text, "unknown e-mail").await;
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
        audit_refused(sys, Some(&user), &ip_text, note).await;
        return Err(problem);
    }
    if let Some(secret_b32) = &user.totp_secret {
        let Some(code) = b.totp_code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(
                Problem::unauthorized("two-factor code required").with_kind(PROBLEM_MFA_REQUIRED)
            );
        };
        if let Err(p) = check_totp(sys, &user, secret_b32, code).await {
            count_failure(sys, &user).await?;
            audit_refused(sys, Some(&user), &ip_text, "wrong two-factor code").await;
            return Err(p);
        }
    }
    signed_in(sys, &user, &ip_text, &headers).await
}

/// The session of a sign-in that passed every check: the session row, the audit row, and the
/// `onair_session` (HttpOnly) and `onair_csrf` cookies.
async fn signed_in(
    sys: &System,
    user: &User,
    ip_text: &str,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
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
            Some(ip_text),
            ua.as_deref(),
            expires_at,
        )
        .await?;
    audit(
        sys,
        Some(user),
        "user.login",
        Some(("user", &user.id)),
        ip_text,
        AuditResult::Ok,
        None,
    )
    .await;
    metrics::counter!("onair_login_total").increment(1);
    let secure = sys.settings.tls.is_some();
    let max_age = ttl.as_secs() as i64;
    let mut res = axum::Json(LoginResponse {
        user: UserView::from(user),
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
    responses((status = 204), (status = 401, body = crate::problem::ProblemBody)))]
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
