//! Writing the progressive MP4 header: `ftyp`, `moov` with full sample tables, and the `mdat`
//! box header (ISO/IEC 14496-12:2022 §8.2–8.7).

use bytes::{BufMut, Bytes};

use super::parse::{Movie, TrackData};
use super::{Export, ExportError};
use crate::fmp4::boxes::{BoxWriter, MATRIX};

/// Timescale of `mvhd`, `tkhd` and `elst` durations.
const MOVIE_TIMESCALE: u32 = 1000;
const RATE_ONE: u32 = 0x0001_0000;

/// A track's timing on the movie timeline.
struct Timing {
    /// Sum of the sample durations (media timescale).
    media_duration: u64,
    /// Added to every composition offset so no sample is presented before media time 0.
    shift: i64,
    /// Media time of the earliest presented sample (the media edit starts there).
    media_time: i64,
    /// Earliest presentation time, movie timescale, absolute (may be negative).
    start: i128,
    /// Empty edit before the track (movie timescale).
    empty: u64,
    /// Media edit duration (movie timescale).
    duration: u64,
    /// ctts needed, and needs version 1 (negative offsets).
    ctts: bool,
    ctts_v1: bool,
}

fn timing(t: &TrackData) -> Result<Timing, ExportError> {
    let ts = i128::from(t.track.timescale);
    let mut dts: i128 = 0;
    let mut min_comp = i128::MAX;
    for s in &t.samples {
        min_comp = min_comp.min(dts + i128::from(s.cto));
        dts += i128::from(s.duration);
    }
    if min_comp == i128::MAX {
        min_comp = 0;
    }
    let shift = (-min_comp).max(0);
    let media_time = min_comp + shift;
    let bad_cto = || ExportError::CompositionOffset(t.track.id);
    let shift = i64::try_from(shift).map_err(|_| bad_cto())?;
    let mut ctts = false;
    let mut ctts_v1 = false;
    for s in &t.samples {
        let v = s.cto.checked_add(shift).ok_or_else(bad_cto)?;
        if i32::try_from(v).is_err() {
            return Err(bad_cto());
        }
        ctts |= v != 0;
        ctts_v1 |= v < 0;
    }
    let start = (i128::from(t.first_dts) + min_comp) * i128::from(MOVIE_TIMESCALE);
    let duration = (dts * i128::from(MOVIE_TIMESCALE) + ts / 2) / ts;
    Ok(Timing {
        media_duration: u64::try_from(dts).map_err(|_| ExportError::TooLarge)?,
        shift,
        media_time: i64::try_from(media_time).map_err(|_| bad_cto())?,
        start: start.div_euclid(ts),
        empty: 0,
        duration: u64::try_from(duration).map_err(|_| ExportError::TooLarge)?,
        ctts,
        ctts_v1,
    })
}

/// Writes the header for `movie`; `force64` writes `co64` and a 64-bit `mdat` size even when
/// the file is small.
pub(super) fn write(movie: Movie, force64: bool) -> Result<Export, ExportError> {
    let mut timings = movie
        .tracks
        .iter()
        .map(timing)
        .collect::<Result<Vec<_>, _>>()?;
    let global_start = timings.iter().map(|t| t.start).min().unwrap_or(0);
    for t in &mut timings {
        t.empty = u64::try_from(t.start - global_start).map_err(|_| ExportError::TooLarge)?;
    }

    let samples: usize = movie.tracks.iter().map(|t| t.samples.len()).sum();
    let chunks: usize = movie.tracks.iter().map(|t| t.chunks.len()).sum();
    let mut w = BoxWriter::new(1024 + 24 * samples + 24 * chunks);
    ftyp(&mut w, &movie, &timings);
    let ftyp_len = w.len();
    let large_mdat = force64 || movie.payload_len > u64::from(u32::MAX) - 8;
    let mdat_header = if large_mdat { 16 } else { 8 };
    let max_chunk = movie
        .tracks
        .iter()
        .flat_map(|t| t.chunks.iter().map(|c| c.offset))
        .max()
        .unwrap_or(0);
    let mut co64 = force64;
    loop {
        w.buf.truncate(ftyp_len);
        let tables = moov(&mut w, &movie, &timings, co64)?;
        let moov_len = w.len() - ftyp_len;
        if u32::try_from(moov_len).is_err() {
            return Err(ExportError::TooLarge);
        }
        let base = (w.len() as u64)
            .checked_add(mdat_header)
            .ok_or(ExportError::TooLarge)?;
        let last = base.checked_add(max_chunk).ok_or(ExportError::TooLarge)?;
        if !co64 && last > u64::from(u32::MAX) {
            co64 = true;
            continue;
        }
        // Chunk offsets were written relative to the mdat payload: make them absolute.
        for (pos, track) in tables {
            let width = if co64 { 8 } else { 4 };
            for (i, c) in movie.tracks[track].chunks.iter().enumerate() {
                let at = pos + i * width;
                let off = base + c.offset;
                if co64 {
                    w.buf[at..at + 8].copy_from_slice(&off.to_be_bytes());
                } else {
                    w.buf[at..at + 4].copy_from_slice(&(off as u32).to_be_bytes());
                }
            }
        }
        break;
    }
    if large_mdat {
        w.buf.put_u32(1);
        w.buf.put_slice(b"mdat");
        w.buf.put_u64(16 + movie.payload_len);
    } else {
        w.buf.put_u32((8 + movie.payload_len) as u32);
        w.buf.put_slice(b"mdat");
    }
    let header: Bytes = w.buf.freeze();
    let len = (header.len() as u64)
        .checked_add(movie.payload_len)
        .ok_or(ExportError::TooLarge)?;
    Ok(Export {
        header,
        payload: movie.payload,
        len,
    })
}

