//! The live window: the last N segments of a stream, with their LL-HLS parts, held in memory.
//!
//! The packager appends parts and closes segments; HTTP delivery reads. Every change bumps a
//! version on a `watch` channel so blocking playlist requests and preload-hint part requests
//! wake the moment the part they wait for exists.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use onair_media::Tracks;
use parking_lot::RwLock;
use tokio::sync::watch;

/// Media bytes of one object, as the muxer produced them (a header followed by frame payloads);
/// served as-is, so payloads are never copied on the way out.
#[derive(Clone, Debug, Default)]
pub struct Chunks {
    pub chunks: Arc<[Bytes]>,
    pub len: usize,
}

impl Chunks {
    pub fn new(chunks: Vec<Bytes>) -> Self {
        let len = chunks.iter().map(Bytes::len).sum();
        Self {
            chunks: chunks.into(),
            len,
        }
    }
}

/// One LL-HLS partial segment.
#[derive(Clone, Debug)]
pub struct PartData {
    /// Sequence number of the part within the stream (all segments).
    pub seq: u64,
    /// Duration in seconds.
    pub duration: f64,
    pub independent: bool,
    pub data: Chunks,
    /// When the part became fetchable (for latency metrics).
    pub published_at: std::time::Instant,
}

/// One media segment: its parts (fMP4) and its MPEG-TS rendition.
#[derive(Clone, Debug)]
pub struct SegmentData {
    pub msn: u64,
    /// A discontinuity precedes this segment (publisher reconnected or the timeline jumped).
    pub discontinuity: bool,
    /// Wall-clock time of the first frame (EXT-X-PROGRAM-DATE-TIME).
    pub program_date_time: SystemTime,
    /// Which init segment (`init/{id}.mp4`) the fMP4 parts need.
    pub init_id: u32,
    pub parts: Vec<Arc<PartData>>,
    /// Set once the segment is complete: duration in seconds.
    pub duration: Option<f64>,
    /// MPEG-TS bytes, set once the segment is complete.
    pub ts: Option<Chunks>,
}

impl SegmentData {
    pub fn is_complete(&self) -> bool {
        self.duration.is_some()
    }

    /// The whole fMP4 segment: the concatenation of its parts.
    pub fn fmp4(&self) -> Chunks {
        let chunks: Vec<Bytes> = self
            .parts
            .iter()
            .flat_map(|p| p.data.chunks.iter().cloned())
            .collect();
        Chunks::new(chunks)
    }

    pub fn bytes(&self) -> usize {
        self.parts.iter().map(|p| p.data.len).sum()
    }
}

/// Everything a playlist is rendered from.
#[derive(Debug, Default)]
pub struct WindowState {
    pub tracks: Option<Arc<Tracks>>,
    /// Init segments by id; only those referenced by segments in the window are kept.
    pub inits: Vec<(u32, Bytes)>,
    pub segments: VecDeque<SegmentData>,
    /// Discontinuities dropped off the front of the window (EXT-X-DISCONTINUITY-SEQUENCE).
    pub discontinuity_sequence: u64,
    /// The stream ended: playlists carry EXT-X-ENDLIST.
    pub ended: bool,
    /// EXT-X-TARGETDURATION: never decreases for the life of the playlist (RFC 8216bis §4.4.3.1).
    pub target_duration: u64,
    /// EXT-X-PART-INF PART-TARGET in seconds.
    pub part_target: f64,
    /// Largest segment bit rate seen (bits/s), for BANDWIDTH.
    pub peak_bitrate: u64,
    /// Mean segment bit rate over the window (bits/s), for AVERAGE-BANDWIDTH.
    pub average_bitrate: u64,
}

impl WindowState {
    /// MSN of the first segment in the window.
    pub fn media_sequence(&self) -> Option<u64> {
        self.segments.front().map(|s| s.msn)
    }

    /// The segment with `msn`, if still in the window.
    pub fn segment(&self, msn: u64) -> Option<&SegmentData> {
        let first = self.media_sequence()?;
        let i = usize::try_from(msn.checked_sub(first)?).ok()?;
        self.segments.get(i)
    }

    pub fn init(&self, id: u32) -> Option<&Bytes> {
        self.inits.iter().find(|(i, _)| *i == id).map(|(_, b)| b)
    }

