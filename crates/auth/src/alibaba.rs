//! Alibaba Cloud CDN URL authentication, **type A** ("URL signing, type A" in the Alibaba Cloud
//! CDN and ApsaraVideo documentation), so OnAir URLs can be checked by an Alibaba CDN in front
//! of it, or OnAir can check URLs signed by tooling built for Alibaba.
//!
//! A signed URL carries `?auth_key={timestamp}-{rand}-{uid}-{md5hash}` where
//!
//! - `timestamp`: unix seconds, in decimal, at which the URL was *generated*. The URL is valid
//!   while `now <= timestamp + ttl`, the TTL being configured at the verifier (the CDN), not
//!   carried in the URL. A signer may put a future timestamp to extend validity, which is why
//!   future timestamps are not refused.
//! - `rand`: a random string without `-`; `0` when unused. Alibaba suggests a UUID without
//!   dashes.
//! - `uid`: a user id; `0` when unused.
//! - `md5hash`: lowercase hex MD5 (RFC 1321) of `{uri}-{timestamp}-{rand}-{uid}-{privatekey}`,
//!   where `uri` is the request path as sent (percent-encoded, without the query string).
//!
//! A type A signature is per path: it signs the exact `uri`. An HLS playlist therefore needs
//! every child URI it lists (media playlists, segments, parts, init sections) signed on its
//! own; the playlist rewriting that does this lives with the HTTP layer, which calls
//! [`sign_for`] once per URI.
//!
//! MD5 and an unkeyed-hash construction (rather than HMAC) are what the CDN implements; this
//! module exists for compatibility. OnAir's own tokens are [`super::signed_url`].

use data_encoding::HEXLOWER;
use md5::{Digest, Md5};

use crate::constant_time_eq;

/// The query parameter carrying the signature.
pub const QUERY_PARAM: &str = "auth_key";
/// Alibaba's default validity period (1800 s), for callers without their own setting.
pub const DEFAULT_TTL_SECS: u64 = 1800;
/// Longest `auth_key` value accepted, checked before parsing. Timestamp, rand and uid at their
/// limits plus the hash and separators fit well within it.
pub const MAX_AUTH_KEY_LEN: usize = 256;
/// Longest request path accepted.
pub const MAX_URI_LEN: usize = 2048;
/// Longest `rand` field.
pub const MAX_RAND_LEN: usize = 64;
/// Longest `uid` field.
pub const MAX_UID_LEN: usize = 64;
/// Longest timestamp, in decimal digits (`u64::MAX` has 20).
pub const MAX_TIMESTAMP_DIGITS: usize = 20;

const MD5_HEX_LEN: usize = 32;

/// Why an `auth_key` was refused or could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlibabaAuthError {
    /// Not `{timestamp}-{rand}-{uid}-{md5hash}` within the limits, or a bad request path.
    #[error("malformed auth_key")]
    Malformed,
    #[error("auth_key expired")]
    Expired,
    /// The hash does not match under any of our keys.
    #[error("bad auth_key signature")]
    BadSignature,
    /// [`sign`] was given a field that would not survive verification (the reason names it).
    #[error("cannot sign: {0}")]
    InvalidInput(&'static str),
}

/// The fields of a verified `auth_key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeAGrant {
    pub timestamp: u64,
    pub rand: String,
    pub uid: String,
}

/// The `auth_key` value for `uri` (the request path, without query string), generated at
/// `timestamp` (unix seconds). `rand` and `uid` must be non-empty, without `-`, from
/// `[A-Za-z0-9._~]`; pass `"0"` when unused.
pub fn sign(
    uri: &str,
    timestamp: u64,
    rand: &str,
    uid: &str,
    key: &[u8],
) -> Result<String, AlibabaAuthError> {
    if !is_valid_uri(uri) {
        return Err(AlibabaAuthError::InvalidInput("uri"));
    }
    if !is_valid_field(rand, MAX_RAND_LEN) {
        return Err(AlibabaAuthError::InvalidInput("rand"));
    }
    if !is_valid_field(uid, MAX_UID_LEN) {
        return Err(AlibabaAuthError::InvalidInput("uid"));
    }
    let timestamp = timestamp.to_string();
    let hash = md5_hex(uri, &timestamp, rand, uid, key);
    Ok(format!("{timestamp}-{rand}-{uid}-{hash}"))
}

