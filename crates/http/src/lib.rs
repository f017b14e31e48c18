//! HTTP: delivery (LL-HLS, HLS and HTTP-FLV through the [`LiveEdge`], recordings as VOD and
//! MP4 from the store), the REST API with its OpenAPI document (`api/`), the embedded web
//! player and console, health and metrics, and the connection-limited HTTP/1.1 + HTTP/2 (TLS)
//! server they run on (`serve`).
//!
//! One `router()` per resource; handlers are thin (they parse, authorize through
//! `caller`/`playback`, call the control services and map the answer) and return [`Problem`]
//! (RFC 9457 problem+json) on error; internal details are logged, never returned.
//!
//! [`LiveEdge`]: onair_live::edge::LiveEdge
#![forbid(unsafe_code)]

pub mod api;
pub mod caller;
mod flv;
mod hls;
mod internal;
pub mod origin;
pub mod playback;
pub mod problem;
pub mod serve;
mod vod;
mod web;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_http::cors::{Any, CorsLayer};

use onair_control::{
    auth, channels, cluster, config, db, mail, security, store, system, thumbnails, webhooks,
};
use onair_live::{directory, edge, hub, stream, viewers, window};

use crate::stream::Registry;

pub use problem::Problem;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// This node's streams (the API's view: state, counters, kicks).
    pub registry: Arc<Registry>,
    /// What playback reads of live media: the only way HTTP delivery reaches a stream's
    /// window or hub.
    pub edge: Arc<dyn crate::edge::LiveEdge>,
    pub metrics: PrometheusHandle,
    /// Longest a blocking playlist or preload-hint request waits before giving up.
    pub max_block: Duration,
    /// Database, limiters, keys: everything the API and playback authorization share.
    pub sys: Arc<crate::system::System>,
    /// The object store recordings are served from.
    pub store: crate::store::Store,
    /// The write path to the store (its spool's fill shows in the node status).
    pub storage: Arc<crate::store::sink::Storage>,
    /// When this node started.
    pub started: std::time::SystemTime,
    /// Open `/api/v1/streams/events` subscriptions, by user and address.
    pub event_subscribers: Arc<api::streams::EventSubscribers>,
}

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("onair_http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("onair_hls_blocking_reload_delay_seconds".into()),
                        &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("onair_part_latency_seconds".into()),
                        &[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0, 2.0, 5.0],
                    )
                })
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed (tests embedding several servers).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers([header::CONTENT_LENGTH, header::AGE, header::DATE])
        .max_age(Duration::from_secs(86400));
    Router::new()
        .merge(hls::router())
        .merge(flv::router())
        .merge(vod::router())
        .merge(web::router())
        .merge(api::router())
        .route("/healthz", get(healthz))
        .route("/healthz/ready", get(ready))
        .merge(internal::router())
        .route("/metrics", get(metrics_text))
        .fallback(|| async { Problem::not_found("no such resource") })
        .layer(middleware::from_fn(track_latency))
        .layer(cors)
        .layer(middleware::from_fn_with_state(state.clone(), real_client))
        .with_state(state)
}

/// Behind our own proxies (`--trusted-proxies`), the client is the address their
/// `X-Forwarded-For` names (see `onair_auth::forwarded`): every handler then sees it as the
/// connection's peer (playback authorization, IP-bound links, viewer counts, rate limits,
/// audit). A request whose peer is such a proxy is marked, so its forwarded host and scheme
/// are believed (see `origin`).
async fn real_client(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let trusted = &state.sys.settings.trusted_proxies;
    if !trusted.is_empty()
        && let Some(axum::extract::ConnectInfo(peer)) = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .copied()
    {
        if trusted
            .iter()
            .any(|n| n.contains(&peer.ip().to_canonical()))
        {
            req.extensions_mut().insert(origin::ViaTrustedProxy);
        }
        let lines: Vec<&[u8]> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let client =
            onair_auth::forwarded::client_address(peer.ip().to_canonical(), &lines, |ip| {
                trusted.iter().any(|n| n.contains(&ip))
            });
        if client != peer.ip() {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                    client,
                    peer.port(),
                )));
        }
    }
    next.run(req).await
}

/// Whether the load balancer should send this node new connections: not while it drains.
async fn ready(State(state): State<AppState>) -> Response {
    if state.sys.is_draining() {
        return Problem::not_ready("this node is draining").into_response();
    }
    healthz().await.into_response()
}

async fn healthz() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        "ok\n",
    )
}

async fn metrics_text(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(want) = &state.sys.settings.metrics_token {
        let sent = caller::bearer(&headers).unwrap_or("");
        if !crate::security::constant_time_eq(sent.as_bytes(), want.as_bytes()) {
            return Problem::unauthorized("/metrics needs the metrics bearer token")
                .into_response();
        }
    }
    let mut text = state.metrics.render();
    api::append_stream_metrics(&state.registry, &mut text);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        text,
    )
        .into_response()
}

/// Records `onair_http_request_duration_seconds` by route and status class. For streamed
/// bodies (HTTP-FLV) this is the time to the response head.
async fn track_latency(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let res = next.run(req).await;
    let class = match res.status().as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!("onair_http_request_duration_seconds", "route" => route, "status" => class)
        .record(start.elapsed().as_secs_f64());
    res
}
