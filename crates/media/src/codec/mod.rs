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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aac_configs() {
        // AAC-LC, 44.1 kHz (index 4), stereo.
        let c = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap();
        assert_eq!(
            (c.object_type, c.sample_rate, c.channel_config),
            (2, 44100, 2)
        );
        assert_eq!(c.codecs(), "mp4a.40.2");
        assert_eq!(c.channel_count(), 2);
        // channelConfiguration 7 is 7.1: eight channels; 0 (a PCE) is read from the config.
        let seven = AacConfig::parse(Bytes::from_static(&[0x11, 0xB8])).unwrap();
        assert_eq!((seven.channel_config, seven.channel_count()), (7, 8));
        let pce = AacConfig::parse(Bytes::from_static(&[0x11, 0x80])).unwrap();
        assert_eq!((pce.channel_config, pce.channel_count()), (0, 2));
        // ADTS: sync word, MPEG-4, no CRC, frame length 7 + 100.
        let h = c.adts_header(100).unwrap();
        assert_eq!(&h[..2], &[0xFF, 0xF1]);
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        assert_eq!(len, 107);
        // Explicit frequency (index 15, 24-bit value).
        let e = AacConfig::parse(Bytes::from_static(&[0x17, 0x80, 0x5D, 0xC0, 0x10])).unwrap();
        assert_eq!(
            (e.sample_rate_index, e.sample_rate, e.channel_config),
            (15, 48000, 2)
        );
        assert!(
            e.adts_header(10).is_err(),
            "ADTS cannot signal an explicit frequency"
        );
        assert!(
            AacConfig::parse(Bytes::from_static(&[0x16, 0x80])).is_err(),
            "reserved index 13"
        );
    }

    #[test]
    fn hevc_codecs_string_follows_annex_e() {
        let c = HevcConfig {
            record: Bytes::new(),
            vps: vec![],
            sps: vec![],
            pps: vec![],
            nal_length_size: 4,
            general_profile_space: 0,
            general_tier_flag: false,
            general_profile_idc: 1,
            general_profile_compatibility_flags: 0x6000_0000,
            general_constraint_indicator_flags: 0xB000_0000_0000,
            general_level_idc: 93,
            width: 1920,
            height: 1080,
        };
        assert_eq!(c.codecs(), "hvc1.1.6.L93.B0");
    }

    proptest! {
        #[test]
        fn arbitrary_records_never_panic(data in prop::collection::vec(any::<u8>(), 0..128)) {
            let b = Bytes::from(data);
            let _ = AvcConfig::parse(b.clone());
            let _ = HevcConfig::parse(b.clone());
            if let Ok(a) = AacConfig::parse(b) {
                let _ = a.adts_header(10);
            }
        }

        #[test]
        fn avc_records_with_random_sps_never_panic(sps in prop::collection::vec(any::<u8>(), 1..64)) {
            let mut r = vec![1, 100, 0, 30, 0xFF, 0xE1];
            r.extend_from_slice(&(sps.len() as u16).to_be_bytes());
            r.extend_from_slice(&sps);
            r.extend_from_slice(&[0]);
            let _ = AvcConfig::parse(Bytes::from(r));
        }
    }
}
