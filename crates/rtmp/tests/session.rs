//! Deterministic tests: our client and server state machines talk to each other in memory.

use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_rtmp::amf0::Value;
use onair_rtmp::chunk::{ChunkError, ChunkWriter, Message};
use onair_rtmp::message;
use onair_rtmp::{
    ClientConfig, ClientEvent, ClientSession, RtmpError, ServerConfig, ServerEvent, ServerSession,
};

struct Pair {
    client: ClientSession,
    server: ServerSession,
    now: Instant,
    server_events: Vec<ServerEvent>,
    client_events: Vec<ClientEvent>,
}

impl Pair {
    fn new(name: &str, split: usize) -> Self {
        let now = Instant::now();
        let client = ClientSession::new(ClientConfig {
            app: "live".into(),
            tc_url: "rtmp://localhost/live".into(),
            stream_name: name.into(),
            chunk_size: 1000,
        });
        let mut p = Self {
            client,
            server: ServerSession::new(ServerConfig::default(), now),
            now,
            server_events: vec![],
            client_events: vec![],
        };
        p.pump(split);
        p
    }

    /// Moves bytes both ways until quiet, delivering them in pieces of `split` bytes.
    fn pump(&mut self, split: usize) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(b) = self.client.poll_output() {
                moved = true;
                for piece in b.chunks(split.max(1)) {
                    self.server.handle_input(piece, self.now).unwrap();
                }
            }
            while let Some(e) = self.server.poll_event() {
                if let ServerEvent::PublishRequest {
                    stream_id,
                    stream_name,
                    ..
                } = &e
                {
                    if stream_name == "taken" {
                        self.server.reject_publish(
                            *stream_id,
                            "NetStream.Publish.BadName",
                            "taken is live",
                        );
                    } else {
                        self.server.accept_publish(*stream_id, self.now).unwrap();
                    }
                }
                self.server_events.push(e);
            }
            while let Some(b) = self.server.poll_output() {
                moved = true;
                self.client.handle_input(&b).unwrap();
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("the sessions never went quiet");
    }
}

#[test]
fn publish_flow_delivers_media_with_timestamps() {
    for split in [1, 7, 4096] {
        let mut p = Pair::new("cam", split);
        assert!(p.client_events.contains(&ClientEvent::Connected));
        assert!(p.client_events.contains(&ClientEvent::Publishing));
        assert!(matches!(&p.server_events[0], ServerEvent::Connect { app, .. } if app == "live"));
        assert!(p.server_events.iter().any(|e| matches!(e, ServerEvent::PublishRequest { stream_name, app, .. } if stream_name == "cam" && app == "live")));
        p.client
            .send_metadata(Value::object([("width", 320.0.into())]));
        let big = Bytes::from(vec![0x17; 5000]);
        // Timestamps crossing the extended-timestamp threshold and wrapping.
        let stamps = [0u32, 40, 0xFF_FFF0, 0x0100_0010, u32::MAX - 5, 3];
        for &ts in &stamps {
            p.client.send_video(ts, big.clone());
            p.client
                .send_audio(ts, Bytes::from_static(&[0xAF, 1, 2, 3]));
        }
        p.client.unpublish();
        p.pump(split);
        let videos: Vec<u32> = p
            .server_events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Video {
                    timestamp, payload, ..
                } => {
                    assert_eq!(payload, &big);
                    Some(*timestamp)
                }
                _ => None,
            })
            .collect();
        assert_eq!(videos, stamps);
        let audios = p
            .server_events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Audio { .. }))
            .count();
        assert_eq!(audios, stamps.len());
        assert!(p.server_events.iter().any(|e| matches!(e, ServerEvent::Metadata { values, .. } if values.get("width") == Some(&Value::Number(320.0)))));
        assert!(matches!(
            p.server_events.last(),
            Some(ServerEvent::Unpublish { .. })
        ));
    }
}

#[test]
fn rejected_publish_reports_the_status_code_and_drops_media() {
    let mut p = Pair::new("taken", 64);
    assert!(!p.client_events.contains(&ClientEvent::Publishing));
    assert!(p.client_events.iter().any(|e| matches!(e, ClientEvent::Status { code, level, .. } if code == "NetStream.Publish.BadName" && level == "error")));
    p.client
        .send_video(0, Bytes::from_static(&[0x17, 0, 0, 0, 0]));
    p.pump(64);
    assert!(
        !p.server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Video { .. }))
    );
}

#[test]
fn timeouts_fire() {
    let now = Instant::now();
    let cfg = ServerConfig {
        handshake_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let mut s = ServerSession::new(cfg.clone(), now);
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(2)));
    assert!(s.handle_timeout(now + Duration::from_secs(1)).is_ok());
    assert!(matches!(
        s.handle_timeout(now + Duration::from_secs(2)),
        Err(RtmpError::HandshakeTimeout)
    ));
    let p = Pair::new("x", 100);
    let mut server = p.server;
    assert!(matches!(
        server.handle_timeout(p.now + Duration::from_secs(31)),
        Err(RtmpError::IdleTimeout)
    ));
}

/// A server that completed the (plain) handshake, and a chunk writer to speak to it.
fn after_handshake(cfg: ServerConfig, now: Instant) -> (ServerSession, ChunkWriter) {
    let mut s = ServerSession::new(cfg, now);
    let mut c0c1c2 = vec![3u8];
    c0c1c2.extend_from_slice(&[0u8; 1536 * 2]);
    s.handle_input(&c0c1c2, now).unwrap();
    assert!(s.handshake_mode().is_some());
    while s.poll_output().is_some() {}
    (s, ChunkWriter::new())
}

