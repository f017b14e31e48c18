//! Sign-up switch, mail and login rate limits, disabled accounts, lockout without enumeration, timing.

use super::*;

async fn signup_disabled(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|s| s.allow_signup = false)).await;
    let api = Api::new(&node);
    let r = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": "new@example.com", "password": "long enough pw", "display_name": "N" }),
        )
        .await;
    r.problem(403);
    assert!(
        node.sys()
            .db
            .user_by_email("new@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        node.sys()
            .db
            .list_mail(Some("new@example.com"), Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    node.stop().await;
}

async fn mail_rate_limit(backend: Backend) {
    let node = TestNode::start_on(
        backend,
        settings(|s| {
            s.limits.mail_per_ip = RateLimit {
                max: 2,
                per: Duration::from_secs(3600),
            };
        }),
    )
    .await;
    let api = Api::new(&node);
    let signup = |n: u32| json!({ "email": format!("m{n}@example.com"), "password": "long enough pw", "display_name": "M" });
    for n in 0..2 {
        let r = api.post("/api/v1/auth/signup", Auth::None, signup(n)).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
    // Sign-up, resend and reset share the per-IP mail budget.
    for (path, body) in [
        ("/api/v1/auth/signup", signup(9)),
        (
            "/api/v1/auth/resend-verification",
            json!({ "email": "m0@example.com" }),
        ),
        (
            "/api/v1/auth/password-reset",
            json!({ "email": "m0@example.com" }),
        ),
    ] {
        let r = api.post(path, Auth::None, body).await;
        r.problem(429);
        let retry: u64 = r.headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!(retry >= 1, "{path}");
    }
    assert!(
        node.sys()
            .db
            .user_by_email("m9@example.com")
            .await
            .unwrap()
            .is_none()
    );
    node.stop().await;
}

async fn disabled_account(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let s = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s),
            json!({ "name": "t", "scopes": ["read"] }),
        )
        .await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let db = &node.sys().db;
    let admin = db.user_by_email(ADMIN_EMAIL).await.unwrap().unwrap();
    db.set_user_status(&admin.id, onair_server::db::users::UserStatus::Disabled)
        .await
        .unwrap();
    // Existing credentials stop working at once; login says why only with the right password.
    api.get("/api/v1/me", Auth::CookieOnly(&s))
        .await
        .problem(401);
    api.get("/api/v1/me", Auth::Bearer(&token))
        .await
        .problem(401);
    api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None)
        .await
        .problem(403);
    let wrong = api.login(ADMIN_EMAIL, "wrong password!", None).await;
    let unknown = api
        .login("nobody@example.com", "wrong password!", None)
        .await;
    same_problem(&wrong, &unknown);
    // Re-enabled: the same credentials work again (they were not revoked).
    db.set_user_status(&admin.id, onair_server::db::users::UserStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        api.get("/api/v1/me", Auth::Bearer(&token)).await.status,
        StatusCode::OK
    );
    node.stop().await;
}

async fn lockout_without_enumeration(backend: Backend) {
    let lockout = Duration::from_secs(3);
    let node = TestNode::start_on(
        backend,
        settings(move |s| {
            s.limits.lockout_threshold = 3;
            s.limits.lockout = lockout;
        }),
    )
    .await;
    let api = Api::new(&node);
    let ghost = "ghost@example.com";
    for _ in 0..3 {
        let known = api.login(ADMIN_EMAIL, "wrong password!", None).await;
        let unknown = api.login(ghost, "wrong password!", None).await;
        known.problem(401);
        same_problem(&known, &unknown);
    }
    // Both locks were set before this instant, so both have passed at `locked_at + lockout`.
    let locked_at = std::time::Instant::now();
    // Locked: even the right password is refused, and both look the same.
    let known = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let unknown = api.login(ghost, ADMIN_PASSWORD, None).await;
    assert_eq!(
        known.problem(429)["type"],
        "https://onair.invalid/problems/account-locked"
    );
    assert!(known.set_cookies().is_empty());
    same_problem(&known, &unknown);
    let retry: u64 = known.headers[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1 && retry <= lockout.as_secs(), "{retry}");

    // Part-way through the lockout, both are still locked.
    tokio::time::sleep(lockout / 2).await;
    let known = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let unknown = api.login(ghost, ADMIN_PASSWORD, None).await;
    known.problem(429);
    same_problem(&known, &unknown);

    // After it: a single failure does not lock again, for either.
    let passed = lockout + Duration::from_millis(300);
    tokio::time::sleep(passed.saturating_sub(locked_at.elapsed())).await;
    let known = api.login(ADMIN_EMAIL, "wrong password!", None).await;
    let unknown = api.login(ghost, "wrong password!", None).await;
    known.problem(401);
    same_problem(&known, &unknown);
    let unknown = api.login(ghost, "wrong password!", None).await;
    unknown.problem(401);
    let r = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    node.stop().await;
}

