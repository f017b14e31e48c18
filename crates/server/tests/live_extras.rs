//! What the console's pages need from a live stream: a thumbnail (decoded by ffmpeg from the
//! cached keyframe, also stored with the recording) and a server-sent event stream of live
//! statistics.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_and_live_stats_events() {
    let node = TestNode::start().await;
    let child = push(&node, "cam", LIVE_FIXTURE);
    wait_ok(&node.url("/live/cam/llhls.m3u8"), Duration::from_secs(20)).await;

    // Server-sent events: a `streams` event every second with the live channel's figures.
    let res = client()
        .get(node.url("/api/v1/streams/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.bytes_stream();
    let mut text = String::new();
    let mut events = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while events < 3 && Instant::now() < deadline {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        events = text.matches("event: streams").count();
    }
    assert!(events >= 3, "{text}");
    let last = text
        .split("\n\n")
        .filter(|e| e.contains("event: streams"))
        .last()
        .unwrap();
    let data = last.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    let s = &v["streams"][0];
    assert_eq!(s["channel"], "cam", "{v}");
    assert!(s["ingest_bitrate"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(s["video"]["width"], 320, "{v}");
    drop(body);

    // The thumbnail: a JPEG 320 pixels wide, within a few seconds of going live.
    let url = node.url("/live/cam/thumbnail.jpg");
    let deadline = Instant::now() + Duration::from_secs(15);
    let jpeg = loop {
        let res = get(&url).await;
        if res.status() == 200 {
            assert_eq!(res.headers()["content-type"], "image/jpeg");
            break res.bytes().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no thumbnail: {}", res.status());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jpg");
    std::fs::write(&file, &jpeg).unwrap();
    let path = file.display().to_string();
    let probe = tokio::task::spawn_blocking(move || ffprobe_live(&path, Duration::from_secs(20)))
        .await
        .unwrap();
    let v = probe.stream("video").expect("a picture");
    assert_eq!(v.codec_name, "mjpeg");
    assert_eq!((v.width, v.height), (Some(320), Some(240)));
    // It is stored with the stream's objects (the recording's thumbnail).
    let sid = node
        .server
        .as_ref()
        .unwrap()
        .registry
        .get("cam")
        .unwrap()
        .sid
        .clone();
    let stored = node
        .dir
        .path()
        .join("store/live/cam")
        .join(&sid)
        .join("thumbnail.jpg");
    assert!(stored.exists());
    let _ = wait_child_async(child, Duration::from_secs(60)).await;
    node.stop().await;
}
