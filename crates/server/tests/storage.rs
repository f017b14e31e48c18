//! Durable live output: segments land in the object store (local files by default, or a real
//! S3-protocol server), the stored playlists only name stored objects, ffmpeg plays the stored
//! recording straight from the bucket, and nothing is lost when the store is down for a minute
//! or the node is killed mid-upload.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::s3::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY, use_s3};
use common::*;

/// How long the store is down in the outage test (the issue asks for a minute).
const OUTAGE: Duration = Duration::from_secs(60);

/// The stored playlist at `path` once it is finished (EXT-X-ENDLIST).
async fn finished_playlist(path: &std::path::Path, limit: Duration) -> String {
    eventually(limit, "the finished stored playlist", async || {
        std::fs::read_to_string(path)
            .ok()
            .filter(|t| t.contains("#EXT-X-ENDLIST"))
    })
    .await
}

/// Checks a stored CMAF playlist against the objects: every URI it names exists, segments are
/// in order without holes (unless marked by a discontinuity), and it is finished.
fn check_stored_playlist(text: &str, exists: impl Fn(&str) -> bool) -> Vec<u64> {
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{text}");
    assert!(text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
    let mut msns = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            let uri = rest.trim_end_matches('"');
            assert!(
                exists(uri),
                "the playlist names a missing init section {uri}"
            );
        } else if !line.starts_with('#') && !line.is_empty() {
            assert!(exists(line), "the playlist names a missing segment {line}");
            let msn: u64 = line
                .trim_start_matches("seg/")
                .trim_end_matches(".m4s")
                .parse()
                .unwrap();
            msns.push(msn);
        }
    }
    assert!(msns.windows(2).all(|w| w[1] == w[0] + 1), "{msns:?}");
    msns
}

