//! Codec configuration records and the facts HLS needs from them.
//!
//! The parsing functions live in submodules; these types are the contract other crates use.

use bytes::Bytes;

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
