//! H.265: the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15:2022 §8.3.3.1) and, from its
//! SPS, the picture size (ITU-T H.265 (08/2021) §7.3.2.2.1, conformance window per §7.4.3.2.1).

use bytes::Bytes;

use super::bits::{BitReader, rbsp};
use super::{CodecError, HevcConfig, MAX_PARAMETER_SETS};

const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;
/// Arrays in one record accepted.
const MAX_ARRAYS: usize = 16;

impl HevcConfig {
    /// Parses an HEVCDecoderConfigurationRecord.
    pub fn parse(record: Bytes) -> Result<Self, CodecError> {
        let r = &record[..];
        if r.len() < 23 {
            return Err(CodecError::Truncated("HEVCDecoderConfigurationRecord"));
        }
        if r[0] != 1 {
            return Err(CodecError::Invalid("configurationVersion is not 1"));
        }
        let general_profile_space = r[1] >> 6;
        let general_tier_flag = r[1] & 0x20 != 0;
        let general_profile_idc = r[1] & 0x1F;
        let general_profile_compatibility_flags = u32::from_be_bytes([r[2], r[3], r[4], r[5]]);
        let mut c = [0u8; 8];
        c[2..].copy_from_slice(&r[6..12]);
        let general_constraint_indicator_flags = u64::from_be_bytes(c);
        let general_level_idc = r[12];
        let nal_length_size = (r[21] & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(CodecError::Invalid(
                "lengthSizeMinusOne of 2 is not allowed",
            ));
        }
        let arrays = usize::from(r[22]);
        if arrays > MAX_ARRAYS {
            return Err(CodecError::TooManyParameterSets);
        }
        let (mut vps, mut sps, mut pps) = (vec![], vec![], vec![]);
        let mut pos = 23;
        for _ in 0..arrays {
            let hdr = r
                .get(pos..pos + 3)
                .ok_or(CodecError::Truncated("hvcC array"))?;
            let nal_type = hdr[0] & 0x3F;
            let count = usize::from(u16::from_be_bytes([hdr[1], hdr[2]]));
            pos += 3;
            for _ in 0..count {
                let len = r
                    .get(pos..pos + 2)
                    .ok_or(CodecError::Truncated("hvcC NAL unit length"))?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let start = pos + 2;
                if start + len > r.len() {
                    return Err(CodecError::Truncated("hvcC NAL unit"));
                }
                let nal = record.slice(start..start + len);
                pos = start + len;
                let list = match nal_type {
                    NAL_VPS => &mut vps,
                    NAL_SPS => &mut sps,
                    NAL_PPS => &mut pps,
                    _ => continue,
                };
                if list.len() >= MAX_PARAMETER_SETS {
                    return Err(CodecError::TooManyParameterSets);
                }
                list.push(nal);
            }
        }
        let first = sps
            .first()
            .ok_or(CodecError::Invalid("no sequence parameter set"))?;
        let (width, height) = sps_dimensions(first)?;
        Ok(HevcConfig {
            record,
            vps,
            sps,
            pps,
            nal_length_size,
            general_profile_space,
            general_tier_flag,
            general_profile_idc,
            general_profile_compatibility_flags,
            general_constraint_indicator_flags,
            general_level_idc,
            width,
            height,
        })
    }

    /// RFC 6381 / ISO/IEC 14496-15 Annex E `hvc1.…` string.
    pub fn codecs(&self) -> String {
        let space = ["", "A", "B", "C"][usize::from(self.general_profile_space & 3)];
        let compat = self.general_profile_compatibility_flags.reverse_bits();
        let tier = if self.general_tier_flag { 'H' } else { 'L' };
        let bytes = self.general_constraint_indicator_flags.to_be_bytes();
        let mut constraints: Vec<String> = bytes[2..].iter().map(|b| format!("{b:X}")).collect();
        while constraints.last().is_some_and(|c| c == "0") {
            constraints.pop();
        }
        let mut s = format!(
            "hvc1.{space}{}.{compat:X}.{tier}{}",
            self.general_profile_idc, self.general_level_idc
        );
        for c in constraints {
            s.push('.');
            s.push_str(&c);
        }
        s
    }
}

/// Width and height (after the conformance window) from an SPS NAL unit (2-byte header).
pub fn sps_dimensions(nal: &[u8]) -> Result<(u32, u32), CodecError> {
    let data = rbsp(nal.get(2..).ok_or(CodecError::Truncated("SPS"))?);
    let mut r = BitReader::new(&data);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    r.skip(1)?; // sps_temporal_id_nesting_flag
    // profile_tier_level(1, max_sub_layers_minus1): general part is 88 + 8 bits.
    r.skip(96)?;
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..max_sub_layers_minus1 {
        profile_present[i] = r.bit()?;
        level_present[i] = r.bit()?;
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for i in 0..max_sub_layers_minus1 {
        if profile_present[i] {
            r.skip(88)?;
        }
        if level_present[i] {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc == 3 {
        r.bit()?; // separate_colour_plane_flag
    }
    let w = u64::from(r.ue()?);
    let h = u64::from(r.ue()?);
    let (mut l, mut rt, mut t, mut b) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        l = r.ue()?.into();
        rt = r.ue()?.into();
        t = r.ue()?.into();
        b = r.ue()?.into();
    }
    let (sub_w, sub_h) = match chroma_format_idc {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let width = w.checked_sub(sub_w * (l + rt));
    let height = h.checked_sub(sub_h * (t + b));
    match (width, height) {
        (Some(w), Some(h)) if w > 0 && h > 0 && w <= 16384 && h <= 16384 => {
            Ok((w as u32, h as u32))
        }
        _ => Err(CodecError::Invalid("picture size out of range")),
    }
}
