//! The player and the console in real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from `web/tests/*.mjs`): a live channel plays with hls.js in low-latency mode
//! at the source's size and a live latency under 3 s on loopback; offline, unauthorized and
//! expired links are explained; a broadcaster goes live from the console. Screenshots of
//! failures (the page, and the main console pages) go to `target/browser-screenshots/`.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::api::{Api, channel_with_device, user};
use common::browser::{one_at_a_time, run_script};
use common::*;
use onair_server::db::users::Role;
use onair_server::security::signed_url;
use serde_json::{Value, json};

/// A private channel `slug` of a new broadcaster (`owner@example.com`), live from a looped
/// ffmpeg publisher: (owner, channel id, publisher, a signed link's query).
async fn live_private_channel(
    node: &TestNode,
    slug: &str,
    record: bool,
) -> (Api, String, std::process::Child, String) {
    let owner = user(node, "owner@example.com", Role::Broadcaster).await;
    let (channel_id, _, key) = channel_with_device(&owner, slug).await;
    let (s, _) = owner
        .patch(
            &format!("/api/v1/channels/{channel_id}"),
            json!({"visibility": "private", "record": record}),
        )
        .await;
    assert_eq!(s, 200);
    let pusher = push_looped(node, &key);
    let (s, urls) = owner
        .post(
            &format!("/api/v1/channels/{channel_id}/playback-url"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{urls}");
    let query = urls["query"].as_str().unwrap().to_owned();
    wait_ok(
        &node.url(&format!("/live/{slug}/index.m3u8?{query}")),
        Duration::from_secs(20),
    )
    .await;
    (owner, channel_id, pusher, query)
}

/// Runs the player script on `url`; returns its JSON report.
async fn browse(url: String, mode: &str) -> Value {
    let name = mode.replace(':', "-") + "-" + &url.len().to_string();
    run_script("watch.mjs", vec![url, mode.to_owned()], name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_player_plays_live_in_chromium() {
    let _turn = one_at_a_time().await;
    let node = TestNode::start().await;
    let mut pusher = push_looped(&node, "cam");
    wait_ok(&node.url("/live/cam/index.m3u8"), Duration::from_secs(20)).await;
    let r = browse(node.url("/watch/cam"), "play").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["state"], "playing", "{r}");
    assert_eq!(r["videoWidth"], 320, "{r}");
    assert_eq!(r["videoHeight"], 240, "{r}");
    assert_eq!(r["lowLatencyMode"], true, "{r}");
    let latency = r["latency"].as_f64().unwrap_or(f64::MAX);
    assert!(latency < 3.0, "live latency {latency} s: {r}");
    // The embeddable player is the same page.
    let r = browse(node.url("/embed/cam"), "play").await;
    assert_eq!(r["ok"], true, "{r}");
    // An unknown channel is explained as offline.
    let r = browse(node.url("/watch/nobody"), "state:offline").await;
    assert_eq!(r["ok"], true, "{r}");
    pusher.kill().ok();
    pusher.wait().ok();
    node.stop().await;
}

/// A private channel: a logged-out visitor is not authorized, a signed link plays, an expired
/// one is explained as expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_channels_and_signed_links_in_chromium() {
    let _turn = one_at_a_time().await;
    let node = TestNode::start_on(common::db::Backend::Sqlite, keyed).await;
    let (_, _, mut pusher, query) = live_private_channel(&node, "vip", false).await;
    // Logged out, no link: not authorized.
    let r = browse(node.url("/watch/vip"), "state:unauthorized").await;
    assert_eq!(r["ok"], true, "{r}");
    // The signed link plays.
    let r = browse(node.url(&format!("/watch/vip?{query}")), "play").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["videoWidth"], 320, "{r}");
    // An expired link is explained as such.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = signed_url::sign(
        &node.sys().playback.signed,
        &signed_url::Grant {
            scope: "/live/vip/".into(),
            expires: now - 60,
            user_id: String::new(),
            client_ip: None,
        },
    )
    .unwrap();
    let r = browse(
        node.url(&format!("/watch/vip?token={expired}")),
        "state:expired",
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    pusher.kill().ok();
    pusher.wait().ok();
    node.stop().await;
}

/// The broadcaster's path through the console (`web/tests/scenario.mjs`): a new admin signs
/// in, creates a channel, registers a device and copies its key; ffmpeg publishes with the
/// Server and key the page shows; the dashboard shows the channel live with its thumbnail and
/// chart; `/watch/{channel}` plays in low-latency mode at the source's size with a live latency
/// under 3 s; rotating the key kicks the publisher and the player and device page show offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broadcaster_goes_live_from_the_console() {
    let _turn = one_at_a_time().await;
    let node = TestNode::start_with(|s| {
        keyed(s);
        s.admin_password = Some("a long admin password".to_owned());
    })
    .await;
    let fixture = workspace().join("testdata/live_h264_aac.flv");
    let r = run_script(
        "scenario.mjs",
        vec![
            node.http.clone(),
            "admin@localhost".into(),
            "a long admin password".into(),
            fixture.display().to_string(),
        ],
        "console-scenario".into(),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["who"].as_str().unwrap().contains("admin"), "{r}");
    assert_eq!(r["keyCopied"], true, "the Copy button copies the key: {r}");
    let rtmp_port = node.rtmp.rsplit(':').next().unwrap().to_owned();
    // The host the browser used, not `localhost` (issue #12), with the RTMP port.
    assert_eq!(
        r["server"],
        format!("rtmp://127.0.0.1:{rtmp_port}/live"),
        "{r}"
    );
    // Dashboard: live, thumbnail at the source's width, a chart fed by the event stream, and
    // nobody counted as watching before the player opened (thumbnails are not viewers).
    assert_eq!(r["badge"], "live", "{r}");
    assert_eq!(r["thumbnailWidth"], 320, "{r}");
    assert!(r["chartSamples"].as_u64().unwrap() >= 3, "{r}");
    let card = r["cardText"].as_str().unwrap();
    assert!(card.contains("320×240"), "{r}");
    assert!(card.contains("0 watching"), "{r}");
    // The player.
    let w = &r["watch"];
    assert_eq!(w["state"], "playing", "{r}");
    assert_eq!(w["videoWidth"], 320, "{r}");
    assert_eq!(w["videoHeight"], 240, "{r}");
    assert_eq!(w["lowLatencyMode"], true, "{r}");
    let latency = w["latency"].as_f64().unwrap_or(f64::MAX);
    assert!(latency < 3.0, "live latency {latency} s: {r}");
    // The device page showed the live publisher; "Rotate key" asked first, with "disconnect"
    // unticked, and cancelling left the broadcast on air; rotating with it ticked kicked it.
    let status = r["deviceStatus"].as_str().unwrap();
    assert!(status.contains("320×240") && status.contains("avc1"), "{r}");
    let confirm = &r["rotateConfirm"];
    assert_eq!(confirm["kickChecked"], false, "{r}");
    assert!(
        confirm["text"]
            .as_str()
            .unwrap()
            .contains("ends the live broadcast"),
        "{r}"
    );
    assert_eq!(r["onlineAfterCancel"], "true", "{r}");
    assert_eq!(r["newKeyDiffers"], true, "{r}");
    assert_eq!(r["publisherKicked"], true, "{r}");
    assert_eq!(r["watchAfterRotate"]["state"], "offline", "{r}");
    // The server agrees: the stream is no longer live.
    let streams = reqwest::get(node.url("/api/v1/streams"))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        streams["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] != "live"),
        "{streams}"
    );
    node.stop().await;
}

