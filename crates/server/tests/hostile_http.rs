//! Hostile HTTP clients against a running node on loopback: slowloris request heads (HTTP/1.1,
//! h2c, TLS), connection floods under the global and per-address caps, floods of live
//! statistics subscribers, and IPv6 clients rotating addresses within their /64.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::api::{Api, user};
use common::net::{closed_within, connect_from};
use common::*;
use onair_server::db::users::Role;
use onair_server::security::ratelimit::RateLimit;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HALF_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: onair\r\nUser-Agent: slow";

fn http_addr(node: &TestNode) -> SocketAddr {
    node.server.as_ref().unwrap().http_addr
}

/// `GET /healthz` on a kept-alive connection: true when it is answered, false when the server
/// closed the connection instead.
async fn healthz(sock: &mut TcpStream) -> bool {
    if sock
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: onair\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"\r\n\r\nok\n") {
        match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
    assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    true
}

/// Fifty connections that send half a request head and stop are closed after the header
/// timeout, while a normal request is answered meanwhile; a kept-alive connection gets the
/// header timeout from the first byte of its next head, and otherwise the (longer) idle
/// timeout; a stalled HTTP/2 (h2c) preface, or a preface without a request, is closed the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_are_closed_after_the_header_timeout() {
    let node = TestNode::start_with(|s| {
        s.http_limits.header_timeout = Duration::from_secs(1);
        s.http_limits.idle_timeout = Duration::from_secs(3);
    })
    .await;
    let addr = http_addr(&node);
    let start = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut sock = TcpStream::connect(addr).await.unwrap();
        sock.write_all(HALF_HEAD).await.unwrap();
        slow.push(sock);
    }
    // h2c: half the preface; the whole preface and SETTINGS but never a request.
    let mut h2_half = TcpStream::connect(addr).await.unwrap();
    h2_half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut h2_quiet = TcpStream::connect(addr).await.unwrap();
    h2_quiet
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let (status, body) = get_text(&node.url("/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"), "a normal request");
    for (i, sock) in slow
        .iter_mut()
        .chain([&mut h2_half, &mut h2_quiet])
        .enumerate()
    {
        let left = Duration::from_secs(5).saturating_sub(start.elapsed());
        assert!(
            closed_within(sock, left).await,
            "slow connection {i} still open after {:?}",
            start.elapsed()
        );
    }

    // Kept alive: quiet past the header timeout is fine …
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut dribbling = TcpStream::connect(addr).await.unwrap();
    assert!(healthz(&mut idle).await);
    assert!(healthz(&mut dribbling).await);
    let idle_from = Instant::now();
    // … a head started and not finished is not.
    dribbling.write_all(HALF_HEAD).await.unwrap();
    assert!(closed_within(&mut dribbling, Duration::from_millis(2500)).await);
    assert!(
        !closed_within(
            &mut idle,
            Duration::from_millis(1500).saturating_sub(idle_from.elapsed())
        )
        .await,
        "an idle keep-alive connection was closed at the header timeout"
    );
    assert!(healthz(&mut idle).await, "it still serves requests");
    let idle_from = Instant::now();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle connection outlived the idle timeout"
    );
    let waited = idle_from.elapsed();
    assert!(
        waited >= Duration::from_millis(2500),
        "closed after {waited:?}"
    );
    node.stop().await;
}

