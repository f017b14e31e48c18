//! Who is calling: a console session (cookie + CSRF header for state-changing requests) or a
//! personal access token (`Authorization: Bearer`, scoped). Handlers take [`Caller`] to require
//! a signed-in user, or [`MaybeCaller`] where anonymous callers are served too.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use super::{AppState, Problem};
use crate::db::users::{Role, User, UserStatus};
use crate::security::constant_time_eq;
use crate::security::secret::{self, MAX_SECRET_LEN};

/// Name of the console session cookie.
pub const SESSION_COOKIE: &str = "onair_session";
/// Name of the cookie carrying the CSRF token (readable by the console's scripts).
pub const CSRF_COOKIE: &str = "onair_csrf";
/// Header a console request echoes the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Longest Cookie header parsed.
pub const MAX_COOKIE_HEADER: usize = 8192;

/// How the caller authenticated.
#[derive(Clone, Debug)]
pub enum CallerAuth {
    Session { id: String },
    Token { id: String, scopes: Vec<String> },
}

/// An authenticated, active user.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub auth: CallerAuth,
    pub ip: IpAddr,
}

impl Caller {
    pub fn id(&self) -> &str {
        &self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// Admins manage everything; others manage what they own.
    pub fn can_manage(&self, owner_id: &str) -> bool {
        self.is_admin() || self.user.id == owner_id
    }

    pub fn require_admin(&self) -> Result<(), Problem> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Problem::forbidden("this needs the admin role"))
        }
    }

    /// Devices and channels are for broadcasters (and admins).
    pub fn require_broadcaster(&self) -> Result<(), Problem> {
        match self.user.role {
            Role::Admin | Role::Broadcaster => Ok(()),
            Role::Viewer => Err(Problem::forbidden("this needs the broadcaster role")),
        }
    }

    /// The caller's own session id, when signed in through the console.
    pub fn session_id(&self) -> Option<&str> {
        match &self.auth {
            CallerAuth::Session { id } => Some(id),
            CallerAuth::Token { .. } => None,
        }
    }

    pub fn ip_text(&self) -> String {
        self.ip.to_string()
    }
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.len() <= MAX_COOKIE_HEADER)
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The bearer token of the Authorization header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The digest of the request's credential (bearer token, else session cookie): what caches of
/// a caller's permissions are keyed by, so a signed-out session or revoked token stops matching.
pub fn credential_digest(headers: &HeaderMap) -> Option<String> {
    bearer(headers)
        .or_else(|| cookie(headers, SESSION_COOKIE))
        .filter(|c| c.len() <= MAX_SECRET_LEN)
        .map(secret::digest)
}

pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Authenticates a request. `Ok(None)`: no credentials at all. Credentials that are present but
/// invalid are an error, never silently anonymous.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Caller>, Problem> {
    authenticate_request(&parts.headers, &parts.method, client_ip(parts), state).await
}

/// [`authenticate`] from a request's headers, method and client address.
pub async fn authenticate_request(
    headers: &HeaderMap,
    method: &Method,
    ip: IpAddr,
    state: &AppState,
) -> Result<Option<Caller>, Problem> {
    let db = &state.sys.db;
    if let Some(token) = bearer(headers) {
        if token.len() > MAX_SECRET_LEN {
            return Err(Problem::unauthorized("invalid access token"));
        }
        let Some(t) = db.api_token_by_hash(&secret::digest(token)).await? else {
            return Err(Problem::unauthorized(
                "invalid, expired or revoked access token",
            ));
        };
        let needed = if is_safe(method) { "read" } else { "write" };
        if !t.scopes.iter().any(|s| s == needed) {
            return Err(Problem::forbidden(format!(
                "this access token lacks the {needed:?} scope"
            )));
        }
        let user = active_user(state, &t.user_id).await?;
        return Ok(Some(Caller {
            user,
            auth: CallerAuth::Token {
                id: t.id,
                scopes: t.scopes,
            },
            ip,
        }));
    }
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        if token.len() > MAX_SECRET_LEN {
            return Err(Problem::unauthorized("invalid session"));
        }
        let Some(s) = db.session_by_token(&secret::digest(token)).await? else {
            return Err(Problem::unauthorized("session expired or signed out")
                .with_kind("https://onair.invalid/problems/session-expired"));
        };
        if !is_safe(method) {
            // Double-submit: a cross-site form can send the cookie but cannot read it to
            // echo it in a header.
            let sent = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), s.csrf_token.as_bytes()) {
                return Err(Problem::forbidden(
                    "missing or wrong X-CSRF-Token header for this session",
                ));
            }
        }
        let user = active_user(state, &s.user_id).await?;
        return Ok(Some(Caller {
            user,
            auth: CallerAuth::Session { id: s.id },
            ip,
        }));
    }
    Ok(None)
}

async fn active_user(state: &AppState, id: &str) -> Result<User, Problem> {
    match state.sys.db.user(id).await? {
        Some(u) if u.status == UserStatus::Active => Ok(u),
        _ => Err(Problem::unauthorized("account is not active")),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        authenticate(parts, state)
            .await?
            .ok_or_else(|| Problem::unauthorized("sign in or send an access token"))
    }
}

/// A caller who may be anonymous.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        Ok(Self(authenticate(parts, state).await?))
    }
}

/// The client's address, for handlers that need it without authentication.
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts)))
    }
}
