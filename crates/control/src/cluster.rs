//! The cluster's side of the live edge's ports (issue #14): [`DbDirectory`] keeps stream
//! ownership in the shared database — claims are one atomic statement with an epoch per claim
//! (`onair_db::cluster`), an owner is alive while its node's heartbeat is younger than the TTL
//! by the database's clock.

use std::time::Duration;

use onair_live::directory::{BoxFuture, Claim, ClaimError, StreamDirectory, StreamKey};

use crate::db::Db;
use crate::db::cluster::ClaimOutcome;

/// Stream ownership shared by the nodes of a cluster, in the database.
pub struct DbDirectory {
    db: Db,
    node: String,
    ttl: Duration,
}

impl DbDirectory {
    /// `node` claims in `db`; owners whose heartbeat is older than `ttl` count as dead.
    pub fn new(db: Db, node: impl Into<String>, ttl: Duration) -> Self {
        Self {
            db,
            node: node.into(),
            ttl,
        }
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

fn epoch(e: i64) -> u64 {
    u64::try_from(e).unwrap_or(0)
}

impl StreamDirectory for DbDirectory {
    fn node(&self) -> &str {
        &self.node
    }

    fn claim<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Result<Claim, ClaimError>> {
        Box::pin(async move {
            let outcome = self
                .db
                .claim_stream(&key.channel, &key.rendition, &self.node, self.ttl_ms())
                .await
                .map_err(|e| {
                    tracing::warn!(stream = %key, error = %e, "claiming a stream failed");
                    ClaimError::Unavailable("the cluster database is not reachable".to_owned())
                })?;
            match outcome {
                ClaimOutcome::Granted(e) => {
                    metrics::counter!("onair_stream_claims_total", "outcome" => "granted")
                        .increment(1);
                    Ok(Claim {
                        key: key.clone(),
                        node: self.node.clone(),
                        epoch: epoch(e),
                    })
                }
                ClaimOutcome::Held(owner) => {
                    metrics::counter!("onair_stream_claims_total", "outcome" => "conflict")
                        .increment(1);
                    Err(ClaimError::Owned {
                        key: key.clone(),
                        node: owner.node,
                    })
                }
            }
        })
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let epoch = i64::try_from(claim.epoch).unwrap_or(i64::MAX);
            if let Err(e) = self
                .db
                .release_stream(&claim.key.channel, &claim.key.rendition, &claim.node, epoch)
                .await
            {
                // The claim lapses with this node's heartbeat if it cannot be released.
                tracing::warn!(stream = %claim.key, error = %e, "releasing a stream failed");
            }
        })
    }

    fn owner<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Option<Claim>> {
        Box::pin(async move {
            match self
                .db
                .stream_owner(&key.channel, &key.rendition, self.ttl_ms())
                .await
            {
                Ok(owner) => owner.map(|o| Claim {
                    key: key.clone(),
                    node: o.node,
                    epoch: epoch(o.epoch),
                }),
                Err(e) => {
                    tracing::warn!(stream = %key, error = %e, "looking up a stream's owner failed");
                    None
                }
            }
        })
    }
}

/// This node, as the cluster knows it.
#[derive(Clone, Debug)]
pub struct OwnNode {
    pub name: String,
    pub internal_url: String,
    pub rtmp_url: String,
}

impl OwnNode {
    pub fn info(&self) -> crate::db::cluster::NodeInfo<'_> {
        crate::db::cluster::NodeInfo {
            name: &self.name,
            internal_url: &self.internal_url,
            rtmp_url: &self.rtmp_url,
        }
    }
}

