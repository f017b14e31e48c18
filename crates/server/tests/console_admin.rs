//! The console's admin pages in real headless Chromium (`web/tests/admin.mjs`): an admin
//! creates a user, changes its role and disables it; filters the audit log; creates a webhook
//! to a loopback receiver, sends a test event and sees the receiver's answer in the delivery
//! log; reads the server page. Then the node's own state is checked through the API: the user
//! really is a disabled broadcaster, the receiver really got a correctly signed event. And
//! every main page at desktop and phone sizes (`web/tests/pages.mjs`).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::api::Api;
use common::browser::run_script;
use common::*;
use onair_server::webhooks::signature;
use serde_json::{Value, json};

const ADMIN_EMAIL: &str = "admin@localhost";
const ADMIN_PASSWORD: &str = "a long admin password";
/// The password `admin.mjs` gives the user it creates.
const USER_PASSWORD: &str = "analytical engine 1843";
/// What the receiver answers: not 200, so the page's code is seen to be the receiver's.
const RECEIVER_STATUS: u16 = 202;

/// One POST the receiver got.
struct Received {
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
}

/// An HTTP server on 127.0.0.1 answering every POST to `/hook` with [`RECEIVER_STATUS`].
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Received { headers, body });
                (
                    axum::http::StatusCode::from_u16(RECEIVER_STATUS).unwrap(),
                    "ok",
                )
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

fn text<'a>(r: &'a Value, key: &str) -> &'a str {
    r[key].as_str().unwrap_or_else(|| panic!("no {key} in {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_admin_pages_manage_the_node() {
    let node = TestNode::start_with(|s| {
        s.admin_password = Some(ADMIN_PASSWORD.to_owned());
        // The receiver is on loopback.
        s.webhook_allow_private_targets = true;
    })
    .await;
    let (hook_url, mut received) = receiver().await;
    let r = run_script(
        "admin.mjs",
        vec![
            node.http.clone(),
            ADMIN_EMAIL.into(),
            ADMIN_PASSWORD.into(),
            hook_url.clone(),
        ],
        "console-admin".into(),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["pageErrors"], json!([]), "{r}");
    assert_eq!(r["roleAfter"], "broadcaster", "{r}");
    assert_eq!(r["statusAfter"], "disabled", "{r}");
    assert_eq!(r["deliveryStatus"], RECEIVER_STATUS, "{r}");
    assert_eq!(r["deliverySucceeded"], true, "{r}");
    // Issue #12: test deliveries are marked, and audit targets named.
    assert_eq!(r["deliveryTest"], "true", "{r}");
    assert!(text(&r, "deliveryEventText").contains("test"), "{r}");
    let target = text(&r, "auditTargetText");
    assert!(
        target.contains(text(&r, "userEmail")) && !target.contains(text(&r, "userId")),
        "{r}"
    );
    for action in ["user.create", "user.role_change", "user.disable"] {
        assert!(r["audit"][action].as_u64() >= Some(1), "{action}: {r}");
    }

    let admin = Api::login(&node.http, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // The user the page created really is a disabled broadcaster.
    let user_id = text(&r, "userId");
    let (s, user) = admin.get(&format!("/api/v1/users/{user_id}")).await;
    assert_eq!(s, 200, "{user}");
    assert_eq!(user["email"], r["userEmail"], "{user}");
    assert_eq!(user["display_name"], "Ada Lovelace", "{user}");
    assert_eq!(user["role"], "broadcaster", "{user}");
    assert_eq!(user["status"], "disabled", "{user}");

    // The audit log holds those three actions by the admin, in order.
    let (s, audit) = admin
        .get(&format!("/api/v1/audit?target_id={user_id}"))
        .await;
    assert_eq!(s, 200, "{audit}");
    let mut actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (text(e, "action"), text(e, "actor")))
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            ("user.create", ADMIN_EMAIL),
            ("user.role_change", ADMIN_EMAIL),
            ("user.disable", ADMIN_EMAIL),
        ],
        "{audit}"
    );

    // The user cannot sign in, refused for being disabled (not for a wrong password).
    let (s, body) = Api::anonymous(&node.http)
        .post(
            "/api/v1/auth/login",
            json!({"email": user["email"], "password": USER_PASSWORD}),
        )
        .await;
    assert_ne!(s, 200, "a disabled user signed in: {body}");
    let (s, audit) = admin
        .get(&format!(
            "/api/v1/audit?action=user.login&target_id={user_id}"
        ))
        .await;
    assert_eq!(s, 200, "{audit}");
    assert_eq!(audit["items"][0]["result"], "denied", "{audit}");
    assert_eq!(audit["items"][0]["detail"], "account disabled", "{audit}");

    // The webhook exists, enabled again after the page's disable/enable, and its log holds
    // the test event's delivery with the receiver's answer.
    let webhook_id = text(&r, "webhookId");
    let event_id = text(&r, "eventId");
    let (s, hook) = admin.get(&format!("/api/v1/webhooks/{webhook_id}")).await;
    assert_eq!(s, 200, "{hook}");
    assert_eq!(hook["url"], hook_url.as_str(), "{hook}");
    assert_eq!(hook["enabled"], true, "{hook}");
    let (s, deliveries) = admin
        .get(&format!("/api/v1/webhooks/{webhook_id}/deliveries"))
        .await;
    assert_eq!(s, 200, "{deliveries}");
    let delivery = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_id"] == event_id)
        .unwrap_or_else(|| panic!("no delivery of {event_id}: {deliveries}"));
    assert_eq!(delivery["status"], RECEIVER_STATUS, "{delivery}");
    assert_eq!(delivery["succeeded"], true, "{delivery}");
    assert_eq!(delivery["test"], true, "{delivery}");

    // The receiver got that event, signed with the secret the page showed.
    let got = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("the receiver got the test event")
        .unwrap();
    let event: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(event["id"], event_id, "{event}");
    assert_eq!(event["test"], true, "a test event says so: {event}");
    let header = got
        .headers
        .get(signature::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    signature::verify(
        text(&r, "secret").as_bytes(),
        header,
        &got.body,
        now,
        signature::DEFAULT_TOLERANCE,
    )
    .expect("the delivery is signed with the secret the page showed");

    // The server page showed what the node reports.
    let (s, status) = admin.get("/api/v1/node/status").await;
    assert_eq!(s, 200, "{status}");
    assert_eq!(r["database"], status["database"], "{r} {status}");
    assert_eq!(r["storage"], status["storage"], "{r} {status}");
    assert_eq!(r["version"], status["version"], "{r} {status}");
    let (s, info) = admin.get("/api/v1/node").await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(r["rtmpUrl"], info["rtmp_url"], "{r} {info}");

    node.stop().await;
}

