//! The hub: one [`Broadcast`] per live stream.
//!
//! A broadcast hands every frame to two kinds of consumer, as `Bytes` clones — the payload is
//! never copied:
//!
//! * **attached** consumers ([`StreamConsumer`]: the packager; later a recorder, a
//!   transcoder's input, a relay) see every frame in order, in the publisher's task, and are
//!   never skipped — they must not block, and hand slow work to a task of their own;
//! * **subscribers** (HTTP-FLV viewers, thumbnails) each have a bounded queue; when a queue is
//!   full the subscriber is switched to "wait for the next keyframe", the frames it misses are
//!   counted, and the publisher goes on without waiting. A GOP cache (the frames since the last
//!   keyframe) lets a new subscriber start decoding at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use onair_media::{Frame, Tracks};
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// Frames kept in the GOP cache at most; a GOP longer than this is not cached (a new consumer
/// then waits for the next keyframe instead).
pub const MAX_GOP_FRAMES: usize = 4096;
/// Payload bytes kept in the GOP cache at most.
pub const MAX_GOP_BYTES: usize = 64 * 1024 * 1024;

/// What a consumer receives.
#[derive(Clone, Debug)]
pub enum HubMessage {
    /// The codec configuration changed (always sent first).
    Tracks(Arc<Tracks>),
    /// A frame, in decode order.
    Frame(Frame),
}

/// A consumer that must see every frame of a stream, in order (see the module docs). Its calls
/// come from the publisher's task under the broadcast's lock, in this order: `on_tracks` before
/// the frames it configures; `on_pause` when the publisher dropped and may come back within
/// the reconnect grace, `on_resume` when it did (the timeline restarts); `on_end` once.
pub trait StreamConsumer: Send {
    /// New codec configuration (sequence headers).
    fn on_tracks(&mut self, tracks: &Arc<Tracks>);
    /// A frame, in decode order.
    fn on_frame(&mut self, frame: &Frame);
    /// The publisher dropped; close what is open.
    fn on_pause(&mut self) {}
    /// A publisher came back after a pause.
    fn on_resume(&mut self) {}
    /// The stream ended: nothing more arrives.
    fn on_end(&mut self);
}

/// Counters of one consumer, shared with whoever reports on it.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    pub dropped_frames: AtomicU64,
}

struct Consumer {
    tx: mpsc::Sender<HubMessage>,
    waiting_for_keyframe: bool,
    stats: Arc<ConsumerStats>,
}

impl Consumer {
    /// Queues `msg` without waiting. A full queue switches the consumer to "wait for the next
    /// keyframe" and counts the drop; returns false once the consumer is gone.
    fn offer(&mut self, msg: HubMessage, dropped: &AtomicU64) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.waiting_for_keyframe = true;
                self.stats.dropped_frames.fetch_add(1, Ordering::Relaxed);
                dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

#[derive(Default)]
struct Inner {
    tracks: Option<Arc<Tracks>>,
    gop: Vec<Frame>,
    gop_bytes: usize,
    gop_overflow: bool,
    consumers: Vec<Consumer>,
    attached: Vec<Box<dyn StreamConsumer>>,
    closed: bool,
}

/// Fan-out of one live stream.
#[derive(Default)]
pub struct Broadcast {
    inner: Mutex<Inner>,
    dropped_frames: AtomicU64,
}

/// A consumer's end of a broadcast. Dropping it unsubscribes.
pub struct Subscription {
    pub rx: mpsc::Receiver<HubMessage>,
    pub stats: Arc<ConsumerStats>,
}

impl Broadcast {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Attaches a consumer that sees every frame from now on (it first gets the current
    /// tracks and the cached GOP, if any).
    pub fn attach(&self, mut consumer: Box<dyn StreamConsumer>) {
        let mut inner = self.inner.lock();
        if inner.closed {
            return;
        }
        if let Some(t) = &inner.tracks {
            consumer.on_tracks(t);
            for f in &inner.gop {
                consumer.on_frame(f);
            }
        }
        inner.attached.push(consumer);
    }

    /// Number of attached consumers.
    pub fn attached_count(&self) -> usize {
        self.inner.lock().attached.len()
    }

    /// The publisher dropped and may come back (attached consumers close what is open).
    pub fn pause(&self) {
        let mut inner = self.inner.lock();
        for c in &mut inner.attached {
            c.on_pause();
        }
    }

    /// A publisher came back after [`Broadcast::pause`].
    pub fn resume(&self) {
        let mut inner = self.inner.lock();
        for c in &mut inner.attached {
            c.on_resume();
        }
    }

    /// Publishes new track configuration to every consumer.
    pub fn set_tracks(&self, tracks: Tracks) {
        let tracks = Arc::new(tracks);
        let mut inner = self.inner.lock();
        if inner.closed {
            return;
        }
        for c in &mut inner.attached {
            c.on_tracks(&tracks);
        }
        inner.tracks = Some(tracks.clone());
        // A new configuration invalidates cached frames coded with the old one.
        inner.gop.clear();
        inner.gop_bytes = 0;
        let dropped = &self.dropped_frames;
        inner.consumers.retain_mut(|c| {
            // Configuration messages must not be lost: a consumer that cannot take one is
            // resynchronised by waiting for the next keyframe after it.
            c.offer(HubMessage::Tracks(tracks.clone()), dropped)
        });
    }

    /// Publishes a frame. Never waits.
    pub fn push(&self, frame: Frame) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        if inner.closed {
            return;
        }
        for c in &mut inner.attached {
            c.on_frame(&frame);
        }
        if frame.is_keyframe() {
            inner.gop.clear();
            inner.gop_bytes = 0;
            inner.gop_overflow = false;
        }
        if !inner.gop_overflow {
            if inner.gop.len() >= MAX_GOP_FRAMES || inner.gop_bytes + frame.len() > MAX_GOP_BYTES {
                inner.gop_overflow = true;
                inner.gop.clear();
                inner.gop_bytes = 0;
            } else if has_video(&inner.tracks) && (!inner.gop.is_empty() || frame.is_keyframe()) {
                // Audio-only streams need no cache: a consumer can start at any frame.
                inner.gop_bytes += frame.len();
                inner.gop.push(frame.clone());
            }
        }
        let keyframe = frame.is_keyframe();
        let audio_only = !has_video(&inner.tracks);
        let dropped = &self.dropped_frames;
        inner.consumers.retain_mut(|c| {
            if c.waiting_for_keyframe {
                if keyframe || audio_only {
                    c.waiting_for_keyframe = false;
                    // Resend the configuration so the consumer restarts cleanly.
                    if let Some(t) = &inner.tracks
                        && c.tx.try_send(HubMessage::Tracks(t.clone())).is_err()
                    {
                        c.waiting_for_keyframe = true;
                    }
                }
                if c.waiting_for_keyframe {
                    c.stats.dropped_frames.fetch_add(1, Ordering::Relaxed);
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return !c.tx.is_closed();
                }
            }
            c.offer(HubMessage::Frame(frame.clone()), dropped)
        });
    }