/// Split-brain check, with each heartbeat: every stream this node holds must still be its own
/// claim in the database (same node, same epoch). One that is not — another node claimed it
/// while this one was presumed dead (paused, partitioned) — is ended here at once and its
/// publisher disconnected: this node stops ingesting it by itself. One read per heartbeat for
/// all of the node's streams.
async fn check_ownership(db: &Db, node: &str, registry: &crate::stream::Registry) {
    use crate::stream::Phase;
    let held: Vec<_> = registry
        .list()
        .into_iter()
        .filter(|s| !matches!(s.phase(), Phase::Ended { .. }))
        .collect();
    if held.is_empty() {
        return;
    }
    let keys: Vec<(String, String)> = held
        .iter()
        .map(|s| (s.key.channel.clone(), s.key.rendition.clone()))
        .collect();
    let claims = match db.stream_claims(&keys).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "checking stream ownership failed");
            return;
        }
    };
    for s in held {
        let current = claims
            .iter()
            .find(|(c, r, _)| *c == s.key.channel && *r == s.key.rendition);
        let ours = current.is_some_and(|(_, _, o)| {
            o.node == node && u64::try_from(o.epoch).ok() == Some(s.claim.epoch)
        });
        if ours {
            continue;
        }
        let (holder, epoch) = current
            .map(|(_, _, o)| (o.node.as_str(), o.epoch))
            .unwrap_or(("nobody", 0));
        tracing::error!(
            stream = %s.key, our_epoch = s.claim.epoch, %holder, epoch,
            "split brain: another node owns a stream this node still held; ending it here"
        );
        metrics::counter!("onair_split_brain_total").increment(1);
        registry.revoke(&s.key, "ownership_lost");
    }
}

/// Heartbeats between prunings of the shared limiter tables.
const PRUNE_EVERY_BEATS: u64 = 60;

/// How often a node writes its heartbeat: once a second, whatever its number of streams.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// This node's CPU time so far (its own and its waited-for children's, such as ffmpeg
/// thumbnailers), in clock ticks (USER_HZ, 100 a second on Linux), from `/proc/self/stat`.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after its closing parenthesis.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime, stime, cutime, cstime are fields 14..=17, i.e. 11..=14 after the name.
    fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<u64>().ok())
        .sum()
}

/// Announces this node in the cluster and beats once a [`HEARTBEAT_INTERVAL`] with its load,
/// until `shutdown`; then marks it `gone`, which frees its claims at once.
pub async fn run_heartbeat(
    db: Db,
    node: OwnNode,
    registry: std::sync::Arc<crate::stream::Registry>,
    lockout: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use crate::db::cluster::NodeLoad;
    let info = node.info();
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_cpu = (std::time::Instant::now(), cpu_ticks());
    let mut beats: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let streams = registry.list();
        let now = std::time::Instant::now();
        let ticks = cpu_ticks();
        let cpu_milli = match (last_cpu, ticks) {
            ((at, Some(before)), Some(after)) if now > at => {
                let secs = now.duration_since(at).as_secs_f64();
                ((after.saturating_sub(before)) as f64 / 100.0 / secs * 1000.0) as i64
            }
            _ => 0,
        };
        last_cpu = (now, ticks);
        let load = NodeLoad {
            streams: streams
                .iter()
                .filter(|s| s.phase() == crate::stream::Phase::Live)
                .count() as i64,
            viewers: streams.iter().map(|s| s.viewers.total() as i64).sum(),
            cpu_milli,
        };
        match db.heartbeat(&node.name, load).await {
            Ok(true) => {}
            Ok(false) => {
                if let Err(e) = db.register_node(&info).await {
                    tracing::warn!(error = %e, "registering this node again failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
        check_ownership(&db, &node.name, &registry).await;
        // Shared limiter rows that limit nothing any more go once a minute (any node may
        // prune: the statement only deletes what no node needs).
        beats += 1;
        if beats.is_multiple_of(PRUNE_EVERY_BEATS)
            && let Err(e) = db.prune_limits(millis(lockout)).await
        {
            tracing::warn!(error = %e, "pruning shared limits failed");
        }
    }
    if let Err(e) = db.set_node_state(&node.name, "gone").await {
        tracing::warn!(error = %e, "marking this node gone failed");
    }
}

/// The notification channel the nodes of a cluster talk on.
pub const NOTIFY_CHANNEL: &str = "onair_cluster";

/// What one node tells the others.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Announcement {
    /// A channel changed: caches forget it, its publisher may have to go.
    Channel(crate::channel_events::ChannelChange),
    /// Disconnect whatever this device publishes.
    KickDevice { device_id: String, reason: String },
    /// Disconnect the channel's publisher.
    KickChannel { slug: String, reason: String },
}

/// An announcement on the wire: who sent it, and what.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    from: String,
    #[serde(flatten)]
    announcement: Announcement,
}

impl crate::system::System {
    /// Tells the other nodes of the cluster (nothing on a single node). Sent in the
    /// background: the caller has applied it here already.
    pub fn announce(&self, announcement: Announcement) {
        if self.settings.cluster.is_none() {
            return;
        }
        let envelope = Envelope {
            from: self.settings.node_name.clone(),
            announcement,
        };
        let Ok(payload) = serde_json::to_string(&envelope) else {
            return;
        };
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(e) = db.notify(NOTIFY_CHANNEL, &payload).await {
                tracing::warn!(error = %e, "telling the cluster failed");
            }
        });
    }

    /// Disconnects what `device_id` publishes, here and on the other nodes. True when it was
    /// live here.
    pub fn kick_device(&self, device_id: &str, reason: &str) -> bool {
        self.announce(Announcement::KickDevice {
            device_id: device_id.to_owned(),
            reason: reason.to_owned(),
        });
        self.registry.kick_device(device_id, reason)
    }

    /// Applies what another node announced.
    fn heard(&self, announcement: Announcement) {
        match announcement {
            Announcement::Channel(change) => self.apply_channel_change(&change),
            Announcement::KickDevice { device_id, reason } => {
                self.registry.kick_device(&device_id, &reason);
            }
            Announcement::KickChannel { slug, reason } => {
                self.registry.kick_channel(&slug, &reason);
            }
        }
    }
}

