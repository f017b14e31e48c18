//! HTTP-FLV playback: `GET /live/{channel}.flv`.
//!
//! The response is an endless FLV file built from the hub: header, sequence headers, then the
//! cached GOP (so the first frame decodes at once) and live frames. Payloads go out as the same
//! `Bytes` the publisher sent; a slow viewer's hub queue drops to the next keyframe instead of
//! holding the publisher back. Timestamps are rebased to start at zero and stay monotonic across
//! a publisher reconnect.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use onair_media::flv;
use onair_media::{Frame, TIMESCALE, Tracks};

use super::playback::{self, PlaybackRequest};
use super::{AppState, Problem};
use crate::hub::{HubMessage, Subscription};
use crate::viewers::FlvViewer;

/// Messages queued for one HTTP-FLV viewer before it is considered slow.
pub const FLV_VIEWER_QUEUE: usize = 1024;
/// A timestamp jump larger than this (ms) is treated as a restart and rebased.
const MAX_TIMESTAMP_JUMP_MS: i64 = 10_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/live/{file}", get(flv_stream))
}

async fn flv_stream(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let channel = file.strip_suffix(".flv").ok_or_else(|| {
        Problem::not_found("playback URLs are /live/{channel}.flv or /live/{channel}/index.m3u8")
    })?;
    let access = playback::authorize(
        &state,
        &PlaybackRequest {
            channel,
            path: uri.path(),
            query: query.as_deref(),
            headers: &headers,
            ip: peer.ip(),
        },
    )
    .await?;
    let key = crate::directory::StreamKey::source(channel);
    let stream = state
        .edge
        .stream(&key)
        .await
        .ok_or_else(|| Problem::not_found(format!("channel {channel:?} is not live")))?;
    let sub = state.edge.subscribe(&key, FLV_VIEWER_QUEUE).await?;
    let viewer = FlvWriter {
        sub,
        tracks: None,
        pending: VecDeque::new(),
        clock: FlvClock::default(),
        header_sent: false,
        _guard: stream.viewers.flv_guard(),
    };
    let body = futures_util::stream::unfold(viewer, |mut v| async move {
        loop {
            if let Some(b) = v.pending.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(b), v));
            }
            let msg = v.sub.rx.recv().await?;
            v.on_message(msg);
        }
    });
    let mut res = Response::new(Body::from_stream(body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("video/x-flv"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    access.apply(&mut res);
    Ok(res)
}

struct FlvWriter {
    sub: Subscription,
    tracks: Option<Arc<Tracks>>,
    pending: VecDeque<Bytes>,
    clock: FlvClock,
    header_sent: bool,
    _guard: FlvViewer,
}

impl FlvWriter {
    fn on_message(&mut self, msg: HubMessage) {
        match msg {
            HubMessage::Tracks(t) => {
                if !self.header_sent {
                    self.header_sent = true;
                    self.pending
                        .push_back(flv::file_header(t.audio.is_some(), t.video.is_some()));
                }
                let ts = self.clock.last_out;
                if let Some(v) = &t.video {
                    self.pending.extend(flv::video_sequence_tag(v, ts));
                }
                if let Some(a) = &t.audio {
                    self.pending.extend(flv::audio_sequence_tag(a, ts));
                }
                self.tracks = Some(t);
                self.clock.restart();
            }
            HubMessage::Frame(frame) => {
                let Some(t) = &self.tracks else { return };
                let ts = self.clock.map(frame.dts());
                match &frame {
                    Frame::Video(v) => {
                        if let Some(cfg) = &t.video {
                            self.pending.extend(flv::video_frame_tag(cfg, v, ts));
                        }
                    }
                    Frame::Audio(a) => {
                        if let Some(cfg) = &t.audio {
                            self.pending.extend(flv::audio_frame_tag(cfg, a, ts));
                        }
                    }
                }
            }
        }
    }
}

/// Maps input DTS (90 kHz) to output FLV milliseconds starting at 0.
#[derive(Default)]
struct FlvClock {
    /// Input ms that maps to `out_base`.
    in_base: Option<i64>,
    out_base: i64,
    last_out: u32,
}

impl FlvClock {
    /// After new sequence headers the input clock may restart: re-anchor on the next frame.
    fn restart(&mut self) {
        if self.in_base.is_some() {
            self.in_base = None;
            self.out_base = i64::from(self.last_out);
        }
    }

    fn map(&mut self, dts: i64) -> u32 {
        let ms = dts * 1000 / i64::from(TIMESCALE);
        let base = *self.in_base.get_or_insert(ms);
        let mut out = self.out_base + (ms - base);
        let last = i64::from(self.last_out);
        if out < last - MAX_TIMESTAMP_JUMP_MS || out > last + MAX_TIMESTAMP_JUMP_MS {
            self.in_base = Some(ms);
            self.out_base = last;
            out = last;
        }
        let out = out.clamp(0, i64::from(u32::MAX)) as u32;
        self.last_out = self.last_out.max(out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_starts_at_zero_and_survives_restarts() {
        let mut c = FlvClock::default();
        assert_eq!(c.map(90_000 * 100), 0);
        assert_eq!(c.map(90_000 * 101), 1000);
        c.restart();
        // The new publisher starts at 0 again: output continues.
        assert_eq!(c.map(0), 1000);
        assert_eq!(c.map(90 * 40), 1040);
        // A wild jump is rebased rather than followed.
        assert_eq!(c.map(90_000 * 10_000), 1040);
    }
}
