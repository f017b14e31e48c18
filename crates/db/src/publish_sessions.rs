//! Publish sessions: one continuous publish of a channel, from start to end reason.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbResult, Page, now_ms};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PublishSession {
    pub id: String,
    pub channel_id: String,
    pub device_id: Option<String>,
    /// Node that accepted the publisher.
    pub node: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub bytes: i64,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub publisher_ip: Option<String>,
    /// `unpublished`, `disconnected`, `kicked`, `key_rotated`, `banned`, `shutdown`.
    pub end_reason: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<PublishSession, sqlx::Error> {
    Ok(PublishSession {
        id: r.try_get("id")?,
        channel_id: r.try_get("channel_id")?,
        device_id: r.try_get("device_id")?,
        node: r.try_get("node")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        bytes: r.try_get("bytes")?,
        video_codec: r.try_get("video_codec")?,
        audio_codec: r.try_get("audio_codec")?,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        publisher_ip: r.try_get("publisher_ip")?,
        end_reason: r.try_get("end_reason")?,
    })
}

/// What is known when a publish session ends.
#[derive(Default, Clone, Debug)]
pub struct SessionEnd {
    pub bytes: i64,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub reason: String,
}

/// Filters for listing publish sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublishSessionFilter<'a> {
    pub channel_id: Option<&'a str>,
    pub device_id: Option<&'a str>,
    /// Owner of the channel.
    pub owner_id: Option<&'a str>,
    /// Sessions started at or after this time (Unix ms).
    pub since: Option<i64>,
    /// Sessions started before this time (Unix ms).
    pub until: Option<i64>,
}

impl Db {
    pub async fn start_publish_session(
        &self,
        id: &str,
        channel_id: &str,
        device_id: Option<&str>,
        node: &str,
        publisher_ip: &str,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO publish_sessions (id, channel_id, device_id, node, started_at, publisher_ip)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(channel_id)
        .bind(device_id)
        .bind(node)
        .bind(now_ms())
        .bind(publisher_ip)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn end_publish_session(&self, id: &str, end: &SessionEnd) -> DbResult<()> {
        sqlx::query(
            "UPDATE publish_sessions SET ended_at = $2, bytes = $3, video_codec = $4, audio_codec = $5,
                 width = $6, height = $7, end_reason = $8 WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id)
        .bind(now_ms())
        .bind(end.bytes)
        .bind(end.video_codec.as_deref())
        .bind(end.audio_codec.as_deref())
        .bind(end.width)
        .bind(end.height)
        .bind(end.reason.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends sessions a crashed node left open (single node: at start-up).
    pub async fn end_orphan_sessions(&self, node: &str) -> DbResult<u64> {
        let r = sqlx::query(
            "UPDATE publish_sessions SET ended_at = $2, end_reason = 'node_restarted' WHERE node = $1 AND ended_at IS NULL",
        )
        .bind(node)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn publish_session(&self, id: &str) -> DbResult<Option<PublishSession>> {
        let row = sqlx::query("SELECT * FROM publish_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Sessions, newest first, filtered by channel, device, channel owner and start time.
    pub async fn list_publish_sessions(
        &self,
        f: &PublishSessionFilter<'_>,
        page: Page,
    ) -> DbResult<Vec<PublishSession>> {
        let rows = sqlx::query(
            "SELECT s.* FROM publish_sessions s JOIN channels c ON c.id = s.channel_id
             WHERE ($1 = '' OR s.channel_id = $1) AND ($2 = '' OR s.device_id = $2) AND ($3 = '' OR c.owner_id = $3)
               AND s.started_at >= $6 AND s.started_at < $7
             ORDER BY s.started_at DESC, s.id DESC LIMIT $4 OFFSET $5",
        )
        .bind(f.channel_id.unwrap_or(""))
        .bind(f.device_id.unwrap_or(""))
        .bind(f.owner_id.unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .bind(f.since.unwrap_or(i64::MIN))
        .bind(f.until.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }
}
