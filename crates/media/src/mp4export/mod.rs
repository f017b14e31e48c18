//! Recording export: a CMAF recording (one init segment and its media segments) remuxed into
//! ONE progressive MP4 with the `moov` before the `mdat` ("faststart"), without re-encoding
//! and without copying sample data (sans-IO).
//!
//! Specifications:
//! * Input: ISO/IEC 23000-19:2020 (CMAF) headers and fragments, i.e. ISO/IEC 14496-12:2022
//!   §8.8 movie fragments: `mvex`/`trex` (§8.8.1, §8.8.3), `moof`/`mfhd` (§8.8.4, §8.8.5),
//!   `traf`/`tfhd` (§8.8.6, §8.8.7, including base-data-offset, default-base-is-moof and the
//!   default sample duration/size/flags), `tfdt` v0/v1 (§8.8.12) and `trun` v0/v1 (§8.8.8:
//!   data_offset, first_sample_flags and the optional per-sample fields); sample flags per
//!   §8.8.3.1 (`sample_is_non_sync_sample`). Fragments whose `tfhd` has neither a base offset
//!   nor default-base-is-moof use the §8.8.7.1 defaults (the `moof` for the first track
//!   fragment, the end of the previous track fragment's data for later ones); an explicit
//!   `base_data_offset` (which CMAF forbids) is taken relative to the start of the segment.
//! * Output: ISO/IEC 14496-12:2022 §8.2 (`moov`, `mvhd`), §8.3 (`trak`, `tkhd`), §8.4 (`mdia`,
//!   `mdhd`, `hdlr`, `minf`), §8.4.5 (`vmhd`/`smhd`), §8.7.1–8.7.2 (`dinf`/`dref`), §8.5–8.7
//!   sample tables (`stsd` copied verbatim from the init segment, `stts`, `ctts` — version 1,
//!   signed, only when an offset is negative, version 0 otherwise, omitted when all are zero
//!   —, `stss`, `stsz`, `stsc`, `stco`/`co64`) and §8.6.5–8.6.6 edit lists (`edts`/`elst`).
//!
//! Layout: `ftyp`, `moov`, then one `mdat` holding one chunk per track per input track
//! fragment, in input order (so a player reading the file front to back reads sequentially).
//! `stco` becomes `co64` when a chunk starts past 4 GiB, and the `mdat` uses its 64-bit
//! `largesize` when the payload does not fit a 32-bit size.
//!
//! Timing:
//! * Each track's decode timeline starts at its first sample. An edit list maps the earliest
//!   presentation time of every track onto the movie timeline so the tracks keep their
//!   relative alignment and the earliest one starts at 0: an empty edit delays a track that
//!   started later, and the media edit skips the composition offset of the first sample.
//! * Gaps: when a track fragment's `tfdt` lies past the end of the previous sample (a
//!   publisher reconnected), the previous sample's duration is extended to close the gap, so
//!   the file plays continuously (the last frame is held; audio is silent) and the total
//!   duration stays right. A `tfdt` before the end of the previous sample is an error.
//! * Tracks that have no samples in any segment are left out of the file.

mod parse;
mod write;

use bytes::Bytes;

/// Tracks an init segment may hold.
pub const MAX_TRACKS: usize = 8;
/// Size of the init segment.
pub const MAX_INIT_LEN: usize = 1 << 20;
/// Samples in a whole export, all tracks (10 h of 60 fps video with 48 kHz AAC is ~4.2 M);
/// keeps the `moov` (at most ~24 bytes a sample) well under 4 GiB.
pub const MAX_SAMPLES: usize = 20_000_000;
/// Chunks (track fragments) in a whole export (1 s fragments of two tracks: ~138 h).
pub const MAX_CHUNKS: usize = 1_000_000;

/// The exported MP4: `header`, then every `payload` slice in order. Their concatenation is the
/// file; the payloads are zero-copy slices of the input segments.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// `ftyp`, `moov` and the `mdat` box header.
    pub header: Bytes,
    /// Sample data in `mdat` order.
    pub payload: Vec<Bytes>,
    /// Length of the whole file.
    pub len: u64,
}

/// Errors of the export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("init segment: {0}")]
    Init(&'static str),
    #[error("init segment larger than MAX_INIT_LEN ({MAX_INIT_LEN})")]
    InitTooLarge,
    #[error("init segment has no video or audio track")]
    NoTracks,
    #[error("init segment has more than MAX_TRACKS ({MAX_TRACKS}) tracks")]
    TooManyTracks,
    #[error("init segment: track {0} appears twice")]
    DuplicateTrack(u32),
    #[error("init segment: track {track_id} has handler {handler:?}, not vide or soun")]
    UnsupportedHandler { track_id: u32, handler: String },
    #[error("init segment: track {0} has timescale 0")]
    ZeroTimescale(u32),
    #[error("segment {segment}: {what}")]
    Segment { segment: usize, what: &'static str },
    #[error("segment {segment}: track {track_id} is not in the init segment")]
    UnknownTrack { segment: usize, track_id: u32 },
    #[error("segment {segment}: track {track_id} uses sample description {index}, not in its stsd")]
    BadSampleDescription {
        segment: usize,
        track_id: u32,
        index: u32,
    },
    #[error("segment {segment}: sample data outside the segment's mdat")]
    DataOutOfRange { segment: usize },
    #[error("segment {segment}: track {track_id} decode time goes backwards ({got} < {expected})")]
    TimeWentBackwards {
        segment: usize,
        track_id: u32,
        expected: u64,
        got: u64,
    },
    #[error("segment {segment}: track {track_id} has a gap too long to bridge ({gap} ticks)")]
    GapTooLarge {
        segment: usize,
        track_id: u32,
        gap: u64,
    },
    #[error("track {0}: composition offsets out of range")]
    CompositionOffset(u32),
    #[error("no samples in the segments")]
    NoSamples,
    #[error("more than MAX_SAMPLES ({MAX_SAMPLES}) samples")]
    TooManySamples,
    #[error("more than MAX_CHUNKS ({MAX_CHUNKS}) track fragments")]
    TooManyChunks,
    #[error("recording too large or too long for MP4")]
    TooLarge,
}

/// Remuxes the init segment `init` and its media segments `segments` (in order) into one
/// progressive MP4. See the module docs for layout and timing.
///
/// An init segment written before the `esds` fix is repaired first
/// ([`crate::fmp4::repair_init`]), so old recordings export to files strict players accept.
pub fn export(init: &Bytes, segments: &[Bytes]) -> Result<Export, ExportError> {
    let init = crate::fmp4::repair_init(init).unwrap_or_else(|| init.clone());
    let movie = parse::parse(&init, segments)?;
    write::write(movie, false)
}

/// [`export`] forced to use `co64` and a 64-bit `mdat` size as if the file were past 4 GiB:
/// lets tests check that layout with players without writing 4 GiB.
#[doc(hidden)]
pub fn export_64bit(init: &Bytes, segments: &[Bytes]) -> Result<Export, ExportError> {
    let init = crate::fmp4::repair_init(init).unwrap_or_else(|| init.clone());
    let movie = parse::parse(&init, segments)?;
    write::write(movie, true)
}
