//! The `esds` box of an `mp4a` sample entry (ISO/IEC 14496-14:2020 §6.7.2): an
//! ES_Descriptor (ISO/IEC 14496-1:2010 §7.2.6.5) holding a DecoderConfigDescriptor (§7.2.6.6)
//! with the AudioSpecificConfig as its DecoderSpecificInfo (§7.2.6.7), and an
//! SLConfigDescriptor (§7.2.6.8) with the MP4 predefined value.
//!
//! Every descriptor starts with a tag and a `sizeOfInstance` (§8.3.3) that counts the bytes
//! *after* the size field. Writers before 2026-12 counted the ES_Descriptor's own 5-byte header
//! too; strict readers (GStreamer's qtdemux) then find no codec data. [`repair_init`] patches
//! such init segments in place, so recordings stored before the fix play everywhere.

use bytes::{BufMut, Bytes, BytesMut};

use super::boxes::BoxWriter;

const ES_DESCR_TAG: u8 = 0x03;
const DECODER_CONFIG_DESCR_TAG: u8 = 0x04;
const DEC_SPECIFIC_INFO_TAG: u8 = 0x05;
const SL_CONFIG_DESCR_TAG: u8 = 0x06;
/// objectTypeIndication of ISO/IEC 14496-3 audio (ISO/IEC 14496-1 Table 5).
const OBJECT_TYPE_AUDIO_14496_3: u8 = 0x40;
/// streamType AudioStream (5, Table 6) << 2 | upStream 0 << 1 | reserved 1.
const STREAM_TYPE_AUDIO: u8 = (0x05 << 2) | 0x01;
/// SLConfigDescriptor predefined = 2: reserved for use in MP4 files (§7.2.6.8.2).
const SL_PREDEFINED_MP4: u8 = 0x02;
/// The largest `sizeOfInstance` four 7-bit groups can express (§8.3.3).
pub const MAX_DESCRIPTOR_LEN: usize = (1 << 28) - 1;

/// Writes a descriptor header: the tag, then `len` in the fewest 7-bit groups (§8.3.3).
fn descriptor_header(out: &mut BytesMut, tag: u8, len: usize) {
    debug_assert!(len <= MAX_DESCRIPTOR_LEN);
    out.put_u8(tag);
    let groups = (1..4).take_while(|g| len >> (7 * g) != 0).count() + 1;
    for g in (0..groups).rev() {
        let more = if g > 0 { 0x80 } else { 0 };
        out.put_u8(more | ((len >> (7 * g)) & 0x7F) as u8);
    }
}

/// Writes `esds` for an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
pub(super) fn write_esds(w: &mut BoxWriter, asc: &[u8]) {
    let mut dsi = BytesMut::with_capacity(asc.len() + 5);
    descriptor_header(&mut dsi, DEC_SPECIFIC_INFO_TAG, asc.len());
    dsi.put_slice(asc);

    let mut dcd = BytesMut::with_capacity(dsi.len() + 18);
    descriptor_header(&mut dcd, DECODER_CONFIG_DESCR_TAG, 13 + dsi.len());
    dcd.put_u8(OBJECT_TYPE_AUDIO_14496_3);
    dcd.put_u8(STREAM_TYPE_AUDIO);
    dcd.put_uint(0, 3); // bufferSizeDB: unknown
    dcd.put_u32(0); // maxBitrate: unknown (variable)
    dcd.put_u32(0); // avgBitrate: unknown (variable)
    dcd.put_slice(&dsi);

    let sl = [SL_CONFIG_DESCR_TAG, 1, SL_PREDEFINED_MP4];
    w.start_full(b"esds", 0, 0);
    // ES_ID 0 in files (ISO/IEC 14496-14 §3.1.2); no stream dependence, URL or OCR stream.
    let es_len = 3 + dcd.len() + sl.len();
    let mut es = BytesMut::with_capacity(es_len + 5);
    descriptor_header(&mut es, ES_DESCR_TAG, es_len);
    es.put_u16(0); // ES_ID
    es.put_u8(0); // streamDependenceFlag, URL_Flag, OCRstreamFlag, streamPriority
    w.buf.put_slice(&es);
    w.buf.put_slice(&dcd);
    w.buf.put_slice(&sl);
    w.end();
}

/// Box types whose body is only boxes, on the path from the file to a sample entry.
const CONTAINERS: [&[u8; 4]; 5] = [b"moov", b"trak", b"mdia", b"minf", b"stbl"];
/// Bytes before the first child box: `stsd` (full box + entry_count) and an AudioSampleEntry
/// (ISO/IEC 14496-12:2022 §12.2.3: SampleEntry 8 + 20 bytes of audio fields, version 0).
const STSD_PREAMBLE: usize = 8;
const MP4A_PREAMBLE: usize = 28;

/// An init segment with every ES_Descriptor whose size counted its own header corrected in
/// place (same length, so no box size changes), or `None` when there is nothing to correct.
///
/// Only the exact old mistake is patched: a 4-byte size field whose value is the body's length
/// plus 5. Anything else is left alone, so a foreign file is never altered.
pub fn repair_init(init: &Bytes) -> Option<Bytes> {
    let mut fixes = Vec::new();
    walk(init, 0, init.len(), 0, &mut fixes);
    if fixes.is_empty() {
        return None;
    }
    let mut out = BytesMut::from(&init[..]);
    for (at, len) in fixes {
        let v = len as u32;
        out[at..at + 4].copy_from_slice(&[
            0x80 | ((v >> 21) & 0x7F) as u8,
            0x80 | ((v >> 14) & 0x7F) as u8,
            0x80 | ((v >> 7) & 0x7F) as u8,
            (v & 0x7F) as u8,
        ]);
    }
    Some(out.freeze())
}

