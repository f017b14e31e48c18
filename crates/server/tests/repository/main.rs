//! Every public repository function of the metadata store (`onair_server::db::Db`), on SQLite
//! and on PostgreSQL: create/read/list/update/delete, expiry and revocation, single-use tokens,
//! pagination limits, and hostile strings stored verbatim (or refused cleanly).

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

use std::sync::Arc;

use common::db::{BACKENDS, Backend, open};
use onair_server::db::audit::{AuditFilter, AuditResult, NewAudit};
use onair_server::db::channels::{ChannelChanges, Visibility};
use onair_server::db::devices::{DeviceChanges, DeviceKind};
use onair_server::db::publish_sessions::PublishSessionFilter;
use onair_server::db::publish_sessions::SessionEnd;
use onair_server::db::sessions::TokenPurpose;
use onair_server::db::users::{NewUser, Role, User, UserFilter, UserStatus};
use onair_server::db::webhooks::{NewDelivery, WebhookChanges};
use onair_server::db::{self, Db, DbError, MAX_PAGE_SIZE, Page, now_ms};

/// Strings that have broken SQL layers before. Every one must be stored and read back
/// verbatim, or (only for NUL, which PostgreSQL cannot store in TEXT) refused with
/// [`DbError::InvalidText`].
const HOSTILE: &[&str] = &[
    "O'Brien",
    "\"double\" 'single' `back`",
    "100% sure",
    "under_score",
    "back\\slash \\\\ \\' \\%",
    "'; DROP TABLE users; --",
    "\"; DROP TABLE users; --",
    "1' OR '1'='1",
    "$1 $2 ?1 :name @p",
    "ünïcödé — 日本語 🎥 \u{202e}rtl",
    "line\nbreak\ttab\r\n",
    "",
    "   ",
];

const NUL: &str = "nul\0byte";

async fn user(db: &Db, email: &str) -> User {
    db.create_user(NewUser {
        email,
        display_name: "Test User",
        password_hash: "$argon2id$fake",
        role: Role::Broadcaster,
        status: UserStatus::Active,
        email_verified: true,
    })
    .await
    .unwrap()
}

/// A text write that either round-trips or is refused with `InvalidText` (NUL on PostgreSQL).
fn nul_outcome<T>(backend: Backend, r: Result<T, DbError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(DbError::InvalidText) => {
            assert_eq!(backend, Backend::Postgres, "SQLite stores NUL bytes");
            None
        }
        Err(e) => panic!("NUL byte: unexpected error {e:?}"),
    }
}

mod basics;
mod channels;
mod cluster;
mod hostile;
mod identity;
mod logs;

#[test]
fn both_backends_are_covered() {
    assert_eq!(BACKENDS, [Backend::Sqlite, Backend::Postgres]);
}
