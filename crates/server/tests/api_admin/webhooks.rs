//! Webhooks: CRUD, signed deliveries to a real receiver, private targets, limits.

use super::*;

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
        // IPv6 forms embedding a loopback or metadata IPv4 address: IPv4-translated (SIIT),
        // IPv4-compatible, NAT64, 6to4, Teredo.
        "http://[::ffff:0:7f00:1]/".to_owned(),
        "http://[::127.0.0.1]/hook".to_owned(),
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/".to_owned(),
        "http://[2002:7f00:1::1]/hook".to_owned(),
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook".to_owned(),
        "http://[fd00::1]/hook".to_owned(),
        "http://[fe80::1]/hook".to_owned(),
    ] {
        let r = post(&node, "/api/v1/webhooks", &bc.token, json!({ "url": bad })).await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["url"], "{bad}: {}", r.body);
        // The message says what is wrong and how an operator allows it.
        let message = r.body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("non-public") && message.contains("--webhook-allow-private-targets"),
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

/// The per-user cap holds under concurrent creations: the count and the insert are one step
/// (a check followed by an insert let every request that counted before the others inserted
/// through). Two users race at once; each ends with exactly the cap.
async fn webhook_cap_is_atomic(backend: Backend) {
    let node = TestNode::start_on(backend, keyed).await;
    let b1 = person(&node, "one@example.com", Role::Broadcaster).await;
    let b2 = person(&node, "two@example.com", Role::Broadcaster).await;
    let cap = 20; // MAX_WEBHOOKS_PER_USER
    let tries = cap + 12;
    let mut racing = tokio::task::JoinSet::new();
    for who in [&b1, &b2] {
        for n in 0..tries {
            let (url, auth) = (node.url("/api/v1/webhooks"), who.token.clone());
            racing.spawn(async move {
                let Auth::Bearer(t) = auth else {
                    unreachable!()
                };
                let r = client()
                    .post(url)
                    .bearer_auth(t)
                    .json(&json!({ "url": format!("http://localhost:9/hook-{n}") }))
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            });
        }
    }
    let mut statuses = Vec::new();
    while let Some(s) = racing.join_next().await {
        statuses.push(s.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!(
        (created, refused),
        (2 * cap, 2 * (tries - cap)),
        "{statuses:?}"
    );
    for who in [&b1, &b2] {
        let n = node.sys().db.count_webhooks(&who.id).await.unwrap();
        assert_eq!(n as usize, cap, "{}", who.email);
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_cap_is_atomic_sqlite() {
    webhook_cap_is_atomic(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_cap_is_atomic_postgres() {
    webhook_cap_is_atomic(Backend::Postgres).await;
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
