//! The administrative REST API over HTTP against an in-process node, on SQLite and on
//! PostgreSQL: users (admin), the audit log, webhooks (with a real local receiver) and the
//! publish-session history.

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::db::Backend;
use common::*;
use onair_server::db::channels::Visibility;
use onair_server::db::devices::DeviceKind;
use onair_server::db::publish_sessions::SessionEnd;
use onair_server::db::users::{NewUser, Role, UserStatus};
use onair_server::security::password;
use onair_server::webhooks::signature;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// How a test request authenticates.
#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    /// Console session: the cookie value and the CSRF token.
    Session(String, String),
}

struct Reply {
    status: u16,
    content_type: String,
    body: Value,
}

impl Reply {
    /// Field names of a problem's `errors`.
    fn error_fields(&self) -> Vec<String> {
        common::http::error_fields(&self.body)
    }

    fn items(&self) -> Vec<Value> {
        self.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in {}", self.body))
            .clone()
    }

    fn ids(&self) -> Vec<String> {
        self.items()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[track_caller]
    fn problem(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        self
    }
}

async fn call(
    node: &TestNode,
    method: Method,
    path: &str,
    auth: &Auth,
    body: Option<Value>,
) -> Reply {
    let session;
    let auth = match auth {
        Auth::None => common::http::Auth::None,
        Auth::Bearer(t) => common::http::Auth::Bearer(t),
        Auth::Session(cookie, csrf) => {
            session = common::http::Session {
                cookie: format!("onair_session={cookie}"),
                csrf: csrf.clone(),
            };
            common::http::Auth::Session(&session)
        }
    };
    let res = common::http::send(&client(), method, &node.url(path), auth, body).await;
    let content_type = res.content_type().to_owned();
    // A body that is not JSON is kept as text, so assertions show it.
    let body = if res.text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&res.text).unwrap_or(Value::String(res.text))
    };
    Reply {
        status: res.status.as_u16(),
        content_type,
        body,
    }
}

async fn get(node: &TestNode, path: &str, auth: &Auth) -> Reply {
    call(node, Method::GET, path, auth, None).await
}

async fn post(node: &TestNode, path: &str, auth: &Auth, body: Value) -> Reply {
    call(node, Method::POST, path, auth, Some(body)).await
}

async fn patch(node: &TestNode, path: &str, auth: &Auth, body: Value) -> Reply {
    call(node, Method::PATCH, path, auth, Some(body)).await
}

async fn delete(node: &TestNode, path: &str, auth: &Auth) -> Reply {
    call(node, Method::DELETE, path, auth, None).await
}

/// Signs in through the API; returns the session (cookie + CSRF token).
async fn login(node: &TestNode, email: &str, password: &str) -> Result<Auth, Reply> {
    let res = client()
        .post(node.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("onair_session="))
        .map(|c| c.split(';').next().unwrap_or("").to_owned());
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    match (status, cookie) {
        (200, Some(cookie)) => Ok(Auth::Session(
            cookie,
            body["csrf_token"].as_str().unwrap().to_owned(),
        )),
        _ => Err(Reply {
            status,
            content_type,
            body,
        }),
    }
}

/// A signed-in user: id, console session and a read+write personal access token.
struct Person {
    id: String,
    email: String,
    session: Auth,
    token: Auth,
}

async fn person(node: &TestNode, email: &str, role: Role) -> Person {
    let hash = password::hash(PASSWORD).await.unwrap();
    let user = node
        .sys()
        .db
        .create_user(NewUser {
            email,
            display_name: &format!("User {email}"),
            password_hash: &hash,
            role,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
        .unwrap();
    let session = login(node, email, PASSWORD).await.ok().expect("login");
    let r = post(
        node,
        "/api/v1/me/tokens",
        &session,
        json!({ "name": "tests", "scopes": ["read", "write"] }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    Person {
        id: user.id,
        email: email.to_owned(),
        session,
        token: Auth::Bearer(r.body["token"].as_str().unwrap().to_owned()),
    }
}

async fn start(backend: Backend) -> TestNode {
    TestNode::start_on(backend, keyed).await
}

// ---------------------------------------------------------------------------------------------
// Users

mod history;
mod users;
mod webhooks;
