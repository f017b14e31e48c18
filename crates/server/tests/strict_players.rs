//! Every container OnAir writes, judged by strict parsers and played by GStreamer (issue #11):
//! LL-HLS (CMAF), time-shift (`dvr.m3u8`), classic HLS (MPEG-TS), the recording played back
//! as VOD and downloaded as one MP4. ffprobe, Chromium and hls.js forgive mistakes that
//! GStreamer's `qtdemux`/`hlsdemux2`/`tsdemux` (set-top boxes, WebKit browsers) do not; the
//! `onair-conformance` checks use parsers we did not write. HEVC gets the same checks in
//! `hevc.rs`.

mod common;

use std::time::Duration;

use common::api::{channel_with_device, complete_recording, user};
use common::strict::{
    check_fmp4_playlist, check_recording, check_ts_playlist, gst_plays_live, gst_plays_to_end,
};
use common::*;
use onair_conformance::mp4;
use onair_server::db::users::Role;

/// Waits until the media playlist at `url` lists `n` segments.
async fn wait_segments(url: &str, n: usize) {
    let what = format!("{n} segments in {url}");
    eventually(Duration::from_secs(20), &what, async || {
        let (status, text) = get_text(url).await;
        (status == 200 && playlist::parse(&text).segments.len() >= n).then_some(())
    })
    .await
}

/// Frames of the fixture a full playback must show (a GOP of slack at the live edge).
const FRAMES: usize = LIVE_FIXTURE_VIDEO_FRAMES as usize;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_aac_outputs_pass_strict_parsers_and_play_in_gstreamer() {
    let node = TestNode::start_with(keyed).await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (channel_id, _, key) = channel_with_device(&owner, "strict").await;
    let publisher = push(&node, &key, LIVE_FIXTURE);

    // Live: GStreamer follows the LL-HLS and TS playlists for a few seconds, joining once
    // they hold three segments as players do (GStreamer 1.22's hlsdemux2 loses sync on a
    // first playlist of one segment: `gst_hls_media_playlist_sync_to_playlist` never looks at
    // the reference's segment 0, fixed upstream later).
    wait_segments(&node.url("/live/strict/llhls.m3u8"), 3).await;
    wait_segments(&node.url("/live/strict/ts/index.m3u8"), 3).await;
    let (llhls_url, ts_url) = (
        node.url("/live/strict/index.m3u8"),
        node.url("/live/strict/ts/index.m3u8"),
    );
    let (llhls, ts) = tokio::join!(gst_plays_live(&llhls_url, 4), gst_plays_live(&ts_url, 4));
    for (name, p) in [("LL-HLS", &llhls), ("TS", &ts)] {
        assert!(p.video_buffers >= 25, "{name} live: {p:?}");
        assert!(p.audio_buffers >= 25, "{name} live: {p:?}");
    }

    let out = wait_child_async(publisher, Duration::from_secs(60)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_endlist(
        &node.url("/live/strict/llhls.m3u8"),
        Duration::from_secs(20),
    )
    .await;

    // Every init segment, segment and part, and the TS segments in order.
    assert!(check_fmp4_playlist(&node.url("/live/strict/llhls.m3u8")).await > 8);
    let report = check_ts_playlist(&node.url("/live/strict/ts/index.m3u8")).await;
    assert_eq!(
        report.pes.get(&onair_media::ts::VIDEO_PID).copied(),
        Some(FRAMES)
    );

    // The ended stream, time-shift included, plays to its end with every frame.
    for path in [
        "/live/strict/index.m3u8",
        "/live/strict/ts/index.m3u8",
        "/live/strict/dvr.m3u8",
    ] {
        let p = gst_plays_to_end(&node.url(path)).await;
        assert_eq!(p.video_buffers, FRAMES, "{path}: {p:?}");
        assert!(p.audio_buffers > 300, "{path}: {p:?}");
    }

    // The recording: VOD from the store, and the MP4 download.
    let rec = complete_recording(&owner, &channel_id).await;
    let id = rec["id"].as_str().unwrap();
    let (_, mp4) = check_recording(&node, &owner, id, FRAMES).await;
    assert!((7.8..8.1).contains(&mp4.last_video_pts), "MP4: {mp4:?}");

    // A recording stored before the `esds` fix (its init segment declares a too-long
    // ES_Descriptor) is served corrected, and downloads as a conforming MP4.
    let vod = node.url(&format!("/vod/{id}/index.m3u8"));
    let vod_playlist = playlist::parse(&get_text(&vod).await.1);
    let init_name = &vod_playlist.map_uris[0];
    let key = format!("{}{init_name}", rec["prefix"].as_str().unwrap());
    let old = std::fs::read(fixture("init_esds_before_fix.mp4")).unwrap();
    let store = node.server.as_ref().unwrap().storage.store();
    store
        .put(&key, vec![old.clone().into()], "no-cache")
        .await
        .unwrap();
    assert!(mp4::check(&old).is_err());
    let served = get(&node.url(&format!("/vod/{id}/{init_name}")))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.len(), old.len());
    assert_eq!(mp4::check(&served).unwrap(), ["ftyp", "moov"]);
    check_recording(&node, &owner, id, FRAMES).await;
    node.stop().await;
}
