//! The live edge as HTTP delivery reads it: the [`LiveEdge`] port, and [`LocalEdge`], its
//! implementation over this node's [`Registry`] — which is where the LL-HLS request rules live:
//! blocking playlist reload and delta updates (RFC 8216bis-17 §6.2.5.1–2, evaluated by
//! `onair_hls::request`), preload-hinted parts held until they close, and the 503 after three
//! target durations.
//!
//! HTTP handlers never touch a stream's window or hub: they ask the edge, so that a node that
//! does not ingest a stream can serve it through another implementation (issue #14: a remote
//! edge that reads from the owning node).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_hls::request::{self, Decision, HlsQuery};

use crate::directory::{BoxFuture, StreamKey};
use crate::hub::Subscription;
use crate::playlists::{self, RenditionWindow};
use crate::stream::{Registry, Stream};
use crate::viewers::Viewers;
use crate::window::{Chunks, WindowState};

/// How long a read of the stored playlist serves time-shift playlists (the store rewrites it
/// once per segment; segments not stored yet come from the memory window anyway).
pub const DVR_STORED_TTL: Duration = Duration::from_secs(1);

/// Why the edge could not answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EdgeError {
    /// Nothing is live (or recently ended) under this key.
    #[error("channel {0:?} is not live")]
    NotLive(String),
    /// The object does not exist (any more) and will not.
    #[error("{0}")]
    NotFound(&'static str),
    /// Not there yet, or not in time (HTTP 503).
    #[error("{0}")]
    NotReady(&'static str),
    /// The request cannot be answered as asked (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
}

/// Which media playlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendering {
    /// LL-HLS over CMAF (fMP4) parts and segments.
    LlHls,
    /// Classic HLS over MPEG-TS segments.
    Ts,
}

/// What HTTP needs to know of a stream it serves.
#[derive(Clone)]
pub struct EdgeStream {
    pub key: StreamKey,
    /// The stream life's id (in its media URLs).
    pub sid: String,
    /// The channel's database id (`None` without a channel row: open publishing).
    pub channel_id: Option<String>,
    /// Its viewers, as this node counts them.
    pub viewers: Arc<Viewers>,
}

/// A playlist and how long caches may keep it.
#[derive(Clone, Debug)]
pub struct PlaylistAnswer {
    pub text: Bytes,
    pub cache: &'static str,
}

/// Reads the stored CMAF playlist of a stream life (for time-shift playlists).
pub type StoredPlaylist<'a> = BoxFuture<'a, Arc<str>>;

/// What HTTP delivery reads of live streams (see the module docs). `max_block` is the most a
/// request may wait for media that is about to exist; the edge shortens it to three target
/// durations (RFC 8216bis-17 §6.2.5.2).
pub trait LiveEdge: Send + Sync {
    /// The stream under `key`, when it is live or recently ended.
    fn stream<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Option<EdgeStream>>;

    /// The channel's multivariant playlist, over its renditions.
    fn multivariant<'a>(
        &'a self,
        channel: &'a str,
    ) -> BoxFuture<'a, Result<PlaylistAnswer, EdgeError>>;

    /// A media playlist, answering `_HLS_msn`/`_HLS_part` (blocking) and `_HLS_skip` (delta).
    fn media_playlist<'a>(
        &'a self,
        key: &'a StreamKey,
        rendering: Rendering,
        query: &'a HlsQuery,
        max_block: Duration,
    ) -> BoxFuture<'a, Result<PlaylistAnswer, EdgeError>>;

    /// Init section `id` of stream life `sid`, if it is still in memory.
    fn init<'a>(
        &'a self,
        key: &'a StreamKey,
        sid: &'a str,
        id: u32,
    ) -> BoxFuture<'a, Option<Bytes>>;

    /// Part `seq` (counted across segments) of stream life `sid`; a preload-hinted part is
    /// awaited.
    fn part<'a>(
        &'a self,
        key: &'a StreamKey,
        sid: &'a str,
        seq: u64,
        max_block: Duration,
    ) -> BoxFuture<'a, Result<Chunks, EdgeError>>;

    /// Segment `msn` of stream life `sid`; an open segment is awaited. `Ok(None)`: it is not
    /// in the memory window (an earlier one, or an earlier stream life): read the store.
    fn segment<'a>(
        &'a self,
        key: &'a StreamKey,
        sid: &'a str,
        msn: u64,
        rendering: Rendering,
        max_block: Duration,
    ) -> BoxFuture<'a, Result<Option<Chunks>, EdgeError>>;

    /// The time-shift playlist: `stored` (read at most once per [`DVR_STORED_TTL`] per stream)
    /// within `window_secs`, followed by the complete segments not stored yet.
    fn dvr_playlist<'a>(
        &'a self,
        key: &'a StreamKey,
        window_secs: f64,
        stored: &'a (dyn Fn() -> StoredPlaylist<'a> + Send + Sync),
    ) -> BoxFuture<'a, Result<PlaylistAnswer, EdgeError>>;

    /// The latest thumbnail (JPEG).
    fn thumbnail<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Option<Bytes>>;

    /// Subscribes to the stream's frames (HTTP-FLV) with a queue of `capacity` messages, once
    /// its codecs are known.
    fn subscribe<'a>(
        &'a self,
        key: &'a StreamKey,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, EdgeError>>;
}