fn feed(
    s: &mut ServerSession,
    w: &mut ChunkWriter,
    m: &Message,
    now: Instant,
) -> Result<(), RtmpError> {
    let mut out = Vec::new();
    w.write(m.csid, m, &mut out);
    for b in out {
        s.handle_input(&b, now)?;
    }
    Ok(())
}

fn connect_command() -> Message {
    message::command(
        message::CSID_COMMAND,
        0,
        &[
            "connect".into(),
            1.0.into(),
            Value::object([("app", "live".into())]),
        ],
    )
}

/// A connection that completes the handshake and connects but never publishes is closed by the
/// publish timeout, however many commands and pings it sends meanwhile.
#[test]
fn a_connection_that_never_publishes_is_closed_by_the_publish_timeout() {
    let now = Instant::now();
    let cfg = ServerConfig {
        handshake_timeout: Duration::from_secs(10),
        publish_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let (mut s, mut w) = after_handshake(cfg, now);
    feed(&mut s, &mut w, &connect_command(), now).unwrap();
    assert!(matches!(s.poll_event(), Some(ServerEvent::Connect { .. })));
    // The publish deadline runs from the connection's start; the (later) handshake deadline
    // is moot once the handshake is done.
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(5)));
    for i in 1..5 {
        let t = now + Duration::from_secs(i);
        let ping = message::user_control(message::UC_PING_REQUEST, i as u32);
        feed(&mut s, &mut w, &ping, t).unwrap();
        assert!(s.handle_timeout(t).is_ok());
    }
    assert!(matches!(
        s.handle_timeout(now + Duration::from_secs(5)),
        Err(RtmpError::PublishTimeout)
    ));
}

/// Once publishing, only media keeps a connection open: a peer that sends pings, window
/// acknowledgements and unknown commands instead is closed by the idle timeout.
#[test]
fn control_messages_do_not_reset_the_idle_timer() {
    let mut p = Pair::new("cam", 4096);
    let t0 = p.now;
    assert!(p.server.is_publishing());
    assert_eq!(p.server.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    let mut w = ChunkWriter::new();
    for i in 1..=29u64 {
        let t = t0 + Duration::from_secs(i);
        let ping = message::user_control(message::UC_PING_REQUEST, i as u32);
        feed(&mut p.server, &mut w, &ping, t).unwrap();
        feed(
            &mut p.server,
            &mut w,
            &message::acknowledgement(i as u32),
            t,
        )
        .unwrap();
    }
    assert!(matches!(
        p.server.handle_timeout(t0 + Duration::from_secs(30)),
        Err(RtmpError::IdleTimeout)
    ));

    // Media does keep it open.
    let mut p = Pair::new("cam", 4096);
    let t0 = p.now;
    p.now = t0 + Duration::from_secs(20);
    p.client
        .send_video(0, Bytes::from_static(&[0x17, 1, 0, 0, 0, 1]));
    p.pump(4096);
    assert!(
        p.server
            .handle_timeout(t0 + Duration::from_secs(45))
            .is_ok()
    );
    assert_eq!(p.server.poll_timeout(), Some(t0 + Duration::from_secs(50)));
}

/// After a publish ends the connection must publish again within the publish timeout.
#[test]
fn the_publish_timeout_restarts_when_a_publish_ends() {
    let mut p = Pair::new("cam", 4096);
    p.now += Duration::from_secs(100);
    p.client.unpublish();
    p.pump(4096);
    assert!(!p.server.is_publishing());
    assert_eq!(
        p.server.poll_timeout(),
        Some(p.now + Duration::from_secs(10))
    );
}

/// Before a publish is requested a peer cannot make the connection hold more than a few KiB:
/// a long message is refused at its header, however large the peer made the chunk size.
#[test]
fn messages_before_publish_are_limited_to_a_few_kib() {
    let now = Instant::now();
    let (mut s, mut w) = after_handshake(ServerConfig::default(), now);
    feed(
        &mut s,
        &mut w,
        &message::set_chunk_size(4 * 1024 * 1024),
        now,
    )
    .unwrap();
    let mut header = vec![0x03, 0, 0, 0];
    header.extend_from_slice(&(4u32 * 1024 * 1024).to_be_bytes()[1..]);
    header.extend_from_slice(&[message::VIDEO, 1, 0, 0, 0]);
    assert!(matches!(
        s.handle_input(&header, now),
        Err(RtmpError::Chunk(ChunkError::MessageTooLong { .. }))
    ));
    assert!(s.buffered_bytes() < 64 * 1024);

    // Several partial messages on different chunk streams: capped in total.
    let (mut s, mut w) = after_handshake(ServerConfig::default(), now);
    feed(&mut s, &mut w, &message::set_chunk_size(8 * 1024), now).unwrap();
    let mut err = None;
    for csid in 4..40u8 {
        // The first 8 KiB of a 12 KiB message (under the per-message limit).
        let mut chunk = vec![csid, 0, 0, 0];
        chunk.extend_from_slice(&(12u32 * 1024).to_be_bytes()[1..]);
        chunk.extend_from_slice(&[message::VIDEO, 1, 0, 0, 0]);
        chunk.extend_from_slice(&[0u8; 8 * 1024]);
        if let Err(e) = s.handle_input(&chunk, now) {
            err = Some((csid, e));
            break;
        }
    }
    assert!(
        matches!(
            err,
            Some((8, RtmpError::Chunk(ChunkError::TooMuchBuffered(_))))
        ),
        "{err:?}"
    );

    // After the publish request, real frames of hundreds of KiB pass.
    let mut p = Pair::new("cam", 4096);
    let big = Bytes::from(vec![0x17; 600 * 1024]);
    p.client.send_video(0, big.clone());
    p.pump(4096);
    assert!(
        p.server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Video { payload, .. } if payload == &big))
    );
}
