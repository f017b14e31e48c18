//! The streams of this node, by [`StreamKey`] (channel, rendition): who publishes, the hub
//! with the packager attached, the live window, and counters.
//!
//! Before a stream is created its key is claimed in the [`StreamDirectory`] (the claim's epoch
//! stays with the stream for its life, reconnects within the grace included) and released
//! when it ends. Publishes are claimed one at a time per registry, so two local publishers of
//! one key cannot both be granted.
//!
//! Lifecycle of a stream:
//! * publish → `Live`; a second publisher on a live channel is refused (BadName);
//! * clean unpublish (FCUnpublish/deleteStream) → segments flushed, playlist gets ENDLIST;
//! * abrupt disconnect → `Grace`: the playlist stalls for `unpublish_grace`; a publisher that
//!   comes back within it continues the same playlist behind EXT-X-DISCONTINUITY; otherwise the
//!   stream ends as above;
//! * an ended stream stays served (ENDLIST) for `ended_retention`, then is forgotten; a new
//!   publish in that time starts a new playlist whose media sequence continues the old one.

pub mod live_publish;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use onair_media::{Frame, Tracks};
use parking_lot::Mutex;

use crate::directory::{Claim, ClaimError, LocalDirectory, StreamDirectory, StreamKey};
use crate::hub::Broadcast;
use crate::packager::{Packager, PackagerConfig};
use crate::sink::{SinkFactory, SinkTarget};
use crate::viewers::Viewers;
use crate::window::LiveWindow;

/// Live-stream settings.
#[derive(Clone, Copy, Debug)]
pub struct StreamConfig {
    pub packager: PackagerConfig,
    /// Complete segments kept in the live window.
    pub window_segments: usize,
    /// How long a dropped publisher may take to come back to the same playlist.
    pub unpublish_grace: Duration,
    /// How long an ended stream's playlist stays served.
    pub ended_retention: Duration,
}

pub use crate::viewers::Protocol;

/// Counters of one stream.
#[derive(Debug, Default)]
pub struct StreamStats {
    pub ingest_bytes: AtomicU64,
    pub video_frames: AtomicU64,
    pub audio_frames: AtomicU64,
    /// HLS requests (playlists, parts, segments) served, by protocol.
    pub hls_requests: AtomicU64,
    pub llhls_requests: AtomicU64,
    /// Measured rates, updated by the ingest driver about once a second.
    pub ingest_bitrate: AtomicU64,
    /// Frames per second × 1000, in media time (the frames' timestamps, not their arrival: a
    /// late or bursty publisher does not change the stream's frame rate).
    pub fps_milli: AtomicU64,
    /// Decode timestamp of the latest video frame, in `onair_media::TIMESCALE` ticks.
    pub video_dts: AtomicI64,
    /// Last measurement: (when, ingest bytes, video frames, video DTS).
    last_sample: Mutex<Option<(Instant, u64, u64, i64)>>,
}

