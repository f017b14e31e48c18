//! The live publishers of this node, by channel, so that the API can kick one (a kick, a key
//! rotation with kick, a ban) and a takeover can replace one.

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// One live publish.
#[derive(Clone, Debug)]
struct Entry {
    session_id: String,
    device_id: Option<String>,
    kick: CancellationToken,
    reason: std::sync::Arc<Mutex<Option<String>>>,
}

/// A registered publish: the ingest connection watches `kicked()` and unregisters on drop.
pub struct LiveHandle {
    owner: std::sync::Arc<LivePublishers>,
    channel: String,
    entry: Entry,
}

impl LiveHandle {
    /// Resolves when the publisher is to be disconnected.
    pub fn kicked(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.entry.kick.cancelled()
    }

    /// Why it was kicked, once it was.
    pub fn kick_reason(&self) -> Option<String> {
        self.entry.reason.lock().clone()
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        let mut map = self.owner.map.lock();
        if map
            .get(&self.channel)
            .is_some_and(|e| e.session_id == self.entry.session_id)
        {
            map.remove(&self.channel);
        }
    }
}

#[derive(Default)]
pub struct LivePublishers {
    map: Mutex<HashMap<String, Entry>>,
}

impl LivePublishers {
    /// Registers the publish of `channel` in `session_id` (replacing any stale entry).
    pub fn register(
        self: &std::sync::Arc<Self>,
        channel: &str,
        session_id: &str,
        device_id: Option<&str>,
    ) -> LiveHandle {
        let entry = Entry {
            session_id: session_id.to_owned(),
            device_id: device_id.map(str::to_owned),
            kick: CancellationToken::new(),
            reason: Default::default(),
        };
        self.map.lock().insert(channel.to_owned(), entry.clone());
        LiveHandle {
            owner: self.clone(),
            channel: channel.to_owned(),
            entry,
        }
    }

    fn kick_entry(e: &Entry, reason: &str) {
        *e.reason.lock() = Some(reason.to_owned());
        e.kick.cancel();
    }

    /// Disconnects the publisher of `channel`. False when none is live here.
    pub fn kick_channel(&self, channel: &str, reason: &str) -> bool {
        match self.map.lock().get(channel) {
            Some(e) => {
                Self::kick_entry(e, reason);
                true
            }
            None => false,
        }
    }

    /// Disconnects whatever `device_id` publishes. False when it is not live here.
    pub fn kick_device(&self, device_id: &str, reason: &str) -> bool {
        let map = self.map.lock();
        let mut kicked = false;
        for e in map
            .values()
            .filter(|e| e.device_id.as_deref() == Some(device_id))
        {
            Self::kick_entry(e, reason);
            kicked = true;
        }
        kicked
    }

    /// Whether `channel` has a publisher here.
    pub fn is_live(&self, channel: &str) -> bool {
        self.map.lock().contains_key(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kick_and_unregister() {
        let live = std::sync::Arc::new(LivePublishers::default());
        let h = live.register("c", "s1", Some("d1"));
        assert!(live.is_live("c"));
        assert!(live.kick_device("d1", "rotated"));
        h.kicked().await;
        assert_eq!(h.kick_reason().as_deref(), Some("rotated"));
        drop(h);
        assert!(!live.is_live("c"));
        assert!(!live.kick_channel("c", "x"));
        // A newer registration is not removed by an older handle's drop.
        let old = live.register("c", "s1", None);
        let new = live.register("c", "s2", None);
        drop(old);
        assert!(live.is_live("c"));
        drop(new);
        assert!(!live.is_live("c"));
    }
}
