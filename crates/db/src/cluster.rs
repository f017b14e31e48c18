//! The cluster's shared state: its nodes (one row each, one heartbeat write per node per second
//! whatever its load) and stream ownership with epochs.
//!
//! Every time here is the database's clock ([`Db::now_sql`]), so nodes with skewed clocks agree
//! on who is alive. Claiming a stream is one statement — an upsert whose update only happens
//! when the row is free (released, its owner's heartbeat older than the TTL, or the claimer
//! already owns it) — so there is no read-then-write window in which two nodes could both
//! decide they won; each granted claim returns the key's next epoch.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Db, DbResult};

/// Keys looked up in one statement (two parameters each).
const MAX_KEYS_PER_QUERY: usize = 200;

/// A node as it announces itself.
#[derive(Clone, Debug)]
pub struct NodeInfo<'a> {
    pub name: &'a str,
    pub internal_url: &'a str,
    pub rtmp_url: &'a str,
}

/// What a node reports with each heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeLoad {
    pub streams: i64,
    pub viewers: i64,
    /// CPU used over the last interval, in thousandths of a core.
    pub cpu_milli: i64,
}

/// A node's row, as the database sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    pub name: String,
    pub internal_url: String,
    pub rtmp_url: String,
    /// `active`, `draining` or `gone`.
    pub state: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_ms: i64,
    pub load: NodeLoad,
}

/// Who holds a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOwner {
    pub node: String,
    pub epoch: i64,
}

/// The outcome of a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Granted with this epoch.
    Granted(i64),
    /// Held by a live owner.
    Held(StreamOwner),
}

fn node_from_row(r: &AnyRow) -> Result<NodeRow, sqlx::Error> {
    Ok(NodeRow {
        name: r.try_get("name")?,
        internal_url: r.try_get("internal_url")?,
        rtmp_url: r.try_get("rtmp_url")?,
        state: r.try_get("state")?,
        started_at: r.try_get("started_at")?,
        heartbeat_at: r.try_get("heartbeat_at")?,
        heartbeat_age_ms: r.try_get("age")?,
        load: NodeLoad {
            streams: r.try_get("streams")?,
            viewers: r.try_get("viewers")?,
            cpu_milli: r.try_get("cpu_milli")?,
        },
    })
}

