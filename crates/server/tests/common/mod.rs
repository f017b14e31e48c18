//! Shared harness for the end-to-end tests: an in-process node on loopback, real ffmpeg
//! publishers and readers, and an independent LL-HLS playlist parser.
#![allow(dead_code)]

/// Runs each listed scenario `async fn NAME(backend)` as two tests, `sqlite::NAME` and
/// `postgres::NAME` (test files that use it declare `#[macro_use] mod common;`).
#[allow(unused_macros)]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

pub mod api;
pub mod browser;
pub mod db;
pub mod http;
pub mod net;
pub mod playlist;
pub mod s3;
pub mod strict;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use onair_server::Server;
use onair_server::config::{PublishAuthMode, ServeArgs, Settings};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(name: &str) -> PathBuf {
    workspace().join("testdata").join(name)
}

/// The fixture pushed by most tests: 8 s of 320x240 H.264 High @25 fps (1 s GOP, B-frames)
/// and stereo AAC-LC 44.1 kHz. 200 video frames.
pub const LIVE_FIXTURE: &str = "live_h264_aac.flv";
pub const LIVE_FIXTURE_VIDEO_FRAMES: i64 = 200;
pub const LIVE_FIXTURE_GOP: i64 = 25;

/// Settings for a test node: loopback, ephemeral ports, 1 s segments.
pub fn test_settings(data_dir: &Path) -> Settings {
    let mut s = ServeArgs {
        rtmp_listen: Some("127.0.0.1:0".parse().unwrap()),
        http_listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(data_dir.to_path_buf()),
        segment_duration: Some(1.0),
        part_duration: Some(0.2),
        window_segments: Some(30),
        unpublish_grace: Some(3.0),
        ..Default::default()
    }
    .resolve()
    .unwrap();
    s.log_json = false;
    // The pipeline tests publish to `/live/{channel}` without credentials; the system
    // management tests switch to stream keys (the production default) with `keyed()`.
    s.publish_auth = PublishAuthMode::Open;
    s
}

/// Turns stream-key publish authorization on (the default outside tests).
pub fn keyed(s: &mut Settings) {
    s.publish_auth = PublishAuthMode::StreamKey;
}

pub struct TestNode {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub http: String,
    pub rtmp: String,
}

impl TestNode {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_on(db::Backend::Sqlite, tweak).await
    }

    /// A node whose metadata lives on `backend` (SQLite in its data directory, or a fresh
    /// PostgreSQL database).
    pub async fn start_on(backend: db::Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let _ = tracing_subscriber_init();
        let dir = tempfile::tempdir().unwrap();
        let mut settings = test_settings(dir.path());
        if backend == db::Backend::Postgres {
            settings.database_url = Some(db::fresh_postgres().await);
        }
        tweak(&mut settings);
        let server = Server::start(settings).await.unwrap();
        let http = format!("http://{}", server.http_addr);
        let rtmp = format!("rtmp://{}", server.rtmp_addr);
        Self {
            server: Some(server),
            dir,
            http,
            rtmp,
        }
    }

    /// The node's database, keys and live registry.
    pub fn sys(&self) -> &std::sync::Arc<onair_server::system::System> {
        &self.server.as_ref().expect("running").sys
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.http, path)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown(Duration::from_secs(5)).await;
        }
    }
}

fn tracing_subscriber_init() -> Option<()> {
    None
}

/// `ffmpeg -re -i FIXTURE -c copy -f flv rtmp://…/live/NAME` in the background.
pub fn push(node: &TestNode, name: &str, fixture_name: &str) -> Child {
    push_fixture(node, name, fixture_name, false)
}

/// Like [`push`], looping the fixture until killed (for tests that need a stream to stay live).
pub fn push_looped(node: &TestNode, name: &str) -> Child {
    push_fixture(node, name, LIVE_FIXTURE, true)
}

fn push_fixture(node: &TestNode, name: &str, fixture_name: &str, looped: bool) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(if looped {
            &["-stream_loop", "-1"][..]
        } else {
            &[][..]
        })
        .arg("-i")
        .arg(fixture(fixture_name))
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("{}/live/{name}", node.rtmp))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg must be installed (the test command installs it)")
}

/// Waits for a child with a time limit; kills it when the limit passes.
pub fn wait_child(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub async fn wait_child_async(child: Child, limit: Duration) -> Output {
    tokio::task::spawn_blocking(move || wait_child(child, limit))
        .await
        .unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

pub async fn get_text(url: &str) -> (u16, String) {
    let r = get(url).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Polls `url` until it answers 200, at most `limit`.
pub async fn wait_ok(url: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let (status, body) = get_text(url).await;
        if status == 200 {
            return body;
        }
        assert!(
            start.elapsed() < limit,
            "{url} did not become ready: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What ffprobe says about a URL or file: per stream (codec, width, height, packets read).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub streams: Vec<ProbeStream>,
    pub stderr: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStream {
    pub codec_type: String,
    pub codec_name: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub packets: i64,
}

impl Probe {
    pub fn stream(&self, kind: &str) -> Option<&ProbeStream> {
        self.streams.iter().find(|s| s.codec_type == kind)
    }
}

/// Runs ffprobe counting packets (the whole input is read: a live input is read to its end).
pub fn ffprobe(input: &str, limit: Duration) -> Probe {
    ffprobe_with(input, limit, true)
}

/// ffprobe of a live input: stream parameters only (counting packets would read until the
/// stream ends).
pub fn ffprobe_live(input: &str, limit: Duration) -> Probe {
    ffprobe_with(input, limit, false)
}

fn ffprobe_with(input: &str, limit: Duration, count: bool) -> Probe {
    let child = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(if count {
            &["-count_packets"][..]
        } else {
            &[][..]
        })
        .arg("-show_entries")
        .arg("stream=codec_type,codec_name,width,height,nb_read_packets")
        .args(["-of", "json", input])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_child(child, limit);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let streams = json["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| ProbeStream {
                    codec_type: s["codec_type"].as_str().unwrap_or("").to_owned(),
                    codec_name: s["codec_name"].as_str().unwrap_or("").to_owned(),
                    width: s["width"].as_i64(),
                    height: s["height"].as_i64(),
                    packets: s["nb_read_packets"]
                        .as_str()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(-1),
                })
                .collect()
        })
        .unwrap_or_default();
    Probe {
        streams,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Decodes an input fully with ffmpeg; returns (exit ok, stderr). `-xerror` makes any decoding
/// error fatal.
pub fn ffmpeg_decode(input: &str, limit: Duration) -> (bool, String) {
    let child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-xerror",
            "-i",
            input,
            "-f",
            "null",
            "-",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_child(child, limit);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `f` until it returns `Some`, at most `limit`.
pub async fn eventually<T>(
    limit: Duration,
    what: &str,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls a media playlist until it carries EXT-X-ENDLIST.
pub async fn wait_endlist(url: &str, limit: Duration) -> playlist::MediaPlaylist {
    let start = Instant::now();
    loop {
        let (status, text) = get_text(url).await;
        if status == 200 {
            let p = playlist::parse(&text);
            if p.endlist {
                return p;
            }
        }
        assert!(
            start.elapsed() < limit,
            "{url} never ended: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
