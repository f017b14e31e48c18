//! Accounts end to end over HTTP, on SQLite and on PostgreSQL: sign-up, verification, login
//! with cookies and CSRF, personal access tokens, sessions, password reset, TOTP, logout and
//! revoke-all; lockout and rate limits without account enumeration; hostile request bodies.
//!
//! The client keeps no cookie jar: the Cookie header is managed here, so the attributes the
//! server sets can be asserted. TOTP codes are computed by an RFC 6238 implementation of this
//! file (independent of `security/totp.rs`).

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::TestNode;
use common::db::Backend;
use common::http::{Auth, Res, Session};
use onair_server::config::Settings;
use onair_server::db::Page;
use onair_server::db::outbox::OutboxMail;
use onair_server::security::ratelimit::RateLimit;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
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

struct Api<'a> {
    node: &'a TestNode,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(node: &'a TestNode) -> Self {
        Self {
            node,
            client: common::http::client(),
        }
    }

    async fn send(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Res {
        common::http::send(&self.client, method, &self.node.url(path), auth, body).await
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
        Res::read(r).await
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

    /// What `pick` finds in the mail to `to`, newest first, once it finds something: sign-up,
    /// resend and reset requests send their mail after answering.
    async fn wait_for_mail<T>(&self, to: &str, pick: impl Fn(&[OutboxMail]) -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mail = self
                .node
                .sys()
                .db
                .list_mail(Some(to), Page::default())
                .await
                .unwrap();
            if let Some(found) = pick(&mail) {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no such mail to {to}: {mail:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The body of the newest mail to `to` whose subject contains `subject`.
    async fn mailed(&self, to: &str, subject: &str) -> String {
        self.wait_for_mail(to, |mail| {
            mail.iter()
                .find(|m| m.subject.contains(subject))
                .map(|m| m.body.clone())
        })
        .await
    }

    /// The token in the newest mail to `to` whose subject contains `subject`.
    async fn mailed_token(&self, to: &str, subject: &str) -> String {
        self.mailed_token_other_than(to, subject, None).await
    }

    /// [`Self::mailed_token`], waiting until the newest token is not `old`.
    async fn mailed_token_other_than(&self, to: &str, subject: &str, old: Option<&str>) -> String {
        self.wait_for_mail(to, |mail| {
            let m = mail.iter().find(|m| m.subject.contains(subject))?;
            let at = m.body.find("token=").expect("a link with a token") + "token=".len();
            let token = m.body[at..].split(char::is_whitespace).next().unwrap();
            (Some(token) != old).then(|| token.to_owned())
        })
        .await
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

mod hostile;
mod lifecycle;
mod limits;
