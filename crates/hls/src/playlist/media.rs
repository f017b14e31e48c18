//! Media playlists (RFC 8216bis §4.4.3–4.4.5): classic, and Low-Latency with EXT-X-PART,
//! EXT-X-PRELOAD-HINT, EXT-X-SERVER-CONTROL, EXT-X-PART-INF, EXT-X-SKIP (delta updates,
//! §6.2.5.1) and EXT-X-RENDITION-REPORT.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::{date_time, decimal, with_query};

/// EXT-X-SERVER-CONTROL.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerControl {
    pub can_block_reload: bool,
    pub part_hold_back: Option<f64>,
    pub can_skip_until: Option<f64>,
    pub hold_back: Option<f64>,
}

/// One EXT-X-PART.
#[derive(Clone, Debug, PartialEq)]
pub struct PartEntry {
    pub uri: String,
    pub duration: f64,
    pub independent: bool,
}

/// One media segment.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentEntry {
    pub uri: String,
    pub duration: f64,
    pub discontinuity: bool,
    pub program_date_time: Option<SystemTime>,
    /// EXT-X-MAP URI in effect for this segment (written when it changes).
    pub map_uri: Option<String>,
    pub parts: Vec<PartEntry>,
}

/// EXT-X-PRELOAD-HINT of TYPE=PART.
#[derive(Clone, Debug, PartialEq)]
pub struct PreloadHint {
    pub uri: String,
}

/// EXT-X-RENDITION-REPORT.
#[derive(Clone, Debug, PartialEq)]
pub struct RenditionReport {
    pub uri: String,
    pub last_msn: u64,
    pub last_part: Option<u32>,
}

/// EXT-X-PLAYLIST-TYPE (§4.4.3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaylistType {
    /// Segments are only ever appended (a recording while it is being made).
    Event,
    /// The playlist never changes (a finished recording).
    Vod,
}

impl PlaylistType {
    pub fn as_str(self) -> &'static str {
        match self {
            PlaylistType::Event => "EVENT",
            PlaylistType::Vod => "VOD",
        }
    }
}

/// A media playlist.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaPlaylist {
    pub version: u8,
    /// EXT-X-PLAYLIST-TYPE; absent for live sliding-window playlists.
    pub playlist_type: Option<PlaylistType>,
    pub target_duration: u64,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub independent_segments: bool,
    pub server_control: Option<ServerControl>,
    /// EXT-X-PART-INF PART-TARGET, seconds (LL-HLS only).
    pub part_target: Option<f64>,
    /// Complete segments, oldest first.
    pub segments: Vec<SegmentEntry>,
    /// Parts of the segment being written (after the last complete segment).
    pub trailing_parts: Vec<PartEntry>,
    /// EXT-X-MAP of the trailing parts, if it differs from the last segment's.
    pub trailing_map_uri: Option<String>,
    /// Program date-time of the first trailing part when there is no complete segment before.
    pub trailing_program_date_time: Option<SystemTime>,
    pub trailing_discontinuity: bool,
    pub preload_hint: Option<PreloadHint>,
    pub rendition_reports: Vec<RenditionReport>,
    pub ended: bool,
}

/// How to render.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// Delta update requested (`_HLS_skip=YES`): older segments become EXT-X-SKIP.
    pub skip: bool,
    /// Appended to every child URI (e.g. a playback token).
    pub uri_query: Option<String>,
}

impl MediaPlaylist {
    /// Segments that a delta update leaves out: those that start more than CAN-SKIP-UNTIL
    /// seconds before the end of the playlist (§6.2.5.1).
    pub fn skippable_segments(&self) -> usize {
        let Some(until) = self.server_control.as_ref().and_then(|s| s.can_skip_until) else {
            return 0;
        };
        let total: f64 = self.segments.iter().map(|s| s.duration).sum::<f64>()
            + self.trailing_parts.iter().map(|p| p.duration).sum::<f64>();
        let mut start = 0.0;
        let mut n = 0;
        for s in &self.segments {
            if total - start > until {
                n += 1;
                start += s.duration;
            } else {
                break;
            }
        }
        // Keep at least one segment: the MAP and date-time must stay anchored.
        n.min(self.segments.len().saturating_sub(1))
    }

