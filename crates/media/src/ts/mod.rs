//! MPEG-2 transport stream muxer (ISO/IEC 13818-1:2019) for classic HLS (RFC 8216bis §3.3):
//! PAT/PMT, PES with PTS/DTS, PCR on the video PID, continuity counters, random access
//! indicators, AVC/HEVC in Annex B form with access unit delimiters and parameter sets before
//! each keyframe (ISO/IEC 13818-1 §2.14, HLS authoring), AAC in ADTS.
//!
//! Timing rules kept for strict demuxers and broadcast analysers:
//! * a PAT and a PMT start every segment (RFC 8216bis §3.3) and recur at least every
//!   [`TABLE_INTERVAL`] (ETSI TR 101 290 V1.4.1 §5.2.1: at most 0.5 s apart);
//! * PCRs are at most [`PCR_INTERVAL`] apart (ISO/IEC 13818-1 §2.7.2 allows 0.1 s): every PES
//!   on the PCR PID carries one, and where frames are further apart (low frame rates, gaps)
//!   adaptation-only packets on the PCR PID carry the clock across;
//! * continuity counters advance per PID for packets with payload only (§2.4.3.3).
//!
//! Unlike fMP4, TS interleaves 4-byte packet headers with the payload every 184 bytes, so the
//! payload is copied once here.

mod psi;

use bytes::{BufMut, BytesMut};

pub use psi::crc32_mpeg2;

use crate::codec::{AacConfig, AudioConfig, CodecError, Tracks, VideoConfig};
use crate::frame::{AudioFrame, Frame, TIMESCALE, VideoFrame};

pub const PACKET_SIZE: usize = 188;
pub const PMT_PID: u16 = 0x1000;
pub const VIDEO_PID: u16 = 0x100;
pub const AUDIO_PID: u16 = 0x101;
const PROGRAM: u16 = 1;
/// Added to every PTS/DTS so values stay positive when B-frames put PTS before the first DTS.
pub const TIMESTAMP_OFFSET: i64 = TIMESCALE as i64;
/// How far the PCR runs behind the DTS (decoder buffer time), like ffmpeg's default muxdelay.
pub const PCR_DELAY: i64 = 63_000;
/// Longest time between PCRs (90 kHz): 40 ms, well inside the 100 ms of ISO/IEC 13818-1 §2.7.2.
pub const PCR_INTERVAL: i64 = 3_600;
/// Longest time between PAT/PMT repetitions (90 kHz): 250 ms, half of TR 101 290's limit so a
/// frame's duration never takes it past.
pub const TABLE_INTERVAL: i64 = 22_500;
/// Most adaptation-only PCR packets bridging one gap between frames (10 s of 40 ms steps);
/// a longer gap is a timestamp jump, marked with the discontinuity_indicator instead.
pub const MAX_PCR_FILL: i64 = 250;
/// Largest access unit accepted (after Annex B conversion).
pub const MAX_ACCESS_UNIT: usize = 16 * 1024 * 1024;

/// Errors of the TS muxer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    #[error("no tracks to mux")]
    NoTracks,
    #[error("video frame has a truncated NAL unit length prefix")]
    BadNalUnit,
    #[error("access unit exceeds MAX_ACCESS_UNIT ({MAX_ACCESS_UNIT})")]
    TooLarge,
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Muxes one stream's frames into TS packets.
#[derive(Debug)]
pub struct TsMuxer {
    video: Option<VideoConfig>,
    audio: Option<AacConfig>,
    pcr_pid: u16,
    /// Continuity counters by PID: PAT, PMT, video, audio.
    cc: [u8; 4],
    /// The last PCR written (90 kHz), if any.
    last_pcr: Option<i64>,
    /// When the tables were last written; `None` right after [`TsMuxer::write_tables`] until
    /// the next frame tells the time.
    last_tables: Option<i64>,
}

impl TsMuxer {
    pub fn new(tracks: &Tracks) -> Result<Self, TsError> {
        if tracks.video.is_none() && tracks.audio.is_none() {
            return Err(TsError::NoTracks);
        }
        let audio = tracks.audio.as_ref().map(|AudioConfig::Aac(c)| c.clone());
        let pcr_pid = if tracks.video.is_some() {
            VIDEO_PID
        } else {
            AUDIO_PID
        };
        Ok(Self {
            video: tracks.video.clone(),
            audio,
            pcr_pid,
            cc: [0; 4],
            last_pcr: None,
            last_tables: None,
        })
    }