/// The live edge of the streams this node ingests.
pub struct LocalEdge {
    registry: Arc<Registry>,
}

impl LocalEdge {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    fn get(&self, key: &StreamKey) -> Result<Arc<Stream>, EdgeError> {
        self.registry
            .get_key(key)
            .ok_or_else(|| EdgeError::NotLive(key.to_string()))
    }
}

impl LiveEdge for LocalEdge {
    fn stream<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Option<EdgeStream>> {
        let s = self.registry.get_key(key).map(|s| EdgeStream {
            key: s.key.clone(),
            sid: s.sid.clone(),
            channel_id: s.channel_id.clone(),
            viewers: s.viewers.clone(),
        });
        Box::pin(std::future::ready(s))
    }

    fn multivariant<'a>(
        &'a self,
        channel: &'a str,
    ) -> BoxFuture<'a, Result<PlaylistAnswer, EdgeError>> {
        Box::pin(std::future::ready(multivariant(
            channel,
            &self.registry.renditions(channel),
        )))
    }

    fn media_playlist<'a>(
        &'a self,
        key: &'a StreamKey,
        rendering: Rendering,
        query: &'a HlsQuery,
        max_block: Duration,
    ) -> BoxFuture<'a, Result<PlaylistAnswer, EdgeError>> {
        Box::pin(async move {
            let stream = self.get(key)?;
            media_playlist(&stream, query, rendering, max_block).await
        })
    }

    fn init<'a>(
        &'a self,
        key: &'a StreamKey,
        sid: &'a str,
        id: u32,
    ) -> BoxFuture<'a, Option<Bytes>> {
        let init = self
            .registry
            .get_key(key)
            .filter(|s| s.sid == sid)
            .and_then(|s| s.window.read().init(id).cloned());
        Box::pin(std::future::ready(init))
    }

    fn part<'a>(
        &'a self,
        key: &'a StreamKey,
        sid: &'a str,
        seq: u64,
        max_block: Duration,
    ) -> BoxFuture<'a, Result<Chunks, EdgeError>> {
        Box::pin(async move {
            let stream = self.get(key)?;
            if stream.sid != sid {
                return Err(EdgeError::NotFound(
                    "this object belongs to an earlier stream",
                ));
            }
            wait_for(&stream, max_block, |w| part_state(w, seq)).await
        })
    }

    fn segment<'a>(
        &'a self,
        key: &'a StreamKey,
        sid: &'a str,
        msn: u64,
        rendering: Rendering,
        max_block: Duration,
    ) -> BoxFuture<'a, Result<Option<Chunks>, EdgeError>> {
        Box::pin(async move {
            let stream = self.get(key)?;
            if !in_window(&stream, sid, msn) {
                return Ok(None);
            }
            wait_for(&stream, max_block, |w| segment_state(w, msn, rendering))
                .await
                .map(Some)
        })
    }

    fn dvr_playlist<'a>(
        &'a self,
        key: &'a StreamKey,
        window_secs: f64,
        stored: &'a (dyn Fn() -> StoredPlaylist<'a> + Send + Sync),
    ) -> BoxFuture<'a, Result<PlaylistAnswer, EdgeError>> {
        Box::pin(async move {
            let stream = self.get(key)?;
            let cached = stream
                .dvr_stored
                .lock()
                .as_ref()
                .filter(|(at, _)| at.elapsed() < DVR_STORED_TTL)
                .map(|(_, t)| t.clone());
            let stored = match cached {
                Some(t) => t,
                None => {
                    let text = stored().await;
                    *stream.dvr_stored.lock() = Some((Instant::now(), text.clone()));
                    text
                }
            };
            let text = {
                let w = stream.window.read();
                playlists::dvr(&w, &stream.sid, &stored, window_secs)
            };
            if text.is_empty() {
                return Err(EdgeError::NotReady(
                    "the stream has no complete segment yet",
                ));
            }
            Ok(PlaylistAnswer {
                text: Bytes::from(text),
                cache: "public, max-age=1",
            })
        })
    }

    fn thumbnail<'a>(&'a self, key: &'a StreamKey) -> BoxFuture<'a, Option<Bytes>> {
        let jpeg = self.registry.get_key(key).and_then(|s| s.thumbnail_jpeg());
        Box::pin(std::future::ready(jpeg))
    }

    fn subscribe<'a>(
        &'a self,
        key: &'a StreamKey,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, EdgeError>> {
        let sub = self.get(key).and_then(|s| {
            if s.tracks().is_none() {
                return Err(EdgeError::NotReady(
                    "the stream has not sent its codec configuration yet",
                ));
            }
            Ok(s.broadcast.subscribe(capacity))
        });
        Box::pin(std::future::ready(sub))
    }
}

