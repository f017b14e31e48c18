//! Cuts a frame stream into media segments and LL-HLS partial segments (RFC 8216bis §3, §4.4.4.9).
//!
//! * A segment starts at a video keyframe (any frame for audio-only streams) once the current
//!   one has lasted at least the segment target; segments therefore always start independent.
//! * A part closes before the frame that would make it longer than the part target, judged on
//!   video DTS (audio DTS for audio-only streams), and always at a segment boundary, so no part
//!   exceeds PART-TARGET while frame intervals are steady.
//! * Frames before the first keyframe are dropped and counted; a timestamp jump (backwards, or a
//!   gap over [`MAX_TIMESTAMP_GAP`]) closes the segment and flags the next as a discontinuity.

use std::time::Duration;

use onair_media::{Frame, TIMESCALE};

/// A forward gap in DTS larger than this (90 kHz ticks: 10 s) is a discontinuity.
pub const MAX_TIMESTAMP_GAP: i64 = 10 * TIMESCALE as i64;
/// A step back in DTS larger than this (1 s) is a discontinuity; smaller ones are tolerated
/// (audio and video timestamps interleave loosely).
pub const MAX_TIMESTAMP_BACKSTEP: i64 = TIMESCALE as i64;
/// Frames one part may hold (a bound for broken timestamps that never advance).
pub const MAX_PART_FRAMES: usize = 10_000;
/// Longest segment (90 kHz ticks: 30 s). A publisher that sends no keyframe for this long has
/// its segment closed and its frames dropped until the next keyframe, which starts a new
/// segment behind a discontinuity: memory stays bounded and every segment stays independent.
pub const MAX_SEGMENT_DURATION: i64 = 30 * TIMESCALE as i64;
/// Margin (90 kHz ticks, 1 ms) for millisecond timestamp jitter when deciding part cuts.
const JITTER: i64 = 90;

/// Targets.
#[derive(Clone, Copy, Debug)]
pub struct SegmenterConfig {
    pub segment_target: Duration,
    pub part_target: Duration,
}

/// A closed partial segment.
#[derive(Clone, Debug)]
pub struct Part {
    pub msn: u64,
    pub index: u32,
    pub frames: Vec<Frame>,
    pub start_dts: i64,
    pub end_dts: i64,
    /// Starts with a keyframe (INDEPENDENT=YES).
    pub independent: bool,
    /// First part of a segment that follows a timeline discontinuity.
    pub discontinuity: bool,
}

/// What closed.
#[derive(Clone, Debug)]
pub enum SegmenterEvent {
    PartClosed(Part),
    SegmentClosed {
        msn: u64,
        start_dts: i64,
        end_dts: i64,
        discontinuity: bool,
    },
}

#[derive(Debug)]
struct Open {
    msn: u64,
    segment_start: i64,
    part_index: u32,
    part_start: i64,
    frames: Vec<Frame>,
    discontinuity: bool,
}

/// The segmenter of one stream.
#[derive(Debug)]
pub struct Segmenter {
    segment_target: i64,
    part_target: i64,
    has_video: bool,
    next_msn: u64,
    open: Option<Open>,
    /// Last DTS per kind, and the estimated frame interval of the cutting track.
    last_video: Option<i64>,
    last_audio: Option<i64>,
    interval: i64,
    pending_discontinuity: bool,
    dropped: u64,
}

/// The duration given to the last frame before a cut that no later frame bounds, when no
/// interval could be measured yet (a stream that ends or jumps after one frame): 1/30 s. A
/// near-zero duration would make a segment of 0.00001 s, which players (GStreamer's
/// hlsdemux2) map to the same stream time as the next segment.
pub const DEFAULT_FRAME_INTERVAL: i64 = TIMESCALE as i64 / 30;

fn ticks(d: Duration) -> i64 {
    (d.as_secs_f64() * f64::from(TIMESCALE)).round() as i64
}

impl Segmenter {
    /// A segmenter whose first segment gets `first_msn`. `has_video` says whether cuts follow
    /// video keyframes.
    pub fn new(config: SegmenterConfig, first_msn: u64, has_video: bool) -> Self {
        Self {
            segment_target: ticks(config.segment_target).max(1),
            part_target: ticks(config.part_target).max(1),
            has_video,
            next_msn: first_msn,
            open: None,
            last_video: None,
            last_audio: None,
            interval: 0,
            pending_discontinuity: false,
            dropped: 0,
        }
    }

    /// Frames dropped while waiting for a keyframe.
    pub fn dropped_before_keyframe(&self) -> u64 {
        self.dropped
    }

