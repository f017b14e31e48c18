//! Recordings: what the storage sink has stored of each stream life.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbResult, Page, now_ms};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Recording {
    /// The stream life's id (`sid`), also its id in live media URLs.
    pub id: String,
    /// Empty when the stream had no channel row (open publishing).
    pub channel_id: String,
    pub channel_slug: String,
    /// Object-store prefix of its objects.
    pub prefix: String,
    /// `recording` while the stream is being stored, `complete` once its playlist is final.
    pub status: String,
    /// Unix ms of the first stored segment.
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub duration_ms: i64,
    /// Size of the media as one MP4 download (the fMP4 segments, without the MP4 index).
    pub bytes: i64,
    /// What the recording takes in the object store: its fMP4 and MPEG-TS copies.
    pub stored_bytes: i64,
    pub segments: i64,
    /// RFC 6381 codecs of the stream (`avc1.64001f,mp4a.40.2`), once known.
    pub codecs: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
}

fn from_row(r: &AnyRow) -> Result<Recording, sqlx::Error> {
    Ok(Recording {
        id: r.try_get("id")?,
        channel_id: r.try_get("channel_id")?,
        channel_slug: r.try_get("channel_slug")?,
        prefix: r.try_get("prefix")?,
        status: r.try_get("status")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        duration_ms: r.try_get("duration_ms")?,
        bytes: r.try_get("bytes")?,
        stored_bytes: r.try_get("stored_bytes")?,
        segments: r.try_get("segments")?,
        codecs: r.try_get("codecs")?,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
    })
}

/// The stored state of a recording, as the storage sink reports it.
pub struct RecordingProgress<'a> {
    pub id: &'a str,
    pub channel_id: &'a str,
    pub channel_slug: &'a str,
    pub prefix: &'a str,
    pub started_at: i64,
    pub duration_ms: i64,
    pub bytes: i64,
    pub stored_bytes: i64,
    pub segments: i64,
    /// The final playlist is stored.
    pub complete: bool,
    pub codecs: Option<&'a str>,
    pub width: Option<i64>,
    pub height: Option<i64>,
}

impl Db {
    /// Creates or updates a recording row.
    pub async fn upsert_recording(&self, p: &RecordingProgress<'_>) -> DbResult<()> {
        let now = now_ms();
        let status = if p.complete { "complete" } else { "recording" };
        let ended = p.complete.then_some(now);
        sqlx::query(
            "INSERT INTO recordings (id, channel_id, channel_slug, prefix, status, started_at, ended_at,
                 duration_ms, bytes, segments, created_at, updated_at, codecs, width, height,
                 stored_bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15)
             ON CONFLICT (id) DO UPDATE SET status = $5, ended_at = $7, duration_ms = $8, bytes = $9,
                 segments = $10, updated_at = $11, stored_bytes = $15,
                 started_at = CASE WHEN recordings.segments = 0 THEN $6
                                   ELSE recordings.started_at END,
                 codecs = COALESCE($12, recordings.codecs), width = COALESCE($13, recordings.width),
                 height = COALESCE($14, recordings.height)",
        )
        .bind(p.id)
        .bind(p.channel_id)
        .bind(p.channel_slug)
        .bind(p.prefix)
        .bind(status)
        .bind(p.started_at)
        .bind(ended)
        .bind(p.duration_ms)
        .bind(p.bytes)
        .bind(p.segments)
        .bind(now)
        .bind(p.codecs)
        .bind(p.width)
        .bind(p.height)
        .bind(p.stored_bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn recording(&self, id: &str) -> DbResult<Option<Recording>> {
        let row = sqlx::query("SELECT * FROM recordings WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Recordings, newest first; of one channel, and/or of the channels `owner_id` owns.
    /// Recordings of deleted channels (being deleted) are not listed.
    pub async fn list_recordings(
        &self,
        channel_id: Option<&str>,
        owner_id: Option<&str>,
        page: Page,
    ) -> DbResult<Vec<Recording>> {
        let rows = sqlx::query(
            "SELECT r.* FROM recordings r LEFT JOIN channels c ON c.id = r.channel_id
             WHERE ($1 = '' OR r.channel_id = $1) AND ($2 = '' OR c.owner_id = $2)
               AND (r.channel_id = '' OR c.id IS NOT NULL)
             ORDER BY r.started_at DESC, r.id DESC LIMIT $3 OFFSET $4",
        )
        .bind(channel_id.unwrap_or(""))
        .bind(owner_id.unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Complete recordings of channels with a retention period, ended before it ran out.
    pub async fn expired_recordings(&self, now: i64, limit: i64) -> DbResult<Vec<Recording>> {
        let rows = sqlx::query(
            "SELECT r.* FROM recordings r JOIN channels c ON c.id = r.channel_id
             WHERE r.status = 'complete' AND c.retention_days IS NOT NULL
               AND r.ended_at < $1 - c.retention_days * 86400000
             ORDER BY r.ended_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Recordings of channels that no longer exist (open publishing's have no channel): the
    /// complete ones, and those still being stored that were last updated before
    /// `stale_before` (a stream still being stored is deleted by the uploader when it
    /// completes).
    pub async fn orphaned_recordings(
        &self,
        stale_before: i64,
        limit: i64,
    ) -> DbResult<Vec<Recording>> {
        let rows = sqlx::query(
            "SELECT r.* FROM recordings r LEFT JOIN channels c ON c.id = r.channel_id
             WHERE c.id IS NULL AND r.channel_id <> ''
               AND (r.status = 'complete' OR r.updated_at < $1)
             ORDER BY r.updated_at LIMIT $2",
        )
        .bind(stale_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn delete_recording(&self, id: &str) -> DbResult<bool> {
        let r = sqlx::query("DELETE FROM recordings WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
