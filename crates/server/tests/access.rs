//! Publish authorization by device stream keys and playback authorization by channel
//! visibility and signed URLs, end to end with ffmpeg, on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::api::{Api, channel_with_device, user};
use common::db::Backend;
use common::*;
use onair_server::db::audit::AuditFilter;
use onair_server::db::users::Role;
use onair_server::security::ratelimit::RateLimit;
use onair_server::security::{alibaba, signed_url};
use reqwest::header;
use serde_json::json;

/// Waits until the channel API reports a live publisher.
async fn wait_live(api: &Api, channel_id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, ch) = api.get(&format!("/api/v1/channels/{channel_id}")).await;
        if ch["live"] == true {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "channel never went live: {ch}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pushes the fixture with `key` and expects the server to refuse it.
async fn assert_refused(node: &TestNode, key: &str) -> String {
    let child = push(node, key, LIVE_FIXTURE);
    let out = wait_child_async(child, Duration::from_secs(30)).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "publishing with {key:?} should have been refused"
    );
    stderr
}

async fn denied_publishes(node: &TestNode) -> usize {
    node.sys()
        .db
        .list_audit(
            &AuditFilter {
                action: Some("publish.start"),
                ..Default::default()
            },
            onair_server::db::Page::new(Some(200), None),
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.result == "denied")
        .count()
}