/// The multivariant playlist over the renditions of a channel (the source first: its media
/// playlist is `llhls.m3u8`; another rendition's is `{rendition}/llhls.m3u8`).
fn multivariant(channel: &str, renditions: &[Arc<Stream>]) -> Result<PlaylistAnswer, EdgeError> {
    if renditions.is_empty() {
        return Err(EdgeError::NotLive(channel.to_owned()));
    }
    let windows: Vec<_> = renditions.iter().map(|s| s.window.read()).collect();
    if windows.iter().any(|w| w.last_complete_msn().is_none()) {
        return Err(EdgeError::NotReady(
            "the stream has no complete segment yet",
        ));
    }
    let listed: Vec<_> = renditions
        .iter()
        .zip(&windows)
        .map(|(s, w)| RenditionWindow {
            uri: if s.key.is_source() {
                "llhls.m3u8".to_owned()
            } else {
                format!("{}/llhls.m3u8", s.key.rendition)
            },
            window: w,
            fps: s.stats.fps(),
        })
        .collect();
    let text = playlists::multivariant(&listed)
        .ok_or(EdgeError::NotReady("the stream's codecs are not known yet"))?;
    Ok(PlaylistAnswer {
        text: Bytes::from(text),
        cache: "public, max-age=2",
    })
}

/// RFC 8216bis-17 §6.2.5.2: a server that cannot produce the awaited part within three target
/// durations answers 503.
fn block_limit(stream: &Stream, max_block: Duration) -> Duration {
    let target = stream.window.read().target_duration.max(1);
    max_block.min(Duration::from_secs(3 * target))
}

