//! The frame model shared by ingest, hub, packagers and HTTP delivery.

use bytes::Bytes;

/// Clock rate of every media timestamp in OnAir: 90 kHz, MPEG-TS's native clock
/// (ISO/IEC 13818-1 §2.4.2) and the fMP4 video timescale we write.
pub const TIMESCALE: u32 = 90_000;

/// Converts RTMP/FLV milliseconds to [`TIMESCALE`] ticks.
pub const fn ms_to_ticks(ms: i64) -> i64 {
    ms * (TIMESCALE as i64 / 1000)
}

/// One coded video access unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoFrame {
    /// Decode timestamp, [`TIMESCALE`] ticks, monotonically non-decreasing within a publish.
    pub dts: i64,
    /// Composition time offset (PTS − DTS), [`TIMESCALE`] ticks; may be negative.
    pub cts: i32,
    /// True for a random access point (IDR for AVC; IRAP for HEVC; key frame for AV1).
    pub keyframe: bool,
    /// For AVC/HEVC: NAL units, each prefixed by a big-endian length of the configuration
    /// record's `nal_length_size` bytes (ISO/IEC 14496-15 sample format, as in FLV/MP4).
    pub data: Bytes,
}

impl VideoFrame {
    /// Presentation timestamp in [`TIMESCALE`] ticks.
    pub fn pts(&self) -> i64 {
        self.dts + i64::from(self.cts)
    }
}

/// One coded audio frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioFrame {
    /// Decode (= presentation) timestamp, [`TIMESCALE`] ticks.
    pub dts: i64,
    /// For AAC: one raw access unit (no ADTS header), as carried in FLV `AACPacketType` 1.
    pub data: Bytes,
}

/// A frame of either kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Video(VideoFrame),
    Audio(AudioFrame),
}

impl Frame {
    /// Decode timestamp in [`TIMESCALE`] ticks.
    pub fn dts(&self) -> i64 {
        match self {
            Frame::Video(v) => v.dts,
            Frame::Audio(a) => a.dts,
        }
    }

    /// Payload size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Video(v) => v.data.len(),
            Frame::Audio(a) => a.data.len(),
        }
    }

    /// True if the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for a video random access point.
    pub fn is_keyframe(&self) -> bool {
        matches!(self, Frame::Video(v) if v.keyframe)
    }
}
