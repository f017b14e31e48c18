//! OnAir media model and containers (sans-IO).
//!
//! * [`frame`]: the frame model every other crate speaks — timestamps on a 90 kHz clock,
//!   payloads as `bytes::Bytes` so a frame travels from the RTMP socket to every muxer without
//!   its payload being copied.
//! * [`codec`]: codec configuration records (AVC, HEVC, AAC) and what HLS needs from them
//!   (RFC 6381 `CODECS` strings, resolution).
//!
//! * [`flv`]: FLV tags and files (ingest, HTTP-FLV).
//! * [`ts`]: the MPEG-TS muxer (HLS).
//! * [`fmp4`]: the CMAF muxer — init segment and `moof`+`mdat` fragments (ISO/IEC 14496-12
//!   §8.8, ISO/IEC 23000-19).
//! * [`mp4export`]: a CMAF recording remuxed into one progressive ("faststart") MP4
//!   (ISO/IEC 14496-12 §8.2–8.7 sample tables, §8.6.6 edit lists), zero-copy.
#![forbid(unsafe_code)]

pub mod codec;
pub mod flv;
pub mod fmp4;
pub mod frame;
pub mod mp4export;
pub mod ts;

pub use codec::{AacConfig, AudioConfig, AvcConfig, HevcConfig, Tracks, VideoConfig};
pub use frame::{AudioFrame, Frame, TIMESCALE, VideoFrame};
