//! A small, independent parser of HLS media playlists (RFC 8216bis), enough to check the rules
//! the server must follow. Written separately from `onair-hls` on purpose.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct MediaPlaylist {
    pub version: Option<u32>,
    pub target_duration: Option<f64>,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub server_control: HashMap<String, String>,
    pub part_target: Option<f64>,
    pub map_uris: Vec<String>,
    pub segments: Vec<Segment>,
    /// Parts after the last full segment (the segment being written).
    pub trailing_parts: Vec<Part>,
    pub preload_hint: Option<HashMap<String, String>>,
    pub skipped_segments: u64,
    pub endlist: bool,
    pub independent_segments: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Segment {
    pub msn: u64,
    pub duration: f64,
    pub uri: String,
    pub discontinuity: bool,
    pub program_date_time: Option<String>,
    pub parts: Vec<Part>,
}

#[derive(Debug, Default, Clone)]
pub struct Part {
    pub duration: f64,
    pub uri: String,
    pub independent: bool,
}

/// Parses an attribute list (`A=1,B="x,y",C=YES`).
pub fn attributes(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_owned();
        rest = &rest[eq + 1..];
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').expect("unterminated quoted string");
            value = r[..end].to_owned();
            rest = &r[end + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].to_owned();
            rest = &rest[end..];
        }
        out.insert(key, value);
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    out
}

pub fn parse(text: &str) -> MediaPlaylist {
    let mut p = MediaPlaylist::default();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("#EXTM3U"),
        "playlist must start with #EXTM3U"
    );
    let mut pending = Segment::default();
    let mut extinf: Option<f64> = None;
    let mut msn_set = false;
    let mut next_msn = 0;
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let (tag, value) = rest.split_once(':').unwrap_or((rest, ""));
            match tag {
                "EXT-X-VERSION" => p.version = Some(value.parse().unwrap()),
                "EXT-X-TARGETDURATION" => p.target_duration = Some(value.parse().unwrap()),
                "EXT-X-MEDIA-SEQUENCE" => {
                    p.media_sequence = value.parse().unwrap();
                    msn_set = true;
                    next_msn = p.media_sequence;
                }
                "EXT-X-DISCONTINUITY-SEQUENCE" => p.discontinuity_sequence = value.parse().unwrap(),
                "EXT-X-INDEPENDENT-SEGMENTS" => p.independent_segments = true,
                "EXT-X-SERVER-CONTROL" => p.server_control = attributes(value),
                "EXT-X-PART-INF" => {
                    p.part_target = Some(attributes(value)["PART-TARGET"].parse().unwrap())
                }
                "EXT-X-MAP" => p.map_uris.push(attributes(value)["URI"].clone()),
                "EXT-X-SKIP" => {
                    let n: u64 = attributes(value)["SKIPPED-SEGMENTS"].parse().unwrap();
                    p.skipped_segments = n;
                    next_msn += n;
                }
                "EXT-X-DISCONTINUITY" => pending.discontinuity = true,
                "EXT-X-PROGRAM-DATE-TIME" => pending.program_date_time = Some(value.to_owned()),
                "EXT-X-PART" => {
                    let a = attributes(value);
                    pending.parts.push(Part {
                        duration: a["DURATION"].parse().unwrap(),
                        uri: a["URI"].clone(),
                        independent: a.get("INDEPENDENT").map(String::as_str) == Some("YES"),
                    });
                }
                "EXTINF" => {
                    extinf = Some(value.split(',').next().unwrap().parse().unwrap());
                }
                "EXT-X-PRELOAD-HINT" => p.preload_hint = Some(attributes(value)),
                "EXT-X-ENDLIST" => p.endlist = true,
                _ => {}
            }
        } else {
            let duration = extinf.take().expect("URI line without EXTINF");
            let mut seg = std::mem::take(&mut pending);
            seg.duration = duration;
            seg.uri = line.to_owned();
            seg.msn = next_msn;
            next_msn += 1;
            p.segments.push(seg);
        }
    }
    assert!(msn_set || p.media_sequence == 0);
    p.trailing_parts = pending.parts;
    p
}

impl MediaPlaylist {
    /// MSN of the segment after the last complete one.
    pub fn next_msn(&self) -> u64 {
        self.media_sequence + self.skipped_segments + self.segments.len() as u64
    }
}