    fn cc_index(pid: u16) -> usize {
        match pid {
            0 => 0,
            PMT_PID => 1,
            VIDEO_PID => 2,
            _ => 3,
        }
    }

    /// PAT + PMT (the start of every segment; repeated by the muxer within segments).
    pub fn write_tables(&mut self, out: &mut BytesMut) {
        self.last_tables = None;
        let mut streams = Vec::new();
        if let Some(v) = &self.video {
            streams.push((
                if matches!(v, VideoConfig::Hevc(_)) {
                    0x24
                } else {
                    0x1B
                },
                VIDEO_PID,
            ));
        }
        if self.audio.is_some() {
            streams.push((0x0F, AUDIO_PID));
        }
        let pat = psi::pat(PROGRAM, PMT_PID);
        self.write_section(0, &pat, out);
        let pmt = psi::pmt(PROGRAM, self.pcr_pid, &streams);
        self.write_section(PMT_PID, &pmt, out);
    }

    fn write_section(&mut self, pid: u16, section: &[u8], out: &mut BytesMut) {
        let cc = self.next_cc(pid);
        out.reserve(PACKET_SIZE);
        out.put_u8(0x47);
        out.put_u16(0x4000 | pid);
        out.put_u8(0x10 | cc);
        out.put_u8(0); // pointer_field
        let n = section.len().min(PACKET_SIZE - 5);
        out.put_slice(&section[..n]);
        out.put_bytes(0xFF, PACKET_SIZE - 5 - n);
    }

    fn next_cc(&mut self, pid: u16) -> u8 {
        let i = Self::cc_index(pid);
        let c = self.cc[i];
        self.cc[i] = (c + 1) & 0x0F;
        c
    }

    /// Appends the TS packets of one frame.
    pub fn write_frame(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), TsError> {
        let relevant = match frame {
            Frame::Video(_) => self.video.is_some(),
            Frame::Audio(_) => self.audio.is_some(),
        };
        if relevant {
            self.keep_time(frame.dts() + TIMESTAMP_OFFSET - PCR_DELAY, out);
        }
        match frame {
            Frame::Video(v) => self.write_video(v, out),
            Frame::Audio(a) => self.write_audio(a, out),
        }
    }

    /// Before a PES whose PCR would be `clock`: repeats the tables when due, and carries the
    /// PCR across a gap with adaptation-only packets so no two PCRs are far apart.
    fn keep_time(&mut self, clock: i64, out: &mut BytesMut) {
        if let Some(mut last) = self.last_pcr {
            if (clock - last).abs() > MAX_PCR_FILL * PCR_INTERVAL {
                // A jump, not a gap to fill: a new time base starts here, tables follow it.
                self.write_pcr_only(clock, true, out);
                self.last_tables = Some(clock - TABLE_INTERVAL);
                last = clock;
            }
            while clock - last > PCR_INTERVAL {
                last += PCR_INTERVAL;
                self.write_pcr_only(last, false, out);
                if last - self.last_tables.unwrap_or(last) >= TABLE_INTERVAL {
                    self.write_tables(out);
                    self.last_tables = Some(last);
                }
            }
        }
        let last_tables = *self.last_tables.get_or_insert(clock);
        if clock - last_tables >= TABLE_INTERVAL {
            self.write_tables(out);
            self.last_tables = Some(clock);
        }
    }

    /// The PCR a PES on `pid` at `clock` carries: on the PCR PID, unless the clock has not
    /// moved past the last PCR (a PCR never goes backwards).
    fn take_pcr(&mut self, pid: u16, clock: i64) -> Option<i64> {
        if pid != self.pcr_pid || self.last_pcr.is_some_and(|l| clock <= l) {
            return None;
        }
        self.last_pcr = Some(clock);
        Some(clock)
    }

