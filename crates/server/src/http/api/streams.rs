//! `GET /api/v1/streams`: the live streams of this node a caller may see, and their Prometheus
//! series.
//!
//! Anyone sees the streams of public channels (and signed-in callers those of `authenticated`
//! channels); private and signed channels are listed only to their owner, admins and (private)
//! granted users. The publisher's address is shown only to those who manage the channel.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;

use crate::config::PublishAuthMode;
use crate::db::channels::Visibility;
use crate::http::Problem;
use crate::http::caller::MaybeCaller;
use onair_media::{AudioConfig, VideoConfig};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::stream::{Phase, Protocol, Registry, Stream};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_streams))
        .routes(routes!(stream_events))
}

/// How often the event stream sends the streams' statistics.
pub const EVENT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// An event stream ends after this long (the browser's EventSource reconnects, and the
/// caller's credentials are checked again).
pub const MAX_EVENT_STREAM: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Serialize, ToSchema)]
pub struct StreamList {
    streams: Vec<StreamInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct StreamInfo {
    channel: String,
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
) -> Result<Json<StreamList>, Problem> {
    Ok(Json(StreamList {
        streams: visible_streams(&state, caller.as_ref()).await?,
    }))
}

/// The same list as `GET /api/v1/streams`, pushed every second as server-sent events
/// (`event: streams`, `data:` the JSON list), so live charts need no polling. The stream ends
/// after ten minutes; `EventSource` reconnects.
#[utoipa::path(get, path = "/api/v1/streams/events", tag = "streams",
    responses((status = 200, content_type = "text/event-stream", description = "`streams` events, each a StreamList")))]
async fn stream_events(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(EVENT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stream = futures_util::stream::unfold(
        (state, caller, tick),
        move |(state, caller, mut tick)| async move {
            if started.elapsed() >= MAX_EVENT_STREAM {
                return None;
            }
            tick.tick().await;
            let streams = visible_streams(&state, caller.as_ref())
                .await
                .unwrap_or_default();
            let event = Event::default()
                .event("streams")
                .json_data(StreamList { streams })
                .unwrap_or_else(|_| Event::default().comment("encoding failed"));
            Some((Ok(event), (state, caller, tick)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn visible_streams(
    state: &AppState,
    caller: Option<&crate::http::caller::Caller>,
) -> Result<Vec<StreamInfo>, Problem> {
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
                    Visibility::Private => match c {
                        Some(c) => sys.db.has_channel_grant(&ch.id, c.id()).await?,
                        None => false,
                    },
                    Visibility::Signed => false,
                },
                false,
            ),
        };
        if visible {
            let mut i = info(&s);
            if !manages {
                i.publisher = None;
            }
            streams.push(i);
        }
    }
    Ok(streams)
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
