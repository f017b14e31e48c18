//! The audit log: who did what to which object, from where, with what result.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbResult, Page, new_id, now_ms};

/// Outcome of an audited action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditResult {
    Ok,
    Denied,
    Error,
}

impl AuditResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Ok => "ok",
            AuditResult::Denied => "denied",
            AuditResult::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor_id: Option<String>,
    /// E-mail of a user, `device:{id}`, `system` or `anonymous`.
    pub actor: String,
    /// e.g. `user.login`, `device.rotate_key`, `publish.start`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// What the target is called now (a user's e-mail, a channel's slug, a device's or token's
    /// name, a webhook's URL, a recording's channel); `None` once it is gone.
    pub target_name: Option<String>,
    pub ip: Option<String>,
    pub result: String,
    pub detail: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor_id: r.try_get("actor_id")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target_type: r.try_get("target_type")?,
        target_id: r.try_get("target_id")?,
        target_name: r.try_get("target_name")?,
        ip: r.try_get("ip")?,
        result: r.try_get("result")?,
        detail: r.try_get("detail")?,
    })
}

/// An audit entry to write.
#[derive(Clone, Debug, Default)]
pub struct NewAudit<'a> {
    pub actor_id: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub result: Option<AuditResult>,
    pub detail: Option<&'a str>,
}

/// Filters for reading the audit log.
#[derive(Default)]
pub struct AuditFilter<'a> {
    pub actor_id: Option<&'a str>,
    /// The actor's user id or its `actor` text (an e-mail, `system`, `anonymous`, …).
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    /// Entries at or after this time (Unix ms).
    pub since: Option<i64>,
    /// Entries before this time (Unix ms).
    pub until: Option<i64>,
}

impl Db {
    pub async fn audit(&self, e: NewAudit<'_>) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor_id, actor, action, target_type, target_id, ip, result, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new_id())
        .bind(now_ms())
        .bind(e.actor_id)
        .bind(e.actor)
        .bind(e.action)
        .bind(e.target_type)
        .bind(e.target_id)
        .bind(e.ip)
        .bind(e.result.unwrap_or(AuditResult::Ok).as_str())
        .bind(e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Entries, newest first.
    pub async fn list_audit(&self, f: &AuditFilter<'_>, page: Page) -> DbResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT a.*, COALESCE(u.email, c.slug, d.name, t.name, w.url, r.channel_slug) AS target_name
             FROM audit_log a
             LEFT JOIN users u ON a.target_type = 'user' AND u.id = a.target_id
             LEFT JOIN channels c ON a.target_type = 'channel' AND c.id = a.target_id
             LEFT JOIN devices d ON a.target_type = 'device' AND d.id = a.target_id
             LEFT JOIN api_tokens t ON a.target_type = 'token' AND t.id = a.target_id
             LEFT JOIN webhooks w ON a.target_type = 'webhook' AND w.id = a.target_id
             LEFT JOIN recordings r ON a.target_type = 'recording' AND r.id = a.target_id
             WHERE ($1 = '' OR a.actor_id = $1) AND ($2 = '' OR a.action = $2)
               AND ($3 = '' OR a.target_id = $3)
               AND ($6 = '' OR a.actor_id = $6 OR a.actor = $6) AND ($7 = '' OR a.target_type = $7)
               AND a.at >= $8 AND a.at < $9
             ORDER BY a.at DESC, a.id DESC LIMIT $4 OFFSET $5",
        )
        .bind(f.actor_id.unwrap_or(""))
        .bind(f.action.unwrap_or(""))
        .bind(f.target_id.unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .bind(f.actor.unwrap_or(""))
        .bind(f.target_type.unwrap_or(""))
        .bind(f.since.unwrap_or(i64::MIN))
        .bind(f.until.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }
}
