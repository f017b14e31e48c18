//! CMAF / fragmented MP4 (ISO/IEC 14496-12:2022 §8.8, ISO/IEC 23000-19:2020): the init segment
//! and `moof`+`mdat` chunks, one per LL-HLS part.
//!
//! The boxes are written by hand (a few hundred bytes per fragment) rather than through
//! `mp4-atom`: the `mdat` header is written separately so frame payloads are never copied —
//! a fragment is a small header `Bytes` followed by the frames' own `Bytes` — and `trun` is
//! version 1 (signed composition offsets). ffprobe is the independent reader in the tests.

pub(crate) mod boxes;
mod esds;
mod init;

use bytes::{BufMut, Bytes};

pub use esds::repair_init;
pub use init::init_segment;

use crate::frame::{Frame, TIMESCALE};
use boxes::BoxWriter;

/// Track ids in our init segments.
pub const VIDEO_TRACK_ID: u32 = 1;
pub const AUDIO_TRACK_ID: u32 = 2;
/// Samples one fragment may hold.
pub const MAX_FRAGMENT_SAMPLES: usize = 100_000;
/// Samples per AAC frame (AAC-LC and the core of HE-AAC).
pub const AAC_FRAME_SAMPLES: i64 = 1024;

/// Errors writing fMP4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    #[error("no tracks to write")]
    NoTracks,
    #[error("more than MAX_FRAGMENT_SAMPLES ({MAX_FRAGMENT_SAMPLES}) samples in one fragment")]
    TooManySamples,
    #[error("fragment larger than 4 GiB")]
    TooLarge,
}

/// A written fragment: header then payloads; their concatenation is the object.
#[derive(Debug, Clone, Default)]
pub struct Fragment {
    pub chunks: Vec<Bytes>,
    pub len: usize,
}

/// Writes successive fragments of one stream.
#[derive(Debug)]
pub struct FragmentWriter {
    sequence: u32,
    audio_rate: Option<u32>,
    /// Where the next audio sample would start if the input is continuous (audio timescale).
    audio_next: Option<i64>,
    last_video_duration: u32,
}

const FLAGS_SYNC: u32 = 0x0200_0000; // sample_depends_on = 2
const FLAGS_NON_SYNC: u32 = 0x0101_0000; // sample_depends_on = 1, sample_is_non_sync_sample

impl FragmentWriter {
    pub fn new(tracks: &crate::codec::Tracks) -> Result<Self, Fmp4Error> {
        if tracks.video.is_none() && tracks.audio.is_none() {
            return Err(Fmp4Error::NoTracks);
        }
        let audio_rate = tracks
            .audio
            .as_ref()
            .map(|crate::codec::AudioConfig::Aac(c)| c.sample_rate);
        Ok(Self {
            sequence: 0,
            audio_rate,
            audio_next: None,
            last_video_duration: TIMESCALE / 30,
        })
    }

