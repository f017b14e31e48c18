//! The authorization matrix: every documented API operation, called by every kind of caller
//! (anonymous, viewer, another broadcaster, that broadcaster's read-only token, admin) against
//! objects owned by one broadcaster. Any 2xx the policy below does not allow fails the test, and
//! so does an operation missing from the policy (a new route must be placed in the matrix).
//! Calls the policy allows are made only when they are reads, to prove each caller's
//! credentials work (so refusals are not just broken sign-ins). Lists are checked not to leak
//! the owner's objects.

mod common;

use std::collections::HashMap;

use common::api::{Api, channel_with_device, user};
use common::db::Backend;
use common::*;
use onair_server::db::users::Role;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Who {
    Anonymous,
    Viewer,
    /// A broadcaster who does not own the objects.
    Broadcaster,
    /// The same broadcaster through a personal access token with only the `read` scope.
    ReadToken,
    Admin,
}

const EVERYONE: &[Who] = &[
    Who::Anonymous,
    Who::Viewer,
    Who::Broadcaster,
    Who::ReadToken,
    Who::Admin,
];
const SIGNED_IN: &[Who] = &[Who::Viewer, Who::Broadcaster, Who::ReadToken, Who::Admin];
const SIGNED_IN_WRITE: &[Who] = &[Who::Viewer, Who::Broadcaster, Who::Admin];
const BROADCASTERS_READ: &[Who] = &[Who::Broadcaster, Who::ReadToken, Who::Admin];
const BROADCASTERS_WRITE: &[Who] = &[Who::Broadcaster, Who::Admin];
const ADMIN: &[Who] = &[Who::Admin];
const NOBODY: &[Who] = &[];

/// Who may get a 2xx from each operation when it names the owner's objects.
fn policy() -> HashMap<&'static str, &'static [Who]> {
    HashMap::from([
        // Sign-up, sign-in and recovery are for everyone; they act on no one else's objects.
        ("POST /api/v1/auth/signup", EVERYONE),
        ("POST /api/v1/auth/verify", EVERYONE),
        ("POST /api/v1/auth/resend-verification", EVERYONE),
        ("POST /api/v1/auth/login", EVERYONE),
        ("POST /api/v1/auth/logout", EVERYONE),
        ("POST /api/v1/auth/password-reset", EVERYONE),
        ("POST /api/v1/auth/password-reset/confirm", EVERYONE),
        // The caller's own account.
        ("GET /api/v1/me", SIGNED_IN),
        ("PATCH /api/v1/me", SIGNED_IN_WRITE),
        ("POST /api/v1/me/totp/setup", SIGNED_IN_WRITE),
        ("POST /api/v1/me/totp/enable", SIGNED_IN_WRITE),
        ("POST /api/v1/me/totp/disable", SIGNED_IN_WRITE),
        ("GET /api/v1/me/sessions", SIGNED_IN),
        ("POST /api/v1/me/sessions/revoke-all", SIGNED_IN_WRITE),
        ("GET /api/v1/me/tokens", SIGNED_IN),
        ("POST /api/v1/me/tokens", SIGNED_IN_WRITE),
        // … but never the owner's sessions and tokens, not even for admins.
        ("DELETE /api/v1/me/sessions/{id}", NOBODY),
        ("DELETE /api/v1/me/tokens/{id}", NOBODY),
        // User administration.
        ("GET /api/v1/users", ADMIN),
        ("POST /api/v1/users", ADMIN),
        ("GET /api/v1/users/{id}", ADMIN),
        ("PATCH /api/v1/users/{id}", ADMIN),
        ("POST /api/v1/users/{id}/reset-password", ADMIN),
        ("POST /api/v1/users/{id}/clear-totp", ADMIN),
        // Where to publish is for every signed-in user; the node's status for admins.
        ("GET /api/v1/node", SIGNED_IN),
        ("GET /api/v1/node/status", ADMIN),
        // The cluster's nodes, for admins.
        ("GET /api/v1/nodes", ADMIN),
        // Lists show the caller's own rows (checked below not to leak the owner's).
        ("GET /api/v1/audit", SIGNED_IN),
        ("GET /api/v1/channels", SIGNED_IN),
        ("GET /api/v1/devices", SIGNED_IN),
        ("GET /api/v1/publish-sessions", SIGNED_IN),
        ("GET /api/v1/webhooks", BROADCASTERS_READ),
        ("GET /api/v1/streams", EVERYONE),
        ("GET /api/v1/streams/events", EVERYONE),
        // Nothing is live in this matrix, so nobody gets a history here; browser.rs checks
        // that the owner does and another broadcaster gets 404.
        ("GET /api/v1/streams/{channel}/history", NOBODY),
        // Creating one's own objects.
        ("POST /api/v1/channels", BROADCASTERS_WRITE),
        ("POST /api/v1/webhooks", BROADCASTERS_WRITE),
        // A device on the owner's channel: only admins.
        ("POST /api/v1/devices", ADMIN),
        // The owner's objects: the owner and admins only.
        ("GET /api/v1/channels/{id}", ADMIN),
        ("PATCH /api/v1/channels/{id}", ADMIN),
        ("DELETE /api/v1/channels/{id}", ADMIN),
        ("POST /api/v1/channels/{id}/ban", ADMIN),
        ("POST /api/v1/channels/{id}/resume", ADMIN),
        ("POST /api/v1/channels/{id}/kick", ADMIN),
        ("GET /api/v1/channels/{id}/grants", ADMIN),
        ("PUT /api/v1/channels/{id}/grants/{user_id}", ADMIN),
        ("DELETE /api/v1/channels/{id}/grants/{user_id}", ADMIN),
        // The channel is private and shared with nobody here.
        ("POST /api/v1/channels/{id}/playback-url", ADMIN),
        ("GET /api/v1/devices/{id}", ADMIN),
        ("PATCH /api/v1/devices/{id}", ADMIN),
        ("DELETE /api/v1/devices/{id}", ADMIN),
        ("POST /api/v1/devices/{id}/rotate-key", ADMIN),
        ("POST /api/v1/devices/{id}/kick", ADMIN),
        ("GET /api/v1/publish-sessions/{id}", ADMIN),
        ("GET /api/v1/webhooks/{id}", ADMIN),
        ("PATCH /api/v1/webhooks/{id}", ADMIN),
        ("DELETE /api/v1/webhooks/{id}", ADMIN),
        ("GET /api/v1/webhooks/{id}/deliveries", ADMIN),
        ("POST /api/v1/webhooks/{id}/test", ADMIN),
        ("GET /api/v1/recordings", SIGNED_IN),
        ("GET /api/v1/recordings/{id}", ADMIN),
        ("DELETE /api/v1/recordings/{id}", ADMIN),
        ("POST /api/v1/recordings/{id}/playback-url", ADMIN),
        ("GET /api/v1/recordings/{id}/download", ADMIN),
    ])
}