    /// The MSN the next segment to open will get.
    pub fn next_msn(&self) -> u64 {
        self.open
            .as_ref()
            .map(|o| o.msn + 1)
            .unwrap_or(self.next_msn)
    }

    fn is_cutting_track(&self, f: &Frame) -> bool {
        matches!(f, Frame::Video(_)) || !self.has_video
    }

    /// Adds a frame (in DTS order); returns what closed before it.
    pub fn push(&mut self, frame: Frame) -> Vec<SegmenterEvent> {
        let mut events = Vec::new();
        let dts = frame.dts();
        let last = match frame {
            Frame::Video(_) => self.last_video,
            Frame::Audio(_) => self.last_audio,
        };
        if let Some(l) = last
            && (dts < l - MAX_TIMESTAMP_BACKSTEP || dts > l + MAX_TIMESTAMP_GAP)
            && self.open.is_some()
        {
            events.extend(self.close_all(l + self.frame_interval(), true));
            self.pending_discontinuity = true;
            self.last_video = None;
            self.last_audio = None;
            self.interval = 0;
        }
        let cutting = self.is_cutting_track(&frame);
        if cutting {
            let prev = if self.has_video {
                self.last_video
            } else {
                self.last_audio
            };
            if let Some(p) = prev
                && dts > p
            {
                // The largest recent interval, decaying slowly, so jittery timestamps do not
                // make parts overshoot.
                let d = dts - p;
                self.interval = if d > self.interval {
                    d
                } else {
                    (self.interval * 7 + d) / 8
                };
            }
        }
        match frame {
            Frame::Video(_) => self.last_video = Some(dts),
            Frame::Audio(_) => self.last_audio = Some(dts),
        }

        let Some(open) = self.open.as_mut() else {
            let starts = !self.has_video || frame.is_keyframe();
            if !starts {
                self.dropped += 1;
                return events;
            }
            self.open_segment(frame);
            return events;
        };

        if cutting {
            // A frame arriving after the part target has passed: the part ends at the last
            // cutting-track frame already in it, which moves to the next part, so no part
            // outlasts PART-TARGET however late frames come.
            if dts - open.part_start > self.part_target {
                let has_video = self.has_video;
                let split = open.frames.iter().rposition(|g| {
                    (matches!(g, Frame::Video(_)) || !has_video) && g.dts() > open.part_start
                });
                if let Some(i) = split {
                    let rest = open.frames.split_off(i);
                    let end = rest[0].dts();
                    events.push(Self::close_part(open, end));
                    open.frames = rest;
                }
            }
            if self.has_video
                && !frame.is_keyframe()
                && dts - open.segment_start >= MAX_SEGMENT_DURATION
            {
                events.extend(self.close_all(dts, false));
                self.pending_discontinuity = true;
                self.dropped += 1;
                return events;
            }
            let new_segment = (frame.is_keyframe() || !self.has_video)
                && dts - open.segment_start >= self.segment_target;
            if new_segment {
                events.extend(self.close_all(dts, false));
                self.open_segment(frame);
                return events;
            }
            // Close now if the part is full, or if the next frame would overfill it.
            let elapsed = dts - open.part_start;
            let full = elapsed >= self.part_target
                || elapsed + self.interval > self.part_target + JITTER
                || open.frames.len() >= MAX_PART_FRAMES;
            if full && !open.frames.is_empty() && elapsed > 0 {
                events.push(Self::close_part(open, dts));
            }
        }
        if let Some(open) = self.open.as_mut() {
            open.frames.push(frame);
        }
        events
    }

    /// Opens the next segment with `frame` as its first frame.
    fn open_segment(&mut self, frame: Frame) {
        let dts = frame.dts();
        self.open = Some(Open {
            msn: self.next_msn,
            segment_start: dts,
            part_index: 0,
            part_start: dts,
            frames: vec![frame],
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
        });
    }

    fn close_part(open: &mut Open, end: i64) -> SegmenterEvent {
        let frames = std::mem::take(&mut open.frames);
        let independent = frames.first().is_some_and(|f| {
            f.is_keyframe()
                || matches!(f, Frame::Audio(_))
                    && frames.iter().all(|f| matches!(f, Frame::Audio(_)))
        });
        let part = Part {
            msn: open.msn,
            index: open.part_index,
            frames,
            start_dts: open.part_start,
            end_dts: end,
            independent,
            discontinuity: open.discontinuity && open.part_index == 0,
        };
        open.part_index += 1;
        open.part_start = end;
        SegmenterEvent::PartClosed(part)
    }

