//! The live edge of one node, independent of any protocol or store: what a stream is while it
//! is live.
//!
//! * [`hub`]: one broadcast per live stream, fanning frames out to its consumers (packager,
//!   HTTP-FLV viewers) as `Bytes` clones through bounded queues; a slow consumer skips to the
//!   next keyframe and its drops are counted, so it never blocks the publisher.
//! * [`window`]: the live window of segments and LL-HLS parts in memory, with waiters for
//!   blocking playlist reloads and preload hints (RFC 8216bis-17 §6.2.5.2).
//! * [`playlists`]: the live media playlists (LL-HLS and TS) written from a window, with delta
//!   updates (RFC 8216bis-17 §4.4.5.2, §6.2.5.1).
//! * [`viewers`]: viewer counting per protocol; [`health`]: bit-rate/frame-rate history,
//!   keyframe interval and warnings.
//!
//! Issue #13 moves the packager, the stream registry (as a `StreamDirectory`) and a `LiveEdge`
//! read interface here too; for now they live in `onair-server`, which re-exports these modules
//! under their old paths.

pub mod directory;
pub mod edge;
pub mod health;
pub mod hub;
pub mod packager;
pub mod playlists;
pub mod publish;
pub mod sink;
pub mod stream;
pub mod viewers;
pub mod window;