impl StreamStats {
    /// Measured frame rate.
    pub fn fps(&self) -> f64 {
        self.fps_milli.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// A new stream life's id: 128 random bits, 26 characters of lowercase base32. It names the
/// stream's media URLs, its stored objects and its recording, so neither another stream's id
/// nor the time a stream started may tell it: stored objects are not found by trying ids.
/// (Ids are not secrets, viewers see them in URLs: who may read an object is still decided by
/// the channel it belongs to.) Random bits are also what makes ids unique across nodes
/// without coordination: a ULID would do that too, but its first 48 bits are the start time.
fn new_sid() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes[..]);
    data_encoding::BASE32_DNSSEC.encode(&bytes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Live,
    Grace { since: Instant },
    Ended { since: Instant },
}

struct Control {
    phase: Phase,
    /// Increments with every publish so a stale grace timer does nothing.
    generation: u64,
    /// The MSN the packager's next segment gets (a later stream life continues from it).
    next_msn: Arc<AtomicU64>,
    publisher_addr: Option<String>,
    started_at: SystemTime,
}

/// One rendition of one channel, live (or recently ended) on this node.
pub struct Stream {
    pub key: StreamKey,
    /// The channel's slug (`key.channel`).
    pub channel: String,
    /// This stream life's claim in the directory (its epoch fences its writes).
    pub claim: Claim,
    /// The publishing channel's database id (`None` without a channel row: open publishing).
    pub channel_id: Option<String>,
    /// Names this stream's life in media URLs (see `http::hls`).
    pub sid: String,
    pub viewers: Arc<Viewers>,
    pub broadcast: Arc<Broadcast>,
    pub window: Arc<LiveWindow>,
    pub stats: StreamStats,
    /// Bit-rate/frame-rate history, keyframe interval and warnings for the owner.
    pub health: crate::health::StreamHealth,
    control: Mutex<Control>,
    /// When the thumbnail was last attempted, and the latest one (see `thumbnails`).
    thumbnail: Mutex<(Option<Instant>, Option<bytes::Bytes>)>,
    /// The stored playlist as last read for time-shift playlists, and when: shared by every
    /// DVR viewer for a second instead of one store read per playlist request.
    pub dvr_stored: Mutex<Option<(Instant, Arc<str>)>>,
    /// Its publishing connection, for kicks (see `live_publish`).
    publisher: Mutex<Option<live_publish::PublisherSlot>>,
}

impl Stream {
    pub fn phase(&self) -> Phase {
        self.control.lock().phase
    }

    pub fn started_at(&self) -> SystemTime {
        self.control.lock().started_at
    }

    pub fn publisher_addr(&self) -> Option<String> {
        self.control.lock().publisher_addr.clone()
    }

    pub fn tracks(&self) -> Option<Arc<Tracks>> {
        self.broadcast.tracks()
    }

    /// When a thumbnail was last attempted, and the latest JPEG.
    pub fn thumbnail(&self) -> Option<(Instant, Option<bytes::Bytes>)> {
        let t = self.thumbnail.lock();
        t.0.map(|at| (at, t.1.clone()))
    }

    pub fn thumbnail_jpeg(&self) -> Option<bytes::Bytes> {
        self.thumbnail.lock().1.clone()
    }

    pub fn set_thumbnail(&self, at: Instant, jpeg: bytes::Bytes) {
        *self.thumbnail.lock() = (Some(at), Some(jpeg));
    }

    /// A thumbnail attempt failed at `at`: the next one waits the usual interval.
    pub fn set_thumbnail_attempt(&self, at: Instant) {
        self.thumbnail.lock().0 = Some(at);
    }

    /// Ends the stream now unless it has ended (its claim is not released: it was lost).
    fn end_now(&self) -> bool {
        let mut c = self.control.lock();
        if matches!(c.phase, Phase::Ended { .. }) {
            return false;
        }
        self.end_locked(&mut c);
        true
    }

    /// Ends the stream: attached consumers finish (the packager flushes), ENDLIST, subscribers
    /// close. The caller releases the claim ([`Registry::release`]).
    fn end_locked(&self, c: &mut Control) {
        self.broadcast.close();
        self.window.end();
        c.phase = Phase::Ended {
            since: Instant::now(),
        };
        c.publisher_addr = None;
    }
}

/// Why a publish was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("channel {0} is already live")]
    AlreadyLive(String),
    #[error("server is shutting down")]
    ShuttingDown,
    /// The directory could not be asked (a cluster's database is down).
    #[error("{0}")]
    Unavailable(String),
}

impl From<ClaimError> for PublishError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Owned { key, .. } => Self::AlreadyLive(key.to_string()),
            ClaimError::Unavailable(_) => Self::Unavailable(e.to_string()),
        }
    }
}

/// What [`Registry::start_publish_with`] decided before claiming.
enum Start {
    Resumed(Publisher),
    /// A new stream life, numbering segments from `first_msn`.
    New {
        first_msn: u64,
        discontinuity: bool,
    },
}

