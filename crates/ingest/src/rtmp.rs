//! RTMP ingest driver: a tokio task per connection around the sans-IO
//! [`onair_rtmp::ServerSession`]. It owns the socket and the clock, authorizes publishes through
//! the [`PublishAuthorizer`], turns FLV tag bodies into frames and hands them to the stream's
//! [`Publisher`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_media::flv::{self, AudioTag, VideoTag};
use onair_media::{AacConfig, AudioConfig, AudioFrame, Frame, Tracks, VideoFrame};
use onair_rtmp::{ServerConfig, ServerEvent, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use onair_live::directory::StreamKey;
use onair_live::publish::{PublishAuthorizer, PublishEnded, PublishRequest, PublishStarted};
use onair_live::stream::live_publish::LiveHandle;
use onair_live::stream::{PublishError, Publisher, Registry};

use crate::limits::{BufferBudget, PendingByAddress, PendingSlot};

/// How long a takeover waits for the replaced publisher to let go of the channel.
const TAKEOVER_WAIT: Duration = Duration::from_secs(3);

pub use crate::limits::{
    DEFAULT_RTMP_BUFFER_BUDGET as DEFAULT_BUFFER_BUDGET,
    DEFAULT_RTMP_CONNECTIONS as DEFAULT_MAX_CONNECTIONS,
    DEFAULT_RTMP_PENDING_PER_IP as DEFAULT_MAX_PENDING_PER_IP,
};
/// Socket reads go into blocks of this size; message payloads are slices of them.
const READ_BLOCK: usize = 64 * 1024;
/// A new block is taken when less than this is left in the current one.
const MIN_READ_SPACE: usize = 8 * 1024;
/// Before a publish is accepted, reads go into small blocks: the handshake and the commands
/// are a few KiB, and thousands of waiting connections should not each pin 64 KiB.
const PRE_PUBLISH_READ_BLOCK: usize = 4 * 1024;
const PRE_PUBLISH_MIN_READ_SPACE: usize = 1024;

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub publish_timeout: Duration,
    /// 0: no limit.
    pub max_pending_per_ip: usize,
    pub buffer_budget: usize,
    /// Exempt from `max_pending_per_ip` (`--trusted-proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Makes the id of each accepted publish (the repository's, so publish sessions sort with
    /// its other ids).
    pub new_session_id: fn() -> String,
}

pub struct Ingest {
    pub registry: Arc<Registry>,
    pub authorizer: Arc<dyn PublishAuthorizer>,
    pub config: IngestConfig,
    /// Registered once: looking a counter up by name on every socket read showed in profiles.
    ingest_bytes: metrics::Counter,
    pending: PendingByAddress,
    budget: Arc<BufferBudget>,
}

impl Ingest {
    pub fn new(
        registry: Arc<Registry>,
        authorizer: Arc<dyn PublishAuthorizer>,
        config: IngestConfig,
    ) -> Self {
        Self {
            registry,
            authorizer,
            ingest_bytes: metrics::counter!("onair_ingest_bytes_total"),
            pending: PendingByAddress::new(
                config.max_pending_per_ip,
                config.trusted_proxies.clone(),
            ),
            budget: BufferBudget::new(config.buffer_budget),
            config,
        }
    }

