//! User administration: CRUD, last-admin guard, disabling revokes credentials.

use super::*;

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
    let Auth::Session(session) = &admin.session else {
        unreachable!()
    };
    patch(
        &node,
        &format!("/api/v1/users/{v_id}"),
        &Auth::Session(Session {
            cookie: session.cookie.clone(),
            csrf: "wrong".into(),
        }),
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
        .expect_err("disabled users cannot sign in")
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
        .expect_err("old password")
        .problem(401);
    login(&node, "viewer@example.com", "a new long password")
        .await
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
