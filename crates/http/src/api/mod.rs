//! The REST API under `/api/v1`, one module per resource, and its OpenAPI 3.1 document
//! (generated from the handlers by utoipa, served at `/api/openapi.json`, browsable at
//! `/api/docs`). Routes are registered through `utoipa_axum`, so a route cannot exist without
//! being documented.

mod audit;
mod auth;
mod channels;
mod devices;
pub mod extract;
mod me;
mod node;
mod nodes;
mod publish_sessions;
mod recordings;
pub mod streams;
mod users;
pub mod validate;
mod webhooks;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use super::AppState;

pub use streams::append_stream_metrics;

#[derive(OpenApi)]
#[openapi(
    info(title = "OnAir API", description = "Live video broadcasting: users, devices with stream keys, channels, playback authorization, publish history, audit log and webhooks.\n\nAuthenticate with the console session cookie (plus the `X-CSRF-Token` header on state-changing requests) or a personal access token (`Authorization: Bearer oat_…`; scope `read` for GET, `write` for the rest). Errors are `application/problem+json` (RFC 9457)."),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Sign-up, verification, login, password reset"),
        (name = "me", description = "The signed-in user"),
        (name = "users", description = "User administration (admin)"),
        (name = "channels", description = "Channels and playback authorization"),
        (name = "devices", description = "Encoders and their stream keys"),
        (name = "streams", description = "Live streams and publish history"),
        (name = "audit", description = "Audit log"),
        (name = "recordings", description = "Stored streams: VOD playback and MP4 download"),
        (name = "webhooks", description = "Webhook endpoints and deliveries"),
        (name = "node", description = "This node: where to publish, and its status (admin)"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("onair_session"))),
        );
        openapi.security = Some(vec![
            utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new()),
            utoipa::openapi::security::SecurityRequirement::new("session", Vec::<String>::new()),
        ]);
    }
}

/// Every documented API route, and the document itself.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(me::router())
        .merge(channels::router())
        .merge(devices::router())
        .merge(streams::router())
        .merge(recordings::router())
        .merge(users::router())
        .merge(audit::router())
        .merge(webhooks::router())
        .merge(publish_sessions::router())
        .merge(node::router())
        .merge(nodes::router())
        .split_for_parts()
}

/// The API router: documented routes plus `/api/openapi.json` and `/api/docs`.
pub fn router() -> Router<AppState> {
    let (router, doc) = routes();
    let json = doc.to_pretty_json().unwrap_or_default();
    let json_for_page = json.clone();
    router
        .route(
            "/api/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        json,
                    )
                }
            }),
        )
        .route(
            "/api/docs",
            get(move || {
                let page = docs_page(&json_for_page);
                async move { Html(page).into_response() }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_API_BODY))
}

/// The OpenAPI document, for tests and tools.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// A self-contained page (no external scripts: nodes may run offline) listing every operation
/// with its parameters, request body and responses, rendered from the embedded document.
fn docs_page(json: &str) -> String {
    let escaped = json.replace("</", "<\\/");
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OnAir API</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}}
h2{{border-bottom:1px solid #ccc;margin-top:2em}}.op{{border:1px solid #ddd;border-radius:4px;margin:.6em 0;padding:.4em .8em}}
.m{{display:inline-block;width:5em;font-weight:bold;text-transform:uppercase}}.get{{color:#0a6}}.post{{color:#06c}}.patch{{color:#a60}}.put{{color:#a60}}.delete{{color:#c00}}
code,pre{{background:#f5f5f5;padding:0 .2em}}details pre{{max-height:20em;overflow:auto}}</style></head>
<body><h1>OnAir API</h1><p>The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p><div id="ops"></div>
<script id="spec" type="application/json">{escaped}</script>
<script>
const spec = JSON.parse(document.getElementById('spec').textContent);
const out = document.getElementById('ops');
const esc = s => String(s ?? '').replace(/[&<>]/g, c => ({{'&':'&amp;','<':'&lt;','>':'&gt;'}}[c]));
const byTag = {{}};
for (const [path, item] of Object.entries(spec.paths)) for (const [m, op] of Object.entries(item)) {{
  const t = (op.tags || ['other'])[0]; (byTag[t] ||= []).push([m, path, op]);
}}
for (const [tag, ops] of Object.entries(byTag)) {{
  out.insertAdjacentHTML('beforeend', `<h2>${{esc(tag)}}</h2>`);
  for (const [m, path, op] of ops) {{
    const params = (op.parameters || []).map(p => `<code>${{esc(p.name)}}</code> (${{esc(p.in)}})`).join(', ');
    const body = op.requestBody ? `<details><summary>request body</summary><pre>${{esc(JSON.stringify(op.requestBody, null, 1))}}</pre></details>` : '';
    const res = Object.entries(op.responses || {{}}).map(([c, r]) => `<code>${{esc(c)}}</code> ${{esc(r.description)}}`).join('; ');
    out.insertAdjacentHTML('beforeend', `<div class="op"><span class="m ${{m}}">${{m}}</span><code>${{esc(path)}}</code><p>${{esc(op.summary || op.description)}}</p>${{params ? '<p>Parameters: ' + params + '</p>' : ''}}${{body}}<p>Responses: ${{res}}</p></div>`);
  }}
}}
</script></body></html>"#
    )
}
