//! `GET /api/v1/node`: where encoders publish to this node (any signed-in user: the console's
//! "Connect your encoder" panel), and `GET /api/v1/node/status`: what the node is doing
//! (admins: the console's server status page).

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caller::Caller;
use crate::config::PublishAuthMode;
use crate::db::Backend;
use crate::db::users::Role;
use crate::origin::Origin;
use crate::stream::Phase;
use crate::{AppState, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(node_info))
        .routes(routes!(node_status))
}

#[derive(Serialize, ToSchema)]
pub struct NodeInfo {
    /// This node's name (`--node-name`).
    name: String,
    /// The `onair` version.
    version: &'static str,
    /// Where encoders publish: `rtmp://HOST:PORT/APP`; the stream key is the stream name.
    rtmp_url: String,
    /// `stream-key` (a device's key names the channel) or `open` (the stream name is the
    /// channel, no credentials).
    publish_auth: &'static str,
    /// The public base URL of the HTTP origin, when configured (`--public-url`).
    public_url: Option<String>,
    /// Whether anyone may sign up.
    allow_signup: bool,
    /// Role of an account made by sign-up, once verified.
    signup_role: Role,
    /// Base of the URLs this node gives out: `public_url`, else the address this request used.
    public_base: String,
    /// Default segment and part durations of channels that do not set their own (encoders
    /// should send a keyframe at least this often).
    segment_duration_ms: u64,
    part_duration_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct NodeStatus {
    name: String,
    version: &'static str,
    /// RFC 3339.
    started_at: String,
    uptime_seconds: u64,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// `local`, `s3` or `memory`.
    storage: &'static str,
    /// Bytes waiting in the write-ahead spool for the object store.
    spool_bytes: u64,
    /// Whether live thumbnails are made (needs ffmpeg on the host).
    thumbnails: bool,
    /// Streams with a publisher (live) and within the reconnect grace period.
    streams_live: u64,
    streams_reconnecting: u64,
    /// Sum of the live streams' ingest bit rates, bits/s.
    ingest_bitrate: u64,
    /// Current viewers over all streams (HLS, LL-HLS and HTTP-FLV).
    viewers: u64,
    /// Frames dropped for slow viewers since the streams started.
    dropped_frames: u64,
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Where encoders publish to this node, and what it allows.
#[utoipa::path(get, path = "/api/v1/node", tag = "node", responses((status = 200, body = NodeInfo)))]
async fn node_info(
    State(state): State<AppState>,
    _caller: Caller,
    Origin(origin): Origin,
) -> Json<NodeInfo> {
    let s = &state.sys.settings;
    Json(NodeInfo {
        name: s.node_name.clone(),
        version: version(),
        rtmp_url: super::devices::rtmp_base(&state.sys, origin.as_ref()),
        publish_auth: match s.publish_auth {
            PublishAuthMode::StreamKey => "stream-key",
            PublishAuthMode::Open => "open",
        },
        public_url: s.public_url.clone(),
        allow_signup: s.allow_signup,
        signup_role: s.signup_role,
        public_base: state.sys.public_url_for(origin.as_ref().map(|o| o.base())),
        segment_duration_ms: s.segment_duration.as_millis() as u64,
        part_duration_ms: s.part_duration.as_millis() as u64,
    })
}

/// This node's status (admin).
#[utoipa::path(get, path = "/api/v1/node/status", tag = "node",
    responses((status = 200, body = NodeStatus), (status = 403, description = "not an admin")))]
async fn node_status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<NodeStatus>, Problem> {
    if !caller.is_admin() {
        return Err(Problem::forbidden("the node status is for admins"));
    }
    let (mut live, mut reconnecting, mut bitrate, mut viewers, mut dropped) = (0, 0, 0, 0, 0);
    for s in state.registry.list() {
        match s.phase() {
            Phase::Live => live += 1,
            Phase::Grace { .. } => reconnecting += 1,
            Phase::Ended { .. } => continue,
        }
        bitrate += s.stats.ingest_bitrate.load(Ordering::Relaxed);
        viewers += s.viewers.total();
        dropped += s.broadcast.dropped_frames();
    }
    let s = &state.sys.settings;
    Ok(Json(NodeStatus {
        name: s.node_name.clone(),
        version: version(),
        started_at: humantime::format_rfc3339_seconds(state.started).to_string(),
        uptime_seconds: state.started.elapsed().map(|d| d.as_secs()).unwrap_or(0),
        database: match state.sys.db.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
        storage: state.store.backend_name(),
        spool_bytes: state.storage.spool_bytes(),
        thumbnails: crate::thumbnails::enabled(),
        streams_live: live,
        streams_reconnecting: reconnecting,
        ingest_bitrate: bitrate,
        viewers,
        dropped_frames: dropped,
    }))
}
