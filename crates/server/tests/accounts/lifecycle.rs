//! Sign-up, verification, login with cookies and CSRF, tokens, sessions, TOTP, reset, logout.

use super::*;

async fn account_lifecycle(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let email = "Alice.Test@Example.com";
    let lower = "alice.test@example.com";
    let pw = "first password 1";

    // Sign-up: pending, cannot log in yet.
    let r = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": email, "password": pw, "display_name": "Alice" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    // The account is made after the answer; its link follows it.
    api.mailed(lower, "Verify").await;
    let user = node.sys().db.user_by_email(email).await.unwrap().unwrap();
    assert_eq!(user.email, lower);
    assert_eq!(user.status.as_str(), "pending");
    let r = api.login(email, pw, None).await;
    assert_eq!(
        r.problem(403)["type"],
        "https://onair.invalid/problems/email-unverified"
    );
    assert!(r.set_cookies().is_empty());
    // The refused sign-in is on the record, like any other.
    let refused = node
        .sys()
        .db
        .list_audit(
            &onair_server::db::audit::AuditFilter {
                action: Some("user.login"),
                target_id: Some(&user.id),
                ..Default::default()
            },
            onair_server::db::Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert!(
        refused
            .iter()
            .any(|e| e.result == "denied" && e.detail.as_deref() == Some("e-mail not verified")),
        "{refused:?}"
    );
    // A second sign-up with the same address answers the same, and creates nothing.
    let again = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": lower, "password": "other password", "display_name": "Eve" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        again.body,
        json!({"status": "check your e-mail to verify the address"})
    );
    // The address's owner is told instead (after the answer).
    api.mailed(lower, "Sign-up attempt").await;
    assert_eq!(
        node.sys().db.count_users().await.unwrap(),
        2,
        "admin + alice"
    );

    // Resend, then verify with the newest link; the older link is dead.
    let first = api.mailed_token(lower, "Verify").await;
    let r = api
        .post(
            "/api/v1/auth/resend-verification",
            Auth::None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let token = api
        .mailed_token_other_than(lower, "Verify", Some(&first))
        .await;
    assert_ne!(first, token);
    let r = api
        .post("/api/v1/auth/verify", Auth::None, json!({ "token": first }))
        .await;
    r.problem(400);
    let r = api
        .post(
            "/api/v1/auth/verify",
            Auth::None,
            json!({ "token": "oam_bogus" }),
        )
        .await;
    r.problem(400);
    let r = api
        .post("/api/v1/auth/verify", Auth::None, json!({ "token": token }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["email_verified"], true);
    // The default sign-up policy (`--signup-role viewer`).
    assert_eq!(r.body["role"], "viewer");
    let r = api
        .post("/api/v1/auth/verify", Auth::None, json!({ "token": token }))
        .await;
    r.problem(400); // single use

    // Wrong password and unknown address: the same answer.
    let wrong = api.login(email, "not the password", None).await;
    let unknown = api.login("nobody@example.com", pw, None).await;
    wrong.problem(401);
    same_problem(&wrong, &unknown);

    // Login: cookies with the right attributes; the session works.
    let s1 = api.session(email, pw, None).await;
    let me = api.get("/api/v1/me", Auth::CookieOnly(&s1)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["email"], lower);
    assert!(me.body.get("password_hash").is_none() && me.body.get("totp_secret").is_none());
    api.get("/api/v1/me", Auth::None).await.problem(401);
    let bogus = Session {
        cookie: "onair_session=oas_forged".into(),
        csrf: "x".into(),
    };
    api.get("/api/v1/me", Auth::CookieOnly(&bogus))
        .await
        .problem(401);

    // CSRF: state-changing requests need the header, and the right one.
    let rename = json!({ "display_name": "'; DROP TABLE users; --" });
    api.send(
        Method::PATCH,
        "/api/v1/me",
        Auth::CookieOnly(&s1),
        Some(rename.clone()),
    )
    .await
    .problem(403);
    let wrong_csrf = Session {
        csrf: "not-the-token".into(),
        ..s1.clone()
    };
    api.send(
        Method::PATCH,
        "/api/v1/me",
        Auth::Session(&wrong_csrf),
        Some(rename.clone()),
    )
    .await
    .problem(403);
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s1),
            Some(rename),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["display_name"], "'; DROP TABLE users; --");
    assert_eq!(node.sys().db.count_users().await.unwrap(), 2);

    // Personal access tokens: scopes, no minting by token, revocation.
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s1),
            json!({ "name": "ro", "scopes": ["read"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ro = r.body["token"].as_str().unwrap().to_owned();
    let ro_id = r.body["id"].as_str().unwrap().to_owned();
    assert!(ro.starts_with("oat_"));
    assert!(r.body.get("token_hash").is_none());
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s1),
            json!({ "name": "rw", "scopes": ["read", "write", "write"], "expires_in_days": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["scopes"], json!(["read", "write"]));
    let rw = r.body["token"].as_str().unwrap().to_owned();
    let bad = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s1),
            json!({ "name": "", "scopes": ["admin"], "expires_in_days": 0 }),
        )
        .await;
    bad.problem(422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["expires_in_days", "name", "scopes"]);

    let r = api.get("/api/v1/me", Auth::Bearer(&ro)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.send(
        Method::PATCH,
        "/api/v1/me",
        Auth::Bearer(&ro),
        Some(json!({ "display_name": "ro" })),
    )
    .await
    .problem(403);
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Bearer(&rw),
            Some(json!({ "display_name": "Alice" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "bearer needs no CSRF: {}", r.text);
    api.post(
        "/api/v1/me/tokens",
        Auth::Bearer(&rw),
        json!({ "name": "x", "scopes": ["read"] }),
    )
    .await
    .problem(403);
    let listed = api.get("/api/v1/me/tokens", Auth::CookieOnly(&s1)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let r = api
        .send(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{ro_id}"),
            Auth::Session(&s1),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    api.get("/api/v1/me", Auth::Bearer(&ro)).await.problem(401);
    api.get("/api/v1/me", Auth::Bearer("oat_unknown"))
        .await
        .problem(401);
    api.send(
        Method::DELETE,
        &format!("/api/v1/me/tokens/{ro_id}"),
        Auth::Session(&s1),
        None,
    )
    .await
    .problem(404);

    // Sessions: list, revoke one.
    let s2 = api.session(email, pw, None).await;
    let r = api.get("/api/v1/me/sessions", Auth::CookieOnly(&s1)).await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", r.text);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items.iter().all(|s| s.get("csrf_token").is_none()));
    let s2_id = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .send(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{s2_id}"),
            Auth::Session(&s1),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    api.get("/api/v1/me", Auth::CookieOnly(&s2))
        .await
        .problem(401);

    // Password change: needs the current password; signs out the other sessions only.
    let s2b = api.session(email, pw, None).await;
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s1),
            Some(json!({ "password": "changed password 1b" })),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password"]);
    api.send(
        Method::PATCH,
        "/api/v1/me",
        Auth::Session(&s1),
        Some(json!({ "password": "changed password 1b", "current_password": "nope" })),
    )
    .await
    .problem(403);
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s1),
            Some(json!({ "password": "changed password 1b", "current_password": pw })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.get("/api/v1/me", Auth::CookieOnly(&s2b))
        .await
        .problem(401);
    assert_eq!(
        api.get("/api/v1/me", Auth::CookieOnly(&s1)).await.status,
        StatusCode::OK
    );
    api.login(email, pw, None).await.problem(401);
    let pw = "changed password 1b";

    // Password reset: same answer for unknown addresses; the link works once; sessions and
    // access tokens end.
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s1),
            json!({ "name": "before reset", "scopes": ["read", "write"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let pre_reset = r.body["token"].as_str().unwrap().to_owned();
    let unknown = api
        .post(
            "/api/v1/auth/password-reset",
            Auth::None,
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    let known = api
        .post(
            "/api/v1/auth/password-reset",
            Auth::None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    let reset = api.mailed_token(lower, "Reset").await;
    let short = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            Auth::None,
            json!({ "token": reset, "password": "short" }),
        )
        .await;
    short.problem(422);
    assert_eq!(short.error_fields(), ["password"]);
    // Long enough but on every list of common passwords (NIST SP 800-63B §5.1.1.2).
    let common = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            Auth::None,
            json!({ "token": reset, "password": "password123" }),
        )
        .await;
    common.problem(422);
    assert_eq!(common.error_fields(), ["password"]);
    assert!(common.text.contains("too common"), "{}", common.text);
    let pw2 = "second password 2";
    let r = api
        .post(
            "/api/v1/auth/password-reset/confirm",
            Auth::None,
            json!({ "token": reset, "password": pw2 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    api.post(
        "/api/v1/auth/password-reset/confirm",
        Auth::None,
        json!({ "token": reset, "password": "third password 3" }),
    )
    .await
    .problem(400);
    api.get("/api/v1/me", Auth::CookieOnly(&s1))
        .await
        .problem(401);
    api.get("/api/v1/me", Auth::Bearer(&pre_reset))
        .await
        .problem(401);
    api.login(email, pw, None).await.problem(401);
    let s3 = api.session(email, pw2, None).await;

    // Two-factor changes: console sessions only, with the current password. A leaked write
    // token cannot enroll its holder's authenticator.
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s3),
            json!({ "name": "leaked", "scopes": ["read", "write"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let leaked = r.body["token"].as_str().unwrap().to_owned();
    for (path, body) in [
        ("setup", json!({ "current_password": pw2 })),
        (
            "enable",
            json!({ "current_password": pw2, "code": "123456" }),
        ),
        (
            "disable",
            json!({ "current_password": pw2, "code": "123456" }),
        ),
    ] {
        api.post(
            &format!("/api/v1/me/totp/{path}"),
            Auth::Bearer(&leaked),
            body,
        )
        .await
        .problem(403);
    }
    let r = api
        .post("/api/v1/me/totp/setup", Auth::Session(&s3), json!({}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password"]);
    api.post(
        "/api/v1/me/totp/setup",
        Auth::Session(&s3),
        json!({ "current_password": "not the password" }),
    )
    .await
    .problem(403);
    let me = api.get("/api/v1/me", Auth::CookieOnly(&s3)).await;
    assert_eq!(me.body["totp_enabled"], false, "{}", me.text);

    // TOTP: setup, enable with a code computed here, then login needs a fresh code.
    let r = api
        .post(
            "/api/v1/me/totp/setup",
            Auth::Session(&s3),
            json!({ "current_password": pw2 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let uri = r.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/OnAir:alice.test%40example.com?secret="));
    assert!(uri.contains(&format!("secret={secret}&")));
    let step = unix_now() / 30;
    let wrong = if totp(&secret, step) == "000000" {
        "000001"
    } else {
        "000000"
    };
    api.post(
        "/api/v1/me/totp/enable",
        Auth::Session(&s3),
        json!({ "code": wrong, "current_password": pw2 }),
    )
    .await
    .problem(401);
    // A right code with a wrong password does not enable it (nor spend the code).
    api.post(
        "/api/v1/me/totp/enable",
        Auth::Session(&s3),
        json!({ "code": totp(&secret, step), "current_password": "not the password" }),
    )
    .await
    .problem(403);
    let r = api
        .post(
            "/api/v1/me/totp/enable",
            Auth::Session(&s3),
            json!({ "code": totp(&secret, step), "current_password": pw2 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let me = api.get("/api/v1/me", Auth::CookieOnly(&s3)).await;
    assert_eq!(me.body["totp_enabled"], true);
    api.post(
        "/api/v1/me/totp/setup",
        Auth::Session(&s3),
        json!({ "current_password": pw2 }),
    )
    .await
    .problem(409);

    let r = api.login(email, pw2, None).await;
    assert_eq!(
        r.problem(401)["type"],
        "https://onair.invalid/problems/mfa-required"
    );
    assert!(r.set_cookies().is_empty());
    api.login(email, pw2, Some(wrong)).await.problem(401);
    api.login(email, pw2, Some("12345")).await.problem(401);
    // The code enable used is spent; the next step's code is within the allowed skew.
    api.login(email, pw2, Some(&totp(&secret, step)))
        .await
        .problem(401);
    let next = totp(&secret, step + 1);
    let s4 = api.session(email, pw2, Some(&next)).await;
    let replay = api.login(email, pw2, Some(&next)).await;
    replay.problem(401);
    assert!(
        replay.set_cookies().is_empty(),
        "a replayed code signs nobody in"
    );
    // A wrong password with a right code is still a wrong password.
    api.login(email, "not the password", Some(&totp(&secret, step + 1)))
        .await
        .problem(401);
    // Turning it off needs the password as well as a code, and a console session.
    api.post(
        "/api/v1/me/totp/disable",
        Auth::Session(&s4),
        json!({ "code": totp(&secret, step + 2), "current_password": "not the password" }),
    )
    .await
    .problem(403);
    api.post(
        "/api/v1/me/totp/disable",
        Auth::Session(&s4),
        json!({ "code": totp(&secret, step + 2) }),
    )
    .await
    .problem(422);
    let me = api.get("/api/v1/me", Auth::CookieOnly(&s4)).await;
    assert_eq!(me.body["totp_enabled"], true, "{}", me.text);

    // Revoke-all keeping this session: other sessions and every token end.
    let r = api
        .post(
            "/api/v1/me/sessions/revoke-all",
            Auth::Session(&s4),
            json!({ "keep_current": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["revoked"].as_u64().unwrap() >= 2, "{}", r.text);
    api.get("/api/v1/me", Auth::CookieOnly(&s3))
        .await
        .problem(401);
    api.get("/api/v1/me", Auth::Bearer(&rw)).await.problem(401);
    let r = api.get("/api/v1/me", Auth::CookieOnly(&s4)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Logout: needs CSRF, clears the cookies, ends the session.
    api.send(
        Method::POST,
        "/api/v1/auth/logout",
        Auth::CookieOnly(&s4),
        None,
    )
    .await
    .problem(403);
    let r = api
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            Auth::Session(&s4),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let cleared = r.set_cookies();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    for c in &cleared {
        assert!(c.contains("Max-Age=0"), "{c}");
    }
    api.get("/api/v1/me", Auth::CookieOnly(&s4))
        .await
        .problem(401);

    // An admin turns two-factor off for a user who lost it (audited; admins only: see
    // authz_matrix).
    let s5 = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let clear = format!("/api/v1/users/{}/clear-totp", user.id);
    api.post(
        "/api/v1/users/nope/clear-totp",
        Auth::Session(&s5),
        json!({}),
    )
    .await
    .problem(404);
    let r = api.post(&clear, Auth::Session(&s5), json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = api.login(email, pw2, None).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "no code needed any more: {}",
        r.text
    );
    let r = api
        .get(
            "/api/v1/audit?action=user.totp_clear",
            Auth::CookieOnly(&s5),
        )
        .await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", r.text);
    assert_eq!(items[0]["target_id"], user.id.as_str());
    assert_eq!(items[0]["actor"], ADMIN_EMAIL);

    // Revoke-all without keeping: the caller's session ends too.
    let r = api
        .post(
            "/api/v1/me/sessions/revoke-all",
            Auth::Session(&s5),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.get("/api/v1/me", Auth::CookieOnly(&s5))
        .await
        .problem(401);
    node.stop().await;
}

/// A password change through PATCH /me ends every other credential, like a reset: the other
/// console sessions and every personal access token (one making the request too; only the
/// console session making it is kept). The answer says how many ended.
async fn password_change_ends_other_credentials(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let token = |s: &Session, name: &str| {
        let (s, name) = (s.clone(), name.to_owned());
        let api = &api;
        async move {
            let r = api
                .post(
                    "/api/v1/me/tokens",
                    Auth::Session(&s),
                    json!({ "name": name, "scopes": ["read", "write"] }),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            r.body["token"].as_str().unwrap().to_owned()
        }
    };
    let change = |from: &str, to: &str| json!({ "password": to, "current_password": from });
    let (pw1, pw2, pw3) = (ADMIN_PASSWORD, "second password 2", "third password 3");

    // From a console session: it stays; the other session and both tokens end.
    let s1 = api.session(ADMIN_EMAIL, pw1, None).await;
    let s2 = api.session(ADMIN_EMAIL, pw1, None).await;
    let t1 = token(&s1, "ci").await;
    let t2 = token(&s1, "backup").await;
    // A display-name change ends nothing.
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s1),
            Some(json!({ "display_name": "Root" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body.get("revoked_sessions").is_none(), "{}", r.text);
    assert!(r.body.get("revoked_tokens").is_none(), "{}", r.text);
    for auth in [Auth::CookieOnly(&s2), Auth::Bearer(&t1), Auth::Bearer(&t2)] {
        assert_eq!(api.get("/api/v1/me", auth).await.status, StatusCode::OK);
    }
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s1),
            Some(change(pw1, pw2)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for auth in [Auth::CookieOnly(&s2), Auth::Bearer(&t1), Auth::Bearer(&t2)] {
        api.get("/api/v1/me", auth).await.problem(401);
    }
    assert_eq!(r.body["email"], ADMIN_EMAIL, "{}", r.text);
    assert_eq!(r.body["display_name"], "Root", "{}", r.text);
    assert_eq!(r.body["revoked_sessions"], 1, "{}", r.text);
    assert_eq!(r.body["revoked_tokens"], 2, "{}", r.text);
    assert_eq!(
        api.get("/api/v1/me", Auth::CookieOnly(&s1)).await.status,
        StatusCode::OK
    );
    let listed = api.get("/api/v1/me/tokens", Auth::CookieOnly(&s1)).await;
    assert_eq!(listed.body["items"], json!([]), "{}", listed.text);

    // With an access token: every session and every token end, the one used included.
    let t3 = token(&s1, "script").await;
    let s3 = api.session(ADMIN_EMAIL, pw2, None).await;
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Bearer(&t3),
            Some(change(pw2, pw3)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["revoked_sessions"], 2, "{}", r.text);
    assert_eq!(r.body["revoked_tokens"], 1, "{}", r.text);
    for auth in [
        Auth::CookieOnly(&s1),
        Auth::CookieOnly(&s3),
        Auth::Bearer(&t3),
    ] {
        api.get("/api/v1/me", auth).await.problem(401);
    }
    api.session(ADMIN_EMAIL, pw3, None).await;

    // Audited with what ended.
    let audit = node
        .sys()
        .db
        .list_audit(
            &onair_server::db::audit::AuditFilter {
                action: Some("user.password_change"),
                ..Default::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    let details: Vec<_> = audit.iter().filter_map(|a| a.detail.clone()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("1 other session") && d.contains("2 access tokens")),
        "{details:?}"
    );
    node.stop().await;
}

/// `--signup-role broadcaster`: a verified sign-up may create a channel at once, and the node
/// says so to the console (issue #12: new accounts could not broadcast and were not told).
async fn signup_as_broadcaster(backend: Backend) {
    let node = TestNode::start_on(
        backend,
        settings(|s| s.signup_role = onair_server::db::users::Role::Broadcaster),
    )
    .await;
    let api = Api::new(&node);
    let email = "bob@example.com";
    let pw = "bob's long password";
    let r = api
        .post(
            "/api/v1/auth/signup",
            Auth::None,
            json!({ "email": email, "password": pw, "display_name": "Bob" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let token = api.mailed_token(email, "Verify").await;
    let r = api
        .post("/api/v1/auth/verify", Auth::None, json!({ "token": token }))
        .await;
    assert_eq!(r.body["role"], "broadcaster", "{}", r.text);
    let s = api.session(email, pw, None).await;
    let info = api.get("/api/v1/node", Auth::Session(&s)).await;
    assert_eq!(info.body["signup_role"], "broadcaster", "{}", info.text);
    let r = api
        .post(
            "/api/v1/channels",
            Auth::Session(&s),
            json!({"slug": "bobs", "title": "Bob's"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    node.stop().await;
}

on_both!(
    account_lifecycle,
    password_change_ends_other_credentials,
    signup_as_broadcaster,
);
