//! The web player and console, embedded in the binary (see `build.rs`): `/watch/{channel}` and
//! `/embed/{channel}` (the LL-HLS player), `/` (the console), `/assets/*` (hashed, immutable).

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use super::{AppState, Problem};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

const NOT_BUILT: &str = "<!doctype html><title>OnAir</title><p>The web player and console are not built into this binary. Build them with <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code> and rebuild <code>onair</code>.</p>";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { page("/index.html") }))
        .route("/watch/{channel}", get(|| async { page("/watch.html") }))
        .route("/embed/{channel}", get(|| async { page("/watch.html") }))
        .route("/assets/{file}", get(asset))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn find(path: &str) -> Option<&'static [u8]> {
    WEB_ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

fn respond(path: &str, bytes: &'static [u8], cache: &'static str) -> Response {
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

fn page(path: &str) -> Response {
    match find(path) {
        // Pages name hashed assets: they must be revalidated, the assets never.
        Some(b) => respond(path, b, "no-cache"),
        None => respond(".html", NOT_BUILT.as_bytes(), "no-cache"),
    }
}

async fn asset(Path(file): Path<String>) -> Result<Response, Problem> {
    let path = format!("/assets/{file}");
    find(&path)
        .map(|b| respond(&path, b, "public, max-age=31536000, immutable"))
        .ok_or_else(|| Problem::not_found("no such asset"))
}