async fn login_rate_limit(backend: Backend) {
    let node = TestNode::start_on(
        backend,
        settings(|s| {
            s.limits.login_per_ip = RateLimit {
                max: 3,
                per: Duration::from_secs(60),
            };
        }),
    )
    .await;
    let api = Api::new(&node);
    for _ in 0..3 {
        api.login("someone@example.com", "whatever pw", None)
            .await
            .problem(401);
    }
    let r = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    r.problem(429);
    let retry: u64 = r.headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.set_cookies().is_empty());
    // Only login is limited: the server keeps serving.
    let h = common::http::client()
        .get(node.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    node.stop().await;
}

/// Holds the database's write lock on `table` (SQLite: the whole database) until the returned
/// guard commits: work that writes it (what a reset or resend does for an existing account,
/// what a sign-up does for any address) then waits.
async fn block_writes(node: &TestNode, backend: Backend, table: &str) -> sqlx::AnyConnection {
    use sqlx::Connection as _;
    use sqlx::Executor as _;
    sqlx::any::install_default_drivers();
    let url = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}",
            node.dir.path().join("onair.db").to_str().unwrap()
        ),
        Backend::Postgres => node.sys().settings.database_url.clone().unwrap(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    match backend {
        Backend::Sqlite => {
            conn.execute("BEGIN IMMEDIATE").await.unwrap();
        }
        Backend::Postgres => {
            conn.execute("BEGIN").await.unwrap();
            // Blocks inserts, not reads.
            let lock = match table {
                "users" => "LOCK TABLE users IN EXCLUSIVE MODE",
                "user_tokens" => "LOCK TABLE user_tokens IN EXCLUSIVE MODE",
                other => panic!("no lock statement for {other}"),
            };
            conn.execute(lock).await.unwrap();
        }
    }
    conn
}

/// Reset and resend requests answer before doing anything about the address: with the token
/// table locked, an address with an account is answered as fast as one without (the work
/// would have to wait for the lock), and the mail follows once the lock is gone.
async fn reset_and_resend_answer_at_once(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let r = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": "pending@example.com", "password": "long enough pw", "display_name": "P" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let first = api.mailed_token("pending@example.com", "Verify").await;

    let mut lock = block_writes(&node, backend, "user_tokens").await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    for (path, email) in [
        ("/api/v1/auth/password-reset", ADMIN_EMAIL),
        ("/api/v1/auth/password-reset", "nobody@example.com"),
        ("/api/v1/auth/resend-verification", "pending@example.com"),
        ("/api/v1/auth/resend-verification", "nobody@example.com"),
    ] {
        let started = std::time::Instant::now();
        let r = quick
            .post(node.url(path))
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} {email} waited for the work: {e}"));
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{path} {email}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} {email} took {:?}",
            started.elapsed()
        );
    }
    {
        use sqlx::Executor as _;
        lock.execute("COMMIT").await.unwrap();
    }
    // The work is done afterwards.
    api.mailed_token(ADMIN_EMAIL, "Reset").await;
    api.mailed_token_other_than("pending@example.com", "Verify", Some(&first))
        .await;
    node.stop().await;
}

