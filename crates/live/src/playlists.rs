//! Renders the live window as playlists: the multivariant playlist, the LL-HLS media playlist
//! (CMAF) and the classic MPEG-TS media playlist. URIs are relative to each playlist.

use onair_hls::playlist::{
    MediaPlaylist, PartEntry, PreloadHint, RenderOptions, SegmentEntry, ServerControl, Variant,
    render_multivariant,
};
use onair_hls::request::LiveEdge;

use crate::window::{SegmentData, WindowState};

/// PART-HOLD-BACK in part targets (RFC 8216bis §4.4.3.8: at least three).
const PART_HOLD_BACK_PARTS: f64 = 3.0;
/// CAN-SKIP-UNTIL in target durations (§4.4.3.8: at least six).
const SKIP_UNTIL_TARGETS: f64 = 6.0;

fn part_uri(sid: &str, seq: u64) -> String {
    format!("{sid}/part/{seq}.m4s")
}

fn init_uri(sid: &str, id: u32) -> String {
    format!("{sid}/init/{id}.mp4")
}

fn parts(sid: &str, s: &SegmentData) -> Vec<PartEntry> {
    s.parts
        .iter()
        .map(|p| PartEntry {
            uri: part_uri(sid, p.seq),
            duration: p.duration,
            independent: p.independent,
        })
        .collect()
}

/// The LL-HLS media playlist.
pub fn llhls(w: &WindowState, sid: &str, skip: bool) -> String {
    let mut p = MediaPlaylist {
        version: 9,
        target_duration: w.target_duration,
        media_sequence: w.media_sequence().unwrap_or(0),
        discontinuity_sequence: w.discontinuity_sequence,
        independent_segments: true,
        server_control: Some(ServerControl {
            can_block_reload: true,
            part_hold_back: Some(PART_HOLD_BACK_PARTS * w.part_target),
            can_skip_until: Some(SKIP_UNTIL_TARGETS * w.target_duration as f64),
            hold_back: None,
        }),
        part_target: Some(w.part_target),
        ended: w.ended,
        ..Default::default()
    };
    for s in &w.segments {
        match s.duration {
            Some(duration) => p.segments.push(SegmentEntry {
                uri: format!("{sid}/seg/{}.m4s", s.msn),
                duration,
                discontinuity: s.discontinuity,
                program_date_time: Some(s.program_date_time),
                map_uri: Some(init_uri(sid, s.init_id)),
                parts: parts(sid, s),
            }),
            None => {
                p.trailing_parts = parts(sid, s);
                p.trailing_map_uri = Some(init_uri(sid, s.init_id));
                p.trailing_program_date_time = Some(s.program_date_time);
                p.trailing_discontinuity = s.discontinuity;
            }
        }
    }
    if !w.ended {
        let next = w.last_part_seq().map_or(0, |s| s + 1);
        p.preload_hint = Some(PreloadHint {
            uri: part_uri(sid, next),
        });
    }
    p.render(&RenderOptions {
        skip,
        uri_query: None,
    })
}

/// The classic HLS media playlist over MPEG-TS (complete segments only).
pub fn ts(w: &WindowState, sid: &str) -> String {
    let mut p = MediaPlaylist {
        version: 3,
        target_duration: w.target_duration,
        media_sequence: w.media_sequence().unwrap_or(0),
        discontinuity_sequence: w.discontinuity_sequence,
        independent_segments: true,
        ended: w.ended,
        ..Default::default()
    };
    for s in w.segments.iter() {
        if let Some(duration) = s.duration {
            p.segments.push(SegmentEntry {
                uri: format!("{sid}/{}.ts", s.msn),
                duration,
                discontinuity: s.discontinuity,
                program_date_time: Some(s.program_date_time),
                map_uri: None,
                parts: Vec::new(),
            });
        }
    }
    p.render(&RenderOptions::default())
}

/// One rendition as the multivariant playlist lists it.
pub struct RenditionWindow<'a> {
    /// Its media playlist, relative to the multivariant playlist.
    pub uri: String,
    pub window: &'a WindowState,
    /// Measured frame rate (0 when unknown).
    pub fps: f64,
}

