//! The per-stream storage write path.
//!
//! ```text
//! packager ─try_send─▶ writer task ──fsync──▶ spool/{owner}/{sid}/NNN.entry
//!                                               │ (queue, notify)
//!                                               ▼
//!                      uploader task ─PUT (≤ UPLOAD_CONCURRENCY at once, retried)─▶ store
//!                                    └ in order: playlists, state.json, delete entries
//! ```
//!
//! The packager never waits: it hands finished segments to a bounded queue. The writer makes
//! each one durable on local disk (the spool is bounded by `--storage-spool-max-bytes`; past
//! it, segments are counted as dropped and the next stored one carries a discontinuity). The
//! uploader uploads entries in order, several at a time, retrying each with exponential backoff
//! for as long as it takes; only after every object of a batch is stored does it rewrite the
//! stored playlists, so no reader of the bucket ever sees a reference to a missing object. A
//! node that dies keeps its spool: at the next start [`Storage::resume`] uploads what is left
//! and finishes those recordings.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use onair_hls::playlist::{MediaPlaylist, PlaylistType, RenderOptions, SegmentEntry};
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::spool::{self, Entry, Header, Meter, SegmentMeta, StoredState};
use super::{
    FINISHED_PLAYLIST, GROWING_PLAYLIST, IMMUTABLE, StorageSettings, Store, StoreError, layout,
};

/// Segments of one stream uploaded at once.
pub const UPLOAD_CONCURRENCY: usize = 4;
/// Segments queued between the packager and the spool writer.
pub const SINK_QUEUE: usize = 256;
/// First retry delay of a failed upload; doubles up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);
/// Header allowance counted against the spool bound per entry.
const ENTRY_OVERHEAD: u64 = 512;

pub use onair_live::sink::{ClosedSegment, SegmentSink};

/// Hears what was stored (the recordings catalogue). Called from the uploader, in order.
pub trait StorageEvents: Send + Sync {
    /// Objects up to `state.segments.last()` are stored.
    fn stored<'a>(&'a self, state: &'a StoredState) -> futures_util::future::BoxFuture<'a, ()>;
    /// The stream is completely stored, with its final playlist.
    fn finished<'a>(&'a self, state: &'a StoredState) -> futures_util::future::BoxFuture<'a, ()>;
}

enum Job {
    Init(u32, Bytes),
    Segment(ClosedSegment),
    End,
}

/// The node's storage: the store, the spool and the per-stream tasks.
pub struct Storage {
    store: Store,
    spool_root: PathBuf,
    meter: Arc<Meter>,
    events: Mutex<Option<Arc<dyn StorageEvents>>>,
    /// Streams still uploading.
    active: AtomicUsize,
    idle: Notify,
    shutdown: CancellationToken,
}

