//! Control: the node's system management, free of HTTP and of protocol drivers — settings,
//! accounts and credentials, channels and what follows their changes, publish authorization by
//! device stream keys, recordings, thumbnails, mail and webhooks.
//!
//! * [`system`]: [`system::System`], what the API and playback authorization share (the
//!   repository, settings, caches, limiters, the stream registry), and the services on it;
//! * [`channels`]: the channel service — every change to a channel (create, update, delete,
//!   ban, resume, kick, grants) with what it implies, through [`channel_events`] (caches forget
//!   it, a live stream that may no longer play is ended, the recordings sweeper is woken), said
//!   once instead of in each handler;
//! * [`auth`]: publish authorization (device stream keys; nginx-rtmp style `on_publish`);
//! * [`security`]: passwords (Argon2id, RFC 9106; NIST SP 800-63B §5.1.1.2 policy), random
//!   credentials, the GCRA rate limiter;
//! * [`recordings`], [`thumbnails`], [`mail`] (SMTP or the outbox), [`webhooks`] (signed,
//!   retried, SSRF-guarded deliveries);
//! * [`config`]: the settings (flags, `ONAIR_*` environment, TOML file), a leaf no other
//!   module imports back.
//!
//! The repository (`onair-db`), the live edge (`onair-live`), durable output (`onair-store`)
//! and the ingest limits (`onair-ingest`) are re-exported under the names the modules use.
#![forbid(unsafe_code)]

pub mod auth;
pub mod channel_cache;
pub mod channel_events;
pub mod channels;
pub mod cluster;
pub mod config;
pub mod mail;
pub mod recordings;
pub mod security;
pub mod system;
pub mod thumbnails;
pub mod webhooks;

/// The metadata repository (crate `onair-db`).
pub use onair_db as db;
/// The live edge (crate `onair-live`).
pub use onair_live::{packager, stream};
/// Durable output (crate `onair-store`).
pub use onair_store as store;
