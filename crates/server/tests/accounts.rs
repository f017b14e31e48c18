//! Accounts end to end over HTTP, on SQLite and on PostgreSQL: sign-up, verification, login
//! with cookies and CSRF, personal access tokens, sessions, password reset, TOTP, logout and
//! revoke-all; lockout and rate limits without account enumeration; hostile request bodies.
//!
//! The client keeps no cookie jar: the Cookie header is managed here, so the attributes the
//! server sets can be asserted. TOTP codes are computed by an RFC 6238 implementation of this
//! file (independent of `security/totp.rs`).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::TestNode;
use common::db::Backend;
use onair_server::config::Settings;
use onair_server::db::Page;
use onair_server::security::ratelimit::RateLimit;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery";

// ---------------------------------------------------------------- RFC 6238, independently

fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("base32 character") as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// RFC 4226 HOTP (HMAC-SHA1, dynamic truncation, 6 digits).
fn hotp(key: &[u8], counter: u64) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 0x0f) as usize;
    let bin = (u32::from(h[o]) & 0x7f) << 24
        | u32::from(h[o + 1]) << 16
        | u32::from(h[o + 2]) << 8
        | u32::from(h[o + 3]);
    format!("{:06}", bin % 1_000_000)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The RFC 6238 code of time step `step` (T0 = 0, X = 30 s).
fn totp(secret_b32: &str, step: u64) -> String {
    hotp(&base32_decode(secret_b32), step)
}

#[test]
fn independent_totp_matches_rfc_6238_vectors() {
    // RFC 6238 appendix B, SHA-1, last six digits; secret "12345678901234567890".
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    assert_eq!(base32_decode(secret), b"12345678901234567890");
    assert_eq!(totp(secret, 59 / 30), "287082");
    assert_eq!(totp(secret, 1111111109 / 30), "081804");
    assert_eq!(totp(secret, 1234567890 / 30), "005924");
    assert_eq!(totp(secret, 2000000000 / 30), "279037");
}

// ---------------------------------------------------------------- HTTP helpers