impl Storage {
    pub fn new(store: Store, settings: &StorageSettings) -> Arc<Self> {
        Arc::new(Self {
            store,
            spool_root: settings.spool_dir.clone(),
            meter: Arc::new(Meter::new(settings.spool_max_bytes)),
            events: Mutex::new(None),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            shutdown: CancellationToken::new(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn set_events(&self, events: Arc<dyn StorageEvents>) {
        *self.events.lock() = Some(events);
    }

    /// Bytes in the spool now.
    pub fn spool_bytes(&self) -> u64 {
        self.meter.bytes()
    }

    /// The sink of a new stream life of `channel` (its slug), whose database id is
    /// `channel_id` (`None` without a channel row: open publishing).
    pub fn open(
        self: &Arc<Self>,
        channel: &str,
        channel_id: Option<&str>,
        sid: &str,
    ) -> Arc<StreamSink> {
        let (tx, rx) = mpsc::channel(SINK_QUEUE);
        let queue = Arc::new(Queue::default());
        let dir = self
            .spool_root
            .join(layout::owner(channel_id, channel))
            .join(sid);
        let state = StoredState {
            channel: channel.to_owned(),
            channel_id: channel_id.map(str::to_owned),
            sid: sid.to_owned(),
            ..Default::default()
        };
        self.active.fetch_add(1, Ordering::AcqRel);
        let (meter, d, q, initial) = (
            self.meter.clone(),
            dir.clone(),
            queue.clone(),
            state.clone(),
        );
        tokio::spawn(async move {
            // `state.json` before the first entry: whoever resumes this directory after a
            // crash learns whose stream it is from it (the directory names no slug), and the
            // recording goes to the channel that published it even if the slug has changed
            // hands since.
            let path = d.clone();
            let saved =
                tokio::task::spawn_blocking(move || spool::save_state(&path, &initial)).await;
            if !matches!(saved, Ok(Ok(()))) {
                tracing::error!(dir = %d.display(), "saving storage state failed");
            }
            writer(meter, d, rx, q, 0).await
        });
        tokio::spawn(self.clone().uploader(dir, queue, state));
        Arc::new(StreamSink { tx })
    }

    /// Picks up what an earlier run of this node left in the spool: uploads it and finishes
    /// those streams (their publishers are gone). Returns how many streams were resumed.
    pub async fn resume(self: &Arc<Self>) -> usize {
        let root = self.spool_root.clone();
        let found =
            tokio::task::spawn_blocking(move || -> Vec<(PathBuf, Vec<Entry>, StoredState)> {
                let mut out = Vec::new();
                let Ok(channels) = std::fs::read_dir(&root) else {
                    return out;
                };
                for ch in channels.flatten() {
                    let Ok(sids) = std::fs::read_dir(ch.path()) else {
                        continue;
                    };
                    for s in sids.flatten() {
                        let dir = s.path();
                        let entries = spool::scan(&dir).unwrap_or_default();
                        // Without `state.json` (an earlier version that crashed before
                        // its first upload), the directory is named by the slug.
                        let state = spool::load_state(&dir).unwrap_or_else(|| StoredState {
                            channel: ch.file_name().to_string_lossy().into_owned(),
                            sid: s.file_name().to_string_lossy().into_owned(),
                            ..Default::default()
                        });
                        out.push((dir, entries, state));
                    }
                }
                out
            })
            .await
            .unwrap_or_default();
        let n = found.len();
        for (dir, entries, state) in found {
            tracing::info!(channel = %state.channel, sid = %state.sid, entries = entries.len(), "resuming storage of an earlier run");
            let queue = Arc::new(Queue::default());
            for e in &entries {
                self.meter.force(e.size);
            }
            let ended = entries.iter().any(|e| e.header == Header::End);
            {
                let mut q = queue.inner.lock();
                q.entries.extend(entries);
                q.closed = true;
            }
            if !ended && !state.ended {
                // The publisher is gone with the old process: finish the recording.
                let next = queue.inner.lock().entries.back().map_or(0, |e| e.seq + 1);
                let dir2 = dir.clone();
                match tokio::task::spawn_blocking(move || {
                    spool::write_entry(&dir2, next, &Header::End, &[])
                })
                .await
                {
                    Ok(Ok(e)) => queue.inner.lock().entries.push_back(e),
                    _ => {
                        tracing::error!(dir = %dir.display(), "could not mark a resumed stream ended")
                    }
                }
            }
            self.active.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(self.clone().uploader(dir, queue, state));
        }
        n
    }

    /// Waits (at most `limit`) until every stream's spool is uploaded; then stops retrying.
    /// What is left stays in the spool for the next start.
    pub async fn close(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.active.load(Ordering::Acquire) > 0 {
            // Registered before the check, so a wake-up between the two is not missed.
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.active.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        self.shutdown.cancel();
    }

    /// PUTs one object, retrying with backoff until it is stored or the node shuts down.
    async fn put_retrying(
        &self,
        key: &str,
        chunks: Vec<Bytes>,
        cache: &'static str,
    ) -> Result<(), StoreError> {
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            let started = std::time::Instant::now();
            match self.store.put(key, chunks.clone(), cache).await {
                Ok(()) => {
                    metrics::counter!("onair_storage_uploads_total").increment(1);
                    metrics::histogram!("onair_storage_upload_seconds")
                        .record(started.elapsed().as_secs_f64());
                    return Ok(());
                }
                Err(e) => {
                    metrics::counter!("onair_storage_upload_errors_total").increment(1);
                    tracing::warn!(key, error = %e, retry_in = ?delay, "upload failed");
                    if self.shutdown.is_cancelled() {
                        return Err(e);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.shutdown.cancelled() => return Err(e),
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    }

    /// Uploads one entry's objects (not the playlists).
    async fn upload(&self, prefix: &str, entry: &Entry) -> Result<(), StoreError> {
        let payload = {
            let e = entry.clone();
            match tokio::task::spawn_blocking(move || spool::read_payload(&e)).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    tracing::error!(path = %entry.path.display(), error = %e, "spool entry unreadable; skipped");
                    return Ok(());
                }
                Err(_) => return Ok(()),
            }
        };
        match &entry.header {
            Header::Init { id, .. } => {
                self.put_retrying(
                    &format!("{prefix}{}", layout::init(*id)),
                    vec![payload],
                    IMMUTABLE,
                )
                .await
            }
            Header::Segment(m) => {
                let split = (m.fmp4_len as usize).min(payload.len());
                let fmp4 = payload.slice(..split);
                let ts = payload.slice(split..);
                let seg_key = format!("{prefix}{}", layout::segment(m.msn));
                let ts_key = format!("{prefix}{}", layout::ts_segment(m.msn));
                let (a, b) = tokio::join!(
                    self.put_retrying(&seg_key, vec![fmp4], IMMUTABLE),
                    self.put_retrying(&ts_key, vec![ts], IMMUTABLE),
                );
                a.and(b)
            }
            Header::End => Ok(()),
        }
    }

    async fn uploader(self: Arc<Self>, dir: PathBuf, queue: Arc<Queue>, mut state: StoredState) {
        let prefix = state.prefix();
        loop {
            let batch = queue.peek(UPLOAD_CONCURRENCY);
            if batch.is_empty() {
                if queue.is_closed() || self.shutdown.is_cancelled() {
                    break;
                }
                let notified = queue.notify.notified();
                if queue.is_empty() && !queue.is_closed() {
                    tokio::select! {
                        _ = notified => {}
                        _ = self.shutdown.cancelled() => break,
                    }
                }
                continue;
            }
            metrics::gauge!("onair_storage_backlog_entries", "channel" => state.channel.clone())
                .set(queue.len() as f64);
            let results =
                futures_util::future::join_all(batch.iter().map(|e| self.upload(&prefix, e))).await;
            if results.iter().any(|r| r.is_err()) {
                // Shutting down mid-retry: the entries stay spooled for the next start.
                break;
            }
            // Every object of the batch is stored: now the playlists may name them.
            let mut ended = false;
            for e in &batch {
                match &e.header {
                    Header::Init { id, .. } => {
                        if !state.inits.contains(id) {
                            state.inits.push(*id);
                        }
                    }
                    Header::Segment(m) => {
                        if state.segments.last().is_none_or(|l| l.msn < m.msn) {
                            state.segments.push(m.clone());
                        }
                    }
                    Header::End => ended = true,
                }
            }
            state.ended |= ended;
            if !state.segments.is_empty()
                && let Err(e) = self.write_playlists(&prefix, &state).await
            {
                tracing::warn!(error = %e, "stored playlist not written (shutting down)");
                break;
            }
            let (d, s) = (dir.clone(), state.clone());
            let saved = tokio::task::spawn_blocking(move || spool::save_state(&d, &s)).await;
            if !matches!(saved, Ok(Ok(()))) {
                tracing::error!(dir = %dir.display(), "saving storage state failed");
            }
            for e in &batch {
                let p = e.path.clone();
                let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(p)).await;
                self.meter.release(e.size);
            }
            queue.pop(batch.len());
            let events = self.events.lock().clone();
            if let Some(ev) = &events {
                ev.stored(&state).await;
            }
            if state.ended {
                if let Some(ev) = &events {
                    ev.finished(&state).await;
                }
                let d = dir.clone();
                let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(d)).await;
                metrics::gauge!("onair_storage_backlog_entries", "channel" => state.channel.clone()).set(0.0);
                break;
            }
        }
        if self.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    async fn write_playlists(&self, prefix: &str, state: &StoredState) -> Result<(), StoreError> {
        let cache = if state.ended {
            FINISHED_PLAYLIST
        } else {
            GROWING_PLAYLIST
        };
        let (cmaf, ts) = render_playlists(state);
        // The TS playlist first: both name only stored objects, in either order.
        self.put_retrying(
            &format!("{prefix}{}", layout::TS_PLAYLIST),
            vec![Bytes::from(ts)],
            cache,
        )
        .await?;
        self.put_retrying(
            &format!("{prefix}{}", layout::PLAYLIST),
            vec![Bytes::from(cmaf)],
            cache,
        )
        .await
    }
}

/// The stored CMAF and MPEG-TS playlists of `state` (EVENT while growing, VOD when ended).
pub fn render_playlists(state: &StoredState) -> (String, String) {
    let target = state
        .segments
        .iter()
        .map(|s| s.duration.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let first = state.segments.first().map_or(0, |s| s.msn);
    let playlist_type = Some(if state.ended {
        PlaylistType::Vod
    } else {
        PlaylistType::Event
    });
    let entry = |s: &SegmentMeta, i: usize, uri: String, map: Option<String>| SegmentEntry {
        uri,
        duration: s.duration,
        // A discontinuity before the first segment means nothing to a player.
        discontinuity: s.discontinuity && i > 0,
        program_date_time: Some(UNIX_EPOCH + Duration::from_millis(s.pdt_ms.max(0) as u64)),
        map_uri: map,
        parts: Vec::new(),
    };
    let playlist =
        |version: u8, uri: &dyn Fn(&SegmentMeta) -> (String, Option<String>)| MediaPlaylist {
            version,
            playlist_type,
            target_duration: target,
            media_sequence: first,
            independent_segments: true,
            ended: state.ended,
            segments: state
                .segments
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let (u, map) = uri(s);
                    entry(s, i, u, map)
                })
                .collect(),
            ..Default::default()
        };
    // EXT-X-MAP in a playlist without parts needs version 6+ (§4.4.4.5 / §7).
    let cmaf = playlist(7, &|s| {
        (layout::segment(s.msn), Some(layout::init(s.init_id)))
    });
    let ts = playlist(3, &|s| (format!("{}.ts", s.msn), None));
    (
        cmaf.render(&RenderOptions::default()),
        ts.render(&RenderOptions::default()),
    )
}

/// Entries written to the spool and not yet stored, shared by a stream's writer and uploader.
#[derive(Default)]
struct Queue {
    inner: Mutex<QueueState>,
    notify: Notify,
}

#[derive(Default)]
struct QueueState {
    entries: VecDeque<Entry>,
    /// The writer is done (end of stream or sink dropped).
    closed: bool,
}

impl Queue {
    fn push(&self, e: Entry) {
        self.inner.lock().entries.push_back(e);
        self.notify.notify_one();
    }

    fn close(&self) {
        self.inner.lock().closed = true;
        self.notify.notify_one();
    }

    /// Up to `n` entries from the front; an init or end entry is taken alone (it changes
    /// what the playlist may name), as are the segments before it.
    fn peek(&self, n: usize) -> Vec<Entry> {
        let q = self.inner.lock();
        let mut out = Vec::new();
        for e in q.entries.iter().take(n) {
            let special = !matches!(e.header, Header::Segment(_));
            if special && !out.is_empty() {
                break;
            }
            out.push(e.clone());
            if special {
                break;
            }
        }
        out
    }

    fn pop(&self, n: usize) {
        let mut q = self.inner.lock();
        for _ in 0..n {
            q.entries.pop_front();
        }
    }

    fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    fn is_empty(&self) -> bool {
        self.inner.lock().entries.is_empty()
    }

    fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }
}

/// The spool writer of one stream.
async fn writer(
    meter: Arc<Meter>,
    dir: PathBuf,
    mut rx: mpsc::Receiver<Job>,
    queue: Arc<Queue>,
    mut seq: u64,
) {
    // Segments were lost before the next stored one (spool full, disk error).
    let mut gap = false;
    let mut ended = false;
    while let Some(job) = rx.recv().await {
        let (header, payload) = match job {
            Job::Init(id, data) => (
                Header::Init {
                    id,
                    len: data.len() as u64,
                },
                vec![data],
            ),
            Job::Segment(s) => {
                let fmp4_len = s.fmp4.iter().map(|b| b.len() as u64).sum();
                let ts_len = s.ts.iter().map(|b| b.len() as u64).sum();
                let meta = SegmentMeta {
                    msn: s.msn,
                    duration: s.duration,
                    discontinuity: s.discontinuity || gap,
                    pdt_ms: s
                        .program_date_time
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(0),
                    init_id: s.init_id,
                    fmp4_len,
                    ts_len,
                };
                let mut payload = s.fmp4;
                payload.extend(s.ts);
                (Header::Segment(meta), payload)
            }
            Job::End => {
                ended = true;
                (Header::End, Vec::new())
            }
        };
        let size = payload.iter().map(|b| b.len() as u64).sum::<u64>() + ENTRY_OVERHEAD;
        let is_segment = matches!(header, Header::Segment(_));
        if is_segment {
            if !meter.reserve(size) {
                metrics::counter!("onair_storage_segments_dropped_total").increment(1);
                gap = true;
                continue;
            }
        } else {
            // Init sections and end markers are tiny and must not be lost.
            meter.force(size);
        }
        let d = dir.clone();
        let h = header.clone();
        let written =
            tokio::task::spawn_blocking(move || spool::write_entry(&d, seq, &h, &payload)).await;
        match written {
            Ok(Ok(mut e)) => {
                e.size = size;
                seq += 1;
                if is_segment {
                    gap = false;
                }
                queue.push(e);
            }
            other => {
                let err = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "writer task failed".to_owned(),
                };
                tracing::error!(dir = %dir.display(), error = %err, "writing to the spool failed; segment not stored");
                metrics::counter!("onair_storage_segments_dropped_total").increment(1);
                meter.release(size);
                gap = true;
            }
        }
        if ended {
            break;
        }
    }
    if !ended {
        // The sink went away without an end (the stream was dropped): finish anyway.
        let d = dir.clone();
        if let Ok(Ok(e)) =
            tokio::task::spawn_blocking(move || spool::write_entry(&d, seq, &Header::End, &[]))
                .await
        {
            queue.push(e);
        }
    }
    queue.close();
}

impl onair_live::sink::SinkFactory for Storage {
    fn open_sink(
        self: Arc<Self>,
        target: onair_live::sink::SinkTarget<'_>,
    ) -> Arc<dyn SegmentSink> {
        self.open(target.channel, target.channel_id, target.sid)
    }
}

/// One stream's handle: the packager's [`SegmentSink`].
pub struct StreamSink {
    tx: mpsc::Sender<Job>,
}

impl StreamSink {
    fn send(&self, job: Job) {
        if self.tx.try_send(job).is_err() {
            // The writer is far behind local disk speed: something is badly wrong with the
            // disk. Live playback is unaffected; the stored copy will have a gap.
            metrics::counter!("onair_storage_segments_dropped_total").increment(1);
            tracing::error!("storage queue full: segment not stored");
        }
    }
}

impl SegmentSink for StreamSink {
    fn init(&self, id: u32, data: Bytes) {
        self.send(Job::Init(id, data));
    }

    fn segment(&self, segment: ClosedSegment) {
        self.send(Job::Segment(segment));
    }

    fn end(&self) {
        self.send(Job::End);
    }
}
