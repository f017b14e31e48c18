//! Typed HLS playlists and their writer (RFC 8216bis, draft 17): the multivariant playlist and
//! media playlists, classic or Low-Latency (parts, preload hints, blocking reload server
//! control, delta updates, rendition reports). One tag family per file.

mod media;
mod multivariant;

pub use media::{
    MediaPlaylist, PartEntry, PlaylistType, PreloadHint, RenderOptions, RenditionReport,
    SegmentEntry, ServerControl,
};
pub use multivariant::{Variant, render_multivariant};

use std::fmt::Write as _;
use std::time::SystemTime;

/// Formats a decimal-floating-point attribute with up to `decimals` places, trimming zeros.
pub(crate) fn decimal(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// ISO 8601 date-time with milliseconds, UTC (EXT-X-PROGRAM-DATE-TIME, §4.4.4.6).
pub(crate) fn date_time(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    );
    out
}

/// Appends `query` to a URI (for tokens carried on every child URI).
pub(crate) fn with_query(uri: &str, query: Option<&str>) -> String {
    match query {
        Some(q) if !q.is_empty() => {
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}{q}")
        }
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_iso_8601_utc() {
        assert_eq!(
            date_time(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
        assert_eq!(date_time(t), "2025-11-24T16:00:00.123Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(date_time(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn decimals_are_trimmed() {
        assert_eq!(decimal(2.0, 3), "2");
        assert_eq!(decimal(0.20000, 5), "0.2");
        assert_eq!(decimal(1.23456, 3), "1.235");
    }
}
