//! Reading the CMAF input: the init segment's tracks and every fragment's samples, resolved to
//! zero-copy slices of the segments (ISO/IEC 14496-12:2022 §8.8).

use bytes::Bytes;

use super::{ExportError, MAX_CHUNKS, MAX_INIT_LEN, MAX_SAMPLES, MAX_TRACKS};

/// sample_is_non_sync_sample (§8.8.3.1).
const NON_SYNC: u32 = 0x0001_0000;

/// One track of the init segment.
#[derive(Debug, Clone)]
pub(super) struct Track {
    pub id: u32,
    pub handler: [u8; 4],
    pub timescale: u32,
    pub language: u16,
    /// The `stsd` box's body (after its header), copied verbatim.
    pub stsd: Bytes,
    pub stsd_entries: u32,
    /// tkhd width/height, 16.16 fixed point.
    pub width: u32,
    pub height: u32,
    trex: Trex,
}

#[derive(Debug, Clone, Copy, Default)]
struct Trex {
    sdi: u32,
    duration: u32,
    size: u32,
    flags: u32,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub duration: u32,
    pub size: u32,
    pub cto: i64,
    pub sync: bool,
}

/// A run of samples of one track, contiguous in the output `mdat`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chunk {
    /// Offset from the start of the `mdat` payload.
    pub offset: u64,
    pub samples: u32,
    pub sdi: u32,
}

/// A track with its samples.
#[derive(Debug, Clone)]
pub(super) struct TrackData {
    pub track: Track,
    pub samples: Vec<Sample>,
    pub chunks: Vec<Chunk>,
    /// Decode time of the first sample (track timescale).
    pub first_dts: u64,
    /// Decode time just past the last sample.
    next_dts: Option<u64>,
}

/// Everything the writer needs.
#[derive(Debug)]
pub(super) struct Movie {
    pub tracks: Vec<TrackData>,
    pub payload: Vec<Bytes>,
    pub payload_len: u64,
}

/// A box: its type and absolute ranges in the buffer being read.
#[derive(Debug, Clone, Copy)]
struct BoxRef {
    fourcc: [u8; 4],
    start: usize,
    body: usize,
    end: usize,
}

/// The boxes in `buf[from..to]`; `None` when they do not tile the range.
fn children(buf: &[u8], from: usize, to: usize) -> Option<Vec<BoxRef>> {
    let mut out = Vec::new();
    let mut pos = from;
    while pos < to {
        let mut c = Cursor::new(buf, pos, to);
        let size = c.u32()?;
        let fourcc = c.fourcc()?;
        let (body, end) = match size {
            0 => (pos + 8, to),
            1 => {
                let large = usize::try_from(c.u64()?).ok()?;
                (pos + 16, pos.checked_add(large)?)
            }
            n => (pos + 8, pos.checked_add(n as usize)?),
        };
        if end < body || end > to {
            return None;
        }
        out.push(BoxRef {
            fourcc,
            start: pos,
            body,
            end,
        });
        pos = end;
    }
    Some(out)
}

fn find<'a>(boxes: &'a [BoxRef], fourcc: &[u8; 4]) -> Option<&'a BoxRef> {
    boxes.iter().find(|b| &b.fourcc == fourcc)
}

/// A bounds-checked big-endian reader over `buf[pos..end]`.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], pos: usize, end: usize) -> Self {
        Self {
            buf,
            pos,
            end: end.min(buf.len()),
        }
    }

    fn of(buf: &'a [u8], b: &BoxRef) -> Self {
        Self::new(buf, b.body, b.end)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        if end > self.end {
            return None;
        }
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn fourcc(&mut self) -> Option<[u8; 4]> {
        self.take(4)?.try_into().ok()
    }

    /// Full box header: (version, flags).
    fn full(&mut self) -> Option<(u8, u32)> {
        let v = self.u32()?;
        Some(((v >> 24) as u8, v & 0xFF_FFFF))
    }

    /// A u32 or u64 field depending on the full box version.
    fn uv(&mut self, version: u8) -> Option<u64> {
        if version == 1 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }
}

