//! Who publishes each live stream of this node, for kicks (the API's disconnect, key rotation
//! with kick, bans, deletions, a takeover): a slot on the stream itself, so the registry's one
//! map answers both "which stream is live under this name" and "which connection publishes it"
//! (issue #13: a separate `LivePublishers` map used to track the same thing).

use std::sync::Arc;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::{Registry, Stream};

/// The publisher of a stream, as its slot holds it.
#[derive(Clone, Debug)]
pub struct PublisherSlot {
    session_id: String,
    device_id: Option<String>,
    kick: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl PublisherSlot {
    fn kick(&self, reason: &str) {
        *self.reason.lock() = Some(reason.to_owned());
        self.kick.cancel();
    }
}

/// A registered publish: the ingest connection watches `kicked()`; dropping it empties the
/// stream's slot (if it still holds this publish).
pub struct LiveHandle {
    stream: Arc<Stream>,
    slot: PublisherSlot,
}

impl LiveHandle {
    /// Registers `session_id` (of `device_id`) as the publisher of `stream`, replacing any
    /// stale entry.
    pub fn register(stream: &Arc<Stream>, session_id: &str, device_id: Option<&str>) -> Self {
        let slot = PublisherSlot {
            session_id: session_id.to_owned(),
            device_id: device_id.map(str::to_owned),
            kick: CancellationToken::new(),
            reason: Arc::default(),
        };
        *stream.publisher.lock() = Some(slot.clone());
        Self {
            stream: stream.clone(),
            slot,
        }
    }

    /// Resolves when the publisher is to be disconnected.
    pub fn kicked(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.slot.kick.cancelled()
    }

    /// Why it was kicked, once it was.
    pub fn kick_reason(&self) -> Option<String> {
        self.slot.reason.lock().clone()
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        let mut slot = self.stream.publisher.lock();
        if slot
            .as_ref()
            .is_some_and(|s| s.session_id == self.slot.session_id)
        {
            *slot = None;
        }
    }
}

impl Registry {
    /// Disconnects the publisher of `channel`. False when none is live here.
    pub fn kick_channel(&self, channel: &str, reason: &str) -> bool {
        let Some(stream) = self.get(channel) else {
            return false;
        };
        let slot = stream.publisher.lock().clone();
        slot.map(|s| s.kick(reason)).is_some()
    }

    /// Ends the stream under `key` at once — its publisher is disconnected, its playlist gets
    /// ENDLIST, no reconnect grace — because this node no longer owns it (another node claimed
    /// it while this one was presumed dead). False when no such stream is live here.
    pub fn revoke(&self, key: &crate::directory::StreamKey, reason: &str) -> bool {
        let Some(stream) = self.get_key(key) else {
            return false;
        };
        let slot = stream.publisher.lock().clone();
        let ended = stream.end_now();
        if let Some(s) = slot {
            s.kick(reason);
        }
        ended
    }

    /// Disconnects every publisher of this node; returns how many.
    pub fn kick_all(&self, reason: &str) -> usize {
        let mut kicked = 0;
        for stream in self.list() {
            let slot = stream.publisher.lock().clone();
            if let Some(s) = slot {
                s.kick(reason);
                kicked += 1;
            }
        }
        kicked
    }

    /// Disconnects whatever `device_id` publishes. False when it is not live here.
    pub fn kick_device(&self, device_id: &str, reason: &str) -> bool {
        let mut kicked = false;
        for stream in self.list() {
            let slot = stream.publisher.lock().clone();
            if let Some(s) = slot.filter(|s| s.device_id.as_deref() == Some(device_id)) {
                s.kick(reason);
                kicked = true;
            }
        }
        kicked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kick_and_unregister() {
        let registry = Registry::for_tests();
        let p = registry
            .start_publish("c", "127.0.0.1:1".into())
            .await
            .unwrap();
        assert!(
            !registry.kick_channel("c", "x"),
            "no publisher registered yet"
        );
        let h = LiveHandle::register(&p.stream, "s1", Some("d1"));
        assert!(registry.kick_device("d1", "rotated"));
        h.kicked().await;
        assert_eq!(h.kick_reason().as_deref(), Some("rotated"));
        drop(h);
        assert!(!registry.kick_channel("c", "x"));
        assert!(!registry.kick_device("d1", "x"));
        // A newer registration is not removed by an older handle's drop.
        let old = LiveHandle::register(&p.stream, "s1", None);
        let new = LiveHandle::register(&p.stream, "s2", None);
        drop(old);
        assert!(registry.kick_channel("c", "banned"));
        new.kicked().await;
        assert_eq!(new.kick_reason().as_deref(), Some("banned"));
        drop(new);
        assert!(!registry.kick_channel("c", "x"));
        assert!(!registry.kick_channel("unknown", "x"));
    }
}
