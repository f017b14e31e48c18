//! The multivariant playlist: EXT-X-STREAM-INF per variant (RFC 8216bis §4.4.6.2).

use std::fmt::Write as _;

use super::with_query;

/// One variant stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub uri: String,
    /// Peak segment bit rate, bits/s.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    /// RFC 6381 codec list.
    pub codecs: String,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
}

/// Renders a multivariant playlist; `uri_query` is appended to every variant URI.
pub fn render_multivariant(
    variants: &[Variant],
    independent_segments: bool,
    uri_query: Option<&str>,
) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n");
    if independent_segments {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    for v in variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if let Some(a) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={}", a.max(1));
        }
        let _ = write!(out, ",CODECS=\"{}\"", v.codecs);
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(f) = v.frame_rate.filter(|f| *f > 0.0) {
            let _ = write!(out, ",FRAME-RATE={}", format_args!("{:.3}", f));
        }
        out.push('\n');
        out.push_str(&with_query(&v.uri, uri_query));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_inf_carries_every_attribute() {
        let v = Variant {
            uri: "llhls.m3u8".into(),
            bandwidth: 300_000,
            average_bandwidth: Some(250_000),
            codecs: "avc1.64001e,mp4a.40.2".into(),
            resolution: Some((1280, 720)),
            frame_rate: Some(29.97),
        };
        let text = render_multivariant(&[v], true, Some("token=abc"));
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=300000,AVERAGE-BANDWIDTH=250000,CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=29.970\nllhls.m3u8?token=abc\n"
        );
        let parsed = m3u8_rs::parse_playlist_res(text.as_bytes()).unwrap();
        assert!(matches!(parsed, m3u8_rs::Playlist::MasterPlaylist(m) if m.variants.len() == 1));
    }
}
