#![no_main]
//! A whole server session (handshake, chunks, commands) on arbitrary bytes after a valid C0/C1/C2.
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use onair_rtmp::{ServerConfig, ServerEvent, ServerSession};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default(), now);
    let mut hs = vec![3u8];
    hs.extend_from_slice(&[0u8; 1536 * 2]);
    if s.handle_input(&hs, now).is_err() {
        return;
    }
    if s.handle_input(data, now).is_err() {
        return;
    }
    while let Some(e) = s.poll_event() {
        if let ServerEvent::PublishRequest { stream_id, .. } = e {
            let _ = s.accept_publish(stream_id, now);
        }
    }
    while s.poll_output().is_some() {}
});
