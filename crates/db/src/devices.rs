//! Devices (encoders): each has one stream key, stored as a SHA-256 hash with a short visible
//! prefix, and publishes to one channel.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbResult, Page, conflict, get_bool, new_id, now_ms};

/// What kind of encoder a device is (informational).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Obs,
    Ffmpeg,
    Gstreamer,
    Hardware,
    Mobile,
    Other,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Obs => "obs",
            DeviceKind::Ffmpeg => "ffmpeg",
            DeviceKind::Gstreamer => "gstreamer",
            DeviceKind::Hardware => "hardware",
            DeviceKind::Mobile => "mobile",
            DeviceKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "obs" => DeviceKind::Obs,
            "ffmpeg" => DeviceKind::Ffmpeg,
            "gstreamer" => DeviceKind::Gstreamer,
            "hardware" => DeviceKind::Hardware,
            "mobile" => DeviceKind::Mobile,
            "other" => DeviceKind::Other,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Device {
    pub id: String,
    pub owner_id: String,
    pub channel_id: String,
    pub name: String,
    pub kind: DeviceKind,
    pub enabled: bool,
    #[serde(skip)]
    pub stream_key_hash: String,
    /// The first characters of the stream key, to recognise it.
    pub stream_key_prefix: String,
    pub last_seen_at: Option<i64>,
    pub last_ip: Option<String>,
    /// The publish session in progress, if the device is live.
    pub current_session_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn from_row(r: &AnyRow) -> Result<Device, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    Ok(Device {
        id: r.try_get("id")?,
        owner_id: r.try_get("owner_id")?,
        channel_id: r.try_get("channel_id")?,
        name: r.try_get("name")?,
        kind: DeviceKind::parse(&kind).unwrap_or(DeviceKind::Other),
        enabled: get_bool(r, "enabled")?,
        stream_key_hash: r.try_get("stream_key_hash")?,
        stream_key_prefix: r.try_get("stream_key_prefix")?,
        last_seen_at: r.try_get("last_seen_at")?,
        last_ip: r.try_get("last_ip")?,
        current_session_id: r.try_get("current_session_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Changes to a device; `None` leaves a field as it is.
#[derive(Default)]
pub struct DeviceChanges {
    pub name: Option<String>,
    pub kind: Option<DeviceKind>,
    pub enabled: Option<bool>,
    pub channel_id: Option<String>,
}

impl Db {
    pub async fn create_device(
        &self,
        owner_id: &str,
        channel_id: &str,
        name: &str,
        kind: DeviceKind,
        key_hash: &str,
        key_prefix: &str,
    ) -> DbResult<Device> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO devices (id, owner_id, channel_id, name, kind, stream_key_hash, stream_key_prefix, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *",
        )
        .bind(new_id())
        .bind(owner_id)
        .bind(channel_id)
        .bind(name)
        .bind(kind.as_str())
        .bind(key_hash)
        .bind(key_prefix)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        // Stream key hashes are unique: a collision is a conflict, not a database failure.
        .map_err(conflict("stream key"))?;
        Ok(from_row(&row)?)
    }

    pub async fn device(&self, id: &str) -> DbResult<Option<Device>> {
        let row = sqlx::query("SELECT * FROM devices WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The device whose stream key hashes to `key_hash` (an index lookup on the hash: timing
    /// reveals nothing about the key itself).
    pub async fn device_by_key_hash(&self, key_hash: &str) -> DbResult<Option<Device>> {
        let row = sqlx::query("SELECT * FROM devices WHERE stream_key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Devices, all or one owner's, optionally of one channel.
    pub async fn list_devices(
        &self,
        owner: Option<&str>,
        channel: Option<&str>,
        page: Page,
    ) -> DbResult<Vec<Device>> {
        let rows = sqlx::query(
            "SELECT * FROM devices WHERE ($1 = '' OR owner_id = $1) AND ($2 = '' OR channel_id = $2)
             ORDER BY created_at, id LIMIT $3 OFFSET $4",
        )
        .bind(owner.unwrap_or(""))
        .bind(channel.unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn update_device(&self, id: &str, c: DeviceChanges) -> DbResult<Option<Device>> {
        let Some(cur) = self.device(id).await? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "UPDATE devices SET name = $2, kind = $3, enabled = $4, channel_id = $5, updated_at = $6
             WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(c.name.unwrap_or(cur.name))
        .bind(c.kind.unwrap_or(cur.kind).as_str())
        .bind(i64::from(c.enabled.unwrap_or(cur.enabled)))
        .bind(c.channel_id.unwrap_or(cur.channel_id))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Replaces the stream key; the old one stops matching at once.
    pub async fn rotate_device_key(
        &self,
        id: &str,
        key_hash: &str,
        key_prefix: &str,
    ) -> DbResult<Option<Device>> {
        let row = sqlx::query(
            "UPDATE devices SET stream_key_hash = $2, stream_key_prefix = $3, updated_at = $4 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(key_hash)
        .bind(key_prefix)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(conflict("stream key"))?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn delete_device(&self, id: &str) -> DbResult<bool> {
        let r = sqlx::query("DELETE FROM devices WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Marks the device live in `session_id` (or offline, with `None`), and when it was seen.
    pub async fn set_device_live(
        &self,
        id: &str,
        session_id: Option<&str>,
        ip: Option<&str>,
    ) -> DbResult<()> {
        sqlx::query(
            "UPDATE devices SET current_session_id = $2, last_seen_at = $3, last_ip = COALESCE($4, last_ip) WHERE id = $1",
        )
        .bind(id)
        .bind(session_id)
        .bind(now_ms())
        .bind(ip)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Clears `current_session_id` on the devices publishing to `node` (at its start-up: none
    /// of its publishers survived the restart). Devices live on other nodes of a cluster keep
    /// theirs.
    pub async fn clear_device_sessions(&self, node: &str) -> DbResult<()> {
        sqlx::query(
            "UPDATE devices SET current_session_id = NULL WHERE current_session_id IN
                 (SELECT id FROM publish_sessions WHERE node = $1)",
        )
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
