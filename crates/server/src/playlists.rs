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

/// The multivariant playlist, once codecs and a bit rate are known.
pub fn multivariant(w: &WindowState, fps: f64) -> Option<String> {
    let tracks = w.tracks.as_ref()?;
    let codecs = tracks.codecs();
    if codecs.is_empty() {
        return None;
    }
    let variant = Variant {
        uri: "llhls.m3u8".to_owned(),
        bandwidth: w.peak_bitrate,
        average_bandwidth: Some(w.average_bitrate).filter(|b| *b > 0),
        codecs,
        resolution: tracks.video.as_ref().map(|v| (v.width(), v.height())),
        frame_rate: (fps > 0.0 && tracks.video.is_some()).then_some(fps),
    };
    Some(render_multivariant(&[variant], true, None))
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