/// Reads the init segment's tracks.
fn parse_init(init: &Bytes) -> Result<Vec<Track>, ExportError> {
    use ExportError::Init;
    if init.len() > MAX_INIT_LEN {
        return Err(ExportError::InitTooLarge);
    }
    let buf: &[u8] = init;
    let top = children(buf, 0, buf.len()).ok_or(Init("malformed box"))?;
    let moov = find(&top, b"moov").ok_or(Init("no moov"))?;
    let moov_children = children(buf, moov.body, moov.end).ok_or(Init("malformed moov"))?;
    let mvex = find(&moov_children, b"mvex").ok_or(Init("no mvex (not fragmented)"))?;
    let mut trexes = Vec::new();
    for b in children(buf, mvex.body, mvex.end).ok_or(Init("malformed mvex"))? {
        if &b.fourcc == b"trex" {
            let mut c = Cursor::of(buf, &b);
            let parsed = (|| {
                c.full()?;
                let id = c.u32()?;
                let trex = Trex {
                    sdi: c.u32()?,
                    duration: c.u32()?,
                    size: c.u32()?,
                    flags: c.u32()?,
                };
                Some((id, trex))
            })();
            trexes.push(parsed.ok_or(Init("truncated trex"))?);
        }
    }

    let mut tracks: Vec<Track> = Vec::new();
    for trak in moov_children.iter().filter(|b| &b.fourcc == b"trak") {
        if tracks.len() == MAX_TRACKS {
            return Err(ExportError::TooManyTracks);
        }
        let track = parse_trak(init, trak, &trexes)?;
        if tracks.iter().any(|t| t.id == track.id) {
            return Err(ExportError::DuplicateTrack(track.id));
        }
        tracks.push(track);
    }
    if tracks.is_empty() {
        return Err(ExportError::NoTracks);
    }
    Ok(tracks)
}

fn parse_trak(init: &Bytes, trak: &BoxRef, trexes: &[(u32, Trex)]) -> Result<Track, ExportError> {
    use ExportError::Init;
    let buf: &[u8] = init;
    let kids = children(buf, trak.body, trak.end).ok_or(Init("malformed trak"))?;
    let tkhd = find(&kids, b"tkhd").ok_or(Init("no tkhd"))?;
    let (id, width, height) = (|| {
        let mut c = Cursor::of(buf, tkhd);
        let (v, _) = c.full()?;
        c.uv(v)?; // creation_time
        c.uv(v)?; // modification_time
        let id = c.u32()?;
        c.u32()?;
        c.uv(v)?; // duration
        c.take(8 + 2 + 2 + 2 + 2 + 36)?;
        Some((id, c.u32()?, c.u32()?))
    })()
    .ok_or(Init("truncated tkhd"))?;
    let mdia = find(&kids, b"mdia").ok_or(Init("no mdia"))?;
    let mdia_kids = children(buf, mdia.body, mdia.end).ok_or(Init("malformed mdia"))?;
    let mdhd = find(&mdia_kids, b"mdhd").ok_or(Init("no mdhd"))?;
    let (timescale, language) = (|| {
        let mut c = Cursor::of(buf, mdhd);
        let (v, _) = c.full()?;
        c.uv(v)?;
        c.uv(v)?;
        let ts = c.u32()?;
        c.uv(v)?;
        Some((ts, c.u16()?))
    })()
    .ok_or(Init("truncated mdhd"))?;
    if timescale == 0 {
        return Err(ExportError::ZeroTimescale(id));
    }
    let hdlr = find(&mdia_kids, b"hdlr").ok_or(Init("no hdlr"))?;
    let handler = (|| {
        let mut c = Cursor::of(buf, hdlr);
        c.full()?;
        c.u32()?;
        c.fourcc()
    })()
    .ok_or(Init("truncated hdlr"))?;
    if &handler != b"vide" && &handler != b"soun" {
        return Err(ExportError::UnsupportedHandler {
            track_id: id,
            handler: String::from_utf8_lossy(&handler).into_owned(),
        });
    }
    let minf = find(&mdia_kids, b"minf").ok_or(Init("no minf"))?;
    let minf_kids = children(buf, minf.body, minf.end).ok_or(Init("malformed minf"))?;
    let stbl = find(&minf_kids, b"stbl").ok_or(Init("no stbl"))?;
    let stbl_kids = children(buf, stbl.body, stbl.end).ok_or(Init("malformed stbl"))?;
    let stsd = find(&stbl_kids, b"stsd").ok_or(Init("no stsd"))?;
    let stsd_entries = (|| {
        let mut c = Cursor::of(buf, stsd);
        c.full()?;
        c.u32()
    })()
    .ok_or(Init("truncated stsd"))?;
    if stsd_entries == 0 {
        return Err(Init("stsd has no sample entry"));
    }
    let trex = trexes
        .iter()
        .find(|(tid, _)| *tid == id)
        .map(|(_, t)| *t)
        .ok_or(Init("track without trex"))?;
    Ok(Track {
        id,
        handler,
        timescale,
        language,
        stsd: init.slice(stsd.body..stsd.end),
        stsd_entries,
        width,
        height,
        trex,
    })
}

