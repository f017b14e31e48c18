//! Users, sessions, API tokens and single-use tokens.

use super::*;

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

on_both!(users, sessions_and_tokens,);