fn ftyp(w: &mut BoxWriter, movie: &Movie, timings: &[Timing]) {
    let avc = movie.tracks.iter().any(|t| {
        let entry = t.track.stsd.get(12..16);
        entry == Some(b"avc1") || entry == Some(b"avc3")
    });
    w.start(b"ftyp");
    w.buf.put_slice(b"isom");
    w.buf.put_u32(0x200);
    w.buf.put_slice(b"isom");
    w.buf.put_slice(b"iso2");
    if timings.iter().any(|t| t.ctts_v1) {
        w.buf.put_slice(b"iso4");
    }
    if avc {
        w.buf.put_slice(b"avc1");
    }
    w.buf.put_slice(b"mp41");
    w.end();
}

/// Version 1 when any of `values` needs 64 bits.
fn version(values: &[u64]) -> u8 {
    u8::from(values.iter().any(|&v| v > u64::from(u32::MAX)))
}

fn put_uv(w: &mut BoxWriter, version: u8, v: u64) {
    if version == 1 {
        w.buf.put_u64(v);
    } else {
        w.buf.put_u32(v as u32);
    }
}

/// Writes `moov`; returns where each track's chunk offset table starts, with the track index.
fn moov(
    w: &mut BoxWriter,
    movie: &Movie,
    timings: &[Timing],
    co64: bool,
) -> Result<Vec<(usize, usize)>, ExportError> {
    let duration = timings
        .iter()
        .map(|t| t.empty.saturating_add(t.duration))
        .max()
        .unwrap_or(0);
    w.start(b"moov");
    let v = version(&[duration]);
    w.start_full(b"mvhd", v, 0);
    put_uv(w, v, 0); // creation_time
    put_uv(w, v, 0); // modification_time
    w.buf.put_u32(MOVIE_TIMESCALE);
    put_uv(w, v, duration);
    w.buf.put_u32(RATE_ONE);
    w.buf.put_u16(0x0100); // volume
    w.buf.put_bytes(0, 10);
    for m in MATRIX {
        w.buf.put_u32(m);
    }
    w.buf.put_bytes(0, 24);
    let next_id = movie.tracks.iter().map(|t| t.track.id).max().unwrap_or(0);
    w.buf.put_u32(next_id.saturating_add(1));
    w.end();
    let mut tables = Vec::new();
    for (i, (t, tm)) in movie.tracks.iter().zip(timings).enumerate() {
        tables.push((trak(w, t, tm, co64)?, i));
    }
    w.end();
    Ok(tables)
}

fn trak(w: &mut BoxWriter, t: &TrackData, tm: &Timing, co64: bool) -> Result<usize, ExportError> {
    let video = &t.track.handler == b"vide";
    let track_duration = tm.empty.saturating_add(tm.duration);
    w.start(b"trak");
    let v = version(&[track_duration]);
    w.start_full(b"tkhd", v, 3); // enabled | in_movie
    put_uv(w, v, 0);
    put_uv(w, v, 0);
    w.buf.put_u32(t.track.id);
    w.buf.put_u32(0);
    put_uv(w, v, track_duration);
    w.buf.put_bytes(0, 8);
    w.buf.put_u16(0); // layer
    w.buf.put_u16(0); // alternate_group
    w.buf.put_u16(if video { 0 } else { 0x0100 });
    w.buf.put_u16(0);
    for m in MATRIX {
        w.buf.put_u32(m);
    }
    let (width, height) = if video {
        (t.track.width, t.track.height)
    } else {
        (0, 0)
    };
    w.buf.put_u32(width);
    w.buf.put_u32(height);
    w.end();

    if tm.empty > 0 || tm.media_time != 0 {
        w.start(b"edts");
        let media_time = u64::try_from(tm.media_time).unwrap_or(u64::MAX);
        let v = version(&[tm.empty, tm.duration]).max(u8::from(media_time > i32::MAX as u64));
        w.start_full(b"elst", v, 0);
        w.buf.put_u32(if tm.empty > 0 { 2 } else { 1 });
        if tm.empty > 0 {
            put_uv(w, v, tm.empty);
            put_uv(w, v, u64::MAX); // media_time -1: empty edit
            w.buf.put_u32(RATE_ONE);
        }
        put_uv(w, v, tm.duration);
        put_uv(w, v, tm.media_time as u64);
        w.buf.put_u32(RATE_ONE);
        w.end();
        w.end();
    }

    w.start(b"mdia");
    let v = version(&[tm.media_duration]);
    w.start_full(b"mdhd", v, 0);
    put_uv(w, v, 0);
    put_uv(w, v, 0);
    w.buf.put_u32(t.track.timescale);
    put_uv(w, v, tm.media_duration);
    w.buf.put_u16(t.track.language);
    w.buf.put_u16(0);
    w.end();
    w.start_full(b"hdlr", 0, 0);
    w.buf.put_u32(0);
    w.buf.put_slice(&t.track.handler);
    w.buf.put_bytes(0, 12);
    w.buf.put_slice(if video {
        b"VideoHandler\0"
    } else {
        b"SoundHandler\0"
    });
    w.end();
    w.start(b"minf");
    if video {
        w.start_full(b"vmhd", 0, 1);
        w.buf.put_u64(0);
    } else {
        w.start_full(b"smhd", 0, 0);
        w.buf.put_u32(0);
    }
    w.end();
    w.start(b"dinf");
    w.start_full(b"dref", 0, 0);
    w.buf.put_u32(1);
    w.start_full(b"url ", 0, 1); // media in this file
    w.end();
    w.end();
    w.end();
    let table = stbl(w, t, tm, video, co64);
    w.end(); // minf
    w.end(); // mdia
    w.end(); // trak
    Ok(table)
}