    /// Closes the open part and segment at `end`. With `estimated`, `end` is a guess (no next
    /// frame exists): it is kept within the part target, but after the last frame.
    fn close_all(&mut self, end: i64, estimated: bool) -> Vec<SegmenterEvent> {
        let mut events = Vec::new();
        if let Some(mut open) = self.open.take() {
            let mut end = end;
            if estimated {
                // Only the cutting track bounds the part: trailing audio may run past its end.
                let has_video = self.has_video;
                let last = open
                    .frames
                    .iter()
                    .filter(|f| matches!(f, Frame::Video(_)) || !has_video)
                    .map(Frame::dts)
                    .max()
                    .unwrap_or(open.part_start);
                end = end.min(open.part_start + self.part_target).max(last + 1);
            }
            let end = end.max(open.part_start + 1);
            if !open.frames.is_empty() {
                events.push(Self::close_part(&mut open, end));
            }
            if open.part_index > 0 {
                events.push(SegmenterEvent::SegmentClosed {
                    msn: open.msn,
                    start_dts: open.segment_start,
                    end_dts: end,
                    discontinuity: open.discontinuity,
                });
                self.next_msn = open.msn + 1;
            }
        }
        events
    }

    /// End of stream: closes the open part and segment (the last frame's duration is the
    /// estimated frame interval).
    pub fn finish(&mut self) -> Vec<SegmenterEvent> {
        let last = self
            .last_video
            .into_iter()
            .chain(self.last_audio)
            .max()
            .unwrap_or(0);
        let end = last + self.frame_interval();
        self.close_all(end, true)
    }

