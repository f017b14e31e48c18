//! Recordings: a finished stream becomes a recording (catalogue row, `record.done` webhook),
//! plays back from the store through the origin under the channel's rules, downloads as one
//! MP4 with the full duration, and is deleted by the API, by the channel's "do not record"
//! setting, by the retention sweeper, or with its channel. A recording belongs to the channel
//! that published it, whatever has its slug later (security issue #10). On SQLite and
//! PostgreSQL.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::api::{channel_with_device, complete_recording, download_recording, user};
use common::db::Backend;
use common::s3::{S3Server, use_s3};
use common::*;
use onair_server::db::users::Role;
use serde_json::{Value, json};

/// Publishes the fixture with `key` to its end.
async fn push_to_end(node: &TestNode, key: &str) {
    let child = push(node, key, LIVE_FIXTURE);
    let out = wait_child_async(child, Duration::from_secs(60)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn publish_fixture(node: &TestNode, key: &str, slug: &str) {
    push_to_end(node, key).await;
    wait_endlist(
        &node.url(&format!("/live/{slug}/llhls.m3u8")),
        Duration::from_secs(20),
    )
    .await;
}

async fn recordings(backend: Backend) {
    let node = TestNode::start_on(backend, keyed).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let other = user(&node, "other@example.com", Role::Broadcaster).await;
    let (channel_id, _, key) = channel_with_device(&owner, "show").await;
    publish_fixture(&node, &key, "show").await;

    let rec = complete_recording(&owner, &channel_id).await;
    let id = rec["id"].as_str().unwrap().to_owned();
    let duration = rec["duration_ms"].as_i64().unwrap();
    assert!((7_600..=8_400).contains(&duration), "{rec}");
    assert!(rec["segments"].as_i64().unwrap() >= 7, "{rec}");
    assert!(rec["bytes"].as_i64().unwrap() > 100_000, "{rec}");
    // Dated within this run (issue #12: every recording was dated 1970).
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let started = rec["started_at"].as_i64().unwrap();
    let ended = rec["ended_at"].as_i64().unwrap();
    assert!(
        before - 1_000 <= started && started < ended && ended <= after,
        "{before} {rec} {after}"
    );
    assert_eq!(rec["channel_slug"], "show");
    assert_eq!(
        rec["codecs"]
            .as_str()
            .map(|c| c.contains("avc1") && c.contains("mp4a")),
        Some(true),
        "{rec}"
    );
    assert_eq!(
        (rec["width"].as_i64(), rec["height"].as_i64()),
        (Some(320), Some(240)),
        "{rec}"
    );
    // Another broadcaster sees nothing of it.
    assert_eq!(other.get(&format!("/api/v1/recordings/{id}")).await.0, 404);
    let (_, theirs) = other.get("/api/v1/recordings").await;
    assert!(!theirs.to_string().contains(&id));

    // A public channel's recording plays from the store through the origin, every frame.
    let vod = node.url(&format!("/vod/{id}/index.m3u8"));
    let (s, text) = get_text(&vod).await;
    assert_eq!(s, 200, "{text}");
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.contains("#EXT-X-ENDLIST"));
    let url = vod.clone();
    let probe = tokio::task::spawn_blocking(move || ffprobe(&url, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        probe.stream("video").map(|v| v.packets),
        Some(LIVE_FIXTURE_VIDEO_FRAMES),
        "{probe:?}"
    );
    assert_eq!(status_of(&node.url(&format!("/vod/{id}/../x"))).await, 404);

    // Signed channel: the recording needs a signed URL, which carries over to every URI.
    let (s, _) = owner
        .patch(
            &format!("/api/v1/channels/{channel_id}"),
            json!({"visibility": "signed"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(status_of(&vod).await, 403);
    let (s, urls) = owner
        .post(&format!("/api/v1/recordings/{id}/playback-url"), json!({}))
        .await;
    assert_eq!(s, 200, "{urls}");
    let hls = urls["hls"].as_str().unwrap();
    let hls = node.url(&hls[hls.find("/vod/").unwrap()..]);
    let (s, signed) = get_text(&hls).await;
    assert_eq!(s, 200, "{signed}");
    assert!(
        signed
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.contains("token=")),
        "{signed}"
    );
    let url = hls.clone();
    let probe = tokio::task::spawn_blocking(move || ffprobe(&url, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        probe.stream("video").map(|v| v.packets),
        Some(LIVE_FIXTURE_VIDEO_FRAMES)
    );
    assert_eq!(
        other
            .post(&format!("/api/v1/recordings/{id}/playback-url"), json!({}))
            .await
            .0,
        404
    );

    // One MP4 file with the whole recording.
    let body = download_recording(&owner, &id).await;
    // The size the list shows is about the download's (issue #12: it counted the TS copy too):
    // the fragments' media, whose per-fragment headers become the MP4's one index.
    let bytes = rec["bytes"].as_i64().unwrap() as usize;
    assert!(
        body.len().abs_diff(bytes) < bytes / 10,
        "listed {bytes}, downloaded {}",
        body.len()
    );
    assert!(
        rec["stored_bytes"].as_i64().unwrap() as usize > bytes,
        "{rec}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec.mp4");
    std::fs::write(&file, &body).unwrap();
    let path = file.display().to_string();
    let probe = tokio::task::spawn_blocking(move || ffprobe(&path, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        probe.stream("video").map(|v| v.packets),
        Some(LIVE_FIXTURE_VIDEO_FRAMES)
    );
    assert!(probe.stream("audio").is_some());
    let (ok, err) = ffmpeg_decode(&file.display().to_string(), Duration::from_secs(60));
    assert!(ok, "{err}");
    // The full duration, as a player shows it.
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!((7.8..=8.3).contains(&secs), "MP4 duration {secs} s");

    // Deleting removes the objects and the row.
    assert_eq!(
        other.delete(&format!("/api/v1/recordings/{id}")).await.0,
        404
    );
    assert_eq!(
        owner.delete(&format!("/api/v1/recordings/{id}")).await.0,
        204
    );
    assert_eq!(owner.get(&format!("/api/v1/recordings/{id}")).await.0, 404);
    let keys = node
        .server
        .as_ref()
        .unwrap()
        .storage
        .store()
        .list(rec["prefix"].as_str().unwrap())
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    node.stop().await;
}

async fn status_of(url: &str) -> u16 {
    get(url).await.status().as_u16()
}

/// Channels that do not record keep nothing once the stream is stored; the retention sweeper
/// deletes exactly the recordings past their channel's retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_channels_and_retention() {
    let node = TestNode::start_on(Backend::Sqlite, keyed).await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (quiet_id, _, quiet_key) = channel_with_device(&owner, "quiet").await;
    let (s, _) = owner
        .patch(
            &format!("/api/v1/channels/{quiet_id}"),
            json!({"record": false}),
        )
        .await;
    assert_eq!(s, 200);
    let (kept_id, _, kept_key) = channel_with_device(&owner, "kept").await;
    let (old_id, _, old_key) = channel_with_device(&owner, "old").await;
    for (k, slug) in [
        (&quiet_key, "quiet"),
        (&kept_key, "kept"),
        (&old_key, "old"),
    ] {
        publish_fixture(&node, k, slug).await;
    }
    let kept = complete_recording(&owner, &kept_id).await;
    let old = complete_recording(&owner, &old_id).await;
    // The quiet channel's stream was stored while live, then dropped.
    let store = node.server.as_ref().unwrap().storage.store().clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = store.list(&format!("live/{quiet_id}/")).await.unwrap();
        let (_, list) = owner
            .get(&format!("/api/v1/recordings?channel_id={quiet_id}"))
            .await;
        if left.is_empty() && list["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{left:?} {list}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Retention: 1 day on both channels; only the recording that ended 2 days ago goes.
    for ch in [&kept_id, &old_id] {
        let (s, b) = owner
            .patch(
                &format!("/api/v1/channels/{ch}"),
                json!({"retention_days": 1}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = owner
        .patch(
            &format!("/api/v1/channels/{kept_id}"),
            json!({"retention_days": 0}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let two_days_ago = onair_server::db::now_ms() - 2 * 86_400_000;
    sqlx::query("UPDATE recordings SET ended_at = $1 WHERE id = $2")
        .bind(two_days_ago)
        .bind(old["id"].as_str().unwrap())
        .execute(node.sys().db.pool())
        .await
        .unwrap();
    let recorder = onair_server::recordings::Recorder {
        sys: node.sys().clone(),
        store: store.clone(),
    };
    assert_eq!(recorder.sweep().await, 1);
    assert_eq!(recorder.sweep().await, 0, "nothing else expired");
    assert_eq!(
        owner
            .get(&format!(
                "/api/v1/recordings/{}",
                old["id"].as_str().unwrap()
            ))
            .await
            .0,
        404
    );
    assert!(
        store
            .list(old["prefix"].as_str().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        owner
            .get(&format!(
                "/api/v1/recordings/{}",
                kept["id"].as_str().unwrap()
            ))
            .await
            .0,
        200
    );
    assert!(
        !store
            .list(kept["prefix"].as_str().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    node.stop().await;
}

/// A finished recording is announced to the owner's webhooks (`record.done`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_done_webhook() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::Null));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let node = TestNode::start_on(Backend::Sqlite, |s| {
        keyed(s);
        s.webhook_allow_private_targets = true;
    })
    .await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (channel_id, _, key) = channel_with_device(&owner, "show").await;
    let (s, w) = owner
        .post(
            "/api/v1/webhooks",
            json!({"url": hook, "events": ["record.done"]}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    publish_fixture(&node, &key, "show").await;
    let rec = complete_recording(&owner, &channel_id).await;
    let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("record.done was delivered")
        .unwrap();
    assert_eq!(event["type"], "record.done", "{event}");
    assert_eq!(event["data"]["channel_id"], channel_id.as_str());
    assert_eq!(event["data"]["object_prefix"], rec["prefix"]);
    assert_eq!(event["data"]["recording_id"], rec["id"]);
    assert_eq!(
        event["data"]["playlist_path"].as_str().unwrap(),
        format!("/vod/{}/index.m3u8", rec["id"].as_str().unwrap())
    );
    assert_eq!(
        event["data"]["duration_ms"].as_i64(),
        rec["duration_ms"].as_i64()
    );
    node.stop().await;
}

/// Waits until no stream on the node has `slug` (so a channel may take it).
async fn wait_slug_free(node: &TestNode, slug: &str) {
    let registry = &node.server.as_ref().unwrap().registry;
    eventually(Duration::from_secs(20), "the name to be free", async || {
        registry.get(slug).is_none().then_some(())
    })
    .await;
}

/// Files the S3 test server holds under `prefix` (readable while it is stopped).
fn stored_files(s3: &S3Server, prefix: &str) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => count(&e.path()),
                    _ => 1,
                })
                .sum()
        })
    }
    count(&s3.object_path(prefix))
}

/// A node whose ended streams let go of their channel's name after 3 s (instead of 60).
fn quick_release(s: &mut onair_server::config::Settings) {
    keyed(s);
    s.ended_retention = Duration::from_secs(3);
}

/// Security issue #10, finding 1: a private channel records, is renamed, and another
/// broadcaster creates a public channel with the old name and goes live. The old stream's
/// objects are not served under that name (its id no longer helps), while the new channel's
/// own earlier stream still is, and the owner still plays the recording from /vod.
async fn slug_reuse_does_not_expose_recordings(backend: Backend) {
    let node = TestNode::start_on(backend, quick_release).await;
    let alice = user(&node, "alice@example.com", Role::Broadcaster).await;
    let bob = user(&node, "bob@example.com", Role::Broadcaster).await;
    let (alice_ch, _, alice_key) = channel_with_device(&alice, "studio").await;
    let (s, b) = alice
        .patch(
            &format!("/api/v1/channels/{alice_ch}"),
            json!({"visibility": "private"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    push_to_end(&node, &alice_key).await;
    let rec = complete_recording(&alice, &alice_ch).await;
    let private_sid = rec["id"].as_str().unwrap().to_owned();
    assert_eq!(
        rec["prefix"].as_str(),
        Some(format!("live/{alice_ch}/{private_sid}/").as_str()),
        "stored under the channel's id, not its name"
    );
    let (s, b) = alice
        .patch(
            &format!("/api/v1/channels/{alice_ch}"),
            json!({"slug": "studio-old"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    wait_slug_free(&node, "studio").await;
    let (bob_ch, _, bob_key) = channel_with_device(&bob, "studio").await;
    push_to_end(&node, &bob_key).await;
    let earlier_sid = complete_recording(&bob, &bob_ch).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut pusher = push_looped(&node, &bob_key);
    let registry = node.server.as_ref().unwrap().registry.clone();
    eventually(Duration::from_secs(20), "bob's next stream", async || {
        registry
            .get("studio")
            .filter(|s| s.sid != earlier_sid && s.phase() == onair_server::stream::Phase::Live)
            .map(|_| ())
    })
    .await;
    wait_ok(
        &node.url("/live/studio/llhls.m3u8"),
        Duration::from_secs(20),
    )
    .await;

    let objects = |sid: &str| {
        [
            format!("/live/studio/{sid}/init/1.mp4"),
            format!("/live/studio/{sid}/seg/0.m4s"),
            format!("/live/studio/ts/{sid}/0.ts"),
        ]
    };
    for path in objects(&private_sid) {
        assert_eq!(status_of(&node.url(&path)).await, 404, "{path}");
    }
    for path in objects(&earlier_sid) {
        assert_eq!(status_of(&node.url(&path)).await, 200, "{path}");
    }

    // The recording stays the private channel's: refused to anyone else, played by its owner.
    let vod = node.url(&format!("/vod/{private_sid}/index.m3u8"));
    assert_eq!(status_of(&vod).await, 401);
    let (s, urls) = alice
        .post(
            &format!("/api/v1/recordings/{private_sid}/playback-url"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{urls}");
    let hls = urls["hls"].as_str().unwrap();
    let hls = node.url(&hls[hls.find("/vod/").unwrap()..]);
    let (s, text) = get_text(&hls).await;
    assert_eq!(s, 200, "{text}");
    let first = text
        .lines()
        .find(|l| l.starts_with("seg/"))
        .expect("a segment");
    let dir = &hls[..hls.rfind('/').unwrap()];
    assert_eq!(status_of(&format!("{dir}/{first}")).await, 200);
    assert_eq!(
        bob.post(
            &format!("/api/v1/recordings/{private_sid}/playback-url"),
            json!({})
        )
        .await
        .0,
        404
    );
    pusher.kill().ok();
    let _ = pusher.wait();
    node.stop().await;
}

/// Security issue #10, finding 2: deleting a channel deletes its recordings, rows and stored
/// objects, even while the object store is down: a finished recording through the sweeper
/// once the store is back, one still being stored when its upload completes.
async fn deleting_a_channel_deletes_its_recordings(backend: Backend) {
    let mut s3 = S3Server::start().await;
    let node = TestNode::start_on(backend, |s| {
        keyed(s);
        use_s3(s, &s3);
    })
    .await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (done_ch, _, done_key) = channel_with_device(&owner, "done").await;
    let (live_ch, _, live_key) = channel_with_device(&owner, "onair").await;
    publish_fixture(&node, &done_key, "done").await;
    let done = complete_recording(&owner, &done_ch).await;
    let pusher = push_looped(&node, &live_key);
    let live = eventually(
        Duration::from_secs(30),
        "a recording being stored",
        async || {
            let (_, list) = owner
                .get(&format!("/api/v1/recordings?channel_id={live_ch}"))
                .await;
            list["items"]
                .get(0)
                .filter(|r| r["segments"].as_i64() > Some(0))
                .cloned()
        },
    )
    .await;
    let ids_prefixes = [&done, &live].map(|r| {
        (
            r["id"].as_str().unwrap().to_owned(),
            r["prefix"].as_str().unwrap().to_owned(),
        )
    });

    s3.stop().await;
    for ch in [&done_ch, &live_ch] {
        assert_eq!(owner.delete(&format!("/api/v1/channels/{ch}")).await.0, 204);
    }
    let _ = wait_child_async(pusher, Duration::from_secs(20)).await;
    // Gone from the API at once, though the store could not be told yet.
    let (_, list) = owner.get("/api/v1/recordings").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    for (id, prefix) in &ids_prefixes {
        assert_eq!(owner.get(&format!("/api/v1/recordings/{id}")).await.0, 404);
        assert!(stored_files(&s3, prefix) > 0, "{prefix}");
    }

    s3.restart().await;
    // The stream that was being stored is deleted when its upload completes; the finished
    // recording by the sweep kicked with the deletion or, had that found the store still
    // down, by the next one (hourly; here at once).
    let (live_id, live_prefix) = &ids_prefixes[1];
    eventually(
        Duration::from_secs(60),
        "the live recording deleted",
        async || {
            let row = node.sys().db.recording(live_id).await.unwrap();
            (row.is_none() && stored_files(&s3, live_prefix) == 0).then_some(())
        },
    )
    .await;
    node.sys().recordings_sweep.notify_one();
    let (done_id, done_prefix) = &ids_prefixes[0];
    eventually(
        Duration::from_secs(30),
        "the finished recording deleted",
        async || {
            let row = node.sys().db.recording(done_id).await.unwrap();
            (row.is_none() && stored_files(&s3, done_prefix) == 0).then_some(())
        },
    )
    .await;
    node.stop().await;
}

/// Security issue #10, finding 3: a stream stored while the store was down belongs to the
/// channel that published it, though its name was given to another channel before the upload.
async fn slug_reuse_while_uploads_are_pending(backend: Backend) {
    let mut s3 = S3Server::start().await;
    let node = TestNode::start_on(backend, |s| {
        quick_release(s);
        use_s3(s, &s3);
    })
    .await;
    let alice = user(&node, "alice@example.com", Role::Broadcaster).await;
    let bob = user(&node, "bob@example.com", Role::Broadcaster).await;
    let (alice_ch, _, alice_key) = channel_with_device(&alice, "studio").await;
    s3.stop().await;
    push_to_end(&node, &alice_key).await;
    let (s, b) = alice
        .patch(
            &format!("/api/v1/channels/{alice_ch}"),
            json!({"slug": "studio-old"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    wait_slug_free(&node, "studio").await;
    let (bob_ch, _, _) = channel_with_device(&bob, "studio").await;
    s3.restart().await;

    let rec = complete_recording(&alice, &alice_ch).await;
    assert_eq!(rec["channel_id"], alice_ch.as_str());
    let (_, theirs) = bob
        .get(&format!("/api/v1/recordings?channel_id={bob_ch}"))
        .await;
    assert_eq!(
        theirs["items"].as_array().map(Vec::len),
        Some(0),
        "{theirs}"
    );
    node.stop().await;
}

on_both!(
    recordings,
    slug_reuse_does_not_expose_recordings,
    deleting_a_channel_deletes_its_recordings,
    slug_reuse_while_uploads_are_pending,
);