fn http() -> reqwest::Client {
    // No cookie store: cookies are handled by hand.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[derive(Debug)]
struct Res {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Res {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with this status.
    #[track_caller]
    fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.content_type(), "application/problem+json", "{self:?}");
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        &self.body
    }

    /// The `field` names of a validation problem's `errors`.
    fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A console session: the two cookies and the CSRF token the login returned.
#[derive(Clone, Debug)]
struct Session {
    cookie: String,
    csrf: String,
}

enum Auth<'a> {
    None,
    /// Cookie and the X-CSRF-Token header.
    Session(&'a Session),
    /// Cookie only (no CSRF header).
    CookieOnly(&'a Session),
    Bearer(&'a str),
}

struct Api<'a> {
    node: &'a TestNode,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(node: &'a TestNode) -> Self {
        Self {
            node,
            client: http(),
        }
    }

    async fn send(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Res {
        let mut req = self.client.request(method, self.node.url(path));
        match auth {
            Auth::None => {}
            Auth::Session(s) => {
                req = req
                    .header("Cookie", &s.cookie)
                    .header("X-CSRF-Token", &s.csrf)
            }
            Auth::CookieOnly(s) => req = req.header("Cookie", &s.cookie),
            Auth::Bearer(t) => req = req.bearer_auth(t),
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::read(req.send().await.unwrap()).await
    }

    async fn raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Res {
        let r = self
            .client
            .post(self.node.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        Self::read(r).await
    }

    async fn read(r: reqwest::Response) -> Res {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
            text,
        }
    }

    async fn post(&self, path: &str, auth: Auth<'_>, body: Value) -> Res {
        self.send(Method::POST, path, auth, Some(body)).await
    }

    async fn get(&self, path: &str, auth: Auth<'_>) -> Res {
        self.send(Method::GET, path, auth, None).await
    }

    async fn login(&self, email: &str, password: &str, code: Option<&str>) -> Res {
        let mut body = json!({ "email": email, "password": password });
        if let Some(c) = code {
            body["totp_code"] = json!(c);
        }
        self.post("/api/v1/auth/login", Auth::None, body).await
    }

    /// Logs in and checks the cookies; returns the session.
    async fn session(&self, email: &str, password: &str, code: Option<&str>) -> Session {
        let r = self.login(email, password, code).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        session_from(&r)
    }

    /// The token in the newest mail to `to` whose subject contains `subject`, waiting for one
    /// (resend and reset requests send their mail after answering).
    async fn mailed_token(&self, to: &str, subject: &str) -> String {
        self.mailed_token_other_than(to, subject, None).await
    }

    /// [`Self::mailed_token`], waiting until the newest token is not `old`.
    async fn mailed_token_other_than(&self, to: &str, subject: &str, old: Option<&str>) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mail = self
                .node
                .sys()
                .db
                .list_mail(Some(to), Page::default())
                .await
                .unwrap();
            let token = mail.iter().find(|m| m.subject.contains(subject)).map(|m| {
                let at = m.body.find("token=").expect("a link with a token") + "token=".len();
                m.body[at..]
                    .split(|c: char| c.is_whitespace())
                    .next()
                    .unwrap()
                    .to_owned()
            });
            match token {
                Some(t) if Some(t.as_str()) != old => return t,
                _ if std::time::Instant::now() > deadline => {
                    panic!("no new mail {subject:?} to {to}: {mail:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

fn session_from(r: &Res) -> Session {
    let cookies = r.set_cookies();
    let find = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
            .clone()
    };
    let session = find("onair_session");
    let csrf = find("onair_csrf");
    let attrs = |c: &str| -> Vec<String> {
        c.split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect()
    };
    let s_attrs = attrs(&session);
    let c_attrs = attrs(&csrf);
    assert!(s_attrs.contains(&"httponly".into()), "{session}");
    assert!(s_attrs.contains(&"samesite=lax".into()), "{session}");
    assert!(s_attrs.contains(&"path=/".into()), "{session}");
    assert!(
        !s_attrs.contains(&"secure".into()),
        "no Secure over plain HTTP: {session}"
    );
    assert!(
        !c_attrs.contains(&"httponly".into()),
        "the console script reads the CSRF cookie: {csrf}"
    );
    assert!(c_attrs.contains(&"samesite=lax".into()), "{csrf}");
    assert!(!c_attrs.contains(&"secure".into()), "{csrf}");
    let value = |c: &str| {
        c.split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned()
    };
    let (sv, cv) = (value(&session), value(&csrf));
    assert!(sv.starts_with("oas_"), "{sv}");
    assert_eq!(r.body["csrf_token"], cv.as_str(), "cookie and body agree");
    assert_eq!(
        r.headers.get("cache-control").unwrap(),
        "no-store",
        "login answers are not cached"
    );
    Session {
        cookie: format!("onair_session={sv}; onair_csrf={cv}"),
        csrf: cv,
    }
}

fn settings(tweak: impl FnOnce(&mut Settings)) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.allow_signup = true;
        s.admin_email = ADMIN_EMAIL.into();
        s.admin_password = Some(ADMIN_PASSWORD.into());
        let generous = RateLimit {
            max: 1000,
            per: Duration::from_secs(60),
        };
        s.limits.login_per_ip = generous;
        s.limits.mail_per_ip = generous;
        s.limits.lockout_threshold = 50;
        tweak(s);
    }
}

/// A problem's fields that must not tell one case from another.
fn same_problem(a: &Res, b: &Res) {
    assert_eq!(a.status, b.status, "{} vs {}", a.text, b.text);
    for k in ["type", "title", "status", "detail", "errors"] {
        assert_eq!(a.body[k], b.body[k], "{k}: {} vs {}", a.text, b.text);
    }
    assert_eq!(a.headers.get(RETRY_AFTER), b.headers.get(RETRY_AFTER));
    assert_eq!(a.content_type(), b.content_type());
}

// ---------------------------------------------------------------- scenarios

async fn account_lifecycle(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let email = "Alice.Test@Example.com";
    let lower = "alice.test@example.com";
    let pw = "first password 1";

    // Sign-up: pending, cannot log in yet.
    let r = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": email, "password": pw, "display_name": "Alice" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let user = node.sys().db.user_by_email(email).await.unwrap().unwrap();
    assert_eq!(user.email, lower);
    assert_eq!(user.status.as_str(), "pending");
    let r = api.login(email, pw, None).await;
    assert_eq!(
        r.problem(403)["type"],
        "https://onair.invalid/problems/email-unverified"
    );
    assert!(r.set_cookies().is_empty());
    // A second sign-up with the same address answers the same, and creates nothing.
    let again = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": lower, "password": "other password", "display_name": "Eve" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        again.body,
        json!({"status": "check your e-mail to verify the address"})
    );
    assert_eq!(
        node.sys().db.count_users().await.unwrap(),
        2,
        "admin + alice"
    );

    // Resend, then verify with the newest link; the older link is dead.
    let first = api.mailed_token(lower, "Verify").await;
    let r = api
        .post(
            "/api/v1/auth/resend-verification",
            Auth::None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let token = api
        .mailed_token_other_than(lower, "Verify", Some(&first))
        .await;
    assert_ne!(first, token);
    let r = api
        .post("/api/v1/auth/verify", Auth::None, json!({ "token": first }))
        .await;
    r.problem(400);
    let r = api
        .post(
            "/api/v1/auth/verify",
            Auth::None,
            json!({ "token": "oam_bogus" }),
        )
        .await;
    r.problem(400);
    let r = api
        .post("/api/v1/auth/verify", Auth::None, json!({ "token": token }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["email_verified"], true);
    let r = api
        .post("/api/v1/auth/verify", Auth::None, json!({ "token": token }))
        .await;
    r.problem(400); // single use

    // Wrong password and unknown address: the same answer.
    let wrong = api.login(email, "not the password", None).await;
    let unknown = api.login("nobody@example.com", pw, None).await;
    wrong.problem(401);
    same_problem(&wrong, &unknown);

    // Login: cookies with the right attributes; the session works.
    let s1 = api.session(email, pw, None).await;
    let me = api.get("/api/v1/me", Auth::CookieOnly(&s1)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["email"], lower);
    assert!(me.body.get("password_hash").is_none() && me.body.get("totp_secret").is_none());
    api.get("/api/v1/me", Auth::None).await.problem(401);
    let bogus = Session {
        cookie: "onair_session=oas_forged".into(),
        csrf: "x".into(),
    };
    api.get("/api/v1/me", Auth::CookieOnly(&bogus))
        .await
        .problem(401);

    // CSRF: state-changing requests need the header, and the right one.
    let rename = json!({ "display_name": "'; DROP TABLE users; --" });
    api.send(
        Method::PATCH,
        "/api/v1/me",
        Auth::CookieOnly(&s1),
        Some(rename.clone()),
    )
    .await
    .problem(403);
    let wrong_csrf = Session {
        csrf: "not-the-token".into(),
        ..s1.clone()
    };
    api.send(
        Method::PATCH,
        "/api/v1/me",
        Auth::Session(&wrong_csrf),
        Some(rename.clone()),
    )
    .await
    .problem(403);
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s1),
            Some(rename),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["display_name"], "'; DROP TABLE users; --");
    assert_eq!(node.sys().db.count_users().await.unwrap(), 2);

    // Personal access tokens: scopes, no minting by token, revocation.
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s1),
            json!({ "name": "ro", "scopes": ["read"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ro = r.body["token"].as_str().unwrap().to_owned();
    let ro_id = r.body["id"].as_str().unwrap().to_owned();
    assert!(ro.starts_with("oat_"));
    assert!(r.body.get("token_hash").is_none());
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s1),
            json!({ "name": "rw", "scopes": ["read", "write", "write"], "expires_in_days": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["scopes"], json!(["read", "write"]));
    let rw = r.body["token"].as_str().unwrap().to_owned();
    let bad = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s1),
            json!({ "name": "", "scopes": ["admin"], "expires_in_days": 0 }),
        )
        .await;
    bad.problem(422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["expires_in_days", "name", "scopes"]);

    let r = api.get("/api/v1/me", Auth::Bearer(&ro)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.send(
        Method::PATCH,
        "/api/v1/me",
        Auth::Bearer(&ro),
        Some(json!({ "display_name": "ro" })),
    )
    .await
    .problem(403);
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Bearer(&rw),
            Some(json!({ "display_name": "Alice" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "bearer needs no CSRF: {}", r.text);
    api.post(
        "/api/v1/me/tokens",
        Auth::Bearer(&rw),
        json!({ "name": "x", "scopes": ["read"] }),
    )
    .await
    .problem(403);
    let listed = api.get("/api/v1/me/tokens", Auth::CookieOnly(&s1)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let r = api
        .send(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{ro_id}"),
            Auth::Session(&s1),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    api.get("/api/v1/me", Auth::Bearer(&ro)).await.problem(401);
    api.get("/api/v1/me", Auth::Bearer("oat_unknown"))
        .await
        .problem(401);
    api.send(
        Method::DELETE,
        &format!("/api/v1/me/tokens/{ro_id}"),
        Auth::Session(&s1),
        None,
    )
    .await
    .problem(404);

    // Sessions: list, revoke one.
    let s2 = api.session(email, pw, None).await;
    let r = api.get("/api/v1/me/sessions", Auth::CookieOnly(&s1)).await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", r.text);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items.iter().all(|s| s.get("csrf_token").is_none()));
    let s2_id = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .send(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{s2_id}"),
            Auth::Session(&s1),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    api.get("/api/v1/me", Auth::CookieOnly(&s2))
        .await
        .problem(401);

    // Password change: needs the current password; signs out the other sessions only.
    let s2b = api.session(email, pw, None).await;
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s1),
            Some(json!({ "password": "changed password 1b" })),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password"]);
    api.send(
        Method::PATCH,
        "/api/v1/me",
        Auth::Session(&s1),
        Some(json!({ "password": "changed password 1b", "current_password": "nope" })),
    )
    .await
    .problem(403);
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s1),
            Some(json!({ "password": "changed password 1b", "current_password": pw })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.get("/api/v1/me", Auth::CookieOnly(&s2b))
        .await
        .problem(401);
    assert_eq!(
        api.get("/api/v1/me", Auth::CookieOnly(&s1)).await.status,
        StatusCode::OK
    );
    api.login(email, pw, None).await.problem(401);
    let pw = "changed password 1b";

    // Password reset: same answer for unknown addresses; the link works once; sessions and
    // access tokens end.
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s1),
            json!({ "name": "before reset", "scopes": ["read", "write"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let pre_reset = r.body["token"].as_str().unwrap().to_owned();
    let unknown = api
        .post(
            "/api/v1/auth/password-reset",
            Auth::None,
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    let known = api
        .post(
            "/api/v1/auth/password-reset",
            Auth::None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    let reset = api.mailed_token(lower, "Reset").await;
    let short = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            Auth::None,
            json!({ "token": reset, "password": "short" }),
        )
        .await;
    short.problem(422);
    assert_eq!(short.error_fields(), ["password"]);
    let pw2 = "second password 2";
    let r = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            Auth::None,
            json!({ "token": reset, "password": pw2 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    api.post(
        "/api/v1/auth/password-reset/confirm",
        Auth::None,
        json!({ "token": reset, "password": "third password 3" }),
    )
    .await
    .problem(400);
    api.get("/api/v1/me", Auth::CookieOnly(&s1))
        .await
        .problem(401);
    api.get("/api/v1/me", Auth::Bearer(&pre_reset))
        .await
        .problem(401);
    api.login(email, pw, None).await.problem(401);
    let s3 = api.session(email, pw2, None).await;

    // Two-factor changes: console sessions only, with the current password. A leaked write
    // token cannot enroll its holder's authenticator.
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s3),
            json!({ "name": "leaked", "scopes": ["read", "write"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let leaked = r.body["token"].as_str().unwrap().to_owned();
    for (path, body) in [
        ("setup", json!({ "current_password": pw2 })),
        (
            "enable",
            json!({ "current_password": pw2, "code": "123456" }),
        ),
        (
            "disable",
            json!({ "current_password": pw2, "code": "123456" }),
        ),
    ] {
        api.post(
            &format!("/api/v1/me/totp/{path}"),
            Auth::Bearer(&leaked),
            body,
        )
        .await
        .problem(403);
    }
    let r = api
        .post("/api/v1/me/totp/setup", Auth::Session(&s3), json!({}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password"]);
    api.post(
        "/api/v1/me/totp/setup",
        Auth::Session(&s3),
        json!({ "current_password": "not the password" }),
    )
    .await
    .problem(403);
    let me = api.get("/api/v1/me", Auth::CookieOnly(&s3)).await;
    assert_eq!(me.body["totp_enabled"], false, "{}", me.text);

    // TOTP: setup, enable with a code computed here, then login needs a fresh code.
    let r = api
        .post(
            "/api/v1/me/totp/setup",
            Auth::Session(&s3),
            json!({ "current_password": pw2 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let uri = r.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/OnAir:alice.test%40example.com?secret="));
    assert!(uri.contains(&format!("secret={secret}&")));
    let step = unix_now() / 30;
    let wrong = if totp(&secret, step) == "000000" {
        "000001"
    } else {
        "000000"
    };
    api.post(
        "/api/v1/me/totp/enable",
        Auth::Session(&s3),
        json!({ "code": wrong, "current_password": pw2 }),
    )
    .await
    .problem(401);
    // A right code with a wrong password does not enable it (nor spend the code).
    api.post(
        "/api/v1/me/totp/enable",
        Auth::Session(&s3),
        json!({ "code": totp(&secret, step), "current_password": "not the password" }),
    )
    .await
    .problem(403);
    let r = api
        .post(
            "/api/v1/me/totp/enable",
            Auth::Session(&s3),
            json!({ "code": totp(&secret, step), "current_password": pw2 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let me = api.get("/api/v1/me", Auth::CookieOnly(&s3)).await;
    assert_eq!(me.body["totp_enabled"], true);
    api.post(
        "/api/v1/me/totp/setup",
        Auth::Session(&s3),
        json!({ "current_password": pw2 }),
    )
    .await
    .problem(409);

    let r = api.login(email, pw2, None).await;
    assert_eq!(
        r.problem(401)["type"],
        "https://onair.invalid/problems/mfa-required"
    );
    assert!(r.set_cookies().is_empty());
    api.login(email, pw2, Some(wrong)).await.problem(401);
    api.login(email, pw2, Some("12345")).await.problem(401);
    // The code enable used is spent; the next step's code is within the allowed skew.
    api.login(email, pw2, Some(&totp(&secret, step)))
        .await
        .problem(401);
    let next = totp(&secret, step + 1);
    let s4 = api.session(email, pw2, Some(&next)).await;
    let replay = api.login(email, pw2, Some(&next)).await;
    replay.problem(401);
    assert!(
        replay.set_cookies().is_empty(),
        "a replayed code signs nobody in"
    );
    // A wrong password with a right code is still a wrong password.
    api.login(email, "not the password", Some(&totp(&secret, step + 1)))
        .await
        .problem(401);
    // Turning it off needs the password as well as a code, and a console session.
    api.post(
        "/api/v1/me/totp/disable",
        Auth::Session(&s4),
        json!({ "code": totp(&secret, step + 2), "current_password": "not the password" }),
    )
    .await
    .problem(403);
    api.post(
        "/api/v1/me/totp/disable",
        Auth::Session(&s4),
        json!({ "code": totp(&secret, step + 2) }),
    )
    .await
    .problem(422);
    let me = api.get("/api/v1/me", Auth::CookieOnly(&s4)).await;
    assert_eq!(me.body["totp_enabled"], true, "{}", me.text);

    // Revoke-all keeping this session: other sessions and every token end.
    let r = api
        .post(
            "/api/v1/me/sessions/revoke-all",
            Auth::Session(&s4),
            json!({ "keep_current": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["revoked"].as_u64().unwrap() >= 2, "{}", r.text);
    api.get("/api/v1/me", Auth::CookieOnly(&s3))
        .await
        .problem(401);
    api.get("/api/v1/me", Auth::Bearer(&rw)).await.problem(401);
    let r = api.get("/api/v1/me", Auth::CookieOnly(&s4)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Logout: needs CSRF, clears the cookies, ends the session.
    api.send(
        Method::POST,
        "/api/v1/auth/logout",
        Auth::CookieOnly(&s4),
        None,
    )
    .await
    .problem(403);
    let r = api
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            Auth::Session(&s4),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let cleared = r.set_cookies();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    for c in &cleared {
        assert!(c.contains("Max-Age=0"), "{c}");
    }
    api.get("/api/v1/me", Auth::CookieOnly(&s4))
        .await
        .problem(401);

    // An admin turns two-factor off for a user who lost it (audited; admins only: see
    // authz_matrix).
    let s5 = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let clear = format!("/api/v1/users/{}/clear-totp", user.id);
    api.post(
        "/api/v1/users/nope/clear-totp",
        Auth::Session(&s5),
        json!({}),
    )
    .await
    .problem(404);
    let r = api.post(&clear, Auth::Session(&s5), json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = api.login(email, pw2, None).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "no code needed any more: {}",
        r.text
    );
    let r = api
        .get(
            "/api/v1/audit?action=user.totp_clear",
            Auth::CookieOnly(&s5),
        )
        .await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", r.text);
    assert_eq!(items[0]["target_id"], user.id.as_str());
    assert_eq!(items[0]["actor"], ADMIN_EMAIL);

    // Revoke-all without keeping: the caller's session ends too.
    let r = api
        .post(
            "/api/v1/me/sessions/revoke-all",
            Auth::Session(&s5),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.get("/api/v1/me", Auth::CookieOnly(&s5))
        .await
        .problem(401);
    node.stop().await;
}

async fn signup_disabled(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|s| s.allow_signup = false)).await;
    let api = Api::new(&node);
    let r = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": "new@example.com", "password": "long enough pw", "display_name": "N" }),
        )
        .await;
    r.problem(403);
    assert!(
        node.sys()
            .db
            .user_by_email("new@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        node.sys()
            .db
            .list_mail(Some("new@example.com"), Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    node.stop().await;
}

async fn mail_rate_limit(backend: Backend) {
    let node = TestNode::start_on(
        backend,
        settings(|s| {
            s.limits.mail_per_ip = RateLimit {
                max: 2,
                per: Duration::from_secs(3600),
            };
        }),
    )
    .await;
    let api = Api::new(&node);
    let signup = |n: u32| json!({ "email": format!("m{n}@example.com"), "password": "long enough pw", "display_name": "M" });
    for n in 0..2 {
        let r = api.post("/api/v1/auth/signup", Auth::None, signup(n)).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
    // Sign-up, resend and reset share the per-IP mail budget.
    for (path, body) in [
        ("/api/v1/auth/signup", signup(9)),
        (
            "/api/v1/auth/resend-verification",
            json!({ "email": "m0@example.com" }),
        ),
        (
            "/api/v1/auth/password-reset",
            json!({ "email": "m0@example.com" }),
        ),
    ] {
        let r = api.post(path, Auth::None, body).await;
        r.problem(429);
        let retry: u64 = r.headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!(retry >= 1, "{path}");
    }
    assert!(
        node.sys()
            .db
            .user_by_email("m9@example.com")
            .await
            .unwrap()
            .is_none()
    );
    node.stop().await;
}

async fn disabled_account(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let s = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s),
            json!({ "name": "t", "scopes": ["read"] }),
        )
        .await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let db = &node.sys().db;
    let admin = db.user_by_email(ADMIN_EMAIL).await.unwrap().unwrap();
    db.set_user_status(&admin.id, onair_server::db::users::UserStatus::Disabled)
        .await
        .unwrap();
    // Existing credentials stop working at once; login says why only with the right password.
    api.get("/api/v1/me", Auth::CookieOnly(&s))
        .await
        .problem(401);
    api.get("/api/v1/me", Auth::Bearer(&token))
        .await
        .problem(401);
    api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None)
        .await
        .problem(403);
    let wrong = api.login(ADMIN_EMAIL, "wrong password!", None).await;
    let unknown = api
        .login("nobody@example.com", "wrong password!", None)
        .await;
    same_problem(&wrong, &unknown);
    // Re-enabled: the same credentials work again (they were not revoked).
    db.set_user_status(&admin.id, onair_server::db::users::UserStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        api.get("/api/v1/me", Auth::Bearer(&token)).await.status,
        StatusCode::OK
    );
    node.stop().await;
}

async fn lockout_without_enumeration(backend: Backend) {
    let lockout = Duration::from_secs(3);
    let node = TestNode::start_on(
        backend,
        settings(move |s| {
            s.limits.lockout_threshold = 3;
            s.limits.lockout = lockout;
        }),
    )
    .await;
    let api = Api::new(&node);
    let ghost = "ghost@example.com";
    for _ in 0..3 {
        let known = api.login(ADMIN_EMAIL, "wrong password!", None).await;
        let unknown = api.login(ghost, "wrong password!", None).await;
        known.problem(401);
        same_problem(&known, &unknown);
    }
    // Both locks were set before this instant, so both have passed at `locked_at + lockout`.
    let locked_at = std::time::Instant::now();
    // Locked: even the right password is refused, and both look the same.
    let known = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let unknown = api.login(ghost, ADMIN_PASSWORD, None).await;
    assert_eq!(
        known.problem(429)["type"],
        "https://onair.invalid/problems/account-locked"
    );
    assert!(known.set_cookies().is_empty());
    same_problem(&known, &unknown);
    let retry: u64 = known.headers[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1 && retry <= lockout.as_secs(), "{retry}");

    // Part-way through the lockout, both are still locked.
    tokio::time::sleep(lockout / 2).await;
    let known = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let unknown = api.login(ghost, ADMIN_PASSWORD, None).await;
    known.problem(429);
    same_problem(&known, &unknown);

    // After it: a single failure does not lock again, for either.
    let passed = lockout + Duration::from_millis(300);
    tokio::time::sleep(passed.saturating_sub(locked_at.elapsed())).await;
    let known = api.login(ADMIN_EMAIL, "wrong password!", None).await;
    let unknown = api.login(ghost, "wrong password!", None).await;
    known.problem(401);
    same_problem(&known, &unknown);
    let unknown = api.login(ghost, "wrong password!", None).await;
    unknown.problem(401);
    let r = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    node.stop().await;
}

async fn login_rate_limit(backend: Backend) {
    let node = TestNode::start_on(
        backend,
        settings(|s| {
            s.limits.login_per_ip = RateLimit {
                max: 3,
                per: Duration::from_secs(60),
            };
        }),
    )
    .await;
    let api = Api::new(&node);
    for _ in 0..3 {
        api.login("someone@example.com", "whatever pw", None)
            .await
            .problem(401);
    }
    let r = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    r.problem(429);
    let retry: u64 = r.headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.set_cookies().is_empty());
    // Only login is limited: the server keeps serving.
    let h = http().get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    node.stop().await;
}

async fn hostile_requests(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let signup = "/api/v1/auth/signup";

    // Oversized body.
    let big = json!({ "email": "a@b.co", "password": "x".repeat(70 * 1024), "display_name": "x" });
    let r = api
        .raw(
            signup,
            "application/json",
            serde_json::to_vec(&big).unwrap(),
        )
        .await;
    r.problem(413);
    // Malformed JSON, wrong type, not JSON at all.
    api.raw(signup, "application/json", b"{\"email\": ".to_vec())
        .await
        .problem(400);
    api.raw(signup, "application/json", b"\xff\xfe{}".to_vec())
        .await
        .problem(400);
    api.raw(signup, "text/plain", b"{}".to_vec())
        .await
        .problem(415);
    // Unknown and missing fields, wrong types: 422 naming the field.
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": "a@b.co", "password": "long enough pw", "display_name": "x", "role": "admin" }),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["role"], "{}", r.text);
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": "a@b.co", "password": "long enough pw" }),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["display_name"], "{}", r.text);
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": 5, "password": "long enough pw", "display_name": "x" }),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["email"], "{}", r.text);

    // Injection attempts and control characters: field-level validation errors.
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": "x'; DROP TABLE users;--@a.b", "password": "long enough pw", "display_name": "\u{0}\u{1}" }),
        )
        .await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["display_name", "email"], "{}", r.text);
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": "nul\u{0}@example.com", "password": "long enough pw", "display_name": "N" }),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["email"]);
    // A harmless-looking address with SQL in it is just an address; the name is stored verbatim.
    let email = "o'brien+%_\\@example.com";
    let name = "Robert'); DROP TABLE users;-- ü 🎥";
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": email, "password": "long enough pw", "display_name": name }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let u = node.sys().db.user_by_email(email).await.unwrap().unwrap();
    assert_eq!(u.display_name, name);

    // Strings that reach the database only as lookups: a clean 4xx, never a 500.
    for (path, body) in [
        (
            "/api/v1/auth/login",
            json!({ "email": "a\u{0}@b.co", "password": "long enough pw" }),
        ),
        (
            "/api/v1/auth/login",
            json!({ "email": "' OR 1=1 --", "password": "' OR 1=1 --" }),
        ),
        (
            "/api/v1/auth/password-reset",
            json!({ "email": "a\u{0}@b.co" }),
        ),
        (
            "/api/v1/auth/resend-verification",
            json!({ "email": "a\u{0}@b.co" }),
        ),
        ("/api/v1/auth/verify", json!({ "token": "\u{0}" })),
        (
            "/api/v1/auth/password-reset/confirm",
            json!({ "token": "' OR 1=1 --", "password": "long enough pw" }),
        ),
    ] {
        let r = api.post(path, Auth::None, body.clone()).await;
        assert!(
            r.status.is_client_error() || r.status == StatusCode::ACCEPTED,
            "{path} {body}: {} {}",
            r.status,
            r.text
        );
        if r.status.is_client_error() {
            r.problem(r.status.as_u16());
        }
    }
    let s = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    // Ids with SQL, LIKE metacharacters or NUL: no such object (PostgreSQL cannot even
    // compare a NUL: 400 there, never a 500).
    for id in ["%00", "'%20OR%201=1", "%25", "x%5C"] {
        let r = api
            .send(
                Method::DELETE,
                &format!("/api/v1/me/sessions/{id}"),
                Auth::Session(&s),
                None,
            )
            .await;
        not_found_or_bad(&r, id);
        let r = api
            .send(
                Method::DELETE,
                &format!("/api/v1/me/tokens/{id}"),
                Auth::Session(&s),
                None,
            )
            .await;
        not_found_or_bad(&r, id);
    }
    // A NUL in a field that is stored: refused as invalid, not a server error.
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s),
            Some(json!({ "display_name": "a\u{0}b" })),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["display_name"]);
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s),
            json!({ "name": "t\u{0}", "scopes": ["read"] }),
        )
        .await;
    r.problem(422);

    // Still serving, tables intact.
    let r = api.get("/api/v1/me", Auth::CookieOnly(&s)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(node.sys().db.count_users().await.unwrap(), 2);
    node.stop().await;
}

/// Holds the database's write lock on `user_tokens` (SQLite: the whole database) until the
/// returned guard commits: what a reset or resend does for an existing account then waits.
async fn block_token_writes(node: &TestNode, backend: Backend) -> sqlx::AnyConnection {
    use sqlx::Connection as _;
    use sqlx::Executor as _;
    sqlx::any::install_default_drivers();
    let url = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}",
            node.dir.path().join("onair.db").to_str().unwrap()
        ),
        Backend::Postgres => node.sys().settings.database_url.clone().unwrap(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    match backend {
        Backend::Sqlite => {
            conn.execute("BEGIN IMMEDIATE").await.unwrap();
        }
        Backend::Postgres => {
            conn.execute("BEGIN").await.unwrap();
            // Blocks inserts, not reads.
            conn.execute("LOCK TABLE user_tokens IN EXCLUSIVE MODE")
                .await
                .unwrap();
        }
    }
    conn
}

/// Reset and resend requests answer before doing anything about the address: with the token
/// table locked, an address with an account is answered as fast as one without (the work
/// would have to wait for the lock), and the mail follows once the lock is gone.
async fn reset_and_resend_answer_at_once(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let r = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": "pending@example.com", "password": "long enough pw", "display_name": "P" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let first = api.mailed_token("pending@example.com", "Verify").await;

    let mut lock = block_token_writes(&node, backend).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    for (path, email) in [
        ("/api/v1/auth/password-reset", ADMIN_EMAIL),
        ("/api/v1/auth/password-reset", "nobody@example.com"),
        ("/api/v1/auth/resend-verification", "pending@example.com"),
        ("/api/v1/auth/resend-verification", "nobody@example.com"),
    ] {
        let started = std::time::Instant::now();
        let r = quick
            .post(node.url(path))
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} {email} waited for the work: {e}"));
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{path} {email}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} {email} took {:?}",
            started.elapsed()
        );
    }
    {
        use sqlx::Executor as _;
        lock.execute("COMMIT").await.unwrap();
    }
    // The work is done afterwards.
    api.mailed_token(ADMIN_EMAIL, "Reset").await;
    api.mailed_token_other_than("pending@example.com", "Verify", Some(&first))
        .await;
    node.stop().await;
}

/// The current-password check of PATCH /me (and of two-factor changes) is a password check
/// like login's: wrong answers lock the account, and attempts take from the IP's login
/// budget. A stolen session is not an unlimited guessing oracle.
async fn current_password_guessing_is_limited(backend: Backend) {
    let change =
        |current: &str| json!({ "password": "a brand new password", "current_password": current });
    // Lockout: three wrong answers lock the account, for login too.
    let node = TestNode::start_on(backend, settings(|s| s.limits.lockout_threshold = 3)).await;
    let api = Api::new(&node);
    let s = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    for _ in 0..3 {
        api.send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s),
            Some(change("guess")),
        )
        .await
        .problem(403);
    }
    for body in [change("guess"), change(ADMIN_PASSWORD)] {
        let r = api
            .send(Method::PATCH, "/api/v1/me", Auth::Session(&s), Some(body))
            .await;
        assert_eq!(
            r.problem(429)["type"],
            "https://onair.invalid/problems/account-locked"
        );
    }
    api.post(
        "/api/v1/me/totp/setup",
        Auth::Session(&s),
        json!({ "current_password": ADMIN_PASSWORD }),
    )
    .await
    .problem(429);
    let r = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    assert_eq!(
        r.problem(429)["type"],
        "https://onair.invalid/problems/account-locked"
    );
    node.stop().await;

    // Per IP: the attempts share the login budget (the sign-in took one).
    let node = TestNode::start_on(
        backend,
        settings(|s| {
            s.limits.login_per_ip = RateLimit {
                max: 4,
                per: Duration::from_secs(3600),
            };
        }),
    )
    .await;
    let api = Api::new(&node);
    let s = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    for _ in 0..3 {
        api.send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s),
            Some(change("guess")),
        )
        .await
        .problem(403);
    }
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s),
            Some(change("guess")),
        )
        .await;
    r.problem(429);
    assert!(r.headers.contains_key(RETRY_AFTER));
    api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None)
        .await
        .problem(429);
    node.stop().await;
}

#[track_caller]
fn not_found_or_bad(r: &Res, id: &str) {
    let want = if id == "%00" && r.status == StatusCode::BAD_REQUEST {
        400
    } else {
        404
    };
    r.problem(want);
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both!(
    account_lifecycle,
    signup_disabled,
    mail_rate_limit,
    disabled_account,
    lockout_without_enumeration,
    login_rate_limit,
    hostile_requests,
    reset_and_resend_answer_at_once,
    current_password_guessing_is_limited,
);
