//! Connecting, migrations and pagination.

use super::*;

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

on_both!(connect_and_pages,);
