//! The live edge of one node, independent of any protocol or store: what a stream is while it
//! is live, and the ports through which the rest of the node meets it.
//!
//! * [`stream`]: the registry of this node's streams by (channel, rendition), their lifecycle
//!   (live, reconnect grace, ended), publishers and kicks;
//! * [`directory`]: who owns a stream — the [`directory::StreamDirectory`] port, claims with
//!   epochs (fencing), and the single node's [`directory::LocalDirectory`];
//! * [`hub`]: one broadcast per stream: attached consumers see every frame in order (the
//!   packager), subscribers get bounded queues and skip to the next keyframe when slow, so
//!   nothing blocks the publisher;
//! * [`packager`]: frames → CMAF parts and segments and MPEG-TS segments with the same
//!   boundaries, into the live window and the [`sink::SegmentSink`];
//! * [`window`]: the live window of segments and LL-HLS parts in memory, with waiters for
//!   blocking playlist reloads and preload hints (RFC 8216bis-17 §6.2.5.2);
//! * [`playlists`]: the multivariant playlist over a channel's renditions (§4.4.6.2) and the
//!   live media playlists (LL-HLS and TS) with delta updates (§4.4.5.2, §6.2.5.1);
//! * [`edge`]: the [`edge::LiveEdge`] port HTTP reads live media through, and
//!   [`edge::LocalEdge`], where the LL-HLS request rules are applied;
//! * [`publish`]: the [`publish::PublishAuthorizer`] port ingest drivers ask;
//! * [`sink`]: the [`sink::SegmentSink`] port durable storage implements;
//! * [`viewers`]: viewer counting per protocol; [`health`]: bit-rate/frame-rate history,
//!   keyframe interval and warnings.
#![forbid(unsafe_code)]

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