async fn media_playlist(
    stream: &Stream,
    q: &HlsQuery,
    rendering: Rendering,
    max_block: Duration,
) -> Result<PlaylistAnswer, EdgeError> {
    if rendering == Rendering::Ts && (q.msn.is_some() || q.skip.is_some()) {
        return Err(EdgeError::BadRequest(
            "the MPEG-TS playlist has no blocking reload or delta updates".to_owned(),
        ));
    }
    let blocking = q.msn.is_some();
    let mut waited = false;
    let mut rx = stream.window.subscribe();
    let deadline = tokio::time::Instant::now() + block_limit(stream, max_block);
    loop {
        {
            let version = stream.window.version();
            let w = stream.window.read();
            let ready = match rendering {
                Rendering::LlHls => w.is_ready(),
                Rendering::Ts => w.last_complete_msn().is_some(),
            };
            if ready {
                let decision = if blocking && !w.ended {
                    evaluate(q, &w)
                } else {
                    Decision::Ready
                };
                match decision {
                    Decision::Ready => {
                        if waited && let Some(t) = w.last_part_published() {
                            // How long after the awaited part closed the answer went out.
                            metrics::histogram!("onair_hls_blocking_reload_delay_seconds")
                                .record(t.elapsed().as_secs_f64());
                        }
                        let skip = q.skip.is_some();
                        let slot = match (rendering, skip) {
                            (Rendering::LlHls, false) => 0,
                            (Rendering::LlHls, true) => 1,
                            (Rendering::Ts, _) => 2,
                        };
                        let text = stream.window.cached(slot, version, || match rendering {
                            Rendering::LlHls => playlists::llhls(&w, &stream.sid, skip),
                            Rendering::Ts => playlists::ts(&w, &stream.sid),
                        });
                        let cache = if w.ended {
                            "public, max-age=3600"
                        } else if blocking {
                            // The answer to a given _HLS_msn/_HLS_part is stable; the query
                            // string is part of the cache key.
                            "public, max-age=60"
                        } else {
                            "public, max-age=1"
                        };
                        return Ok(PlaylistAnswer { text, cache });
                    }
                    Decision::BadRequest(reason) => {
                        return Err(EdgeError::BadRequest(reason));
                    }
                    Decision::Wait => {}
                }
            } else if !blocking || w.ended {
                return Err(EdgeError::NotReady("the stream has not produced media yet"));
            }
        }
        waited = true;
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => {
                return Err(EdgeError::NotReady(
                    "the requested part was not produced in time",
                ));
            }
        }
    }
}

fn evaluate(q: &HlsQuery, w: &WindowState) -> Decision {
    match playlists::live_edge(w) {
        Some(edge) => request::evaluate(q, &edge),
        None => Decision::Wait,
    }
}

/// Whether segment `msn` of stream life `sid` is (or will be) in the memory window; older
/// segments and earlier stream lives are served from the store.
fn in_window(stream: &Stream, sid: &str, msn: u64) -> bool {
    stream.sid == sid
        && stream
            .window
            .read()
            .media_sequence()
            .is_none_or(|first| msn >= first)
}

/// What a waiting request sees on each check of the window.
enum Lookup {
    Found(Chunks),
    /// Not there yet, but expected soon.
    Pending,
    Gone,
}

/// Parts are named by their sequence number in the stream, so the preload-hinted next part
/// always exists once it closes, whichever segment it lands in. The hinted part (and the one
/// after, for a client that is slightly ahead) is held; anything else missing is not found.
fn part_state(w: &WindowState, seq: u64) -> Lookup {
    if let Some(p) = w.part(seq) {
        return Lookup::Found(p.data.clone());
    }
    match w.last_part_seq() {
        _ if w.ended => Lookup::Gone,
        Some(last) if seq > last && seq <= last + 2 => Lookup::Pending,
        None if seq <= 1 => Lookup::Pending,
        _ => Lookup::Gone,
    }
}

fn segment_state(w: &WindowState, msn: u64, rendering: Rendering) -> Lookup {
    match w.segment(msn) {
        Some(seg) if seg.is_complete() => Lookup::Found(match rendering {
            Rendering::LlHls => seg.fmp4(),
            Rendering::Ts => seg.ts.clone().unwrap_or_default(),
        }),
        Some(_) if !w.ended => Lookup::Pending,
        _ => Lookup::Gone,
    }
}