/// Boxes nest at most this deep on the path to `esds` (moov/trak/mdia/minf/stbl/stsd/mp4a).
const MAX_DEPTH: usize = 8;

fn walk(buf: &[u8], mut pos: usize, end: usize, depth: usize, fixes: &mut Vec<(usize, usize)>) {
    if depth > MAX_DEPTH {
        return;
    }
    while pos + 8 <= end {
        let size = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]);
        let fourcc: [u8; 4] = [buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]];
        // 0 (to the end) and 1 (64-bit) sizes never occur in the headers we patch.
        let size = size as usize;
        if size < 8 || pos + size > end {
            return;
        }
        let body = pos + 8;
        let box_end = pos + size;
        if CONTAINERS.contains(&&fourcc) {
            walk(buf, body, box_end, depth + 1, fixes);
        } else if &fourcc == b"stsd" {
            walk(buf, body + STSD_PREAMBLE, box_end, depth + 1, fixes);
        } else if &fourcc == b"mp4a" {
            walk(buf, body + MP4A_PREAMBLE, box_end, depth + 1, fixes);
        } else if &fourcc == b"esds" {
            // Full box header, then the ES_Descriptor's tag and a 4-byte size.
            let tag = body + 4;
            if tag + 5 <= box_end
                && buf[tag] == ES_DESCR_TAG
                && buf[tag + 1..tag + 4].iter().all(|b| b & 0x80 != 0)
                && buf[tag + 4] & 0x80 == 0
            {
                let declared = buf[tag + 1..tag + 5]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 7) | usize::from(b & 0x7F));
                let actual = box_end - (tag + 5);
                if declared == actual + 5 {
                    fixes.push((tag + 1, actual));
                }
            }
        }
        pos = box_end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esds_of(asc: &[u8]) -> Vec<u8> {
        let mut w = BoxWriter::new(64);
        write_esds(&mut w, asc);
        w.buf.to_vec()
    }

    #[test]
    fn sizes_exclude_the_descriptor_headers() {
        // AAC-LC 44.1 kHz stereo; layout as ffmpeg writes it but with 1-byte sizes.
        let b = esds_of(&[0x12, 0x10]);
        assert_eq!(
            b,
            [
                0, 0, 0, 39, b'e', b's', b'd', b's', 0, 0, 0, 0, // full box
                0x03, 25, 0, 0, 0, // ES_Descriptor: ES_ID, flags, then 19 + 3
                0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 13 + 4
                0x05, 2, 0x12, 0x10, // DecoderSpecificInfo
                0x06, 1, 0x02, // SLConfigDescriptor
            ]
        );
    }

    /// An init-like nest of boxes down to an `esds` written the way writers before the fix did.
    fn old_style_init(asc: &[u8]) -> Bytes {
        let mut w = BoxWriter::new(256);
        w.start(b"ftyp");
        w.buf.put_slice(b"iso6");
        w.end();
        for fourcc in CONTAINERS {
            w.start(fourcc);
        }
        w.start_full(b"stsd", 0, 0);
        w.buf.put_u32(1);
        w.start(b"mp4a");
        w.buf.put_bytes(0, MP4A_PREAMBLE);
        w.start_full(b"esds", 0, 0);
        let long = |w: &mut BoxWriter, tag: u8, len: usize| {
            w.buf.put_u8(tag);
            w.buf.put_slice(&[0x80, 0x80, 0x80, len as u8]);
        };
        let dsi = 5 + asc.len();
        let dcd = 5 + 13 + dsi;
        long(&mut w, 0x03, 3 + 5 + dcd + 5 + 1); // the old mistake: + 5
        w.buf.put_bytes(0, 3);
        long(&mut w, 0x04, 13 + dsi);
        w.buf.put_slice(&[0x40, 0x15]);
        w.buf.put_bytes(0, 11);
        long(&mut w, 0x05, asc.len());
        w.buf.put_slice(asc);
        long(&mut w, 0x06, 1);
        w.buf.put_u8(2);
        for _ in 0..8 {
            w.end();
        }
        w.buf.clone().freeze()
    }

    #[test]
    fn repair_fixes_only_the_old_es_descriptor_size() {
        let old = old_style_init(&[0x12, 0x10]);
        let fixed = repair_init(&old).expect("the old size is repaired");
        assert_eq!(fixed.len(), old.len());
        let at = old.windows(4).position(|w| w == b"esds").unwrap() + 8;
        assert_eq!(old[at..at + 5], [0x03, 0x80, 0x80, 0x80, 3 + 5 + 25 + 6]);
        assert_eq!(fixed[at..at + 5], [0x03, 0x80, 0x80, 0x80, 3 + 25 + 6]);
        let differing = old.iter().zip(fixed.iter()).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 1);
        // Already right: nothing to do, twice over.
        assert!(repair_init(&fixed).is_none());
        // Truncated or garbage input is left alone without panicking.
        for cut in 0..old.len() {
            let _ = repair_init(&old.slice(..cut));
        }
        assert!(repair_init(&Bytes::from_static(&[0xFF; 64])).is_none());
    }

    #[test]
    fn long_sizes_use_more_groups() {
        let mut out = BytesMut::new();
        descriptor_header(&mut out, 5, 200);
        assert_eq!(&out[..], [5, 0x81, 0x48]);
        out.clear();
        descriptor_header(&mut out, 5, MAX_DESCRIPTOR_LEN);
        assert_eq!(&out[..], [5, 0xFF, 0xFF, 0xFF, 0x7F]);
    }
}