impl Db {
    /// The database's current time in Unix milliseconds, as an SQL expression.
    pub fn now_sql(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Backend::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        }
    }

    /// Announces this node (a restart under the same name replaces its row): `active`, started
    /// and heard from now.
    pub async fn register_node(&self, node: &NodeInfo<'_>) -> DbResult<()> {
        let now = self.now_sql();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO nodes (name, internal_url, rtmp_url, state, started_at, heartbeat_at)
             VALUES ($1, $2, $3, 'active', {now}, {now})
             ON CONFLICT (name) DO UPDATE SET internal_url = EXCLUDED.internal_url,
                 rtmp_url = EXCLUDED.rtmp_url, state = 'active',
                 started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at,
                 streams = 0, viewers = 0, cpu_milli = 0"
        )))
        .bind(node.name)
        .bind(node.internal_url)
        .bind(node.rtmp_url)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One heartbeat: the node's only periodic write, whatever its number of streams. False
    /// when the node has no row (it was removed): the caller registers again.
    pub async fn heartbeat(&self, name: &str, load: NodeLoad) -> DbResult<bool> {
        let now = self.now_sql();
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE nodes SET heartbeat_at = {now}, streams = $2, viewers = $3, cpu_milli = $4
             WHERE name = $1"
        )))
        .bind(name)
        .bind(load.streams)
        .bind(load.viewers)
        .bind(load.cpu_milli)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sets a node's state (`active`, `draining`, `gone`).
    pub async fn set_node_state(&self, name: &str, state: &str) -> DbResult<bool> {
        let r = sqlx::query("UPDATE nodes SET state = $2 WHERE name = $1")
            .bind(name)
            .bind(state)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Every node, by name, with the age of its heartbeat.
    pub async fn nodes(&self) -> DbResult<Vec<NodeRow>> {
        let now = self.now_sql();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT *, {now} - heartbeat_at AS age FROM nodes ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(node_from_row).collect::<Result<_, _>>()?)
    }

    /// Claims (`channel`, `rendition`) for `node` in one statement: granted when nobody holds
    /// it, its holder released it, the holder is `node` itself, or the holder's heartbeat is
    /// older than `ttl_ms` (or it is `gone`). A grant returns the key's next epoch.
    pub async fn claim_stream(
        &self,
        channel: &str,
        rendition: &str,
        node: &str,
        ttl_ms: i64,
    ) -> DbResult<ClaimOutcome> {
        let now = self.now_sql();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO stream_owners (channel, rendition, node, epoch, released, claimed_at)
             VALUES ($1, $2, $3, 1, 0, {now})
             ON CONFLICT (channel, rendition) DO UPDATE SET node = EXCLUDED.node,
                 epoch = stream_owners.epoch + 1, released = 0,
                 claimed_at = EXCLUDED.claimed_at
             WHERE stream_owners.released = 1
                OR stream_owners.node = EXCLUDED.node
                OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = stream_owners.node
                               AND n.state <> 'gone' AND n.heartbeat_at > {now} - $4)
             RETURNING epoch"
        )))
        .bind(channel)
        .bind(rendition)
        .bind(node)
        .bind(ttl_ms)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(ClaimOutcome::Granted(row.try_get("epoch")?));
        }
        // Refused: who holds it, for the message (a read after the decision, not before it).
        let holder = sqlx::query(
            "SELECT node, epoch FROM stream_owners WHERE channel = $1 AND rendition = $2",
        )
        .bind(channel)
        .bind(rendition)
        .fetch_one(&self.pool)
        .await?;
        Ok(ClaimOutcome::Held(StreamOwner {
            node: holder.try_get("node")?,
            epoch: holder.try_get("epoch")?,
        }))
    }

    /// Releases `node`'s claim `epoch` of a stream; a stale release (a newer claim since)
    /// changes nothing. True when it released.
    pub async fn release_stream(
        &self,
        channel: &str,
        rendition: &str,
        node: &str,
        epoch: i64,
    ) -> DbResult<bool> {
        let r = sqlx::query(
            "UPDATE stream_owners SET released = 1
             WHERE channel = $1 AND rendition = $2 AND node = $3 AND epoch = $4 AND released = 0",
        )
        .bind(channel)
        .bind(rendition)
        .bind(node)
        .bind(epoch)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The latest claims of `keys` (channel, rendition), whatever their node — a node checks
    /// with it that the streams it believes it owns are still its own.
    pub async fn stream_claims(
        &self,
        keys: &[(String, String)],
    ) -> DbResult<Vec<(String, String, StreamOwner)>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_KEYS_PER_QUERY) {
            let cond: Vec<String> = (0..chunk.len())
                .map(|i| format!("(channel = ${} AND rendition = ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "SELECT channel, rendition, node, epoch FROM stream_owners WHERE {}",
                cond.join(" OR ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (channel, rendition) in chunk {
                q = q.bind(channel).bind(rendition);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((
                    r.try_get("channel")?,
                    r.try_get("rendition")?,
                    StreamOwner {
                        node: r.try_get("node")?,
                        epoch: r.try_get("epoch")?,
                    },
                ));
            }
        }
        Ok(out)
    }

    /// Who holds a stream now: an unreleased claim whose node is alive (heartbeat within
    /// `ttl_ms`, not `gone`).
    pub async fn stream_owner(
        &self,
        channel: &str,
        rendition: &str,
        ttl_ms: i64,
    ) -> DbResult<Option<StreamOwner>> {
        let now = self.now_sql();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT o.node, o.epoch FROM stream_owners o JOIN nodes n ON n.name = o.node
             WHERE o.channel = $1 AND o.rendition = $2 AND o.released = 0
               AND n.state <> 'gone' AND n.heartbeat_at > {now} - $3"
        )))
        .bind(channel)
        .bind(rendition)
        .bind(ttl_ms)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(StreamOwner {
            node: r.try_get("node")?,
            epoch: r.try_get("epoch")?,
        }))
    }
}

/// Messages between the nodes of a cluster: PostgreSQL `NOTIFY` on a channel, received by every
/// node `LISTEN`ing on it (the sender too). SQLite has no such thing: a single node has no one
/// to tell.
pub struct Listener(sqlx::postgres::PgListener);

/// Bytes a notification payload may have (PostgreSQL's limit is 8000).
pub const MAX_NOTIFY_PAYLOAD: usize = 7_900;

