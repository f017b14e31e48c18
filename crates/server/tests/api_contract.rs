//! The OpenAPI document against the live routes: every documented operation is routed (no
//! fallback 404, no 405), answers bogus input with a client error in problem+json (never a
//! server error), and list responses carry the properties the document marks required.
//! The console's generated API client matches the document.

mod common;

use common::api::user;
use common::db::Backend;
use common::*;
use onair_server::db::users::Role;
use reqwest::Method;
use serde_json::{Value, json};

/// Operations that end the caller's own session run last.
fn ends_session(path: &str) -> bool {
    path.ends_with("/auth/logout") || path.ends_with("/revoke-all")
}

/// Properties `schema` (following one `$ref`) marks required, when it is a plain object.
fn required(doc: &Value, schema: &Value) -> Vec<String> {
    let schema = match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    };
    schema["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn walk(backend: Backend) {
    let node = TestNode::start_on(backend, keyed).await;
    let admin = user(&node, "root@example.com", Role::Admin).await;
    let (s, doc) = admin.get("/api/openapi.json").await;
    assert_eq!(s, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let (s, page) = get_text(&node.url("/api/docs")).await;
    assert_eq!(s, 200);
    assert!(page.contains("/api/openapi.json"));

    let mut ops: Vec<(String, String, Value)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    assert!(ops.len() >= 30, "only {} operations documented", ops.len());
    ops.sort_by_key(|(_, p, _)| ends_session(p));
    let mut checked = 0;
    for (method, path, op) in &ops {
        assert!(path.starts_with("/api/v1/"), "{path}");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no responses"
        );
        // Path parameters get ids that name nothing.
        let mut url = path.clone();
        while let (Some(a), Some(b)) = (url.find('{'), url.find('}')) {
            url.replace_range(a..=b, "01aaaaaaaaaaaaaaaaaaaaaaaa");
        }
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        if op["responses"]["200"]["content"]
            .get("text/event-stream")
            .is_some()
        {
            // An endless event stream: check the head only.
            let res = admin.request(m.clone(), &url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{method} {path}");
            assert_eq!(res.headers()["content-type"], "text/event-stream");
            checked += 1;
            continue;
        }
        let body = matches!(m, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let res = {
            let mut r = admin.request(m.clone(), &url);
            if let Some(b) = &body {
                r = r.json(b);
            }
            r.send().await.unwrap()
        };
        let status = res.status().as_u16();
        let ctype = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = res.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path} is documented but not routed");
        assert!(status < 500, "{method} {url}: {status} {text}");
        if status >= 400 {
            assert_eq!(
                ctype, "application/problem+json",
                "{method} {url}: {status} {text}"
            );
            let p: Value = serde_json::from_str(&text).unwrap();
            assert_ne!(
                p["detail"], "no such resource",
                "{method} {path} is documented but not routed"
            );
            assert_eq!(p["status"], status, "{text}");
        } else if status == 200 && ctype.starts_with("application/json") {
            let v: Value = serde_json::from_str(&text).unwrap();
            let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
            for key in required(&doc, schema) {
                assert!(
                    v.get(&key).is_some(),
                    "{method} {path}: 200 body lacks {key:?}: {text}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, ops.len());
    // Undocumented API paths are the fallback's problem+json 404.
    let (s, p) = admin.get("/api/v1/no-such-thing").await;
    assert_eq!((s, p["detail"].as_str()), (404, Some("no such resource")));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_routes_are_live_sqlite() {
    walk(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_routes_are_live_postgres() {
    walk(Backend::Postgres).await;
}

/// The console's typed client (`web/src/api/schema.d.ts`) is generated from this server's
/// OpenAPI document by openapi-typescript; regenerating it must give the committed file, so
/// the console cannot call an undocumented or changed API (`tsc` then checks every call).
#[test]
fn the_console_client_is_generated_from_the_openapi_document() {
    let root = workspace();
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("openapi.json");
    let out = dir.path().join("schema.d.ts");
    std::fs::write(
        &doc,
        onair_server::http::api::openapi().to_pretty_json().unwrap() + "\n",
    )
    .unwrap();
    let run = std::process::Command::new("node")
        .arg(root.join("web/node_modules/openapi-typescript/bin/cli.js"))
        .arg(&doc)
        .arg("-o")
        .arg(&out)
        .current_dir(root.join("web"))
        .output()
        .expect("node must be installed (the test command sets up web/)");
    assert!(
        run.status.success(),
        "openapi-typescript: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let fresh = std::fs::read_to_string(&out).unwrap();
    let committed = std::fs::read_to_string(root.join("web/src/api/schema.d.ts")).unwrap();
    assert!(
        fresh == committed,
        "web/src/api/schema.d.ts is out of date: run `npm --prefix web run gen-api` and commit it"
    );
}
