//! The administrative REST API over HTTP against an in-process node, on SQLite and on
//! PostgreSQL: users (admin), the audit log, webhooks (with a real local receiver) and the
//! publish-session history.

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
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
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
    let mut req = client().request(method, node.url(path));
    match auth {
        Auth::None => {}
        Auth::Bearer(t) => req = req.bearer_auth(t),
        Auth::Session(cookie, csrf) => {
            req = req
                .header("cookie", format!("onair_session={cookie}"))
                .header("x-csrf-token", csrf)
        }
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
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

async fn users_admin_crud(backend: Backend) {
    let node = start(backend).await;
    let admin = person(&node, "root@example.com", Role::Admin).await;
    let bc = person(&node, "caster@example.com", Role::Broadcaster).await;

    // Only admins.
    get(&node, "/api/v1/users", &bc.token).await.problem(403);
    post(
        &node,
        "/api/v1/users",
        &bc.token,
        json!({ "email": "x@example.com", "display_name": "X", "password": PASSWORD, "role": "admin" }),
    )
    .await
    .problem(403);
    get(&node, &format!("/api/v1/users/{}", admin.id), &bc.token)
        .await
        .problem(403);
    patch(
        &node,
        &format!("/api/v1/users/{}", bc.id),
        &bc.token,
        json!({ "role": "admin" }),
    )
    .await
    .problem(403);
    get(&node, "/api/v1/users", &Auth::None).await.problem(401);

    // Create.
    let r = post(
        &node,
        "/api/v1/users",
        &admin.token,
        json!({ "email": "Viewer@Example.com", "display_name": "Vera Viewer", "password": PASSWORD, "role": "viewer" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v_id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["email"], "viewer@example.com");
    assert_eq!(r.body["role"], "viewer");
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["email_verified"], true);
    let obj = r.body.as_object().unwrap();
    for secret in ["password_hash", "password", "totp_secret", "totp_pending"] {
        assert!(!obj.contains_key(secret), "{secret} leaked: {}", r.body);
    }
    let stored = node.sys().db.user(&v_id).await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));

    post(
        &node,
        "/api/v1/users",
        &admin.token,
        json!({ "email": "viewer@example.com", "display_name": "Again", "password": PASSWORD, "role": "viewer" }),
    )
    .await
    .problem(409);
    let r = post(
        &node,
        "/api/v1/users",
        &admin.token,
        json!({ "email": "not-an-address", "display_name": " ", "password": "short", "role": "viewer" }),
    )
    .await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["display_name", "email", "password"]);
    post(
        &node,
        "/api/v1/users",
        &admin.token,
        json!({ "email": "a@example.com", "display_name": "A", "password": PASSWORD, "role": "king" }),
    )
    .await
    .problem(422);
    post(
        &node,
        "/api/v1/users",
        &admin.token,
        json!({ "email": "a@example.com", "display_name": "A", "password": PASSWORD, "role": "viewer", "extra": 1 }),
    )
    .await
    .problem(422);

    // List and filter.
    let r = get(&node, "/api/v1/users", &admin.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.ids();
    // The bootstrap admin, the two test users and the viewer.
    assert_eq!(all.len(), 4, "{}", r.body);
    for item in r.items() {
        assert!(item.get("password_hash").is_none());
    }
    let r = get(&node, "/api/v1/users?role=viewer", &admin.token).await;
    assert_eq!(r.ids(), [v_id.as_str()]);
    let r = get(
        &node,
        "/api/v1/users?role=admin&status=active",
        &admin.token,
    )
    .await;
    assert_eq!(r.ids().len(), 2, "{}", r.body);
    assert!(r.ids().contains(&admin.id));
    let r = get(&node, "/api/v1/users?q=VERA", &admin.token).await;
    assert_eq!(r.ids(), [v_id.as_str()], "display name, any case");
    let r = get(&node, "/api/v1/users?q=caster%40", &admin.token).await;
    assert_eq!(r.ids(), [bc.id.as_str()], "e-mail substring");
    let r = get(&node, "/api/v1/users?q=%25", &admin.token).await;
    assert_eq!(r.ids(), Vec::<String>::new(), "LIKE wildcards are literal");
    let r = get(&node, "/api/v1/users?status=disabled", &admin.token).await;
    assert!(r.ids().is_empty());
    let r = get(&node, "/api/v1/users?limit=2&offset=1", &admin.token).await;
    assert_eq!(r.ids(), all[1..3]);
    get(&node, "/api/v1/users?role=king", &admin.token)
        .await
        .problem(422);

    // A console session works as well, with its CSRF token.
    let r = patch(
        &node,
        &format!("/api/v1/users/{v_id}"),
        &admin.session,
        json!({ "display_name": "Vera Viewer" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let Auth::Session(cookie, _) = &admin.session else {
        unreachable!()
    };
    patch(
        &node,
        &format!("/api/v1/users/{v_id}"),
        &Auth::Session(cookie.clone(), "wrong".into()),
        json!({ "display_name": "Mallory" }),
    )
    .await
    .problem(403);

    // Read and change.
    let r = get(&node, &format!("/api/v1/users/{v_id}"), &admin.token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["display_name"], "Vera Viewer");
    get(&node, "/api/v1/users/nope", &admin.token)
        .await
        .problem(404);
    patch(
        &node,
        "/api/v1/users/nope",
        &admin.token,
        json!({ "role": "viewer" }),
    )
    .await
    .problem(404);
    let r = patch(
        &node,
        &format!("/api/v1/users/{v_id}"),
        &admin.token,
        json!({ "display_name": "Vera B.", "role": "broadcaster" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["display_name"], "Vera B.");
    assert_eq!(r.body["role"], "broadcaster");
    let r = patch(
        &node,
        &format!("/api/v1/users/{v_id}"),
        &admin.token,
        json!({ "status": "pending" }),
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["status"]);
    patch(
        &node,
        &format!("/api/v1/users/{v_id}"),
        &admin.token,
        json!({ "password_hash": "x" }),
    )
    .await
    .problem(422);

    // Disabling signs the user out everywhere and revokes their tokens.
    let v_session = login(&node, "viewer@example.com", PASSWORD)
        .await
        .ok()
        .unwrap();
    let r = post(
        &node,
        "/api/v1/me/tokens",
        &v_session,
        json!({ "name": "cli", "scopes": ["read"] }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v_token = Auth::Bearer(r.body["token"].as_str().unwrap().to_owned());
    assert_eq!(get(&node, "/api/v1/me", &v_token).await.status, 200);
    assert_eq!(get(&node, "/api/v1/me", &v_session).await.status, 200);
    let r = patch(
        &node,
        &format!("/api/v1/users/{v_id}"),
        &admin.token,
        json!({ "status": "disabled" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "disabled");
    get(&node, "/api/v1/me", &v_token).await.problem(401);
    get(&node, "/api/v1/me", &v_session).await.problem(401);
    login(&node, "viewer@example.com", PASSWORD)
        .await
        .err()
        .expect("disabled users cannot sign in")
        .problem(403);
    // Enabling again does not bring revoked credentials back.
    let r = patch(
        &node,
        &format!("/api/v1/users/{v_id}"),
        &admin.token,
        json!({ "status": "active" }),
    )
    .await;
    assert_eq!(r.body["status"], "active");
    get(&node, "/api/v1/me", &v_token).await.problem(401);
    let v_session = login(&node, "viewer@example.com", PASSWORD)
        .await
        .ok()
        .unwrap();
    let r = post(
        &node,
        "/api/v1/me/tokens",
        &v_session,
        json!({ "name": "cli", "scopes": ["read"] }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v_token = Auth::Bearer(r.body["token"].as_str().unwrap().to_owned());
    assert_eq!(get(&node, "/api/v1/me", &v_token).await.status, 200);

    // An admin sets a new password: the user's sessions and access tokens end, the new
    // password works.
    let r = post(
        &node,
        &format!("/api/v1/users/{v_id}/reset-password"),
        &admin.token,
        json!({ "password": "short" }),
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["password"]);
    post(
        &node,
        "/api/v1/users/nope/reset-password",
        &admin.token,
        json!({ "password": "a new long password" }),
    )
    .await
    .problem(404);
    post(
        &node,
        &format!("/api/v1/users/{v_id}/reset-password"),
        &bc.token,
        json!({ "password": "a new long password" }),
    )
    .await
    .problem(403);
    let r = post(
        &node,
        &format!("/api/v1/users/{v_id}/reset-password"),
        &admin.token,
        json!({ "password": "a new long password" }),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    get(&node, "/api/v1/me", &v_session).await.problem(401);
    get(&node, "/api/v1/me", &v_token).await.problem(401);
    login(&node, "viewer@example.com", PASSWORD)
        .await
        .err()
        .expect("old password")
        .problem(401);
    login(&node, "viewer@example.com", "a new long password")
        .await
        .ok()
        .expect("new password");

    // The last active admin can be neither demoted nor disabled.
    let boot = node
        .sys()
        .db
        .user_by_email("admin@localhost")
        .await
        .unwrap()
        .expect("bootstrap admin");
    let r = patch(
        &node,
        &format!("/api/v1/users/{}", boot.id),
        &admin.token,
        json!({ "role": "viewer" }),
    )
    .await;
    assert_eq!(r.status, 200, "two admins: one may go: {}", r.body);
    for change in [
        json!({ "role": "broadcaster" }),
        json!({ "status": "disabled" }),
        json!({ "role": "viewer", "status": "disabled" }),
    ] {
        patch(
            &node,
            &format!("/api/v1/users/{}", admin.id),
            &admin.token,
            change,
        )
        .await
        .problem(409);
    }
    // Other changes to the last admin are fine.
    let r = patch(
        &node,
        &format!("/api/v1/users/{}", admin.id),
        &admin.token,
        json!({ "display_name": "Root", "role": "admin", "status": "active" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(node.sys().db.count_admins().await.unwrap(), 1);
    // With a second admin, the first may step down.
    let r = patch(
        &node,
        &format!("/api/v1/users/{}", bc.id),
        &admin.token,
        json!({ "role": "admin" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = patch(
        &node,
        &format!("/api/v1/users/{}", admin.id),
        &admin.token,
        json!({ "role": "broadcaster" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    get(&node, "/api/v1/users", &admin.token).await.problem(403);
    patch(
        &node,
        &format!("/api/v1/users/{}", bc.id),
        &bc.token,
        json!({ "status": "disabled" }),
    )
    .await
    .problem(409);

    // Every change is audited.
    let r = get(
        &node,
        &format!("/api/v1/audit?target_id={v_id}&limit=200"),
        &bc.token,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let actions: Vec<String> = r
        .items()
        .iter()
        .filter(|e| e["actor_id"] == admin.id.as_str())
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in [
        "user.create",
        "user.role_change",
        "user.disable",
        "user.enable",
        "user.password_set",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    let r = get(
        &node,
        &format!("/api/v1/audit?target_id={}&result=denied", admin.id),
        &bc.token,
    )
    .await;
    // Unknown query parameters are ignored.
    assert_eq!(r.status, 200);
    assert!(
        r.items()
            .iter()
            .any(|e| e["action"] == "user.update" && e["result"] == "denied"),
        "{}",
        r.body
    );
    node.stop().await;
}

#[tokio::test]
async fn users_admin_crud_sqlite() {
    users_admin_crud(Backend::Sqlite).await;
}

#[tokio::test]
async fn users_admin_crud_postgres() {
    users_admin_crud(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------
// Audit

async fn audit_filters(backend: Backend) {
    let node = start(backend).await;
    let admin = person(&node, "root@example.com", Role::Admin).await;
    let bc = person(&node, "caster@example.com", Role::Broadcaster).await;
    let viewer = person(&node, "watcher@example.com", Role::Viewer).await;
    let t0 = onair_server::db::now_ms();

    let r = post(
        &node,
        "/api/v1/webhooks",
        &bc.token,
        json!({ "url": "https://hooks.example.com/onair" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let hook = r.body["id"].as_str().unwrap().to_owned();
    let r = post(
        &node,
        "/api/v1/users",
        &admin.token,
        json!({ "email": "new@example.com", "display_name": "New", "password": PASSWORD, "role": "viewer" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let new_user = r.body["id"].as_str().unwrap().to_owned();

    // A broadcaster sees only their own actions.
    let r = get(&node, "/api/v1/audit?limit=200", &bc.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mine = r.items();
    assert!(!mine.is_empty());
    assert!(
        mine.iter().all(|e| e["actor_id"] == bc.id.as_str()),
        "{}",
        r.body
    );
    let actions: Vec<&str> = mine.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["user.login", "token.create", "webhook.create"] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
    assert!(!actions.contains(&"user.create"));
    // Filters narrow, never widen.
    let r = get(
        &node,
        &format!("/api/v1/audit?actor={}", admin.id),
        &bc.token,
    )
    .await;
    assert!(r.items().is_empty(), "{}", r.body);
    let r = get(&node, "/api/v1/audit?actor=system", &bc.token).await;
    assert!(r.items().is_empty(), "{}", r.body);
    let r = get(&node, "/api/v1/audit?action=webhook.create", &bc.token).await;
    assert_eq!(r.items().len(), 1);
    assert_eq!(r.items()[0]["target_id"], hook.as_str());
    assert_eq!(r.items()[0]["target_type"], "webhook");

    // A viewer reads their own entries too.
    let r = get(&node, "/api/v1/audit", &viewer.token).await;
    assert_eq!(r.status, 200);
    assert!(
        r.items()
            .iter()
            .all(|e| e["actor_id"] == viewer.id.as_str())
    );
    assert!(!r.items().is_empty());
    get(&node, "/api/v1/audit", &Auth::None).await.problem(401);

    // Admins see everyone's, newest first.
    let r = get(&node, "/api/v1/audit?limit=200", &admin.token).await;
    let all = r.items();
    for id in [&admin.id, &bc.id, &viewer.id] {
        assert!(all.iter().any(|e| e["actor_id"] == id.as_str()));
    }
    let times: Vec<i64> = all.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let r = get(&node, "/api/v1/audit?actor=system", &admin.token).await;
    assert_eq!(r.items().len(), 1, "{}", r.body);
    assert_eq!(r.items()[0]["action"], "system.bootstrap");
    let r = get(
        &node,
        &format!("/api/v1/audit?actor={}", bc.email),
        &admin.token,
    )
    .await;
    assert!(!r.items().is_empty());
    assert!(r.items().iter().all(|e| e["actor_id"] == bc.id.as_str()));
    let r = get(
        &node,
        &format!("/api/v1/audit?actor={}", bc.id),
        &admin.token,
    )
    .await;
    assert_eq!(r.items().len(), mine.len());
    let r = get(
        &node,
        &format!("/api/v1/audit?target_type=user&target_id={new_user}"),
        &admin.token,
    )
    .await;
    assert_eq!(r.items().len(), 1, "{}", r.body);
    assert_eq!(r.items()[0]["action"], "user.create");
    assert_eq!(r.items()[0]["actor"], "root@example.com");
    let r = get(&node, "/api/v1/audit?target_type=webhook", &admin.token).await;
    assert_eq!(r.items().len(), 1);
    let r = get(&node, "/api/v1/audit?action=user.login", &admin.token).await;
    assert_eq!(r.items().len(), 3, "{}", r.body);

    // Time range and paging.
    let r = get(
        &node,
        &format!("/api/v1/audit?since={t0}&limit=200"),
        &admin.token,
    )
    .await;
    let recent: Vec<String> = r.ids();
    assert!(recent.len() >= 2 && recent.len() < all.len(), "{}", r.body);
    assert!(
        r.items().iter().all(|e| e["at"].as_i64().unwrap() >= t0),
        "{}",
        r.body
    );
    let r = get(
        &node,
        &format!("/api/v1/audit?until={t0}&limit=200"),
        &admin.token,
    )
    .await;
    assert_eq!(r.ids().len() + recent.len(), all.len());
    assert!(r.items().iter().all(|e| e["at"].as_i64().unwrap() < t0));
    let far = t0 + 3_600_000;
    let r = get(&node, &format!("/api/v1/audit?since={far}"), &admin.token).await;
    assert!(r.items().is_empty());
    let r = get(
        &node,
        &format!("/api/v1/audit?since={far}&until={t0}"),
        &admin.token,
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["until"]);
    get(&node, "/api/v1/audit?since=yesterday", &admin.token)
        .await
        .problem(422);
    let r = get(&node, "/api/v1/audit?limit=2", &admin.token).await;
    let first = r.ids();
    assert_eq!(first.len(), 2);
    let ids: Vec<String> = all
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(first, ids[..2]);
    let r = get(&node, "/api/v1/audit?limit=2&offset=2", &admin.token).await;
    assert_eq!(r.ids(), ids[2..4]);
    node.stop().await;
}

#[tokio::test]
async fn audit_filters_sqlite() {
    audit_filters(Backend::Sqlite).await;
}

#[tokio::test]
async fn audit_filters_postgres() {
    audit_filters(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// One request the local receiver got.
struct Received {
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
}

/// An HTTP server on 127.0.0.1 that answers every POST with 200 and hands it to the test.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Received { headers, body });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

async fn webhooks(backend: Backend) {
    // The receiver is on loopback: an on-premise setup, which the operator opts into.
    let node = TestNode::start_on(backend, |s| {
        keyed(s);
        s.webhook_allow_private_targets = true;
    })
    .await;
    let admin = person(&node, "root@example.com", Role::Admin).await;
    let b1 = person(&node, "one@example.com", Role::Broadcaster).await;
    let b2 = person(&node, "two@example.com", Role::Broadcaster).await;
    let viewer = person(&node, "watcher@example.com", Role::Viewer).await;
    let (url, mut rx) = receiver().await;

    // Viewers have no webhooks.
    post(
        &node,
        "/api/v1/webhooks",
        &viewer.token,
        json!({ "url": url }),
    )
    .await
    .problem(403);
    get(&node, "/api/v1/webhooks", &viewer.token)
        .await
        .problem(403);

    // Invalid URLs and events are field errors.
    for bad in [
        "ftp://x",
        "not a url",
        "example.com/hook",
        "javascript:alert(1)",
        "https://user:pw@example.com/",
        "",
    ] {
        let r = post(&node, "/api/v1/webhooks", &b1.token, json!({ "url": bad })).await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["url"], "{bad:?}: {}", r.body);
    }
    let r = post(
        &node,
        "/api/v1/webhooks",
        &b1.token,
        json!({ "url": url, "events": ["publish.started", "stream.exploded"] }),
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["events"]);
    let r = post(
        &node,
        "/api/v1/webhooks",
        &b1.token,
        json!({ "url": url, "events": [] }),
    )
    .await;
    assert_eq!(r.error_fields(), ["events"]);
    post(
        &node,
        "/api/v1/webhooks",
        &b1.token,
        json!({ "url": url, "secret": "mine" }),
    )
    .await
    .problem(422);
    post(&node, "/api/v1/webhooks", &b1.token, json!({ "url": 5 }))
        .await
        .problem(422);

    // Create: the secret is shown once.
    let r = post(&node, "/api/v1/webhooks", &b1.token, json!({ "url": url })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(r.body["owner_id"], b1.id.as_str());
    assert_eq!(r.body["url"], url.as_str());
    assert_eq!(
        r.body["events"],
        json!(["publish.started", "publish.stopped", "record.done"])
    );
    assert_eq!(r.body["enabled"], true);
    let r = get(&node, &format!("/api/v1/webhooks/{id}"), &b1.token).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("secret").is_none(), "{}", r.body);
    let r = get(&node, "/api/v1/webhooks", &b1.token).await;
    assert_eq!(r.ids(), [id.as_str()]);
    assert!(r.items()[0].get("secret").is_none());
    let r = post(
        &node,
        "/api/v1/webhooks",
        &b2.token,
        json!({ "url": "https://example.org/b2", "events": ["record.done"] }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id2 = r.body["id"].as_str().unwrap().to_owned();

    // Someone else's webhook does not exist for you.
    let other = format!("/api/v1/webhooks/{id}");
    get(&node, &other, &b2.token).await.problem(404);
    patch(&node, &other, &b2.token, json!({ "enabled": false }))
        .await
        .problem(404);
    delete(&node, &other, &b2.token).await.problem(404);
    get(&node, &format!("{other}/deliveries"), &b2.token)
        .await
        .problem(404);
    post(&node, &format!("{other}/test"), &b2.token, json!({}))
        .await
        .problem(404);
    get(&node, "/api/v1/webhooks/nope", &b1.token)
        .await
        .problem(404);
    let r = get(&node, "/api/v1/webhooks", &b2.token).await;
    assert_eq!(r.ids(), [id2.as_str()]);
    // Admins manage all.
    let r = get(&node, "/api/v1/webhooks", &admin.token).await;
    let mut ids = r.ids();
    ids.sort();
    let mut expected = vec![id.clone(), id2.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    let r = get(
        &node,
        &format!("/api/v1/webhooks?owner_id={}", b2.id),
        &admin.token,
    )
    .await;
    assert_eq!(r.ids(), [id2.as_str()]);
    assert_eq!(get(&node, &other, &admin.token).await.status, 200);

    // Change.
    let r = patch(
        &node,
        &other,
        &b1.token,
        json!({ "events": ["publish.stopped", "publish.started", "publish.stopped"], "enabled": false }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["events"],
        json!(["publish.started", "publish.stopped"])
    );
    assert_eq!(r.body["enabled"], false);
    assert_eq!(r.body["url"], url.as_str());
    let r = patch(&node, &other, &b1.token, json!({ "url": "ftp://x" })).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["url"]);
    patch(&node, &other, &b1.token, json!({ "owner_id": b2.id }))
        .await
        .problem(422);
    let r = patch(&node, &other, &admin.token, json!({ "enabled": true })).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["enabled"], true);

    // A test event reaches the receiver, signed with the secret, and is logged.
    post(
        &node,
        &format!("{other}/test"),
        &b1.token,
        json!({ "event": "nope" }),
    )
    .await
    .problem(422);
    let r = post(
        &node,
        &format!("{other}/test"),
        &b1.token,
        json!({ "event": "publish.stopped" }),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let event_id = r.body["event_id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["event"], "publish.stopped");
    let got = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("the receiver got nothing")
        .unwrap();
    let header = |name: &str| {
        got.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    signature::verify(
        secret.as_bytes(),
        &header(signature::SIGNATURE_HEADER),
        &got.body,
        now,
        signature::DEFAULT_TOLERANCE,
    )
    .expect("valid OnAir-Signature");
    assert!(
        signature::verify(
            b"whsec_wrong",
            &header(signature::SIGNATURE_HEADER),
            &got.body,
            now,
            signature::DEFAULT_TOLERANCE,
        )
        .is_err()
    );
    assert_eq!(header(signature::EVENT_HEADER), "publish.stopped");
    let delivery_id = header(signature::DELIVERY_HEADER);
    assert!(!delivery_id.is_empty());
    let ev: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(ev["id"], event_id.as_str());
    assert_eq!(ev["type"], "publish.stopped");
    assert_eq!(ev["data"]["channel_slug"], "test");

    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let r = get(&node, &format!("{other}/deliveries"), &b1.token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if let Some(d) = r
            .items()
            .into_iter()
            .find(|d| d["event_id"] == event_id.as_str())
        {
            break d;
        }
        assert!(Instant::now() < deadline, "no delivery logged: {}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivery["webhook_id"], id.as_str());
    assert_eq!(delivery["delivery_id"], delivery_id.as_str());
    assert_eq!(delivery["event_kind"], "publish.stopped");
    assert_eq!(delivery["status"], 200);
    assert_eq!(delivery["succeeded"], true);
    assert_eq!(delivery["final"], true);
    assert_eq!(delivery["attempt"], 1);
    let r = get(
        &node,
        &format!("/api/v1/webhooks/{id2}/deliveries"),
        &b2.token,
    )
    .await;
    assert!(r.items().is_empty());

    // Without a body choice, the first subscribed event is sent.
    let r = post(&node, &format!("{other}/test"), &admin.token, json!({})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["event"], "publish.started");
    let got = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.headers.get(signature::EVENT_HEADER).unwrap(),
        "publish.started"
    );

    // Delete.
    let r = delete(&node, &other, &b1.token).await;
    assert_eq!(r.status, 204, "{}", r.body);
    get(&node, &other, &b1.token).await.problem(404);
    delete(&node, &other, &b1.token).await.problem(404);
    get(&node, &format!("{other}/deliveries"), &b1.token)
        .await
        .problem(404);

    let r = get(
        &node,
        &format!("/api/v1/audit?target_id={id}&limit=200"),
        &admin.token,
    )
    .await;
    let mut actions: Vec<String> = r
        .items()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "webhook.create",
            "webhook.delete",
            "webhook.disable",
            "webhook.enable",
            "webhook.test",
            "webhook.test"
        ],
        "{}",
        r.body
    );
    node.stop().await;
}

#[tokio::test]
async fn webhooks_sqlite() {
    webhooks(Backend::Sqlite).await;
}

#[tokio::test]
async fn webhooks_postgres() {
    webhooks(Backend::Postgres).await;
}

/// Without the operator's opt-in, webhooks cannot reach the node's own network: IP-literal
/// URLs of loopback, private, link-local, shared and unique-local addresses are field errors on
/// create and change, and a host name resolving to loopback is registered but its deliveries
/// fail before connecting (the receiver sees nothing, the log says why, no retries).
async fn webhooks_refuse_private_targets(backend: Backend) {
    let node = start(backend).await;
    let bc = person(&node, "caster@example.com", Role::Broadcaster).await;
    let (url, mut rx) = receiver().await;
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook")
        .to_owned();

    for bad in [
        url.clone(),
        format!("http://127.1:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        "http://0.0.0.0/".to_owned(),
        "http://10.0.0.1/hook".to_owned(),
        "http://172.16.5.4/hook".to_owned(),
        "http://192.168.1.1/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://100.64.0.1/hook".to_owned(),
        format!("http://[::1]:{port}/hook"),
        "http://[::ffff:127.0.0.1]/hook".to_owned(),
        "http://[fd00::1]/hook".to_owned(),
        "http://[fe80::1]/hook".to_owned(),
    ] {
        let r = post(&node, "/api/v1/webhooks", &bc.token, json!({ "url": bad })).await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["url"], "{bad}: {}", r.body);
        assert!(
            r.body["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("non-public"),
            "{bad}: {}",
            r.body
        );
    }

    // A name is accepted (what it resolves to is checked when connecting) …
    let by_name = format!("http://localhost:{port}/hook");
    let r = post(
        &node,
        "/api/v1/webhooks",
        &bc.token,
        json!({ "url": by_name }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    // … and cannot be changed to a private address.
    let r = patch(
        &node,
        &format!("/api/v1/webhooks/{id}"),
        &bc.token,
        json!({ "url": url }),
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["url"]);

    // Its test event is refused before connecting: one final attempt, no status.
    let r = post(
        &node,
        &format!("/api/v1/webhooks/{id}/test"),
        &bc.token,
        json!({}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let event_id = r.body["event_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let r = get(
            &node,
            &format!("/api/v1/webhooks/{id}/deliveries"),
            &bc.token,
        )
        .await;
        if let Some(d) = r
            .items()
            .into_iter()
            .find(|d| d["event_id"] == event_id.as_str())
        {
            break d;
        }
        assert!(Instant::now() < deadline, "no delivery logged: {}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivery["succeeded"], false, "{delivery}");
    assert_eq!(delivery["final"], true, "{delivery}");
    assert_eq!(delivery["attempt"], 1, "{delivery}");
    assert_eq!(delivery["status"], Value::Null, "{delivery}");
    assert!(
        delivery["error"]
            .as_str()
            .unwrap_or("")
            .contains("non-public"),
        "{delivery}"
    );

    // A URL stored before the rule (or under the opt-in) is re-checked at send time.
    let stored = node
        .sys()
        .db
        .create_webhook(
            &bc.id,
            &url,
            "whsec_0123456789abcdef0123456789abcdef",
            &["publish.started".to_owned()],
        )
        .await
        .unwrap();
    let r = post(
        &node,
        &format!("/api/v1/webhooks/{}/test", stored.id),
        &bc.token,
        json!({}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let r = get(
            &node,
            &format!("/api/v1/webhooks/{}/deliveries", stored.id),
            &bc.token,
        )
        .await;
        if let Some(d) = r.items().into_iter().next() {
            break d;
        }
        assert!(Instant::now() < deadline, "no delivery logged: {}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivery["final"], true, "{delivery}");
    assert_eq!(delivery["succeeded"], false, "{delivery}");
    assert!(
        delivery["error"]
            .as_str()
            .unwrap_or("")
            .contains("non-public"),
        "{delivery}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.try_recv().is_err(), "the loopback receiver was reached");
    node.stop().await;
}

/// One user cannot multiply the node's outgoing requests: at most 20 webhooks each (409
/// beyond, per owner), and test events are rate-limited per user (429 with Retry-After).
async fn webhook_limits(backend: Backend) {
    let node = TestNode::start_on(backend, |s| {
        keyed(s);
        s.limits.webhook_tests_per_user = onair_server::security::ratelimit::RateLimit {
            max: 3,
            per: Duration::from_secs(600),
        };
    })
    .await;
    let b1 = person(&node, "one@example.com", Role::Broadcaster).await;
    let b2 = person(&node, "two@example.com", Role::Broadcaster).await;
    // Deliveries to these fail at once (a name for loopback, private targets not allowed):
    // nothing leaves the machine.
    let hook = |n: usize| json!({ "url": format!("http://localhost:9/hook-{n}") });
    let mut ids = Vec::new();
    for n in 0..20 {
        let r = post(&node, "/api/v1/webhooks", &b1.token, hook(n)).await;
        assert_eq!(r.status, 201, "webhook {n}: {}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    post(&node, "/api/v1/webhooks", &b1.token, hook(20))
        .await
        .problem(409);
    // Per owner: someone else still can.
    let r = post(&node, "/api/v1/webhooks", &b2.token, hook(0)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b2_hook = r.body["id"].as_str().unwrap().to_owned();
    // Deleting one makes room.
    let r = delete(&node, &format!("/api/v1/webhooks/{}", ids[0]), &b1.token).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = post(&node, "/api/v1/webhooks", &b1.token, hook(21)).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Test events: 3 per user here, across all of the user's webhooks.
    for id in &ids[1..4] {
        let r = post(
            &node,
            &format!("/api/v1/webhooks/{id}/test"),
            &b1.token,
            json!({}),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let r = call(
        &node,
        Method::POST,
        &format!("/api/v1/webhooks/{}/test", ids[4]),
        &b1.token,
        Some(json!({})),
    )
    .await;
    r.problem(429);
    let r = client()
        .post(node.url(&format!("/api/v1/webhooks/{}/test", ids[4])))
        .header(
            "authorization",
            match &b1.token {
                Auth::Bearer(t) => format!("Bearer {t}"),
                _ => unreachable!(),
            },
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    // Another user's budget is their own.
    let r = post(
        &node,
        &format!("/api/v1/webhooks/{b2_hook}/test"),
        &b2.token,
        json!({}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    node.stop().await;
}

#[tokio::test]
async fn webhook_limits_sqlite() {
    webhook_limits(Backend::Sqlite).await;
}

#[tokio::test]
async fn webhook_limits_postgres() {
    webhook_limits(Backend::Postgres).await;
}

#[tokio::test]
async fn webhooks_refuse_private_targets_sqlite() {
    webhooks_refuse_private_targets(Backend::Sqlite).await;
}

#[tokio::test]
async fn webhooks_refuse_private_targets_postgres() {
    webhooks_refuse_private_targets(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------
// Publish sessions

async fn publish_sessions(backend: Backend) {
    let node = start(backend).await;
    let admin = person(&node, "root@example.com", Role::Admin).await;
    let b1 = person(&node, "one@example.com", Role::Broadcaster).await;
    let b2 = person(&node, "two@example.com", Role::Broadcaster).await;
    let db = &node.sys().db;
    let ch1 = db
        .create_channel(&b1.id, "one-a", "One A", Visibility::Public)
        .await
        .unwrap();
    let ch1b = db
        .create_channel(&b1.id, "one-b", "One B", Visibility::Private)
        .await
        .unwrap();
    let ch2 = db
        .create_channel(&b2.id, "two-a", "Two A", Visibility::Public)
        .await
        .unwrap();
    let dev1 = db
        .create_device(
            &b1.id,
            &ch1.id,
            "Cam",
            DeviceKind::Other,
            "hash-1",
            "sk_aaaa",
        )
        .await
        .unwrap();
    let dev2 = db
        .create_device(
            &b2.id,
            &ch2.id,
            "Cam",
            DeviceKind::Other,
            "hash-2",
            "sk_bbbb",
        )
        .await
        .unwrap();

    // s1 (ch1, dev1, ended) | t1 | s2 (ch1b, no device, ended) | t2 | s3 (ch2, dev2, live) | s4 (ch1, dev1, live)
    let pause = || tokio::time::sleep(Duration::from_millis(30));
    db.start_publish_session("ps-1", &ch1.id, Some(&dev1.id), "node-a", "10.0.0.1")
        .await
        .unwrap();
    db.end_publish_session(
        "ps-1",
        &SessionEnd {
            bytes: 1234,
            video_codec: Some("avc1.64001f".into()),
            audio_codec: Some("mp4a.40.2".into()),
            width: Some(320),
            height: Some(240),
            reason: "unpublished".into(),
        },
    )
    .await
    .unwrap();
    pause().await;
    let t1 = onair_server::db::now_ms();
    pause().await;
    db.start_publish_session("ps-2", &ch1b.id, None, "node-a", "10.0.0.2")
        .await
        .unwrap();
    db.end_publish_session(
        "ps-2",
        &SessionEnd {
            reason: "kicked".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    pause().await;
    let t2 = onair_server::db::now_ms();
    pause().await;
    db.start_publish_session("ps-3", &ch2.id, Some(&dev2.id), "node-b", "10.0.0.3")
        .await
        .unwrap();
    pause().await;
    db.start_publish_session("ps-4", &ch1.id, Some(&dev1.id), "node-a", "10.0.0.1")
        .await
        .unwrap();

    let list = async |q: &str, who: &Auth| {
        let r = get(&node, &format!("/api/v1/publish-sessions{q}"), who).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.ids()
    };
    // Owners see their channels' sessions, newest first; admins all.
    assert_eq!(list("", &b1.token).await, ["ps-4", "ps-2", "ps-1"]);
    assert_eq!(list("", &b2.token).await, ["ps-3"]);
    assert_eq!(
        list("", &admin.token).await,
        ["ps-4", "ps-3", "ps-2", "ps-1"]
    );
    assert_eq!(
        list(&format!("?owner_id={}", b2.id), &admin.token).await,
        ["ps-3"]
    );
    // A non-admin's owner filter cannot widen the view.
    assert_eq!(
        list(&format!("?owner_id={}", b2.id), &b1.token).await,
        ["ps-4", "ps-2", "ps-1"]
    );
    // Filters.
    assert_eq!(
        list(&format!("?channel_id={}", ch1.id), &b1.token).await,
        ["ps-4", "ps-1"]
    );
    assert!(
        list(&format!("?channel_id={}", ch2.id), &b1.token)
            .await
            .is_empty()
    );
    assert_eq!(
        list(&format!("?channel_id={}", ch2.id), &admin.token).await,
        ["ps-3"]
    );
    assert_eq!(
        list(&format!("?device_id={}", dev1.id), &b1.token).await,
        ["ps-4", "ps-1"]
    );
    assert!(
        list(&format!("?device_id={}", dev2.id), &b1.token)
            .await
            .is_empty()
    );
    assert_eq!(
        list(&format!("?since={t1}"), &admin.token).await,
        ["ps-4", "ps-3", "ps-2"]
    );
    assert_eq!(list(&format!("?until={t1}"), &admin.token).await, ["ps-1"]);
    assert_eq!(
        list(&format!("?since={t1}&until={t2}"), &admin.token).await,
        ["ps-2"]
    );
    assert_eq!(
        list(&format!("?since={t1}&channel_id={}", ch1.id), &b1.token).await,
        ["ps-4"]
    );
    assert_eq!(list("?limit=1&offset=1", &b1.token).await, ["ps-2"]);
    get(
        &node,
        &format!("/api/v1/publish-sessions?since={t2}&until={t1}"),
        &admin.token,
    )
    .await
    .problem(422);
    get(&node, "/api/v1/publish-sessions?limit=x", &admin.token)
        .await
        .problem(422);
    get(&node, "/api/v1/publish-sessions", &Auth::None)
        .await
        .problem(401);

    // One session.
    let r = get(&node, "/api/v1/publish-sessions/ps-1", &b1.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["channel_id"], ch1.id.as_str());
    assert_eq!(r.body["device_id"], dev1.id.as_str());
    assert_eq!(r.body["bytes"], 1234);
    assert_eq!(r.body["width"], 320);
    assert_eq!(r.body["end_reason"], "unpublished");
    assert!(r.body["ended_at"].as_i64().unwrap() >= r.body["started_at"].as_i64().unwrap());
    let r = get(&node, "/api/v1/publish-sessions/ps-4", &b1.token).await;
    assert_eq!(r.body["ended_at"], Value::Null);
    get(&node, "/api/v1/publish-sessions/ps-3", &b1.token)
        .await
        .problem(404);
    get(&node, "/api/v1/publish-sessions/ps-1", &b2.token)
        .await
        .problem(404);
    get(&node, "/api/v1/publish-sessions/nope", &admin.token)
        .await
        .problem(404);
    assert_eq!(
        get(&node, "/api/v1/publish-sessions/ps-3", &admin.token)
            .await
            .status,
        200
    );
    node.stop().await;
}

#[tokio::test]
async fn publish_sessions_sqlite() {
    publish_sessions(Backend::Sqlite).await;
}

#[tokio::test]
async fn publish_sessions_postgres() {
    publish_sessions(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------

/// Every new route is in the OpenAPI document.
#[test]
fn new_routes_are_documented() {
    let doc = onair_server::http::api::openapi();
    let paths: Vec<&String> = doc.paths.paths.keys().collect();
    for p in [
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/users/{id}/reset-password",
        "/api/v1/users/{id}/clear-totp",
        "/api/v1/audit",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/deliveries",
        "/api/v1/webhooks/{id}/test",
        "/api/v1/publish-sessions",
        "/api/v1/publish-sessions/{id}",
    ] {
        assert!(paths.iter().any(|k| k.as_str() == p), "{p} not documented");
    }
}

/// Two admins demoting each other at the same moment: exactly one wins, an admin remains.
async fn last_admin_guard_is_atomic(backend: Backend) {
    use onair_server::db::users::{UserChanges, UserUpdate};
    let (db, _dir) = common::db::open(backend).await;
    let mut admins = Vec::new();
    for email in ["a@example.com", "b@example.com"] {
        let u = db
            .create_user(NewUser {
                email,
                display_name: email,
                password_hash: "x",
                role: Role::Admin,
                status: UserStatus::Active,
                email_verified: true,
            })
            .await
            .unwrap();
        admins.push(u.id);
    }
    for round in 0..20 {
        // Demote by role, by status, or both.
        let (first, second) = if round % 2 == 0 {
            (
                UserChanges {
                    role: Some(Role::Viewer),
                    ..Default::default()
                },
                UserChanges {
                    role: Some(Role::Broadcaster),
                    ..Default::default()
                },
            )
        } else {
            (
                UserChanges {
                    status: Some(UserStatus::Disabled),
                    ..Default::default()
                },
                UserChanges {
                    role: Some(Role::Viewer),
                    status: Some(UserStatus::Disabled),
                    ..Default::default()
                },
            )
        };
        let (a, b) = tokio::join!(
            db.update_user(&admins[0], first),
            db.update_user(&admins[1], second),
        );
        let won = [a.unwrap(), b.unwrap()]
            .into_iter()
            .filter(|r| match r {
                UserUpdate::Updated(_) => true,
                UserUpdate::LastAdmin => false,
                UserUpdate::NotFound => panic!("not found"),
            })
            .count();
        assert_eq!(won, 1, "round {round}");
        assert_eq!(db.count_admins().await.unwrap(), 1, "round {round}");
        for id in &admins {
            db.set_user_role(id, Role::Admin).await.unwrap();
            db.set_user_status(id, UserStatus::Active).await.unwrap();
        }
    }
    assert!(matches!(
        db.update_user("nope", UserChanges::default())
            .await
            .unwrap(),
        UserUpdate::NotFound
    ));
}

#[tokio::test]
async fn last_admin_guard_is_atomic_sqlite() {
    last_admin_guard_is_atomic(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_admin_guard_is_atomic_postgres() {
    last_admin_guard_is_atomic(Backend::Postgres).await;
}
