//! Channels (the public slug in playback URLs), their visibility, bans and private grants.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbResult, Page, conflict, get_bool, new_id, now_ms};

/// Who may watch a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone.
    Public,
    /// Any signed-in user (cookie) or bearer token.
    Authenticated,
    /// The owner, admins and users granted access.
    Private,
    /// Only with a signed URL.
    Signed,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Authenticated => "authenticated",
            Visibility::Private => "private",
            Visibility::Signed => "signed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Visibility::Public),
            "authenticated" => Some(Visibility::Authenticated),
            "private" => Some(Visibility::Private),
            "signed" => Some(Visibility::Signed),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Channel {
    pub id: String,
    /// Public name in playback URLs: `/live/{slug}/index.m3u8`.
    pub slug: String,
    pub title: String,
    pub owner_id: String,
    pub visibility: Visibility,
    pub banned: bool,
    pub banned_reason: Option<String>,
    /// Per-channel segment target (milliseconds); the node default when absent.
    pub segment_duration_ms: Option<i64>,
    /// Per-channel LL-HLS part target (milliseconds); the node default when absent.
    pub part_duration_ms: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Signed playback URLs carry the epoch they were minted in; a rename, a visibility change
    /// or a revoked grant starts a new one (Unix ms), so earlier URLs stop working.
    pub playback_epoch: i64,
    /// Finished streams are kept as recordings (else their stored objects are deleted).
    pub record: bool,
    /// Recordings are deleted this many days after they end; kept forever when absent.
    pub retention_days: Option<i64>,
}

fn from_row(r: &AnyRow) -> Result<Channel, sqlx::Error> {
    let visibility: String = r.try_get("visibility")?;
    Ok(Channel {
        id: r.try_get("id")?,
        slug: r.try_get("slug")?,
        title: r.try_get("title")?,
        owner_id: r.try_get("owner_id")?,
        visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Private),
        banned: get_bool(r, "banned")?,
        banned_reason: r.try_get("banned_reason")?,
        segment_duration_ms: r.try_get("segment_duration_ms")?,
        part_duration_ms: r.try_get("part_duration_ms")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        playback_epoch: r.try_get("playback_epoch")?,
        record: get_bool(r, "record")?,
        retention_days: r.try_get("retention_days")?,
    })
}

/// Changes to a channel; `None` leaves a field as it is.
#[derive(Default)]
pub struct ChannelChanges {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub visibility: Option<Visibility>,
    pub segment_duration_ms: Option<Option<i64>>,
    pub part_duration_ms: Option<Option<i64>>,
    pub record: Option<bool>,
    pub retention_days: Option<Option<i64>>,
}

impl Db {
    pub async fn create_channel(
        &self,
        owner_id: &str,
        slug: &str,
        title: &str,
        visibility: Visibility,
    ) -> DbResult<Channel> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO channels (id, slug, title, owner_id, visibility, created_at, updated_at, playback_epoch)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $6) RETURNING *",
        )
        .bind(new_id())
        .bind(slug)
        .bind(title)
        .bind(owner_id)
        .bind(visibility.as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(conflict("slug"))?;
        Ok(from_row(&row)?)
    }

    pub async fn channel(&self, id: &str) -> DbResult<Option<Channel>> {
        let row = sqlx::query("SELECT * FROM channels WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn channel_by_slug(&self, slug: &str) -> DbResult<Option<Channel>> {
        let row = sqlx::query("SELECT * FROM channels WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Channels, all of them or one owner's.
    /// Channels, newest first; of one owner, and/or whose slug or title contains `q` (ASCII case
    /// ignored on both backends, as in `list_users`).
    pub async fn list_channels(
        &self,
        owner: Option<&str>,
        q: Option<&str>,
        page: Page,
    ) -> DbResult<Vec<Channel>> {
        let q = q.unwrap_or("").trim();
        let rows = sqlx::query(
            "SELECT * FROM channels WHERE ($1 = '' OR owner_id = $1)
               AND ($2 = '' OR LOWER(slug) LIKE LOWER($3) ESCAPE '\\'
                    OR LOWER(title) LIKE LOWER($3) ESCAPE '\\')
             ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
        )
        .bind(owner.unwrap_or(""))
        .bind(q)
        .bind(super::like_pattern(&q.to_lowercase()))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn update_channel(&self, id: &str, c: ChannelChanges) -> DbResult<Option<Channel>> {
        let Some(cur) = self.channel(id).await? else {
            return Ok(None);
        };
        let now = now_ms();
        // Who may watch changes with the slug or the visibility: earlier signed URLs end.
        let new_epoch = c.slug.as_ref().is_some_and(|s| *s != cur.slug)
            || c.visibility.is_some_and(|v| v != cur.visibility);
        let epoch = if new_epoch {
            now.max(cur.playback_epoch + 1)
        } else {
            cur.playback_epoch
        };
        let row = sqlx::query(
            "UPDATE channels SET slug = $2, title = $3, visibility = $4, segment_duration_ms = $5,
                 part_duration_ms = $6, updated_at = $7, playback_epoch = $8, record = $9,
                 retention_days = $10 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(c.slug.unwrap_or(cur.slug))
        .bind(c.title.unwrap_or(cur.title))
        .bind(c.visibility.unwrap_or(cur.visibility).as_str())
        .bind(c.segment_duration_ms.unwrap_or(cur.segment_duration_ms))
        .bind(c.part_duration_ms.unwrap_or(cur.part_duration_ms))
        .bind(now)
        .bind(epoch)
        .bind(i64::from(c.record.unwrap_or(cur.record)))
        .bind(c.retention_days.unwrap_or(cur.retention_days))
        .fetch_optional(&self.pool)
        .await
        .map_err(conflict("slug"))?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Bans (`Some(reason)`) or resumes (`None`) a channel.
    pub async fn set_channel_banned(
        &self,
        id: &str,
        reason: Option<&str>,
    ) -> DbResult<Option<Channel>> {
        let row = sqlx::query(
            "UPDATE channels SET banned = $2, banned_reason = $3, updated_at = $4 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(i64::from(reason.is_some()))
        .bind(reason)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn delete_channel(&self, id: &str) -> DbResult<bool> {
        let r = sqlx::query("DELETE FROM channels WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn grant_channel(&self, channel_id: &str, user_id: &str) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO channel_grants (channel_id, user_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (channel_id, user_id) DO NOTHING",
        )
        .bind(channel_id)
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Starts a new playback epoch: signed URLs minted before stop working.
    pub async fn bump_playback_epoch(&self, channel_id: &str) -> DbResult<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE channels SET playback_epoch = CASE WHEN playback_epoch >= $2 THEN playback_epoch + 1 ELSE $2 END
             WHERE id = $1",
        )
        .bind(channel_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn revoke_channel_grant(&self, channel_id: &str, user_id: &str) -> DbResult<bool> {
        let r = sqlx::query("DELETE FROM channel_grants WHERE channel_id = $1 AND user_id = $2")
            .bind(channel_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn channel_grants(&self, channel_id: &str) -> DbResult<Vec<String>> {
        let rows = sqlx::query("SELECT user_id FROM channel_grants WHERE channel_id = $1 ORDER BY created_at LIMIT 10000")
            .bind(channel_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("user_id"))
            .collect::<Result<_, _>>()?)
    }

    pub async fn has_channel_grant(&self, channel_id: &str, user_id: &str) -> DbResult<bool> {
        Ok(sqlx::query(
            "SELECT 1 AS one FROM channel_grants WHERE channel_id = $1 AND user_id = $2",
        )
        .bind(channel_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }
}