/// Every main page at desktop and phone sizes (`web/tests/pages.mjs`, issue #12): no page
/// scrolls sideways on a phone and every row's actions are on screen (tables become cards);
/// screenshots of each page at both sizes go to `target/browser-screenshots/pages-*.png`. The
/// channels list pages newest first and searches; the slug field checks names in the browser
/// with the server's rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_pages_at_desktop_and_phone_sizes() {
    let node = TestNode::start_with(|s| {
        s.admin_password = Some(ADMIN_PASSWORD.to_owned());
        s.webhook_allow_private_targets = true;
    })
    .await;
    let admin = Api::login(&node.http, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (channel_id, device_id, _) =
        common::api::channel_with_device(&admin, "studio-with-a-long-name").await;
    for n in 1..=55 {
        let (s, body) = admin
            .post(
                "/api/v1/channels",
                json!({"slug": format!("chan-{n:03}"), "title": format!("Number {n}")}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    common::api::user(
        &node,
        "someone.with.a.long.address@example.com",
        onair_server::db::users::Role::Viewer,
    )
    .await;
    // A finished recording row (its objects are not needed to list it).
    node.sys()
        .db
        .upsert_recording(&onair_server::db::recordings::RecordingProgress {
            id: "rec0phonepages",
            channel_id: &channel_id,
            channel_slug: "studio-with-a-long-name",
            prefix: "live/studio/rec0phonepages/",
            started_at: 1_796_487_786_000,
            duration_ms: 3_723_000,
            bytes: 123_456_789,
            stored_bytes: 250_000_000,
            segments: 1861,
            complete: true,
            codecs: Some("avc1.64001f,mp4a.40.2"),
            width: Some(1280),
            height: Some(720),
        })
        .await
        .unwrap();
    // A webhook with a (failed) test delivery in its log.
    let (s, hook) = admin
        .post(
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/a/rather/long/path/for/a/webhook/receiver"}),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let webhook_id = text(&hook, "id").to_owned();
    let (s, sent) = admin
        .post(&format!("/api/v1/webhooks/{webhook_id}/test"), json!({}))
        .await;
    assert_eq!(s, 202, "{sent}");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, d) = admin
            .get(&format!("/api/v1/webhooks/{webhook_id}/deliveries"))
            .await;
        if d["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let r = run_script(
        "pages.mjs",
        vec![
            node.http.clone(),
            ADMIN_EMAIL.into(),
            ADMIN_PASSWORD.into(),
            channel_id.clone(),
            device_id,
            webhook_id,
        ],
        "pages".into(),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    for (page, m) in r["pages"].as_object().unwrap() {
        assert_eq!(m["overflow"], false, "{page} scrolls sideways: {r}");
        assert_ne!(m["actionInside"], false, "{page}: action off screen: {r}");
    }
    assert_eq!(r["pages"].as_object().unwrap().len(), 24, "{r}");
    // 57 channels (the first start's, ours and 55 more): newest first, 50 a page.
    assert_eq!(r["firstPage"]["count"], 50, "{r}");
    assert_eq!(r["firstPage"]["first"], "chan-055", "{r}");
    assert_eq!(r["secondPage"]["count"], 7, "{r}");
    assert_eq!(r["search"], json!(["chan-007"]), "{r}");
    assert!(
        text(&r, "searchEmpty").contains("No channel matches"),
        "{r}"
    );
    assert_eq!(r["slugValid"]["valid"], true, "{r}");
    assert_eq!(r["slugInvalid"]["patternMismatch"], true, "{r}");
    assert!(text(&r, "slugRule").contains("letters, digits"), "{r}");
    assert_eq!(r["patternErrors"], json!([]), "{r}");
    node.stop().await;
}