    /// The last part that exists: (msn, index).
    pub fn last_part(&self) -> Option<(u64, u32)> {
        for s in self.segments.iter().rev() {
            if let Some(n) = s.parts.len().checked_sub(1) {
                return Some((s.msn, n as u32));
            }
        }
        None
    }

    /// The part with sequence number `seq`, if still in the window.
    pub fn part(&self, seq: u64) -> Option<&PartData> {
        // Segments are in order and so are their parts: find the segment from the back.
        for s in self.segments.iter().rev() {
            let first = s.parts.first()?.seq;
            if seq >= first {
                return s
                    .parts
                    .get(usize::try_from(seq - first).ok()?)
                    .map(|p| &**p);
            }
        }
        None
    }

    /// Sequence number of the newest part.
    pub fn last_part_seq(&self) -> Option<u64> {
        self.segments
            .iter()
            .rev()
            .find_map(|s| s.parts.last())
            .map(|p| p.seq)
    }

    /// When the newest part became fetchable.
    pub fn last_part_published(&self) -> Option<std::time::Instant> {
        self.segments
            .iter()
            .rev()
            .find_map(|s| s.parts.last())
            .map(|p| p.published_at)
    }

    /// The last complete segment's MSN.
    pub fn last_complete_msn(&self) -> Option<u64> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.is_complete())
            .map(|s| s.msn)
    }

    /// True once a playlist can be served (one part exists).
    pub fn is_ready(&self) -> bool {
        self.last_part().is_some()
    }
}

/// Shared live window of one stream.
pub struct LiveWindow {
    state: RwLock<WindowState>,
    version: watch::Sender<u64>,
    capacity: usize,
    /// Rendered playlists by kind, with the version they were rendered at: a change is
    /// rendered once however many viewers (woken together by a blocking reload) ask for it.
    rendered: parking_lot::Mutex<[Option<(u64, Bytes)>; PLAYLIST_KINDS]>,
}

/// Playlist renditions cached per window (see [`LiveWindow::cached`]).
pub const PLAYLIST_KINDS: usize = 3;

impl LiveWindow {
    /// A window that keeps `capacity` complete segments (plus the one being written).
    pub fn new(capacity: usize, part_target: f64, segment_target: f64) -> Arc<Self> {
        let state = WindowState {
            part_target,
            target_duration: segment_target.round().max(1.0) as u64,
            ..WindowState::default()
        };
        Arc::new(Self {
            state: RwLock::new(state),
            version: watch::channel(0).0,
            capacity: capacity.max(3),
            rendered: parking_lot::Mutex::new(Default::default()),
        })
    }

    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, WindowState> {
        self.state.read()
    }