/// The owner's objects, by the path parameter that names them.
struct Owned {
    user: String,
    channel: String,
    device: String,
    webhook: String,
    publish_session: String,
    recording: String,
    session: String,
    token: String,
    /// A user the grant operations name.
    grantee: String,
}

impl Owned {
    fn fill(&self, path: &str) -> String {
        let id = if path.starts_with("/api/v1/channels/") {
            &self.channel
        } else if path.starts_with("/api/v1/devices/") {
            &self.device
        } else if path.starts_with("/api/v1/webhooks/") {
            &self.webhook
        } else if path.starts_with("/api/v1/publish-sessions/") {
            &self.publish_session
        } else if path.starts_with("/api/v1/recordings/") {
            &self.recording
        } else if path.starts_with("/api/v1/me/sessions/") {
            &self.session
        } else if path.starts_with("/api/v1/me/tokens/") {
            &self.token
        } else {
            &self.user
        };
        path.replace("{id}", id).replace("{user_id}", &self.grantee)
    }

    /// A body that tries to act on the owner's objects where the operation takes one.
    fn body(&self, method: &Method, path: &str) -> Option<Value> {
        if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            return None;
        }
        Some(match path {
            "/api/v1/devices" => json!({"name": "intruder", "channel_id": self.channel}),
            "/api/v1/channels" => json!({"slug": "mine", "title": "mine"}),
            "/api/v1/webhooks" => json!({"url": "https://example.com/hook"}),
            "/api/v1/users" => {
                json!({"email": "new@example.com", "display_name": "n", "password": "a long password 1", "role": "admin"})
            }
            p if p.ends_with("/playback-url") => json!({}),
            p if p.starts_with("/api/v1/users/") && *method == Method::PATCH => {
                json!({"role": "viewer", "status": "disabled"})
            }
            p if p.ends_with("/reset-password") => json!({"password": "a long password 2"}),
            p if p.starts_with("/api/v1/channels/") && *method == Method::PATCH => {
                json!({"visibility": "public", "title": "pwned"})
            }
            p if p.starts_with("/api/v1/devices/") && *method == Method::PATCH => {
                json!({"enabled": false})
            }
            p if p.starts_with("/api/v1/webhooks/") && *method == Method::PATCH => {
                json!({"url": "https://evil.example.com/hook"})
            }
            _ => json!({}),
        })
    }
}

fn is_success(s: u16) -> bool {
    (200..300).contains(&s)
}

