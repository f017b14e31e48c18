//! Writing FLV for HTTP-FLV: the file header and complete tags, with payloads shared (not
//! copied) from the frames. HEVC goes out as Enhanced RTMP (`hvc1`), AVC and AAC as legacy tags.

use bytes::{BufMut, Bytes, BytesMut};

use super::{TAG_AUDIO, TAG_VIDEO};
use crate::codec::{AudioConfig, VideoConfig};
use crate::frame::{AudioFrame, TIMESCALE, VideoFrame};

/// The 9-byte FLV header followed by PreviousTagSize0.
pub fn file_header(has_audio: bool, has_video: bool) -> Bytes {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    Bytes::copy_from_slice(&[b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0])
}

/// A complete tag: [tag header + body prefix] [payload] [PreviousTagSize].
pub fn tag(tag_type: u8, timestamp_ms: u32, prefix: &[u8], payload: Bytes) -> [Bytes; 3] {
    let size = prefix.len() + payload.len();
    let mut h = BytesMut::with_capacity(11 + prefix.len());
    h.put_u8(tag_type);
    h.put_uint(size as u64, 3);
    h.put_uint(u64::from(timestamp_ms & 0xFF_FFFF), 3);
    h.put_u8((timestamp_ms >> 24) as u8);
    h.put_uint(0, 3);
    h.put_slice(prefix);
    let prev = Bytes::copy_from_slice(&((11 + size) as u32).to_be_bytes());
    [h.freeze(), payload, prev]
}

fn cts_bytes(cts_ticks: i32) -> [u8; 3] {
    let ms = cts_ticks / (TIMESCALE as i32 / 1000);
    let b = ms.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// The sequence header tag of a video configuration.
pub fn video_sequence_tag(config: &VideoConfig, timestamp_ms: u32) -> [Bytes; 3] {
    match config {
        VideoConfig::Avc(c) => tag(
            TAG_VIDEO,
            timestamp_ms,
            &[0x17, 0, 0, 0, 0],
            c.record.clone(),
        ),
        VideoConfig::Hevc(c) => tag(
            TAG_VIDEO,
            timestamp_ms,
            &[0x80 | 0x10, b'h', b'v', b'c', b'1'],
            c.record.clone(),
        ),
    }
}

/// A coded video frame tag.
pub fn video_frame_tag(config: &VideoConfig, frame: &VideoFrame, timestamp_ms: u32) -> [Bytes; 3] {
    let ft: u8 = if frame.keyframe { 1 } else { 2 };
    let c = cts_bytes(frame.cts);
    match config {
        VideoConfig::Avc(_) => tag(
            TAG_VIDEO,
            timestamp_ms,
            &[ft << 4 | 7, 1, c[0], c[1], c[2]],
            frame.data.clone(),
        ),
        VideoConfig::Hevc(_) => tag(
            TAG_VIDEO,
            timestamp_ms,
            &[0x80 | ft << 4 | 1, b'h', b'v', b'c', b'1', c[0], c[1], c[2]],
            frame.data.clone(),
        ),
    }
}

/// AAC sequence header tag (SoundFormat 10; the rate/size/type bits are fixed for AAC).
pub fn audio_sequence_tag(config: &AudioConfig, timestamp_ms: u32) -> [Bytes; 3] {
    match config {
        AudioConfig::Aac(c) => tag(TAG_AUDIO, timestamp_ms, &[0xAF, 0], c.asc.clone()),
    }
}

/// A raw AAC frame tag.
pub fn audio_frame_tag(config: &AudioConfig, frame: &AudioFrame, timestamp_ms: u32) -> [Bytes; 3] {
    match config {
        AudioConfig::Aac(_) => tag(TAG_AUDIO, timestamp_ms, &[0xAF, 1], frame.data.clone()),
    }
}
