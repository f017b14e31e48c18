//! OnAir media model and containers (sans-IO).
//!
//! * [`frame`]: the frame model every other crate speaks — timestamps on a 90 kHz clock,
//!   payloads as `bytes::Bytes` so a frame travels from the RTMP socket to every muxer without
//!   its payload being copied.
//! * [`codec`]: codec configuration records (AVC, HEVC, AAC) and what HLS needs from them
//!   (RFC 6381 `CODECS` strings, resolution).
//!
//! Further modules (FLV tags, MPEG-TS muxer, fMP4/CMAF muxer) are added beside these.
#![forbid(unsafe_code)]

pub mod codec;
pub mod flv;
pub mod fmp4;
pub mod frame;
pub mod ts;

pub use codec::{AacConfig, AudioConfig, AvcConfig, HevcConfig, Tracks, VideoConfig};
pub use frame::{AudioFrame, Frame, TIMESCALE, VideoFrame};