/// The multivariant playlist over a channel's renditions, once every one's codecs are known
/// (RFC 8216bis-17 §4.4.6.2: one EXT-X-STREAM-INF per variant).
pub fn multivariant(renditions: &[RenditionWindow<'_>]) -> Option<String> {
    let mut variants = Vec::with_capacity(renditions.len());
    for r in renditions {
        let w = r.window;
        let tracks = w.tracks.as_ref()?;
        let codecs = tracks.codecs();
        if codecs.is_empty() {
            return None;
        }
        variants.push(Variant {
            uri: r.uri.clone(),
            bandwidth: w.peak_bitrate,
            average_bandwidth: Some(w.average_bitrate).filter(|b| *b > 0),
            codecs,
            resolution: tracks.video.as_ref().map(|v| (v.width(), v.height())),
            frame_rate: (r.fps > 0.0 && tracks.video.is_some()).then_some(r.fps),
        });
    }
    if variants.is_empty() {
        return None;
    }
    Some(render_multivariant(&variants, true, None))
}

/// Where the live edge of the window is.
pub fn live_edge(w: &WindowState) -> Option<LiveEdge> {
    let last = w.segments.back()?;
    Some(if last.is_complete() {
        LiveEdge {
            last_complete_msn: Some(last.msn),
            last_complete_parts: last.parts.len() as u32,
            current_msn: last.msn + 1,
            current_parts: 0,
        }
    } else {
        let prev = w.segments.iter().rev().nth(1).filter(|s| s.is_complete());
        LiveEdge {
            last_complete_msn: prev.map(|s| s.msn),
            last_complete_parts: prev.map(|s| s.parts.len() as u32).unwrap_or(0),
            current_msn: last.msn,
            current_parts: last.parts.len() as u32,
        }
    })
}

/// One segment of the time-shift playlist.
struct DvrEntry {
    msn: u64,
    duration: f64,
    discontinuity: bool,
    pdt: Option<std::time::SystemTime>,
    init_id: u32,
}

/// Reads our own stored CMAF playlist (see `store::sink::render_playlists`).
fn parse_stored(text: &str) -> Vec<DvrEntry> {
    let mut out = Vec::new();
    let (mut duration, mut disc, mut pdt, mut init_id) = (0.0, false, None, 1u32);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXTINF:") {
            duration = v
                .split(',')
                .next()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0.0);
        } else if line == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = humantime::parse_rfc3339_weak(v).ok();
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            let name = v.trim_end_matches('"');
            init_id = name
                .strip_prefix("init-")
                .and_then(|n| n.strip_suffix(".mp4"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
        } else if let Some(msn) = line
            .strip_prefix("seg/")
            .and_then(|n| n.strip_suffix(".m4s"))
            .and_then(|n| n.parse().ok())
        {
            out.push(DvrEntry {
                msn,
                duration,
                discontinuity: std::mem::take(&mut disc),
                pdt: pdt.take(),
                init_id,
            });
        }
    }
    out
}

/// The time-shift (DVR) playlist of one stream life: its stored segments (from the stored
/// playlist `stored`) and the complete segments of the memory window not stored yet, the
/// newest `window_secs` of them. A sliding playlist (no EXT-X-PLAYLIST-TYPE, since old
/// segments leave it); discontinuities that leave it advance EXT-X-DISCONTINUITY-SEQUENCE.
/// Empty when there is no complete segment.
pub fn dvr(w: &WindowState, sid: &str, stored: &str, window_secs: f64) -> String {
    let mut entries = parse_stored(stored);
    let last_stored = entries.last().map(|e| e.msn);
    for s in &w.segments {
        if let Some(duration) = s.duration
            && last_stored.is_none_or(|l| s.msn > l)
        {
            entries.push(DvrEntry {
                msn: s.msn,
                duration,
                discontinuity: s.discontinuity,
                pdt: Some(s.program_date_time),
                init_id: s.init_id,
            });
        }
    }
    if entries.is_empty() {
        return String::new();
    }
    // Keep the newest `window_secs`, and at least the last segment.
    let mut total = 0.0;
    let mut start = entries.len();
    while start > 0
        && (total + entries[start - 1].duration <= window_secs || start == entries.len())
    {
        total += entries[start - 1].duration;
        start -= 1;
    }
    let discontinuity_sequence = entries[..start].iter().filter(|e| e.discontinuity).count() as u64;
    let kept = &entries[start..];
    let p = MediaPlaylist {
        version: 7,
        target_duration: kept
            .iter()
            .map(|e| e.duration.ceil() as u64)
            .max()
            .unwrap_or(1)
            .max(w.target_duration),
        media_sequence: kept[0].msn,
        discontinuity_sequence,
        independent_segments: true,
        ended: w.ended,
        segments: kept
            .iter()
            .enumerate()
            .map(|(i, e)| SegmentEntry {
                uri: format!("{sid}/seg/{}.m4s", e.msn),
                duration: e.duration,
                discontinuity: e.discontinuity && i > 0,
                program_date_time: e.pdt,
                map_uri: Some(init_uri(sid, e.init_id)),
                parts: Vec::new(),
            })
            .collect(),
        ..Default::default()
    };
    p.render(&RenderOptions::default())
}
