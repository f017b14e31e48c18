//! HLS for OnAir, sans-IO: the segmenter that cuts frames into segments and LL-HLS parts, typed
//! playlists and their writer, and the blocking-request rules.
//!
//! Implements RFC 8216bis (draft-pantos-hls-rfc8216bis-17): media segments (§3), playlist tags
//! (§4.4) including Low-Latency HLS (EXT-X-PART, EXT-X-PART-INF, EXT-X-PRELOAD-HINT,
//! EXT-X-SERVER-CONTROL, EXT-X-SKIP, EXT-X-RENDITION-REPORT) and the server side of blocking
//! playlist reload and delta updates (§6.2.5). No crate writes the LL-HLS tags, so the writer is
//! ours; `m3u8-rs` checks the standard tags in tests.
#![forbid(unsafe_code)]

pub mod playlist;
pub mod request;
pub mod segmenter;