    /// Adds a consumer with a queue of `capacity` messages. It first receives the current
    /// tracks and the cached GOP (when the GOP fits its queue).
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let capacity = capacity.max(2);
        let (tx, rx) = mpsc::channel(capacity);
        let stats = Arc::new(ConsumerStats::default());
        let mut inner = self.inner.lock();
        let mut waiting_for_keyframe = true;
        if let Some(t) = &inner.tracks {
            let _ = tx.try_send(HubMessage::Tracks(t.clone()));
            if !inner.gop.is_empty() && inner.gop.len() < capacity {
                for f in &inner.gop {
                    let _ = tx.try_send(HubMessage::Frame(f.clone()));
                }
                waiting_for_keyframe = false;
            }
        }
        if !inner.closed {
            inner.consumers.push(Consumer {
                tx,
                waiting_for_keyframe,
                stats: stats.clone(),
            });
        }
        Subscription { rx, stats }
    }

    /// Ends the broadcast: attached consumers end, every subscriber's queue closes after what
    /// it already holds, and later pushes are ignored.
    pub fn close(&self) {
        let mut inner = self.inner.lock();
        if inner.closed {
            return;
        }
        inner.closed = true;
        for mut c in std::mem::take(&mut inner.attached) {
            c.on_end();
        }
        inner.consumers.clear();
    }

    /// Current track configuration.
    pub fn tracks(&self) -> Option<Arc<Tracks>> {
        self.inner.lock().tracks.clone()
    }

    /// The current tracks and the keyframe that starts the cached GOP (for thumbnails).
    pub fn keyframe(&self) -> Option<(Arc<Tracks>, Frame)> {
        let inner = self.inner.lock();
        let tracks = inner.tracks.clone()?;
        let first = inner.gop.first().filter(|f| f.is_keyframe())?.clone();
        Some((tracks, first))
    }

    /// Frames dropped across all consumers since the start.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames.load(Ordering::Relaxed)
    }

    /// Number of consumers currently attached.
    pub fn consumer_count(&self) -> usize {
        self.inner.lock().consumers.len()
    }
}

