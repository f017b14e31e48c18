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
use onair_server::webhooks::signature;
use reqwest::Method;
use serde_json::{Value, json};

use common::api::PASSWORD;
/// How a test request authenticates: the testkit's credentials.
use common::http::{Credential as Auth, Res, Session};

async fn call(
    node: &TestNode,
    method: Method,
    path: &str,
    auth: &Auth,
    body: Option<Value>,
) -> Res {
    common::http::send(&client(), method, &node.url(path), auth.auth(), body).await
}

async fn get(node: &TestNode, path: &str, auth: &Auth) -> Res {
    call(node, Method::GET, path, auth, None).await
}

async fn post(node: &TestNode, path: &str, auth: &Auth, body: Value) -> Res {
    call(node, Method::POST, path, auth, Some(body)).await
}

async fn patch(node: &TestNode, path: &str, auth: &Auth, body: Value) -> Res {
    call(node, Method::PATCH, path, auth, Some(body)).await
}

async fn delete(node: &TestNode, path: &str, auth: &Auth) -> Res {
    call(node, Method::DELETE, path, auth, None).await
}

/// Signs in through the API; returns the session (cookie + CSRF token).
async fn login(node: &TestNode, email: &str, password: &str) -> Result<Auth, Res> {
    common::http::login(&client(), &node.http, email, password)
        .await
        .map(Auth::Session)
}

/// A signed-in user: id, console session and a read+write personal access token.
struct Person {
    id: String,
    email: String,
    session: Auth,
    token: Auth,
}

async fn person(node: &TestNode, email: &str, role: Role) -> Person {
    let api = common::api::user(node, email, role).await;
    let (status, me) = api.get("/api/v1/me").await;
    assert_eq!(status, 200, "{me}");
    let token = api.with_token(&["read", "write"]).await;
    Person {
        id: me["id"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
        session: api.credential,
        token: token.credential,
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
