//! Deterministic tests: our client and server state machines talk to each other in memory.

use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_rtmp::amf0::Value;
use onair_rtmp::{
    ClientConfig, ClientEvent, ClientSession, ServerConfig, ServerEvent, ServerSession,
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
                        self.server.accept_publish(*stream_id).unwrap();
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
    assert!(s.handle_timeout(now + Duration::from_secs(2)).is_err());
    let p = Pair::new("x", 100);
    let mut server = p.server;
    assert!(
        server
            .handle_timeout(p.now + Duration::from_secs(31))
            .is_err()
    );
}
