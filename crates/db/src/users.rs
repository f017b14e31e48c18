//! Users: identity, role, status, password hash, TOTP and login-failure state.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Db, DbResult, Page, conflict, like_pattern, new_id, now_ms};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, on every user's objects.
    Admin,
    /// Own devices, channels, recordings and webhooks.
    Broadcaster,
    /// Watches channels.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Broadcaster => "broadcaster",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "broadcaster" => Some(Role::Broadcaster),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// Whether a user may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// Signed up, e-mail not verified yet.
    Pending,
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Pending => "pending",
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(UserStatus::Pending),
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

/// A user row. Secrets (password hash, TOTP secret) never leave the server: see [`UserView`].
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: Role,
    pub status: UserStatus,
    pub email_verified_at: Option<i64>,
    pub totp_secret: Option<String>,
    pub totp_pending: Option<String>,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub email_verified: bool,
    pub totp_enabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            status: u.status,
            email_verified: u.email_verified_at.is_some(),
            totp_enabled: u.totp_secret.is_some(),
            created_at: u.created_at,
        }
    }
}

fn from_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    let role: String = r.try_get("role")?;
    let status: String = r.try_get("status")?;
    Ok(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        password_hash: r.try_get("password_hash")?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        status: UserStatus::parse(&status).unwrap_or(UserStatus::Disabled),
        email_verified_at: r.try_get("email_verified_at")?,
        totp_secret: r.try_get("totp_secret")?,
        totp_pending: r.try_get("totp_pending")?,
        totp_last_step: r.try_get("totp_last_step")?,
        failed_logins: r.try_get("failed_logins")?,
        locked_until: r.try_get("locked_until")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A user to create.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub status: UserStatus,
    pub email_verified: bool,
}

/// Filters for listing users.
#[derive(Default)]
pub struct UserFilter<'a> {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    /// Substring of the e-mail address or display name.
    pub q: Option<&'a str>,
}

/// Administrative changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    pub display_name: Option<String>,
}

/// What [`Db::update_user`] did.
#[derive(Debug)]
pub enum UserUpdate {
    Updated(Box<User>),
    NotFound,
    /// Refused: the change would leave no active admin.
    LastAdmin,
}

impl Db {
    /// Applies `c`, unless it would demote or disable the last active admin. The check and the
    /// change are one statement (SQLite serializes writers); on PostgreSQL the active admins'
    /// rows are locked first, so two concurrent demotions cannot both pass.
    pub async fn update_user(&self, id: &str, c: UserChanges) -> DbResult<UserUpdate> {
        let mut tx = self.pool.begin().await?;
        if self.backend == super::Backend::Postgres {
            sqlx::query(
                "SELECT id FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id FOR UPDATE",
            )
            .fetch_all(&mut *tx)
            .await?;
        }
        let row = sqlx::query(
            "UPDATE users SET role = COALESCE($2, role), status = COALESCE($3, status),
                 display_name = COALESCE($4, display_name), updated_at = $5
             WHERE id = $1 AND (
                 NOT (role = 'admin' AND status = 'active')
                 OR (COALESCE($2, role) = 'admin' AND COALESCE($3, status) = 'active')
                 OR (SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active') > 1)
             RETURNING *",
        )
        .bind(id)
        .bind(c.role.map(Role::as_str))
        .bind(c.status.map(UserStatus::as_str))
        .bind(c.display_name.as_deref())
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match row {
            Some(r) => UserUpdate::Updated(Box::new(from_row(&r)?)),
            None if self.user(id).await?.is_some() => UserUpdate::LastAdmin,
            None => UserUpdate::NotFound,
        })
    }

    pub async fn create_user(&self, new: NewUser<'_>) -> DbResult<User> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO users (id, email, display_name, password_hash, role, status, email_verified_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *",
        )
        .bind(new_id())
        .bind(new.email.to_ascii_lowercase())
        .bind(new.display_name)
        .bind(new.password_hash)
        .bind(new.role.as_str())
        .bind(new.status.as_str())
        .bind(new.email_verified.then_some(now))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(conflict("email"))?;
        Ok(from_row(&row)?)
    }