/// [`sign`] at `now` with a fresh random `rand` (128 random bits in hex, the size of the UUID
/// Alibaba suggests), so two URLs for the same path and second differ.
pub fn sign_for(uri: &str, now: u64, uid: &str, key: &[u8]) -> Result<String, AlibabaAuthError> {
    let mut rand_bytes = [0u8; 16];
    rand::fill(&mut rand_bytes[..]);
    sign(uri, now, &HEXLOWER.encode(&rand_bytes), uid, key)
}

/// Checks `auth_key` for a request of `uri` (the path as sent, without query string) at `now`
/// (unix seconds), with a validity period of `ttl` seconds after the signed timestamp.
///
/// `keys` are tried in turn (primary, then any others during a key rotation). The signature is
/// checked before the expiry, so [`AlibabaAuthError::Expired`] means an authentic URL.
pub fn verify(
    uri: &str,
    auth_key: &str,
    now: u64,
    ttl: u64,
    keys: &[&[u8]],
) -> Result<TypeAGrant, AlibabaAuthError> {
    if auth_key.len() > MAX_AUTH_KEY_LEN || !is_valid_uri(uri) {
        return Err(AlibabaAuthError::Malformed);
    }
    let mut fields = auth_key.split('-');
    let (Some(timestamp_text), Some(rand), Some(uid), Some(hash), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(AlibabaAuthError::Malformed);
    };
    let timestamp = parse_timestamp(timestamp_text).ok_or(AlibabaAuthError::Malformed)?;
    if !is_valid_field(rand, MAX_RAND_LEN)
        || !is_valid_field(uid, MAX_UID_LEN)
        || hash.len() != MD5_HEX_LEN
        || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(AlibabaAuthError::Malformed);
    }

    // Hash with the timestamp text as received: it is what the signer hashed.
    let mut authentic = false;
    for key in keys {
        let expected = md5_hex(uri, timestamp_text, rand, uid, key);
        authentic |= constant_time_eq(expected.as_bytes(), hash.as_bytes());
    }
    if !authentic {
        return Err(AlibabaAuthError::BadSignature);
    }
    if now > timestamp.saturating_add(ttl) {
        return Err(AlibabaAuthError::Expired);
    }
    Ok(TypeAGrant {
        timestamp,
        rand: rand.to_owned(),
        uid: uid.to_owned(),
    })
}

fn md5_hex(uri: &str, timestamp: &str, rand: &str, uid: &str, key: &[u8]) -> String {
    let digest = Md5::new()
        .chain_update(uri)
        .chain_update(b"-")
        .chain_update(timestamp)
        .chain_update(b"-")
        .chain_update(rand)
        .chain_update(b"-")
        .chain_update(uid)
        .chain_update(b"-")
        .chain_update(key)
        .finalize();
    HEXLOWER.encode(&digest)
}

/// Plain decimal digits only: `str::parse` would also take a leading `+`, which would give
/// one timestamp several spellings.
fn parse_timestamp(text: &str) -> Option<u64> {
    if text.is_empty()
        || text.len() > MAX_TIMESTAMP_DIGITS
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    text.parse().ok()
}

/// `rand` and `uid`: URL-safe without escaping, and without the `-` separator.
fn is_valid_field(field: &str, max: usize) -> bool {
    !field.is_empty()
        && field.len() <= max
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'~'))
}

