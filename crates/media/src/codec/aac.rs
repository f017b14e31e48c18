//! AAC: the AudioSpecificConfig (ISO/IEC 14496-3:2019 §1.6.2.1) and the ADTS header
//! (§1.A.2.2.1) the MPEG-TS muxer puts before each raw frame.

use bytes::Bytes;

use super::bits::BitReader;
use super::{AacConfig, CodecError};

/// samplingFrequencyIndex → Hz (§1.6.3.4).
pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl AacConfig {
    /// Parses an AudioSpecificConfig as carried in an FLV AAC sequence header.
    pub fn parse(asc: Bytes) -> Result<Self, CodecError> {
        let mut r = BitReader::new(&asc);
        let mut object_type = r.bits(5)? as u8;
        if object_type == 31 {
            object_type = 32 + r.bits(6)? as u8;
        }
        let sample_rate_index = r.bits(4)? as u8;
        let sample_rate = if sample_rate_index == 15 {
            r.bits(24)? as u32
        } else {
            *SAMPLE_RATES
                .get(usize::from(sample_rate_index))
                .ok_or(CodecError::Invalid("reserved samplingFrequencyIndex"))?
        };
        if sample_rate == 0 {
            return Err(CodecError::Invalid("sampling frequency 0"));
        }
        let channel_config = r.bits(4)? as u8;
        Ok(AacConfig {
            asc,
            object_type,
            sample_rate,
            sample_rate_index,
            channel_config,
        })
    }

    /// Output channels of the channelConfiguration (Table 1.19), for the `channelcount` of the
    /// MP4 sample entry; 2 when a program_config_element defines them (0) or the value is
    /// reserved (the decoder reads the real layout from the AudioSpecificConfig).
    pub fn channel_count(&self) -> u16 {
        match self.channel_config {
            c @ 1..=6 => u16::from(c),
            11 => 7,
            7 | 12 | 14 => 8,
            13 => 24,
            _ => 2,
        }
    }

    /// RFC 6381 `mp4a.40.{audioObjectType}`.
    pub fn codecs(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// The 7-byte ADTS header (no CRC) for a raw frame of `payload_len` bytes.
    pub fn adts_header(&self, payload_len: usize) -> Result<[u8; 7], CodecError> {
        let len = payload_len + 7;
        if len > 0x1FFF {
            return Err(CodecError::Invalid("AAC frame too long for ADTS"));
        }
        if self.sample_rate_index > 12 {
            return Err(CodecError::Invalid(
                "ADTS needs a standard sampling frequency",
            ));
        }
        // ADTS can signal profiles 1..=4 (object types 1..=4); HE-AAC is sent as its LC core.
        let profile = match self.object_type {
            1..=4 => self.object_type - 1,
            _ => 1,
        };
        let ch = self.channel_config & 7;
        Ok([
            0xFF,
            0xF1, // MPEG-4, layer 0, no CRC
            (profile << 6) | (self.sample_rate_index << 2) | (ch >> 2),
            ((ch & 3) << 6) | ((len >> 11) as u8 & 0x03),
            ((len >> 3) & 0xFF) as u8,
            (((len & 7) as u8) << 5) | 0x1F,
            0xFC,
        ])
    }
}
