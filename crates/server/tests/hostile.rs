//! Hostile peers: garbage handshakes, oversized chunk sizes and message lengths, and thousands
//! of idle connections are closed, while a concurrent real stream keeps playing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// True if the server closes the connection within `limit` (EOF or reset on read).
async fn closed_within(sock: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, sock.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A plain (version 0) RTMP handshake from the client side.
async fn handshake(sock: &mut TcpStream) {
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0u8; 1536]);
    sock.write_all(&c0c1).await.unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 1536 + 1536];
    sock.read_exact(&mut s0s1s2).await.unwrap();
    // C2 echoes S1.
    sock.write_all(&s0s1s2[1..1537]).await.unwrap();
}

/// A type 0 chunk header on chunk stream 2 (protocol control).
fn control_message(msg_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0];
    let len = payload.len() as u32;
    v.extend_from_slice(&len.to_be_bytes()[1..]);
    v.push(msg_type);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(payload);
    v
}

async fn playing_stream(node: &TestNode, name: &str) -> std::process::Child {
    let p = push(node, name, LIVE_FIXTURE);
    wait_ok(
        &node.url(&format!("/live/{name}/llhls.m3u8")),
        Duration::from_secs(15),
    )
    .await;
    p
}

async fn assert_still_playing(node: &TestNode, name: &str) {
    let url = node.url(&format!("/live/{name}/llhls.m3u8"));
    let before = common::playlist::parse(&get_text(&url).await.1);
    let start = Instant::now();
    loop {
        let now = common::playlist::parse(&get_text(&url).await.1);
        let progressed = now.next_msn() > before.next_msn()
            || now.trailing_parts.len() > before.trailing_parts.len() + 1;
        if progressed || now.endlist {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the real stream stopped progressing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_input_close_only_that_connection() {
    let node = TestNode::start().await;
    let publisher = playing_stream(&node, "safe").await;
    let addr = node.server.as_ref().unwrap().rtmp_addr;

    // Not RTMP at all.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[0xAB; 4000]).await.unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "garbage handshake not closed"
    );

    // Set Chunk Size far beyond the cap.
    let mut s = TcpStream::connect(addr).await.unwrap();
    handshake(&mut s).await;
    s.write_all(&control_message(1, &0x7FFF_FFFFu32.to_be_bytes()))
        .await
        .unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "oversized chunk size not closed"
    );

    // A message header announcing more than MAX_MESSAGE_LENGTH bytes (the 24-bit field's max).
    let mut s = TcpStream::connect(addr).await.unwrap();
    handshake(&mut s).await;
    // First raise the chunk size legitimately so the reader would accept long chunks.
    s.write_all(&control_message(1, &65536u32.to_be_bytes()))
        .await
        .unwrap();
    let mut hdr = vec![0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 20, 0, 0, 0, 0];
    hdr.extend_from_slice(&[0u8; 1024]);
    s.write_all(&hdr).await.unwrap();
    // Either closed for the length at once, or it waits for 16 MiB that never come: the idle
    // timeout (30 s default) is not what we test here, so require a prompt close only if the cap
    // is below the 24-bit maximum.
    if onair_rtmp::MAX_MESSAGE_LENGTH < 0xFF_FFFF {
        assert!(
            closed_within(&mut s, Duration::from_secs(5)).await,
            "oversized message not closed"
        );
    }

    // Handshake then silence: closed by the idle timeout is covered by the idle test below.
    assert_still_playing(&node, "safe").await;
    let _ = wait_child_async(publisher, Duration::from_secs(60)).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_are_closed_and_the_stream_plays_on() {
    let node = TestNode::start_with(|s| {
        s.rtmp_handshake_timeout = Duration::from_secs(2);
        s.rtmp_idle_timeout = Duration::from_secs(3);
    })
    .await;
    let publisher = playing_stream(&node, "busy").await;
    let addr = node.server.as_ref().unwrap().rtmp_addr;
    const IDLE: usize = 2000;
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        match TcpStream::connect(addr).await {
            Ok(mut s) => {
                // Half never speak; half send a partial handshake and stall.
                if i % 2 == 1 {
                    let _ = s.write_all(&[3u8; 100]).await;
                }
                idle.push(s);
            }
            Err(e) => panic!("connect {i} failed: {e}"),
        }
    }
    assert_still_playing(&node, "busy").await;
    // The handshake timeout closes all of them.
    let start = Instant::now();
    for s in idle.iter_mut() {
        let left = Duration::from_secs(15).saturating_sub(start.elapsed());
        assert!(
            closed_within(s, left).await,
            "an idle connection outlived the handshake timeout"
        );
    }
    assert_still_playing(&node, "busy").await;
    let out = wait_child_async(publisher, Duration::from_secs(60)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.stop().await;
}
