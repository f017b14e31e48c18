//! Interop with real clients: a minimal blocking TCP driver around `ServerSession` receives a
//! publish from ffmpeg's native RTMP client (which uses the digest handshake) and from
//! GStreamer's rtmp2sink.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use onair_rtmp::handshake::HandshakeMode;
use onair_rtmp::{ServerConfig, ServerEvent, ServerSession};

#[derive(Default, Debug)]
struct Seen {
    publish: Option<(String, String)>,
    metadata: bool,
    video: usize,
    audio: usize,
    avc_header: bool,
    aac_header: bool,
    unpublish: bool,
    mode: Option<HandshakeMode>,
}

fn serve_one(listener: TcpListener) -> Seen {
    let (mut sock, _) = listener.accept().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut s = ServerSession::new(ServerConfig::default(), Instant::now());
    let mut seen = Seen::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        s.handle_input(&buf[..n], Instant::now()).unwrap();
        seen.mode = seen.mode.or(s.handshake_mode());
        while let Some(e) = s.poll_event() {
            match e {
                ServerEvent::PublishRequest {
                    stream_id,
                    app,
                    stream_name,
                    ..
                } => {
                    seen.publish = Some((app, stream_name));
                    s.accept_publish(stream_id, Instant::now()).unwrap();
                }
                ServerEvent::Metadata { .. } => seen.metadata = true,
                ServerEvent::Video { payload, .. } => {
                    // AVCPacketType: 0 sequence header, 1 NALUs, 2 end of sequence.
                    match payload[1] {
                        0 => seen.avc_header = true,
                        1 => seen.video += 1,
                        _ => {}
                    }
                }
                ServerEvent::Audio { payload, .. } => {
                    if payload[..2] == [0xAF, 0x00] {
                        seen.aac_header = true
                    } else {
                        seen.audio += 1
                    }
                }
                ServerEvent::Unpublish { .. } => seen.unpublish = true,
                ServerEvent::Connect { .. } => {}
            }
        }
        while let Some(out) = s.poll_output() {
            if sock.write_all(&out).is_err() {
                return seen;
            }
        }
    }
    seen
}

#[test]
fn ffmpeg_publishes_through_the_digest_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || serve_one(listener));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine",
        ])
        .args([
            "-t", "3", "-c:v", "libx264", "-g", "25", "-c:a", "aac", "-f", "flv",
        ])
        .arg(format!("rtmp://127.0.0.1:{port}/live/test"))
        .stdout(Stdio::null())
        .status()
        .expect("ffmpeg must be installed");
    assert!(status.success());
    let seen = server.join().unwrap();
    assert_eq!(seen.publish, Some(("live".into(), "test".into())));
    assert!(
        matches!(seen.mode, Some(HandshakeMode::Digest { .. })),
        "{seen:?}"
    );
    assert!(
        seen.metadata && seen.avc_header && seen.aac_header && seen.unpublish,
        "{seen:?}"
    );
    assert_eq!(seen.video, 75);
    assert!(seen.audio > 100, "{seen:?}");
}

/// Publishes 50 frames of H.264 with GStreamer's `sink` element to a one-shot server.
fn gst_publish(sink: &str, name: &str) -> Seen {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || serve_one(listener));
    let pipeline = format!(
        "videotestsrc num-buffers=50 ! video/x-raw,width=160,height=120,framerate=25/1 ! x264enc key-int-max=25 \
         ! h264parse ! flvmux name=m streamable=true ! {sink} location=rtmp://127.0.0.1:{port}/live/{name}"
    );
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .status()
        .expect("gst-launch-1.0 must be installed");
    assert!(status.success());
    server.join().unwrap()
}

#[test]
fn gstreamer_rtmp2sink_publishes() {
    let seen = gst_publish("rtmp2sink", "gst");
    assert_eq!(seen.publish, Some(("live".into(), "gst".into())));
    assert!(seen.avc_header, "{seen:?}");
    assert_eq!(seen.video, 50, "{seen:?}");
}

/// GStreamer's `rtmpsink` is built on librtmp, the library inside OBS. Debian's build sends the
/// plain handshake (OBS's own build sends the FP9 digest one, which the tests with ffmpeg cover
/// from both sides); the command exchange is librtmp's either way.
#[test]
fn librtmp_publishes() {
    let seen = gst_publish("rtmpsink", "obs");
    assert!(seen.mode.is_some(), "{seen:?}");
    assert_eq!(seen.publish, Some(("live".into(), "obs".into())));
    assert!(seen.avc_header, "{seen:?}");
    assert!(seen.video >= 49, "{seen:?}");
}

/// ffmpeg as a *player* verifies the server's side of the digest handshake (S1 digest keyed
/// with the FMS key, S2 signed with a key derived from its own digest) before it sends any
/// command; we then refuse the play, which proves the handshake was accepted.
#[test]
fn ffmpeg_player_accepts_our_digest_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || serve_one(listener));
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-rw_timeout", "5000000", "-i"])
        .arg(format!("rtmp://127.0.0.1:{port}/live/x"))
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg must be installed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("validating failed") && !err.contains("Signature mismatch"),
        "{err}"
    );
    assert!(
        err.contains("RTMP playback is not offered"),
        "ffmpeg never reached the play command: {err}"
    );
    let seen = server.join().unwrap();
    assert!(
        matches!(seen.mode, Some(HandshakeMode::Digest { .. })),
        "{seen:?}"
    );
}