/// A private, recording channel from its owner's console (`web/tests/channel_vod.mjs`): the
/// encoder panel, a signed link that plays logged out (and nothing without it), disconnecting
/// the publisher, then the recording on the recordings page: dated today, no download while it
/// is being stored, then thumbnail, duration, size, played in the page, downloaded as MP4 named
/// after channel and date, retention saved, deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_and_recordings_pages_in_chromium() {
    let _turn = one_at_a_time().await;
    let node = TestNode::start_on(common::db::Backend::Sqlite, keyed).await;
    let (owner, channel_id, mut pusher, _) = live_private_channel(&node, "show", true).await;
    // A few segments and a thumbnail (the first comes within ~1 s of going live).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let r = run_script(
        "channel_vod.mjs",
        vec![
            node.http.clone(),
            "owner@example.com".into(),
            "correct horse battery staple".into(),
            channel_id.clone(),
            "show".into(),
        ],
        "console-channel-vod".into(),
    )
    .await;
    pusher.kill().ok();
    pusher.wait().ok();
    assert_eq!(r["ok"], true, "{r}");
    let rtmp_port = node.rtmp.rsplit(':').next().unwrap().to_owned();
    assert_eq!(r["server"], format!("rtmp://127.0.0.1:{rtmp_port}/live"));
    // One badge says it, not "live live".
    assert_eq!(r["liveHeading"], "live", "{r}");
    assert!(
        r["signedWatch"]
            .as_str()
            .unwrap()
            .contains("/watch/show?token="),
        "{r}"
    );
    assert!(
        r["signedEmbed"]
            .as_str()
            .unwrap()
            .contains("/embed/show?token="),
        "{r}"
    );
    assert_eq!(r["signedPlays"]["videoWidth"], 320, "{r}");
    assert_eq!(r["unsignedState"], "unauthorized", "{r}");
    assert_eq!(r["thumbnailWidth"], 320, "{r}");
    assert_eq!(r["vodWidth"], 320, "{r}");
    assert_eq!(r["download"]["status"], 200, "{r}");
    assert_eq!(r["download"]["type"], "video/mp4", "{r}");
    assert_eq!(r["download"]["box"], "ftyp", "{r}");
    assert!(r["download"]["bytes"].as_u64().unwrap() > 10_000, "{r}");
    // Issue #12: recordings were dated 1970, and "Download MP4" on one still being stored
    // downloaded an error named `true`.
    let year =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..4].to_owned();
    for date in [&r["whileLive"]["date"], &r["date"]] {
        let date = date.as_str().unwrap();
        assert!(date.contains(&year) && !date.contains("1970"), "{r}");
    }
    assert_eq!(r["whileLive"]["status"], "recording", "{r}");
    assert_eq!(r["whileLive"]["downloadTag"], "BUTTON", "{r}");
    assert_eq!(r["whileLive"]["downloadDisabled"], true, "{r}");
    // The file is named by the server (one place for the name); the link lets it.
    assert_eq!(r["downloadAttr"], "", "{r}");
    let disposition = r["download"]["disposition"].as_str().unwrap();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"show-{year}-"))
            && disposition.ends_with(".mp4\""),
        "{r}"
    );
    // What the pages did, as the API sees it.
    let (_, ch) = owner.get(&format!("/api/v1/channels/{channel_id}")).await;
    assert_eq!(ch["retention_days"], 7, "{ch}");
    let id = r["recordingId"].as_str().unwrap();
    let (s, _) = owner.get(&format!("/api/v1/recordings/{id}")).await;
    assert_eq!(s, 404, "the recording was deleted");
    node.stop().await;
}

