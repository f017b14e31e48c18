//! Node-wide secrets kept in the database so that every node of a cluster shares them.

use sqlx::Row;

use super::{Db, DbResult, now_ms};

impl Db {
    /// The secret called `name`, created from `make` if there is none yet. Concurrent first
    /// calls (several nodes starting at once) all get the one value that was stored first.
    pub async fn secret_or_create(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> DbResult<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(make())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?
                .try_get("value")?,
        )
    }

    pub async fn secret(&self, name: &str) -> DbResult<Option<String>> {
        Ok(
            sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("value"))
                .transpose()?,
        )
    }

    pub async fn set_secret(&self, name: &str, value: &str) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
        )
        .bind(name)
        .bind(value)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