    pub fn render(&self, opts: &RenderOptions) -> String {
        let q = opts.uri_query.as_deref();
        let mut o = String::with_capacity(256 + 160 * self.segments.len());
        let _ = writeln!(o, "#EXTM3U");
        let _ = writeln!(o, "#EXT-X-VERSION:{}", self.version);
        let _ = writeln!(o, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        let _ = writeln!(o, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence);
        if let Some(t) = self.playlist_type {
            let _ = writeln!(o, "#EXT-X-PLAYLIST-TYPE:{}", t.as_str());
        }
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                o,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        if self.independent_segments {
            let _ = writeln!(o, "#EXT-X-INDEPENDENT-SEGMENTS");
        }
        if let Some(sc) = &self.server_control {
            let mut attrs = Vec::new();
            if sc.can_block_reload {
                attrs.push("CAN-BLOCK-RELOAD=YES".to_owned());
            }
            if let Some(v) = sc.can_skip_until {
                attrs.push(format!("CAN-SKIP-UNTIL={}", decimal(v, 3)));
            }
            if let Some(v) = sc.hold_back {
                attrs.push(format!("HOLD-BACK={}", decimal(v, 3)));
            }
            if let Some(v) = sc.part_hold_back {
                attrs.push(format!("PART-HOLD-BACK={}", decimal(v, 3)));
            }
            let _ = writeln!(o, "#EXT-X-SERVER-CONTROL:{}", attrs.join(","));
        }
        if let Some(pt) = self.part_target {
            let _ = writeln!(o, "#EXT-X-PART-INF:PART-TARGET={}", decimal(pt, 5));
        }
        let skipped = if opts.skip {
            self.skippable_segments()
        } else {
            0
        };
        if skipped > 0 {
            let _ = writeln!(o, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        // EXT-X-PART tags are listed for the segments in the last three target durations
        // (§6.2.2: older parts SHOULD be removed).
        let parts_from = {
            let horizon = 3.0 * self.target_duration as f64;
            let mut acc: f64 = self.trailing_parts.iter().map(|p| p.duration).sum();
            let mut i = self.segments.len();
            while i > 0 && acc < horizon {
                i -= 1;
                acc += self.segments[i].duration;
            }
            i
        };
        // Every segment names its map; it is written where it changes (and after a skip).
        let mut map: Option<&str> = None;
        for (i, s) in self.segments.iter().enumerate() {
            if i < skipped {
                continue;
            }
            if let Some(m) = s.map_uri.as_deref()
                && map != Some(m)
            {
                let _ = writeln!(o, "#EXT-X-MAP:URI=\"{}\"", with_query(m, q));
                map = Some(m);
            }
            if s.discontinuity {
                let _ = writeln!(o, "#EXT-X-DISCONTINUITY");
            }
            if let Some(t) = s.program_date_time {
                let _ = writeln!(o, "#EXT-X-PROGRAM-DATE-TIME:{}", date_time(t));
            }
            if i >= parts_from {
                for p in &s.parts {
                    write_part(&mut o, p, q);
                }
            }
            let _ = writeln!(o, "#EXTINF:{},", decimal(s.duration, 5));
            let _ = writeln!(o, "{}", with_query(&s.uri, q));
        }
        if !self.trailing_parts.is_empty() {
            if let Some(m) = self.trailing_map_uri.as_deref()
                && map != Some(m)
            {
                let _ = writeln!(o, "#EXT-X-MAP:URI=\"{}\"", with_query(m, q));
            }
            if self.trailing_discontinuity {
                let _ = writeln!(o, "#EXT-X-DISCONTINUITY");
            }
            if let Some(t) = self.trailing_program_date_time {
                let _ = writeln!(o, "#EXT-X-PROGRAM-DATE-TIME:{}", date_time(t));
            }
            for p in &self.trailing_parts {
                write_part(&mut o, p, q);
            }
        }
        if let Some(h) = &self.preload_hint {
            let _ = writeln!(
                o,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                with_query(&h.uri, q)
            );
        }
        for r in &self.rendition_reports {
            let _ = write!(
                o,
                "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={}",
                with_query(&r.uri, q),
                r.last_msn
            );
            if let Some(p) = r.last_part {
                let _ = write!(o, ",LAST-PART={p}");
            }
            o.push('\n');
        }
        if self.ended {
            let _ = writeln!(o, "#EXT-X-ENDLIST");
        }
        o
    }
}

fn write_part(o: &mut String, p: &PartEntry, q: Option<&str>) {
    let _ = write!(
        o,
        "#EXT-X-PART:DURATION={},URI=\"{}\"",
        decimal(p.duration, 5),
        with_query(&p.uri, q)
    );
    if p.independent {
        o.push_str(",INDEPENDENT=YES");
    }
    o.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playlist(n: u64) -> MediaPlaylist {
        MediaPlaylist {
            version: 9,
            target_duration: 2,
            media_sequence: 10,
            independent_segments: true,
            server_control: Some(ServerControl {
                can_block_reload: true,
                part_hold_back: Some(0.6),
                can_skip_until: Some(12.0),
                hold_back: None,
            }),
            part_target: Some(0.2),
            segments: (0..n)
                .map(|i| SegmentEntry {
                    uri: format!("seg/{}.m4s", 10 + i),
                    duration: 2.0,
                    discontinuity: i == 3,
                    program_date_time: Some(SystemTime::UNIX_EPOCH),
                    map_uri: Some("init/1.mp4".into()),
                    parts: (0..10)
                        .map(|p| PartEntry {
                            uri: format!("part/{}.{p}.m4s", 10 + i),
                            duration: 0.2,
                            independent: p == 0,
                        })
                        .collect(),
                })
                .collect(),
            trailing_parts: vec![PartEntry {
                uri: format!("part/{}.0.m4s", 10 + n),
                duration: 0.2,
                independent: true,
            }],
            preload_hint: Some(PreloadHint {
                uri: format!("part/{}.1.m4s", 10 + n),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ll_hls_playlist_has_every_tag() {
        let text = playlist(4).render(&RenderOptions::default());
        for needle in [
            "#EXT-X-VERSION:9",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12,PART-HOLD-BACK=0.6",
            "#EXT-X-PART-INF:PART-TARGET=0.2",
            "#EXT-X-MAP:URI=\"init/1.mp4\"",
            "#EXT-X-PART:DURATION=0.2,URI=\"part/14.0.m4s\",INDEPENDENT=YES",
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/14.1.m4s\"",
            "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:00.000Z",
            "#EXT-X-DISCONTINUITY\n",
            "#EXTINF:2,\nseg/13.m4s",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert_eq!(text.matches("#EXT-X-MAP").count(), 1);
        // Parts only for the last three target durations: segments 12, 13 and the trailing one.
        assert!(!text.contains("part/10.0.m4s"));
        assert!(text.contains("part/12.0.m4s"));
        let parsed = m3u8_rs::parse_playlist_res(text.as_bytes()).unwrap();
        let m3u8_rs::Playlist::MediaPlaylist(m) = parsed else {
            panic!()
        };
        assert_eq!(m.media_sequence, 10);
        assert_eq!(m.segments.len(), 4);
    }

    #[test]
    fn delta_update_skips_old_segments() {
        let p = playlist(10);
        let full = p.render(&RenderOptions::default());
        let delta = p.render(&RenderOptions {
            skip: true,
            ..Default::default()
        });
        // 20.2 s of media, CAN-SKIP-UNTIL 12: the segments starting before 8.2 s are skipped.
        assert_eq!(p.skippable_segments(), 5);
        assert!(delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n"));
        assert!(!delta.contains("seg/14.m4s\n"));
        assert!(delta.contains("seg/15.m4s\n"));
        assert!(delta.contains("#EXT-X-MAP"));
        assert!(full.len() > delta.len());
    }

    #[test]
    fn playlist_type_follows_the_media_sequence() {
        let mut p = playlist(2);
        p.playlist_type = Some(PlaylistType::Vod);
        p.ended = true;
        let text = p.render(&RenderOptions::default());
        let lines: Vec<&str> = text.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.starts_with("#EXT-X-MEDIA-SEQUENCE"))
            .unwrap();
        assert_eq!(lines[i + 1], "#EXT-X-PLAYLIST-TYPE:VOD");
        assert_eq!(*lines.last().unwrap(), "#EXT-X-ENDLIST");
        assert!(
            !playlist(2)
                .render(&RenderOptions::default())
                .contains("PLAYLIST-TYPE")
        );
    }

    #[test]
    fn child_uris_carry_the_query() {
        let mut p = playlist(1);
        p.ended = true;
        p.preload_hint = None;
        let text = p.render(&RenderOptions {
            uri_query: Some("token=t".into()),
            ..Default::default()
        });
        assert!(text.contains("URI=\"init/1.mp4?token=t\""));
        assert!(text.contains("seg/10.m4s?token=t\n"));
        assert!(text.contains("URI=\"part/10.0.m4s?token=t\""));
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    }
}
