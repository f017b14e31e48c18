//! `GET /api/v1/streams`: the live streams of this node a caller may see, and their Prometheus
//! series.
//!
//! Anyone sees the streams of public channels (and signed-in callers those of `authenticated`
//! channels); private and signed channels are listed only to their owner, admins and (private)
//! granted users. The publisher's address is shown only to those who manage the channel.
//!
//! `GET /api/v1/streams/events` pushes the same list every second. Each subscriber holds a
//! connection and costs a visibility check per stream per second, so subscribers are capped per
//! user and per client address (429 beyond), and private channels' grants come from the
//! playback grant cache rather than a query per tick.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use crate::Problem;
use crate::caller::{Caller, ClientIp, MaybeCaller, credential_digest};
use crate::config::PublishAuthMode;
use crate::db::channels::Visibility;
use crate::security::ratelimit::AddrKey;
use crate::security::slots::{Slot, Slots};
use onair_media::{AudioConfig, VideoConfig};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::stream::{Phase, Protocol, Registry, Stream};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_streams))
        .routes(routes!(stream_events))
        .routes(routes!(stream_history))
}

/// How often the event stream sends the streams' statistics.
pub const EVENT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// An event stream ends after this long (the browser's EventSource reconnects, and the
/// caller's credentials are checked again).
pub const MAX_EVENT_STREAM: std::time::Duration = std::time::Duration::from_secs(600);

/// Problem type URI of a refused event-stream subscription.
pub const PROBLEM_TOO_MANY_SUBSCRIPTIONS: &str =
    "https://onair.invalid/problems/too-many-event-streams";

/// Open event streams by user and by client address.
#[derive(Default)]
pub struct EventSubscribers {
    users: Arc<Slots<String>>,
    ips: Arc<Slots<AddrKey>>,
}

/// An open event stream's places under the caps.
struct Subscription {
    _user: Option<Slot<String>>,
    _ip: Slot<AddrKey>,
}