/// One `trun`'s samples before they are placed.
struct Run {
    /// Absolute position of the first sample in the segment.
    pos: usize,
    len: usize,
    /// (duration, size, flags, composition offset).
    samples: Vec<(u32, u32, u32, i64)>,
}

struct Traf {
    track: usize,
    tfdt: Option<u64>,
    sdi: u32,
    runs: Vec<Run>,
}

/// Reads the init segment and every segment.
pub(super) fn parse(init: &Bytes, segments: &[Bytes]) -> Result<Movie, ExportError> {
    let tracks = parse_init(init)?;
    let mut movie = Movie {
        tracks: tracks
            .into_iter()
            .map(|track| TrackData {
                track,
                samples: Vec::new(),
                chunks: Vec::new(),
                first_dts: 0,
                next_dts: None,
            })
            .collect(),
        payload: Vec::new(),
        payload_len: 0,
    };
    let mut total_samples = 0usize;
    let mut total_chunks = 0usize;
    for (index, seg) in segments.iter().enumerate() {
        let err = |what| ExportError::Segment {
            segment: index,
            what,
        };
        let buf: &[u8] = seg;
        let top = children(buf, 0, buf.len()).ok_or(err("malformed box"))?;
        let mdats: Vec<(usize, usize)> = top
            .iter()
            .filter(|b| &b.fourcc == b"mdat")
            .map(|b| (b.body, b.end))
            .collect();
        for moof in top.iter().filter(|b| &b.fourcc == b"moof") {
            // Allocation for samples stays within MAX_SAMPLES however the counts lie.
            let mut budget = MAX_SAMPLES.saturating_sub(total_samples);
            let trafs = parse_moof(buf, moof, &movie.tracks, index, &mut budget)?;
            for traf in trafs {
                let n: usize = traf.runs.iter().map(|r| r.samples.len()).sum();
                if n == 0 {
                    continue;
                }
                total_samples += n;
                if total_samples > MAX_SAMPLES {
                    return Err(ExportError::TooManySamples);
                }
                total_chunks += 1;
                if total_chunks > MAX_CHUNKS {
                    return Err(ExportError::TooManyChunks);
                }
                for r in &traf.runs {
                    let end = r
                        .pos
                        .checked_add(r.len)
                        .ok_or(err("data offset overflow"))?;
                    if r.len > 0 && !mdats.iter().any(|&(s, e)| r.pos >= s && end <= e) {
                        return Err(ExportError::DataOutOfRange { segment: index });
                    }
                }
                add_traf(&mut movie, seg, traf, index)?;
            }
        }
    }
    movie.tracks.retain(|t| !t.samples.is_empty());
    if movie.tracks.is_empty() {
        return Err(ExportError::NoSamples);
    }
    Ok(movie)
}

