//! HTTP delivery details: HTTP/2 (cleartext prior knowledge and over TLS), 503 before media,
//! the RTMP connection cap, and the binary's SIGTERM handling.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

fn curl_http_version(args: &[&str], url: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_in_clear_and_over_tls() {
    let node = TestNode::start().await;
    let url = node.url("/healthz");
    let v =
        tokio::task::spawn_blocking(move || curl_http_version(&["--http2-prior-knowledge"], &url))
            .await
            .unwrap();
    assert_eq!(v, "2 200");
    node.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = common::net::self_signed_tls(dir.path());
    let node = TestNode::start_with(|s| {
        s.tls = Some((cert_path, key_path));
        s.admin_password = Some("a long admin password".to_owned());
    })
    .await;
    // Over TLS the console cookies are `Secure` (plain HTTP ones cannot be: tests/accounts/).
    let login = node
        .url("/api/v1/auth/login")
        .replace("http://", "https://");
    let headers = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(["-k", "-s", "-o", "/dev/null", "-D", "-", "-X", "POST"])
            .args(["-H", "content-type: application/json", "-d"])
            .arg(r#"{"email":"admin@localhost","password":"a long admin password"}"#)
            .arg(&login)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap();
    let cookies: Vec<&str> = headers
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .collect();
    assert_eq!(cookies.len(), 2, "{headers}");
    for c in &cookies {
        assert!(c.contains("; Secure"), "{c}");
        assert!(c.contains("SameSite=Lax"), "{c}");
    }
    assert!(
        cookies
            .iter()
            .any(|c| c.contains("onair_session=") && c.contains("HttpOnly")),
        "{headers}"
    );
    let url = node.url("/healthz").replace("http://", "https://");
    let u = url.clone();
    let v = tokio::task::spawn_blocking(move || curl_http_version(&["-k", "--http2"], &u))
        .await
        .unwrap();
    assert_eq!(v, "2 200", "HTTP/2 over TLS (ALPN h2)");
    let v = tokio::task::spawn_blocking(move || curl_http_version(&["-k", "--http1.1"], &url))
        .await
        .unwrap();
    assert_eq!(v, "1.1 200");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_media_yet_is_503_with_retry_after() {
    let node = TestNode::start().await;
    let registry = node.server.as_ref().unwrap().registry.clone();
    let publisher = registry
        .start_publish("quiet", "127.0.0.1:1".into())
        .await
        .unwrap();
    for path in [
        "/live/quiet/llhls.m3u8",
        "/live/quiet/index.m3u8",
        "/live/quiet/ts/index.m3u8",
        "/live/quiet.flv",
    ] {
        let r = get(&node.url(path)).await;
        assert_eq!(r.status(), 503, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        assert!(r.headers().get("retry-after").is_some(), "{path}");
        // Playlists' 503 may be shared by a CDN for a second (coalescing a crowd of waiters);
        // the endless HTTP-FLV answer never is.
        let cc = if path.ends_with(".flv") {
            "no-store"
        } else {
            "public, max-age=1"
        };
        assert_eq!(r.headers()["cache-control"], cc, "{path}");
    }
    publisher.finish();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_connections_beyond_the_cap_are_refused() {
    let node = TestNode::start_with(|s| s.max_rtmp_connections = 3).await;
    let addr = node.server.as_ref().unwrap().rtmp_addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let mut b = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_secs(3), extra.read(&mut b)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "the fourth connection must be closed at once"
    );
    // The held ones are still open (the handshake timeout has not passed).
    let r = tokio::time::timeout(Duration::from_millis(300), held[0].read(&mut b)).await;
    assert!(r.is_err(), "a connection within the cap was closed");
    drop(held);
    node.stop().await;
}

#[test]
fn sigterm_stops_the_binary_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onair"))
        .args([
            "serve",
            "--rtmp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // The first start prints the admin login, a stream key and where to push and watch.
    let (mut publish, mut watch, mut password) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("ffmpeg -re") {
            publish = line.split_whitespace().last().map(str::to_owned);
        }
        if line.trim_start().starts_with("LL-HLS") {
            watch = line.split_whitespace().last().map(str::to_owned);
        }
        if line.trim_start().starts_with("Password") {
            password = line.split_whitespace().nth(1).map(str::to_owned);
        }
        if line.contains("Live streams:") {
            break;
        }
    }
    let publish = publish.expect("the binary prints a publish URL with the stream key");
    let watch = watch.expect("the binary prints the LL-HLS URL");
    assert!(
        password.is_some_and(|p| p.len() >= 16),
        "a generated admin password is printed once"
    );
    let publisher = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
        ])
        .arg(fixture(LIVE_FIXTURE))
        .args(["-c", "copy", "-f", "flv"])
        .arg(&publish)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // What the banner says to watch plays what the banner says to push.
    let deadline = Instant::now() + Duration::from_secs(20);
    let probe = loop {
        let probe = ffprobe_live(&watch, Duration::from_secs(20));
        if probe.stream("video").is_some() || Instant::now() > deadline {
            break probe;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        probe.stream("video").map(|v| v.codec_name.as_str()),
        Some("h264"),
        "{probe:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let start = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait_child(child, Duration::from_secs(10));
    assert!(
        out.status.success(),
        "onair did not exit cleanly on SIGTERM: {:?}",
        out.status
    );
    assert!(start.elapsed() < Duration::from_secs(8));
    // The publisher lost its connection and gave up.
    let p = wait_child(publisher, Duration::from_secs(10));
    assert!(
        p.status.code().is_some(),
        "ffmpeg kept running after the server stopped"
    );
}

/// `/metrics` names every live channel; with a metrics token it needs that bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token() {
    let node = TestNode::start_with(|s| s.metrics_token = Some("scrape-secret".into())).await;
    let url = node.url("/metrics");
    assert_eq!(get(&url).await.status(), 401);
    let c = client();
    let wrong = c.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = c
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    node.stop().await;
}

/// The console may not be framed by other sites (it acts with the user's session); the player
/// may (embedding is its purpose). Neither leaks a signed link's token through `Referer`, and
/// both restrict scripts and connections to this origin. `--web-dir` serves a build from disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_and_player_pages_carry_their_security_headers() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("index.html"), "<p>console from disk").unwrap();
    std::fs::write(dist.path().join("watch.html"), "<p>player from disk").unwrap();
    std::fs::write(dist.path().join("assets/app-1.js"), "export {}").unwrap();
    std::fs::write(dist.path().join("favicon.svg"), "<svg/>").unwrap();
    let web_dir = dist.path().to_path_buf();
    let node = TestNode::start_with(move |s| s.web_dir = Some(web_dir)).await;
    for path in [
        "/",
        "/console",
        "/console/channels/abc",
        "/console/verify?token=x",
    ] {
        let res = get(&node.url(path)).await;
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(res.text().await.unwrap(), "<p>console from disk");
    }
    for path in ["/watch/cam", "/embed/cam?token=abc"] {
        let res = get(&node.url(path)).await;
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert!(h.get("x-frame-options").is_none(), "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(!csp.contains("frame-ancestors"), "{path}: {csp}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(res.text().await.unwrap(), "<p>player from disk");
    }
    let res = get(&node.url("/assets/app-1.js")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        get(&node.url("/assets/..%2Findex.html")).await.status(),
        404
    );
    assert_eq!(get(&node.url("/assets/missing.js")).await.status(), 404);
    // The icon, also where browsers look for it by themselves.
    for path in ["/favicon.svg", "/favicon.ico"] {
        let res = get(&node.url(path)).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], "image/svg+xml", "{path}");
        assert_eq!(res.text().await.unwrap(), "<svg/>");
    }
    node.stop().await;
}

/// A single node is always ready (it has nothing to drain to) and has no cluster endpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_is_ready_and_has_no_internal_endpoints() {
    let node = TestNode::start().await;
    let (status, _) = get_text(&node.url("/healthz/ready")).await;
    assert_eq!(status, 200);
    let r = client()
        .post(node.url("/internal/v1/drain"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    node.stop().await;
}
