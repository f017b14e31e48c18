//! Every public repository function of the metadata store (`onair_server::db::Db`), on SQLite
//! and on PostgreSQL: create/read/list/update/delete, expiry and revocation, single-use tokens,
//! pagination limits, and hostile strings stored verbatim (or refused cleanly).

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

async fn connect_and_pages(backend: Backend) {
    let (db, _dir) = open(backend).await;
    assert_eq!(
        db.backend(),
        match backend {
            Backend::Sqlite => db::Backend::Sqlite,
            Backend::Postgres => db::Backend::Postgres,
        }
    );
    assert!(matches!(
        Db::connect("mysql://localhost/x").await,
        Err(DbError::UnsupportedUrl)
    ));
    let p = Page::new(Some(10_000), Some(-5));
    assert_eq!((p.limit, p.offset), (MAX_PAGE_SIZE, 0));
    let p = Page::new(Some(0), None);
    assert_eq!(p.limit, 1);
    let p = Page::new(Some(-3), Some(7));
    assert_eq!((p.limit, p.offset), (1, 7));
    assert_eq!(Page::default().limit, 50);

    // More rows than one page holds: a list never returns more than MAX_PAGE_SIZE.
    let n = MAX_PAGE_SIZE as usize + 5;
    let mut tx_users = Vec::new();
    for i in 0..n {
        tx_users.push(user(&db, &format!("u{i:04}@example.com")).await.id);
    }
    assert_eq!(db.count_users().await.unwrap(), n as i64);
    let all = db
        .list_users(&UserFilter::default(), Page::new(Some(i64::MAX), None))
        .await
        .unwrap();
    assert_eq!(all.len(), MAX_PAGE_SIZE as usize);
    // Oldest first, in creation order.
    let ids: Vec<_> = all.iter().map(|u| u.id.clone()).collect();
    assert_eq!(ids, tx_users[..MAX_PAGE_SIZE as usize]);
    let rest = db
        .list_users(
            &UserFilter::default(),
            Page::new(Some(MAX_PAGE_SIZE), Some(MAX_PAGE_SIZE)),
        )
        .await
        .unwrap();
    assert_eq!(rest.len(), 5);
    assert_eq!(rest[4].id, tx_users[n - 1]);
    let none = db
        .list_users(&UserFilter::default(), Page::new(None, Some(i64::MAX)))
        .await
        .unwrap();
    assert!(none.is_empty());

    // Audit entries likewise, newest first even within one millisecond.
    for i in 0..n {
        db.audit(NewAudit {
            actor: "system",
            action: "test.page",
            detail: Some(&i.to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let page = db
        .list_audit(&AuditFilter::default(), Page::new(Some(1000), None))
        .await
        .unwrap();
    assert_eq!(page.len(), MAX_PAGE_SIZE as usize);
    let details: Vec<_> = page.iter().map(|e| e.detail.clone().unwrap()).collect();
    let want: Vec<_> = (0..n)
        .rev()
        .take(MAX_PAGE_SIZE as usize)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(details, want, "newest first");
    db.close().await;
}

async fn users(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let alice = db
        .create_user(NewUser {
            email: "Alice@Example.COM",
            display_name: "Alice",
            password_hash: "h1",
            role: Role::Admin,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
        .unwrap();
    assert_eq!(alice.email, "alice@example.com", "stored lower-case");
    assert!(alice.email_verified_at.is_some());
    assert_eq!(alice.failed_logins, 0);
    assert!(alice.totp_secret.is_none());
    // Unique e-mail, whatever the case.
    let dup = db
        .create_user(NewUser {
            email: "ALICE@example.com",
            display_name: "Other",
            password_hash: "h",
            role: Role::Viewer,
            status: UserStatus::Pending,
            email_verified: false,
        })
        .await;
    assert!(matches!(dup, Err(DbError::Conflict("email"))), "{dup:?}");

    let bob = db
        .create_user(NewUser {
            email: "bob@example.com",
            display_name: "Bob_Builder",
            password_hash: "h2",
            role: Role::Viewer,
            status: UserStatus::Pending,
            email_verified: false,
        })
        .await
        .unwrap();
    assert!(bob.email_verified_at.is_none());
    assert_eq!(db.user(&bob.id).await.unwrap().unwrap().email, bob.email);
    assert!(db.user("nope").await.unwrap().is_none());
    assert_eq!(
        db.user_by_email("BOB@EXAMPLE.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        bob.id
    );
    assert!(db.user_by_email("carol@x.y").await.unwrap().is_none());
    assert_eq!(db.count_users().await.unwrap(), 2);
    assert_eq!(db.count_admins().await.unwrap(), 1);

    // Filters.
    let f = |role, status, q| UserFilter { role, status, q };
    let ids = |v: Vec<User>| v.into_iter().map(|u| u.id).collect::<Vec<_>>();
    let page = Page::default();
    assert_eq!(
        ids(db.list_users(&f(None, None, None), page).await.unwrap()),
        [alice.id.clone(), bob.id.clone()]
    );
    assert_eq!(
        ids(db
            .list_users(&f(Some(Role::Viewer), None, None), page)
            .await
            .unwrap()),
        [bob.id.as_str()]
    );
    assert_eq!(
        ids(db
            .list_users(&f(None, Some(UserStatus::Active), None), page)
            .await
            .unwrap()),
        [alice.id.as_str()]
    );
    assert_eq!(
        ids(db
            .list_users(&f(None, None, Some("builder")), page)
            .await
            .unwrap()),
        [bob.id.as_str()],
        "search is case-insensitive on both backends"
    );
    assert_eq!(
        ids(db
            .list_users(&f(None, None, Some("ALICE@")), page)
            .await
            .unwrap()),
        [alice.id.as_str()]
    );
    // LIKE metacharacters are literal.
    assert_eq!(
        ids(db
            .list_users(&f(None, None, Some("_")), page)
            .await
            .unwrap()),
        [bob.id.as_str()]
    );
    assert!(
        db.list_users(&f(None, None, Some("%")), page)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.list_users(&f(None, None, Some("\\")), page)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.list_users(&f(Some(Role::Admin), Some(UserStatus::Pending), None), page)
            .await
            .unwrap()
            .is_empty()
    );

    // Updates.
    assert!(db.set_user_role(&bob.id, Role::Broadcaster).await.unwrap());
    assert!(!db.set_user_role("nope", Role::Admin).await.unwrap());
    assert!(
        db.set_user_status(&bob.id, UserStatus::Disabled)
            .await
            .unwrap()
    );
    assert!(db.set_display_name(&bob.id, "Robert").await.unwrap());
    let b = db.user(&bob.id).await.unwrap().unwrap();
    assert_eq!(
        (b.role, b.status, b.display_name.as_str()),
        (Role::Broadcaster, UserStatus::Disabled, "Robert")
    );
    assert!(b.updated_at >= bob.updated_at);

    // Verification activates a pending user only, and keeps the first verification time.
    db.set_user_status(&bob.id, UserStatus::Pending)
        .await
        .unwrap();
    db.verify_email(&bob.id).await.unwrap();
    let b = db.user(&bob.id).await.unwrap().unwrap();
    assert_eq!(b.status, UserStatus::Active);
    let first = b.email_verified_at.unwrap();
    db.set_user_status(&bob.id, UserStatus::Disabled)
        .await
        .unwrap();
    db.verify_email(&bob.id).await.unwrap();
    let b = db.user(&bob.id).await.unwrap().unwrap();
    assert_eq!(
        b.status,
        UserStatus::Disabled,
        "verification does not enable"
    );
    assert_eq!(b.email_verified_at, Some(first));

    // Login failures and lockout.
    let until = now_ms() + 60_000;
    assert_eq!(
        db.record_login_failure(&alice.id, 3, until).await.unwrap(),
        1
    );
    assert_eq!(
        db.record_login_failure(&alice.id, 3, until).await.unwrap(),
        2
    );
    assert!(
        db.user(&alice.id)
            .await
            .unwrap()
            .unwrap()
            .locked_until
            .is_none()
    );
    assert_eq!(
        db.record_login_failure(&alice.id, 3, until).await.unwrap(),
        3
    );
    assert_eq!(
        db.user(&alice.id).await.unwrap().unwrap().locked_until,
        Some(until)
    );
    db.clear_login_failures(&alice.id).await.unwrap();
    let a = db.user(&alice.id).await.unwrap().unwrap();
    assert_eq!((a.failed_logins, a.locked_until), (0, None));
    // A lock that has passed: counting starts over instead of locking again at once.
    let past = now_ms() - 1;
    for _ in 0..3 {
        db.record_login_failure(&alice.id, 3, past).await.unwrap();
    }
    assert_eq!(
        db.user(&alice.id).await.unwrap().unwrap().locked_until,
        Some(past)
    );
    assert_eq!(
        db.record_login_failure(&alice.id, 3, until).await.unwrap(),
        1
    );
    let a = db.user(&alice.id).await.unwrap().unwrap();
    assert_eq!(
        a.locked_until, None,
        "one failure after a lock does not relock"
    );
    // A password change clears the lockout.
    db.record_login_failure(&alice.id, 1, until).await.unwrap();
    assert!(db.set_password_hash(&alice.id, "h3").await.unwrap());
    let a = db.user(&alice.id).await.unwrap().unwrap();
    assert_eq!(
        (a.password_hash.as_str(), a.failed_logins, a.locked_until),
        ("h3", 0, None)
    );
    assert!(!db.set_password_hash("nope", "h").await.unwrap());

    // TOTP.
    db.set_totp_pending(&alice.id, Some("PENDING"))
        .await
        .unwrap();
    let a = db.user(&alice.id).await.unwrap().unwrap();
    assert_eq!(a.totp_pending.as_deref(), Some("PENDING"));
    assert!(a.totp_secret.is_none());
    db.set_totp(&alice.id, Some("SECRET"), Some(10))
        .await
        .unwrap();
    let a = db.user(&alice.id).await.unwrap().unwrap();
    assert_eq!(
        (
            a.totp_secret.as_deref(),
            a.totp_pending.as_deref(),
            a.totp_last_step
        ),
        (Some("SECRET"), None, Some(10))
    );
    assert!(!db.use_totp_step(&alice.id, 10).await.unwrap(), "replay");
    assert!(!db.use_totp_step(&alice.id, 9).await.unwrap(), "older");
    assert!(db.use_totp_step(&alice.id, 11).await.unwrap());
    // Concurrent uses of one step: exactly one wins.
    let db2 = Arc::new(db.clone());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let db = db2.clone();
            let id = alice.id.clone();
            tokio::spawn(async move { db.use_totp_step(&id, 12).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    db.set_totp(&alice.id, None, None).await.unwrap();
    let a = db.user(&alice.id).await.unwrap().unwrap();
    assert!(a.totp_secret.is_none() && a.totp_last_step.is_none());
    assert!(db.use_totp_step(&alice.id, 1).await.unwrap());
    db.set_totp_pending(&alice.id, None).await.unwrap();
    db.close().await;
}

async fn sessions_and_tokens(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let u = user(&db, "s@example.com").await;
    let other = user(&db, "o@example.com").await;
    let far = now_ms() + 3_600_000;
    let s1 = db
        .create_session(&u.id, "hash1", "csrf1", Some("10.0.0.1"), Some("UA"), far)
        .await
        .unwrap();
    assert_eq!(s1.csrf_token, "csrf1");
    assert_eq!(s1.ip.as_deref(), Some("10.0.0.1"));
    let s2 = db
        .create_session(&u.id, "hash2", "csrf2", None, None, far)
        .await
        .unwrap();
    let expired = db
        .create_session(&u.id, "hash3", "csrf3", None, None, now_ms() - 1)
        .await
        .unwrap();
    let os = db
        .create_session(&other.id, "hash4", "csrf4", None, None, far)
        .await
        .unwrap();
    let got = db.session_by_token("hash1").await.unwrap().unwrap();
    assert_eq!(got.id, s1.id);
    assert!(got.last_seen_at >= s1.last_seen_at);
    assert!(db.session_by_token("hash3").await.unwrap().is_none());
    assert!(db.session_by_token("nope").await.unwrap().is_none());
    let listed: Vec<_> = db
        .list_sessions(&u.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&s1.id) && listed.contains(&s2.id));
    assert!(!listed.contains(&expired.id));

    // Revocation is by owner only.
    assert!(!db.revoke_session(&other.id, &s1.id).await.unwrap());
    assert!(db.revoke_session(&u.id, &s1.id).await.unwrap());
    assert!(!db.revoke_session(&u.id, &s1.id).await.unwrap(), "twice");
    assert!(db.session_by_token("hash1").await.unwrap().is_none());
    let s5 = db
        .create_session(&u.id, "hash5", "csrf5", None, None, far)
        .await
        .unwrap();
    // Revoke all but one; then all.
    assert_eq!(
        db.revoke_all_sessions(&u.id, Some(&s5.id)).await.unwrap(),
        2,
        "s2 and the expired one"
    );
    assert!(db.session_by_token("hash5").await.unwrap().is_some());
    assert!(db.session_by_token("hash2").await.unwrap().is_none());
    assert_eq!(db.revoke_all_sessions(&u.id, None).await.unwrap(), 1);
    assert!(db.list_sessions(&u.id).await.unwrap().is_empty());
    assert!(
        db.session_by_token("hash4").await.unwrap().is_some(),
        "other users keep theirs: {}",
        os.id
    );

    // API tokens.
    let scopes = vec!["read".to_owned(), "write".to_owned()];
    let t1 = db
        .create_api_token(&u.id, "ci", "th1", "oat_abcd", &scopes, None)
        .await
        .unwrap();
    assert_eq!(t1.scopes, scopes);
    assert!(t1.last_used_at.is_none());
    let t2 = db
        .create_api_token(
            &u.id,
            "ro",
            "th2",
            "oat_efgh",
            &["read".to_owned()],
            Some(far),
        )
        .await
        .unwrap();
    let _t3 = db
        .create_api_token(
            &u.id,
            "old",
            "th3",
            "oat_ijkl",
            &["read".to_owned()],
            Some(now_ms() - 1),
        )
        .await
        .unwrap();
    let got = db.api_token_by_hash("th1").await.unwrap().unwrap();
    assert_eq!(got.id, t1.id);
    assert!(got.last_used_at.is_some());
    assert_eq!(
        db.api_token_by_hash("th2").await.unwrap().unwrap().scopes,
        ["read"]
    );
    assert!(
        db.api_token_by_hash("th3").await.unwrap().is_none(),
        "expired"
    );
    assert!(db.api_token_by_hash("zzz").await.unwrap().is_none());
    assert_eq!(db.list_api_tokens(&u.id).await.unwrap().len(), 3);
    assert!(!db.revoke_api_token(&other.id, &t1.id).await.unwrap());
    assert!(db.revoke_api_token(&u.id, &t1.id).await.unwrap());
    assert!(!db.revoke_api_token(&u.id, &t1.id).await.unwrap());
    assert!(db.api_token_by_hash("th1").await.unwrap().is_none());
    let left: Vec<_> = db
        .list_api_tokens(&u.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(left.contains(&t2.id) && !left.contains(&t1.id));
    assert_eq!(db.revoke_all_api_tokens(&u.id).await.unwrap(), 2);
    assert!(db.api_token_by_hash("th2").await.unwrap().is_none());
    assert!(db.list_api_tokens(&u.id).await.unwrap().is_empty());

    // Single-use mailed tokens.
    db.create_user_token(&u.id, TokenPurpose::VerifyEmail, "ut1", far)
        .await
        .unwrap();
    assert!(
        db.consume_user_token(TokenPurpose::ResetPassword, "ut1")
            .await
            .unwrap()
            .is_none(),
        "wrong purpose"
    );
    assert_eq!(
        db.consume_user_token(TokenPurpose::VerifyEmail, "ut1")
            .await
            .unwrap()
            .as_deref(),
        Some(u.id.as_str())
    );
    assert!(
        db.consume_user_token(TokenPurpose::VerifyEmail, "ut1")
            .await
            .unwrap()
            .is_none(),
        "used once"
    );
    db.create_user_token(&u.id, TokenPurpose::ResetPassword, "ut2", now_ms() - 1)
        .await
        .unwrap();
    assert!(
        db.consume_user_token(TokenPurpose::ResetPassword, "ut2")
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    // A new token of the same purpose invalidates the earlier one; other purposes stay.
    db.create_user_token(&u.id, TokenPurpose::ResetPassword, "ut3", far)
        .await
        .unwrap();
    db.create_user_token(&u.id, TokenPurpose::VerifyEmail, "ut4", far)
        .await
        .unwrap();
    db.create_user_token(&u.id, TokenPurpose::ResetPassword, "ut5", far)
        .await
        .unwrap();
    assert!(
        db.consume_user_token(TokenPurpose::ResetPassword, "ut3")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.consume_user_token(TokenPurpose::VerifyEmail, "ut4")
            .await
            .unwrap()
            .is_some()
    );
    // Concurrent consumers: exactly one gets the user.
    let db2 = Arc::new(db.clone());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let db = db2.clone();
            tokio::spawn(async move {
                db.consume_user_token(TokenPurpose::ResetPassword, "ut5")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(wins, 1);
    db.close().await;
}

async fn channels(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let owner = user(&db, "owner@example.com").await;
    let viewer = user(&db, "viewer@example.com").await;
    let c = db
        .create_channel(&owner.id, "cam-1", "Camera 1", Visibility::Private)
        .await
        .unwrap();
    assert_eq!(
        (c.slug.as_str(), c.visibility, c.banned),
        ("cam-1", Visibility::Private, false)
    );
    assert!(c.segment_duration_ms.is_none());
    let dup = db
        .create_channel(&viewer.id, "cam-1", "x", Visibility::Public)
        .await;
    assert!(matches!(dup, Err(DbError::Conflict("slug"))), "{dup:?}");
    let c2 = db
        .create_channel(&viewer.id, "cam-2", "Camera 2", Visibility::Public)
        .await
        .unwrap();
    assert_eq!(db.channel(&c.id).await.unwrap().unwrap().slug, "cam-1");
    assert_eq!(
        db.channel_by_slug("cam-2").await.unwrap().unwrap().id,
        c2.id
    );
    assert!(db.channel_by_slug("CAM-2").await.unwrap().is_none());
    assert!(db.channel("nope").await.unwrap().is_none());
    let all = db.list_channels(None, Page::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [c.id.as_str(), c2.id.as_str()]
    );
    let mine = db
        .list_channels(Some(&owner.id), Page::default())
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        db.list_channels(None, Page::new(Some(1), Some(1)))
            .await
            .unwrap()[0]
            .id,
        c2.id
    );

    // Updates, partial and conflicting.
    let u = db
        .update_channel(
            &c.id,
            ChannelChanges {
                title: Some("Renamed".into()),
                segment_duration_ms: Some(Some(2000)),
                part_duration_ms: Some(Some(250)),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            u.slug.as_str(),
            u.title.as_str(),
            u.visibility,
            u.segment_duration_ms,
            u.part_duration_ms
        ),
        (
            "cam-1",
            "Renamed",
            Visibility::Private,
            Some(2000),
            Some(250)
        )
    );
    let u = db
        .update_channel(
            &c.id,
            ChannelChanges {
                visibility: Some(Visibility::Signed),
                segment_duration_ms: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.visibility, u.segment_duration_ms, u.part_duration_ms),
        (Visibility::Signed, None, Some(250))
    );
    let clash = db
        .update_channel(
            &c.id,
            ChannelChanges {
                slug: Some("cam-2".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(clash, Err(DbError::Conflict("slug"))), "{clash:?}");
    assert!(
        db.update_channel("nope", ChannelChanges::default())
            .await
            .unwrap()
            .is_none()
    );

    // Ban and resume.
    let b = db
        .set_channel_banned(&c.id, Some("terms"))
        .await
        .unwrap()
        .unwrap();
    assert!(b.banned);
    assert_eq!(b.banned_reason.as_deref(), Some("terms"));
    let r = db.set_channel_banned(&c.id, None).await.unwrap().unwrap();
    assert!(!r.banned && r.banned_reason.is_none());
    assert!(db.set_channel_banned("nope", None).await.unwrap().is_none());

    // Grants.
    assert!(!db.has_channel_grant(&c.id, &viewer.id).await.unwrap());
    db.grant_channel(&c.id, &viewer.id).await.unwrap();
    db.grant_channel(&c.id, &viewer.id).await.unwrap(); // idempotent
    db.grant_channel(&c.id, &owner.id).await.unwrap();
    assert!(db.has_channel_grant(&c.id, &viewer.id).await.unwrap());
    let g = db.channel_grants(&c.id).await.unwrap();
    assert_eq!(g.len(), 2);
    assert!(g.contains(&viewer.id) && g.contains(&owner.id));
    assert!(db.revoke_channel_grant(&c.id, &viewer.id).await.unwrap());
    assert!(!db.revoke_channel_grant(&c.id, &viewer.id).await.unwrap());
    assert!(!db.has_channel_grant(&c.id, &viewer.id).await.unwrap());

    // Delete cascades to grants, devices and publish sessions.
    let d = db
        .create_device(&owner.id, &c.id, "enc", DeviceKind::Obs, "kh-del", "sk_a")
        .await
        .unwrap();
    db.start_publish_session("ps-del", &c.id, Some(&d.id), "node", "1.2.3.4")
        .await
        .unwrap();
    assert!(db.delete_channel(&c.id).await.unwrap());
    assert!(!db.delete_channel(&c.id).await.unwrap());
    assert!(db.channel(&c.id).await.unwrap().is_none());
    assert!(db.channel_grants(&c.id).await.unwrap().is_empty());
    assert!(db.device(&d.id).await.unwrap().is_none());
    assert!(db.publish_session("ps-del").await.unwrap().is_none());
    db.close().await;
}

async fn devices(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let owner = user(&db, "dev@example.com").await;
    let other = user(&db, "dev2@example.com").await;
    let c1 = db
        .create_channel(&owner.id, "one", "One", Visibility::Public)
        .await
        .unwrap();
    let c2 = db
        .create_channel(&owner.id, "two", "Two", Visibility::Public)
        .await
        .unwrap();
    let d1 = db
        .create_device(&owner.id, &c1.id, "OBS", DeviceKind::Obs, "key1", "sk_k1")
        .await
        .unwrap();
    assert!(d1.enabled);
    assert_eq!(
        (d1.kind, d1.stream_key_prefix.as_str()),
        (DeviceKind::Obs, "sk_k1")
    );
    assert!(d1.current_session_id.is_none() && d1.last_seen_at.is_none());
    let dup = db
        .create_device(&other.id, &c2.id, "x", DeviceKind::Other, "key1", "sk_k1")
        .await;
    assert!(
        matches!(dup, Err(DbError::Conflict(_))),
        "duplicate key hash: {dup:?}"
    );
    let d2 = db
        .create_device(&other.id, &c2.id, "ff", DeviceKind::Ffmpeg, "key2", "sk_k2")
        .await
        .unwrap();
    assert_eq!(db.device(&d1.id).await.unwrap().unwrap().name, "OBS");
    assert!(db.device("nope").await.unwrap().is_none());
    assert_eq!(
        db.device_by_key_hash("key2").await.unwrap().unwrap().id,
        d2.id
    );
    assert!(db.device_by_key_hash("key3").await.unwrap().is_none());
    let p = Page::default();
    assert_eq!(db.list_devices(None, None, p).await.unwrap().len(), 2);
    assert_eq!(
        db.list_devices(Some(&owner.id), None, p).await.unwrap()[0].id,
        d1.id
    );
    assert_eq!(
        db.list_devices(None, Some(&c2.id), p).await.unwrap()[0].id,
        d2.id
    );
    assert!(
        db.list_devices(Some(&owner.id), Some(&c2.id), p)
            .await
            .unwrap()
            .is_empty()
    );

    let u = db
        .update_device(
            &d1.id,
            DeviceChanges {
                name: Some("Studio".into()),
                enabled: Some(false),
                channel_id: Some(c2.id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.name.as_str(), u.kind, u.enabled, u.channel_id.as_str()),
        ("Studio", DeviceKind::Obs, false, c2.id.as_str())
    );
    assert!(
        db.update_device("nope", DeviceChanges::default())
            .await
            .unwrap()
            .is_none()
    );

    // Rotation: the old key stops matching.
    let r = db
        .rotate_device_key(&d1.id, "key1b", "sk_1b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.stream_key_prefix, "sk_1b");
    assert!(db.device_by_key_hash("key1").await.unwrap().is_none());
    assert_eq!(
        db.device_by_key_hash("key1b").await.unwrap().unwrap().id,
        d1.id
    );
    let clash = db.rotate_device_key(&d1.id, "key2", "sk_k2").await;
    assert!(
        matches!(clash, Err(DbError::Conflict(_))),
        "rotating onto another device's key: {clash:?}"
    );
    assert!(
        db.rotate_device_key("nope", "k", "p")
            .await
            .unwrap()
            .is_none()
    );

    // Live state.
    db.set_device_live(&d1.id, Some("sess-1"), Some("192.0.2.1"))
        .await
        .unwrap();
    let l = db.device(&d1.id).await.unwrap().unwrap();
    assert_eq!(l.current_session_id.as_deref(), Some("sess-1"));
    assert_eq!(l.last_ip.as_deref(), Some("192.0.2.1"));
    assert!(l.last_seen_at.is_some());
    db.set_device_live(&d1.id, None, None).await.unwrap();
    let l = db.device(&d1.id).await.unwrap().unwrap();
    assert!(l.current_session_id.is_none());
    assert_eq!(l.last_ip.as_deref(), Some("192.0.2.1"), "kept");
    db.set_device_live(&d1.id, Some("s2"), None).await.unwrap();
    db.set_device_live(&d2.id, Some("s3"), None).await.unwrap();
    db.clear_device_sessions().await.unwrap();
    for d in db.list_devices(None, None, p).await.unwrap() {
        assert!(d.current_session_id.is_none());
    }

    assert!(db.delete_device(&d2.id).await.unwrap());
    assert!(!db.delete_device(&d2.id).await.unwrap());
    assert!(db.device_by_key_hash("key2").await.unwrap().is_none());
    db.close().await;
}

async fn publish_sessions(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let a = user(&db, "a@example.com").await;
    let b = user(&db, "b@example.com").await;
    let ca = db
        .create_channel(&a.id, "a", "A", Visibility::Public)
        .await
        .unwrap();
    let cb = db
        .create_channel(&b.id, "b", "B", Visibility::Public)
        .await
        .unwrap();
    let d = db
        .create_device(&a.id, &ca.id, "d", DeviceKind::Obs, "k", "sk_")
        .await
        .unwrap();
    db.start_publish_session("p1", &ca.id, Some(&d.id), "node-a", "192.0.2.7")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    db.start_publish_session("p2", &cb.id, None, "node-b", "192.0.2.8")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    db.start_publish_session("p3", &ca.id, None, "node-a", "192.0.2.9")
        .await
        .unwrap();
    let p1 = db.publish_session("p1").await.unwrap().unwrap();
    assert_eq!(
        (
            p1.channel_id.as_str(),
            p1.device_id.as_deref(),
            p1.node.as_str()
        ),
        (ca.id.as_str(), Some(d.id.as_str()), "node-a")
    );
    assert!(p1.ended_at.is_none() && p1.end_reason.is_none());
    assert_eq!(p1.publisher_ip.as_deref(), Some("192.0.2.7"));
    assert!(db.publish_session("nope").await.unwrap().is_none());

    let end = SessionEnd {
        bytes: 1 << 40,
        video_codec: Some("avc1.64001f".into()),
        audio_codec: Some("mp4a.40.2".into()),
        width: Some(1920),
        height: Some(1080),
        reason: "unpublished".into(),
    };
    db.end_publish_session("p1", &end).await.unwrap();
    let e = db.publish_session("p1").await.unwrap().unwrap();
    assert!(e.ended_at.is_some());
    assert_eq!(
        (
            e.bytes,
            e.video_codec.as_deref(),
            e.width,
            e.height,
            e.end_reason.as_deref()
        ),
        (
            1 << 40,
            Some("avc1.64001f"),
            Some(1920),
            Some(1080),
            Some("unpublished")
        )
    );
    // Ending twice keeps the first end.
    db.end_publish_session(
        "p1",
        &SessionEnd {
            reason: "kicked".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        db.publish_session("p1")
            .await
            .unwrap()
            .unwrap()
            .end_reason
            .as_deref(),
        Some("unpublished")
    );
    // Orphans of one node.
    assert_eq!(db.end_orphan_sessions("node-a").await.unwrap(), 1);
    assert_eq!(db.end_orphan_sessions("node-a").await.unwrap(), 0);
    assert_eq!(
        db.publish_session("p3")
            .await
            .unwrap()
            .unwrap()
            .end_reason
            .as_deref(),
        Some("node_restarted")
    );
    assert!(
        db.publish_session("p2")
            .await
            .unwrap()
            .unwrap()
            .ended_at
            .is_none()
    );

    let ids = |v: Vec<onair_server::db::publish_sessions::PublishSession>| {
        v.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    let p = Page::default();
    assert_eq!(
        ids(db
            .list_publish_sessions(&PublishSessionFilter::default(), p)
            .await
            .unwrap()),
        ["p3", "p2", "p1"]
    );
    assert_eq!(
        ids(db
            .list_publish_sessions(
                &PublishSessionFilter {
                    channel_id: Some(&ca.id),
                    ..Default::default()
                },
                p
            )
            .await
            .unwrap()),
        ["p3", "p1"]
    );
    assert_eq!(
        ids(db
            .list_publish_sessions(
                &PublishSessionFilter {
                    device_id: Some(&d.id),
                    ..Default::default()
                },
                p
            )
            .await
            .unwrap()),
        ["p1"]
    );
    assert_eq!(
        ids(db
            .list_publish_sessions(
                &PublishSessionFilter {
                    owner_id: Some(&b.id),
                    ..Default::default()
                },
                p
            )
            .await
            .unwrap()),
        ["p2"]
    );
    assert_eq!(
        ids(db
            .list_publish_sessions(
                &PublishSessionFilter::default(),
                Page::new(Some(1), Some(1))
            )
            .await
            .unwrap()),
        ["p2"]
    );
    db.close().await;
}

async fn audit(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let u = user(&db, "audit@example.com").await;
    db.audit(NewAudit {
        actor_id: Some(&u.id),
        actor: &u.email,
        action: "user.login",
        target_type: Some("user"),
        target_id: Some(&u.id),
        ip: Some("192.0.2.1"),
        result: Some(AuditResult::Denied),
        detail: Some("wrong password"),
    })
    .await
    .unwrap();
    db.audit(NewAudit {
        actor: "system",
        action: "system.bootstrap",
        ..Default::default()
    })
    .await
    .unwrap();
    db.audit(NewAudit {
        actor_id: Some(&u.id),
        actor: &u.email,
        action: "user.login",
        target_id: Some("t2"),
        ..Default::default()
    })
    .await
    .unwrap();
    let all = db
        .list_audit(&AuditFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["user.login", "system.bootstrap", "user.login"],
        "newest first"
    );
    assert_eq!(all[0].target_id.as_deref(), Some("t2"));
    assert_eq!(all[0].result, "ok", "result defaults to ok");
    let first = &all[2];
    assert_eq!(
        (
            first.actor_id.as_deref(),
            first.actor.as_str(),
            first.target_type.as_deref(),
            first.ip.as_deref(),
            first.result.as_str(),
            first.detail.as_deref()
        ),
        (
            Some(u.id.as_str()),
            "audit@example.com",
            Some("user"),
            Some("192.0.2.1"),
            "denied",
            Some("wrong password")
        )
    );
    let by = |actor_id, action, target_id| AuditFilter {
        actor_id,
        action,
        target_id,
        ..Default::default()
    };
    let p = Page::default();
    assert_eq!(
        db.list_audit(&by(Some(&u.id), None, None), p)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        db.list_audit(&by(None, Some("system.bootstrap"), None), p)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        db.list_audit(&by(Some(&u.id), Some("user.login"), Some("t2")), p)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        db.list_audit(&by(None, Some("user.login%"), None), p)
            .await
            .unwrap()
            .is_empty(),
        "exact match"
    );
    assert_eq!(
        db.list_audit(&AuditFilter::default(), Page::new(Some(2), Some(1)))
            .await
            .unwrap()
            .len(),
        2
    );
    db.close().await;
}

async fn webhooks(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let admin = db
        .create_user(NewUser {
            email: "root@example.com",
            display_name: "root",
            password_hash: "h",
            role: Role::Admin,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
        .unwrap();
    let u = user(&db, "hooks@example.com").await;
    let other = user(&db, "other@example.com").await;
    let ev = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let w1 = db
        .create_webhook(
            &u.id,
            "https://example.com/a?x=1&y='2'",
            "whsec_1",
            &ev(&["publish.started", "publish.stopped"]),
        )
        .await
        .unwrap();
    assert!(w1.enabled);
    assert_eq!(w1.url, "https://example.com/a?x=1&y='2'");
    assert_eq!(w1.events, ["publish.started", "publish.stopped"]);
    assert_eq!(w1.secret, "whsec_1");
    let w2 = db
        .create_webhook(&admin.id, "https://admin/", "s2", &ev(&["publish.started"]))
        .await
        .unwrap();
    let w3 = db
        .create_webhook(&other.id, "https://other/", "s3", &ev(&["publish.started"]))
        .await
        .unwrap();
    assert_eq!(db.webhook(&w1.id).await.unwrap().unwrap().url, w1.url);
    assert!(db.webhook("nope").await.unwrap().is_none());
    assert_eq!(
        db.list_webhooks(None, Page::default()).await.unwrap().len(),
        3
    );
    assert_eq!(
        db.list_webhooks(Some(&u.id), Page::default())
            .await
            .unwrap()[0]
            .id,
        w1.id
    );
    let hooks = |v: Vec<onair_server::db::webhooks::Webhook>| {
        let mut ids: Vec<_> = v.into_iter().map(|w| w.id).collect();
        ids.sort();
        ids
    };
    let mut want = vec![w1.id.clone(), w2.id.clone()];
    want.sort();
    assert_eq!(
        hooks(
            db.webhooks_for_event(&u.id, "publish.started")
                .await
                .unwrap()
        ),
        want,
        "the owner's and the admin's, not another user's ({})",
        w3.id
    );
    assert_eq!(
        hooks(
            db.webhooks_for_event(&u.id, "publish.stopped")
                .await
                .unwrap()
        ),
        [w1.id.as_str()]
    );
    assert!(
        db.webhooks_for_event(&u.id, "record.done")
            .await
            .unwrap()
            .is_empty()
    );
    // Only active owners' webhooks fire: a disabled owner's (or a disabled admin's) do not.
    let set_status = |id: String, status: UserStatus| {
        let db = db.clone();
        async move {
            let r = db
                .update_user(
                    &id,
                    onair_server::db::users::UserChanges {
                        status: Some(status),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert!(
                matches!(r, onair_server::db::users::UserUpdate::Updated(_)),
                "{r:?}"
            );
        }
    };
    let admin2 = db
        .create_user(NewUser {
            email: "root2@example.com",
            display_name: "root2",
            password_hash: "h",
            role: Role::Admin,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
        .unwrap();
    let w4 = db
        .create_webhook(
            &admin2.id,
            "https://admin2/",
            "s4",
            &ev(&["publish.started"]),
        )
        .await
        .unwrap();
    let mut with_admin2 = vec![w1.id.clone(), w2.id.clone(), w4.id.clone()];
    with_admin2.sort();
    assert_eq!(
        hooks(
            db.webhooks_for_event(&u.id, "publish.started")
                .await
                .unwrap()
        ),
        with_admin2
    );
    set_status(admin2.id.clone(), UserStatus::Disabled).await;
    set_status(u.id.clone(), UserStatus::Disabled).await;
    assert_eq!(
        hooks(
            db.webhooks_for_event(&u.id, "publish.started")
                .await
                .unwrap()
        ),
        [w2.id.as_str()],
        "a disabled owner's and a disabled admin's webhooks are skipped"
    );
    set_status(u.id.clone(), UserStatus::Active).await;
    assert_eq!(
        hooks(
            db.webhooks_for_event(&u.id, "publish.started")
                .await
                .unwrap()
        ),
        want
    );
    assert!(db.delete_webhook(&w4.id).await.unwrap());
    let up = db
        .update_webhook(
            &w1.id,
            WebhookChanges {
                enabled: Some(false),
                events: Some(ev(&["record.done"])),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (up.enabled, up.events.clone(), up.url.as_str()),
        (false, ev(&["record.done"]), w1.url.as_str())
    );
    assert!(
        db.webhooks_for_event(&u.id, "record.done")
            .await
            .unwrap()
            .is_empty(),
        "disabled"
    );
    let up = db
        .update_webhook(
            &w1.id,
            WebhookChanges {
                url: Some("https://example.com/b".into()),
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(up.url, "https://example.com/b");
    assert!(
        db.update_webhook("nope", WebhookChanges::default())
            .await
            .unwrap()
            .is_none()
    );

    // Deliveries, newest first.
    for attempt in 1..=3 {
        db.record_delivery(NewDelivery {
            webhook_id: &w1.id,
            delivery_id: "del-1",
            event_id: "ev-1",
            event_kind: "publish.started",
            attempt,
            status: (attempt == 3).then_some(200),
            error: (attempt < 3).then_some("connection refused"),
            duration_ms: 12,
            succeeded: attempt == 3,
            final_attempt: attempt == 3,
            at: now_ms() + attempt,
        })
        .await
        .unwrap();
    }
    let d = db.list_deliveries(&w1.id, Page::default()).await.unwrap();
    assert_eq!(d.iter().map(|d| d.attempt).collect::<Vec<_>>(), [3, 2, 1]);
    assert!(d[0].succeeded && d[0].final_attempt);
    assert_eq!(d[0].status, Some(200));
    assert_eq!(d[1].error.as_deref(), Some("connection refused"));
    assert!(!d[1].succeeded && !d[1].final_attempt);
    assert_eq!(
        db.list_deliveries(&w1.id, Page::new(Some(1), Some(2)))
            .await
            .unwrap()[0]
            .attempt,
        1
    );
    assert!(
        db.list_deliveries(&w2.id, Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(db.delete_webhook(&w1.id).await.unwrap());
    assert!(!db.delete_webhook(&w1.id).await.unwrap());
    assert!(
        db.list_deliveries(&w1.id, Page::default())
            .await
            .unwrap()
            .is_empty(),
        "deliveries go with their webhook"
    );
    db.close().await;
}

async fn outbox_and_secrets(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let m1 = db
        .queue_mail("a@example.com", "Hello", "Body 1")
        .await
        .unwrap();
    let m2 = db
        .queue_mail("Bob@Example.com", "Hi", "Body 2")
        .await
        .unwrap();
    let all = db.list_mail(None, Page::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        [m2.as_str(), m1.as_str()],
        "newest first"
    );
    assert!(all[0].sent_at.is_none() && all[0].error.is_none());
    let to_a = db
        .list_mail(Some("A@EXAMPLE.COM"), Page::default())
        .await
        .unwrap();
    assert_eq!(to_a.len(), 1);
    assert_eq!(
        (to_a[0].subject.as_str(), to_a[0].body.as_str()),
        ("Hello", "Body 1")
    );
    let to_bob = db
        .list_mail(Some("Bob@Example.com"), Page::default())
        .await
        .unwrap();
    assert_eq!(to_bob.len(), 1, "found by the address it was sent to");
    db.mark_mail(&m1, None).await.unwrap();
    db.mark_mail(&m2, Some("550 no such user")).await.unwrap();
    let all = db.list_mail(None, Page::default()).await.unwrap();
    let (b, a) = (&all[0], &all[1]);
    assert!(a.sent_at.is_some() && a.error.is_none());
    assert!(b.sent_at.is_none());
    assert_eq!(b.error.as_deref(), Some("550 no such user"));
    // Delivered: the body (a one-time link) is gone; not delivered: kept for the operator.
    assert_eq!(a.body, onair_server::db::outbox::REDACTED_BODY);
    assert_eq!(a.subject, "Hello");
    assert_eq!(b.body, "Body 2");
    assert_eq!(
        db.list_mail(None, Page::new(Some(1), Some(1)))
            .await
            .unwrap()[0]
            .id,
        m1
    );

    // Secrets: the first stored value wins, even for concurrent first calls.
    assert!(db.secret("k").await.unwrap().is_none());
    let db2 = Arc::new(db.clone());
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let db = db2.clone();
            tokio::spawn(async move { db.secret_or_create("k", || format!("v{i}")).await.unwrap() })
        })
        .collect();
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.unwrap());
    }
    assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
    assert_eq!(db.secret("k").await.unwrap().unwrap(), values[0]);
    assert_eq!(
        db.secret_or_create("k", || "other".into()).await.unwrap(),
        values[0]
    );
    db.set_secret("k", "new").await.unwrap();
    assert_eq!(db.secret("k").await.unwrap().as_deref(), Some("new"));
    db.set_secret("k2", "x").await.unwrap();
    assert_eq!(db.secret("k2").await.unwrap().as_deref(), Some("x"));
    db.close().await;
}

/// Hostile strings through every text column a client can reach.
async fn hostile_strings(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let owner = user(&db, "hostile@example.com").await;
    for (i, s) in HOSTILE.iter().copied().enumerate() {
        // E-mail: the unique key, lowercased; the rest verbatim.
        let email = format!("{s}{i}@example.com");
        let u = db
            .create_user(NewUser {
                email: &email,
                display_name: s,
                password_hash: s,
                role: Role::Viewer,
                status: UserStatus::Active,
                email_verified: false,
            })
            .await
            .unwrap();
        let got = db.user_by_email(&email).await.unwrap().unwrap();
        assert_eq!(got.id, u.id, "{s:?}");
        assert_eq!(got.display_name, s);
        assert_eq!(got.password_hash, s);
        assert!(db.set_display_name(&u.id, s).await.unwrap());
        assert!(db.user_by_email(s).await.unwrap().is_none() || s.is_empty());
        assert!(db.user(s).await.unwrap().is_none());

        let slug = format!("h{i}");
        let c = db
            .create_channel(&owner.id, &slug, s, Visibility::Public)
            .await
            .unwrap();
        assert_eq!(db.channel(&c.id).await.unwrap().unwrap().title, s);
        assert!(db.channel_by_slug(s).await.unwrap().is_none());
        let b = db
            .set_channel_banned(&c.id, Some(s))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.banned_reason.as_deref(), Some(s));
        let d = db
            .create_device(
                &owner.id,
                &c.id,
                s,
                DeviceKind::Other,
                &format!("{s}-hash-{i}"),
                s,
            )
            .await
            .unwrap();
        let got = db
            .device_by_key_hash(&format!("{s}-hash-{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                got.id.as_str(),
                got.name.as_str(),
                got.stream_key_prefix.as_str()
            ),
            (d.id.as_str(), s, s)
        );
        db.audit(NewAudit {
            actor: s,
            action: s,
            target_id: Some(s),
            detail: Some(s),
            ip: Some(s),
            ..Default::default()
        })
        .await
        .unwrap();
        let a = db
            .list_audit(
                &AuditFilter {
                    action: Some(s).filter(|s| !s.is_empty()),
                    ..Default::default()
                },
                Page::new(Some(1), None),
            )
            .await
            .unwrap();
        assert_eq!(a[0].detail.as_deref(), Some(s));
        assert_eq!(a[0].actor, s);
        let m = db.queue_mail(s, s, s).await.unwrap();
        let mail = db.list_mail(None, Page::new(Some(1), None)).await.unwrap();
        assert_eq!(
            (
                mail[0].id.as_str(),
                mail[0].subject.as_str(),
                mail[0].body.as_str()
            ),
            (m.as_str(), s, s)
        );
        db.set_secret(s, s).await.unwrap();
        assert_eq!(db.secret(s).await.unwrap().as_deref(), Some(s));
        let t = db
            .create_api_token(&owner.id, s, &format!("tok-{i}"), s, &[], None)
            .await
            .unwrap();
        assert_eq!(t.name, s);
        let q = db
            .list_users(
                &UserFilter {
                    q: Some(s).filter(|s| !s.trim().is_empty()),
                    ..Default::default()
                },
                Page::default(),
            )
            .await
            .unwrap();
        if !s.trim().is_empty() {
            assert!(q.iter().any(|x| x.id == u.id), "search for {s:?}");
        }
    }
    // The tables survived.
    assert!(db.count_users().await.unwrap() > HOSTILE.len() as i64);

    // NUL: SQLite stores it; PostgreSQL refuses it in TEXT. Either way, no raw SQL error.
    let r = db
        .create_user(NewUser {
            email: "nul@example.com",
            display_name: NUL,
            password_hash: "h",
            role: Role::Viewer,
            status: UserStatus::Active,
            email_verified: false,
        })
        .await;
    if let Some(u) = nul_outcome(backend, r) {
        assert_eq!(
            db.user(&u.id).await.unwrap().unwrap().display_name,
            NUL,
            "verbatim"
        );
    }
    // Lookups by a NUL-carrying key find nothing (or are refused the same clean way).
    let _ = nul_outcome(backend, db.user_by_email(NUL).await).map(|u| assert!(u.is_none()));
    let _ = nul_outcome(backend, db.user(NUL).await).map(|u| assert!(u.is_none()));
    let _ = nul_outcome(backend, db.channel_by_slug(NUL).await).map(|c| assert!(c.is_none()));
    let _ = nul_outcome(backend, db.revoke_session(&owner.id, NUL).await).map(|r| assert!(!r));
    let _ = nul_outcome(backend, db.set_display_name(&owner.id, NUL).await);
    if let Some(id) = nul_outcome(backend, db.queue_mail(NUL, NUL, NUL).await) {
        let m = db.list_mail(Some(NUL), Page::default()).await.unwrap();
        assert_eq!(m[0].id, id);
        assert_eq!(m[0].body, NUL);
    }
    let _ = nul_outcome(backend, db.set_secret("nul", NUL).await);
    // The pool still works after refused statements.
    assert!(db.count_users().await.unwrap() > 0);
    db.close().await;
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both!(
    connect_and_pages,
    users,
    sessions_and_tokens,
    channels,
    devices,
    publish_sessions,
    audit,
    webhooks,
    outbox_and_secrets,
    hostile_strings,
);

#[test]
fn both_backends_are_covered() {
    assert_eq!(BACKENDS, [Backend::Sqlite, Backend::Postgres]);
}
