//! Other real publishers: GStreamer's `rtmp2sink`, and ffmpeg encoding live (not `-c copy`).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rtmp2sink_publishes_and_plays() {
    let node = TestNode::start().await;
    let location = format!("{}/live/gst", node.rtmp);
    // 6 s at 25 fps, 1 s GOP; audio from audiotestsrc encoded by libav's AAC encoder.
    let pipeline = format!(
        "videotestsrc num-buffers=150 is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 \
         ! x264enc key-int-max=25 tune=zerolatency speed-preset=veryfast bitrate=300 \
         ! h264parse ! queue ! m. \
         audiotestsrc num-buffers=258 is-live=true ! audio/x-raw,rate=44100,channels=2 \
         ! audioconvert ! avenc_aac ! aacparse ! queue ! m. \
         flvmux name=m streamable=true ! rtmp2sink location={location}"
    );
    let child = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gst-launch-1.0 must be installed (the test command installs it)");
    let llhls = node.url("/live/gst/llhls.m3u8");
    wait_ok(&llhls, Duration::from_secs(20)).await;
    let out = wait_child_async(child, Duration::from_secs(60)).await;
    assert!(
        out.status.success(),
        "gst-launch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // rtmp2sink closes without FCUnpublish on EOS in some versions: wait for the grace period
    // or a clean end, then read back what was recorded in the window.
    wait_endlist(&llhls, Duration::from_secs(20)).await;
    let url = node.url("/live/gst/index.m3u8");
    let probe = tokio::task::spawn_blocking(move || ffprobe(&url, Duration::from_secs(60)))
        .await
        .unwrap();
    let v = probe
        .stream("video")
        .unwrap_or_else(|| panic!("no video: {probe:?}"));
    assert_eq!(v.codec_name, "h264");
    assert_eq!((v.width, v.height), (Some(320), Some(240)));
    assert!(
        v.packets >= 150 - 2 * 25,
        "{} video frames of 150",
        v.packets
    );
    assert_eq!(
        probe.stream("audio").map(|a| a.codec_name.as_str()),
        Some("aac")
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_live_encode_publishes_and_plays() {
    let node = TestNode::start().await;
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=256x144:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000"])
        .args([
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "30", "-c:a", "aac", "-ac", "1", "-f", "flv"])
        .arg(format!("{}/live/enc", node.rtmp))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_child_async(child, Duration::from_secs(60)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_endlist(&node.url("/live/enc/llhls.m3u8"), Duration::from_secs(20)).await;
    let url = node.url("/live/enc/ts/index.m3u8");
    let probe = tokio::task::spawn_blocking(move || ffprobe(&url, Duration::from_secs(60)))
        .await
        .unwrap();
    let v = probe
        .stream("video")
        .unwrap_or_else(|| panic!("no video: {probe:?}"));
    assert_eq!((v.width, v.height), (Some(256), Some(144)));
    assert!(
        (v.packets - 120).abs() <= 30,
        "{} video frames of 120",
        v.packets
    );
    let a = probe.stream("audio").unwrap();
    assert_eq!(a.codec_name, "aac");
    node.stop().await;
}