/// Sign-up answers alike for a new address and one that has an account, doing the same work
/// before the answer: both hash the password (the one expensive step) and nothing else that
/// depends on the address. Creating the account, or telling the address's owner that someone
/// tried, happens after the answer: with the users table locked both still answer at once.
async fn signup_answers_alike_for_every_address(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let mut lock = block_writes(&node, backend, "users").await;
    let mut answers = Vec::new();
    for email in [ADMIN_EMAIL, "newcomer@example.com"] {
        let hashed = node.sys().password_hashes();
        let r = quick
            .post(node.url("/api/v1/auth/signup"))
            .json(&json!({ "email": email, "password": "long enough pw", "display_name": "N" }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("sign-up of {email} waited for the database: {e}"));
        let r = Res::read(r).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{email}: {}", r.text);
        assert_eq!(
            node.sys().password_hashes() - hashed,
            1,
            "{email}: the password is hashed before the answer"
        );
        answers.push((r.status, r.content_type().to_owned(), r.text));
    }
    assert_eq!(answers[0], answers[1], "the same answer for both addresses");
    {
        use sqlx::Executor as _;
        lock.execute("COMMIT").await.unwrap();
    }
    // The work follows: the newcomer's pending account and link; a warning to the admin,
    // whose account is untouched.
    api.mailed_token("newcomer@example.com", "Verify").await;
    api.mailed(ADMIN_EMAIL, "Sign-up attempt").await;
    let newcomer = node
        .sys()
        .db
        .user_by_email("newcomer@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newcomer.status.as_str(), "pending");
    api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    node.stop().await;
}

/// The current-password check of PATCH /me (and of two-factor changes) is a password check
/// like login's: wrong answers lock the account, and attempts take from the IP's login
/// budget. A stolen session is not an unlimited guessing oracle.
async fn current_password_guessing_is_limited(backend: Backend) {
    let change =
        |current: &str| json!({ "password": "a brand new password", "current_password": current });
    // Lockout: three wrong answers lock the account, for login too.
    let node = TestNode::start_on(backend, settings(|s| s.limits.lockout_threshold = 3)).await;
    let api = Api::new(&node);
    let s = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    for _ in 0..3 {
        api.send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s),
            Some(change("guess")),
        )
        .await
        .problem(403);
    }
    for body in [change("guess"), change(ADMIN_PASSWORD)] {
        let r = api
            .send(Method::PATCH, "/api/v1/me", Auth::Session(&s), Some(body))
            .await;
        assert_eq!(
            r.problem(429)["type"],
            "https://onair.invalid/problems/account-locked"
        );
    }
    api.post(
        "/api/v1/me/totp/setup",
        Auth::Session(&s),
        json!({ "current_password": ADMIN_PASSWORD }),
    )
    .await
    .problem(429);
    let r = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    assert_eq!(
        r.problem(429)["type"],
        "https://onair.invalid/problems/account-locked"
    );
    node.stop().await;

    // Per IP: the attempts share the login budget (the sign-in took one).
    let node = TestNode::start_on(
        backend,
        settings(|s| {
            s.limits.login_per_ip = RateLimit {
                max: 4,
                per: Duration::from_secs(3600),
            };
        }),
    )
    .await;
    let api = Api::new(&node);
    let s = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    for _ in 0..3 {
        api.send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s),
            Some(change("guess")),
        )
        .await
        .problem(403);
    }
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s),
            Some(change("guess")),
        )
        .await;
    r.problem(429);
    assert!(r.headers.contains_key(RETRY_AFTER));
    api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None)
        .await
        .problem(429);
    node.stop().await;
}

on_both!(
    signup_disabled,
    mail_rate_limit,
    disabled_account,
    lockout_without_enumeration,
    login_rate_limit,
    reset_and_resend_answer_at_once,
    signup_answers_alike_for_every_address,
    current_password_guessing_is_limited,
);