    /// The measured frame interval of the cutting track, or [`DEFAULT_FRAME_INTERVAL`].
    fn frame_interval(&self) -> i64 {
        if self.interval > 0 {
            self.interval
        } else {
            DEFAULT_FRAME_INTERVAL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use onair_media::{AudioFrame, VideoFrame};
    use proptest::prelude::*;

    fn cfg() -> SegmenterConfig {
        SegmenterConfig {
            segment_target: Duration::from_secs(2),
            part_target: Duration::from_millis(200),
        }
    }

    /// A/V stream: video every `vi` ms with keyframes every `gop` frames, AAC every ~23 ms.
    fn stream(frames: usize, vi: i64, gop: usize, jitter: &[i64]) -> Vec<Frame> {
        let mut out = Vec::new();
        let mut audio_t = 0i64;
        for i in 0..frames {
            let j = jitter.get(i).copied().unwrap_or(0);
            let t = (i as i64 * vi + j) * 90;
            while audio_t * 90 <= t {
                out.push(Frame::Audio(AudioFrame {
                    dts: audio_t * 90,
                    data: Bytes::from_static(b"a"),
                }));
                audio_t += 23;
            }
            out.push(Frame::Video(VideoFrame {
                dts: t,
                cts: 0,
                keyframe: i % gop == 0,
                data: Bytes::from_static(b"v"),
            }));
        }
        out
    }

    fn run(s: &mut Segmenter, frames: &[Frame]) -> (Vec<Part>, Vec<(u64, i64, i64)>) {
        let mut parts = vec![];
        let mut segs = vec![];
        let mut all: Vec<SegmenterEvent> = frames.iter().flat_map(|f| s.push(f.clone())).collect();
        all.extend(s.finish());
        for e in all {
            match e {
                SegmenterEvent::PartClosed(p) => parts.push(p),
                SegmenterEvent::SegmentClosed {
                    msn,
                    start_dts,
                    end_dts,
                    ..
                } => segs.push((msn, start_dts, end_dts)),
            }
        }
        (parts, segs)
    }

    proptest! {
        #[test]
        fn invariants_hold(
            vi in prop::sample::select(vec![33i64, 40, 20, 17, 50]),
            gop in 10usize..120,
            jitter in prop::collection::vec(-1i64..=1, 0..400),
            n in 50usize..400,
        ) {
            let frames = stream(n, vi, gop, &jitter);
            let mut s = Segmenter::new(cfg(), 7, true);
            let (parts, segs) = run(&mut s, &frames);
            // Concatenated parts are the input from the first keyframe on.
            let out: Vec<Frame> = parts.iter().flat_map(|p| p.frames.clone()).collect();
            let first_key = frames.iter().position(Frame::is_keyframe).unwrap();
            prop_assert!(out == frames[first_key..], "parts do not concatenate to the input");
            for p in &parts {
                // No part exceeds PART-TARGET (18000 ticks) unless one frame interval does.
                prop_assert!(p.end_dts - p.start_dts <= 18_000 || vi * 90 > 18_000, "part {}.{} lasts {}", p.msn, p.index, p.end_dts - p.start_dts);
                prop_assert!(p.end_dts > p.start_dts);
                if p.index == 0 {
                    prop_assert!(p.independent);
                    prop_assert!(p.frames.iter().find(|f| matches!(f, Frame::Video(_))).unwrap().is_keyframe());
                }
            }
            // Segments are numbered from 7 without gaps, contiguous, and cut at keyframes only.
            for (i, w) in segs.windows(2).enumerate() {
                prop_assert_eq!(w[0].0 + 1, w[1].0);
                prop_assert_eq!(w[0].2, w[1].1);
                prop_assert!(i > 0 || w[0].0 == 7);
            }
            // Parts tile their segment exactly.
            for (msn, start, end) in &segs {
                let ps: Vec<&Part> = parts.iter().filter(|p| p.msn == *msn).collect();
                prop_assert_eq!(ps.first().unwrap().start_dts, *start);
                prop_assert_eq!(ps.last().unwrap().end_dts, *end);
                for w in ps.windows(2) {
                    prop_assert_eq!(w[0].end_dts, w[1].start_dts);
                }
            }
        }
    }

    #[test]
    fn leading_frames_before_the_keyframe_are_dropped() {
        let mut frames = stream(60, 40, 50, &[]);
        // Drop the first keyframe so the stream starts mid-GOP.
        frames.retain(|f| !(f.is_keyframe() && f.dts() == 0));
        let mut s = Segmenter::new(cfg(), 0, true);
        let (parts, _) = run(&mut s, &frames);
        assert!(s.dropped_before_keyframe() > 0);
        assert!(parts[0].frames[0].is_keyframe());
    }

    #[test]
    fn a_stream_of_one_frame_lasts_a_frame_interval() {
        let frames = stream(1, 40, 25, &[]);
        let mut s = Segmenter::new(cfg(), 0, true);
        let (_, mut segs) = run(&mut s, &frames);
        for e in s.finish() {
            if let SegmenterEvent::SegmentClosed {
                msn,
                start_dts,
                end_dts,
                ..
            } = e
            {
                segs.push((msn, start_dts, end_dts));
            }
        }
        assert_eq!(segs, [(0, 0, DEFAULT_FRAME_INTERVAL)]);
    }

    #[test]
    fn timestamp_jump_is_a_discontinuity() {
        let mut frames = stream(100, 40, 25, &[]);
        let restart: Vec<Frame> = stream(100, 40, 25, &[]);
        frames.extend(restart);
        let mut s = Segmenter::new(cfg(), 0, true);
        let mut disc = 0;
        for f in frames {
            for e in s.push(f) {
                if let SegmenterEvent::PartClosed(p) = e
                    && p.discontinuity
                {
                    disc += 1;
                }
            }
        }
        assert_eq!(disc, 1);
    }

    #[test]
    fn a_stream_without_keyframes_cannot_grow_a_segment_forever() {
        // One keyframe, then 40 s of inter frames, then a keyframe again.
        let mut frames = stream(1000, 40, 100_000, &[]);
        frames.extend(stream(50, 40, 25, &[]).into_iter().map(|f| match f {
            Frame::Video(mut v) => {
                v.dts += 1000 * 40 * 90;
                Frame::Video(v)
            }
            Frame::Audio(mut a) => {
                a.dts += 1000 * 40 * 90;
                Frame::Audio(a)
            }
        }));
        let mut s = Segmenter::new(cfg(), 0, true);
        let mut events: Vec<SegmenterEvent> =
            frames.iter().flat_map(|f| s.push(f.clone())).collect();
        events.extend(s.finish());
        let segs: Vec<(i64, i64, bool)> = events
            .iter()
            .filter_map(|e| match e {
                SegmenterEvent::SegmentClosed {
                    start_dts,
                    end_dts,
                    discontinuity,
                    ..
                } => Some((*start_dts, *end_dts, *discontinuity)),
                _ => None,
            })
            .collect();
        assert!(
            segs.iter()
                .all(|(a, b, _)| b - a <= MAX_SEGMENT_DURATION + 90 * 40)
        );
        assert!(
            segs.iter().any(|(_, _, d)| *d),
            "the segment after the gap follows a discontinuity"
        );
        assert!(s.dropped_before_keyframe() > 0);
    }

    #[test]
    fn audio_only_streams_cut_on_audio() {
        let frames: Vec<Frame> = (0..500)
            .map(|i| {
                Frame::Audio(AudioFrame {
                    dts: i * 2090,
                    data: Bytes::from_static(b"a"),
                })
            })
            .collect();
        let mut s = Segmenter::new(cfg(), 0, false);
        let (parts, segs) = run(&mut s, &frames);
        assert!(segs.len() >= 4);
        assert!(
            parts
                .iter()
                .all(|p| p.independent && p.end_dts - p.start_dts <= 18_000)
        );
    }
}