/// All streams of this node.
pub struct Registry {
    config: StreamConfig,
    /// Who owns which stream (this node's claims).
    directory: Arc<dyn StreamDirectory>,
    /// Durable storage of every stream's segments, when configured.
    sinks: Option<Arc<dyn SinkFactory>>,
    streams: Mutex<HashMap<StreamKey, Arc<Stream>>>,
    /// Held while a publish is decided and claimed (one at a time: see the module docs).
    claiming: tokio::sync::Mutex<()>,
    shutting_down: AtomicBool,
    /// Woken whenever a publisher lets go of its stream (a takeover waits on it).
    released: tokio::sync::Notify,
}

impl Registry {
    /// A registry of a single node without storage.
    pub fn new(config: StreamConfig) -> Arc<Self> {
        Self::with_ports(config, Arc::new(LocalDirectory::new("local")), None)
    }

    /// A registry claiming its streams in `directory`, storing their segments through `sinks`.
    pub fn with_ports(
        config: StreamConfig,
        directory: Arc<dyn StreamDirectory>,
        sinks: Option<Arc<dyn SinkFactory>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            directory,
            sinks,
            streams: Mutex::new(HashMap::new()),
            claiming: tokio::sync::Mutex::new(()),
            shutting_down: false.into(),
            released: tokio::sync::Notify::new(),
        })
    }

    /// A registry without storage, 1 s segments and 200 ms parts (unit tests, here and in
    /// the crates that drive it).
    #[doc(hidden)]
    pub fn for_tests() -> Arc<Self> {
        Self::new(StreamConfig {
            packager: PackagerConfig {
                segment_target: Duration::from_secs(1),
                part_target: Duration::from_millis(200),
            },
            window_segments: 30,
            unpublish_grace: Duration::ZERO,
            ended_retention: Duration::from_secs(60),
        })
    }

    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// Resolves the next time a publisher of this node lets go of its stream (it ended, or
    /// dropped into the reconnect grace). Create it *before* trying to publish, so a release in
    /// between is not missed (`Notified::enable`).
    pub fn released(&self) -> tokio::sync::futures::Notified<'_> {
        self.released.notified()
    }

    /// The directory this registry claims its streams in.
    pub fn directory(&self) -> &Arc<dyn StreamDirectory> {
        &self.directory
    }

    /// The source rendition of `channel`.
    pub fn get(&self, channel: &str) -> Option<Arc<Stream>> {
        self.get_key(&StreamKey::source(channel))
    }

    pub fn get_key(&self, key: &StreamKey) -> Option<Arc<Stream>> {
        self.streams.lock().get(key).cloned()
    }

    /// Every rendition of `channel` on this node, the source first, then by name.
    pub fn renditions(&self, channel: &str) -> Vec<Arc<Stream>> {
        let mut v: Vec<_> = self
            .streams
            .lock()
            .values()
            .filter(|s| s.key.channel == channel)
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            (!a.key.is_source(), &a.key.rendition).cmp(&(!b.key.is_source(), &b.key.rendition))
        });
        v
    }

    /// Every stream, by channel then rendition (the source first).
    pub fn list(&self) -> Vec<Arc<Stream>> {
        let mut v: Vec<_> = self.streams.lock().values().cloned().collect();
        v.sort_by(|a, b| {
            (&a.key.channel, !a.key.is_source(), &a.key.rendition).cmp(&(
                &b.key.channel,
                !b.key.is_source(),
                &b.key.rendition,
            ))
        });
        v
    }

    /// Starts publishing the source rendition of `channel`, without a channel row.
    pub async fn start_publish(
        self: &Arc<Self>,
        channel: &str,
        publisher_addr: String,
    ) -> Result<Publisher, PublishError> {
        self.start_publish_with(&StreamKey::source(channel), None, publisher_addr, None)
            .await
    }

    /// Starts publishing `key` of the channel row `channel_id`, with the channel's own
    /// segment/part targets if it has them (a reconnect within the grace period keeps the
    /// running playlist's).
    pub async fn start_publish_with(
        self: &Arc<Self>,
        key: &StreamKey,
        channel_id: Option<&str>,
        publisher_addr: String,
        packager: Option<PackagerConfig>,
    ) -> Result<Publisher, PublishError> {
        let _claiming = self.claiming.lock().await;
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(PublishError::ShuttingDown);
        }
        let (first_msn, discontinuity) = match self.decide(key, channel_id, &publisher_addr)? {
            Start::Resumed(p) => return Ok(p),
            Start::New {
                first_msn,
                discontinuity,
            } => (first_msn, discontinuity),
        };
        let claim = self.directory.claim(key).await?;
        if self.shutting_down.load(Ordering::Relaxed) {
            self.release(claim);
            return Err(PublishError::ShuttingDown);
        }
        let stream = self.new_stream(
            claim,
            channel_id,
            first_msn,
            discontinuity,
            publisher_addr,
            packager,
        );
        self.streams.lock().insert(key.clone(), stream.clone());
        Ok(Publisher::new(self.clone(), stream, 0))
    }

    /// Whether a publish of `key` continues the stream there (a reconnect within the grace),
    /// is refused (it is live), or starts a new stream life.
    fn decide(
        self: &Arc<Self>,
        key: &StreamKey,
        channel_id: Option<&str>,
        publisher_addr: &str,
    ) -> Result<Start, PublishError> {
        let Some(existing) = self.get_key(key) else {
            return Ok(Start::New {
                first_msn: 0,
                discontinuity: false,
            });
        };
        let mut c = existing.control.lock();
        // The slug has changed hands since this stream was published: never continue
        // another channel's stream (its playlist and its recording).
        if existing.channel_id.as_deref() != channel_id && c.phase != Phase::Live {
            if matches!(c.phase, Phase::Grace { .. }) {
                existing.end_locked(&mut c);
                drop(c);
                self.release(existing.claim.clone());
            }
            return Ok(Start::New {
                first_msn: 0,
                discontinuity: false,
            });
        }
        match c.phase {
            Phase::Live => Err(PublishError::AlreadyLive(key.to_string())),
            Phase::Grace { .. } => {
                existing.broadcast.resume();
                c.phase = Phase::Live;
                c.generation += 1;
                c.publisher_addr = Some(publisher_addr.to_owned());
                let generation = c.generation;
                drop(c);
                Ok(Start::Resumed(Publisher::new(
                    self.clone(),
                    existing,
                    generation,
                )))
            }
            Phase::Ended { .. } => Ok(Start::New {
                first_msn: c.next_msn.load(Ordering::Relaxed),
                discontinuity: true,
            }),
        }
    }

    /// Gives a stream life's claim back to the directory (in the background: the directory
    /// may be remote, and callers hold locks).
    fn release(&self, claim: Claim) {
        let directory = self.directory.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { directory.release(&claim).await });
        }
    }

    fn new_stream(
        &self,
        claim: Claim,
        channel_id: Option<&str>,
        first_msn: u64,
        discontinuity: bool,
        publisher_addr: String,
        packager: Option<PackagerConfig>,
    ) -> Arc<Stream> {
        let p = &packager.unwrap_or(self.config.packager);
        let window = LiveWindow::new(
            self.config.window_segments,
            p.part_target.as_secs_f64(),
            p.segment_target.as_secs_f64(),
        );
        let sid = new_sid();
        let channel = claim.key.channel.clone();
        let sink = self.sinks.as_ref().map(|f| {
            f.clone().open_sink(SinkTarget {
                channel: &channel,
                channel_id,
                sid: &sid,
            })
        });
        let packager = Packager::new(*p, window.clone(), first_msn, discontinuity, sink)
            .for_stream(&claim.key);
        let next_msn = packager.next_msn_handle();
        let broadcast = Broadcast::new();
        broadcast.attach(Box::new(packager));
        Arc::new(Stream {
            key: claim.key.clone(),
            channel,
            claim,
            channel_id: channel_id.map(str::to_owned),
            sid,
            viewers: Arc::default(),
            broadcast,
            window,
            stats: StreamStats::default(),
            health: crate::health::StreamHealth::new(p.segment_target),
            control: Mutex::new(Control {
                phase: Phase::Live,
                generation: 0,
                next_msn,
                publisher_addr: Some(publisher_addr),
                started_at: SystemTime::now(),
            }),
            thumbnail: Mutex::new((None, None)),
            dvr_stored: Mutex::new(None),
            publisher: Mutex::new(None),
        })
    }

    /// Ends streams whose grace ran out and forgets ended ones past retention. Called
    /// periodically.
    pub fn sweep(&self, now: Instant) {
        let mut streams = self.streams.lock();
        streams.retain(|_, s| {
            let mut c = s.control.lock();
            match c.phase {
                Phase::Grace { since }
                    if now.duration_since(since) >= self.config.unpublish_grace =>
                {
                    tracing::info!(stream = %s.key, "publisher did not come back: stream ended");
                    s.end_locked(&mut c);
                    self.release(s.claim.clone());
                    true
                }
                Phase::Ended { since } => now.duration_since(since) < self.config.ended_retention,
                _ => true,
            }
        });
    }

    /// Updates each stream's measured bit rate and frame rate. Called about once a second.
    pub fn measure(&self, now: Instant) {
        for s in self.list() {
            let st = &s.stats;
            let bytes = st.ingest_bytes.load(Ordering::Relaxed);
            let frames = st.video_frames.load(Ordering::Relaxed);
            let dts = st.video_dts.load(Ordering::Relaxed);
            let mut last = st.last_sample.lock();
            if let Some((t, b, f, d)) = *last {
                let dt = now.duration_since(t).as_secs_f64();
                if dt > 0.05 {
                    st.ingest_bitrate
                        .store(((bytes - b) as f64 * 8.0 / dt) as u64, Ordering::Relaxed);
                }
                // Frames over the media time they span (a new publish restarts timestamps:
                // skip that sample).
                let media = (dts - d) as f64 / f64::from(onair_media::TIMESCALE);
                if media > 0.05 && frames > f {
                    st.fps_milli.store(
                        ((frames - f) as f64 * 1000.0 / media) as u64,
                        Ordering::Relaxed,
                    );
                } else if frames == f {
                    st.fps_milli.store(0, Ordering::Relaxed);
                }
            }
            *last = Some((now, bytes, frames, dts));
            drop(last);
            if s.phase() != Phase::Live {
                continue;
            }
            s.health.record(
                SystemTime::now(),
                st.ingest_bitrate.load(Ordering::Relaxed),
                st.fps(),
            );
        }
    }

    /// Refuses new publishers from now on; a publisher that drops ends its stream at once
    /// (no reconnect grace: it is to reconnect elsewhere), releasing its claim.
    pub fn refuse_new_publishers(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Whether new publishers are refused (draining or shutting down).
    pub fn refuses_new_publishers(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Shutdown: refuse new publishers and end every stream (playlists get ENDLIST).
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        for s in self.streams.lock().values() {
            let mut c = s.control.lock();
            if !matches!(c.phase, Phase::Ended { .. }) {
                s.end_locked(&mut c);
                self.release(s.claim.clone());
            }
        }
    }
}

