//! Audit log filters and visibility; publish-session history.

use super::*;

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
