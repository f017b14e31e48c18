//! Hostile strings stored and read back verbatim (or refused cleanly).

use super::*;

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

on_both!(hostile_strings,);