/// The dashboard shows a broadcaster the health of their own live streams only (another
/// user's public stream is listed with a link to the player), and a card's title opens the
/// channel's console page; the player names the channel (page title, heading, audience),
/// shows its statistics only once they have values, explains a channel that does not exist,
/// and shows "offline" as a state rather than an error. An own channel whose keyframes are
/// further apart than its segments is warned about; the channel page previews the stream.
/// Screenshots of the dashboard and channel page at desktop and phone sizes, dark and light, go
/// to `target/browser-screenshots/dashboard-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_player_name_and_scope_streams() {
    let _turn = one_at_a_time().await;
    let node = TestNode::start_on(common::db::Backend::Sqlite, keyed).await;
    let alice = user(&node, "alice@example.com", Role::Broadcaster).await;
    let bob = user(&node, "bob@example.com", Role::Broadcaster).await;
    let (alpha_id, _, alpha_key) = channel_with_device(&alice, "alpha").await;
    let (s, _) = alice
        .patch(
            &format!("/api/v1/channels/{alpha_id}"),
            json!({"title": "Alpha Show"}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, _, beta_key) = channel_with_device(&bob, "beta").await;
    // Half-second segments for the fixture's one-second keyframe interval: warned about.
    let (gamma_id, _, gamma_key) = channel_with_device(&alice, "gamma").await;
    let (s, body) = alice
        .patch(
            &format!("/api/v1/channels/{gamma_id}"),
            json!({"segment_duration_ms": 500, "part_duration_ms": 100}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let mut pushers = [
        push_looped(&node, &alpha_key),
        push_looped(&node, &beta_key),
        push_looped(&node, &gamma_key),
    ];
    for slug in ["alpha", "beta", "gamma"] {
        wait_ok(
            &node.url(&format!("/live/{slug}/index.m3u8")),
            Duration::from_secs(20),
        )
        .await;
    }

    // The API says whose stream is whose.
    let (_, list) = alice.get("/api/v1/streams").await;
    let by = |slug: &str| {
        list["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["channel"] == slug)
            .cloned()
            .unwrap_or_else(|| panic!("{slug}: {list}"))
    };
    assert_eq!(by("alpha")["manages"], true, "{list}");
    assert_eq!(by("alpha")["channel_id"], alpha_id.as_str(), "{list}");
    assert_eq!(by("alpha")["title"], "Alpha Show", "{list}");
    assert_eq!(by("beta")["manages"], false, "{list}");
    assert!(by("beta")["channel_id"].is_null(), "{list}");
    assert!(by("beta")["publisher"].is_null(), "{list}");
    // Health only for what one manages: the fixture's 1 s keyframes fit the 1 s segments.
    assert!(by("beta")["health"].is_null(), "{list}");
    let gop = by("alpha")["health"]["keyframe_interval_ms"]
        .as_u64()
        .unwrap_or(0);
    assert!((900..=1100).contains(&gop), "{list}");
    assert_eq!(by("alpha")["health"]["warnings"], json!([]), "{list}");
    // The last minutes of bit rate and frame rate are kept on the server for the charts.
    let history = eventually(Duration::from_secs(10), "history samples", async || {
        let (s, h) = alice.get("/api/v1/streams/alpha/history").await;
        (s == 200 && h["samples"].as_array().is_some_and(|a| a.len() >= 2)).then_some(h)
    })
    .await;
    assert!(
        history["samples"][1]["bitrate"].as_u64().unwrap() > 0,
        "{history}"
    );
    assert_eq!(alice.get("/api/v1/streams/beta/history").await.0, 404);

    let r = run_script(
        "dashboard.mjs",
        vec![
            node.http.clone(),
            "alice@example.com".into(),
            "correct horse battery staple".into(),
            "alpha".into(),
            "beta".into(),
            "gamma".into(),
        ],
        "dashboard".into(),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["ownTitle"], "Alpha Show", "{r}");
    assert_eq!(
        r["ownTitleHref"],
        format!("/console/channels/{alpha_id}"),
        "{r}"
    );
    assert_eq!(r["otherHref"], "/watch/beta", "{r}");
    assert_eq!(r["otherHasCard"], false, "{r}");
    assert_eq!(r["warnings"], "keyframe_interval", "{r}");
    assert!(
        r["warningText"]
            .as_str()
            .unwrap()
            .contains("longer than the 0.5 s segments"),
        "{r}"
    );
    assert_eq!(r["ownWarnings"], false, "{r}");
    assert_eq!(r["previewWidth"], 320, "{r}");
    assert_eq!(r["channelPhoneOverflow"], false, "{r}");
    assert_eq!(r["phoneOverflow"], false, "{r}");
    assert_eq!(r["darkBackground"], "rgb(17, 17, 17)", "{r}");
    assert_eq!(r["lightBackground"], "rgb(247, 247, 248)", "{r}");
    assert_eq!(
        r["channelPage"],
        format!("/console/channels/{alpha_id}"),
        "{r}"
    );

    let w = browse(node.url("/watch/alpha"), "play").await;
    assert_eq!(w["ok"], true, "{w}");
    assert_eq!(w["title"], "Alpha Show · OnAir", "{w}");
    assert_eq!(w["heading"], "Alpha Show", "{w}");
    assert!(
        w["viewers"].as_str().unwrap_or("").ends_with("watching"),
        "{w}"
    );
    let stats = w["stats"].as_str().unwrap_or("");
    assert!(stats.contains("320×240") && !stats.contains('–'), "{w}");

    let w = browse(node.url("/watch/nope"), "state:nochannel").await;
    assert_eq!(w["ok"], true, "{w}");
    assert!(w["status"].as_str().unwrap().contains("no channel"), "{w}");
    for p in &mut pushers {
        p.kill().ok();
        p.wait().ok();
    }
    // Bob's channel exists and is offline now: a state, not an error.
    let w = browse(node.url("/watch/beta"), "state:offline").await;
    assert_eq!(w["ok"], true, "{w}");
    let class = w["statusClass"].as_str().unwrap();
    assert!(class.contains("offline") && !class.contains("error"), "{w}");
    node.stop().await;
}