async fn sid_of(node: &TestNode, channel: &str) -> String {
    node.server
        .as_ref()
        .unwrap()
        .registry
        .get(channel)
        .expect("the stream is registered")
        .sid
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_lands_in_the_bucket_and_plays_from_it() {
    let s3 = S3Server::start().await;
    let node = TestNode::start_with(|s| use_s3(s, &s3)).await;
    let child = push(&node, "cam", LIVE_FIXTURE);
    let llhls = node.url("/live/cam/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(20)).await;
    let sid = sid_of(&node, "cam").await;
    let out = wait_child_async(child, Duration::from_secs(60)).await;
    assert!(out.status.success());
    wait_endlist(&llhls, Duration::from_secs(20)).await;

    let prefix = format!("live/cam/{sid}/");
    let playlist_path = s3.object_path(&format!("{prefix}index.m3u8"));
    let text = finished_playlist(&playlist_path, Duration::from_secs(30)).await;
    let msns = check_stored_playlist(&text, |uri| {
        s3.object_path(&format!("{prefix}{uri}")).exists()
    });
    assert!(msns.len() >= 7, "8 s at 1 s segments: {msns:?}");
    for msn in &msns {
        assert!(s3.object_path(&format!("{prefix}ts/{msn}.ts")).exists());
    }
    let ts_text =
        std::fs::read_to_string(s3.object_path(&format!("{prefix}ts/index.m3u8"))).unwrap();
    assert!(ts_text.contains("#EXT-X-ENDLIST") && ts_text.contains(&format!("{}.ts", msns[0])));

    // The bucket is a CDN-ready origin: objects carry their Content-Type and Cache-Control.
    for (key, ctype, cache) in [
        (
            "index.m3u8",
            "application/vnd.apple.mpegurl",
            "public, max-age=3600",
        ),
        (
            "init.mp4",
            "video/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            &format!("seg/{}.m4s", msns[1]),
            "video/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            &format!("ts/{}.ts", msns[1]),
            "video/mp2t",
            "public, max-age=31536000, immutable",
        ),
    ] {
        let res = get(&s3.url(&format!("{prefix}{key}"))).await;
        assert_eq!(res.status(), 200, "{key}");
        assert_eq!(res.headers()["content-type"], ctype, "{key}");
        assert_eq!(res.headers()["cache-control"], cache, "{key}");
    }

    // ffmpeg plays the recording straight from the bucket, every frame of it.
    for playlist in ["index.m3u8", "ts/index.m3u8"] {
        let url = s3.url(&format!("{prefix}{playlist}"));
        let probe = tokio::task::spawn_blocking(move || ffprobe(&url, Duration::from_secs(60)))
            .await
            .unwrap();
        let v = probe
            .stream("video")
            .unwrap_or_else(|| panic!("{playlist}: {probe:?}"));
        assert_eq!(v.codec_name, "h264");
        assert_eq!(v.packets, LIVE_FIXTURE_VIDEO_FRAMES, "{playlist}");
        assert_eq!(
            probe.stream("audio").map(|a| a.codec_name.as_str()),
            Some("aac")
        );
    }
    // The origin serves the same recording from the bucket.
    let vod = node.url(&format!("/vod/{sid}/index.m3u8"));
    let probe = tokio::task::spawn_blocking(move || ffprobe(&vod, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        probe.stream("video").map(|v| v.packets),
        Some(LIVE_FIXTURE_VIDEO_FRAMES),
        "{probe:?}"
    );
    assert_eq!(
        node.server.as_ref().unwrap().storage.spool_bytes(),
        0,
        "the spool drained"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_store_is_local_files() {
    let node = TestNode::start().await;
    let child = push(&node, "cam", LIVE_FIXTURE);
    let llhls = node.url("/live/cam/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(20)).await;
    let sid = sid_of(&node, "cam").await;
    wait_child_async(child, Duration::from_secs(60)).await;
    wait_endlist(&llhls, Duration::from_secs(20)).await;
    let dir = node.dir.path().join("store").join("live/cam").join(&sid);
    let text = finished_playlist(&dir.join("index.m3u8"), Duration::from_secs(30)).await;
    check_stored_playlist(&text, |uri| dir.join(uri).exists());
    let path = dir.join("index.m3u8").display().to_string();
    let probe = tokio::task::spawn_blocking(move || ffprobe(&path, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        probe.stream("video").map(|v| v.packets),
        Some(LIVE_FIXTURE_VIDEO_FRAMES)
    );
    node.stop().await;
}

/// The store goes away for a minute in the middle of a live stream: viewers do not notice,
/// the spool grows, and when the store is back every segment is stored, in order, with a
/// consistent playlist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_loses_nothing() {
    let mut s3 = S3Server::start().await;
    let node = TestNode::start_with(|s| use_s3(s, &s3)).await;
    let mut pusher = push_looped(&node, "cam");
    let llhls = node.url("/live/cam/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(20)).await;
    let sid = sid_of(&node, "cam").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    s3.stop().await;
    let outage_start = Instant::now();
    let storage = node.server.as_ref().unwrap().storage.clone();
    let mut last_msn = 0;
    let mut max_spool = 0;
    while outage_start.elapsed() < OUTAGE {
        // Live playback goes on from memory.
        let (s, text) = get_text(&llhls).await;
        assert_eq!(s, 200);
        let p = playlist::parse(&text);
        let msn = p.next_msn();
        assert!(msn >= last_msn);
        last_msn = msn;
        max_spool = max_spool.max(storage.spool_bytes());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(
        last_msn > OUTAGE.as_secs() / 2,
        "the live edge kept moving: {last_msn}"
    );
    assert!(
        max_spool > 100_000,
        "segments spooled while the store was down: {max_spool}"
    );
    s3.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    pusher.kill().ok();
    pusher.wait().ok();
    wait_endlist(&llhls, Duration::from_secs(30)).await;
    let prefix = format!("live/cam/{sid}/");
    let playlist_path = s3.object_path(&format!("{prefix}index.m3u8"));
    let text = finished_playlist(&playlist_path, Duration::from_secs(90)).await;
    let msns = check_stored_playlist(&text, |uri| {
        s3.object_path(&format!("{prefix}{uri}")).exists()
    });
    assert!(
        !text.contains("#EXT-X-DISCONTINUITY"),
        "no gap in the recording"
    );
    assert!(
        msns.len() as u64 >= OUTAGE.as_secs(),
        "every segment of the outage stored: {} segments",
        msns.len()
    );
    // The uploader empties the spool right after it stores the final playlist (state.json,
    // then the entries): the playlist can be seen a moment before that.
    let drained = Instant::now();
    while storage.spool_bytes() != 0 && drained.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(storage.spool_bytes(), 0);
    node.stop().await;
}

/// `kill -9` of the node while the store is unreachable: the spool survives, and the next start
/// uploads it and finishes the recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_resumes_its_spool() {
    let mut s3 = S3Server::start().await;
    s3.stop().await;
    let data = tempfile::tempdir().unwrap();
    let endpoint = s3.endpoint();
    let start_node = || {
        Command::new(env!("CARGO_BIN_EXE_onair"))
            .args([
                "serve",
                "--rtmp-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .args(["--publish-auth", "open", "--segment-duration", "1"])
            .args(["--storage", "s3", "--storage-s3-bucket", BUCKET])
            .args(["--storage-s3-endpoint", &endpoint])
            .args(["--storage-s3-access-key-id", ACCESS_KEY])
            .args(["--storage-s3-secret-access-key", SECRET_KEY])
            .arg("--data-dir")
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = start_node();
    let rtmp = {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(first.stdout.take().unwrap()).lines();
        let mut rtmp = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(i) = line.find("rtmp://") {
                rtmp = Some(line[i..].split("/live").next().unwrap().to_owned());
            }
            if line.contains("Live streams:") {
                break;
            }
        }
        rtmp.expect("the node prints its RTMP address")
    };
    let child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-i",
        ])
        .arg(fixture(LIVE_FIXTURE))
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("{rtmp}/live/cam"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let several segments reach the spool (the store is down), then kill -9 mid-stream.
    let spool = data.path().join("spool/cam");
    let entries = eventually(Duration::from_secs(30), "spooled segments", async || {
        let sid_dir = std::fs::read_dir(&spool).ok()?.flatten().next()?.path();
        let n = std::fs::read_dir(&sid_dir)
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".entry"))
            .count();
        // The init section and at least four segments.
        (n >= 5).then_some(n)
    })
    .await;
    assert!(entries >= 5);
    let _ = Command::new("kill")
        .args(["-KILL", &first.id().to_string()])
        .status();
    let _ = first.wait();
    let _ = wait_child(child, Duration::from_secs(20));
    let sid = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name();
    let sid = sid.to_string_lossy().into_owned();

    // The store is back; the node starts again and drains what the killed one left.
    s3.restart().await;
    let second = start_node();
    let prefix = format!("live/cam/{sid}/");
    let playlist_path = s3.object_path(&format!("{prefix}index.m3u8"));
    let text = finished_playlist(&playlist_path, Duration::from_secs(60)).await;
    let msns = check_stored_playlist(&text, |uri| {
        s3.object_path(&format!("{prefix}{uri}")).exists()
    });
    assert!(msns.len() >= 4, "{msns:?}");
    eventually(
        Duration::from_secs(10),
        "the spool to be empty",
        async || (!spool.join(&sid).exists()).then_some(()),
    )
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    let _ = wait_child(second, Duration::from_secs(10));
}

/// Time-shift: `dvr.m3u8` reaches back past the memory window into the store, and live media
/// URIs of segments that left memory are served from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_shift_reaches_past_the_memory_window() {
    let node = TestNode::start_with(|s| s.window_segments = 3).await;
    let mut pusher = push_looped(&node, "cam");
    let llhls = node.url("/live/cam/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(20)).await;
    let sid = sid_of(&node, "cam").await;
    // Wait until the memory window has moved well past the first segments.
    let live = eventually(Duration::from_secs(30), "the window to slide", async || {
        let (s, text) = get_text(&llhls).await;
        let p = playlist::parse(&text);
        (s == 200 && p.media_sequence >= 6).then_some(p)
    })
    .await;
    let dvr_url = node.url("/live/cam/dvr.m3u8");
    let (s, dvr) = get_text(&dvr_url).await;
    assert_eq!(s, 200, "{dvr}");
    let dvr_msns: Vec<u64> = dvr
        .lines()
        .filter(|l| l.contains("/seg/"))
        .map(|l| {
            l.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".m4s")
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(dvr_msns.first(), Some(&0), "{dvr}");
    assert!(
        dvr_msns.windows(2).all(|w| w[1] == w[0] + 1),
        "{dvr_msns:?}"
    );
    assert!(
        dvr_msns.last().unwrap() + 1 >= live.media_sequence,
        "the DVR playlist reaches the live window: {dvr_msns:?} vs {}",
        live.media_sequence
    );
    // Segment 0 left memory long ago: served from the store, identical bytes.
    let res = get(&node.url(&format!("/live/cam/{sid}/seg/0.m4s"))).await;
    assert_eq!(res.status(), 200);
    let body = res.bytes().await.unwrap();
    let stored = std::fs::read(
        node.dir
            .path()
            .join("store/live/cam")
            .join(&sid)
            .join("seg/0.m4s"),
    )
    .unwrap();
    assert_eq!(&body[..], &stored[..]);
    assert_eq!(
        get(&node.url(&format!("/live/cam/ts/{sid}/0.ts")))
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&node.url(&format!("/live/cam/{sid}/init/1.mp4")))
            .await
            .status(),
        200
    );
    // Players can open it.
    let url = dvr_url.clone();
    let probe = tokio::task::spawn_blocking(move || ffprobe_live(&url, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        probe.stream("video").map(|v| v.codec_name.as_str()),
        Some("h264"),
        "{probe:?}"
    );
    pusher.kill().ok();
    pusher.wait().ok();
    node.stop().await;

    // A short DVR window keeps only the newest seconds.
    let node = TestNode::start_with(|s| {
        s.window_segments = 3;
        s.dvr_window = Duration::from_secs(3);
    })
    .await;
    let mut pusher = push_looped(&node, "cam");
    let llhls = node.url("/live/cam/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(20)).await;
    eventually(Duration::from_secs(30), "the window to slide", async || {
        let (_, text) = get_text(&llhls).await;
        (playlist::parse(&text).media_sequence >= 6).then_some(())
    })
    .await;
    let (_, dvr) = get_text(&node.url("/live/cam/dvr.m3u8")).await;
    let n = dvr.lines().filter(|l| l.contains("/seg/")).count();
    assert!((1..=4).contains(&n), "{dvr}");
    assert!(!dvr.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{dvr}");
    pusher.kill().ok();
    pusher.wait().ok();
    node.stop().await;
}
