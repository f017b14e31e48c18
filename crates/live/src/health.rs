//! Stream health for the people running a stream: a short server-side history of the ingest
//! bit rate and frame rate (so a console page opened now still shows the last minutes), the
//! keyframe interval the encoder really uses, and warnings in the spirit of OBS's and YouTube
//! Studio's stream health: a keyframe interval longer than the segment target (segments grow
//! and viewers fall further behind), a sudden bit-rate drop, frames dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// One-second samples kept per stream (five minutes).
pub const MAX_HISTORY_SAMPLES: usize = 300;
/// A keyframe interval this much longer than the segment target is warned about.
const KEYFRAME_SLACK: f64 = 1.5;
/// Seconds of recent samples compared with the minute before them for a bit-rate drop.
const RECENT_SECS: usize = 5;
const BASELINE_SECS: usize = 60;
/// The recent bit rate is a "drop" below this fraction of the baseline.
const DROP_FRACTION: f64 = 0.5;

/// One measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Unix time, milliseconds.
    pub at_ms: i64,
    /// Ingest bits per second.
    pub bitrate: u64,
    /// Frames per second (media time).
    pub fps: f64,
}

/// A warning: a stable code for programs and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

pub struct StreamHealth {
    segment_target: Duration,
    history: Mutex<VecDeque<Sample>>,
    /// Decode timestamp of the last keyframe, and the interval to the one before it
    /// (`onair_media::TIMESCALE` ticks; -1: none yet).
    last_keyframe: AtomicI64,
    keyframe_interval: AtomicI64,
}

impl StreamHealth {
    pub fn new(segment_target: Duration) -> Self {
        Self {
            segment_target,
            history: Mutex::new(VecDeque::with_capacity(MAX_HISTORY_SAMPLES)),
            last_keyframe: AtomicI64::new(-1),
            keyframe_interval: AtomicI64::new(-1),
        }
    }

    /// A video frame from the publisher (its decode timestamp, 90 kHz).
    pub fn on_video(&self, dts: i64, keyframe: bool) {
        if !keyframe {
            return;
        }
        let last = self.last_keyframe.swap(dts, Ordering::Relaxed);
        // A new publish restarts timestamps: only forward steps are intervals.
        if last >= 0 && dts > last {
            self.keyframe_interval.store(dts - last, Ordering::Relaxed);
        }
    }

    /// The latest keyframe interval, when two keyframes were seen.
    pub fn keyframe_interval(&self) -> Option<Duration> {
        let ticks = self.keyframe_interval.load(Ordering::Relaxed);
        (ticks > 0)
            .then(|| Duration::from_secs_f64(ticks as f64 / f64::from(onair_media::TIMESCALE)))
    }

    /// Appends a measurement (about once a second), keeping [`MAX_HISTORY_SAMPLES`].
    pub fn record(&self, at: SystemTime, bitrate: u64, fps: f64) {
        let at_ms = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut h = self.history.lock();
        if h.len() == MAX_HISTORY_SAMPLES {
            h.pop_front();
        }
        h.push_back(Sample {
            at_ms,
            bitrate,
            fps,
        });
    }

    pub fn history(&self) -> Vec<Sample> {
        self.history.lock().iter().copied().collect()
    }

    /// What the stream's owner should know now; `dropped_frames` counts frames dropped for
    /// slow viewers since the start.
    pub fn warnings(&self, dropped_frames: u64) -> Vec<Warning> {
        let mut out = Vec::new();
        let target = self.segment_target.as_secs_f64();
        if let Some(gop) = self.keyframe_interval()
            && gop.as_secs_f64() > target * KEYFRAME_SLACK
        {
            out.push(Warning {
                code: "keyframe_interval",
                message: format!(
                    "keyframe interval is {:.1} s, longer than the {target:.1} s segments: \
                     segments wait for keyframes, so viewers are further behind; set the \
                     encoder's keyframe interval to {target:.0} s",
                    gop.as_secs_f64()
                ),
            });
        }
        let h = self.history.lock();
        if h.len() >= RECENT_SECS + BASELINE_SECS / 2 {
            let n = h.len();
            let recent: f64 = h
                .iter()
                .skip(n - RECENT_SECS)
                .map(|s| s.bitrate as f64)
                .sum::<f64>()
                / RECENT_SECS as f64;
            let base: Vec<f64> = h
                .iter()
                .take(n - RECENT_SECS)
                .rev()
                .take(BASELINE_SECS)
                .map(|s| s.bitrate as f64)
                .collect();
            let baseline = base.iter().sum::<f64>() / base.len() as f64;
            if baseline > 0.0 && recent < baseline * DROP_FRACTION {
                out.push(Warning {
                    code: "bitrate_drop",
                    message: format!(
                        "bit rate dropped to {} kbit/s from {} kbit/s: check the encoder's \
                         upload (network or CPU)",
                        (recent / 1000.0).round(),
                        (baseline / 1000.0).round()
                    ),
                });
            }
        }
        if dropped_frames > 0 {
            out.push(Warning {
                code: "dropped_frames",
                message: format!(
                    "{dropped_frames} frames dropped for viewers too slow to keep up (each \
                     skipped to the next keyframe)"
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKS: i64 = onair_media::TIMESCALE as i64;

    #[test]
    fn long_keyframe_intervals_are_warned_about() {
        let h = StreamHealth::new(Duration::from_secs(2));
        for i in 0..3 {
            h.on_video(i * 2 * TICKS, true);
            h.on_video(i * 2 * TICKS + TICKS, false);
        }
        assert_eq!(h.keyframe_interval(), Some(Duration::from_secs(2)));
        assert!(h.warnings(0).is_empty());
        h.on_video(14 * TICKS, true); // 10 s after the last one
        let w = h.warnings(0);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].code, "keyframe_interval");
        assert!(w[0].message.contains("10.0 s"), "{w:?}");
        // A restart of the timestamps is not an interval.
        h.on_video(0, true);
        assert_eq!(h.keyframe_interval(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn history_is_bounded_and_bitrate_drops_are_noticed() {
        let h = StreamHealth::new(Duration::from_secs(1));
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for i in 0..(MAX_HISTORY_SAMPLES as u64 + 20) {
            h.record(t0 + Duration::from_secs(i), 3_000_000, 30.0);
        }
        let hist = h.history();
        assert_eq!(hist.len(), MAX_HISTORY_SAMPLES);
        assert_eq!(hist[0].at_ms, 1_700_000_020_000);
        assert!(h.warnings(0).is_empty());
        for i in 0..RECENT_SECS as u64 {
            h.record(t0 + Duration::from_secs(400 + i), 500_000, 30.0);
        }
        let w = h.warnings(3);
        let codes: Vec<_> = w.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["bitrate_drop", "dropped_frames"], "{w:?}");
        assert!(w[0].message.contains("500 kbit/s from 3000"), "{w:?}");
    }
}