    /// An adaptation-field-only packet on the PCR PID carrying `pcr` (its continuity counter is
    /// not incremented: there is no payload, §2.4.3.3).
    fn write_pcr_only(&mut self, pcr: i64, discontinuity: bool, out: &mut BytesMut) {
        let cc = self.cc[Self::cc_index(self.pcr_pid)].wrapping_sub(1) & 0x0F;
        out.reserve(PACKET_SIZE);
        out.put_u8(0x47);
        out.put_u16(self.pcr_pid);
        out.put_u8(0x20 | cc);
        out.put_u8(183); // adaptation_field_length
        out.put_u8(if discontinuity { 0x80 } else { 0 } | 0x10);
        put_pcr(out, pcr);
        out.put_bytes(0xFF, 183 - 7);
        self.last_pcr = Some(pcr);
    }

    fn write_video(&mut self, f: &VideoFrame, out: &mut BytesMut) -> Result<(), TsError> {
        let pcr = self.take_pcr(VIDEO_PID, f.dts + TIMESTAMP_OFFSET - PCR_DELAY);
        let Some(cfg) = &self.video else {
            return Ok(());
        };
        let hevc = matches!(cfg, VideoConfig::Hevc(_));
        // The access unit as pieces borrowed from the frame and the configuration: start codes
        // are inserted while packetising, so the payload is copied once, into the packets.
        const START: &[u8] = &[0, 0, 0, 1];
        let mut pieces: Vec<&[u8]> = Vec::with_capacity(32);
        // Access unit delimiter, then parameter sets before keyframes.
        pieces.push(if hevc {
            &[0, 0, 0, 1, 0x46, 0x01, 0x50]
        } else {
            &[0, 0, 0, 1, 0x09, 0xF0]
        });
        if f.keyframe {
            let sets: Vec<&bytes::Bytes> = match cfg {
                VideoConfig::Avc(c) => c.sps.iter().chain(&c.pps).collect(),
                VideoConfig::Hevc(c) => c.vps.iter().chain(&c.sps).chain(&c.pps).collect(),
            };
            for set in sets {
                pieces.push(START);
                pieces.push(set);
            }
        }
        let n = usize::from(cfg.nal_length_size());
        let mut d = &f.data[..];
        let mut size: usize = pieces.iter().map(|p| p.len()).sum();
        while !d.is_empty() {
            if d.len() < n {
                return Err(TsError::BadNalUnit);
            }
            let len = d[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            d = &d[n..];
            if len > d.len() {
                return Err(TsError::BadNalUnit);
            }
            let nal = &d[..len];
            d = &d[len..];
            let Some(&h) = nal.first() else { continue };
            let nal_type = if hevc { (h >> 1) & 0x3F } else { h & 0x1F };
            // Drop delimiters the encoder put in; ours comes first.
            if (hevc && nal_type == 35) || (!hevc && nal_type == 9) {
                continue;
            }
            pieces.push(START);
            pieces.push(nal);
            size += START.len() + nal.len();
            if size > MAX_ACCESS_UNIT {
                return Err(TsError::TooLarge);
            }
        }
        let dts = f.dts + TIMESTAMP_OFFSET;
        let pts = f.pts() + TIMESTAMP_OFFSET;
        Self::write_pes(
            &mut self.cc,
            pcr,
            VIDEO_PID,
            0xE0,
            pts,
            Some(dts),
            f.keyframe,
            &pieces,
            out,
        );
        Ok(())
    }

    fn write_audio(&mut self, f: &AudioFrame, out: &mut BytesMut) -> Result<(), TsError> {
        let Some(cfg) = &self.audio else {
            return Ok(());
        };
        let header = cfg.adts_header(f.data.len())?;
        let pts = f.dts + TIMESTAMP_OFFSET;
        let rai = self.pcr_pid == AUDIO_PID;
        let pcr = self.take_pcr(AUDIO_PID, pts - PCR_DELAY);
        Self::write_pes(
            &mut self.cc,
            pcr,
            AUDIO_PID,
            0xC0,
            pts,
            None,
            rai,
            &[&header, &f.data],
            out,
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn write_pes(
        cc: &mut [u8; 4],
        pcr: Option<i64>,
        pid: u16,
        stream_id: u8,
        pts: i64,
        dts: Option<i64>,
        random_access: bool,
        es: &[&[u8]],
        out: &mut BytesMut,
    ) {
        let es_len: usize = es.iter().map(|p| p.len()).sum();
        let mut h = BytesMut::with_capacity(19);
        h.put_slice(&[0, 0, 1, stream_id]);
        let header_data = if dts.is_some() { 10 } else { 5 };
        let pes_len = 3 + header_data + es_len;
        // Video PES may be longer than 65535: length 0 means unbounded (§2.4.3.7).
        h.put_u16(if pes_len > 0xFFFF || stream_id == 0xE0 {
            0
        } else {
            pes_len as u16
        });
        h.put_u8(0x84); // '10', data_alignment_indicator
        h.put_u8(if dts.is_some() { 0xC0 } else { 0x80 });
        h.put_u8(header_data as u8);
        match dts {
            Some(d) => {
                put_timestamp(&mut h, 0x3, pts);
                put_timestamp(&mut h, 0x1, d);
            }
            None => put_timestamp(&mut h, 0x2, pts),
        }
        let total = h.len() + es_len;
        // Cursor over the PES header followed by the elementary stream pieces.
        let mut parts = std::iter::once(&h[..])
            .chain(es.iter().copied())
            .filter(|p| !p.is_empty());
        let mut current: &[u8] = parts.next().unwrap_or_default();
        out.reserve(total / 184 * PACKET_SIZE + 2 * PACKET_SIZE);
        let mut written = 0usize;
        let mut first = true;
        while written < total {
            let i = Self::cc_index(pid);
            let counter = cc[i];
            cc[i] = (counter + 1) & 0x0F;
            // Adaptation field: PCR/RAI on the first packet, stuffing on the last.
            let mut af_buf = [0u8; 7];
            let mut af_len = 0;
            if first && (pcr.is_some() || random_access) {
                af_buf[0] =
                    if random_access { 0x40 } else { 0 } | if pcr.is_some() { 0x10 } else { 0 };
                af_len = 1;
                if let Some(p) = pcr {
                    af_buf[1..7].copy_from_slice(&pcr_field(p));
                    af_len = 7;
                }
            }
            let af = &af_buf[..af_len];
            let room = 184 - if af.is_empty() { 0 } else { 1 + af.len() };
            let left = total - written;
            let take = left.min(room);
            let mut stuffing = room - take;
            let has_af = !af.is_empty() || stuffing > 0;
            out.put_u8(0x47);
            out.put_u16(if first { 0x4000 } else { 0 } | pid);
            out.put_u8(if has_af { 0x30 } else { 0x10 } | counter);
            if has_af {
                if af.is_empty() {
                    // Stuffing only: a 1-byte adaptation field is its length (0).
                    if stuffing == 1 {
                        out.put_u8(0);
                        stuffing = 0;
                    } else {
                        out.put_u8((stuffing - 1) as u8);
                        out.put_u8(0);
                        out.put_bytes(0xFF, stuffing - 2);
                        stuffing = 0;
                    }
                } else {
                    out.put_u8((af.len() + stuffing) as u8);
                    out.put_slice(af);
                    out.put_bytes(0xFF, stuffing);
                    stuffing = 0;
                }
            }
            debug_assert_eq!(stuffing, 0);
            // Copy the next `take` bytes of header + elementary stream.
            let mut remaining = take;
            while remaining > 0 {
                if current.is_empty() {
                    match parts.next() {
                        Some(p) => current = p,
                        None => break,
                    }
                }
                let n = current.len().min(remaining);
                out.put_slice(&current[..n]);
                current = &current[n..];
                remaining -= n;
            }
            written += take;
            first = false;
        }
    }
}

/// program_clock_reference: a 33-bit base (90 kHz), 6 reserved bits, a 9-bit extension (0).
fn pcr_field(pcr: i64) -> [u8; 6] {
    let base = (pcr.max(0) as u64) & ((1 << 33) - 1);
    let b = ((base >> 1) as u32).to_be_bytes();
    [b[0], b[1], b[2], b[3], (((base & 1) << 7) as u8) | 0x7E, 0]
}

fn put_pcr(out: &mut BytesMut, pcr: i64) {
    out.put_slice(&pcr_field(pcr));
}

fn put_timestamp(out: &mut BytesMut, prefix: u8, ts: i64) {
    let t = (ts.max(0) as u64) & ((1 << 33) - 1);
    out.put_u8((prefix << 4) | (((t >> 30) as u8 & 0x07) << 1) | 1);
    out.put_u16((((t >> 15) & 0x7FFF) as u16) << 1 | 1);
    out.put_u16(((t & 0x7FFF) as u16) << 1 | 1);
}
