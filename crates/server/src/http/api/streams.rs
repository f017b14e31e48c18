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
    OpenApiRouter::new().routes(routes!(list_streams))
}

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
    Ok(Json(StreamList { streams }))
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
