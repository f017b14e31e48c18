//! Security primitives for the HTTP and account layers: signed playback URLs, Alibaba Cloud
//! CDN URL authentication (type A) and TOTP second factors (from the sans-IO `onair-auth`
//! crate, re-exported here), rate limiting, passwords and random credentials.
//!
//! Everything here is pure: no IO, no tasks, no clock reads. Callers pass the current time in,
//! which keeps the checks deterministic and testable, and lets one request use one consistent
//! "now" across several checks.
//!
//! - [`signed_url`]: OnAir's own HMAC-SHA256 playback tokens (RFC 2104 HMAC, RFC 4648 §5
//!   base64url).
//! - [`alibaba`]: Alibaba Cloud CDN URL authentication, type A (`auth_key`).
//! - [`totp`]: RFC 6238 TOTP over RFC 4226 HOTP, with Google Authenticator's Key Uri Format.
//! - [`ratelimit`]: an in-memory GCRA (token bucket) limiter with bounded memory.
//! - [`slots`]: caps on what one key (a client address, a user) holds at once.
//! - [`password`]: Argon2id password hashing (RFC 9106) and the password policy.
//! - [`secret`]: random credentials (session cookies, API tokens, stream keys) and their stored
//!   SHA-256 digests.

pub mod password;
pub mod ratelimit;
pub mod secret;

pub use onair_auth::{alibaba, constant_time_eq, signed_url, slots, totp};
