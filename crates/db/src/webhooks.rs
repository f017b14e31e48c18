//! Webhook endpoints and their delivery log.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbError, DbResult, Page, get_bool, new_id, now_ms};

/// Events a webhook can subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &["publish.started", "publish.stopped", "record.done"];

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub owner_id: String,
    pub url: String,
    /// HMAC-SHA256 key for the `OnAir-Signature` header; shown when created.
    #[serde(skip)]
    pub secret: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

fn from_row(r: &AnyRow) -> Result<Webhook, sqlx::Error> {
    let events: String = r.try_get("events")?;
    Ok(Webhook {
        id: r.try_get("id")?,
        owner_id: r.try_get("owner_id")?,
        url: r.try_get("url")?,
        secret: r.try_get("secret")?,
        events: events.split_whitespace().map(str::to_owned).collect(),
        enabled: get_bool(r, "enabled")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: String,
    pub webhook_id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event_kind: String,
    /// Sent with "send a test event".
    pub test: bool,
    pub attempt: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub succeeded: bool,
    /// No more attempts follow this one.
    #[serde(rename = "final")]
    pub final_attempt: bool,
    pub at: i64,
}

fn delivery_from_row(r: &AnyRow) -> Result<WebhookDelivery, sqlx::Error> {
    Ok(WebhookDelivery {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        delivery_id: r.try_get("delivery_id")?,
        event_id: r.try_get("event_id")?,
        event_kind: r.try_get("event_kind")?,
        test: get_bool(r, "test")?,
        attempt: r.try_get("attempt")?,
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        duration_ms: r.try_get("duration_ms")?,
        succeeded: get_bool(r, "succeeded")?,
        final_attempt: get_bool(r, "final")?,
        at: r.try_get("at")?,
    })
}

/// Changes to a webhook; `None` leaves a field as it is.
#[derive(Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// One delivery attempt to record.
pub struct NewDelivery<'a> {
    pub webhook_id: &'a str,
    pub delivery_id: &'a str,
    pub event_id: &'a str,
    pub event_kind: &'a str,
    pub test: bool,
    pub attempt: i64,
    pub status: Option<i64>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
    pub succeeded: bool,
    pub final_attempt: bool,
    pub at: i64,
}

impl Db {
    /// A new webhook, whatever the owner has already; the API caps them per user with
    /// [`Db::create_webhook_within`].
    pub async fn create_webhook(
        &self,
        owner_id: &str,
        url: &str,
        secret: &str,
        events: &[String],
    ) -> DbResult<Webhook> {
        // No count can reach i64::MAX: the row is always inserted.
        self.create_webhook_within(owner_id, url, secret, events, i64::MAX)
            .await?
            .ok_or(DbError::Conflict("webhook"))
    }

    /// [`Db::create_webhook`] unless `owner_id` already has `cap` webhooks (`None` then). The
    /// count and the insert are one statement, and concurrent creations for one owner are
    /// serialized, so the cap holds however many requests race: SQLite runs one writer at a
    /// time and an INSERT takes the write lock before it reads; on PostgreSQL (READ
    /// COMMITTED, where two inserts could each count the other's absence) the owner's row is
    /// locked first, and the count of whoever waited for it sees the winner's row.
    pub async fn create_webhook_within(
        &self,
        owner_id: &str,
        url: &str,
        secret: &str,
        events: &[String],
        cap: i64,
    ) -> DbResult<Option<Webhook>> {
        let mut tx = self.pool.begin().await?;
        if self.backend == super::Backend::Postgres {
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(owner_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO webhooks (id, owner_id, url, secret, events, created_at, updated_at)
             SELECT $1, $2, $3, $4, $5, $6, $6
             WHERE (SELECT COUNT(*) FROM webhooks WHERE owner_id = $2) < $7
             RETURNING *",
        )
        .bind(new_id())
        .bind(owner_id)
        .bind(url)
        .bind(secret)
        .bind(events.join(" "))
        .bind(now)
        .bind(cap)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// How many webhooks `owner_id` has.
    pub async fn count_webhooks(&self, owner_id: &str) -> DbResult<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM webhooks WHERE owner_id = $1")
                .bind(owner_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    pub async fn webhook(&self, id: &str) -> DbResult<Option<Webhook>> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn list_webhooks(&self, owner: Option<&str>, page: Page) -> DbResult<Vec<Webhook>> {
        let rows = sqlx::query(
            "SELECT * FROM webhooks WHERE ($1 = '' OR owner_id = $1) ORDER BY created_at, id LIMIT $2 OFFSET $3",
        )
        .bind(owner.unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Enabled webhooks subscribed to `event`, owned by `owner` (the channel's owner) or by an
    /// admin (who sees every channel's events), whose owner is active: a disabled account's
    /// webhooks stay registered but receive nothing.
    pub async fn webhooks_for_event(&self, owner: &str, event: &str) -> DbResult<Vec<Webhook>> {
        let rows = sqlx::query(
            "SELECT w.* FROM webhooks w JOIN users u ON u.id = w.owner_id
             WHERE w.enabled = 1 AND u.status = 'active' AND (w.owner_id = $1 OR u.role = 'admin')
             LIMIT 1000",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        let all: Vec<Webhook> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        Ok(all
            .into_iter()
            .filter(|w| w.events.iter().any(|e| e == event))
            .collect())
    }

    pub async fn update_webhook(&self, id: &str, c: WebhookChanges) -> DbResult<Option<Webhook>> {
        let Some(cur) = self.webhook(id).await? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "UPDATE webhooks SET url = $2, events = $3, enabled = $4, updated_at = $5 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(c.url.unwrap_or(cur.url))
        .bind(c.events.unwrap_or(cur.events).join(" "))
        .bind(i64::from(c.enabled.unwrap_or(cur.enabled)))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn delete_webhook(&self, id: &str) -> DbResult<bool> {
        let r = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn record_delivery(&self, d: NewDelivery<'_>) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, delivery_id, event_id, event_kind, attempt, status, error,
                 duration_ms, succeeded, final, at, test)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(new_id())
        .bind(d.webhook_id)
        .bind(d.delivery_id)
        .bind(d.event_id)
        .bind(d.event_kind)
        .bind(d.attempt)
        .bind(d.status)
        .bind(d.error)
        .bind(d.duration_ms)
        .bind(i64::from(d.succeeded))
        .bind(i64::from(d.final_attempt))
        .bind(d.at)
        .bind(i64::from(d.test))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        page: Page,
    ) -> DbResult<Vec<WebhookDelivery>> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(webhook_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }
}
