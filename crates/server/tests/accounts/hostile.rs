//! Oversized, malformed and hostile requests get clean problem+json answers.

use super::*;

async fn hostile_requests(backend: Backend) {
    let node = TestNode::start_on(backend, settings(|_| {})).await;
    let api = Api::new(&node);
    let signup = "/api/v1/auth/signup";

    // Oversized body.
    let big = json!({ "email": "a@b.co", "password": "x".repeat(70 * 1024), "display_name": "x" });
    let r = api
        .raw(
            signup,
            "application/json",
            serde_json::to_vec(&big).unwrap(),
        )
        .await;
    r.problem(413);
    // Malformed JSON, wrong type, not JSON at all.
    api.raw(signup, "application/json", b"{\"email\": ".to_vec())
        .await
        .problem(400);
    api.raw(signup, "application/json", b"\xff\xfe{}".to_vec())
        .await
        .problem(400);
    api.raw(signup, "text/plain", b"{}".to_vec())
        .await
        .problem(415);
    // Unknown and missing fields, wrong types: 422 naming the field.
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": "a@b.co", "password": "long enough pw", "display_name": "x", "role": "admin" }),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["role"], "{}", r.text);
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": "a@b.co", "password": "long enough pw" }),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["display_name"], "{}", r.text);
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": 5, "password": "long enough pw", "display_name": "x" }),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["email"], "{}", r.text);

    // Injection attempts and control characters: field-level validation errors.
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": "x'; DROP TABLE users;--@a.b", "password": "long enough pw", "display_name": "\u{0}\u{1}" }),
        )
        .await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["display_name", "email"], "{}", r.text);
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": "nul\u{0}@example.com", "password": "long enough pw", "display_name": "N" }),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["email"]);
    // A harmless-looking address with SQL in it is just an address; the name is stored verbatim.
    let email = "o'brien+%_\\@example.com";
    let name = "Robert'); DROP TABLE users;-- ü 🎥";
    let r = api
        .post(
            signup,
            Auth::None,
            json!({ "email": email, "password": "long enough pw", "display_name": name }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    // The account is made after the answer; its link follows it.
    api.mailed(email, "Verify").await;
    let u = node.sys().db.user_by_email(email).await.unwrap().unwrap();
    assert_eq!(u.display_name, name);

    // Strings that reach the database only as lookups: a clean 4xx, never a 500.
    for (path, body) in [
        (
            "/api/v1/auth/login",
            json!({ "email": "a\u{0}@b.co", "password": "long enough pw" }),
        ),
        (
            "/api/v1/auth/login",
            json!({ "email": "' OR 1=1 --", "password": "' OR 1=1 --" }),
        ),
        (
            "/api/v1/auth/password-reset",
            json!({ "email": "a\u{0}@b.co" }),
        ),
        (
            "/api/v1/auth/resend-verification",
            json!({ "email": "a\u{0}@b.co" }),
        ),
        ("/api/v1/auth/verify", json!({ "token": "\u{0}" })),
        (
            "/api/v1/auth/password-reset/confirm",
            json!({ "token": "' OR 1=1 --", "password": "long enough pw" }),
        ),
    ] {
        let r = api.post(path, Auth::None, body.clone()).await;
        assert!(
            r.status.is_client_error() || r.status == StatusCode::ACCEPTED,
            "{path} {body}: {} {}",
            r.status,
            r.text
        );
        if r.status.is_client_error() {
            r.problem(r.status.as_u16());
        }
    }
    let s = api.session(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    // Ids with SQL, LIKE metacharacters or NUL: no such object (PostgreSQL cannot even
    // compare a NUL: 400 there, never a 500).
    for id in ["%00", "'%20OR%201=1", "%25", "x%5C"] {
        let r = api
            .send(
                Method::DELETE,
                &format!("/api/v1/me/sessions/{id}"),
                Auth::Session(&s),
                None,
            )
            .await;
        not_found_or_bad(&r, id);
        let r = api
            .send(
                Method::DELETE,
                &format!("/api/v1/me/tokens/{id}"),
                Auth::Session(&s),
                None,
            )
            .await;
        not_found_or_bad(&r, id);
    }
    // A NUL in a field that is stored: refused as invalid, not a server error.
    let r = api
        .send(
            Method::PATCH,
            "/api/v1/me",
            Auth::Session(&s),
            Some(json!({ "display_name": "a\u{0}b" })),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["display_name"]);
    let r = api
        .post(
            "/api/v1/me/tokens",
            Auth::Session(&s),
            json!({ "name": "t\u{0}", "scopes": ["read"] }),
        )
        .await;
    r.problem(422);

    // Still serving, tables intact.
    let r = api.get("/api/v1/me", Auth::CookieOnly(&s)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(node.sys().db.count_users().await.unwrap(), 2);
    node.stop().await;
}

#[track_caller]
fn not_found_or_bad(r: &Res, id: &str) {
    let want = if id == "%00" && r.status == StatusCode::BAD_REQUEST {
        400
    } else {
        404
    };
    r.problem(want);
}

on_both!(hostile_requests,);
