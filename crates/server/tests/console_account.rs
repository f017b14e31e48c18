//! The console's account pages in real headless Chromium (`web/tests/account.mjs`): sign-up,
//! the mailed verification link, sign-in, two-factor setup from the profile page, signing in
//! again with a TOTP code, a personal access token shown once, and password reset. Tests have
//! no SMTP: the links come from the `mail_outbox` table, so each browser phase ends where a
//! mail is sent and the next one starts with its link. Screenshots of failures go to
//! `target/browser-screenshots/`.

mod common;

use std::time::{Duration, Instant};

use common::api::{Api, user};
use common::browser::run_script;
use common::*;
use onair_server::db::Page;
use onair_server::db::users::{Role, UserStatus};
use serde_json::{Value, json};

/// Runs one phase of `account.mjs`; returns its JSON report.
async fn account(mode: &str, args: &[&str]) -> Value {
    let mut all = vec![mode.to_owned()];
    all.extend(args.iter().map(|a| a.to_string()));
    run_script("account.mjs", all, format!("account-{mode}")).await
}

/// The links in the mail to `to` whose subject contains `subject`, newest first, once there
/// are at least `count` of them (resend and reset mails are sent after the answer).
async fn mailed_links(node: &TestNode, to: &str, subject: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mail = node
            .sys()
            .db
            .list_mail(Some(to), Page::default())
            .await
            .unwrap();
        let links: Vec<String> = mail
            .iter()
            .filter(|m| m.subject.contains(subject))
            .map(|m| {
                m.body
                    .split_whitespace()
                    .find(|w| w.starts_with("http") && w.contains("token="))
                    .unwrap_or_else(|| panic!("no link in {:?}", m.body))
                    .to_owned()
            })
            .collect();
        if links.len() >= count {
            return links;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {count} mails {subject:?} to {to}: {mail:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A password login over the API without a code: (status, problem).
async fn login_without_code(node: &TestNode, email: &str, password: &str) -> (u16, Value) {
    let r = client()
        .post(node.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The scenario: sign-up → verification link from the outbox → login → enable 2FA →
/// log out → log in with a TOTP code; plus a personal access token that works once created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_verify_and_sign_in_with_two_factor_in_chromium() {
    let node = TestNode::start_with(|s| s.allow_signup = true).await;
    let (email, password) = ("alice@example.com", "alice's long password");

    let r = account("signup", &[&node.http, email, "Alice", password]).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        r["passwordFieldError"].as_str().unwrap().contains("10"),
        "the server's field error shows next to the password: {r}"
    );
    assert!(r["unverified"].as_str().unwrap().contains("verify"), "{r}");
    assert!(
        r["resentFromSignIn"]
            .as_str()
            .unwrap_or("")
            .contains("new link"),
        "{r}"
    );
    let pending = node.sys().db.user_by_email(email).await.unwrap().unwrap();
    assert_eq!(pending.status, UserStatus::Pending);
    assert_eq!(pending.display_name, "Alice");

    // Sign-up, the page's "resend" and the sign-in page's "send a new link" each mailed a link;
    // each replaced the one before (the list is newest first).
    let links = mailed_links(&node, email, "Verify", 3).await;
    assert!(links[1].contains("/console/verify?token="), "{links:?}");
    let r = account("verify-bad", &[&node.http, &links[1], email]).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["error"].as_str().unwrap().contains("expired"), "{r}");
    // Its resend form mailed a fourth link, which works.
    let links = mailed_links(&node, email, "Verify", 4).await;

    let r = account("verify-2fa", &[&node.http, &links[0], email, password]).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["verified"].as_str().unwrap().contains(email), "{r}");
    assert_eq!(r["wrongPassword"], "invalid e-mail or password", "{r}");
    assert!(r["who"].as_str().unwrap().contains("Alice"), "{r}");
    // Issue #12: a new account is a viewer and is told what that means, with no form the
    // server would refuse.
    let note = r["viewerNote"].as_str().unwrap();
    assert!(
        note.contains("broadcaster")
            && note.contains("administrator")
            && note.contains("start as viewers"),
        "{r}"
    );
    assert_eq!(r["newChannelForm"], false, "{r}");
    assert_eq!(r["secretLength"], 32, "a 160-bit secret in base32: {r}");
    assert!(
        r["qr"]["modules"].as_u64().unwrap() > 200,
        "the QR code is drawn: {r}"
    );
    // The token was shown once and worked as Alice.
    assert_eq!(r["tokenMe"]["status"], 200, "{r}");
    assert_eq!(r["tokenMe"]["email"], email, "{r}");
    assert_eq!(r["tokenShownAgain"], false, "{r}");
    let token = r["token"].as_str().unwrap();
    assert!(
        r["tokenListed"].as_str().unwrap().contains(&token[..8]),
        "the list shows the token's prefix: {r}"
    );
    // After signing out, the password alone did not sign in: the code was asked for, a wrong
    // one refused, and the right one signed in.
    assert_eq!(r["afterPassword"], "two-factor code required", "{r}");
    assert_eq!(r["codeAsked"], true, "{r}");
    assert_eq!(r["wrongCode"], "invalid two-factor code", "{r}");
    assert!(r["whoAfter2fa"].as_str().unwrap().contains("Alice"), "{r}");
    assert_eq!(r["profileAfter2fa"], email, "{r}");

    // The server agrees: the account is active with two-factor sign-in on.
    let alice = node.sys().db.user_by_email(email).await.unwrap().unwrap();
    assert_eq!(alice.status, UserStatus::Active);
    assert!(alice.email_verified_at.is_some());
    assert!(alice.totp_secret.is_some(), "two-factor sign-in is on");
    let (status, problem) = login_without_code(&node, email, password).await;
    assert_eq!(status, 401, "{problem}");
    assert!(
        problem["type"].as_str().unwrap().ends_with("/mfa-required"),
        "{problem}"
    );
    let bearer = Api {
        credential: common::http::Credential::Bearer(token.to_owned()),
        ..Api::anonymous(&node.http)
    };
    let (s, me) = bearer.get("/api/v1/me").await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["totp_enabled"], true, "{me}");
    node.stop().await;
}

/// Password reset: request → link from the outbox → new password → sign in; the link works
/// once, the old password and the old sessions no longer do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_in_chromium() {
    let node = TestNode::start().await;
    let email = "bob@example.com";
    let old_session = user(&node, email, Role::Viewer).await;
    let new_password = "bob's brand new password";

    let r = account("reset-request", &[&node.http, email]).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["sent"].as_str().unwrap().contains(email), "{r}");
    let links = mailed_links(&node, email, "Reset", 1).await;
    assert!(links[0].contains("/console/reset?token="), "{links:?}");

    let r = account(
        "reset-confirm",
        &[&node.http, &links[0], email, new_password],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["mismatch"], "The two passwords differ.", "{r}");
    assert!(r["who"].as_str().unwrap().contains("bob"), "{r}");
    assert!(r["reused"].as_str().unwrap().contains("invalid"), "{r}");

    let (s, _) = old_session.get("/api/v1/me").await;
    assert_eq!(s, 401, "the reset signed the old session out");
    let (s, problem) = login_without_code(&node, email, "correct horse battery staple").await;
    assert_eq!(s, 401, "the old password is refused: {problem}");
    let api = Api::login(&node.http, email, new_password).await;
    assert_eq!(api.get("/api/v1/me").await.1["email"], email);
    node.stop().await;
}