/// The publishing side of a stream, owned by the ingest connection. Dropping it without
/// [`Publisher::finish`] is an abrupt disconnect.
pub struct Publisher {
    registry: Arc<Registry>,
    pub stream: Arc<Stream>,
    generation: u64,
    finished: bool,
}

impl Publisher {
    fn new(registry: Arc<Registry>, stream: Arc<Stream>, generation: u64) -> Self {
        Self {
            registry,
            stream,
            generation,
            finished: false,
        }
    }

    /// Whether this publisher still publishes its stream (not replaced, not ended). A stream
    /// that ends after this check ignores what is pushed into its closed hub.
    fn current(&self) -> bool {
        let c = self.stream.control.lock();
        c.generation == self.generation && c.phase == Phase::Live
    }

    /// Sequence headers changed.
    pub fn set_tracks(&self, tracks: Tracks) {
        if self.current() {
            self.stream.broadcast.set_tracks(tracks);
        }
    }

    /// A frame from the publisher.
    pub fn push(&self, frame: Frame) {
        match &frame {
            Frame::Video(v) => {
                self.stream.health.on_video(v.dts, v.keyframe);
                let st = &self.stream.stats;
                st.video_dts.store(v.dts, Ordering::Relaxed);
                st.video_frames.fetch_add(1, Ordering::Relaxed)
            }
            Frame::Audio(_) => self
                .stream
                .stats
                .audio_frames
                .fetch_add(1, Ordering::Relaxed),
        };
        if self.current() {
            self.stream.broadcast.push(frame);
        }
    }

