//! The web player and console, embedded in the binary (see `build.rs`): `/watch/{channel}` and
//! `/embed/{channel}` (the LL-HLS player), `/` and `/console/*` (the console, a single page
//! that routes in the browser), `/assets/*` (hashed, immutable). With `--web-dir` the same
//! files are read from disk on every request instead (console development without rebuilding
//! the binary).

use std::borrow::Cow;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use super::{AppState, Problem};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

const NOT_BUILT: &str = "<!doctype html><title>OnAir</title><p>The web player and console are not built into this binary. Build them with <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code> and rebuild <code>onair</code>.</p>";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|s: State<AppState>| page(s, "/index.html")))
        .route("/console", get(|s: State<AppState>| page(s, "/index.html")))
        .route(
            "/console/{*rest}",
            get(|s: State<AppState>| page(s, "/index.html")),
        )
        .route(
            "/watch/{channel}",
            get(|s: State<AppState>| page(s, "/watch.html")),
        )
        .route(
            "/embed/{channel}",
            get(|s: State<AppState>| page(s, "/watch.html")),
        )
        .route("/assets/{file}", get(asset))
        // Browsers ask for `/favicon.ico` on their own; the pages link the SVG.
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
}

/// The icon (`web/public/favicon.svg`), revalidated daily (its name is not hashed).
async fn favicon(State(state): State<AppState>) -> Result<Response, Problem> {
    find(&state, "/favicon.svg")
        .await
        .map(|b| respond("/favicon.svg", b, "public, max-age=86400"))
        .ok_or_else(|| Problem::not_found("no icon in this build"))
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

/// The bytes of `path` (`/index.html`, `/assets/x.js`): from `--web-dir` when set, else
/// embedded.
async fn find(state: &AppState, path: &str) -> Option<Cow<'static, [u8]>> {
    match &state.sys.settings.web_dir {
        Some(dir) => {
            // `path` is one of ours or `/assets/{file}` with `file` a single path segment.
            if path.contains("..") {
                return None;
            }
            tokio::fs::read(dir.join(path.trim_start_matches('/')))
                .await
                .ok()
                .map(Cow::Owned)
        }
        None => WEB_ASSETS
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| Cow::Borrowed(*b)),
    }
}

fn respond(path: &str, bytes: Cow<'static, [u8]>, cache: &'static str) -> Response {
    let body = match bytes {
        Cow::Borrowed(b) => Body::from(b),
        Cow::Owned(v) => Body::from(v),
    };
    let mut res = Response::new(body);
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

/// Content-Security-Policy of the pages: scripts, styles and connections only from this
/// origin (hls.js runs its demuxer in a `blob:` worker and plays through `blob:` media source
/// URLs; inline `style` attributes are used for small layout touches).
macro_rules! csp {
    () => {
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
    };
}
/// The player is made to be embedded (`/embed/{channel}` in any site's iframe).
const CSP_PLAYER: &str = csp!();
/// The console acts with the signed-in user's session: no other site may frame it.
const CSP_CONSOLE: &str = concat!(csp!(), "; frame-ancestors 'none'");

async fn page(State(state): State<AppState>, path: &'static str) -> Response {
    let mut res = match find(&state, path).await {
        // Pages name hashed assets: they must be revalidated, the assets never.
        Some(b) => respond(path, b, "no-cache"),
        None => respond(".html", Cow::Borrowed(NOT_BUILT.as_bytes()), "no-cache"),
    };
    let h = res.headers_mut();
    // Signed links carry their token in the page's address: never send it elsewhere.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if path == "/watch.html" {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP_PLAYER),
        );
    } else {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP_CONSOLE),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    res
}

async fn asset(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, Problem> {
    let path = format!("/assets/{file}");
    let cache = if state.sys.settings.web_dir.is_some() {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    find(&state, &path)
        .await
        .map(|b| respond(&path, b, cache))
        .ok_or_else(|| Problem::not_found("no such asset"))
}
