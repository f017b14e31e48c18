//! FLV tag bodies (Adobe FLV specification v10.1, Annex E) as RTMP carries them, including
//! Enhanced RTMP (veovera enhanced-rtmp v2: ExVideoTagHeader / ExAudioTagHeader with FourCC),
//! conversion into OnAir's frame model, FLV output for HTTP-FLV, and a whole-file reader.

mod reader;
mod tag;
mod write;

pub use reader::{FlvReader, FlvTag, MAX_TAG_SIZE, demux};
pub use tag::{
    AudioTag, VideoCodec, VideoTag, parse_audio_tag, parse_video_tag, video_config_from,
};
pub use write::{
    audio_frame_tag, audio_sequence_tag, file_header, tag, video_frame_tag, video_sequence_tag,
};

use crate::codec::CodecError;

/// FLV tag types.
pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

/// Errors of FLV parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("FLV {0} ends early")]
    Truncated(&'static str),
    #[error("not an FLV file")]
    NotFlv,
    #[error("FLV tag of {0} bytes exceeds MAX_TAG_SIZE ({MAX_TAG_SIZE})")]
    TagTooLarge(usize),
    #[error("unsupported video codec (FLV codec id {0})")]
    UnsupportedVideoCodec(u8),
    #[error("unsupported Enhanced RTMP FourCC {0:?}")]
    UnsupportedFourCc([u8; 4]),
    #[error(transparent)]
    Codec(#[from] CodecError),
}
