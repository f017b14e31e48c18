//! H.264: the AVCDecoderConfigurationRecord (ISO/IEC 14496-15:2022 §5.3.3.1) and, from its
//! first sequence parameter set, the picture size (ITU-T H.264 (08/2021) §7.3.2.1.1, with frame
//! cropping per §7.4.2.1.1).
//!
//! Our own parser rather than `h264-reader`: only the picture size is needed, on the ingest
//! path, and this stays small and allocation-light.

use bytes::Bytes;

use super::bits::{BitReader, rbsp};
use super::{AvcConfig, CodecError, MAX_PARAMETER_SETS};

impl AvcConfig {
    /// Parses an AVCDecoderConfigurationRecord as carried in an FLV AVC sequence header.
    pub fn parse(record: Bytes) -> Result<Self, CodecError> {
        let r = &record[..];
        if r.len() < 7 {
            return Err(CodecError::Truncated("AVCDecoderConfigurationRecord"));
        }
        if r[0] != 1 {
            return Err(CodecError::Invalid("configurationVersion is not 1"));
        }
        let nal_length_size = (r[4] & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(CodecError::Invalid(
                "lengthSizeMinusOne of 2 is not allowed",
            ));
        }
        let mut pos = 5;
        let sets = |count: usize, pos: &mut usize| -> Result<Vec<Bytes>, CodecError> {
            if count > MAX_PARAMETER_SETS {
                return Err(CodecError::TooManyParameterSets);
            }
            let mut v = Vec::with_capacity(count);
            for _ in 0..count {
                let len = r
                    .get(*pos..*pos + 2)
                    .ok_or(CodecError::Truncated("parameter set length"))?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let start = *pos + 2;
                if start + len > r.len() {
                    return Err(CodecError::Truncated("parameter set"));
                }
                v.push(record.slice(start..start + len));
                *pos = start + len;
            }
            Ok(v)
        };
        let sps_count = usize::from(r[5] & 0x1F);
        pos += 1;
        let sps = sets(sps_count, &mut pos)?;
        let pps_count = usize::from(
            *r.get(pos)
                .ok_or(CodecError::Truncated("numOfPictureParameterSets"))?,
        );
        pos += 1;
        let pps = sets(pps_count, &mut pos)?;
        let first = sps
            .first()
            .ok_or(CodecError::Invalid("no sequence parameter set"))?;
        let (width, height) = sps_dimensions(first)?;
        Ok(AvcConfig {
            nal_length_size,
            profile_idc: r[1],
            profile_compatibility: r[2],
            level_idc: r[3],
            width,
            height,
            sps,
            pps,
            record,
        })
    }

    /// RFC 6381 `avc1.PPCCLL`.
    pub fn codecs(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.profile_compatibility, self.level_idc
        )
    }
}

/// Width and height (after cropping) from an SPS NAL unit (with its 1-byte NAL header).
pub fn sps_dimensions(nal: &[u8]) -> Result<(u32, u32), CodecError> {
    let data = rbsp(nal.get(1..).ok_or(CodecError::Truncated("SPS"))?);
    let mut r = BitReader::new(&data);
    let profile_idc = r.bits(8)? as u8;
    r.skip(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err(CodecError::Invalid(
                    "num_ref_frames_in_pic_order_cnt_cycle > 255",
                ));
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let w_mbs = u64::from(r.ue()?) + 1;
    let h_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut l, mut rt, mut t, mut b) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        l = r.ue()?.into();
        rt = r.ue()?.into();
        t = r.ue()?.into();
        b = r.ue()?.into();
    }
    let frame_factor = if frame_mbs_only { 1 } else { 2 };
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (crop_x, crop_y) = match chroma_array_type {
        0 => (1, frame_factor),
        1 => (2, 2 * frame_factor),
        2 => (2, frame_factor),
        _ => (1, frame_factor),
    };
    let width = (w_mbs * 16).checked_sub(crop_x * (l + rt));
    let height = (h_map_units * 16 * frame_factor).checked_sub(crop_y * (t + b));
    match (width, height) {
        (Some(w), Some(h)) if w > 0 && h > 0 && w <= 16384 && h <= 16384 => {
            Ok((w as u32, h as u32))
        }
        _ => Err(CodecError::Invalid("picture size out of range")),
    }
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}