    pub async fn user(&self, id: &str) -> DbResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn user_by_email(&self, email: &str) -> DbResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email.to_ascii_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn count_users(&self) -> DbResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    pub async fn count_admins(&self) -> DbResult<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND status = 'active'",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// Users, oldest first. `q` matches a substring of the e-mail or display name, ignoring
    /// ASCII case on both backends (SQLite's `LIKE` ignores it, PostgreSQL's does not: hence
    /// the `LOWER`s).
    pub async fn list_users(&self, filter: &UserFilter<'_>, page: Page) -> DbResult<Vec<User>> {
        let rows = sqlx::query(
            "SELECT * FROM users
             WHERE ($1 = '' OR role = $1) AND ($2 = '' OR status = $2)
               AND ($3 = '' OR LOWER(email) LIKE LOWER($4) ESCAPE '\\'
                    OR LOWER(display_name) LIKE LOWER($4) ESCAPE '\\')
             ORDER BY created_at, id LIMIT $5 OFFSET $6",
        )
        .bind(filter.role.map(Role::as_str).unwrap_or(""))
        .bind(filter.status.map(UserStatus::as_str).unwrap_or(""))
        .bind(filter.q.unwrap_or(""))
        // Case-insensitive on both databases (PostgreSQL's LIKE is not); e-mail is stored
        // lowercase.
        .bind(like_pattern(&filter.q.unwrap_or("").to_lowercase()))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn set_user_role(&self, id: &str, role: Role) -> DbResult<bool> {
        self.update_user_text(
            id,
            "UPDATE users SET role = $2, updated_at = $3 WHERE id = $1",
            role.as_str(),
        )
        .await
    }

    pub async fn set_user_status(&self, id: &str, status: UserStatus) -> DbResult<bool> {
        self.update_user_text(
            id,
            "UPDATE users SET status = $2, updated_at = $3 WHERE id = $1",
            status.as_str(),
        )
        .await
    }

    pub async fn set_display_name(&self, id: &str, name: &str) -> DbResult<bool> {
        self.update_user_text(
            id,
            "UPDATE users SET display_name = $2, updated_at = $3 WHERE id = $1",
            name,
        )
        .await
    }

    /// Sets a new password hash and clears the lockout.
    pub async fn set_password_hash(&self, id: &str, hash: &str) -> DbResult<bool> {
        self.update_user_text(
            id,
            "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL, updated_at = $3 WHERE id = $1",
            hash,
        )
        .await
    }

    async fn update_user_text(&self, id: &str, sql: &'static str, value: &str) -> DbResult<bool> {
        let r = sqlx::query(sql)
            .bind(id)
            .bind(value)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Marks the e-mail verified and activates a pending user.
    pub async fn verify_email(&self, id: &str) -> DbResult<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2),
                 status = CASE WHEN status = 'pending' THEN 'active' ELSE status END, updated_at = $2
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts a failed login; locks the account until `lock_until` once `failures` reaches
    /// `threshold`. Returns the new failure count.
    ///
    /// A lock that has already passed starts the count over: without that, the count stayed
    /// at the threshold and the first wrong password after a lockout locked the account again
    /// at once (unlike an unknown address, which gets the full threshold again: an
    /// enumeration signal as well as a harsh policy).
    pub async fn record_login_failure(
        &self,
        id: &str,
        threshold: i64,
        lock_until: i64,
    ) -> DbResult<i64> {
        let row = sqlx::query(
            "UPDATE users SET
                 failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until <= $4 THEN 1
                                      ELSE failed_logins + 1 END,
                 locked_until = CASE
                     WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= $4 THEN 1
                                ELSE failed_logins + 1 END) >= $2 THEN $3
                     WHEN locked_until IS NOT NULL AND locked_until <= $4 THEN NULL
                     ELSE locked_until END
             WHERE id = $1 RETURNING failed_logins",
        )
        .bind(id)
        .bind(threshold)
        .bind(lock_until)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("failed_logins")?)
    }

    pub async fn clear_login_failures(&self, id: &str) -> DbResult<()> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a TOTP secret awaiting confirmation by a first code.
    pub async fn set_totp_pending(&self, id: &str, secret: Option<&str>) -> DbResult<()> {
        sqlx::query("UPDATE users SET totp_pending = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(secret)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Enables (Some) or disables (None) two-factor sign-in.
    pub async fn set_totp(
        &self,
        id: &str,
        secret: Option<&str>,
        last_step: Option<i64>,
    ) -> DbResult<()> {
        sqlx::query(
            "UPDATE users SET totp_secret = $2, totp_pending = NULL, totp_last_step = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(secret)
        .bind(last_step)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the TOTP time step just used, only if it is newer than the last one (so a code
    /// cannot be replayed even by two concurrent requests). False when it was not newer.
    pub async fn use_totp_step(&self, id: &str, step: i64) -> DbResult<bool> {
        let r = sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