/// An absolute path without query or fragment; anything else cannot be what the CDN hashes.
fn is_valid_uri(uri: &str) -> bool {
    uri.starts_with('/')
        && uri.len() <= MAX_URI_LEN
        && !uri
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    const KEY: &[u8] = b"aliyuncdnexp1234";
    const OTHER_KEY: &[u8] = b"anotherkey5678";

    #[test]
    fn alibaba_documented_example() {
        // Alibaba's documented example; the hash was computed independently with
        // python3 -c "import hashlib;print(hashlib.md5(
        //   b'/video/standard/1K.html-1444435200-0-0-aliyuncdnexp1234').hexdigest())"
        let auth_key = sign("/video/standard/1K.html", 1444435200, "0", "0", KEY).unwrap();
        assert_eq!(auth_key, "1444435200-0-0-80cd3862d699b7118eed99103f2a3a4f");
        let grant = verify(
            "/video/standard/1K.html",
            &auth_key,
            1444435200 + 1800,
            DEFAULT_TTL_SECS,
            &[KEY],
        )
        .unwrap();
        assert_eq!(
            grant,
            TypeAGrant {
                timestamp: 1444435200,
                rand: "0".to_owned(),
                uid: "0".to_owned(),
            }
        );
    }

    #[test]
    fn expiry_is_inclusive_and_future_timestamps_are_accepted() {
        let auth_key = sign("/live/ch/index.m3u8", 1000, "0", "0", KEY).unwrap();
        let check = |now| verify("/live/ch/index.m3u8", &auth_key, now, 60, &[KEY]);
        assert!(check(1000).is_ok());
        assert!(check(1060).is_ok());
        assert_eq!(check(1061), Err(AlibabaAuthError::Expired));
        // Signed "in the future" to extend validity: Alibaba accepts it, so do we.
        assert!(check(0).is_ok());
        // No overflow at the end of time.
        let late = sign("/x", u64::MAX, "0", "0", KEY).unwrap();
        assert!(verify("/x", &late, u64::MAX, u64::MAX, &[KEY]).is_ok());
    }

    #[test]
    fn signature_is_per_path_and_per_field() {
        let auth_key = sign("/live/ch/a.m4s", 1000, "abc", "42", KEY).unwrap();
        let bad = Err(AlibabaAuthError::BadSignature);
        assert!(verify("/live/ch/a.m4s", &auth_key, 1000, 60, &[KEY]).is_ok());
        assert_eq!(verify("/live/ch/b.m4s", &auth_key, 1000, 60, &[KEY]), bad);
        assert_eq!(
            verify("/live/ch/a.m4s", &auth_key, 1000, 60, &[OTHER_KEY]),
            bad
        );
        assert_eq!(verify("/live/ch/a.m4s", &auth_key, 1000, 60, &[]), bad);
        let hash = auth_key.rsplit('-').next().unwrap();
        for forged in [
            format!("1001-abc-42-{hash}"),
            format!("1000-abd-42-{hash}"),
            format!("1000-abc-43-{hash}"),
            // Same number, other spelling: the signer hashed "1000".
            format!("01000-abc-42-{hash}"),
        ] {
            assert_eq!(verify("/live/ch/a.m4s", &forged, 1000, 60, &[KEY]), bad);
        }
        // Every single hex digit change.
        for i in 0..MD5_HEX_LEN {
            for c in b"0123456789abcdef" {
                let mut h = hash.as_bytes().to_vec();
                if h[i] == *c {
                    continue;
                }
                h[i] = *c;
                let forged = format!("1000-abc-42-{}", String::from_utf8(h).unwrap());
                assert_eq!(verify("/live/ch/a.m4s", &forged, 1000, 60, &[KEY]), bad);
            }
        }
    }

    #[test]
    fn secondary_key_during_rotation() {
        let auth_key = sign("/live/ch/a.m4s", 1000, "0", "0", OTHER_KEY).unwrap();
        assert!(verify("/live/ch/a.m4s", &auth_key, 1000, 60, &[KEY, OTHER_KEY]).is_ok());
        assert!(verify("/live/ch/a.m4s", &auth_key, 1000, 60, &[OTHER_KEY, KEY]).is_ok());
    }

    #[test]
    fn sign_for_uses_fresh_rand() {
        let a = sign_for("/live/ch/a.m4s", 1000, "0", KEY).unwrap();
        let b = sign_for("/live/ch/a.m4s", 1000, "0", KEY).unwrap();
        assert_ne!(a, b);
        for auth_key in [a, b] {
            let grant = verify("/live/ch/a.m4s", &auth_key, 1000, 60, &[KEY]).unwrap();
            assert_eq!(grant.rand.len(), 32);
            assert!(!grant.rand.contains('-'));
        }
    }

    #[test]
    fn malformed() {
        let m = Err(AlibabaAuthError::Malformed);
        let good = sign("/a", 1000, "0", "0", KEY).unwrap();
        let hash = good.rsplit('-').next().unwrap().to_owned();
        for auth_key in [
            String::new(),
            "1000-0-0".to_owned(),
            format!("1000-0-0-{hash}-x"),
            format!("1000-0-0-{}", hash.to_uppercase()),
            format!("1000-0-0-{}", &hash[..31]),
            format!("+1000-0-0-{hash}"),
            format!("-0-0-{hash}"),
            format!("1000--0-{hash}"),
            format!("1000-0--{hash}"),
            format!("1000-0 -0-{hash}"),
            format!("1000-{}-0-{hash}", "r".repeat(MAX_RAND_LEN + 1)),
            format!("{}-0-0-{hash}", "9".repeat(MAX_TIMESTAMP_DIGITS + 1)),
            format!("99999999999999999999-0-0-{hash}"), // > u64::MAX
            "x".repeat(MAX_AUTH_KEY_LEN + 1),
        ] {
            assert_eq!(verify("/a", &auth_key, 1000, 60, &[KEY]), m, "{auth_key:?}");
        }
        for uri in ["", "a", "/a?b=c", "/a#f", "/a b"] {
            assert_eq!(verify(uri, &good, 1000, 60, &[KEY]), m, "{uri:?}");
        }
        let long_uri = format!("/{}", "a".repeat(MAX_URI_LEN));
        assert_eq!(verify(&long_uri, &good, 1000, 60, &[KEY]), m);
    }

    #[test]
    fn sign_refuses_unverifiable_fields() {
        let invalid = |r: Result<String, AlibabaAuthError>| {
            matches!(r, Err(AlibabaAuthError::InvalidInput(_)))
        };
        assert!(invalid(sign("/a", 1, "a-b", "0", KEY)));
        assert!(invalid(sign("/a", 1, "", "0", KEY)));
        assert!(invalid(sign("/a", 1, "0", "u-1", KEY)));
        assert!(invalid(sign(
            "/a",
            1,
            "0",
            &"u".repeat(MAX_UID_LEN + 1),
            KEY
        )));
        assert!(invalid(sign("a", 1, "0", "0", KEY)));
        assert!(invalid(sign("/a?x=1", 1, "0", "0", KEY)));
        // The longest fields still fit in MAX_AUTH_KEY_LEN.
        let longest = sign(
            "/a",
            u64::MAX,
            &"r".repeat(MAX_RAND_LEN),
            &"u".repeat(MAX_UID_LEN),
            KEY,
        )
        .unwrap();
        assert!(longest.len() <= MAX_AUTH_KEY_LEN);
        assert!(verify("/a", &longest, 0, 0, &[KEY]).is_ok());
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = StdRng::seed_from_u64(0xa11);
        let alphabet = b"0123456789abcdef-xyz_.~?# \x00\xff";
        for _ in 0..10_000 {
            let len = rng.random_range(0..MAX_AUTH_KEY_LEN + 16);
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = verify("/live/ch/a.m4s", &text, 1000, 60, &[KEY]);
            let _ = verify(
                &text,
                "1000-0-0-00000000000000000000000000000000",
                0,
                0,
                &[KEY],
            );
        }
    }
}