impl EventSubscribers {
    fn subscribe(
        &self,
        limits: &crate::serve::HttpLimits,
        caller: Option<&Caller>,
        ip: std::net::IpAddr,
    ) -> Result<Subscription, Problem> {
        // An EventSource retries after a few seconds by itself; Retry-After says the same.
        let refused = |what: &str| Problem {
            detail: format!(
                "too many open live statistics streams {what}; close one (another console tab) first"
            ),
            ..Problem::too_many(5).with_kind(PROBLEM_TOO_MANY_SUBSCRIPTIONS)
        };
        let user = match caller {
            Some(c) => Some(
                self.users
                    .try_acquire(c.id().to_owned(), limits.max_event_subscribers_per_user)
                    .ok_or_else(|| refused("for this user"))?,
            ),
            None => None,
        };
        let ip = self
            .ips
            .try_acquire(AddrKey::of(ip), limits.max_event_subscribers_per_ip)
            .ok_or_else(|| refused("from this address"))?;
        Ok(Subscription {
            _user: user,
            _ip: ip,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct StreamList {
    streams: Vec<StreamInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct StreamInfo {
    channel: String,
    /// The channel's title (absent for open publishing, which has no channel rows).
    title: Option<String>,
    /// Whether the caller manages the channel (its owner or an admin): the console shows
    /// stream health for these only.
    manages: bool,
    /// The channel's id, for the console's channel page; only when the caller manages it.
    channel_id: Option<String>,
    /// Keyframe interval and warnings; only when the caller manages the channel.
    health: Option<HealthInfo>,
    /// `live`, `reconnecting` (publisher dropped, within the grace period) or `ended`.
    state: &'static str,
    started_at: String,
    publisher: Option<String>,
    video: Option<VideoInfo>,
    audio: Option<AudioInfo>,
    /// Ingest bit rate over the last second, bits/s.
    ingest_bitrate: u64,
    ingest_bytes: u64,
    viewers: ViewerInfo,
    dropped_frames: u64,
    playback: PlaybackUrls,
}

#[derive(Serialize, ToSchema)]
pub struct HealthInfo {
    /// The encoder's latest keyframe interval, milliseconds.
    keyframe_interval_ms: Option<u64>,
    /// What the stream's owner should look at now (`keyframe_interval`, `bitrate_drop`,
    /// `dropped_frames`).
    warnings: Vec<HealthWarning>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthWarning {
    code: &'static str,
    message: String,
}

#[derive(Serialize, ToSchema)]
pub struct HealthHistory {
    /// One sample a second, oldest first, at most the last five minutes.
    samples: Vec<HealthSample>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthSample {
    /// Unix time, milliseconds.
    at_ms: i64,
    /// Ingest bits per second.
    bitrate: u64,
    /// Frames per second.
    fps: f64,
}

#[derive(Serialize, ToSchema)]
pub struct VideoInfo {
    codec: String,
    width: u32,
    height: u32,
    fps: f64,
}

#[derive(Serialize, ToSchema)]
pub struct AudioInfo {
    codec: String,
    sample_rate: u32,
    channels: u8,
}

#[derive(Serialize, ToSchema)]
pub struct ViewerInfo {
    hls: u64,
    llhls: u64,
    flv: u64,
}

#[derive(Serialize, ToSchema)]
pub struct PlaybackUrls {
    hls: String,
    llhls: String,
    ts: String,
    flv: String,
}

/// Live streams on this node (and ended ones still served) that the caller may see.
#[utoipa::path(get, path = "/api/v1/streams", tag = "streams", responses((status = 200, body = StreamList)))]
async fn list_streams(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    headers: HeaderMap,
) -> Result<Json<StreamList>, Problem> {
    let viewer = caller.map(|c| (c, credential_digest(&headers)));
    Ok(Json(StreamList {
        streams: visible_streams(&state, viewer.as_ref()).await?,
    }))
}

/// The same list as `GET /api/v1/streams`, pushed every second as server-sent events
/// (`event: streams`, `data:` the JSON list), so live charts need no polling. The stream ends
/// after ten minutes; `EventSource` reconnects. One user may hold
/// `--max-event-subscribers-per-user` of these streams at once and one address
/// `--max-event-subscribers-per-ip`; more are refused with 429.
#[utoipa::path(get, path = "/api/v1/streams/events", tag = "streams",
    responses((status = 200, content_type = "text/event-stream", description = "`streams` events, each a StreamList"),
              (status = 429, body = crate::problem::ProblemBody)))]
async fn stream_events(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    Problem,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let subscription =
        state
            .event_subscribers
            .subscribe(&state.sys.settings.http_limits, caller.as_ref(), ip)?;
    let viewer = caller.map(|c| (c, credential_digest(&headers)));
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(EVENT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The subscription travels with the stream: the slots are freed when the client goes.
    let stream = futures_util::stream::unfold(
        (state, viewer, tick, subscription),
        move |(state, viewer, mut tick, subscription)| async move {
            if started.elapsed() >= MAX_EVENT_STREAM {
                return None;
            }
            tick.tick().await;
            let streams = visible_streams(&state, viewer.as_ref())
                .await
                .unwrap_or_default();
            let event = Event::default()
                .event("streams")
                .json_data(StreamList { streams })
                .unwrap_or_else(|_| Event::default().comment("encoding failed"));
            Some((Ok(event), (state, viewer, tick, subscription)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The last minutes of a live stream's ingest bit rate and frame rate, for the console's
/// charts: only for those who manage the channel (404 otherwise, as for a stream that is not
/// live here).
#[utoipa::path(get, path = "/api/v1/streams/{channel}/history", tag = "streams",
    params(("channel" = String, Path, description = "The channel's slug")),
    responses((status = 200, body = HealthHistory), (status = 404, body = crate::problem::ProblemBody)))]
async fn stream_history(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(channel): axum::extract::Path<String>,
) -> Result<Json<HealthHistory>, Problem> {
    let not_found = || Problem::not_found("no such live stream of a channel you manage");
    let stream = state.registry.get(&channel).ok_or_else(not_found)?;
    let sys = &state.sys;
    let manages = match sys.channels.get(&sys.db, &channel).await? {
        Some(ch) => caller.can_manage(&ch.owner_id),
        None => caller.is_admin(),
    };
    if !manages {
        return Err(not_found());
    }
    Ok(Json(HealthHistory {
        samples: stream
            .health
            .history()
            .into_iter()
            .map(|s| HealthSample {
                at_ms: s.at_ms,
                bitrate: s.bitrate,
                fps: s.fps,
            })
            .collect(),
    }))
}

/// A signed-in caller and the digest of their credential (the grant cache's key).
type Viewer = (Caller, Option<String>);

async fn visible_streams(
    state: &AppState,
    viewer: Option<&Viewer>,
) -> Result<Vec<StreamInfo>, Problem> {
    let caller = viewer.map(|(c, _)| c);
    let sys = &state.sys;
    let mut streams = Vec::new();
    for s in state.registry.list() {
        let channel = sys.channels.get(&sys.db, &s.channel).await?;
        let (visible, manages) = match (&channel, &caller) {
            (None, c) => (
                sys.settings.publish_auth == PublishAuthMode::Open,
                c.as_ref().is_some_and(|c| c.is_admin()),
            ),
            (Some(ch), Some(c)) if c.can_manage(&ch.owner_id) => (true, true),
            (Some(ch), c) => (
                match ch.visibility {
                    Visibility::Public => true,
                    Visibility::Authenticated => c.is_some(),
                    Visibility::Private => match viewer {
                        Some((c, credential)) => {
                            granted(state, ch, c, credential.as_deref()).await?
                        }
                        None => false,
                    },
                    Visibility::Signed => false,
                },
                false,
            ),
        };
        if visible {
            let mut i = info(&s);
            i.title = channel.as_ref().map(|c| c.title.clone());
            i.manages = manages;
            if manages {
                i.channel_id = channel.as_ref().map(|c| c.id.clone());
                i.health = Some(HealthInfo {
                    keyframe_interval_ms: s
                        .health
                        .keyframe_interval()
                        .map(|d| d.as_millis() as u64),
                    warnings: s
                        .health
                        .warnings(s.broadcast.dropped_frames())
                        .into_iter()
                        .map(|w| HealthWarning {
                            code: w.code,
                            message: w.message,
                        })
                        .collect(),
                });
            } else {
                i.publisher = None;
            }
            streams.push(i);
        }
    }
    Ok(streams)
}

/// Whether `caller` was granted the private channel `ch`, remembered for a few seconds per
/// credential in the playback grant cache (a subscriber asks every second).
async fn granted(
    state: &AppState,
    ch: &crate::db::channels::Channel,
    caller: &Caller,
    credential: Option<&str>,
) -> Result<bool, Problem> {
    let grants = &state.sys.playback_grants;
    if let Some(known) = credential.and_then(|d| grants.decision(d, &ch.id)) {
        return Ok(known);
    }
    let allowed = state.sys.db.has_channel_grant(&ch.id, caller.id()).await?;
    if let Some(d) = credential {
        grants.remember_decision(d.to_owned(), ch.id.clone(), allowed);
    }
    Ok(allowed)
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Live => "live",
        Phase::Grace { .. } => "reconnecting",
        Phase::Ended { .. } => "ended",
    }
}

fn info(s: &Stream) -> StreamInfo {
    let tracks = s.tracks();
    let video = tracks.as_ref().and_then(|t| t.video.as_ref()).map(|v| {
        let (width, height) = match v {
            VideoConfig::Avc(c) => (c.width, c.height),
            VideoConfig::Hevc(c) => (c.width, c.height),
        };
        VideoInfo {
            codec: v.codecs(),
            width,
            height,
            fps: s.stats.fps(),
        }
    });
    let audio = tracks
        .as_ref()
        .and_then(|t| t.audio.as_ref())
        .map(|a| match a {
            AudioConfig::Aac(c) => AudioInfo {
                codec: a.codecs(),
                sample_rate: c.sample_rate,
                channels: c.channel_config,
            },
        });
    let ch = &s.channel;
    StreamInfo {
        channel: ch.clone(),
        title: None,
        manages: false,
        channel_id: None,
        health: None,
        state: phase_name(s.phase()),
        started_at: humantime::format_rfc3339_millis(s.started_at()).to_string(),
        publisher: s.publisher_addr(),
        video,
        audio,
        ingest_bitrate: s
            .stats
            .ingest_bitrate
            .load(std::sync::atomic::Ordering::Relaxed),
        ingest_bytes: s
            .stats
            .ingest_bytes
            .load(std::sync::atomic::Ordering::Relaxed),
        viewers: ViewerInfo {
            hls: s.viewers.count(Protocol::Hls),
            llhls: s.viewers.count(Protocol::LlHls),
            flv: s.viewers.count(Protocol::Flv),
        },
        dropped_frames: s.broadcast.dropped_frames(),
        playback: PlaybackUrls {
            hls: format!("/live/{ch}/index.m3u8"),
            llhls: format!("/live/{ch}/llhls.m3u8"),
            ts: format!("/live/{ch}/ts/index.m3u8"),
            flv: format!("/live/{ch}.flv"),
        },
    }
}

/// Per-stream series, rendered at scrape time from the registry so ended streams disappear.
pub fn append_stream_metrics(registry: &Registry, out: &mut String) {
    let streams = registry.list();
    let live = streams.iter().filter(|s| s.phase() == Phase::Live).count();
    let _ = writeln!(out, "# HELP onair_live_streams Streams with a publisher.");
    let _ = writeln!(out, "# TYPE onair_live_streams gauge");
    let _ = writeln!(out, "onair_live_streams {live}");
    type Getter = fn(&Stream) -> String;
    let series: [(&str, &str, &str, Getter); 6] = [
        (
            "onair_stream_ingest_bytes_total",
            "counter",
            "Bytes received from the publisher.",
            |s| {
                s.stats
                    .ingest_bytes
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_string()
            },
        ),
        (
            "onair_stream_ingest_bitrate_bps",
            "gauge",
            "Ingest bit rate over the last second.",
            |s| {
                s.stats
                    .ingest_bitrate
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_string()
            },
        ),
        (
            "onair_stream_fps",
            "gauge",
            "Video frames per second received.",
            |s| format!("{:.3}", s.stats.fps()),
        ),
        (
            "onair_stream_dropped_frames_total",
            "counter",
            "Frames dropped for slow consumers.",
            |s| s.broadcast.dropped_frames().to_string(),
        ),
        (
            "onair_stream_video_frames_total",
            "counter",
            "Video frames received.",
            |s| {
                s.stats
                    .video_frames
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_string()
            },
        ),
        (
            "onair_stream_audio_frames_total",
            "counter",
            "Audio frames received.",
            |s| {
                s.stats
                    .audio_frames
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_string()
            },
        ),
    ];
    for (name, kind, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in &streams {
            let _ = writeln!(out, "{name}{{channel=\"{}\"}} {}", s.channel, get(s));
        }
    }
    let _ = writeln!(out, "# HELP onair_stream_viewers Viewers by protocol.");
    let _ = writeln!(out, "# TYPE onair_stream_viewers gauge");
    for s in &streams {
        for (p, name) in [
            (Protocol::Hls, "hls"),
            (Protocol::LlHls, "llhls"),
            (Protocol::Flv, "flv"),
        ] {
            let _ = writeln!(
                out,
                "onair_stream_viewers{{channel=\"{}\",protocol=\"{name}\"}} {}",
                s.channel,
                s.viewers.count(p)
            );
        }
    }
}