async fn wait_for(
    stream: &Stream,
    max_block: Duration,
    lookup: impl Fn(&WindowState) -> Lookup,
) -> Result<Chunks, EdgeError> {
    let mut rx = stream.window.subscribe();
    let deadline = tokio::time::Instant::now() + block_limit(stream, max_block);
    loop {
        match lookup(&stream.window.read()) {
            Lookup::Found(c) => return Ok(c),
            Lookup::Gone => return Err(EdgeError::NotFound("no such object in the live window")),
            Lookup::Pending => {}
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return Err(EdgeError::NotReady("the object was not produced in time"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_media::{AacConfig, AudioConfig, AudioFrame, Frame, TIMESCALE, Tracks};

    fn aac() -> Tracks {
        let asc = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap();
        Tracks {
            video: None,
            audio: Some(AudioConfig::Aac(asc)),
        }
    }

    /// Audio frames 20 ms apart, `from` to `to` (exclusive).
    fn audio(p: &crate::stream::Publisher, from: i64, to: i64) {
        for i in from..to {
            p.push(Frame::Audio(AudioFrame {
                dts: i * i64::from(TIMESCALE) / 50,
                data: Bytes::from_static(&[0x21, 0x10]),
            }));
        }
    }

    fn query(q: &str) -> HlsQuery {
        request::parse_query(q).unwrap()
    }

    /// The LL-HLS request rules, as the local edge applies them: the preload-hinted part is
    /// held until it closes, a part far ahead is not found, a blocking reload waits for its
    /// part and gives up with "not ready" at the block limit, the TS playlist takes no
    /// blocking query, and the multivariant playlist lists the source rendition.
    #[tokio::test]
    async fn the_local_edge_applies_the_llhls_request_rules() {
        let registry = Registry::for_tests();
        let edge = LocalEdge::new(registry.clone());
        let key = StreamKey::source("m");
        assert!(edge.stream(&key).await.is_none());
        assert_eq!(
            edge.multivariant("m").await.unwrap_err(),
            EdgeError::NotLive("m".into())
        );
        let p = registry.start_publish("m", "x".into()).await.unwrap();
        p.set_tracks(aac());
        audio(&p, 0, 150); // 3 s: two complete 1 s segments, parts of 200 ms
        let stream = edge.stream(&key).await.unwrap();
        let sid = stream.sid.clone();
        let last = registry
            .get("m")
            .unwrap()
            .window
            .read()
            .last_part_seq()
            .unwrap();
        let wait = Duration::from_secs(5);

        let got = edge.part(&key, &sid, last, wait).await.unwrap();
        assert!(got.len > 0);
        assert_eq!(
            edge.part(&key, &sid, last + 10, wait).await.unwrap_err(),
            EdgeError::NotFound("no such object in the live window")
        );
        assert_eq!(
            edge.part(&key, "earlier", last, wait).await.unwrap_err(),
            EdgeError::NotFound("this object belongs to an earlier stream")
        );
        // The hinted part arrives while the request waits.
        let hinted = edge.part(&key, &sid, last + 1, wait);
        let more = async {
            tokio::task::yield_now().await;
            audio(&p, 150, 175);
        };
        let (hinted, ()) = tokio::join!(hinted, more);
        assert!(hinted.unwrap().len > 0);

        // Segments of another stream life are not in the window: the caller reads the store.
        assert!(
            edge.segment(&key, "earlier", 0, Rendering::LlHls, wait)
                .await
                .unwrap()
                .is_none()
        );
        let seg = edge.segment(&key, &sid, 0, Rendering::Ts, wait).await;
        assert!(seg.unwrap().is_some_and(|c| c.len % 188 == 0));

        // A blocking reload for a part that does not come: 503 at the block limit.
        let edge_now = registry.get("m").unwrap().window.read().last_complete_msn();
        let next = edge_now.unwrap() + 2;
        let q = query(&format!("_HLS_msn={next}&_HLS_part=0"));
        let short = Duration::from_millis(50);
        assert_eq!(
            edge.media_playlist(&key, Rendering::LlHls, &q, short)
                .await
                .unwrap_err(),
            EdgeError::NotReady("the requested part was not produced in time")
        );
        assert!(matches!(
            edge.media_playlist(&key, Rendering::Ts, &q, short).await,
            Err(EdgeError::BadRequest(_))
        ));
        let plain = edge
            .media_playlist(&key, Rendering::LlHls, &query(""), short)
            .await
            .unwrap();
        let text = std::str::from_utf8(&plain.text).unwrap();
        assert!(text.contains("#EXT-X-PRELOAD-HINT"), "{text}");
        assert_eq!(plain.cache, "public, max-age=1");

        let mv = edge.multivariant("m").await.unwrap();
        let mv = std::str::from_utf8(&mv.text).unwrap();
        assert!(
            mv.contains("CODECS=\"mp4a.40.2\"") && mv.contains("\nllhls.m3u8"),
            "{mv}"
        );

        // HTTP-FLV subscribers start with the tracks.
        let mut sub = edge.subscribe(&key, 16).await.unwrap();
        assert!(matches!(
            sub.rx.try_recv(),
            Ok(crate::hub::HubMessage::Tracks(_))
        ));
    }
}
