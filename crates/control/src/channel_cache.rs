//! Short-lived caches for playback authorization: channel rows by slug, and which signed-in
//! callers were recently allowed to watch which channel.
//!
//! Every playlist, part and segment request of a non-open node asks who may watch its channel;
//! a viewer fetches several objects per second, so the answer is kept for [`CHANNEL_CACHE_TTL`]
//! instead of costing a database round trip each time. The API invalidates a slug when it
//! changes the channel, so visibility changes and bans on this node apply at once; other nodes
//! of a cluster see them within the TTL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::db::channels::Channel;
use crate::db::{Db, DbResult};

/// How long a looked-up channel (or its absence) is trusted.
pub const CHANNEL_CACHE_TTL: Duration = Duration::from_secs(2);
/// Slugs cached at most; the cache is emptied when full (requests for unknown slugs cannot
/// grow it without bound).
pub const MAX_CACHED_CHANNELS: usize = 10_000;

/// When a slug was looked up, and what was found.
type Entry = (Instant, Option<Arc<Channel>>);

#[derive(Default)]
pub struct ChannelCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl ChannelCache {
    /// The channel named `slug`, from the cache or the database.
    pub async fn get(&self, db: &Db, slug: &str) -> DbResult<Option<Arc<Channel>>> {
        if let Some((at, c)) = self.entries.lock().get(slug)
            && at.elapsed() < CHANNEL_CACHE_TTL
        {
            return Ok(c.clone());
        }
        let channel = db.channel_by_slug(slug).await?.map(Arc::new);
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_CACHED_CHANNELS {
            entries.clear();
        }
        entries.insert(slug.to_owned(), (Instant::now(), channel.clone()));
        Ok(channel)
    }

    /// Forgets `slug` (its channel changed).
    pub fn invalidate(&self, slug: &str) {
        self.entries.lock().remove(slug);
    }
}

/// How long a caller's permission to watch a channel is trusted before their credentials and
/// grants are looked up again: a revoked session or grant stops playback within this time.
pub const GRANT_CACHE_TTL: Duration = Duration::from_secs(5);
/// (credential, channel) pairs remembered at most; emptied when full.
pub const MAX_CACHED_GRANTS: usize = 100_000;

/// Recent playback decisions for cookie and bearer-token callers, keyed by the digest of the
/// credential and the channel id. Playback trusts only a remembered "allowed" ([`allowed`]); a
/// refusal is always looked up afresh there. The live statistics stream, which asks every
/// second for every private stream, also trusts a remembered refusal ([`decision`]). Changing
/// a channel's visibility or grants forgets both on this node.
///
/// [`allowed`]: GrantCache::allowed
/// [`decision`]: GrantCache::decision
#[derive(Default)]
pub struct GrantCache {
    entries: Mutex<HashMap<(String, String), (Instant, bool)>>,
}

impl GrantCache {
    pub fn allowed(&self, credential_digest: &str, channel_id: &str) -> bool {
        self.decision(credential_digest, channel_id) == Some(true)
    }

    /// A recent decision for the credential and channel, either way.
    pub fn decision(&self, credential_digest: &str, channel_id: &str) -> Option<bool> {
        self.entries
            .lock()
            .get(&(credential_digest.to_owned(), channel_id.to_owned()))
            .filter(|(at, _)| at.elapsed() < GRANT_CACHE_TTL)
            .map(|(_, allowed)| *allowed)
    }

    /// Forgets every decision about `channel_id` (its visibility or grants changed).
    pub fn forget_channel(&self, channel_id: &str) {
        self.entries.lock().retain(|(_, c), _| c != channel_id);
    }

    pub fn remember(&self, credential_digest: String, channel_id: String) {
        self.remember_decision(credential_digest, channel_id, true);
    }

    pub fn remember_decision(&self, credential_digest: String, channel_id: String, allowed: bool) {
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_CACHED_GRANTS {
            entries.clear();
        }
        entries.insert((credential_digest, channel_id), (Instant::now(), allowed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_trusts_only_remembered_permissions() {
        let c = GrantCache::default();
        assert_eq!(c.decision("cred", "ch"), None);
        c.remember_decision("cred".into(), "ch".into(), false);
        assert_eq!(c.decision("cred", "ch"), Some(false));
        assert!(!c.allowed("cred", "ch"));
        c.remember("cred".into(), "ch".into());
        assert!(c.allowed("cred", "ch"));
        assert_eq!(c.decision("other", "ch"), None);
        c.forget_channel("ch");
        assert_eq!(c.decision("cred", "ch"), None);
    }
}
