//! The CMAF header (init segment): `ftyp` + `moov` with one track per elementary stream and
//! `mvex` for fragments (ISO/IEC 14496-12:2022 §8; sample entries per ISO/IEC 14496-15:2022
//! §5.4.2 (avc1/avcC) and §8.4.1 (hvc1/hvcC), and ISO/IEC 14496-14:2020 §6.7 (mp4a/esds, see [`super::esds`])).

use bytes::{BufMut, Bytes};

use super::boxes::{BoxWriter, MATRIX};
use super::esds::write_esds;
use super::{AUDIO_TRACK_ID, Fmp4Error, VIDEO_TRACK_ID};
use crate::codec::{AudioConfig, Tracks, VideoConfig};
use crate::frame::TIMESCALE;

/// Writes the init segment for `tracks`.
pub fn init_segment(tracks: &Tracks) -> Result<Bytes, Fmp4Error> {
    if tracks.video.is_none() && tracks.audio.is_none() {
        return Err(Fmp4Error::NoTracks);
    }
    let mut w = BoxWriter::new(1024);
    w.start(b"ftyp");
    w.buf.put_slice(b"iso6");
    w.buf.put_u32(0);
    for brand in [b"iso6", b"cmfc", b"isom", b"iso5", b"dash"] {
        w.buf.put_slice(brand);
    }
    w.end();

    w.start(b"moov");
    w.start_full(b"mvhd", 0, 0);
    w.buf.put_u32(0); // creation_time
    w.buf.put_u32(0); // modification_time
    w.buf.put_u32(1000); // timescale
    w.buf.put_u32(0); // duration
    w.buf.put_u32(0x0001_0000); // rate
    w.buf.put_u16(0x0100); // volume
    w.buf.put_bytes(0, 10);
    for m in MATRIX {
        w.buf.put_u32(m);
    }
    w.buf.put_bytes(0, 24);
    w.buf.put_u32(AUDIO_TRACK_ID + 1); // next_track_ID
    w.end();
    if let Some(v) = &tracks.video {
        video_trak(&mut w, v);
    }
    if let Some(a) = &tracks.audio {
        audio_trak(&mut w, a)?;
    }
    w.start(b"mvex");
    for id in [VIDEO_TRACK_ID, AUDIO_TRACK_ID] {
        let present = if id == VIDEO_TRACK_ID {
            tracks.video.is_some()
        } else {
            tracks.audio.is_some()
        };
        if present {
            w.start_full(b"trex", 0, 0);
            w.buf.put_u32(id);
            w.buf.put_u32(1); // default_sample_description_index
            w.buf.put_u32(0);
            w.buf.put_u32(0);
            w.buf.put_u32(0);
            w.end();
        }
    }
    w.end();
    w.end(); // moov
    Ok(w.buf.freeze())
}

fn tkhd(w: &mut BoxWriter, id: u32, audio: bool, width: u32, height: u32) {
    w.start_full(b"tkhd", 0, 3); // enabled | in_movie
    w.buf.put_u32(0);
    w.buf.put_u32(0);
    w.buf.put_u32(id);
    w.buf.put_u32(0);
    w.buf.put_u32(0); // duration
    w.buf.put_bytes(0, 8);
    w.buf.put_u16(0); // layer
    w.buf.put_u16(0); // alternate_group
    w.buf.put_u16(if audio { 0x0100 } else { 0 });
    w.buf.put_u16(0);
    for m in MATRIX {
        w.buf.put_u32(m);
    }
    w.buf.put_u32(width << 16);
    w.buf.put_u32(height << 16);
    w.end();
}

fn mdia_start(w: &mut BoxWriter, timescale: u32, handler: &[u8; 4], name: &str) {
    w.start(b"mdia");
    w.start_full(b"mdhd", 0, 0);
    w.buf.put_u32(0);
    w.buf.put_u32(0);
    w.buf.put_u32(timescale);
    w.buf.put_u32(0);
    w.buf.put_u16(0x55C4); // 'und'
    w.buf.put_u16(0);
    w.end();
    w.start_full(b"hdlr", 0, 0);
    w.buf.put_u32(0);
    w.buf.put_slice(handler);
    w.buf.put_bytes(0, 12);
    w.buf.put_slice(name.as_bytes());
    w.buf.put_u8(0);
    w.end();
    w.start(b"minf");
}

fn dinf_stbl_start(w: &mut BoxWriter) {
    w.start(b"dinf");
    w.start_full(b"dref", 0, 0);
    w.buf.put_u32(1);
    w.start_full(b"url ", 0, 1); // self-contained
    w.end();
    w.end();
    w.end();
    w.start(b"stbl");
    w.start_full(b"stsd", 0, 0);
    w.buf.put_u32(1);
}

fn stbl_end(w: &mut BoxWriter) {
    w.end(); // stsd
    for fourcc in [b"stts", b"stsc", b"stco"] {
        w.start_full(fourcc, 0, 0);
        w.buf.put_u32(0);
        w.end();
    }
    w.start_full(b"stsz", 0, 0);
    w.buf.put_u32(0);
    w.buf.put_u32(0);
    w.end();
    w.end(); // stbl
    w.end(); // minf
    w.end(); // mdia
    w.end(); // trak
}

fn video_trak(w: &mut BoxWriter, v: &VideoConfig) {
    let (width, height) = (v.width(), v.height());
    w.start(b"trak");
    tkhd(w, VIDEO_TRACK_ID, false, width, height);
    mdia_start(w, TIMESCALE, b"vide", "OnAir video");
    w.start_full(b"vmhd", 0, 1);
    w.buf.put_u64(0);
    w.end();
    dinf_stbl_start(w);
    let (entry, config_box, record) = match v {
        VideoConfig::Avc(c) => (b"avc1", b"avcC", &c.record),
        VideoConfig::Hevc(c) => (b"hvc1", b"hvcC", &c.record),
    };
    w.start(entry);
    w.buf.put_bytes(0, 6);
    w.buf.put_u16(1); // data_reference_index
    w.buf.put_bytes(0, 16);
    w.buf.put_u16(width.min(u32::from(u16::MAX)) as u16);
    w.buf.put_u16(height.min(u32::from(u16::MAX)) as u16);
    w.buf.put_u32(0x0048_0000);
    w.buf.put_u32(0x0048_0000);
    w.buf.put_u32(0);
    w.buf.put_u16(1); // frame_count
    w.buf.put_bytes(0, 32); // compressorname
    w.buf.put_u16(0x0018);
    w.buf.put_i16(-1);
    w.start(config_box);
    w.buf.put_slice(record);
    w.end();
    w.end(); // sample entry
    stbl_end(w);
}

fn audio_trak(w: &mut BoxWriter, a: &AudioConfig) -> Result<(), Fmp4Error> {
    let AudioConfig::Aac(c) = a;
    w.start(b"trak");
    tkhd(w, AUDIO_TRACK_ID, true, 0, 0);
    mdia_start(w, c.sample_rate, b"soun", "OnAir audio");
    w.start_full(b"smhd", 0, 0);
    w.buf.put_u32(0);
    w.end();
    dinf_stbl_start(w);
    w.start(b"mp4a");
    w.buf.put_bytes(0, 6);
    w.buf.put_u16(1);
    w.buf.put_bytes(0, 8);
    w.buf.put_u16(c.channel_count());
    w.buf.put_u16(16);
    w.buf.put_u32(0);
    w.buf.put_u32(if c.sample_rate <= 0xFFFF {
        c.sample_rate << 16
    } else {
        0
    });
    write_esds(w, &c.asc);
    w.end(); // mp4a
    stbl_end(w);
    Ok(())
}
