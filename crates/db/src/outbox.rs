//! The mail outbox: every message the node sends, and whether SMTP took it.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbResult, Page, new_id, now_ms};

/// What a message's body becomes once SMTP has taken it (see [`Db::mark_mail`]).
pub const REDACTED_BODY: &str = "[body removed after delivery: it contained a one-time link]";

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OutboxMail {
    pub id: String,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub error: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<OutboxMail, sqlx::Error> {
    Ok(OutboxMail {
        id: r.try_get("id")?,
        to_addr: r.try_get("to_addr")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
        error: r.try_get("error")?,
    })
}

impl Db {
    pub async fn queue_mail(&self, to: &str, subject: &str, body: &str) -> DbResult<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO mail_outbox (id, to_addr, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Records the SMTP outcome of a queued message: `None` is sent, `Some` the error.
    ///
    /// Once SMTP has taken a message its body is replaced by [`REDACTED_BODY`]: bodies carry
    /// live verification and password-reset tokens, which must not outlive delivery in the
    /// database (backups, admin reads). An unsent message keeps its body: without SMTP, or
    /// after a failure, the outbox is how an operator gets the link to the user.
    pub async fn mark_mail(&self, id: &str, error: Option<&str>) -> DbResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET sent_at = CASE WHEN $2 = '' THEN $3 ELSE sent_at END, error = $4,
                 body = CASE WHEN $2 = '' THEN $5 ELSE body END
             WHERE id = $1",
        )
        .bind(id)
        .bind(error.unwrap_or(""))
        .bind(now_ms())
        .bind(error)
        .bind(REDACTED_BODY)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mail, newest first, optionally to one address (ASCII case ignored: the address is
    /// stored as given, and the lookup used to lower-case only its side of the comparison, so
    /// mail to `Bob@Example.com` could not be found at all).
    pub async fn list_mail(&self, to: Option<&str>, page: Page) -> DbResult<Vec<OutboxMail>> {
        let rows = sqlx::query(
            "SELECT * FROM mail_outbox WHERE ($1 = '' OR LOWER(to_addr) = $1) ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(to.map(str::to_ascii_lowercase).unwrap_or_default())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }
}