/// Over TLS the handshake counts toward the header timeout: a client that connects and sends
/// nothing, or half a ClientHello, is closed; HTTPS requests are answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tls_handshakes_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = common::net::self_signed_tls(dir.path());
    let node = TestNode::start_with(|s| {
        s.tls = Some((cert_path, key_path));
        s.http_limits.header_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = http_addr(&node);
    let start = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half_hello = TcpStream::connect(addr).await.unwrap();
    half_hello
        .write_all(&[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ])
        .await
        .unwrap();
    let https = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = https
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for sock in [&mut silent, &mut half_hello] {
        assert!(closed_within(sock, Duration::from_secs(4)).await);
    }
    assert!(start.elapsed() >= Duration::from_millis(900));
    node.stop().await;
}

/// With a cap of 6 connections and 2 per address: a third connection from one address is
/// closed at once while its first two keep working; a trusted proxy is not held to the
/// per-address cap; past the global cap any new connection is closed; when one closes, a new
/// one is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_caps_are_refused_at_once() {
    let node = TestNode::start_with(|s| {
        s.http_limits.max_connections = 6;
        s.http_limits.max_connections_per_ip = 2;
        s.trusted_proxies = vec!["127.0.0.3/32".parse().unwrap()];
    })
    .await;
    let addr = http_addr(&node);
    let (a, b, edge) = ([127, 0, 0, 1], [127, 0, 0, 2], [127, 0, 0, 3]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut sock = connect_from(a, addr).await;
        assert!(healthz(&mut sock).await);
        held.push(sock);
    }
    let mut third = connect_from(a, addr).await;
    assert!(
        closed_within(&mut third, Duration::from_secs(1)).await,
        "a third connection from one address must be closed at once"
    );
    let mut edges = Vec::new();
    for _ in 0..3 {
        let mut sock = connect_from(edge, addr).await;
        assert!(
            healthz(&mut sock).await,
            "a trusted proxy passes the per-address cap"
        );
        edges.push(sock);
    }
    let mut other = connect_from(b, addr).await;
    assert!(healthz(&mut other).await);
    // Six open: the global cap.
    let mut seventh = connect_from(b, addr).await;
    assert!(
        closed_within(&mut seventh, Duration::from_secs(1)).await,
        "a connection beyond the global cap must be closed at once"
    );
    for sock in held.iter_mut().chain(&mut edges).chain([&mut other]) {
        assert!(healthz(sock).await, "an open connection stopped working");
    }
    drop(edges.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut sock = connect_from(b, addr).await;
        if healthz(&mut sock).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection served after one closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.stop().await;
}

/// Opens `/api/v1/streams/events` as `api`: the response (head received) to hold open.
async fn subscribe(api: &Api) -> reqwest::Response {
    api.request(Method::GET, "/api/v1/streams/events")
        .send()
        .await
        .unwrap()
}

async fn assert_too_many(r: reqwest::Response) {
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(r.headers().get("retry-after").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["type"],
        onair_server::http::api::streams::PROBLEM_TOO_MANY_SUBSCRIPTIONS
    );
}

/// A user may hold 2 live statistics streams and an address 3 (the caps set here): the next
/// subscriber gets 429 problem+json, and a slot given back is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_subscribers_are_capped() {
    let node = TestNode::start_with(|s| {
        s.http_limits.max_event_subscribers_per_user = 2;
        s.http_limits.max_event_subscribers_per_ip = 3;
    })
    .await;
    let alice = user(&node, "alice@example.com", Role::Viewer).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let r = subscribe(&alice).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        held.push(r);
    }
    assert_too_many(subscribe(&alice).await).await;
    // The same user through an access token is the same user.
    assert_too_many(subscribe(&alice.with_token(&["read"]).await).await).await;
    // Anonymous subscribers count toward the address only.
    let anonymous = Api::anonymous(&node.http);
    let r = subscribe(&anonymous).await;
    assert_eq!(r.status(), 200);
    held.push(r);
    assert_too_many(subscribe(&anonymous).await).await;
    // A subscriber that goes away gives its slot back (noticed at the next event, ≤ 1 s).
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = subscribe(&alice).await;
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 429);
        assert!(Instant::now() < deadline, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.stop().await;
}

/// Behind a trusted proxy, viewers are told apart by `X-Forwarded-For`: addresses of one IPv6
/// /64 share one login budget (an attacker holding a /64 cannot rotate through it), other /64s
/// do not, and an IPv4-mapped IPv6 address shares its IPv4 address's budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ipv6_64_shares_one_login_budget() {
    let node = TestNode::start_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.limits.login_per_ip = RateLimit {
            max: 2,
            per: Duration::from_secs(3600),
        };
    })
    .await;
    let c = client();
    let mut n = 0;
    let mut login = |from: &'static str| {
        n += 1;
        // A different unknown address each time: only the per-address budget says 429.
        c.post(node.url("/api/v1/auth/login"))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({
                "email": format!("nobody{n}@example.com"),
                "password": "not the password",
            }))
            .send()
    };
    assert_eq!(login("2001:db8:1:2::1").await.unwrap().status(), 401);
    assert_eq!(login("2001:db8:1:2:ffff::9").await.unwrap().status(), 401);
    assert_eq!(
        login("2001:db8:1:2::3").await.unwrap().status(),
        429,
        "same /64"
    );
    assert_eq!(
        login("2001:db8:1:2:abcd:1:2:3").await.unwrap().status(),
        429,
        "same /64"
    );
    assert_eq!(
        login("2001:db8:1:3::1").await.unwrap().status(),
        401,
        "another /64"
    );
    assert_eq!(login("::ffff:192.0.2.1").await.unwrap().status(), 401);
    assert_eq!(login("192.0.2.1").await.unwrap().status(), 401);
    assert_eq!(
        login("192.0.2.1").await.unwrap().status(),
        429,
        "mapped and plain IPv4 are one address"
    );
    assert_eq!(login("192.0.2.2").await.unwrap().status(), 401);
    node.stop().await;
}
