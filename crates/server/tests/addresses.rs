//! The addresses the API gives a broadcaster (issue #12: they said `localhost`): the RTMP
//! server URL and playback links follow `--public-rtmp-url` / `--public-url` when set, else
//! the host the client used — with `X-Forwarded-Host`/`-Proto` believed only from
//! `--trusted-proxies` — and links in e-mail never follow a request's `Host`.

#[macro_use]
mod common;

use common::api::{Api, channel_with_device, user};
use common::*;
use onair_server::db::users::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn get_as(api: &Api, path: &str, headers: &[(&str, &str)]) -> Value {
    let mut r = api.request(Method::GET, path);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let res = r.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn post_as(api: &Api, path: &str, headers: &[(&str, &str)], body: Value) -> Value {
    let mut r = api.request(Method::POST, path).json(&body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let res = r.send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status} {body}");
    body
}

fn port(url: &str) -> String {
    url.rsplit(':').next().unwrap().to_owned()
}

#[tokio::test]
async fn addresses_follow_the_host_the_client_used() {
    let node = TestNode::start_with(keyed).await;
    let rtmp_port = port(&node.rtmp);
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (channel_id, device_id, _) = channel_with_device(&owner, "show").await;

    let host = [("host", "Stream.Example.NET:8080")];
    let info = get_as(&owner, "/api/v1/node", &host).await;
    assert_eq!(
        info["rtmp_url"],
        format!("rtmp://stream.example.net:{rtmp_port}/live"),
        "{info}"
    );
    assert_eq!(info["public_base"], "http://stream.example.net:8080");
    assert_eq!(info["signup_role"], "viewer");

    // The one-time key's URLs, and signed playback links.
    let key = post_as(
        &owner,
        &format!("/api/v1/devices/{device_id}/rotate-key"),
        &host,
        json!({}),
    )
    .await;
    assert_eq!(
        key["rtmp_url"],
        format!("rtmp://stream.example.net:{rtmp_port}/live")
    );
    assert!(
        key["publish_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("rtmp://stream.example.net:{rtmp_port}/live/")),
        "{key}"
    );
    let urls = post_as(
        &owner,
        &format!("/api/v1/channels/{channel_id}/playback-url"),
        &host,
        json!({}),
    )
    .await;
    assert!(
        urls["hls"]
            .as_str()
            .unwrap()
            .starts_with("http://stream.example.net:8080/live/show/"),
        "{urls}"
    );

    // IPv6 literals keep their brackets; forwarded headers from anyone but our own proxies
    // are not believed.
    let info = get_as(&owner, "/api/v1/node", &[("host", "[2001:db8::7]:8080")]).await;
    assert_eq!(
        info["rtmp_url"],
        format!("rtmp://[2001:db8::7]:{rtmp_port}/live")
    );
    let forged = [
        ("host", "10.1.2.3:8080"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
    ];
    let info = get_as(&owner, "/api/v1/node", &forged).await;
    assert_eq!(info["public_base"], "http://10.1.2.3:8080", "{info}");
    // A host no URL can carry falls back to the listener.
    let info = get_as(&owner, "/api/v1/node", &[("host", "a b")]).await;
    assert_eq!(
        info["rtmp_url"],
        format!("rtmp://localhost:{rtmp_port}/live")
    );
    node.stop().await;
}

#[tokio::test]
async fn configured_addresses_win_and_proxies_are_believed() {
    let node = TestNode::start_with(|s| {
        keyed(s);
        s.public_url = Some("https://tv.example.com".into());
        s.public_rtmp_url = Some("rtmp://ingest.example.com/app".into());
    })
    .await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let info = get_as(&owner, "/api/v1/node", &[("host", "10.1.2.3:8080")]).await;
    assert_eq!(info["rtmp_url"], "rtmp://ingest.example.com/app");
    assert_eq!(info["public_base"], "https://tv.example.com");
    node.stop().await;

    // Only --public-url: its host, with our RTMP port.
    let node = TestNode::start_with(|s| {
        keyed(s);
        s.public_url = Some("https://tv.example.com:8443/".into());
    })
    .await;
    let rtmp_port = port(&node.rtmp);
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let info = get_as(&owner, "/api/v1/node", &[]).await;
    assert_eq!(
        info["rtmp_url"],
        format!("rtmp://tv.example.com:{rtmp_port}/live")
    );
    node.stop().await;

    // Behind our own proxy (loopback is trusted here), its forwarded host and scheme count.
    let node = TestNode::start_with(|s| {
        keyed(s);
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let info = get_as(
        &owner,
        "/api/v1/node",
        &[
            ("host", "10.1.2.3:8080"),
            ("x-forwarded-host", "live.example.org"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(info["public_base"], "https://live.example.org", "{info}");
    node.stop().await;
}

/// A password-reset request with a forged `Host` must not mail a link to the forger's site.
#[tokio::test]
async fn mail_links_ignore_the_request_host() {
    let node = TestNode::start_with(|s| {
        s.public_url = Some("https://tv.example.com".into());
    })
    .await;
    user(&node, "victim@example.com", Role::Viewer).await;
    let anon = Api::anonymous(&node.http);
    let res = anon
        .request(Method::POST, "/api/v1/auth/password-reset")
        .header("host", "evil.example")
        .json(&json!({"email": "victim@example.com"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        let mail = node
            .sys()
            .db
            .list_mail(
                Some("victim@example.com"),
                onair_server::db::Page::default(),
            )
            .await
            .unwrap();
        if let Some(m) = mail.into_iter().find(|m| m.subject.contains("Reset")) {
            break m.body;
        }
        assert!(std::time::Instant::now() < deadline, "no reset mail");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        body.contains("https://tv.example.com/") && !body.contains("evil.example"),
        "{body}"
    );
    node.stop().await;
}