/// Run-length encodes `items`.
fn runs<T: PartialEq + Copy>(items: impl Iterator<Item = T>) -> Vec<(u32, T)> {
    let mut out: Vec<(u32, T)> = Vec::new();
    for it in items {
        match out.last_mut() {
            Some((n, v)) if *v == it => *n += 1,
            _ => out.push((1, it)),
        }
    }
    out
}

fn stbl(w: &mut BoxWriter, t: &TrackData, tm: &Timing, video: bool, co64: bool) -> usize {
    w.start(b"stbl");
    w.start(b"stsd");
    w.buf.put_slice(&t.track.stsd);
    w.end();

    let stts = runs(t.samples.iter().map(|s| s.duration));
    w.start_full(b"stts", 0, 0);
    w.buf.put_u32(stts.len() as u32);
    for (n, d) in stts {
        w.buf.put_u32(n);
        w.buf.put_u32(d);
    }
    w.end();

    if tm.ctts {
        // Offsets were checked to fit i32 by `timing`.
        let ctts = runs(t.samples.iter().map(|s| (s.cto + tm.shift) as i32));
        w.start_full(b"ctts", u8::from(tm.ctts_v1), 0);
        w.buf.put_u32(ctts.len() as u32);
        for (n, o) in ctts {
            w.buf.put_u32(n);
            w.buf.put_i32(o);
        }
        w.end();
    }

    if video && t.samples.iter().any(|s| !s.sync) {
        let sync: Vec<u32> = t
            .samples
            .iter()
            .enumerate()
            .filter(|(_, s)| s.sync)
            .map(|(i, _)| i as u32 + 1)
            .collect();
        w.start_full(b"stss", 0, 0);
        w.buf.put_u32(sync.len() as u32);
        for n in sync {
            w.buf.put_u32(n);
        }
        w.end();
    }

    let first = t.samples.first().map(|s| s.size).unwrap_or(0);
    let constant = t.samples.iter().all(|s| s.size == first);
    w.start_full(b"stsz", 0, 0);
    w.buf.put_u32(if constant { first } else { 0 });
    w.buf.put_u32(t.samples.len() as u32);
    if !constant {
        for s in &t.samples {
            w.buf.put_u32(s.size);
        }
    }
    w.end();

    // stsc: a new entry where samples-per-chunk or the sample description changes.
    w.start_full(b"stsc", 0, 0);
    let count_at = w.len();
    w.buf.put_u32(0);
    let mut entries = 0u32;
    let mut prev = None;
    for (i, c) in t.chunks.iter().enumerate() {
        if prev != Some((c.samples, c.sdi)) {
            w.buf.put_u32(i as u32 + 1);
            w.buf.put_u32(c.samples);
            w.buf.put_u32(c.sdi);
            entries += 1;
            prev = Some((c.samples, c.sdi));
        }
    }
    w.buf[count_at..count_at + 4].copy_from_slice(&entries.to_be_bytes());
    w.end();

    w.start_full(if co64 { b"co64" } else { b"stco" }, 0, 0);
    w.buf.put_u32(t.chunks.len() as u32);
    let table = w.len();
    // Relative offsets for now: the caller adds the mdat payload's position.
    for c in &t.chunks {
        if co64 {
            w.buf.put_u64(c.offset);
        } else {
            w.buf.put_u32(0);
        }
    }
    w.end();
    w.end(); // stbl
    table
}