async fn publish_with_stream_keys(backend: Backend) {
    let node = TestNode::start_on(backend, keyed).await;
    let bob = user(&node, "bob@example.com", Role::Broadcaster).await;
    let admin = user(&node, "root@example.com", Role::Admin).await;
    let (channel_id, device_id, key) = channel_with_device(&bob, "bobtv").await;

    // The channel name is not a credential; an unknown key neither.
    assert_refused(&node, "bobtv").await;
    assert_refused(&node, "sk_not-a-real-key").await;
    assert_eq!(denied_publishes(&node).await, 2);

    // The device's key publishes to its channel; the stream plays.
    let pusher = push_looped(&node, &key);
    let llhls = node.url("/live/bobtv/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(20)).await;
    let url = node.url("/live/bobtv/index.m3u8");
    wait_ok(&url, Duration::from_secs(20)).await;
    let probe = tokio::task::spawn_blocking(move || ffprobe_live(&url, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        probe.stream("video").map(|v| v.codec_name.as_str()),
        Some("h264"),
        "{probe:?}"
    );

    // Live status on the device and the channel.
    let (s, dev) = bob.get(&format!("/api/v1/devices/{device_id}")).await;
    assert_eq!(s, 200, "{dev}");
    assert_eq!(dev["online"], true, "{dev}");
    assert_eq!(
        dev["live"]["video_codec"]
            .as_str()
            .map(|c| c.starts_with("avc1")),
        Some(true),
        "{dev}"
    );
    assert_eq!(dev["live"]["width"], 320, "{dev}");
    assert!(dev["live"]["publisher_ip"].as_str().is_some(), "{dev}");
    assert!(
        dev.get("stream_key").is_none(),
        "the key is shown only once: {dev}"
    );
    let (_, ch) = bob.get(&format!("/api/v1/channels/{channel_id}")).await;
    assert_eq!(ch["live"], true, "{ch}");

    // A second publisher with the same key while live is refused (no takeover by default).
    assert_refused(&node, &key).await;

    // Rotating the key with kick: the old key's publisher is gone, the old key is refused.
    let (s, rotated) = bob
        .post(
            &format!("/api/v1/devices/{device_id}/rotate-key"),
            json!({"kick": true}),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new_key = rotated["stream_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    let out = wait_child_async(pusher, Duration::from_secs(20)).await;
    assert!(!out.status.success(), "the kicked ffmpeg should fail");
    assert_refused(&node, &key).await;

    // Disabled device: refused; enabled again: publishes.
    let (s, _) = bob
        .patch(
            &format!("/api/v1/devices/{device_id}"),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(s, 200);
    assert_refused(&node, &new_key).await;
    let (s, _) = bob
        .patch(
            &format!("/api/v1/devices/{device_id}"),
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(s, 200);

    // Banned channel (admin only): refused; resumed: publishes, and kick from the API works.
    let (s, _) = bob
        .post(&format!("/api/v1/channels/{channel_id}/ban"), json!({}))
        .await;
    assert_eq!(s, 403, "only admins ban");
    let (s, b) = admin
        .post(
            &format!("/api/v1/channels/{channel_id}/ban"),
            json!({"reason": "terms of service"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["banned"], true);
    assert_refused(&node, &new_key).await;
    let (s, _) = get_text(&llhls).await;
    assert_eq!(s, 403, "a banned channel does not play");
    let (s, _) = admin
        .post(&format!("/api/v1/channels/{channel_id}/resume"), json!({}))
        .await;
    assert_eq!(s, 200);
    let pusher = push_looped(&node, &new_key);
    wait_live(&bob, &channel_id).await;
    let (s, k) = bob
        .post(&format!("/api/v1/channels/{channel_id}/kick"), json!({}))
        .await;
    assert!(s == 200 || s == 204, "{s} {k}");
    let out = wait_child_async(pusher, Duration::from_secs(20)).await;
    assert!(!out.status.success(), "the kicked ffmpeg should fail");

    // Every refusal left an audit row; the history has the publish sessions with end reasons.
    assert_eq!(denied_publishes(&node).await, 6);
    // Ends are recorded off the ingest path: give them a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let sessions = loop {
        let sessions = node
            .sys()
            .db
            .list_publish_sessions(
                &onair_server::db::publish_sessions::PublishSessionFilter {
                    channel_id: Some(&channel_id),
                    ..Default::default()
                },
                onair_server::db::Page::new(Some(50), None),
            )
            .await
            .unwrap();
        if sessions.iter().all(|s| s.ended_at.is_some()) || std::time::Instant::now() > deadline {
            break sessions;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(
        sessions.iter().all(|s| s.ended_at.is_some()),
        "{sessions:?}"
    );
    // Newest first: the kicked one, then the one cut off by the key rotation.
    assert_eq!(
        sessions[0].end_reason.as_deref(),
        Some("kicked"),
        "{sessions:?}"
    );
    assert_eq!(
        sessions[1].end_reason.as_deref(),
        Some("key_rotated"),
        "{sessions:?}"
    );
    assert_eq!(sessions[1].width, Some(320));
    assert!(sessions[1].bytes > 10_000, "{sessions:?}");
    let metrics = get_text(&node.url("/metrics")).await.1;
    assert!(
        metrics.contains("onair_stream_key_refused_total"),
        "refusals are counted"
    );
    node.stop().await;
}

/// Guessing stream keys is rate-limited per address: after the limit even a valid key is
/// refused from that address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_key_guessing_is_rate_limited() {
    let node = TestNode::start_on(Backend::Sqlite, |s| {
        keyed(s);
        s.limits.stream_key_failures_per_ip = RateLimit {
            max: 3,
            per: Duration::from_secs(600),
        };
    })
    .await;
    let bob = user(&node, "bob@example.com", Role::Broadcaster).await;
    let (_, _, key) = channel_with_device(&bob, "bobtv").await;
    for i in 0..3 {
        assert_refused(&node, &format!("guess-{i}")).await;
    }
    assert_refused(&node, &key).await;
    let metrics = get_text(&node.url("/metrics")).await.1;
    assert!(
        metrics.contains("onair_stream_key_rate_limited_total"),
        "{metrics}"
    );
    node.stop().await;
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Every URI a playlist lists (URI lines and `URI="…"` attributes).
fn playlist_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('#') {
            out.push(line.to_owned());
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("URI=\"") {
            rest = &rest[i + 5..];
            let end = rest.find('"').unwrap();
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

/// Resolves a playlist's relative `uri` against the playlist's URL.
fn resolve(playlist_url: &str, uri: &str) -> String {
    let base = playlist_url.split('?').next().unwrap();
    let dir = base.rsplit_once('/').unwrap().0;
    format!("{dir}/{uri}")
}

async fn status(url: &str) -> u16 {
    get(url).await.status().as_u16()
}

/// Fetches a signed LL-HLS stream the way a player does: the multivariant playlist, the media
/// playlist it names, and every init section, part and segment that one lists. Every URI must
/// carry a signature (checked by `signed`) and every fetch must succeed.
async fn play_signed(url: &str, signed: impl Fn(&str) -> bool) -> usize {
    let (s, multivariant) = get_text(url).await;
    assert_eq!(s, 200, "{url}: {multivariant}");
    let variants = playlist_uris(&multivariant);
    assert_eq!(variants.len(), 1, "{multivariant}");
    assert!(signed(&variants[0]), "unsigned variant URI: {multivariant}");
    let media_url = resolve(url, &variants[0]);
    let (s, media) = get_text(&media_url).await;
    assert_eq!(s, 200, "{media_url}: {media}");
    let uris = playlist_uris(&media);
    assert!(uris.len() > 3, "{media}");
    let mut fetched = 0;
    for uri in &uris {
        assert!(signed(uri), "unsigned URI {uri} in {media}");
        if uri.contains("PRELOAD") {
            continue;
        }
        let u = resolve(&media_url, uri);
        // The preload hint names a part that does not exist yet: it blocks until it does.
        assert_eq!(status(&u).await, 200, "{u}");
        fetched += 1;
    }
    fetched
}

fn tamper(token: &str) -> String {
    let mut t: Vec<char> = token.chars().collect();
    let i = t.len() / 2;
    t[i] = if t[i] == 'A' { 'B' } else { 'A' };
    t.into_iter().collect()
}

async fn playback_authorization(backend: Backend) {
    let alibaba_key = "alibaba-type-a-private-key-0123456789";
    let node = TestNode::start_on(backend, |s| {
        keyed(s);
        s.alibaba_auth_key = Some(alibaba_key.to_owned());
    })
    .await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let friend = user(&node, "friend@example.com", Role::Viewer).await;
    let stranger = user(&node, "stranger@example.com", Role::Viewer).await;
    let admin = user(&node, "root@example.com", Role::Admin).await;
    let (channel_id, _, key) = channel_with_device(&owner, "show").await;
    let (other_id, _, _) = channel_with_device(&owner, "other").await;
    let anon = Api::anonymous(&node.http);
    let friend_id = friend.get("/api/v1/me").await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let pusher = push_looped(&node, &key);
    let llhls = node.url("/live/show/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(20)).await;
    // Let a few segments complete so the playlist lists parts and segments.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let set_visibility = |v: &'static str| {
        let owner = owner.clone();
        let path = format!("/api/v1/channels/{channel_id}");
        async move {
            let (s, b) = owner.patch(&path, json!({"visibility": v})).await;
            assert_eq!(s, 200, "{b}");
        }
    };
    let objects = [
        "/live/show/index.m3u8",
        "/live/show/llhls.m3u8",
        "/live/show/ts/index.m3u8",
    ];

    // public: anyone, cacheable by shared caches.
    for p in objects {
        let res = anon.request(reqwest::Method::GET, p).send().await.unwrap();
        assert_eq!(res.status(), 200, "{p}");
        let cc = res.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cc.starts_with("public"), "{p}: {cc}");
    }

    // authenticated: anonymous 401, any signed-in user or token 200 (and private to them).
    set_visibility("authenticated").await;
    for p in objects {
        let (s, body) = anon.get(p).await;
        assert_eq!(s, 401, "{p}: {body}");
        let res = stranger
            .request(reqwest::Method::GET, p)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{p}");
        let cc = res.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cc.starts_with("private"), "{p}: {cc}");
    }
    let token_api = stranger.with_token(&["read"]).await;
    assert_eq!(
        token_api
            .request(reqwest::Method::GET, objects[1])
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // private: owner, admin and granted users only.
    set_visibility("private").await;
    assert_eq!(anon.get(objects[1]).await.0, 401);
    assert_eq!(stranger.get(objects[1]).await.0, 403);
    assert_eq!(friend.get(objects[1]).await.0, 403);
    let (s, b) = owner
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/channels/{channel_id}/grants/{friend_id}"),
            None,
        )
        .await;
    assert!(s == 204 || s == 200, "{s} {b}");
    for api in [&owner, &admin, &friend] {
        let res = api
            .request(reqwest::Method::GET, objects[1])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // Revoking the grant stops the friend at once (no stale cached permission), granting
    // again lets them back in.
    let grant_path = format!("/api/v1/channels/{channel_id}/grants/{friend_id}");
    assert_eq!(owner.delete(&grant_path).await.0, 204);
    assert_eq!(friend.get(objects[1]).await.0, 403);
    let (s, _) = owner.call(reqwest::Method::PUT, &grant_path, None).await;
    assert!(s == 204 || s == 200);
    assert_eq!(
        friend
            .request(reqwest::Method::GET, objects[1])
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A user who may not watch cannot mint a signed URL either.
    let (s, _) = stranger
        .post(
            &format!("/api/v1/channels/{channel_id}/playback-url"),
            json!({}),
        )
        .await;
    assert!(s == 403 || s == 404, "{s}");

    // signed: nothing plays without a signature, not even for the owner's cookie.
    set_visibility("signed").await;
    for p in objects {
        let (s, body) = anon.get(p).await;
        assert_eq!(s, 403, "{p}: {body}");
    }
    let (s, urls) = friend
        .post(
            &format!("/api/v1/channels/{channel_id}/playback-url"),
            json!({"ttl_seconds": 600}),
        )
        .await;
    assert_eq!(s, 200, "{urls}");
    let hls = urls["hls"].as_str().unwrap().to_owned();
    let token = urls["query"]
        .as_str()
        .unwrap()
        .strip_prefix("token=")
        .unwrap()
        .to_owned();
    assert!(
        hls.starts_with(&node.http) || hls.contains("/live/show/index.m3u8"),
        "{urls}"
    );
    let hls = node.url(&hls[hls.find("/live/").unwrap()..]);
    let fetched = play_signed(&hls, |u| u.contains(&format!("token={token}"))).await;
    assert!(fetched > 3);
    // The classic HLS playlist and HTTP-FLV under the same token.
    let ts_url = node.url(&format!("/live/show/ts/index.m3u8?token={token}"));
    let (s, ts) = get_text(&ts_url).await;
    assert_eq!(s, 200);
    let seg = playlist_uris(&ts).pop().unwrap();
    assert!(seg.contains("token="), "{ts}");
    assert_eq!(status(&resolve(&ts_url, &seg)).await, 200);
    let seg_unsigned = resolve(&ts_url, seg.split('?').next().unwrap());
    let (s, _) = get_text(&seg_unsigned).await;
    assert_eq!(s, 403, "a segment without the token");
    let flv = get(&node.url(&format!("/live/show.flv?token={token}"))).await;
    assert_eq!(flv.status(), 200);
    drop(flv);

    // Refused signatures are 403 problem+json, for playlists and media objects alike.
    let keys = &node.sys().playback.signed;
    let sign = |scope: &str, expires: u64, ip: Option<IpAddr>| {
        signed_url::sign(
            keys,
            &signed_url::Grant {
                scope: scope.to_owned(),
                expires,
                user_id: String::new(),
                client_ip: ip,
            },
        )
        .unwrap()
    };
    let expired = sign("/live/show/", now_unix() - 10, None);
    let wrong_scope = sign("/live/other/", now_unix() + 600, None);
    let wrong_ip = sign(
        "/live/show/",
        now_unix() + 600,
        Some("10.1.2.3".parse().unwrap()),
    );
    let right_ip = sign(
        "/live/show/",
        now_unix() + 600,
        Some("127.0.0.1".parse().unwrap()),
    );
    // One object of every type: playlists, init section, part, segment, TS segment, FLV.
    let llhls_uris = playlist_uris(
        &get_text(&node.url(&format!("/live/show/llhls.m3u8?token={token}")))
            .await
            .1,
    );
    let ts_uris = playlist_uris(
        &get_text(&node.url(&format!("/live/show/ts/index.m3u8?token={token}")))
            .await
            .1,
    );
    let object = |uris: &[String], dir: &str, kind: &str| {
        let u = uris.iter().find(|u| u.contains(kind)).unwrap();
        format!("{dir}{}", u.split('?').next().unwrap())
    };
    let init_path = object(&llhls_uris, "/live/show/", "/init/");
    let part_path = object(&llhls_uris, "/live/show/", "/part/");
    let seg_path = object(&llhls_uris, "/live/show/", "/seg/");
    let ts_path = object(&ts_uris, "/live/show/ts/", ".ts");
    for path in [
        "/live/show/index.m3u8",
        "/live/show/llhls.m3u8",
        "/live/show/ts/index.m3u8",
        init_path.as_str(),
        part_path.as_str(),
        seg_path.as_str(),
        ts_path.as_str(),
        "/live/show.flv",
    ] {
        for (what, t) in [
            ("expired", expired.clone()),
            ("tampered", tamper(&token)),
            ("wrong scope", wrong_scope.clone()),
            ("wrong ip", wrong_ip.clone()),
            ("garbage", "x".repeat(5000)),
        ] {
            let res = get(&node.url(&format!("{path}?token={t}"))).await;
            assert_eq!(res.status(), 403, "{what} token on {path}");
            assert_eq!(
                res.headers()[header::CONTENT_TYPE],
                "application/problem+json",
                "{what} token on {path}"
            );
        }
        assert_eq!(
            status(&node.url(&format!("{path}?token={right_ip}"))).await,
            200,
            "{path}"
        );
    }
    // A token for the other channel does not open this one, and vice versa.
    let other_token = sign("/live/other/", now_unix() + 600, None);
    assert_eq!(
        status(&node.url(&format!("/live/show/llhls.m3u8?token={other_token}"))).await,
        403
    );
    let _ = other_id;

    // Alibaba type A: the API signs the multivariant URL; each child is signed on its own.
    let (s, urls) = owner
        .post(
            &format!("/api/v1/channels/{channel_id}/playback-url"),
            json!({"format": "alibaba", "ttl_seconds": 600}),
        )
        .await;
    assert_eq!(s, 200, "{urls}");
    let hls = urls["hls"].as_str().unwrap();
    let hls = node.url(&hls[hls.find("/live/").unwrap()..]);
    let fetched = play_signed(&hls, |u| u.contains("auth_key=")).await;
    assert!(fetched > 3);
    // A URL signed by independent code (the CDN's formula) plays; expired and tampered do not.
    let md5 = |s: &str| {
        use md5::Digest;
        data_encoding::HEXLOWER.encode(&md5::Md5::digest(s.as_bytes()))
    };
    let path = "/live/show/llhls.m3u8";
    let ts = now_unix();
    let hash = md5(&format!("{path}-{ts}-abc123-0-{alibaba_key}"));
    assert_eq!(
        status(&node.url(&format!("{path}?auth_key={ts}-abc123-0-{hash}"))).await,
        200
    );
    let old = ts - 3600;
    let hash_old = md5(&format!("{path}-{old}-abc123-0-{alibaba_key}"));
    assert_eq!(
        status(&node.url(&format!("{path}?auth_key={old}-abc123-0-{hash_old}"))).await,
        403
    );
    let other_path_hash = md5(&format!(
        "/live/other/llhls.m3u8-{ts}-abc123-0-{alibaba_key}"
    ));
    assert_eq!(
        status(&node.url(&format!("{path}?auth_key={ts}-abc123-0-{other_path_hash}"))).await,
        403
    );
    assert!(
        alibaba::verify(
            path,
            &format!("{ts}-abc123-0-{hash}"),
            ts,
            1800,
            &[alibaba_key.as_bytes()]
        )
        .is_ok()
    );

    // Viewers: distinct signed sessions count as distinct viewers.
    let (_, ch) = owner.get(&format!("/api/v1/channels/{channel_id}")).await;
    assert!(ch["viewers"].as_u64().unwrap() >= 2, "{ch}");
    let metrics = get_text(&node.url("/metrics")).await.1;
    assert!(
        metrics.contains("onair_stream_viewers{channel=\"show\""),
        "viewer gauge"
    );
    assert!(
        metrics.contains("onair_playback_refused_total"),
        "refusal counter"
    );

    let mut pusher = pusher;
    pusher.kill().ok();
    pusher.wait().ok();
    node.stop().await;
}

/// Key rotation: URLs signed with the secondary (previous) key still play, for OnAir tokens
/// and Alibaba type A alike; URLs signed with any other key do not. Authorization runs before
/// the live lookup, so on a channel that is not live an accepted URL is a 404 and a refused
/// one a 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_key_rotation_accepts_the_secondary_key() {
    let old = "0123456789abcdef0123456789abcdef-old";
    let new = "0123456789abcdef0123456789abcdef-new";
    let node = TestNode::start_on(Backend::Sqlite, |s| {
        keyed(s);
        s.playback_signing_key = Some(new.to_owned());
        s.playback_signing_key_secondary = Some(old.to_owned());
        s.alibaba_auth_key = Some("ali-new".to_owned());
        s.alibaba_auth_key_secondary = Some("ali-old".to_owned());
    })
    .await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (channel_id, _, _) = channel_with_device(&owner, "show").await;
    let (s, _) = owner
        .patch(
            &format!("/api/v1/channels/{channel_id}"),
            json!({"visibility": "signed"}),
        )
        .await;
    assert_eq!(s, 200);
    let grant = signed_url::Grant {
        scope: "/live/show/".into(),
        expires: now_unix() + 600,
        user_id: "u1".into(),
        client_ip: None,
    };
    let path = "/live/show/llhls.m3u8";
    for (key, expect) in [
        (old, 404),
        (new, 404),
        ("another key, long enough: 0123456789", 403),
    ] {
        let keys = signed_url::SigningKeys::new(key.as_bytes(), None).unwrap();
        let token = signed_url::sign(&keys, &grant).unwrap();
        assert_eq!(
            status(&node.url(&format!("{path}?token={token}"))).await,
            expect,
            "token signed with {key:?}"
        );
    }
    let ts = now_unix();
    for (key, expect) in [("ali-old", 404), ("ali-new", 404), ("ali-other", 403)] {
        let k = alibaba::sign(path, ts, "r1", "0", key.as_bytes()).unwrap();
        assert_eq!(
            status(&node.url(&format!("{path}?auth_key={k}"))).await,
            expect,
            "auth_key signed with {key:?}"
        );
    }
    // Without a signature: 403 on a signed channel, whether or not it is live.
    assert_eq!(status(&node.url(path)).await, 403);
    node.stop().await;
}

/// A broadcaster's `signed` channel "show" with a viewer granted to watch it: (owner, friend,
/// friend's user id, channel id).
async fn signed_channel_with_a_friend(node: &TestNode) -> (Api, Api, String, String) {
    let owner = user(node, "owner@example.com", Role::Broadcaster).await;
    let friend = user(node, "friend@example.com", Role::Viewer).await;
    let friend_id = friend.get("/api/v1/me").await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (channel_id, _, _) = channel_with_device(&owner, "show").await;
    let ch = format!("/api/v1/channels/{channel_id}");
    assert_eq!(
        owner.patch(&ch, json!({"visibility": "signed"})).await.0,
        200
    );
    let grant = format!("{ch}/grants/{friend_id}");
    assert_eq!(owner.call(reqwest::Method::PUT, &grant, None).await.0, 204);
    (owner, friend, friend_id, channel_id)
}

/// Signed URLs are bound to who may watch at the time they were issued: a revoked grant, a
/// visibility change, a rename, or a new channel under a reused name ends them. Names that
/// still belong to a stream on the node cannot be taken. (Authorization runs before the live
/// lookup: an accepted URL on a channel that is not live is a 404, a refused one a 403.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_end_when_access_changes() {
    let node = TestNode::start_on(Backend::Sqlite, keyed).await;
    let (owner, friend, friend_id, channel_id) = signed_channel_with_a_friend(&node).await;
    let ch = format!("/api/v1/channels/{channel_id}");
    let grant = format!("{ch}/grants/{friend_id}");
    let mint = |api: &Api| {
        let api = api.clone();
        let path = format!("{ch}/playback-url");
        async move {
            let (s, urls) = api.post(&path, json!({})).await;
            assert_eq!(s, 200, "{urls}");
            urls["query"].as_str().unwrap().to_owned()
        }
    };
    let play = |q: String, slug: &'static str| {
        let url = node.url(&format!("/live/{slug}/llhls.m3u8?{q}"));
        async move { status(&url).await }
    };
    // Revoking the grant ends the friend's URL.
    let friends = mint(&friend).await;
    assert_eq!(play(friends.clone(), "show").await, 404);
    assert_eq!(owner.delete(&grant).await.0, 204);
    assert_eq!(play(friends, "show").await, 403);
    // A visibility change ends earlier URLs (even the owner's).
    let owners = mint(&owner).await;
    assert_eq!(play(owners.clone(), "show").await, 404);
    assert_eq!(
        owner.patch(&ch, json!({"visibility": "private"})).await.0,
        200
    );
    assert_eq!(
        owner.patch(&ch, json!({"visibility": "signed"})).await.0,
        200
    );
    assert_eq!(play(owners, "show").await, 403);
    // A rename ends them; so does a new channel under the old name.
    let owners = mint(&owner).await;
    assert_eq!(owner.patch(&ch, json!({"slug": "renamed"})).await.0, 200);
    let (other_id, _, _) = channel_with_device(&owner, "show").await;
    assert_eq!(
        owner
            .patch(
                &format!("/api/v1/channels/{other_id}"),
                json!({"visibility": "signed"})
            )
            .await
            .0,
        200
    );
    assert_eq!(play(owners.clone(), "show").await, 403);
    assert_eq!(
        play(owners, "renamed").await,
        403,
        "a token covers one name"
    );

    // A name still used by a stream on this node is not handed out.
    let registry = node.server.as_ref().unwrap().registry.clone();
    let _publisher = registry
        .start_publish("busy", "127.0.0.1:1".into())
        .await
        .unwrap();
    let (s, p) = owner
        .post("/api/v1/channels", json!({"slug": "busy", "title": "x"}))
        .await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("is live"), "{p}");
    assert_eq!(owner.patch(&ch, json!({"slug": "busy"})).await.0, 409);
    // Another channel's name is taken for good, and the message says so (issue #12: it said
    // "try again later").
    owner
        .post("/api/v1/channels", json!({"slug": "taken", "title": "x"}))
        .await;
    let (s, p) = owner
        .post("/api/v1/channels", json!({"slug": "taken", "title": "y"}))
        .await;
    assert_eq!(s, 409, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("another channel") && !detail.contains("later"),
        "{p}"
    );

    // Names that cannot be channels are refused before any lookup.
    let long = "x".repeat(65);
    assert_eq!(
        status(&node.url(&format!("/live/{long}/llhls.m3u8"))).await,
        404
    );
    assert_eq!(status(&node.url("/live/a%20b/llhls.m3u8")).await, 404);
    node.stop().await;
}

/// Alibaba type A URLs from the API are bound like tokens: their `uid` names the user and the
/// channel's playback epoch (inside the MD5 the CDN checks, so the format stays the CDN's), and
/// a revoked grant, a visibility change, a rename or a new channel under a reused name ends
/// them, with the children a signed playlist lists. URLs signed elsewhere with the key (no
/// epoch in `uid`) are accepted as they are. (Not live: accepted is 404, refused 403.)
async fn alibaba_urls_end_when_access_changes(backend: Backend) {
    let key = "alibaba-type-a-private-key-0123456789";
    let node = TestNode::start_on(backend, |s| {
        keyed(s);
        s.alibaba_auth_key = Some(key.to_owned());
    })
    .await;
    let (owner, friend, friend_id, channel_id) = signed_channel_with_a_friend(&node).await;
    let ch = format!("/api/v1/channels/{channel_id}");
    let grant = format!("{ch}/grants/{friend_id}");
    let md5 = |s: &str| {
        use md5::Digest;
        data_encoding::HEXLOWER.encode(&md5::Md5::digest(s.as_bytes()))
    };
    // The three URLs (path and query) the API hands out.
    let mint = |api: &Api| {
        let api = api.clone();
        let path = format!("{ch}/playback-url");
        async move {
            let (s, urls) = api
                .post(&path, json!({"format": "alibaba", "ttl_seconds": 600}))
                .await;
            assert_eq!(s, 200, "{urls}");
            ["hls", "ts", "flv"].map(|k| {
                let u = urls[k].as_str().unwrap();
                u[u.find("/live/").unwrap()..].to_owned()
            })
        }
    };
    // What a playlist served under `url` lists: another path signed with the same timestamp,
    // rand and uid.
    let child = |url: &str| {
        let (path, query) = url.split_once("?auth_key=").unwrap();
        let f: Vec<&str> = query.split('-').collect();
        let (ts, rand, uid) = (f[0].parse().unwrap(), f[1], f[2]);
        let dir = path.rsplit_once('/').unwrap().0;
        let child = format!("{dir}/llhls.m3u8");
        let k = alibaba::sign(&child, ts, rand, uid, key.as_bytes()).unwrap();
        format!("{child}?auth_key={k}")
    };
    let statuses = |urls: Vec<String>| {
        let urls: Vec<String> = urls.iter().map(|u| node.url(u)).collect();
        async move {
            let mut out = Vec::new();
            for u in &urls {
                out.push(status(u).await);
            }
            out
        }
    };
    let epoch = |id: String| {
        let sys = node.sys();
        async move { sys.db.channel(&id).await.unwrap().unwrap().playback_epoch }
    };

    // The friend's URLs: the uid is `{user}~{epoch}`, the hash the CDN's formula over it.
    let friends = mint(&friend).await;
    let (path, query) = friends[0].split_once("?auth_key=").unwrap();
    let f: Vec<&str> = query.split('-').collect();
    assert_eq!(
        f[2],
        format!("{friend_id}~{}", epoch(channel_id.clone()).await)
    );
    assert_eq!(
        f[3],
        md5(&format!("{path}-{}-{}-{}-{key}", f[0], f[1], f[2]))
    );
    let with_child = |urls: [String; 3]| {
        let mut v = urls.to_vec();
        v.push(child(&urls[0]));
        v
    };
    assert_eq!(statuses(with_child(friends.clone())).await, [404; 4]);
    // Revoking the grant ends them, children included.
    assert_eq!(owner.delete(&grant).await.0, 204);
    assert_eq!(statuses(with_child(friends)).await, [403; 4]);

    // A visibility change ends earlier URLs (even the owner's).
    let owners = mint(&owner).await;
    assert_eq!(statuses(with_child(owners.clone())).await, [404; 4]);
    for v in ["private", "signed"] {
        assert_eq!(owner.patch(&ch, json!({"visibility": v})).await.0, 200);
    }
    assert_eq!(statuses(with_child(owners)).await, [403; 4]);

    // A rename ends them; so does a new channel under the old name.
    let owners = mint(&owner).await;
    assert_eq!(statuses(with_child(owners.clone())).await, [404; 4]);
    assert_eq!(owner.patch(&ch, json!({"slug": "renamed"})).await.0, 200);
    let (other_id, _, _) = channel_with_device(&owner, "show").await;
    assert_eq!(
        owner
            .patch(
                &format!("/api/v1/channels/{other_id}"),
                json!({"visibility": "signed"})
            )
            .await
            .0,
        200
    );
    assert_eq!(statuses(with_child(owners)).await, [403; 4]);
    // The new channel's own URLs play.
    let (s, urls) = owner
        .post(
            &format!("/api/v1/channels/{other_id}/playback-url"),
            json!({"format": "alibaba"}),
        )
        .await;
    assert_eq!(s, 200, "{urls}");
    let hls = urls["hls"].as_str().unwrap();
    assert_eq!(
        status(&node.url(&hls[hls.find("/live/").unwrap()..])).await,
        404
    );

    // Signed elsewhere with the key, without an epoch: accepted as it is. A forged epoch
    // needs the key too (the hash covers the uid).
    let path = "/live/show/llhls.m3u8";
    let ts = now_unix();
    let k = alibaba::sign(path, ts, "r1", "0", key.as_bytes()).unwrap();
    assert_eq!(
        status(&node.url(&format!("{path}?auth_key={k}"))).await,
        404
    );
    let current = epoch(other_id.clone()).await;
    let hash = md5(&format!("{path}-{ts}-r1-{friend_id}~1-{key}"));
    let forged = format!("{ts}-r1-{friend_id}~{current}-{hash}");
    assert_eq!(
        status(&node.url(&format!("{path}?auth_key={forged}"))).await,
        403
    );
    let metrics = get_text(&node.url("/metrics")).await.1;
    assert!(
        metrics.contains("onair_playback_refused_total{reason=\"epoch\"}"),
        "refusals are counted"
    );
    node.stop().await;
}

/// Behind our own proxies (`--trusted-proxies`), the address their `X-Forwarded-For` names is
/// the client: a link bound to the viewer's address works through the edge, a client-forged
/// entry left of it is not believed, and without the setting the header is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_trusted_proxies_the_forwarded_address_is_the_client() {
    for trusted in [true, false] {
        let node = TestNode::start_on(Backend::Sqlite, |s| {
            keyed(s);
            if trusted {
                s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            }
        })
        .await;
        let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
        let (channel_id, _, _) = channel_with_device(&owner, "show").await;
        let (s, _) = owner
            .patch(
                &format!("/api/v1/channels/{channel_id}"),
                json!({"visibility": "signed"}),
            )
            .await;
        assert_eq!(s, 200);
        let token = signed_url::sign(
            &node.sys().playback.signed,
            &signed_url::Grant {
                scope: "/live/show/".into(),
                expires: now_unix() + 600,
                user_id: String::new(),
                client_ip: Some("203.0.113.7".parse().unwrap()),
            },
        )
        .unwrap();
        let url = node.url(&format!("/live/show/index.m3u8?token={token}"));
        let c = reqwest::Client::new();
        let status = |xff: Option<&'static str>| {
            let mut r = c.get(&url);
            if let Some(v) = xff {
                r = r.header("x-forwarded-for", v);
            }
            async move { r.send().await.unwrap().status().as_u16() }
        };
        // Authorized but not live is 404; refused is 403.
        assert_eq!(status(None).await, 403, "trusted={trusted}");
        let via_edge = status(Some("203.0.113.7")).await;
        let forged = status(Some("203.0.113.7, 198.51.100.1")).await;
        let via_two_proxies = status(Some("203.0.113.7, 127.0.0.2")).await;
        if trusted {
            assert_eq!(via_edge, 404, "the edge's client is the viewer");
            assert_eq!(
                forged, 403,
                "the proxy saw 198.51.100.1; the rest is the client's"
            );
            assert_eq!(via_two_proxies, 404, "both hops are ours");
        } else {
            assert_eq!(via_edge, 403, "X-Forwarded-For from anyone is ignored");
            assert_eq!(via_two_proxies, 403);
        }
        node.stop().await;
    }
}

on_both!(
    publish_with_stream_keys,
    playback_authorization,
    alibaba_urls_end_when_access_changes,
);

/// `--publish-takeover`: a second publisher of a live channel replaces the first, which is
/// disconnected, and the stream goes on live with the second (the takeover waits for the first
/// to let go, woken by the registry rather than polling it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_replaces_the_live_publisher() {
    let node = TestNode::start_with(|s| {
        keyed(s);
        s.publish_takeover = true;
    })
    .await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (channel_id, _, key) = channel_with_device(&owner, "show").await;
    let first = push_looped(&node, &key);
    wait_live(&owner, &channel_id).await;
    let mut second = push_looped(&node, &key);
    let out = wait_child_async(first, Duration::from_secs(20)).await;
    assert!(!out.status.success(), "the replaced ffmpeg is disconnected");
    // The second one is the publisher now: the stream is live, not waiting for a reconnect.
    let stream = eventually(
        Duration::from_secs(15),
        "the stream live again",
        async || {
            let (_, list) = owner.get("/api/v1/streams").await;
            list["streams"]
                .as_array()
                .and_then(|a| a.iter().find(|s| s["channel"] == "show").cloned())
                .filter(|s| s["state"] == "live")
        },
    )
    .await;
    assert_eq!(stream["state"], "live", "{stream}");
    assert!(
        second.try_wait().unwrap().is_none(),
        "the new publisher is still on air"
    );
    second.kill().ok();
    second.wait().ok();
    node.stop().await;
}
