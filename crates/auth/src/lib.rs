//! Credential checks that parse what clients send, kept free of IO (no sockets, tasks or clock
//! reads: callers pass "now" in), so they are deterministic in tests and fuzzable on their own:
//!
//! - [`signed_url`]: OnAir's HMAC-SHA256 playback tokens (RFC 2104 HMAC with FIPS 180-4
//!   SHA-256, RFC 4648 §5 base64url without padding).
//! - [`alibaba`]: Alibaba Cloud CDN URL authentication, type A (`auth_key`; RFC 1321 MD5).
//! - [`totp`]: RFC 6238 TOTP over RFC 4226 HOTP (HMAC-SHA1), with Google Authenticator's Key
//!   Uri Format and RFC 4648 §6 base32 secrets.
//! - [`forwarded`]: the client address behind trusted proxies, from `X-Forwarded-For` (the
//!   de facto header; RFC 7239 §5.2 describes the same node list for `Forwarded: for=`).
//! - [`client`]: how per-address limits key a client ([`client::AddrKey`]: IPv4, IPv6 /64),
//!   and [`slots`]: caps on what one key holds at once (connections per address).
//!
//! Each has named `MAX_*` limits on its inputs and returns errors (or, for `forwarded`, falls
//! back to the peer address), never panics, on any input (see the `signed_url_verify`,
//! `alibaba_verify`, `totp_verify` and `forwarded_for` fuzz targets).
#![forbid(unsafe_code)]

pub mod alibaba;
pub mod client;
pub mod forwarded;
pub mod signed_url;
pub mod slots;
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

/// Longest channel name (the public slug in playback URLs).
pub const MAX_CHANNEL_NAME: usize = 64;

/// True for a valid channel name: `[A-Za-z0-9_-]{1,64}`.
pub fn is_valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CHANNEL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
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
