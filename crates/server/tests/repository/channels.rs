//! Channels, devices and publish sessions.

use super::*;

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
    // Newest first.
    let all = db.list_channels(None, None, Page::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [c2.id.as_str(), c.id.as_str()]
    );
    let mine = db
        .list_channels(Some(&owner.id), None, Page::default())
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        db.list_channels(None, None, Page::new(Some(1), Some(1)))
            .await
            .unwrap()[0]
            .id,
        c.id
    );
    // Search: slug or title, ASCII case ignored, LIKE's wildcards taken literally.
    let found = |q: &'static str| {
        let db = db.clone();
        async move {
            db.list_channels(None, Some(q), Page::default())
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.slug)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("CAMERA 2").await, ["cam-2"]);
    assert_eq!(found("m-1").await, ["cam-1"]);
    assert_eq!(found("cam").await, ["cam-2", "cam-1"]);
    assert!(found("%").await.is_empty());
    assert!(found("_").await.is_empty());

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
    // A starting node clears the live marks of its own publishes only (in a cluster, a device
    // live on another node stays live).
    db.start_publish_session("s2", &c1.id, Some(&d1.id), "node-a", "192.0.2.1")
        .await
        .unwrap();
    db.start_publish_session("s3", &c2.id, Some(&d2.id), "node-b", "192.0.2.2")
        .await
        .unwrap();
    db.set_device_live(&d1.id, Some("s2"), None).await.unwrap();
    db.set_device_live(&d2.id, Some("s3"), None).await.unwrap();
    db.clear_device_sessions("node-a").await.unwrap();
    let d1_live = db.device(&d1.id).await.unwrap().unwrap().current_session_id;
    let d2_live = db.device(&d2.id).await.unwrap().unwrap().current_session_id;
    assert_eq!(d1_live, None);
    assert_eq!(d2_live.as_deref(), Some("s3"));
    db.clear_device_sessions("node-b").await.unwrap();
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

on_both!(channels, devices, publish_sessions,);