    /// Writes one fragment with `frames` (DTS order); `end_dts` (90 kHz) is where it ends.
    pub fn write(&mut self, frames: &[Frame], end_dts: i64) -> Result<Fragment, Fmp4Error> {
        if frames.len() > MAX_FRAGMENT_SAMPLES {
            return Err(Fmp4Error::TooManySamples);
        }
        let video: Vec<&crate::frame::VideoFrame> = frames
            .iter()
            .filter_map(|f| {
                if let Frame::Video(v) = f {
                    Some(v)
                } else {
                    None
                }
            })
            .collect();
        let audio: Vec<&crate::frame::AudioFrame> = match self.audio_rate {
            Some(_) => frames
                .iter()
                .filter_map(|f| {
                    if let Frame::Audio(a) = f {
                        Some(a)
                    } else {
                        None
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        self.sequence = self.sequence.wrapping_add(1);

        // Video sample table.
        let mut v_entries = Vec::with_capacity(video.len());
        for (i, f) in video.iter().enumerate() {
            let next = video.get(i + 1).map(|n| n.dts).unwrap_or(end_dts);
            let d = next - f.dts;
            let duration = if d > 0 && d < i64::from(u32::MAX) {
                d as u32
            } else {
                self.last_video_duration
            };
            if i + 1 < video.len() || d > 0 {
                self.last_video_duration = duration.max(1);
            }
            let flags = if f.keyframe {
                FLAGS_SYNC
            } else {
                FLAGS_NON_SYNC
            };
            v_entries.push((duration, f.data.len() as u32, flags, f.cts));
        }

        // Audio sample table: 1024 samples per frame while the input is continuous, so ms
        // timestamps do not jitter the timeline; resynchronised when it is not.
        let mut a_entries = Vec::with_capacity(audio.len());
        let mut audio_base = 0i64;
        if let (Some(rate), Some(first)) = (self.audio_rate, audio.first()) {
            let rate = i64::from(rate);
            let rescale = |dts: i64| dts.max(0) * rate / i64::from(TIMESCALE);
            let actual = rescale(first.dts);
            audio_base = match self.audio_next {
                Some(n) if (actual - n).abs() < AAC_FRAME_SAMPLES => n,
                _ => actual,
            };
            let mut t = audio_base;
            for (i, f) in audio.iter().enumerate() {
                let mut d = AAC_FRAME_SAMPLES;
                if let Some(next) = audio.get(i + 1) {
                    let gap = rescale(next.dts) - t;
                    if gap > AAC_FRAME_SAMPLES * 3 / 2 {
                        d = gap;
                    }
                }
                a_entries.push((d as u32, f.data.len() as u32));
                t += d;
            }
            self.audio_next = Some(t);
        }

        let v_bytes: usize = video.iter().map(|f| f.data.len()).sum();
        let a_bytes: usize = audio.iter().map(|f| f.data.len()).sum();
        let mut w = BoxWriter::new(128 + 16 * v_entries.len() + 8 * a_entries.len());
        w.start(b"moof");
        w.start_full(b"mfhd", 0, 0);
        w.buf.put_u32(self.sequence);
        w.end();
        let mut offset_fields = Vec::new();
        if !v_entries.is_empty() {
            let base = video.first().map(|f| f.dts.max(0)).unwrap_or(0) as u64;
            traf_start(&mut w, VIDEO_TRACK_ID, base);
            w.start_full(
                b"trun",
                1,
                0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800,
            );
            w.buf.put_u32(v_entries.len() as u32);
            offset_fields.push((w.len(), 0usize));
            w.buf.put_i32(0);
            for (d, s, fl, cto) in &v_entries {
                w.buf.put_u32(*d);
                w.buf.put_u32(*s);
                w.buf.put_u32(*fl);
                w.buf.put_i32(*cto);
            }
            w.end();
            w.end();
        }
        if !a_entries.is_empty() {
            traf_start(&mut w, AUDIO_TRACK_ID, audio_base as u64);
            w.start_full(b"trun", 0, 0x000001 | 0x000100 | 0x000200);
            w.buf.put_u32(a_entries.len() as u32);
            offset_fields.push((w.len(), v_bytes));
            w.buf.put_i32(0);
            for (d, s) in &a_entries {
                w.buf.put_u32(*d);
                w.buf.put_u32(*s);
            }
            w.end();
            w.end();
        }
        w.end(); // moof
        let moof_len = w.len();
        for (pos, before) in offset_fields {
            let off = i32::try_from(moof_len + 8 + before).map_err(|_| Fmp4Error::TooLarge)?;
            w.buf[pos..pos + 4].copy_from_slice(&off.to_be_bytes());
        }
        let mdat_len = u32::try_from(8 + v_bytes + a_bytes).map_err(|_| Fmp4Error::TooLarge)?;
        w.buf.put_u32(mdat_len);
        w.buf.put_slice(b"mdat");
        let header = w.buf.freeze();
        let len = header.len() + v_bytes + a_bytes;
        let mut chunks = Vec::with_capacity(1 + video.len() + audio.len());
        chunks.push(header);
        chunks.extend(video.iter().map(|f| f.data.clone()));
        chunks.extend(audio.iter().map(|f| f.data.clone()));
        Ok(Fragment { chunks, len })
    }
}

fn traf_start(w: &mut BoxWriter, track_id: u32, base_decode_time: u64) {
    w.start(b"traf");
    w.start_full(b"tfhd", 0, 0x020000); // default-base-is-moof
    w.buf.put_u32(track_id);
    w.end();
    w.start_full(b"tfdt", 1, 0);
    w.buf.put_u64(base_decode_time);
    w.end();
}
