//! Who owns each stream: the [`StreamDirectory`] port.
//!
//! A stream is one rendition of one channel ([`StreamKey`]); the ingested one is
//! [`SOURCE_RENDITION`], transcoded ones are named by their ladder rung. Before a node creates
//! a stream it **claims** the key; every claim gets the next **epoch** of that key, so whatever
//! a stream life writes elsewhere (stored playlists, a recording row) can carry its epoch and
//! a stale owner — a node that was presumed dead, came back and still believes it publishes —
//! is recognised and refused (fencing). A release names the epoch it releases, so a late
//! release of an old claim never frees a newer one.
//!
//! [`LocalDirectory`] is the single node's directory (memory; the node's own [`Registry`]
//! already refuses a second local publisher of a live stream, see its docs). A cluster puts a
//! shared one behind the same trait (issue #14: one PostgreSQL row per key, claimed in one
//! statement).
//!
//! [`Registry`]: crate::stream::Registry

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use parking_lot::Mutex;

/// The ingested rendition of a channel.
pub const SOURCE_RENDITION: &str = "source";

/// A boxed future, for the directory's object-safe async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One rendition of one channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The channel's slug.
    pub channel: String,
    /// [`SOURCE_RENDITION`], or a transcoded rendition's name.
    pub rendition: String,
}

impl StreamKey {
    /// The ingested rendition of `channel`.
    pub fn source(channel: &str) -> Self {
        Self {
            channel: channel.to_owned(),
            rendition: SOURCE_RENDITION.to_owned(),
        }
    }

    pub fn is_source(&self) -> bool {
        self.rendition == SOURCE_RENDITION
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_source() {
            f.write_str(&self.channel)
        } else {
            write!(f, "{}/{}", self.channel, self.rendition)
        }
    }
}

/// A granted claim: `node` owns `key` until it releases this epoch (or is declared dead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub key: StreamKey,
    pub node: String,
    pub epoch: u64,
}

/// Why a claim was not granted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimError {
    #[error("{key} is live on node {node}")]
    Owned { key: StreamKey, node: String },
    #[error("the stream directory is unavailable: {0}")]
    Unavailable(String),
}

/// Who owns which stream (see the module docs).
pub trait StreamDirectory: Send + Sync {
    /// This node's name, as claims name it.
    fn node(&self) -> &str;

    /// Claims `key` for this node with the next epoch. Granted when nobody owns the key, its
    /// owner is dead or released it, or this node owns it already (the node's registry is the
    /// judge of its own streams and asks only when none of them is live under the key).
    fn claim<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Result<Claim, ClaimError>>;

    /// Releases `claim`, if it is still the key's current one.
    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, ()>;

    /// The current owner of `key`.
    fn owner<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Option<Claim>>;
}

/// The claims of one key.
#[derive(Default)]
struct Entry {
    /// The last epoch granted.
    epoch: u64,
    /// Whether that claim is still held.
    held: bool,
}

/// The single node's directory: claims in memory, always granted to this node (a single node
/// has no other owner to defer to), epochs increasing per key for the life of the process.
pub struct LocalDirectory {
    node: String,
    claims: Mutex<HashMap<StreamKey, Entry>>,
}

impl LocalDirectory {
    pub fn new(node: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            claims: Mutex::new(HashMap::new()),
        }
    }
}

impl StreamDirectory for LocalDirectory {
    fn node(&self) -> &str {
        &self.node
    }

    fn claim<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Result<Claim, ClaimError>> {
        let mut claims = self.claims.lock();
        let e = claims.entry(key.clone()).or_default();
        e.epoch += 1;
        e.held = true;
        let claim = Claim {
            key: key.clone(),
            node: self.node.clone(),
            epoch: e.epoch,
        };
        Box::pin(std::future::ready(Ok(claim)))
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, ()> {
        let mut claims = self.claims.lock();
        if let Some(e) = claims.get_mut(&claim.key)
            && e.epoch == claim.epoch
        {
            e.held = false;
        }
        Box::pin(std::future::ready(()))
    }

    fn owner<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Option<Claim>> {
        let owner = self
            .claims
            .lock()
            .get(key)
            .filter(|e| e.held)
            .map(|e| Claim {
                key: key.clone(),
                node: self.node.clone(),
                epoch: e.epoch,
            });
        Box::pin(std::future::ready(owner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every claim of a key gets a higher epoch; a release of an old epoch does not free the
    /// newer claim (fencing), a release of the current one does.
    #[tokio::test]
    async fn epochs_increase_and_stale_releases_are_ignored() {
        let d = LocalDirectory::new("n1");
        let key = StreamKey::source("cam");
        let first = d.claim(&key).await.unwrap();
        assert_eq!((first.epoch, first.node.as_str()), (1, "n1"));
        let second = d.claim(&key).await.unwrap();
        assert_eq!(second.epoch, 2);
        d.release(&first).await;
        assert_eq!(
            d.owner(&key).await,
            Some(second.clone()),
            "stale release ignored"
        );
        d.release(&second).await;
        assert_eq!(d.owner(&key).await, None);
        assert_eq!(d.claim(&key).await.unwrap().epoch, 3);
        // Renditions of one channel are claimed independently.
        let low = StreamKey {
            channel: "cam".into(),
            rendition: "480p".into(),
        };
        assert_eq!(d.claim(&low).await.unwrap().epoch, 1);
        assert_eq!(low.to_string(), "cam/480p");
        assert_eq!(key.to_string(), "cam");
    }
}