impl Listener {
    /// Listens on `channel` of the PostgreSQL database at `url` (its own connection, which
    /// sqlx re-establishes when it drops).
    pub async fn connect(url: &str, channel: &str) -> DbResult<Self> {
        let mut l = sqlx::postgres::PgListener::connect(url).await?;
        l.listen(channel).await?;
        Ok(Self(l))
    }

    /// The next payload.
    pub async fn recv(&mut self) -> DbResult<String> {
        Ok(self.0.recv().await?.payload().to_owned())
    }
}

impl Db {
    /// Sends `payload` to every node listening on `channel` (PostgreSQL only; nothing on
    /// SQLite). Payloads over [`MAX_NOTIFY_PAYLOAD`] are refused.
    pub async fn notify(&self, channel: &str, payload: &str) -> DbResult<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        if payload.len() > MAX_NOTIFY_PAYLOAD {
            return Err(super::DbError::InvalidText);
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// SQL for the larger of two expressions (`GREATEST` is PostgreSQL's, `MAX` SQLite's).
fn greater(a: &str, b: &str) -> String {
    format!("(CASE WHEN {a} > {b} THEN {a} ELSE {b} END)")
}

impl Db {
    /// One request of `key` in `scope` against a GCRA limit shared by every node (emission
    /// interval `interval_ms`, burst tolerance `tolerance_ms`), decided in one statement on the
    /// database's clock. `Ok(None)`: allowed; `Ok(Some(ms))`: refused, retry in `ms`.
    pub async fn rate_check(
        &self,
        scope: &str,
        key: &str,
        interval_ms: i64,
        tolerance_ms: i64,
    ) -> DbResult<Option<i64>> {
        let now = self.now_sql();
        let from = greater("rate_limits.tat", now);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO rate_limits (scope, key, tat) VALUES ($1, $2, {now} + $3)
             ON CONFLICT (scope, key) DO UPDATE SET tat = {from} + $3
             WHERE {from} - {now} <= $4
             RETURNING tat"
        )))
        .bind(scope)
        .bind(key)
        .bind(interval_ms)
        .bind(tolerance_ms)
        .fetch_optional(&self.pool)
        .await?;
        if row.is_some() {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT tat - {now} AS ahead FROM rate_limits WHERE scope = $1 AND key = $2"
        )))
        .bind(scope)
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        let ahead: i64 = row.try_get("ahead")?;
        Ok(Some((ahead - tolerance_ms).max(1)))
    }

    /// Whether sign-ins to `email` (an address without an account) are locked now.
    pub async fn login_locked(&self, email: &str) -> DbResult<bool> {
        let now = self.now_sql();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT 1 AS locked FROM login_lockouts WHERE email = $1 AND locked_until > {now}"
        )))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Counts a failed sign-in to `email` (an address without an account), as accounts count
    /// theirs: `threshold` consecutive failures lock it for `lockout_ms`; a failure after a
    /// lock has passed starts counting again.
    pub async fn record_unknown_login_failure(
        &self,
        email: &str,
        threshold: i64,
        lockout_ms: i64,
    ) -> DbResult<()> {
        let now = self.now_sql();
        let expired = format!(
            "(login_lockouts.locked_until IS NOT NULL AND login_lockouts.locked_until <= {now})"
        );
        let count =
            format!("(CASE WHEN {expired} THEN 1 ELSE login_lockouts.failed_logins + 1 END)");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO login_lockouts (email, failed_logins, locked_until, updated_at)
             VALUES ($1, 1, CASE WHEN 1 >= $2 THEN {now} + $3 ELSE NULL END, {now})
             ON CONFLICT (email) DO UPDATE SET
                 failed_logins = {count},
                 locked_until = CASE WHEN {count} >= $2 THEN {now} + $3
                                     WHEN {expired} THEN NULL
                                     ELSE login_lockouts.locked_until END,
                 updated_at = {now}"
        )))
        .bind(email)
        .bind(threshold)
        .bind(lockout_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets limiter state that no longer limits anything: GCRA rows whose time has come
    /// (their bucket is full again) and lockout rows idle for longer than `lockout_ms`.
    pub async fn prune_limits(&self, lockout_ms: i64) -> DbResult<u64> {
        let now = self.now_sql();
        let a = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM rate_limits WHERE tat < {now}"
        )))
        .execute(&self.pool)
        .await?;
        let b = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM login_lockouts WHERE updated_at < {now} - $1
               AND (locked_until IS NULL OR locked_until < {now})"
        )))
        .bind(lockout_ms)
        .execute(&self.pool)
        .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }
}