    /// Accepts connections until `shutdown` fires.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.config.max_connections));
        loop {
            let (socket, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "rtmp accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                metrics::counter!("onair_rtmp_connections_refused_total", "reason" => "max_connections").increment(1);
                tracing::warn!(%peer, "rtmp connection refused: MAX connections reached");
                drop(socket);
                continue;
            };
            let Some(pending) = self.pending.try_acquire(peer.ip()) else {
                metrics::counter!("onair_rtmp_connections_refused_total", "reason" => "pending_per_ip").increment(1);
                tracing::warn!(%peer, "rtmp connection refused: the address holds MAX pending (not yet publishing) connections");
                drop(socket);
                continue;
            };
            let this = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let _permit = permit;
                metrics::gauge!("onair_rtmp_connections").increment(1.0);
                match this.connection(socket, peer, pending, shutdown).await {
                    Ok(()) => tracing::debug!(%peer, "rtmp connection closed"),
                    Err(e) => tracing::info!(%peer, error = %e, "rtmp connection closed"),
                }
                metrics::gauge!("onair_rtmp_connections").decrement(1.0);
            });
        }
    }

    async fn connection(
        &self,
        socket: TcpStream,
        peer: SocketAddr,
        pending: PendingSlot,
        shutdown: CancellationToken,
    ) -> Result<(), ConnectionError> {
        let mut conn = Connection {
            peer,
            pending,
            publisher: None,
            media: MediaState::default(),
            stop: false,
            live: None,
            end_reason: None,
        };
        let result = self.serve_connection(socket, &mut conn, shutdown).await;
        if let Some(p) = &conn.publisher {
            // Frames held back for a sequence header still go out before the stream pauses.
            conn.media.release(p);
        }
        let reason = match (&conn.end_reason, &result) {
            (Some(r), _) => r.clone(),
            (None, Ok(())) => "disconnected".to_owned(),
            (None, Err(_)) => "error".to_owned(),
        };
        self.end_publish(&mut conn, reason);
        result
    }

    /// Reports the end of the connection's publish (if any) to the authorizer, off this task.
    fn end_publish(&self, conn: &mut Connection, reason: String) {
        let Some(live) = conn.live.take() else {
            return;
        };
        let tracks = conn.publisher.as_ref().and_then(|p| p.stream.tracks());
        let mut ended = PublishEnded {
            bytes: live.bytes,
            duration: live.since.elapsed(),
            reason,
            ..PublishEnded::default()
        };
        if let Some(t) = tracks.or_else(|| live.tracks.clone()) {
            if let Some(v) = &t.video {
                ended.video_codec = Some(v.codecs());
                let (w, h) = match v {
                    onair_media::VideoConfig::Avc(c) => (c.width, c.height),
                    onair_media::VideoConfig::Hevc(c) => (c.width, c.height),
                };
                ended.width = Some(w);
                ended.height = Some(h);
            }
            ended.audio_codec = t.audio.as_ref().map(|a| a.codecs());
        }
        drop(live.handle);
        let authorizer = self.authorizer.clone();
        let started = live.started;
        tokio::spawn(async move { authorizer.ended(&started, &ended).await });
    }

    async fn serve_connection(
        &self,
        mut socket: TcpStream,
        conn: &mut Connection,
        shutdown: CancellationToken,
    ) -> Result<(), ConnectionError> {
        let _ = socket.set_nodelay(true);
        let config = ServerConfig {
            handshake_timeout: self.config.handshake_timeout,
            idle_timeout: self.config.idle_timeout,
            publish_timeout: self.config.publish_timeout,
            ..ServerConfig::default()
        };
        let mut session = ServerSession::new(config, Instant::now());
        let mut buffered = self.budget.share();
        loop {
            while let Some(event) = session.poll_event() {
                self.on_event(&mut session, conn, event).await;
            }
            while let Some(out) = session.poll_output() {
                socket.write_all(&out).await?;
            }
            if conn.stop {
                return Ok(());
            }
            let deadline = session.poll_timeout();
            // Read straight into the session's buffer: payload slices are taken from it.
            let buf = session.input_buffer();
            // Fill each block before taking another: frames hold slices of these blocks for as
            // long as the live window keeps them.
            let (block, min_space) = if conn.publisher.is_some() {
                (READ_BLOCK, MIN_READ_SPACE)
            } else {
                (PRE_PUBLISH_READ_BLOCK, PRE_PUBLISH_MIN_READ_SPACE)
            };
            if buf.capacity() - buf.len() < min_space {
                buf.reserve(block);
            }
            let read = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d.into(), socket.read_buf(buf))
                        .await
                        .ok(),
                    None => Some(socket.read_buf(buf).await),
                }
            };
            let kicked = async {
                match &conn.live {
                    Some(live) => live.handle.kicked().await,
                    None => std::future::pending().await,
                }
            };
            let r = tokio::select! {
                _ = shutdown.cancelled() => {
                    conn.end_reason = Some("shutdown".to_owned());
                    if let Some(p) = conn.publisher.take() { conn.media.release(&p); p.finish(); }
                    return Ok(());
                }
                _ = kicked => {
                    let reason = conn.live.as_ref().and_then(|l| l.handle.kick_reason()).unwrap_or_else(|| "kicked".to_owned());
                    tracing::info!(peer = %conn.peer, %reason, "publisher kicked");
                    if let Some(p) = conn.publisher.take() {
                        conn.media.release(&p);
                        if let Some(live) = conn.live.as_mut() { live.tracks = p.stream.tracks(); }
                        p.finish();
                    }
                    conn.end_reason = Some(reason);
                    return Ok(());
                }
                r = read => r,
            };
            match r {
                None => session.handle_timeout(Instant::now())?,
                Some(Ok(0)) => return Ok(()),
                Some(Ok(n)) => {
                    if let Some(p) = &conn.publisher {
                        p.stream
                            .stats
                            .ingest_bytes
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                    if let Some(live) = conn.live.as_mut() {
                        live.bytes += n as u64;
                    }
                    self.ingest_bytes.increment(n as u64);
                    session.process(n, Instant::now())?;
                    if !buffered.update(session.buffered_bytes()) {
                        metrics::counter!("onair_rtmp_buffer_budget_closed_total").increment(1);
                        return Err(ConnectionError::OverBudget(self.budget.used()));
                    }
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }

    async fn on_event(
        &self,
        session: &mut ServerSession,
        conn: &mut Connection,
        event: ServerEvent,
    ) {
        match event {
            ServerEvent::Connect { app, .. } => {
                tracing::debug!(peer = %conn.peer, %app, "rtmp connect");
            }
            ServerEvent::PublishRequest {
                stream_id,
                app,
                stream_name,
                query,
                ..
            } => {
                if conn.publisher.is_some() {
                    session.reject_publish(
                        stream_id,
                        "NetStream.Publish.BadName",
                        "already publishing",
                    );
                    conn.stop = true;
                    return;
                }
                let request = PublishRequest {
                    app,
                    name: stream_name,
                    query,
                    peer: conn.peer,
                };
                let grant = match self.authorizer.authorize(&request).await {
                    Ok(g) => g,
                    Err(denied) => {
                        tracing::info!(peer = %conn.peer, name = %request.name, reason = %denied, "publish refused");
                        metrics::counter!("onair_publish_refused_total", "reason" => denied.code())
                            .increment(1);
                        session.reject_publish(stream_id, denied.code(), &denied.to_string());
                        conn.stop = true;
                        return;
                    }
                };
                let key = StreamKey::source(&grant.channel);
                let try_publish = || {
                    self.registry.start_publish_with(
                        &key,
                        grant.channel_id.as_deref(),
                        conn.peer.to_string(),
                        grant.packager,
                    )
                };
                let mut started = try_publish().await;
                if grant.takeover && matches!(started, Err(PublishError::AlreadyLive(_))) {
                    // Replace the live publisher: kick it and wait until it lets go (woken by
                    // the registry, not polled).
                    self.registry.kick_channel(&grant.channel, "takeover");
                    let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
                    while matches!(started, Err(PublishError::AlreadyLive(_))) {
                        let released = self.registry.released();
                        tokio::pin!(released);
                        released.as_mut().enable();
                        started = try_publish().await;
                        if !matches!(started, Err(PublishError::AlreadyLive(_)))
                            || tokio::time::timeout_at(deadline, released).await.is_err()
                        {
                            break;
                        }
                    }
                }
                match started {
                    Ok(p) => {
                        if let Err(e) = session.accept_publish(stream_id, Instant::now()) {
                            tracing::warn!(error = %e, "accepting publish failed");
                            conn.stop = true;
                            return;
                        }
                        tracing::info!(peer = %conn.peer, channel = %grant.channel, "publish started");
                        metrics::counter!("onair_publish_started_total").increment(1);
                        let stream = p.stream.clone();
                        conn.publisher = Some(p);
                        // A publishing connection no longer counts against its address.
                        conn.pending = None;
                        conn.media = MediaState::default();
                        let session_id = (self.config.new_session_id)();
                        let started = PublishStarted {
                            request: request.clone(),
                            grant: grant.clone(),
                            session_id: session_id.clone(),
                            peer: conn.peer,
                        };
                        let handle =
                            LiveHandle::register(&stream, &session_id, grant.device_id.as_deref());
                        self.authorizer.started(&started).await;
                        conn.live = Some(LivePublish {
                            started,
                            handle,
                            since: Instant::now(),
                            bytes: 0,
                            tracks: None,
                        });
                    }
                    Err(e) => {
                        let code = match e {
                            PublishError::AlreadyLive(_) => "NetStream.Publish.BadName",
                            PublishError::ShuttingDown | PublishError::Unavailable(_) => {
                                "NetStream.Publish.Failed"
                            }
                        };
                        tracing::info!(peer = %conn.peer, channel = %grant.channel, reason = %e, "publish refused");
                        metrics::counter!("onair_publish_refused_total", "reason" => code)
                            .increment(1);
                        let reason = e.to_string();
                        self.authorizer.refused(&request, &grant, &reason).await;
                        session.reject_publish(stream_id, code, &reason);
                        conn.stop = true;
                    }
                }
            }
            ServerEvent::Unpublish { .. } => {
                if let Some(p) = conn.publisher.take() {
                    tracing::info!(peer = %conn.peer, channel = %p.stream.channel, "publish stopped");
                    conn.media.release(&p);
                    if let Some(live) = conn.live.as_mut() {
                        live.tracks = p.stream.tracks();
                    }
                    p.finish();
                    self.end_publish(conn, "unpublished".to_owned());
                }
            }
            ServerEvent::Video {
                timestamp, payload, ..
            } => {
                if let Some(p) = &conn.publisher {
                    conn.media.on_video(p, timestamp, payload);
                }
            }
            ServerEvent::Audio {
                timestamp, payload, ..
            } => {
                if let Some(p) = &conn.publisher {
                    conn.media.on_audio(p, timestamp, payload);
                }
            }
            ServerEvent::Metadata { values, .. } => conn.media.on_metadata(&values),
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
}

struct Connection {
    peer: SocketAddr,
    /// Its place among its address's not-yet-publishing connections, until a publish starts.
    pending: PendingSlot,
    publisher: Option<Publisher>,
    media: MediaState,
    stop: bool,
    /// The publish in progress, as the authorizer and the API know it.
    live: Option<LivePublish>,
    /// Why the connection ends, when this side ends it.
    end_reason: Option<String>,
}

struct LivePublish {
    started: PublishStarted,
    handle: LiveHandle,
    since: Instant,
    /// Bytes received since the publish started.
    bytes: u64,
    /// Tracks, kept when the publisher is finished before the end is reported.
    tracks: Option<Arc<Tracks>>,
}

/// Frames held back at most while waiting for the sequence header of a track that
/// onMetaData announced.
const MAX_HELD_FRAMES: usize = 512;
/// Media time held back at most for the same reason (90 kHz ticks: 2 s).
const MAX_HELD_TICKS: i64 = 2 * onair_media::TIMESCALE as i64;
/// Without onMetaData, media time held back at most for a second track's sequence header
/// (90 kHz ticks: 1 s): a single-track stream starts that much later, a stream whose second
/// header comes a few frames late starts with both tracks instead of restarting behind a
/// discontinuity with a track added (which strict players such as GStreamer do not follow live,
/// and which the multivariant playlist's CODECS would not have announced).
const UNANNOUNCED_HELD_TICKS: i64 = onair_media::TIMESCALE as i64;

/// Per-publish media state: sequence headers seen so far and timestamp unwrapping.
#[derive(Default)]
struct MediaState {
    pending: Tracks,
    committed: bool,
    clock: Option<(u32, i64)>,
    bad_tags: u64,
    /// Tracks onMetaData announced (videocodecid / audiocodecid), and whether it came.
    expect_video: bool,
    expect_audio: bool,
    metadata: bool,
    /// Frames received before every announced track's sequence header arrived.
    held: Vec<Frame>,
}

impl MediaState {
    /// RTMP timestamps are 32-bit milliseconds that wrap (spec §5.3.1.3); extends them to i64
    /// on the assumption that consecutive messages are less than 24 days apart.
    fn unwrap_ms(&mut self, ts: u32) -> i64 {
        let ext = match self.clock {
            None => i64::from(ts),
            Some((last, last_ext)) => last_ext + i64::from(ts.wrapping_sub(last) as i32),
        };
        self.clock = Some((ts, ext));
        ext
    }

    fn on_metadata(&mut self, meta: &onair_rtmp::amf0::Value) {
        use onair_rtmp::amf0::Value;
        let announced = |key: &str| match meta.get(key) {
            Some(Value::Number(n)) => *n != 0.0,
            Some(Value::String(s)) => !s.is_empty(),
            _ => false,
        };
        self.expect_video = announced("videocodecid");
        self.expect_audio = announced("audiocodecid");
        self.metadata = true;
    }

    /// Sequence headers are collected before packaging starts, so that a stream with both
    /// tracks starts with both in its first init segment (a later change restarts packaging
    /// behind a discontinuity). Packaging starts at the first coded frame once every track that
    /// onMetaData announced has its header — some encoders send audio frames before the video
    /// header — holding frames back meanwhile, within MAX_HELD_FRAMES / MAX_HELD_TICKS. Without
    /// onMetaData, it starts once both tracks have headers or after UNANNOUNCED_HELD_TICKS.
    fn emit(&mut self, p: &Publisher, frame: Frame) {
        if self.committed {
            p.push(frame);
            return;
        }
        self.held.push(frame);
        let (complete, max_ticks) = if self.metadata {
            let complete = (!self.expect_video || self.pending.video.is_some())
                && (!self.expect_audio || self.pending.audio.is_some());
            (complete, MAX_HELD_TICKS)
        } else {
            let both = self.pending.video.is_some() && self.pending.audio.is_some();
            (both, UNANNOUNCED_HELD_TICKS)
        };
        let span = match (self.held.first(), self.held.last()) {
            (Some(a), Some(b)) => b.dts() - a.dts(),
            _ => 0,
        };
        if complete || self.held.len() >= MAX_HELD_FRAMES || span >= max_ticks {
            self.commit(p);
        }
    }

    /// Starts packaging with the tracks seen so far and the frames held back.
    fn commit(&mut self, p: &Publisher) {
        self.committed = true;
        p.set_tracks(self.pending.clone());
        for f in self.held.drain(..) {
            p.push(f);
        }
    }

    /// The publish ends: packages the frames still held back for a sequence header.
    fn release(&mut self, p: &Publisher) {
        if !self.committed && !self.held.is_empty() {
            self.commit(p);
        }
    }

    fn on_video(&mut self, p: &Publisher, timestamp: u32, payload: Bytes) {
        let ms = self.unwrap_ms(timestamp);
        match flv::parse_video_tag(payload) {
            Ok(VideoTag::SequenceHeader { codec, record }) => {
                match flv::video_config_from(codec, record) {
                    Ok(cfg) => {
                        if self.pending.video.as_ref() != Some(&cfg) {
                            self.pending.video = Some(cfg);
                            if self.committed {
                                p.set_tracks(self.pending.clone());
                            }
                        }
                    }
                    Err(e) => self.bad(p, "video sequence header", &e),
                }
            }
            Ok(VideoTag::Frame {
                keyframe,
                cts_ms,
                data,
                ..
            }) => {
                if self.pending.video.is_none() {
                    return;
                }
                let frame = Frame::Video(VideoFrame {
                    dts: onair_media::frame::ms_to_ticks(ms),
                    cts: cts_ms.saturating_mul(90),
                    keyframe,
                    data,
                });
                self.emit(p, frame);
            }
            Ok(_) => {}
            Err(e) => self.bad(p, "video tag", &e),
        }
    }

    fn on_audio(&mut self, p: &Publisher, timestamp: u32, payload: Bytes) {
        let ms = self.unwrap_ms(timestamp);
        match flv::parse_audio_tag(payload) {
            Ok(AudioTag::AacSequenceHeader { asc }) => match AacConfig::parse(asc) {
                Ok(cfg) => {
                    let cfg = AudioConfig::Aac(cfg);
                    if self.pending.audio.as_ref() != Some(&cfg) {
                        self.pending.audio = Some(cfg);
                        if self.committed {
                            p.set_tracks(self.pending.clone());
                        }
                    }
                }
                Err(e) => self.bad(p, "AAC sequence header", &e),
            },
            Ok(AudioTag::AacRaw { data }) => {
                if self.pending.audio.is_none() {
                    return;
                }
                let frame = Frame::Audio(AudioFrame {
                    dts: onair_media::frame::ms_to_ticks(ms),
                    data,
                });
                self.emit(p, frame);
            }
            Ok(_) => {}
            Err(e) => self.bad(p, "audio tag", &e),
        }
    }

    fn bad(&mut self, p: &Publisher, what: &str, e: &dyn std::fmt::Display) {
        self.bad_tags += 1;
        metrics::counter!("onair_ingest_bad_tags_total").increment(1);
        // Log the first few only: a broken encoder must not flood the log.
        if self.bad_tags <= 5 {
            tracing::warn!(channel = %p.stream.channel, error = %e, "ignoring bad {what}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("rtmp: {0}")]
    Rtmp(#[from] onair_rtmp::RtmpError),
    #[error(
        "partly received messages of all connections exceed the RTMP buffer budget ({0} bytes held)"
    )]
    OverBudget(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_media::flv::{FlvReader, FlvTag, TAG_AUDIO, TAG_VIDEO};

    /// The fixture's audio and video tags (sequence headers first in each).
    fn fixture_tags() -> (Vec<FlvTag>, Vec<FlvTag>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/live_h264_aac.flv");
        FlvReader::new(Bytes::from(std::fs::read(path).unwrap()))
            .unwrap()
            .map(|t| t.unwrap())
            .filter(|t| t.tag_type == TAG_AUDIO || t.tag_type == TAG_VIDEO)
            .partition(|t| t.tag_type == TAG_AUDIO)
    }

    /// Feeds `tags` to a fresh MediaState (with `meta` as onMetaData) publishing `name`; the
    /// stream's (init segments, tracks, segments) once it finished.
    async fn publish(
        registry: &Arc<Registry>,
        name: &str,
        meta: Option<onair_rtmp::amf0::Value>,
        tags: Vec<FlvTag>,
    ) -> (usize, Tracks, Vec<onair_live::window::SegmentData>) {
        let p = registry.start_publish(name, "x".into()).await.unwrap();
        let mut m = MediaState::default();
        if let Some(meta) = meta {
            m.on_metadata(&meta);
        }
        for t in tags {
            if t.tag_type == TAG_AUDIO {
                m.on_audio(&p, t.timestamp_ms, t.body);
            } else {
                m.on_video(&p, t.timestamp_ms, t.body);
            }
        }
        m.release(&p);
        let stream = p.stream.clone();
        p.finish();
        let w = stream.window.read();
        let tracks = w.tracks.as_deref().cloned().unwrap_or_default();
        (w.inits.len(), tracks, w.segments.iter().cloned().collect())
    }

    /// An encoder that sends audio before the video sequence header still gets one init
    /// segment with both tracks (no restart, no discontinuity) when onMetaData announced both.
    #[tokio::test]
    async fn tracks_announced_in_metadata_are_awaited() {
        use onair_rtmp::amf0::Value;
        // Audio first (header and 20 frames), then the video header, then the rest.
        let (audio, video) = fixture_tags();
        let mut order: Vec<_> = audio[..21].to_vec();
        let mut rest: Vec<_> = video
            .into_iter()
            .chain(audio[21..].iter().cloned())
            .collect();
        rest.sort_by_key(|t| t.timestamp_ms);
        order.extend(rest);

        let meta = Value::object([("videocodecid", 7.0.into()), ("audiocodecid", 10.0.into())]);
        let (inits, tracks, segments) =
            publish(&Registry::for_tests(), "m", Some(meta), order).await;
        assert_eq!(inits, 1, "one init segment");
        assert!(tracks.video.is_some() && tracks.audio.is_some());
        assert!(segments.iter().all(|s| !s.discontinuity), "no restart");
        assert!(segments.len() >= 7);
    }

    /// Without onMetaData, an audio header a few frames after the first video frame still
    /// makes one init segment with both tracks; a video-only stream starts after the hold, or
    /// at its end when it is shorter.
    #[tokio::test]
    async fn unannounced_tracks_are_awaited_briefly() {
        let (audio, video) = fixture_tags();
        let registry = Registry::for_tests();

        // Video header and three frames, then the audio header, then the rest in order.
        let mut order: Vec<_> = video[..4].to_vec();
        let mut rest: Vec<_> = audio
            .iter()
            .cloned()
            .chain(video[4..].iter().cloned())
            .collect();
        rest.sort_by_key(|t| (t.timestamp_ms, t.body.get(1) != Some(&0)));
        order.extend(rest);
        let (inits, tracks, segments) = publish(&registry, "late-audio", None, order).await;
        assert_eq!(inits, 1, "one init segment");
        assert!(tracks.video.is_some() && tracks.audio.is_some());
        assert!(segments.iter().all(|s| !s.discontinuity), "no restart");
        assert!(segments.len() >= 7);

        // Half a second of video only, ended before the hold is over: released at the end.
        let short = video.iter().take(13).cloned().collect();
        let (_, _, segments) = publish(&registry, "short", None, short).await;
        assert_eq!(segments.len(), 1);

        // Video only: it starts after the hold, and nothing is lost by waiting.
        let (inits, tracks, segments) = publish(&registry, "video-only", None, video).await;
        assert_eq!(inits, 1);
        assert!(tracks.audio.is_none());
        let seconds: f64 = segments.iter().filter_map(|s| s.duration).sum();
        assert!((7.9..8.1).contains(&seconds), "{seconds} s");
    }

    #[test]
    fn timestamps_unwrap_across_the_32_bit_boundary() {
        let mut m = MediaState::default();
        assert_eq!(m.unwrap_ms(u32::MAX - 10), i64::from(u32::MAX - 10));
        assert_eq!(m.unwrap_ms(5), i64::from(u32::MAX) + 6);
        // Small backwards steps (audio/video interleave) stay small.
        assert_eq!(m.unwrap_ms(3), i64::from(u32::MAX) + 4);
    }
}
