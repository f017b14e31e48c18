//! Security primitives for the HTTP and account layers: signed playback URLs, Alibaba Cloud
//! CDN URL authentication (type A), TOTP second factors and rate limiting.
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
//! - [`password`]: Argon2id password hashing (RFC 9106) and the password policy.
//! - [`secret`]: random credentials (session cookies, API tokens, stream keys) and their stored
//!   SHA-256 digests.

pub mod alibaba;
pub mod password;
pub mod ratelimit;
pub mod secret;
pub mod signed_url;
pub mod totp;

use hmac::{EagerHash, Hmac, KeyInit};
use subtle::ConstantTimeEq;

/// True when `a == b`, in time that depends only on the lengths, not on where the first
/// difference is. Use it for every comparison of a secret or of a value derived from a secret
/// (MACs, digests, codes), so an attacker cannot learn a valid tag byte by byte from response
/// timing. The lengths themselves are not secret (tags have fixed sizes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// An HMAC keyed with `key`.
///
/// HMAC accepts keys of any length (RFC 2104 §2: longer keys are hashed, shorter ones are
/// zero-padded) and `hmac`'s `new_from_slice` never returns an error; the `Result` only exists
/// because the generic `KeyInit` trait also serves fixed-key ciphers. The `expect` therefore
/// cannot fire for any key, whatever the input.
pub(crate) fn hmac_with_key<D: EagerHash>(key: &[u8]) -> Hmac<D> {
    Hmac::<D>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
