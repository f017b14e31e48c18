//! The nginx-rtmp compatible `on_publish` / `on_publish_done` callbacks with a real publisher:
//! an operator's existing auth backend (here a small HTTP server on loopback) allows, renames
//! (3xx + Location, as nginx-rtmp) or refuses ffmpeg's publish, and hears when it ended.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use common::*;

type Calls = Arc<Mutex<Vec<Vec<(String, String)>>>>;

async fn backend(calls: Calls) -> String {
    let auth_calls = calls.clone();
    let app = axum::Router::new()
        .route(
            "/on_publish",
            axum::routing::post(move |body: String| {
                let calls = auth_calls.clone();
                async move {
                    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
                    calls.lock().unwrap().push(form.clone());
                    let name = form
                        .iter()
                        .find(|(k, _)| k == "name")
                        .map(|(_, v)| v.clone());
                    let mut headers = HeaderMap::new();
                    match name.as_deref() {
                        // The backend maps its secret to the public channel name.
                        Some("secret-of-show") => {
                            headers.insert(header::LOCATION, "show".parse().unwrap());
                            (StatusCode::FOUND, headers)
                        }
                        Some("plain") => (StatusCode::OK, headers),
                        _ => (StatusCode::FORBIDDEN, headers),
                    }
                }
            }),
        )
        .route(
            "/on_publish_done",
            axum::routing::post(move |body: String| {
                let calls = calls.clone();
                async move {
                    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
                    calls.lock().unwrap().push(form);
                    StatusCode::OK
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn field<'a>(form: &'a [(String, String)], k: &str) -> Option<&'a str> {
    form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_auth_backend_allows_renames_and_refuses() {
    let calls: Calls = Arc::default();
    let base = backend(calls.clone()).await;
    let node = TestNode::start_with(|s| {
        s.on_publish_url = Some(format!("{base}/on_publish"));
        s.on_publish_done_url = Some(format!("{base}/on_publish_done"));
    })
    .await;

    // Refused by the backend: ffmpeg fails, nothing is live.
    let out = wait_child_async(
        push(&node, "intruder", LIVE_FIXTURE),
        Duration::from_secs(30),
    )
    .await;
    assert!(!out.status.success(), "the backend refused this publish");
    assert_eq!(
        get_text(&node.url("/live/intruder/llhls.m3u8")).await.0,
        404
    );

    // Renamed: published under the secret, watched under the public name; the whole fixture
    // plays and the backend hears the end.
    let child = push(&node, "secret-of-show?token=abc", LIVE_FIXTURE);
    wait_ok(&node.url("/live/show/llhls.m3u8"), Duration::from_secs(20)).await;
    assert_eq!(
        get_text(&node.url("/live/secret-of-show/llhls.m3u8"))
            .await
            .0,
        404
    );
    let out = wait_child_async(child, Duration::from_secs(60)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_endlist(&node.url("/live/show/llhls.m3u8"), Duration::from_secs(20)).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let calls = loop {
        let c = calls.lock().unwrap().clone();
        if c.iter().any(|f| field(f, "call") == Some("publish_done")) || Instant::now() > deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let publish: Vec<_> = calls
        .iter()
        .filter(|f| field(f, "call") == Some("publish"))
        .collect();
    assert_eq!(publish.len(), 2, "{calls:?}");
    assert_eq!(field(publish[0], "name"), Some("intruder"));
    assert_eq!(field(publish[1], "name"), Some("secret-of-show"));
    assert_eq!(field(publish[1], "app"), Some("live"));
    assert_eq!(field(publish[1], "addr"), Some("127.0.0.1"));
    // Query arguments of the publish URL are forwarded as form fields (nginx-rtmp does).
    assert_eq!(field(publish[1], "token"), Some("abc"), "{calls:?}");
    let done: Vec<_> = calls
        .iter()
        .filter(|f| field(f, "call") == Some("publish_done"))
        .collect();
    assert_eq!(done.len(), 1, "{calls:?}");
    assert_eq!(field(done[0], "name"), Some("secret-of-show"));
    node.stop().await;
}