    /// A receiver that changes on every update.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The current version (read it before reading the state it labels).
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// The playlist of `kind` for `version`, rendered by `render` only if not cached yet.
    pub fn cached(&self, kind: usize, version: u64, render: impl FnOnce() -> String) -> Bytes {
        let mut cache = self.rendered.lock();
        let Some(slot) = cache.get_mut(kind) else {
            return Bytes::from(render());
        };
        if let Some((v, text)) = slot
            && *v == version
        {
            return text.clone();
        }
        let text = Bytes::from(render());
        *slot = Some((version, text.clone()));
        text
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Registers a new init segment and the tracks it describes.
    pub fn set_init(&self, id: u32, init: Bytes, tracks: Arc<Tracks>) {
        let mut s = self.state.write();
        s.inits.retain(|(i, _)| *i != id);
        s.inits.push((id, init));
        s.tracks = Some(tracks);
        // A restarted stream is live again.
        s.ended = false;
        drop(s);
        self.bump();
    }

    /// Appends a part to segment `msn`, opening that segment if it is new.
    pub fn push_part(&self, msn: u64, open: impl FnOnce() -> SegmentData, part: PartData) {
        {
            let mut s = self.state.write();
            if s.segments.back().is_none_or(|last| last.msn != msn) {
                let seg = open();
                s.segments.push_back(seg);
            }
            if let Some(last) = s.segments.back_mut() {
                last.parts.push(Arc::new(part));
            }
        }
        self.bump();
    }

    /// Completes segment `msn`, and slides the window.
    pub fn close_segment(&self, msn: u64, duration: f64, ts: Chunks) {
        {
            let mut s = self.state.write();
            let s = &mut *s;
            if let Some(seg) = s.segments.iter_mut().rev().find(|seg| seg.msn == msn) {
                seg.duration = Some(duration);
                let bits = seg.bytes() as f64 * 8.0;
                seg.ts = Some(ts);
                let rounded = duration.round() as u64;
                if rounded > s.target_duration {
                    s.target_duration = rounded;
                }
                if duration > 0.1 {
                    let rate = (bits / duration) as u64;
                    s.peak_bitrate = s.peak_bitrate.max(rate);
                }
            }
            let complete = s.segments.iter().filter(|x| x.is_complete()).count();
            let mut excess = complete.saturating_sub(self.capacity);
            while excess > 0 {
                match s.segments.pop_front() {
                    // Its EXT-X-DISCONTINUITY leaves the playlist with it (§4.4.3.3).
                    Some(old) if old.discontinuity => s.discontinuity_sequence += 1,
                    Some(_) => {}
                    None => break,
                }
                excess -= 1;
            }
            let ids: Vec<u32> = s.segments.iter().map(|x| x.init_id).collect();
            if let Some(&newest) = s.inits.iter().map(|(i, _)| i).max() {
                s.inits.retain(|(i, _)| *i == newest || ids.contains(i));
            }
            let (sum_bits, sum_dur) = s
                .segments
                .iter()
                .filter_map(|x| x.duration.map(|d| (x.bytes() as f64 * 8.0, d)))
                .fold((0.0, 0.0), |(b, d), (xb, xd)| (b + xb, d + xd));
            if sum_dur > 0.0 {
                s.average_bitrate = (sum_bits / sum_dur) as u64;
            }
        }
        self.bump();
    }

    /// Marks the stream ended (EXT-X-ENDLIST); waiters wake.
    pub fn end(&self) {
        self.state.write().ended = true;
        self.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(msn: u64, discontinuity: bool) -> SegmentData {
        SegmentData {
            msn,
            discontinuity,
            program_date_time: SystemTime::now(),
            init_id: 0,
            parts: vec![],
            duration: None,
            ts: None,
        }
    }

    fn part() -> PartData {
        PartData {
            seq: 0,
            duration: 0.2,
            independent: true,
            data: Chunks::new(vec![Bytes::from_static(b"xx")]),
            published_at: std::time::Instant::now(),
        }
    }

    #[test]
    fn window_slides_and_counts_discontinuities() {
        let w = LiveWindow::new(3, 0.2, 2.0);
        for msn in 0..6 {
            w.push_part(msn, || seg(msn, msn == 1), part());
            w.close_segment(msn, 2.0, Chunks::default());
        }
        let s = w.read();
        assert_eq!(s.media_sequence(), Some(3));
        assert_eq!(s.discontinuity_sequence, 1);
        assert_eq!(s.last_part(), Some((5, 0)));
        assert!(s.segment(2).is_none());
        assert!(s.segment(4).is_some());
    }

    #[test]
    fn target_duration_never_decreases() {
        let w = LiveWindow::new(3, 0.2, 2.0);
        w.push_part(0, || seg(0, false), part());
        w.close_segment(0, 4.4, Chunks::default());
        w.push_part(1, || seg(1, false), part());
        w.close_segment(1, 1.0, Chunks::default());
        assert_eq!(w.read().target_duration, 4);
    }

    #[test]
    fn a_playlist_is_rendered_once_per_version() {
        let w = LiveWindow::new(3, 0.2, 2.0);
        let mut renders = 0;
        let v = w.version();
        let a = w.cached(0, v, || {
            renders += 1;
            "a".into()
        });
        let b = w.cached(0, v, || {
            renders += 1;
            "b".into()
        });
        assert_eq!((a, b, renders), (Bytes::from("a"), Bytes::from("a"), 1));
        w.push_part(0, || seg(0, false), part());
        let c = w.cached(0, w.version(), || "c".into());
        assert_eq!(c, Bytes::from("c"));
    }

    #[tokio::test]
    async fn waiters_wake_on_new_part() {
        let w = LiveWindow::new(3, 0.2, 2.0);
        let mut rx = w.subscribe();
        let w2 = w.clone();
        let t = tokio::spawn(async move {
            rx.changed().await.unwrap();
            w2.read().last_part()
        });
        w.push_part(0, || seg(0, false), part());
        assert_eq!(t.await.unwrap(), Some((0, 0)));
    }
}
