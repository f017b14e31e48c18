//! Console sessions, personal access tokens and single-use mailed tokens. Only SHA-256 hashes of
//! the secret values are stored; the values themselves are shown to their owner once.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbResult, new_id, now_ms};

/// A signed-in console session.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    #[serde(skip)]
    pub csrf_token: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

fn session_from_row(r: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        csrf_token: r.try_get("csrf_token")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// A personal access token (bearer), without its secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    /// `read` (GET requests) and/or `write` (everything else).
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

fn token_from_row(r: &AnyRow) -> Result<ApiToken, sqlx::Error> {
    let scopes: String = r.try_get("scopes")?;
    Ok(ApiToken {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

/// What a mailed single-use token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::ResetPassword => "reset_password",
        }
    }
}

impl Db {
    pub async fn create_session(
        &self,
        user_id: &str,
        token_hash: &str,
        csrf_token: &str,
        ip: Option<&str>,
        user_agent: Option<&str>,
        expires_at: i64,
    ) -> DbResult<Session> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO sessions (id, user_id, token_hash, csrf_token, ip, user_agent, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING *",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(token_hash)
        .bind(csrf_token)
        .bind(ip)
        .bind(user_agent)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(session_from_row(&row)?)
    }

    /// The live (unexpired, unrevoked) session with this token hash; refreshes last-seen.
    pub async fn session_by_token(&self, token_hash: &str) -> DbResult<Option<Session>> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE sessions SET last_seen_at = $2
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING *",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    pub async fn list_sessions(&self, user_id: &str) -> DbResult<Vec<Session>> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC LIMIT 200",
        )
        .bind(user_id)
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Revokes one of the user's sessions. False when there was none.
    pub async fn revoke_session(&self, user_id: &str, id: &str) -> DbResult<bool> {
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Revokes every session of a user, but `except` (the caller's own, when it keeps it).
    pub async fn revoke_all_sessions(&self, user_id: &str, except: Option<&str>) -> DbResult<u64> {
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2",
        )
        .bind(user_id)
        .bind(except.unwrap_or(""))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn create_api_token(
        &self,
        user_id: &str,
        name: &str,
        token_hash: &str,
        prefix: &str,
        scopes: &[String],
        expires_at: Option<i64>,
    ) -> DbResult<ApiToken> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(prefix)
        .bind(scopes.join(" "))
        .bind(now_ms())
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(token_from_row(&row)?)
    }

    /// The live token with this hash; records its use.
    pub async fn api_token_by_hash(&self, token_hash: &str) -> DbResult<Option<ApiToken>> {
        let row = sqlx::query(
            "UPDATE api_tokens SET last_used_at = $2
             WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
             RETURNING *",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_from_row).transpose()?)
    }

    pub async fn list_api_tokens(&self, user_id: &str) -> DbResult<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT * FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 200",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn revoke_api_token(&self, user_id: &str, id: &str) -> DbResult<bool> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn revoke_all_api_tokens(&self, user_id: &str) -> DbResult<u64> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Stores a mailed single-use token, invalidating earlier unused ones of the same purpose.
    pub async fn create_user_token(
        &self,
        user_id: &str,
        purpose: TokenPurpose,
        token_hash: &str,
        expires_at: i64,
    ) -> DbResult<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE user_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
            .bind(user_id)
            .bind(purpose.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO user_tokens (id, user_id, purpose, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a single-use token: returns its user when it exists, is unused, unexpired and of
    /// this purpose. The update is the check, so a token cannot be used twice concurrently.
    pub async fn consume_user_token(
        &self,
        purpose: TokenPurpose,
        token_hash: &str,
    ) -> DbResult<Option<String>> {
        let row = sqlx::query(
            "UPDATE user_tokens SET used_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("user_id")).transpose()?)
    }
}
