//! The test suites' one HTTP client: how a request authenticates ([`Auth`]), sending it
//! ([`send`]) and what came back ([`Res`], with the problem+json checks every suite makes). No
//! cookie jar: suites pass the Cookie header themselves, so the cookies the server sets can be
//! asserted.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A client without a cookie store.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A console session: the Cookie header value and the CSRF token the login returned.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Credentials a test keeps (what [`Auth`] borrows for one request).
#[derive(Clone, Debug)]
pub enum Credential {
    None,
    Session(Session),
    Bearer(String),
}

impl Credential {
    pub fn auth(&self) -> Auth<'_> {
        match self {
            Credential::None => Auth::None,
            Credential::Session(s) => Auth::Session(s),
            Credential::Bearer(t) => Auth::Bearer(t),
        }
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// Cookie and the X-CSRF-Token header.
    Session(&'a Session),
    /// Cookie only (no CSRF header).
    CookieOnly(&'a Session),
    Bearer(&'a str),
}

/// An answer: status, headers, the body as text and as JSON (`Null` when it is not JSON).
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Res {
    pub async fn read(r: reqwest::Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with this status; returns the problem.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.content_type(), "application/problem+json", "{self:?}");
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        &self.body
    }

    /// The `field` names of a validation problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        error_fields(&self.body)
    }

    /// The `items` of a list answer.
    #[track_caller]
    pub fn items(&self) -> Vec<Value> {
        self.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in {}", self.text))
            .clone()
    }

    /// The `id`s of a list answer's items.
    #[track_caller]
    pub fn ids(&self) -> Vec<String> {
        self.items()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The `field` names of a validation problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `req`, authenticated as `auth` says.
pub fn authorize(req: reqwest::RequestBuilder, auth: Auth<'_>) -> reqwest::RequestBuilder {
    match auth {
        Auth::None => req,
        Auth::Session(s) => req
            .header("Cookie", &s.cookie)
            .header("X-CSRF-Token", &s.csrf),
        Auth::CookieOnly(s) => req.header("Cookie", &s.cookie),
        Auth::Bearer(t) => req.bearer_auth(t),
    }
}

/// Sends `method url` with `auth` and a JSON `body`.
pub async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> Res {
    let mut req = authorize(client.request(method, url), auth);
    if let Some(b) = body {
        req = req.json(&b);
    }
    Res::read(req.send().await.unwrap()).await
}

/// Signs in at `base` with e-mail and password: the session (every cookie the answer set,
/// and its CSRF token), or the answer that refused it.
pub async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> Result<Session, Res> {
    let url = format!("{base}/api/v1/auth/login");
    let body = serde_json::json!({ "email": email, "password": password });
    let r = send(client, Method::POST, &url, Auth::None, Some(body)).await;
    if r.status != StatusCode::OK {
        return Err(r);
    }
    let cookie = r
        .set_cookies()
        .iter()
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    match r.body["csrf_token"].as_str() {
        Some(csrf) if cookie.contains("onair_session=") => Ok(Session {
            cookie,
            csrf: csrf.to_owned(),
        }),
        _ => Err(r),
    }
}