async fn matrix(backend: Backend) {
    let node = TestNode::start_on(backend, keyed).await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let viewer = user(&node, "viewer@example.com", Role::Viewer).await;
    let other = user(&node, "other@example.com", Role::Broadcaster).await;
    let admin = user(&node, "admin@example.com", Role::Admin).await;
    let read_token = other.with_token(&["read"]).await;
    let anonymous = Api::anonymous(&node.http);

    let (channel, device, _) = channel_with_device(&owner, "owned").await;
    let (s, _) = owner
        .patch(
            &format!("/api/v1/channels/{channel}"),
            json!({"visibility": "private"}),
        )
        .await;
    assert_eq!(s, 200);
    let db = &node.sys().db;
    let owner_me = owner.get("/api/v1/me").await.1;
    let owner_id = owner_me["id"].as_str().unwrap().to_owned();
    let webhook = db
        .create_webhook(
            &owner_id,
            "https://example.com/owner-hook",
            "whsec_0123456789abcdef0123456789abcdef",
            &["publish.start".to_owned()],
        )
        .await
        .unwrap()
        .id;
    let publish_session = onair_server::db::new_id();
    db.start_publish_session(&publish_session, &channel, Some(&device), "n1", "192.0.2.1")
        .await
        .unwrap();
    let recording = "rec0wnedbyowner".to_owned();
    db.upsert_recording(&onair_server::db::recordings::RecordingProgress {
        id: &recording,
        channel_id: &channel,
        channel_slug: "owned",
        prefix: "live/owned/rec0wnedbyowner/",
        started_at: 1,
        duration_ms: 1000,
        bytes: 10,
        stored_bytes: 20,
        segments: 1,
        complete: true,
        codecs: None,
        width: None,
        height: None,
    })
    .await
    .unwrap();
    let session = owner.get("/api/v1/me/sessions").await.1["items"][0]["id"]
        .as_str()
        .expect("the owner's session is listed")
        .to_owned();
    let owner_token = owner.with_token(&["read", "write"]).await;
    let token = owner.get("/api/v1/me/tokens").await.1["items"][0]["id"]
        .as_str()
        .expect("the owner's token is listed")
        .to_owned();
    let grantee = viewer.get("/api/v1/me").await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owned = Owned {
        user: owner_id.clone(),
        channel: channel.clone(),
        device: device.clone(),
        webhook: webhook.clone(),
        publish_session: publish_session.clone(),
        recording: recording.clone(),
        session,
        token,
        grantee,
    };

    let (_, doc) = admin.get("/api/openapi.json").await;
    let policy = policy();
    let callers: Vec<(Who, &Api)> = vec![
        (Who::Anonymous, &anonymous),
        (Who::Viewer, &viewer),
        (Who::Broadcaster, &other),
        (Who::ReadToken, &read_token),
        (Who::Admin, &admin),
    ];
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut unexpected = Vec::new();
    let mut failed_reads = Vec::new();
    let mut denied_calls = 0;
    for (method, path) in &ops {
        let key = format!("{method} {path}");
        let allowed = policy
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{key} is not in the authorization matrix: add it"));
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let url = owned.fill(path);
        for (who, api) in &callers {
            let may = allowed.contains(who);
            // Allowed writes are not made (they would change the fixtures); allowed reads are,
            // and must succeed.
            if may && m != Method::GET {
                continue;
            }
            let body = owned.body(&m, path);
            if key == "GET /api/v1/streams/events" {
                // An endless event stream: the status and type are the answer.
                let res = api.request(m.clone(), &url).send().await.unwrap();
                let ok = res.status().is_success()
                    && res.headers()["content-type"] == "text/event-stream";
                if !ok {
                    failed_reads.push(format!("{who:?} {key} -> {}", res.status()));
                }
                continue;
            }
            let (s, resp) = api.call(m.clone(), &url, body).await;
            if may {
                // The fixture recording has no media: its download gets past authorization and
                // then finds no objects.
                let authorized_only = key == "GET /api/v1/recordings/{id}/download";
                if authorized_only && ![401, 403].contains(&s) {
                    continue;
                }
                if !is_success(s) {
                    failed_reads.push(format!("{who:?} {method} {url} -> {s} {resp}"));
                }
            } else {
                denied_calls += 1;
                if is_success(s) {
                    unexpected.push(format!("{who:?} {method} {url} -> {s} {resp}"));
                }
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "unexpected 2xx:\n{}",
        unexpected.join("\n")
    );
    assert!(
        failed_reads.is_empty(),
        "allowed reads failed:\n{}",
        failed_reads.join("\n")
    );
    assert!(denied_calls > 100, "{denied_calls}");

    // Lists never show the owner's objects to anyone but the owner and admins.
    for (who, api) in &callers[1..4] {
        for (list, id) in [
            ("/api/v1/channels", &channel),
            ("/api/v1/devices", &device),
            ("/api/v1/publish-sessions", &publish_session),
            ("/api/v1/webhooks", &webhook),
            ("/api/v1/recordings", &recording),
            ("/api/v1/audit", &owner_id),
        ] {
            let (_, body) = api.get(list).await;
            assert!(
                !body.to_string().contains(id.as_str()),
                "{who:?} sees the owner's object in {list}: {body}"
            );
        }
    }
    // The owner's objects are intact: nothing above changed them.
    let (s, ch) = owner_token
        .get(&format!("/api/v1/channels/{channel}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(ch["visibility"], "private");
    assert_eq!(ch["banned"], false);
    let (s, dev) = owner_token.get(&format!("/api/v1/devices/{device}")).await;
    assert_eq!(s, 200);
    assert_eq!(dev["enabled"], true);
    let (s, me) = owner_token.get("/api/v1/me").await;
    assert_eq!(s, 200, "the owner's token still works: {me}");
    assert_eq!(me["role"], "broadcaster");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_sqlite() {
    matrix(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_postgres() {
    matrix(Backend::Postgres).await;
}
