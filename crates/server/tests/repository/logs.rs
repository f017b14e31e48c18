//! Audit log, webhooks and deliveries, mail outbox and secrets.

use super::*;

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
            test: attempt == 2,
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
    assert_eq!(
        d.iter().map(|d| d.test).collect::<Vec<_>>(),
        [false, true, false]
    );
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

on_both!(audit, webhooks, outbox_and_secrets,);
