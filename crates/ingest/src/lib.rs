//! Ingest: the protocol drivers that take a publisher's connection to a live stream. Each one
//! owns its sockets and clocks around a sans-IO session, asks the [`PublishAuthorizer`] who may
//! publish where, claims the stream in the [`Registry`] and pushes frames into its hub.
//!
//! * [`rtmp`]: the RTMP driver — a tokio task per connection around
//!   [`onair_rtmp::ServerSession`] (RTMP 1.0 §5–7, Enhanced RTMP v2), FLV tag bodies turned into
//!   frames (FLV 10.1 Annex E, E-RTMP), track collection before packaging, takeover.
//! * [`limits`]: what peers may take before and after they authenticate (pending connections
//!   per address, the partial-message budget).
//!
//! SRT, WHIP and RTMPS drivers belong here too, beside `rtmp`.
//!
//! [`PublishAuthorizer`]: onair_live::publish::PublishAuthorizer
//! [`Registry`]: onair_live::stream::Registry
#![forbid(unsafe_code)]

pub mod limits;
pub mod rtmp;
