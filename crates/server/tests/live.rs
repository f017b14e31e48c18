//! End to end with real clients: ffmpeg publishes over RTMP; ffmpeg/ffprobe read back LL-HLS,
//! HLS (MPEG-TS) and HTTP-FLV; the LL-HLS playlist is checked rule by rule with an independent
//! parser.

mod common;

use std::time::{Duration, Instant};

use common::playlist::{self, MediaPlaylist};
use common::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Checks every LL-HLS rule of RFC 8216bis the server promises (issue #2, item 4).
fn check_llhls_rules(p: &MediaPlaylist, live: bool) {
    let target = p.target_duration.expect("EXT-X-TARGETDURATION");
    let part_target = p.part_target.expect("EXT-X-PART-INF");
    assert!(p.version.unwrap() >= 9, "LL-HLS needs EXT-X-VERSION >= 9");
    assert_eq!(p.map_uris.len(), 1, "one EXT-X-MAP");
    let sc = &p.server_control;
    assert_eq!(sc.get("CAN-BLOCK-RELOAD").map(String::as_str), Some("YES"));
    let phb: f64 = sc["PART-HOLD-BACK"].parse().unwrap();
    assert!(
        phb >= 3.0 * part_target - 1e-9,
        "PART-HOLD-BACK {phb} < 3 x {part_target}"
    );
    let skip: f64 = sc["CAN-SKIP-UNTIL"].parse().unwrap();
    assert!(
        skip >= 6.0 * target - 1e-9,
        "CAN-SKIP-UNTIL {skip} < 6 x {target}"
    );
    assert!(!p.segments.is_empty());
    for s in &p.segments {
        assert!(
            s.duration.round() <= target,
            "EXTINF {} > target {target}",
            s.duration
        );
        assert!(
            s.program_date_time.is_some(),
            "segment {} has no PROGRAM-DATE-TIME",
            s.msn
        );
    }
    let all_parts = p
        .segments
        .iter()
        .flat_map(|s| &s.parts)
        .chain(&p.trailing_parts);
    for part in all_parts {
        assert!(
            part.duration <= part_target + 1e-6,
            "part {} longer than PART-TARGET",
            part.uri
        );
    }
    for s in p.segments.iter().filter(|s| !s.parts.is_empty()) {
        assert!(
            s.parts[0].independent,
            "segment {} does not start with an independent part",
            s.msn
        );
        let sum: f64 = s.parts.iter().map(|x| x.duration).sum();
        assert!(
            (sum - s.duration).abs() < 0.01,
            "parts of {} sum to {sum}, EXTINF {}",
            s.msn,
            s.duration
        );
    }
    if live {
        assert!(
            p.preload_hint.is_some(),
            "a live LL-HLS playlist has EXT-X-PRELOAD-HINT"
        );
        assert!(!p.endlist);
    } else {
        assert!(p.endlist);
        assert!(p.preload_hint.is_none());
    }
}

/// Resolves a URI relative to `base` (a playlist URL).
fn resolve(base: &str, uri: &str) -> String {
    let dir = &base[..base.rfind('/').unwrap() + 1];
    format!("{dir}{uri}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_push_plays_back_as_llhls_hls_and_flv() {
    let node = TestNode::start().await;
    let publisher = push(&node, "e2e", LIVE_FIXTURE);
    let llhls = node.url("/live/e2e/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(15)).await;
    // Wait for a complete segment so every rule has something to bite on.
    let start = Instant::now();
    let first = loop {
        let text = get_text(&llhls).await.1;
        if !playlist::parse(&text).segments.is_empty() {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no complete segment:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // HTTP-FLV viewer joins while live and reads until the stream ends.
    let flv_url = node.url("/live/e2e.flv");
    let flv_probe = tokio::task::spawn_blocking(move || ffprobe(&flv_url, LIMIT));

    // Live playlist rules, and blocking reload for the next part.
    let live = playlist::parse(&first);
    check_llhls_rules(&live, true);
    let hint = live.preload_hint.clone().unwrap();
    assert_eq!(hint["TYPE"], "PART");
    let (msn, part) = (live.next_msn(), live.trailing_parts.len());
    let started = Instant::now();
    let (status, blocked) = get_text(&format!("{llhls}?_HLS_msn={msn}&_HLS_part={part}")).await;
    assert_eq!(status, 200, "{blocked}");
    let after = playlist::parse(&blocked);
    let has_part = if after.next_msn() > msn {
        after
            .segments
            .iter()
            .find(|s| s.msn == msn)
            .is_some_and(|s| s.parts.len() > part)
    } else {
        after.trailing_parts.len() > part
    };
    assert!(
        has_part,
        "the blocking response must contain part {msn}.{part}:\n{blocked}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // The preload-hinted part is held until its bytes exist, then served.
    let latest = playlist::parse(&get_text(&llhls).await.1);
    let hinted = resolve(&llhls, &latest.preload_hint.as_ref().unwrap()["URI"]);
    let r = get(&hinted).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert!(!r.bytes().await.unwrap().is_empty());

    // Too far ahead is a 400 at once (RFC 8216bis §6.2.5.2).
    let (status, _) = get_text(&format!("{llhls}?_HLS_msn={}", latest.next_msn() + 10)).await;
    assert_eq!(status, 400);
    let (status, _) = get_text(&format!("{llhls}?_HLS_part=1")).await;
    assert_eq!(status, 400, "_HLS_part without _HLS_msn");

    // API while live.
    let streams: serde_json::Value =
        serde_json::from_str(&get_text(&node.url("/api/v1/streams")).await.1).unwrap();
    let s = &streams["streams"][0];
    assert_eq!(s["channel"], "e2e");
    assert_eq!(s["state"], "live");
    assert_eq!(s["video"]["width"], 320);
    assert_eq!(s["video"]["height"], 240);
    assert!(s["video"]["codec"].as_str().unwrap().starts_with("avc1.64"));
    assert_eq!(s["audio"]["codec"], "mp4a.40.2");
    assert_eq!(s["audio"]["sample_rate"], 44100);

    let out = wait_child_async(publisher, LIMIT).await;
    assert!(
        out.status.success(),
        "publisher failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The clean stop ends the playlist.
    let start = Instant::now();
    let ended = loop {
        let p = playlist::parse(&get_text(&llhls).await.1);
        if p.endlist {
            break p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no EXT-X-ENDLIST after the publisher stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    check_llhls_rules(&ended, false);

    // Delta update: segments older than CAN-SKIP-UNTIL are replaced by EXT-X-SKIP.
    let (status, delta) = get_text(&format!("{llhls}?_HLS_skip=YES")).await;
    assert_eq!(status, 200);
    let d = playlist::parse(&delta);
    assert!(d.skipped_segments > 0, "{delta}");
    assert_eq!(
        d.skipped_segments + d.segments.len() as u64,
        ended.segments.len() as u64
    );
    assert_eq!(
        d.segments.last().map(|s| &s.uri),
        ended.segments.last().map(|s| &s.uri)
    );
    assert_eq!(
        d.map_uris, ended.map_uris,
        "the delta update keeps EXT-X-MAP"
    );

    // Multivariant playlist.
    let (status, mv) = get_text(&node.url("/live/e2e/index.m3u8")).await;
    assert_eq!(status, 200);
    let inf = mv
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-STREAM-INF:"))
        .expect("EXT-X-STREAM-INF");
    let a = playlist::attributes(inf);
    assert!(a["CODECS"].starts_with("avc1.64"), "{mv}");
    assert!(a["CODECS"].contains("mp4a.40.2"), "{mv}");
    assert_eq!(a["RESOLUTION"], "320x240");
    let fps: f64 = a["FRAME-RATE"].parse().unwrap();
    assert!((fps - 25.0).abs() < 1.0, "FRAME-RATE {fps}");
    assert!(a["BANDWIDTH"].parse::<u64>().unwrap() > 50_000);

    // Read every output back with ffmpeg/ffprobe.
    for (what, path) in [
        ("LL-HLS", "/live/e2e/index.m3u8"),
        ("HLS/TS", "/live/e2e/ts/index.m3u8"),
    ] {
        let url = node.url(path);
        let u = url.clone();
        let probe = tokio::task::spawn_blocking(move || ffprobe(&u, LIMIT))
            .await
            .unwrap();
        let v = probe
            .stream("video")
            .unwrap_or_else(|| panic!("{what}: no video: {probe:?}"));
        assert_eq!(v.codec_name, "h264", "{what}");
        assert_eq!((v.width, v.height), (Some(320), Some(240)), "{what}");
        assert!(
            (v.packets - LIVE_FIXTURE_VIDEO_FRAMES).abs() <= LIVE_FIXTURE_GOP,
            "{what}: {} video frames, source has {LIVE_FIXTURE_VIDEO_FRAMES}",
            v.packets
        );
        let a = probe
            .stream("audio")
            .unwrap_or_else(|| panic!("{what}: no audio: {probe:?}"));
        assert_eq!(a.codec_name, "aac", "{what}");
        let (ok, err) = tokio::task::spawn_blocking(move || ffmpeg_decode(&url, LIMIT))
            .await
            .unwrap();
        assert!(ok, "{what}: ffmpeg reported errors: {err}");
    }
    let flv = flv_probe.await.unwrap();
    let v = flv
        .stream("video")
        .unwrap_or_else(|| panic!("HTTP-FLV: no video: {flv:?}"));
    assert_eq!(v.codec_name, "h264");
    assert_eq!((v.width, v.height), (Some(320), Some(240)));
    assert!(
        (v.packets - LIVE_FIXTURE_VIDEO_FRAMES).abs() <= LIVE_FIXTURE_GOP,
        "HTTP-FLV: {} video frames",
        v.packets
    );
    assert_eq!(flv.stream("audio").unwrap().codec_name, "aac");

    // Every segment and part in the final playlist is served.
    for s in &ended.segments {
        assert_eq!(
            get(&resolve(&llhls, &s.uri)).await.status(),
            200,
            "{}",
            s.uri
        );
        for p in &s.parts {
            assert_eq!(
                get(&resolve(&llhls, &p.uri)).await.status(),
                200,
                "{}",
                p.uri
            );
        }
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_publisher_on_a_live_name_gets_bad_name() {
    let node = TestNode::start().await;
    let first = push(&node, "dup", LIVE_FIXTURE);
    wait_ok(&node.url("/live/dup/llhls.m3u8"), Duration::from_secs(15)).await;
    let second = push(&node, "dup", LIVE_FIXTURE);
    let out = wait_child_async(second, Duration::from_secs(20)).await;
    assert!(
        !out.status.success(),
        "the second publisher must be refused"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already live"), "ffmpeg said: {err}");
    // The first one goes on.
    let before = playlist::parse(&get_text(&node.url("/live/dup/llhls.m3u8")).await.1).next_msn();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = playlist::parse(&get_text(&node.url("/live/dup/llhls.m3u8")).await.1).next_msn();
    assert!(after > before, "the first stream stalled");
    let out = wait_child_async(first, LIMIT).await;
    assert!(out.status.success());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_reconnect_continues_behind_a_discontinuity() {
    let node = TestNode::start_with(|s| s.unpublish_grace = Duration::from_secs(10)).await;
    let llhls = node.url("/live/re/llhls.m3u8");
    let mut first = push(&node, "re", LIVE_FIXTURE);
    let start = Instant::now();
    loop {
        let (status, text) = get_text(&llhls).await;
        if status == 200 && playlist::parse(&text).segments.len() >= 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Abrupt disconnect: no FCUnpublish, the TCP connection just dies.
    first.kill().unwrap();
    let _ = first.wait();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stalled = playlist::parse(&get_text(&llhls).await.1);
    assert!(
        !stalled.endlist,
        "an abrupt disconnect must not end the playlist during the grace period"
    );
    let msn_before = stalled.next_msn();

    let second = push(&node, "re", LIVE_FIXTURE);
    let start = Instant::now();
    let resumed = loop {
        let p = playlist::parse(&get_text(&llhls).await.1);
        if p.next_msn() >= msn_before + 2 {
            break p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the stream did not resume"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(resumed.media_sequence <= stalled.media_sequence + 1);
    let disc = resumed
        .segments
        .iter()
        .find(|s| s.discontinuity)
        .expect("EXT-X-DISCONTINUITY");
    assert!(disc.msn >= msn_before.saturating_sub(1));
    // Media sequence numbers never go backwards and nothing listed is missing.
    for w in resumed.segments.windows(2) {
        assert_eq!(w[1].msn, w[0].msn + 1);
    }
    for s in &resumed.segments {
        assert_eq!(
            get(&resolve(&llhls, &s.uri)).await.status(),
            200,
            "{}",
            s.uri
        );
    }
    let _ = wait_child_async(second, LIMIT).await;
    wait_endlist(&llhls, LIMIT).await;
    // Both publishes are one recording: one stored prefix, one discontinuity where the
    // publisher came back, and it plays through.
    let lives: Vec<_> = std::fs::read_dir(node.dir.path().join("store/live/re"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(lives.len(), 1, "one recording for both publishes");
    let stored = lives[0].path().join("index.m3u8");
    let start = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&stored).unwrap_or_default();
        if text.contains("#EXT-X-ENDLIST") {
            break text;
        }
        assert!(
            start.elapsed() < LIMIT,
            "the recording was not finished: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
    let path = stored.display().to_string();
    let (ok, err) = tokio::task::spawn_blocking(move || ffmpeg_decode(&path, LIMIT))
        .await
        .unwrap();
    assert!(ok, "{err}");
    // The TS segments pass the strict checks across the discontinuity (new counters and a new
    // clock are allowed there only), and GStreamer plays through it in both flavours.
    common::strict::check_ts_playlist(&node.url("/live/re/ts/index.m3u8")).await;
    for path in ["/live/re/index.m3u8", "/live/re/ts/index.m3u8"] {
        let p = common::strict::gst_plays_to_end(&node.url(path)).await;
        assert!(p.video_buffers >= 200, "{path}: {p:?}");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_content_types_cors_and_head() {
    let node = TestNode::start().await;
    let r = get(&node.url("/live/nobody/llhls.m3u8")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(get(&node.url("/nothing/here")).await.status(), 404);
    assert_eq!(get(&node.url("/healthz")).await.status(), 200);

    let publisher = push(&node, "h", LIVE_FIXTURE);
    let llhls = node.url("/live/h/llhls.m3u8");
    let text = wait_ok(&llhls, Duration::from_secs(15)).await;
    let p = playlist::parse(&text);
    let r = client()
        .get(&llhls)
        .header("Origin", "https://player.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let init = resolve(&llhls, &p.map_uris[0]);
    let head = client().head(&init).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "video/mp4");
    assert!(
        head.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 100
    );
    // Garbage in LL-HLS query parameters is a clear 400.
    let r = get(&format!("{llhls}?_HLS_msn=abc")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Unknown part far away: 404, not a hang.
    let sid = p.map_uris[0].split('/').next().unwrap().to_owned();
    let far = resolve(&llhls, &format!("{sid}/part/999999.m4s"));
    assert_eq!(get(&far).await.status(), 404);
    let ts = wait_ok(&node.url("/live/h/ts/index.m3u8"), Duration::from_secs(10)).await;
    let tsp = playlist::parse(&ts);
    let seg = resolve(&node.url("/live/h/ts/index.m3u8"), &tsp.segments[0].uri);
    let r = get(&seg).await;
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    let metrics = get_text(&node.url("/metrics")).await.1;
    assert!(
        metrics.contains("onair_stream_ingest_bytes_total{channel=\"h\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("onair_http_request_duration_seconds"),
        "{metrics}"
    );
    assert!(
        metrics.contains("onair_stream_viewers{channel=\"h\",protocol=\"llhls\"} 1"),
        "{metrics}"
    );
    let _ = wait_child_async(publisher, LIMIT).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_playlists_and_releases_waiters() {
    let node = TestNode::start().await;
    let publisher = push(&node, "bye", LIVE_FIXTURE);
    let llhls = node.url("/live/bye/llhls.m3u8");
    let text = wait_ok(&llhls, Duration::from_secs(15)).await;
    let p = playlist::parse(&text);
    // A waiter for a part two segments ahead.
    let waiter = tokio::spawn({
        let url = format!("{llhls}?_HLS_msn={}", p.next_msn() + 1);
        async move { get_text(&url).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut node = node;
    let server = node.server.take().unwrap();
    let registry = server.registry.clone();
    server.shutdown(Duration::from_secs(5)).await;
    let (status, body) = waiter.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(playlist::parse(&body).endlist, "{body}");
    assert!(registry.get("bye").unwrap().window.read().ended);
    // The publisher's connection was closed.
    let out = wait_child_async(publisher, Duration::from_secs(10)).await;
    assert!(out.status.code().is_some());
}

/// A client that follows the preload hint part after part, across segment boundaries, never
/// gets a 404: the hinted part always comes to exist (parts are numbered across segments).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_preload_hints_never_hits_a_missing_part() {
    let node = TestNode::start().await;
    let publisher = push(&node, "hint", LIVE_FIXTURE);
    let llhls = node.url("/live/hint/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(15)).await;
    let mut followed = 0;
    let mut segments_seen = std::collections::HashSet::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let p = playlist::parse(&get_text(&llhls).await.1);
        let Some(hint) = p.preload_hint.clone() else {
            break;
        };
        segments_seen.insert(p.next_msn());
        let r = get(&resolve(&llhls, &hint["URI"])).await;
        assert_eq!(
            r.status(),
            200,
            "hinted part {} after {followed} parts",
            hint["URI"]
        );
        followed += 1;
    }
    assert!(followed >= 10, "followed only {followed} parts");
    assert!(
        segments_seen.len() >= 3,
        "the test must cross segment boundaries"
    );
    let _ = wait_child_async(publisher, LIMIT).await;
    node.stop().await;
}

/// A player holding the preload-hinted part while the publisher drops and comes back gets that
/// part from the resumed stream, not a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preload_hint_survives_a_publisher_reconnect() {
    let node = TestNode::start_with(|s| s.unpublish_grace = Duration::from_secs(10)).await;
    let mut first = push(&node, "hold", LIVE_FIXTURE);
    let llhls = node.url("/live/hold/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let p = playlist::parse(&get_text(&llhls).await.1);
    first.kill().unwrap();
    let _ = first.wait();
    let hinted = resolve(&llhls, &p.preload_hint.unwrap()["URI"]);
    let held = tokio::spawn(async move { get(&hinted).await.status() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = push(&node, "hold", LIVE_FIXTURE);
    assert_eq!(held.await.unwrap(), 200);
    let _ = wait_child_async(second, LIMIT).await;
    node.stop().await;
}
