//! Reading a whole FLV file (tests, benchmarks, fixtures).

use bytes::Bytes;

use super::FlvError;
use super::tag::{AudioTag, VideoTag, parse_audio_tag, parse_video_tag, video_config_from};
use crate::codec::{AacConfig, AudioConfig, Tracks};
use crate::frame::{AudioFrame, Frame, VideoFrame, ms_to_ticks};

/// Largest tag body accepted (the field is 24-bit).
pub const MAX_TAG_SIZE: usize = 0xFF_FFFF;

/// One tag of an FLV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub tag_type: u8,
    /// Milliseconds, with TimestampExtended as the upper 8 bits.
    pub timestamp_ms: u32,
    pub body: Bytes,
}

/// Iterates over the tags of an FLV file held in memory.
pub struct FlvReader {
    data: Bytes,
    pos: usize,
}

impl FlvReader {
    /// Checks the header and positions at the first tag.
    pub fn new(data: Bytes) -> Result<Self, FlvError> {
        if data.len() < 9 {
            return Err(FlvError::Truncated("header"));
        }
        if &data[..3] != b"FLV" {
            return Err(FlvError::NotFlv);
        }
        let offset = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
        // Skip the header and PreviousTagSize0.
        Ok(Self {
            pos: offset.saturating_add(4),
            data,
        })
    }

    /// The next tag, `None` at the end.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let h = self
            .data
            .get(self.pos..self.pos + 11)
            .ok_or(FlvError::Truncated("tag header"))?;
        let tag_type = h[0] & 0x1F;
        let size = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        if size > MAX_TAG_SIZE {
            return Err(FlvError::TagTooLarge(size));
        }
        let timestamp_ms = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let start = self.pos + 11;
        let end = start + size;
        if end > self.data.len() {
            return Err(FlvError::Truncated("tag body"));
        }
        let body = self.data.slice(start..end);
        self.pos = end + 4;
        Ok(Some(FlvTag {
            tag_type,
            timestamp_ms,
            body,
        }))
    }
}

impl Iterator for FlvReader {
    type Item = Result<FlvTag, FlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.next_tag();
        if r.is_err() {
            // Stop after the first error.
            self.pos = self.data.len();
        }
        r.transpose()
    }
}

/// Reads a whole FLV file into tracks and frames (for tests, benchmarks and tools).
/// Tags other than AAC and AVC/HEVC are skipped.
pub fn demux(data: Bytes) -> Result<(Tracks, Vec<Frame>), FlvError> {
    let mut tracks = Tracks::default();
    let mut frames = Vec::new();
    for tag in FlvReader::new(data)? {
        let tag = tag?;
        let dts = ms_to_ticks(i64::from(tag.timestamp_ms));
        match tag.tag_type {
            super::TAG_VIDEO => match parse_video_tag(tag.body)? {
                VideoTag::SequenceHeader { codec, record } => {
                    tracks.video = Some(video_config_from(codec, record)?)
                }
                VideoTag::Frame {
                    keyframe,
                    cts_ms,
                    data,
                    ..
                } => frames.push(Frame::Video(VideoFrame {
                    dts,
                    cts: cts_ms * 90,
                    keyframe,
                    data,
                })),
                _ => {}
            },
            super::TAG_AUDIO => match parse_audio_tag(tag.body)? {
                AudioTag::AacSequenceHeader { asc } => {
                    tracks.audio = Some(AudioConfig::Aac(AacConfig::parse(asc)?))
                }
                AudioTag::AacRaw { data } => frames.push(Frame::Audio(AudioFrame { dts, data })),
                AudioTag::Other { .. } => {}
            },
            _ => {}
        }
    }
    Ok((tracks, frames))
}