/// Appends a track fragment's samples to its track (closing a gap before it) and its data to
/// the payload as one chunk.
fn add_traf(movie: &mut Movie, seg: &Bytes, traf: Traf, segment: usize) -> Result<(), ExportError> {
    let td = movie
        .tracks
        .get_mut(traf.track)
        .ok_or(ExportError::NoTracks)?;
    let track_id = td.track.id;
    let base = match (td.next_dts, traf.tfdt) {
        (None, t) => {
            td.first_dts = t.unwrap_or(0);
            td.first_dts
        }
        (Some(next), None) => next,
        (Some(next), Some(t)) if t < next => {
            return Err(ExportError::TimeWentBackwards {
                segment,
                track_id,
                expected: next,
                got: t,
            });
        }
        (Some(next), Some(t)) => {
            let gap = t - next;
            if gap > 0 {
                let last = td.samples.last_mut().ok_or(ExportError::NoSamples)?;
                last.duration = u64::from(last.duration)
                    .checked_add(gap)
                    .and_then(|d| u32::try_from(d).ok())
                    .ok_or(ExportError::GapTooLarge {
                        segment,
                        track_id,
                        gap,
                    })?;
            }
            t
        }
    };
    let mut dts = base;
    let mut count = 0u32;
    let offset = movie.payload_len;
    let mut last_end: Option<usize> = None;
    for run in traf.runs {
        for (duration, size, flags, cto) in run.samples {
            dts = dts
                .checked_add(u64::from(duration))
                .ok_or(ExportError::TooLarge)?;
            td.samples.push(Sample {
                duration,
                size,
                cto,
                sync: flags & NON_SYNC == 0,
            });
            count += 1;
        }
        if run.len == 0 {
            continue;
        }
        let end = run.pos + run.len; // checked by the caller
        // Runs that follow each other in the input become one slice.
        match (last_end, movie.payload.last_mut()) {
            (Some(e), Some(prev)) if e == run.pos => {
                let start = end - prev.len() - run.len;
                *prev = seg.slice(start..end);
            }
            _ => movie.payload.push(seg.slice(run.pos..end)),
        }
        last_end = Some(end);
        movie.payload_len = movie
            .payload_len
            .checked_add(run.len as u64)
            .ok_or(ExportError::TooLarge)?;
    }
    td.next_dts = Some(dts);
    td.chunks.push(Chunk {
        offset,
        samples: count,
        sdi: traf.sdi,
    });
    Ok(())
}

fn parse_moof(
    buf: &[u8],
    moof: &BoxRef,
    tracks: &[TrackData],
    segment: usize,
    budget: &mut usize,
) -> Result<Vec<Traf>, ExportError> {
    let err = |what| ExportError::Segment { segment, what };
    let kids = children(buf, moof.body, moof.end).ok_or(err("malformed moof"))?;
    if find(&kids, b"mfhd").is_none() {
        return Err(err("moof without mfhd"));
    }
    let mut out = Vec::new();
    // Where the previous track fragment's data ended (§8.8.7.1 default base).
    let mut prev_traf_end: Option<usize> = None;
    for traf in kids.iter().filter(|b| &b.fourcc == b"traf") {
        let tk = children(buf, traf.body, traf.end).ok_or(err("malformed traf"))?;
        let tfhd = find(&tk, b"tfhd").ok_or(err("traf without tfhd"))?;
        let mut c = Cursor::of(buf, tfhd);
        let h = (|| {
            let (_, flags) = c.full()?;
            let id = c.u32()?;
            let base = if flags & 0x01 != 0 {
                Some(c.u64()?)
            } else {
                None
            };
            let sdi = if flags & 0x02 != 0 {
                Some(c.u32()?)
            } else {
                None
            };
            let dur = if flags & 0x08 != 0 {
                Some(c.u32()?)
            } else {
                None
            };
            let size = if flags & 0x10 != 0 {
                Some(c.u32()?)
            } else {
                None
            };
            let fl = if flags & 0x20 != 0 {
                Some(c.u32()?)
            } else {
                None
            };
            Some((flags, id, base, sdi, dur, size, fl))
        })()
        .ok_or(err("truncated tfhd"))?;
        let (flags, track_id, base_offset, sdi, dur, size, sflags) = h;
        let track = tracks
            .iter()
            .position(|t| t.track.id == track_id)
            .ok_or(ExportError::UnknownTrack { segment, track_id })?;
        let t = &tracks[track].track;
        let sdi = sdi.unwrap_or(t.trex.sdi);
        if sdi == 0 || sdi > t.stsd_entries {
            return Err(ExportError::BadSampleDescription {
                segment,
                track_id,
                index: sdi,
            });
        }
        let defaults = (
            dur.unwrap_or(t.trex.duration),
            size.unwrap_or(t.trex.size),
            sflags.unwrap_or(t.trex.flags),
        );
        let base = match base_offset {
            Some(b) => usize::try_from(b).map_err(|_| ExportError::DataOutOfRange { segment })?,
            None if flags & 0x02_0000 != 0 => moof.start,
            None => prev_traf_end.unwrap_or(moof.start),
        };
        let tfdt = match find(&tk, b"tfdt") {
            Some(b) => {
                let mut c = Cursor::of(buf, b);
                Some(
                    (|| {
                        let (v, _) = c.full()?;
                        c.uv(v)
                    })()
                    .ok_or(err("truncated tfdt"))?,
                )
            }
            None => None,
        };
        let mut runs = Vec::new();
        let mut next = base;
        for trun in tk.iter().filter(|b| &b.fourcc == b"trun") {
            let run = parse_trun(buf, trun, base, next, defaults, segment, budget)?;
            next = run.pos + run.len;
            runs.push(run);
        }
        prev_traf_end = Some(next);
        out.push(Traf {
            track,
            tfdt,
            sdi,
            runs,
        });
    }
    Ok(out)
}

