//! The packager: turns one stream's frames into LL-HLS (CMAF fMP4) parts and segments and
//! classic HLS (MPEG-TS) segments with the same boundaries, and publishes them into the
//! stream's [`LiveWindow`].
//!
//! It is a consumer attached to the stream's hub ([`StreamConsumer`]): it runs synchronously in
//! the publisher's task (see `docs/architecture.md`). Muxing is zero-copy for fMP4 and a single
//! pass for TS, so this keeps ordering trivial and adds no queue between a frame's arrival and
//! its part becoming fetchable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use onair_hls::segmenter::{Part, Segmenter, SegmenterConfig, SegmenterEvent};
use onair_media::fmp4::{self, FragmentWriter};
use onair_media::ts::TsMuxer;
use onair_media::{Frame, TIMESCALE, Tracks};

use crate::hub::StreamConsumer;
use crate::sink::{ClosedSegment, SegmentSink};
use crate::window::{Chunks, LiveWindow, PartData, SegmentData};

/// Segment and part targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackagerConfig {
    pub segment_target: Duration,
    pub part_target: Duration,
}

/// Errors of the packager (logged by the ingest driver; the stream goes on where it can).
#[derive(Debug, thiserror::Error)]
pub enum PackagerError {
    #[error("fMP4: {0}")]
    Fmp4(#[from] onair_media::fmp4::Fmp4Error),
    #[error("MPEG-TS: {0}")]
    Ts(#[from] onair_media::ts::TsError),
}

struct Muxers {
    fmp4: FragmentWriter,
    ts: TsMuxer,
}

/// Where program-date-time is anchored: wall clock at a given DTS.
#[derive(Clone, Copy)]
struct ClockAnchor {
    wall: SystemTime,
    dts: i64,
}

pub struct Packager {
    config: PackagerConfig,
    window: Arc<LiveWindow>,
    /// Created once the tracks are known (cuts follow video keyframes when there is video).
    segmenter: Option<Segmenter>,
    muxers: Option<Muxers>,
    tracks: Option<Arc<Tracks>>,
    init_id: u32,
    /// The next segment to open gets EXT-X-DISCONTINUITY.
    pending_discontinuity: bool,
    /// MSN the next segmenter starts at (shared: the stream's registry continues a finished
    /// stream's numbering from it).
    next_msn: Arc<AtomicU64>,
    /// TS bytes of the segment being written.
    ts_chunks: Vec<Bytes>,
    ts_open_msn: Option<u64>,
    anchor: Option<ClockAnchor>,
    /// Sequence number of the next part (continues across reconnects within the same window).
    next_part_seq: u64,
    /// Arrival time of recent video frames by DTS, to measure frame-arrival → part-fetchable.
    arrivals: std::collections::VecDeque<(i64, std::time::Instant)>,
    /// Durable storage of finished segments, when the node stores them.
    sink: Option<Arc<dyn SegmentSink>>,
    /// Which stream this packages, for the log.
    stream: String,
}

/// Recent frame arrivals remembered for latency measurement.
const MAX_ARRIVALS: usize = 1024;

impl Packager {
    /// A packager whose first segment is `first_msn`; `discontinuity` marks that segment as
    /// following a discontinuity (a stream restarted after its previous playlist ended).
    pub fn new(
        config: PackagerConfig,
        window: Arc<LiveWindow>,
        first_msn: u64,
        discontinuity: bool,
        sink: Option<Arc<dyn SegmentSink>>,
    ) -> Self {
        Self {
            segmenter: None,
            config,
            window,
            muxers: None,
            tracks: None,
            init_id: 0,
            pending_discontinuity: discontinuity,
            next_msn: Arc::new(AtomicU64::new(first_msn)),
            ts_chunks: Vec::new(),
            ts_open_msn: None,
            anchor: None,
            arrivals: std::collections::VecDeque::new(),
            next_part_seq: 0,
            sink,
            stream: String::new(),
        }
    }

    /// Names the stream in what the packager logs.
    pub fn for_stream(mut self, stream: impl std::fmt::Display) -> Self {
        self.stream = stream.to_string();
        self
    }

    /// New codec configuration (sequence headers). A change mid-stream closes the current
    /// segment and starts a new one behind a discontinuity with a new init segment.
    pub fn set_tracks(&mut self, tracks: Arc<Tracks>) -> Result<(), PackagerError> {
        if self.tracks.as_deref() == Some(&*tracks) {
            return Ok(());
        }
        if self.tracks.is_some() {
            self.restart();
        }
        let init = fmp4::init_segment(&tracks)?;
        let fmp4 = FragmentWriter::new(&tracks)?;
        let ts = TsMuxer::new(&tracks)?;
        self.init_id += 1;
        if let Some(sink) = &self.sink {
            sink.init(self.init_id, init.clone());
        }
        self.window.set_init(self.init_id, init, tracks.clone());
        self.segmenter = Some(Segmenter::new(
            segmenter_config(&self.config),
            self.next_msn.load(Ordering::Relaxed),
            tracks.video.is_some(),
        ));
        self.muxers = Some(Muxers { fmp4, ts });
        self.tracks = Some(tracks);
        Ok(())
    }

    /// The publisher restarted (reconnect): close what is open; the next segment follows a
    /// discontinuity and timestamps are re-anchored.
    pub fn restart(&mut self) {
        self.flush();
        let has_video = self.tracks.as_ref().is_some_and(|t| t.video.is_some());
        self.segmenter = Some(Segmenter::new(
            segmenter_config(&self.config),
            self.next_msn.load(Ordering::Relaxed),
            has_video,
        ));
        self.pending_discontinuity = true;
        self.anchor = None;
    }

    /// Adds a frame.
    pub fn push(&mut self, frame: Frame) -> Result<(), PackagerError> {
        if self.muxers.is_none() {
            // No sequence header yet: nothing can be packaged.
            return Ok(());
        }
        if self.anchor.is_none() {
            self.anchor = Some(ClockAnchor {
                wall: SystemTime::now(),
                dts: frame.dts(),
            });
        }
        let Some(segmenter) = self.segmenter.as_mut() else {
            return Ok(());
        };
        if matches!(frame, Frame::Video(_))
            || self.tracks.as_ref().is_some_and(|t| t.video.is_none())
        {
            if self.arrivals.len() >= MAX_ARRIVALS {
                self.arrivals.pop_front();
            }
            self.arrivals
                .push_back((frame.dts(), std::time::Instant::now()));
        }
        let events = segmenter.push(frame);
        self.apply(events)
    }

    /// End of stream: closes the open part and segment. The caller ends the window.
    pub fn flush(&mut self) {
        let Some(segmenter) = self.segmenter.as_mut() else {
            return;
        };
        let events = segmenter.finish();
        if let Err(e) = self.apply(events) {
            tracing::warn!(stream = %self.stream, error = %e, "packaging the last part failed");
        }
    }

    /// The stream ended: closes what is open and tells storage (its playlists get ENDLIST).
    pub fn finish(&mut self) {
        self.flush();
        if let Some(sink) = self.sink.take() {
            sink.end();
        }
    }

    /// The MSN the next segment will get.
    pub fn next_msn(&self) -> u64 {
        self.next_msn.load(Ordering::Relaxed)
    }

    /// [`Packager::next_msn`], readable after the packager was handed to the hub.
    pub fn next_msn_handle(&self) -> Arc<AtomicU64> {
        self.next_msn.clone()
    }

    fn apply(&mut self, events: Vec<SegmenterEvent>) -> Result<(), PackagerError> {
        for event in events {
            match event {
                SegmenterEvent::PartClosed(part) => self.close_part(part)?,
                SegmenterEvent::SegmentClosed {
                    msn,
                    start_dts,
                    end_dts,
                    ..
                } => {
                    let duration = ticks_to_secs(end_dts - start_dts);
                    let ts = Chunks::new(std::mem::take(&mut self.ts_chunks));
                    self.ts_open_msn = None;
                    let ts_chunks = self.sink.is_some().then(|| ts.chunks.clone());
                    self.window.close_segment(msn, duration, ts);
                    self.next_msn.store(msn + 1, Ordering::Relaxed);
                    if let (Some(sink), Some(ts)) = (&self.sink, ts_chunks) {
                        let w = self.window.read();
                        if let Some(seg) = w.segment(msn) {
                            sink.segment(ClosedSegment {
                                msn,
                                duration,
                                discontinuity: seg.discontinuity,
                                program_date_time: seg.program_date_time,
                                init_id: seg.init_id,
                                fmp4: seg.fmp4().chunks.to_vec(),
                                ts: ts.to_vec(),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn close_part(&mut self, part: Part) -> Result<(), PackagerError> {
        let Some(muxers) = self.muxers.as_mut() else {
            return Ok(());
        };
        let fragment = muxers.fmp4.write(&part.frames, part.end_dts)?;

        let mut ts = BytesMut::new();
        if self.ts_open_msn != Some(part.msn) {
            self.ts_chunks.clear();
            muxers.ts.write_tables(&mut ts);
            self.ts_open_msn = Some(part.msn);
        }
        for frame in &part.frames {
            muxers.ts.write_frame(frame, &mut ts)?;
        }
        self.ts_chunks.push(ts.freeze());

        let pdt = self.program_date_time(part.start_dts);
        let discontinuity = std::mem::take(&mut self.pending_discontinuity) || part.discontinuity;
        let init_id = self.init_id;
        let msn = part.msn;
        if part.discontinuity {
            // The timeline jumped inside one publish: re-anchor wall clock.
            self.anchor = Some(ClockAnchor {
                wall: SystemTime::now(),
                dts: part.start_dts,
            });
        }
        let now = std::time::Instant::now();
        // Latency of the part's first frame: from its arrival to the part being fetchable.
        if let Some(first) = part.frames.first().map(Frame::dts) {
            while self.arrivals.front().is_some_and(|(d, _)| *d < first) {
                self.arrivals.pop_front();
            }
            if let Some((_, at)) = self.arrivals.front().filter(|(d, _)| *d == first) {
                metrics::histogram!("onair_part_latency_seconds")
                    .record(now.duration_since(*at).as_secs_f64());
            }
        }
        let seq = self.next_part_seq;
        self.next_part_seq += 1;
        let data = PartData {
            seq,
            duration: ticks_to_secs(part.end_dts - part.start_dts),
            independent: part.independent,
            data: Chunks::new(fragment.chunks),
            published_at: now,
        };
        self.window.push_part(
            msn,
            || SegmentData {
                msn,
                discontinuity,
                program_date_time: pdt,
                init_id,
                parts: Vec::new(),
                duration: None,
                ts: None,
            },
            data,
        );
        Ok(())
    }

    fn program_date_time(&self, dts: i64) -> SystemTime {
        match self.anchor {
            Some(a) => {
                let delta = dts - a.dts;
                let d =
                    Duration::from_micros(delta.unsigned_abs() * 1_000_000 / u64::from(TIMESCALE));
                if delta >= 0 { a.wall + d } else { a.wall - d }
            }
            None => SystemTime::now(),
        }
    }
}

/// The packager as a consumer of the stream's hub: errors are logged and the stream goes on
/// where it can.
impl StreamConsumer for Packager {
    fn on_tracks(&mut self, tracks: &Arc<Tracks>) {
        if let Err(e) = self.set_tracks(tracks.clone()) {
            tracing::warn!(stream = %self.stream, error = %e, "unsupported tracks");
        }
    }

    fn on_frame(&mut self, frame: &Frame) {
        if let Err(e) = self.push(frame.clone()) {
            tracing::warn!(stream = %self.stream, error = %e, "packaging failed");
        }
    }

    fn on_pause(&mut self) {
        self.flush();
    }

    fn on_resume(&mut self) {
        self.restart();
    }

    fn on_end(&mut self) {
        self.finish();
    }
}

fn segmenter_config(c: &PackagerConfig) -> SegmenterConfig {
    SegmenterConfig {
        segment_target: c.segment_target,
        part_target: c.part_target,
    }
}

pub fn ticks_to_secs(ticks: i64) -> f64 {
    ticks as f64 / f64::from(TIMESCALE)
}