/// Hears what the other nodes announce, until `shutdown`, and applies it here.
pub async fn run_listener(
    url: String,
    sys: std::sync::Arc<crate::system::System>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut listener = None;
    loop {
        let l = match &mut listener {
            Some(l) => l,
            None => match crate::db::cluster::Listener::connect(&url, NOTIFY_CHANNEL).await {
                Ok(l) => listener.insert(l),
                Err(e) => {
                    tracing::warn!(error = %e, "listening to the cluster failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        let payload = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = l.recv() => r,
        };
        match payload {
            Ok(text) => match serde_json::from_str::<Envelope>(&text) {
                Ok(e) if e.from == sys.settings.node_name => {}
                Ok(e) => sys.heard(e.announcement),
                Err(e) => tracing::warn!(error = %e, "an announcement that does not parse"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "the cluster listener lost its connection");
                listener = None;
            }
        }
    }
}

/// Per-address limits that hold across the nodes of a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedLimit {
    /// Sign-in attempts (and current-password checks).
    Login,
    /// Mail-sending requests (sign-up, resend, reset).
    Mail,
}

impl SharedLimit {
    fn scope(self) -> &'static str {
        match self {
            SharedLimit::Login => "login_ip",
            SharedLimit::Mail => "mail_ip",
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl crate::system::System {
    /// A request from `ip` against `which` limit: decided by the shared database in a cluster
    /// (one budget for all nodes, not one per node), by this node's limiter otherwise — and
    /// when the database cannot be asked.
    pub async fn check_ip_limit(
        &self,
        which: SharedLimit,
        ip: std::net::IpAddr,
    ) -> Result<(), crate::security::ratelimit::RetryAfter> {
        use crate::security::ratelimit::RetryAfter;
        let local = match which {
            SharedLimit::Login => &self.limiters.login_ip,
            SharedLimit::Mail => &self.limiters.mail_ip,
        };
        let now = std::time::Instant::now();
        let limit = local.limit();
        if self.settings.cluster.is_none() || limit.max == 0 || limit.per.is_zero() {
            return local.check(&ip, now);
        }
        // GCRA as the local limiter does it: T = per / max (rounded up), τ = T × (max − 1).
        let per = u64::try_from(millis(limit.per)).unwrap_or(0);
        let interval = i64::try_from(per.div_ceil(u64::from(limit.max)))
            .unwrap_or(i64::MAX)
            .max(1);
        let tolerance = interval.saturating_mul(i64::from(limit.max) - 1);
        let key = onair_auth::client::AddrKey::of(ip).to_string();
        match self
            .db
            .rate_check(which.scope(), &key, interval, tolerance)
            .await
        {
            Ok(None) => Ok(()),
            Ok(Some(ms)) => Err(RetryAfter(Duration::from_millis(ms.unsigned_abs()))),
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limit unavailable: this node's decides");
                local.check(&ip, now)
            }
        }
    }

    /// Whether sign-ins to `email`, an address without an account, are locked (in a cluster,
    /// by failures on any node).
    pub async fn unknown_account_locked(&self, email: &str) -> bool {
        if self.settings.cluster.is_some() {
            match self.db.login_locked(email).await {
                Ok(locked) => return locked,
                Err(e) => tracing::warn!(error = %e, "shared lockout unavailable"),
            }
        }
        self.limiters
            .unknown_account
            .is_locked(email, std::time::Instant::now())
    }

    /// Counts a failed sign-in to `email`, an address without an account.
    pub async fn record_unknown_account_failure(&self, email: &str) {
        if self.settings.cluster.is_some() {
            let r = self
                .db
                .record_unknown_login_failure(
                    email,
                    self.limits.lockout_threshold,
                    millis(self.limits.lockout),
                )
                .await;
            match r {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "shared lockout unavailable"),
            }
        }
        self.limiters
            .unknown_account
            .record_failure(email, std::time::Instant::now());
    }
}

impl crate::system::System {
    /// Drains this node for a rolling restart: it turns `draining` (the cluster sees it, its
    /// readiness check fails so the load balancer sends nothing new), refuses new publishers,
    /// and after `timeout` disconnects the ones it has — their streams end at once and their
    /// claims are released, so their encoders' reconnects land on another node without
    /// waiting for this one's heartbeat to expire. Returns false if it was draining already.
    pub async fn drain(self: &std::sync::Arc<Self>, timeout: Duration) -> bool {
        use std::sync::atomic::Ordering;
        if self.draining.swap(true, Ordering::SeqCst) {
            return false;
        }
        tracing::info!(timeout = ?timeout, "draining: new work goes to other nodes");
        self.registry.refuse_new_publishers();
        if self.settings.cluster.is_some()
            && let Err(e) = self
                .db
                .set_node_state(&self.settings.node_name, "draining")
                .await
        {
            tracing::warn!(error = %e, "marking this node draining failed");
        }
        let registry = self.registry.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let n = registry.kick_all("draining");
            tracing::info!(publishers = n, "drained: publishers disconnected");
        });
        true
    }

    /// Whether this node drains (its readiness check answers 503).
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel_events::{ChangeKind, ChannelChange};

    /// Every announcement survives the wire (the envelope flattens it beside `from`; a tag
    /// that collided with a field name once made channel changes unreadable).
    #[test]
    fn announcements_round_trip() {
        let all = [
            Announcement::Channel(ChannelChange {
                kind: ChangeKind::Banned,
                channel_id: "c1".into(),
                slug: "studio".into(),
                renamed_from: None,
            }),
            Announcement::Channel(ChannelChange {
                kind: ChangeKind::Updated,
                channel_id: "c1".into(),
                slug: "new".into(),
                renamed_from: Some("old".into()),
            }),
            Announcement::KickDevice {
                device_id: "d1".into(),
                reason: "key_rotated".into(),
            },
            Announcement::KickChannel {
                slug: "studio".into(),
                reason: "kicked".into(),
            },
        ];
        for a in all {
            let text = serde_json::to_string(&Envelope {
                from: "n1".into(),
                announcement: a.clone(),
            })
            .unwrap();
            assert!(text.len() < crate::db::cluster::MAX_NOTIFY_PAYLOAD);
            let back: Envelope = serde_json::from_str(&text).unwrap();
            assert_eq!((back.from.as_str(), back.announcement), ("n1", a), "{text}");
        }
    }
}