fn parse_trun(
    buf: &[u8],
    trun: &BoxRef,
    base: usize,
    next: usize,
    (def_dur, def_size, def_flags): (u32, u32, u32),
    segment: usize,
    budget: &mut usize,
) -> Result<Run, ExportError> {
    let err = |what| ExportError::Segment { segment, what };
    let out_of_range = ExportError::DataOutOfRange { segment };
    let mut c = Cursor::of(buf, trun);
    let (version, flags) = c.full().ok_or(err("truncated trun"))?;
    let count = c.u32().ok_or(err("truncated trun"))?;
    let pos = if flags & 0x01 != 0 {
        let off = c.u32().ok_or(err("truncated trun"))? as i32;
        let p = i64::try_from(base).map_err(|_| out_of_range.clone())? + i64::from(off);
        usize::try_from(p).map_err(|_| out_of_range.clone())?
    } else {
        next
    };
    let first_flags = if flags & 0x04 != 0 {
        Some(c.u32().ok_or(err("truncated trun"))?)
    } else {
        None
    };
    let fields = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count();
    // The count must fit the box before anything is allocated for it.
    let count = usize::try_from(count).map_err(|_| err("trun sample count too large"))?;
    if count
        .checked_mul(fields * 4)
        .is_none_or(|n| n > c.remaining())
    {
        return Err(err("trun sample count exceeds the box"));
    }
    if count > *budget {
        return Err(ExportError::TooManySamples);
    }
    *budget -= count;
    // Without per-sample sizes the default size must fit the segment, checked up front too;
    // zero-sized samples count as one byte here, so a few input bytes cannot stand for
    // millions of samples.
    if flags & 0x200 == 0
        && count
            .checked_mul(def_size.max(1) as usize)
            .is_none_or(|n| n > buf.len())
    {
        return Err(out_of_range);
    }
    let mut samples = Vec::with_capacity(count);
    let mut len = 0usize;
    for i in 0..count {
        let mut field = |bit: u32| -> Result<Option<u32>, ExportError> {
            if flags & bit != 0 {
                c.u32().map(Some).ok_or(err("truncated trun"))
            } else {
                Ok(None)
            }
        };
        let d = field(0x100)?.unwrap_or(def_dur);
        let s = field(0x200)?.unwrap_or(def_size);
        let f = match (field(0x400)?, first_flags) {
            (Some(f), _) => f,
            (None, Some(f)) if i == 0 => f,
            _ => def_flags,
        };
        let cto = match field(0x800)? {
            Some(v) if version == 0 => i64::from(v),
            Some(v) => i64::from(v as i32),
            None => 0,
        };
        len = len.checked_add(s as usize).ok_or(out_of_range.clone())?;
        samples.push((d, s, f, cto));
    }
    if pos.checked_add(len).is_none_or(|e| e > buf.len()) {
        return Err(out_of_range);
    }
    Ok(Run { pos, len, samples })
}
