//! Codec configuration records and the facts HLS needs from them: picture size, and the
//! RFC 6381 `CODECS` strings of the multivariant playlist.

pub mod aac;
pub mod avc;
mod bits;
pub mod hevc;

use bytes::Bytes;

/// Parameter sets of one kind accepted in a configuration record.
pub const MAX_PARAMETER_SETS: usize = 32;

/// Errors parsing codec configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{0} ends early")]
    Truncated(&'static str),
    #[error("invalid codec configuration: {0}")]
    Invalid(&'static str),
    #[error("more than MAX_PARAMETER_SETS ({MAX_PARAMETER_SETS}) parameter sets")]
    TooManyParameterSets,
}

/// H.264 configuration: an `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcConfig {
    /// The whole record as received (goes into `avcC` verbatim).
    pub record: Bytes,
    /// Sequence parameter sets (NAL units without start code or length prefix).
    pub sps: Vec<Bytes>,
    /// Picture parameter sets.
    pub pps: Vec<Bytes>,
    /// Bytes in each NAL unit length prefix of a sample (1, 2 or 4).
    pub nal_length_size: u8,
    pub profile_idc: u8,
    pub profile_compatibility: u8,
    pub level_idc: u8,
    /// Display width and height in pixels, from the first SPS (after cropping).
    pub width: u32,
    pub height: u32,
}

/// H.265 configuration: an `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HevcConfig {
    /// The whole record as received (goes into `hvcC` verbatim).
    pub record: Bytes,
    pub vps: Vec<Bytes>,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
    pub nal_length_size: u8,
    pub general_profile_space: u8,
    pub general_tier_flag: bool,
    pub general_profile_idc: u8,
    pub general_profile_compatibility_flags: u32,
    /// The 48 bits of general constraint indicator flags, in the low bits.
    pub general_constraint_indicator_flags: u64,
    pub general_level_idc: u8,
    pub width: u32,
    pub height: u32,
}

/// Video track configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoConfig {
    Avc(AvcConfig),
    Hevc(HevcConfig),
}

/// AAC configuration: an `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AacConfig {
    /// The whole AudioSpecificConfig as received (goes into `esds` verbatim).
    pub asc: Bytes,
    /// audioObjectType (2 = AAC-LC, 5 = SBR/HE-AAC, 29 = PS/HE-AACv2).
    pub object_type: u8,
    /// Sampling frequency in Hz (of the core AAC layer).
    pub sample_rate: u32,
    /// The 4-bit samplingFrequencyIndex (needed for ADTS headers); 15 when explicit.
    pub sample_rate_index: u8,
    /// channelConfiguration (1 = mono, 2 = stereo, ...).
    pub channel_config: u8,
}

/// Audio track configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioConfig {
    Aac(AacConfig),
}

/// The tracks of one live stream, as announced by the publisher's sequence headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracks {
    pub video: Option<VideoConfig>,
    pub audio: Option<AudioConfig>,
}

impl VideoConfig {
    /// RFC 6381 codec string.
    pub fn codecs(&self) -> String {
        match self {
            VideoConfig::Avc(c) => c.codecs(),
            VideoConfig::Hevc(c) => c.codecs(),
        }
    }

    pub fn width(&self) -> u32 {
        match self {
            VideoConfig::Avc(c) => c.width,
            VideoConfig::Hevc(c) => c.width,
        }
    }

    pub fn height(&self) -> u32 {
        match self {
            VideoConfig::Avc(c) => c.height,
            VideoConfig::Hevc(c) => c.height,
        }
    }

    /// Bytes in each NAL unit length prefix.
    pub fn nal_length_size(&self) -> u8 {
        match self {
            VideoConfig::Avc(c) => c.nal_length_size,
            VideoConfig::Hevc(c) => c.nal_length_size,
        }
    }
}

impl AudioConfig {
    /// RFC 6381 codec string.
    pub fn codecs(&self) -> String {
        match self {
            AudioConfig::Aac(c) => c.codecs(),
        }
    }
}

impl Tracks {
    /// The CODECS attribute value: video then audio, comma-separated.
    pub fn codecs(&self) -> String {
        let mut v = Vec::new();
        if let Some(c) = &self.video {
            v.push(c.codecs());
        }
        if let Some(c) = &self.audio {
            v.push(c.codecs());
        }
        v.join(",")
    }
}
