//! Viewer counting per stream and protocol.
//!
//! HTTP-FLV viewers hold a connection, so they are counted exactly. HLS viewers only make
//! requests; a viewer is a distinct session seen in the last [`HLS_VIEWER_WINDOW`] (a sliding
//! window): the playback signature when the URL carries one (one per viewer), else the
//! (client address, User-Agent) pair.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderMap, header};
use parking_lot::Mutex;

/// Viewer protocols counted separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Hls,
    LlHls,
    Flv,
}

/// How long an HLS client counts as watching after its last request.
pub const HLS_VIEWER_WINDOW: Duration = Duration::from_secs(15);
/// Distinct HLS clients tracked per stream and protocol at most (memory bound under abuse).
pub const MAX_TRACKED_VIEWERS: usize = 100_000;

#[derive(Default)]
pub struct Viewers {
    hls: Mutex<HashMap<u64, Instant>>,
    llhls: Mutex<HashMap<u64, Instant>>,
    flv: AtomicI64,
}

impl Viewers {
    /// Records a request from an HLS client.
    pub fn touch(
        &self,
        protocol: Protocol,
        ip: IpAddr,
        headers: &HeaderMap,
        session: Option<&str>,
    ) {
        let map = match protocol {
            Protocol::Hls => &self.hls,
            Protocol::LlHls => &self.llhls,
            Protocol::Flv => return,
        };
        let mut h = DefaultHasher::new();
        match session {
            Some(s) => s.hash(&mut h),
            None => {
                ip.hash(&mut h);
                headers
                    .get(header::USER_AGENT)
                    .map(|v| v.as_bytes())
                    .hash(&mut h);
            }
        }
        let key = h.finish();
        let now = Instant::now();
        let mut m = map.lock();
        if m.len() >= MAX_TRACKED_VIEWERS && !m.contains_key(&key) {
            m.retain(|_, t| now.duration_since(*t) < HLS_VIEWER_WINDOW);
            if m.len() >= MAX_TRACKED_VIEWERS {
                return;
            }
        }
        m.insert(key, now);
    }

    /// Viewers of `protocol` now.
    pub fn count(&self, protocol: Protocol) -> u64 {
        let map = match protocol {
            Protocol::Hls => &self.hls,
            Protocol::LlHls => &self.llhls,
            Protocol::Flv => return self.flv.load(Ordering::Relaxed).max(0) as u64,
        };
        let now = Instant::now();
        let mut m = map.lock();
        m.retain(|_, t| now.duration_since(*t) < HLS_VIEWER_WINDOW);
        m.len() as u64
    }

    /// Viewers now, over every protocol.
    pub fn total(&self) -> u64 {
        [Protocol::Hls, Protocol::LlHls, Protocol::Flv]
            .into_iter()
            .map(|p| self.count(p))
            .sum()
    }

    /// An HTTP-FLV viewer for as long as the guard lives.
    pub fn flv_guard(self: &std::sync::Arc<Self>) -> FlvViewer {
        self.flv.fetch_add(1, Ordering::Relaxed);
        FlvViewer(self.clone())
    }
}

pub struct FlvViewer(std::sync::Arc<Viewers>);

impl Drop for FlvViewer {
    fn drop(&mut self) {
        self.0.flv.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn distinct_clients_are_counted_once() {
        let v = Arc::new(Viewers::default());
        let mut h = HeaderMap::new();
        h.insert(header::USER_AGENT, "a".parse().unwrap());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        v.touch(Protocol::LlHls, ip, &h, None);
        v.touch(Protocol::LlHls, ip, &h, None);
        v.touch(Protocol::LlHls, "127.0.0.2".parse().unwrap(), &h, None);
        assert_eq!(v.count(Protocol::LlHls), 2);
        assert_eq!(v.count(Protocol::Hls), 0);
        // Two signed sessions behind one address and player are two viewers.
        v.touch(Protocol::Hls, ip, &h, Some("token-a"));
        v.touch(Protocol::Hls, ip, &h, Some("token-b"));
        v.touch(Protocol::Hls, ip, &h, Some("token-a"));
        assert_eq!(v.count(Protocol::Hls), 2);
        let g = v.flv_guard();
        assert_eq!(v.count(Protocol::Flv), 1);
        drop(g);
        assert_eq!(v.count(Protocol::Flv), 0);
    }
}