fn has_video(tracks: &Option<Arc<Tracks>>) -> bool {
    tracks.as_ref().is_some_and(|t| t.video.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use onair_media::{AudioFrame, VideoFrame};

    fn video(dts: i64, keyframe: bool) -> Frame {
        Frame::Video(VideoFrame {
            dts,
            cts: 0,
            keyframe,
            data: Bytes::from_static(b"v"),
        })
    }

    fn tracks() -> Tracks {
        use onair_media::{AvcConfig, VideoConfig};
        Tracks {
            video: Some(VideoConfig::Avc(AvcConfig {
                record: Bytes::new(),
                sps: vec![],
                pps: vec![],
                nal_length_size: 4,
                profile_idc: 100,
                profile_compatibility: 0,
                level_idc: 30,
                width: 320,
                height: 240,
            })),
            audio: None,
        }
    }

    #[test]
    fn new_consumer_starts_at_cached_keyframe() {
        let b = Broadcast::new();
        b.set_tracks(tracks());
        b.push(video(0, false)); // before any keyframe: not cached
        b.push(video(1, true));
        b.push(video(2, false));
        let mut s = b.subscribe(16);
        assert!(matches!(s.rx.try_recv(), Ok(HubMessage::Tracks(_))));
        match s.rx.try_recv() {
            Ok(HubMessage::Frame(f)) => assert_eq!(f.dts(), 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.rx.try_recv(), Ok(HubMessage::Frame(f)) if f.dts() == 2));
    }

    #[test]
    fn slow_consumer_drops_to_next_keyframe_and_publisher_never_waits() {
        let b = Broadcast::new();
        b.set_tracks(tracks());
        let mut slow = b.subscribe(4);
        let mut fast = b.subscribe(1024);
        b.push(video(0, true));
        for i in 1..100 {
            b.push(video(i, false));
        }
        assert!(slow.stats.dropped_frames.load(Ordering::Relaxed) > 0);
        assert_eq!(fast.stats.dropped_frames.load(Ordering::Relaxed), 0);
        // Drain the slow one; it must not see frames again until a keyframe.
        while slow.rx.try_recv().is_ok() {}
        b.push(video(100, false));
        assert!(slow.rx.try_recv().is_err());
        b.push(video(101, true));
        assert!(matches!(slow.rx.try_recv(), Ok(HubMessage::Tracks(_))));
        assert!(matches!(slow.rx.try_recv(), Ok(HubMessage::Frame(f)) if f.dts() == 101));
        let mut frames = 0;
        while let Ok(m) = fast.rx.try_recv() {
            frames += usize::from(matches!(m, HubMessage::Frame(_)));
        }
        assert_eq!(frames, 102);
        assert!(b.dropped_frames() > 0);
    }

    #[test]
    fn audio_only_streams_start_at_the_next_frame_without_a_backlog() {
        let b = Broadcast::new();
        b.set_tracks(Tracks::default());
        for dts in 0..5000 {
            b.push(Frame::Audio(AudioFrame {
                dts,
                data: Bytes::from_static(b"a"),
            }));
        }
        let mut s = b.subscribe(8);
        assert!(matches!(s.rx.try_recv(), Ok(HubMessage::Tracks(_))));
        assert!(s.rx.try_recv().is_err(), "no stale audio backlog");
        b.push(Frame::Audio(AudioFrame {
            dts: 5000,
            data: Bytes::from_static(b"a"),
        }));
        let mut got = vec![];
        while let Ok(m) = s.rx.try_recv() {
            got.push(m);
        }
        assert!(matches!(got.last(), Some(HubMessage::Frame(f)) if f.dts() == 5000));
    }

    /// Attached consumers see every frame, in order, even when every subscriber is dropping;
    /// pause/resume/end reach them once, and nothing arrives after the end.
    #[test]
    fn attached_consumers_see_every_frame_in_order() {
        #[derive(Default)]
        struct Log(Arc<Mutex<Vec<String>>>);
        impl StreamConsumer for Log {
            fn on_tracks(&mut self, _: &Arc<Tracks>) {
                self.0.lock().push("tracks".into());
            }
            fn on_frame(&mut self, f: &Frame) {
                self.0.lock().push(f.dts().to_string());
            }
            fn on_pause(&mut self) {
                self.0.lock().push("pause".into());
            }
            fn on_resume(&mut self) {
                self.0.lock().push("resume".into());
            }
            fn on_end(&mut self) {
                self.0.lock().push("end".into());
            }
        }
        let b = Broadcast::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        b.attach(Box::new(Log(log.clone())));
        let _slow = b.subscribe(2);
        b.set_tracks(tracks());
        for i in 0..100 {
            b.push(video(i, i % 50 == 0));
        }
        b.pause();
        b.resume();
        b.push(video(100, true));
        b.close();
        b.push(video(101, true));
        b.close();
        let log = log.lock();
        let mut want = vec!["tracks".to_owned()];
        want.extend((0..100).map(|i| i.to_string()));
        want.extend(["pause", "resume", "100", "end"].map(str::to_owned));
        assert_eq!(*log, want);
        assert!(b.dropped_frames() > 0, "the subscriber dropped meanwhile");
        assert_eq!(b.attached_count(), 0);
    }

    /// A consumer attached mid-stream starts with the tracks and the cached GOP.
    #[test]
    fn late_attached_consumer_starts_at_the_cached_keyframe() {
        struct Count(Arc<Mutex<Vec<i64>>>);
        impl StreamConsumer for Count {
            fn on_tracks(&mut self, _: &Arc<Tracks>) {}
            fn on_frame(&mut self, f: &Frame) {
                self.0.lock().push(f.dts());
            }
            fn on_end(&mut self) {}
        }
        let b = Broadcast::new();
        b.set_tracks(tracks());
        b.push(video(0, true));
        b.push(video(1, false));
        b.push(video(2, true));
        b.push(video(3, false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        b.attach(Box::new(Count(seen.clone())));
        b.push(video(4, false));
        assert_eq!(*seen.lock(), vec![2, 3, 4]);
    }

    #[test]
    fn closing_ends_consumers() {
        let b = Broadcast::new();
        let mut s = b.subscribe(8);
        b.close();
        assert!(matches!(
            s.rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }
}
