//! RTMP for OnAir, as sans-IO state machines (bytes and time in, bytes and events out).
//!
//! Implements Adobe's RTMP specification 1.0 (December 2012): the handshake (§5.2, plus the
//! Flash Player 9 digest variant librtmp and ffmpeg use), the chunk stream (§5.3), protocol
//! control messages (§5.4), user control events (§6.2), and the NetConnection/NetStream commands
//! of a publisher (§7.2) in AMF0 (Adobe AMF0 specification, 2007). Enhanced RTMP (veovera v2)
//! affects the connect exchange (`fourCcList`); its tag formats are parsed in `onair-media`.
//!
//! Written for OnAir rather than reusing `rml_rtmp` (dormant, no Enhanced RTMP) or the scuffle
//! crates (tokio-bound): see `../shared/design/crates.md`.
#![forbid(unsafe_code)]

pub mod amf0;
pub mod chunk;
pub mod client;
pub mod handshake;
pub mod message;
pub mod server;

pub use chunk::{MAX_CHUNK_SIZE, MAX_CHUNK_STREAMS, MAX_MESSAGE_LENGTH};
pub use client::{ClientConfig, ClientEvent, ClientSession};
pub use server::{RtmpError, ServerConfig, ServerEvent, ServerSession};