    /// Clean end of publishing (FCUnpublish / deleteStream / closeStream).
    pub fn finish(mut self) {
        self.finished = true;
        let mut c = self.stream.control.lock();
        if c.generation == self.generation && c.phase == Phase::Live {
            self.stream.end_locked(&mut c);
            drop(c);
            self.registry.release(self.stream.claim.clone());
            self.registry.released.notify_waiters();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut c = self.stream.control.lock();
        if c.generation == self.generation && c.phase == Phase::Live {
            if self.registry.shutting_down.load(Ordering::Relaxed)
                || self.registry.config.unpublish_grace.is_zero()
            {
                self.stream.end_locked(&mut c);
                self.registry.release(self.stream.claim.clone());
            } else {
                self.stream.broadcast.pause();
                c.phase = Phase::Grace {
                    since: Instant::now(),
                };
                c.publisher_addr = None;
            }
            drop(c);
            self.registry.released.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use onair_media::{TIMESCALE, VideoFrame};

    /// Stream ids are random: neither the time a stream started nor another stream's id
    /// tells what an id is (they used to be the start time in base 36 plus a counter).
    #[test]
    fn stream_ids_are_random() {
        let ids: Vec<String> = (0..1000).map(|_| new_sid()).collect();
        for id in &ids {
            assert_eq!(id.len(), 26, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
                "{id}"
            );
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // Ids made one after the other share no leading characters beyond chance (a time-based
        // id shares most of them), and are not in order.
        let shared =
            |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        assert!(
            ids.windows(2).all(|w| shared(&w[0], &w[1]) < 5),
            "consecutive ids share a prefix"
        );
        assert!(ids.windows(2).any(|w| w[0] > w[1]), "ids are time-ordered");
    }

    fn with_grace() -> Arc<Registry> {
        Registry::new(StreamConfig {
            unpublish_grace: Duration::from_secs(60),
            ..*Registry::for_tests().config()
        })
    }

    /// A publisher returning within the grace period continues its stream, unless the name
    /// now belongs to another channel: that one starts a stream (and a recording) of its own.
    #[tokio::test]
    async fn a_stream_is_continued_only_by_its_own_channel() {
        let registry = with_grace();
        let key = StreamKey::source("m");
        let first = registry
            .start_publish_with(&key, Some("a"), "x".into(), None)
            .await
            .unwrap();
        let sid = first.stream.sid.clone();
        drop(first);
        let again = registry
            .start_publish_with(&key, Some("a"), "x".into(), None)
            .await
            .unwrap();
        assert_eq!(again.stream.sid, sid, "continued within the grace period");
        drop(again);
        let other = registry
            .start_publish_with(&key, Some("b"), "y".into(), None)
            .await
            .unwrap();
        assert_ne!(other.stream.sid, sid);
        assert_eq!(other.stream.channel_id.as_deref(), Some("b"));
        assert_eq!(other.stream.key, key);
    }

    /// Each stream life claims its key with a new epoch and keeps it through a reconnect
    /// within the grace; the claim is released when the stream ends; a second publisher of a
    /// live key is refused without claiming (the first keeps its epoch).
    #[tokio::test]
    async fn stream_lives_claim_with_increasing_epochs() {
        let registry = with_grace();
        let key = StreamKey::source("cam");
        let owner = || registry.directory().owner(&key);
        let first = registry.start_publish("cam", "a".into()).await.unwrap();
        assert_eq!(first.stream.claim.epoch, 1);
        assert_eq!(first.stream.claim.node, "local");
        assert_eq!(
            registry.start_publish("cam", "b".into()).await.err(),
            Some(PublishError::AlreadyLive("cam".into()))
        );
        assert_eq!(owner().await.map(|c| c.epoch), Some(1));
        drop(first);
        let resumed = registry.start_publish("cam", "a".into()).await.unwrap();
        assert_eq!(resumed.stream.claim.epoch, 1, "a reconnect keeps the claim");
        resumed.finish();
        // The release runs in the background.
        tokio::task::yield_now().await;
        assert_eq!(owner().await, None, "released when the stream ended");
        let next = registry.start_publish("cam", "a".into()).await.unwrap();
        assert_eq!(next.stream.claim.epoch, 2);
        // Another rendition of the channel is a stream of its own, listed after the source.
        let low = StreamKey {
            channel: "cam".into(),
            rendition: "480p".into(),
        };
        let p = registry
            .start_publish_with(&low, None, "t".into(), None)
            .await
            .unwrap();
        assert_eq!(p.stream.claim.epoch, 1);
        let names: Vec<_> = registry
            .renditions("cam")
            .iter()
            .map(|s| s.key.rendition.clone())
            .collect();
        assert_eq!(names, ["source", "480p"]);
        assert_eq!(registry.get("cam").unwrap().sid, next.stream.sid);
    }

    /// The packager is attached to the stream's hub: frames pushed by the publisher reach the
    /// live window, and a stream that ended continues the numbering of its successor.
    #[tokio::test]
    async fn the_packager_consumes_the_hub() {
        let registry = Registry::for_tests();
        let p = registry.start_publish("m", "x".into()).await.unwrap();
        assert_eq!(p.stream.broadcast.attached_count(), 1);
        let aac = onair_media::AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap();
        p.set_tracks(Tracks {
            video: None,
            audio: Some(onair_media::AudioConfig::Aac(aac)),
        });
        for i in 0..200 {
            p.push(Frame::Audio(onair_media::AudioFrame {
                dts: i * i64::from(TIMESCALE) / 50,
                data: Bytes::from_static(&[0x21, 0x10]),
            }));
        }
        let last = p.stream.window.read().last_complete_msn();
        assert!(last.is_some_and(|m| m >= 2), "segments packaged: {last:?}");
        p.finish();
        assert!(p_ended(&registry, "m"));
        let again = registry.start_publish("m", "x".into()).await.unwrap();
        let next = again.stream.control.lock().next_msn.load(Ordering::Relaxed);
        assert!(next > last.unwrap(), "numbering continues: {next}");
    }

    fn p_ended(registry: &Registry, channel: &str) -> bool {
        let s = registry.get(channel).unwrap();
        s.window.read().ended && matches!(s.phase(), Phase::Ended { .. })
    }

    /// The frame rate is the frames' own (timestamps), not their arrival rate: 50 frames 40 ms
    /// apart that arrive in one burst are 25 fps, not 500.
    #[tokio::test]
    async fn frame_rate_is_measured_in_media_time() {
        let registry = Registry::for_tests();
        let p = registry.start_publish("m", "x".into()).await.unwrap();
        let t0 = Instant::now();
        registry.measure(t0);
        let tick = i64::from(TIMESCALE) / 25;
        for i in 1..=50 {
            p.push(Frame::Video(VideoFrame {
                dts: i * tick,
                cts: 0,
                keyframe: i == 1,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            }));
        }
        registry.measure(t0 + Duration::from_millis(100));
        let fps = p.stream.stats.fps();
        assert!((fps - 25.0).abs() < 0.6, "fps {fps}");
        // No frames since: the stream is not running at its old rate any more.
        registry.measure(t0 + Duration::from_millis(1100));
        assert_eq!(p.stream.stats.fps(), 0.0);
    }
}
