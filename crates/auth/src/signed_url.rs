//! OnAir's own signed playback URLs.
//!
//! A token authorizes `GET`s of every path its *scope* covers, until an expiry, optionally
//! only from one client IP. The server hands a viewer a token once (e.g. with the player page)
//! and the player appends it to every playlist, segment and HTTP-FLV request of the channel, so
//! one token per channel and viewer is enough even though HLS fetches many URLs.
//!
//! Implements HMAC-SHA256 (RFC 2104 with FIPS 180-4 SHA-256) over a compact binary payload,
//! carried as unpadded base64url (RFC 4648 §5 alphabet, §3.2 no padding). Decoding is
//! canonical (non-zero trailing bits are refused), so every change to the token text changes
//! the decoded bytes or fails to decode.
//!
//! # Token format, version 1
//!
//! `token = base64url-nopad(payload || tag)` where `payload` is:
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 | version, [`TOKEN_VERSION`] |
//! | 1 | key id: a fingerprint of the signing key (see *Key rotation*) |
//! | 8 | expiry, unix seconds, big-endian; the token is valid while `now < expiry` |
//! | 1 + n | user id: length, then UTF-8 bytes; empty for anonymous viewers |
//! | 1 (+ 4 or 16) | client IP: 0 none, 4 IPv4 + 4 bytes, 6 IPv6 + 16 bytes |
//! | 2 + n | scope: big-endian length, then the scope bytes |
//!
//! and `tag = HMAC-SHA256(key, "onair signed-url v1\0" || payload)`, 32 bytes. The tag covers
//! every field, including the version and key id. The context string keeps these tags apart
//! from any other HMAC computed with the same key.
//!
//! # Scopes
//!
//! A scope is a path prefix. See [`covers`]: a scope ending in `/` covers every path below it
//! (`/live/ab/` covers `/live/ab/index.m3u8`, never `/live/abc/...`); any other scope covers
//! exactly one path. A channel's scope is [`channel_scope`], `/live/{channel}/`, which also
//! covers the channel's HTTP-FLV URL `/live/{channel}.flv`.
//!
//! # Key rotation
//!
//! [`SigningKeys`] holds a primary key, used for signing, and an optional secondary key that is
//! only accepted when verifying. To rotate: make the new key primary and the old one secondary
//! ([`SigningKeys::rotate`]); once every token signed with the old key has expired, drop it.
//!
//! The key id byte is a fingerprint of the key rather than its role ("1 = primary"): a token
//! signed before a rotation must still find its key after the key has become the secondary.
//! It only selects which key to try; authenticity rests on the tag alone.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{constant_time_eq, hmac_with_key};

/// The payload version this module writes and accepts.
pub const TOKEN_VERSION: u8 = 1;
/// Shortest accepted signing key: 256 bits, the strength of HMAC-SHA256 itself.
pub const MIN_KEY_LEN: usize = 32;
/// Longest user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 128;
/// Longest scope, in bytes.
pub const MAX_SCOPE_LEN: usize = 512;
/// Longest token text accepted by [`verify`], checked before decoding. The largest valid token
/// (longest user id and scope, IPv6) is 936 characters.
pub const MAX_TOKEN_LEN: usize = 1024;
/// Longest request path [`covers`] considers; longer paths are never covered.
pub const MAX_PATH_LEN: usize = 2048;
/// Where playback URLs live (see `http::hls` and `http::flv`).
pub const PLAYBACK_ROOT: &str = "/live/";

const TAG_LEN: usize = 32;
const MAC_CONTEXT: &[u8] = b"onair signed-url v1\0";
const KEY_ID_CONTEXT: &[u8] = b"onair signed-url key id\0";
const IP_NONE: u8 = 0;
const IP_V4: u8 = 4;
const IP_V6: u8 = 6;

/// Why a token was refused, or a key or grant was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignedUrlError {
    /// Too long, not base64url, or not a version-1 payload.
    #[error("malformed token")]
    Malformed,
    /// The tag does not match: tampered, or signed with a key we do not hold.
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token does not cover this path")]
    WrongScope,
    #[error("token is bound to another client IP")]
    WrongIp,
    #[error("signing key is shorter than {MIN_KEY_LEN} bytes")]
    WeakKey,
    /// A grant that cannot be signed (the reason names the field).
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
}

/// A key ready for use: its fingerprint and the HMAC state after absorbing the key, cloned
/// per token so the key schedule is computed once.
#[derive(Clone)]
struct Key {
    id: u8,
    mac: Hmac<Sha256>,
}

impl Key {
    fn new(bytes: &[u8]) -> Result<Self, SignedUrlError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(SignedUrlError::WeakKey);
        }
        let fingerprint = Sha256::new()
            .chain_update(KEY_ID_CONTEXT)
            .chain_update(bytes)
            .finalize();
        Ok(Self {
            id: fingerprint.first().copied().unwrap_or(0),
            mac: hmac_with_key::<Sha256>(bytes),
        })
    }

    fn tag(&self, payload: &[u8]) -> [u8; TAG_LEN] {
        self.mac
            .clone()
            .chain_update(MAC_CONTEXT)
            .chain_update(payload)
            .finalize()
            .into_bytes()
            .into()
    }
}

/// The keys tokens are signed and verified with.
#[derive(Clone)]
pub struct SigningKeys {
    primary: Key,
    secondary: Option<Key>,
}

impl SigningKeys {
    /// Keys must be at least [`MIN_KEY_LEN`] bytes; generate them randomly, not from passwords.
    pub fn new(primary: &[u8], secondary: Option<&[u8]>) -> Result<Self, SignedUrlError> {
        Ok(Self {
            primary: Key::new(primary)?,
            secondary: secondary.map(Key::new).transpose()?,
        })
    }

    /// The keys after a rotation: `new_primary` signs from now on, the current primary becomes
    /// the secondary (the current secondary is dropped).
    pub fn rotate(&self, new_primary: &[u8]) -> Result<Self, SignedUrlError> {
        Ok(Self {
            primary: Key::new(new_primary)?,
            secondary: Some(self.primary.clone()),
        })
    }

    fn candidates(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.primary).chain(self.secondary.as_ref())
    }
}

impl fmt::Debug for SigningKeys {
    // Never print key material, not even the HMAC state derived from it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("primary_id", &self.primary.id)
            .field("secondary_id", &self.secondary.as_ref().map(|k| k.id))
            .finish()
    }
}

/// What a token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Path prefix the token covers; see [`covers`].
    pub scope: String,
    /// Unix seconds; the token is valid while `now < expires`.
    pub expires: u64,
    /// The viewer's user id, empty for anonymous viewers.
    pub user_id: String,
    /// When set, only requests from this address are accepted. IPv4-mapped IPv6 addresses are
    /// treated as the IPv4 address (dual-stack sockets report IPv4 peers that way).
    pub client_ip: Option<IpAddr>,
}

impl Grant {
    /// Checks the limits a token can carry.
    pub fn validate(&self) -> Result<(), SignedUrlError> {
        if self.user_id.len() > MAX_USER_ID_LEN {
            return Err(SignedUrlError::InvalidGrant("user id too long"));
        }
        // Control characters would end up in logs and headers.
        if self.user_id.chars().any(char::is_control) {
            return Err(SignedUrlError::InvalidGrant("control character in user id"));
        }
        if self.scope.len() > MAX_SCOPE_LEN {
            return Err(SignedUrlError::InvalidGrant("scope too long"));
        }
        if !is_valid_scope(&self.scope) {
            return Err(SignedUrlError::InvalidGrant(
                "scope is not a clean absolute path",
            ));
        }
        Ok(())
    }
}

/// The scope of everything a viewer needs to play `channel`: its HLS directory and, through
/// [`covers`]' HTTP-FLV rule, `/live/{channel}.flv`. `None` for an invalid channel name.
pub fn channel_scope(channel: &str) -> Option<String> {
    crate::is_valid_channel_name(channel).then(|| format!("{PLAYBACK_ROOT}{channel}/"))
}

/// True when `scope` grants a `GET` of `path` (the request path, without the query string).
///
/// - A scope ending in `/` covers every path that starts with it, and also the path formed by
///   replacing its final `/` with `.flv`: HTTP-FLV serves a channel at `/live/{ch}.flv`, next
///   to its HLS directory `/live/{ch}/`, and one channel token must cover both.
/// - Any other scope covers exactly that path. Because a directory scope must end in `/`,
///   `/live/ab/` cannot cover `/live/abc/...`, and `/live/ab` covers nothing but `/live/ab`.
///
/// Comparison is byte-wise, so paths that could resolve elsewhere are never covered: paths
/// with `.` or `..` segments, empty segments, backslashes, control characters, `?` or `#`, or
/// percent-encoded `.`, `/` or `\` (e.g. `/live/ab/../abc/x` starts with `/live/ab/`).
pub fn covers(scope: &str, path: &str) -> bool {
    if !is_valid_scope(scope) || !is_clean_path(path) {
        return false;
    }
    match scope.strip_suffix('/') {
        Some(dir) => {
            path.starts_with(scope) || (!dir.is_empty() && path.strip_prefix(dir) == Some(".flv"))
        }
        None => scope == path,
    }
}

/// Scopes are what we sign, so they are held to a strict alphabet: an absolute path of
/// `[A-Za-z0-9._~-]` segments without dot or empty segments (a trailing `/` is allowed).
fn is_valid_scope(scope: &str) -> bool {
    scope.len() <= MAX_SCOPE_LEN
        && scope.starts_with('/')
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'~' | b'-'))
        && has_clean_segments(scope)
}

/// Request paths come from the client; refuse anything a server or proxy might normalize into
/// a different path than the bytes say.
fn is_clean_path(path: &str) -> bool {
    path.len() <= MAX_PATH_LEN
        && path.starts_with('/')
        && !path
            .bytes()
            .any(|b| b.is_ascii_control() || matches!(b, b'\\' | b'?' | b'#'))
        && !path.as_bytes().windows(3).any(|w| {
            matches!(
                w,
                [b'%', b'2', b'e' | b'E' | b'f' | b'F'] | [b'%', b'5', b'c' | b'C']
            )
        })
        && has_clean_segments(path)
}

/// No `.` or `..` segments, and no empty segment except after a trailing `/`. `path` starts
/// with `/`, so the first piece of the split is the empty string before it.
fn has_clean_segments(path: &str) -> bool {
    let mut segments = path.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// Signs `grant` with the primary key. Returns the token, to be sent as a query parameter (it
/// is URL-safe as is).
pub fn sign(keys: &SigningKeys, grant: &Grant) -> Result<String, SignedUrlError> {
    grant.validate()?;
    let key = &keys.primary;
    let mut token = encode_payload(key.id, grant)?;
    let tag = key.tag(&token);
    token.extend_from_slice(&tag);
    Ok(BASE64URL_NOPAD.encode(&token))
}

/// Checks `token` for a `GET` of `path` (without the query string) at `now_unix` from
/// `client_ip`, and returns what it grants.
///
/// Checks run in this order, and the first failure is returned: size and encoding
/// ([`SignedUrlError::Malformed`]), tag ([`SignedUrlError::BadSignature`]), expiry, scope, IP.
/// Nothing but the version and key id is interpreted before the tag is verified.
pub fn verify(
    keys: &SigningKeys,
    token: &str,
    path: &str,
    now_unix: u64,
    client_ip: IpAddr,
) -> Result<Grant, SignedUrlError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(SignedUrlError::Malformed);
    }
    let raw = BASE64URL_NOPAD
        .decode(token.as_bytes())
        .map_err(|_| SignedUrlError::Malformed)?;
    let split = raw
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(SignedUrlError::Malformed)?;
    let (payload, tag) = raw
        .split_at_checked(split)
        .ok_or(SignedUrlError::Malformed)?;
    let (&version, rest) = payload.split_first().ok_or(SignedUrlError::Malformed)?;
    if version != TOKEN_VERSION {
        return Err(SignedUrlError::Malformed);
    }
    let &key_id = rest.first().ok_or(SignedUrlError::Malformed)?;

    // Try every key with this id (two keys can share a fingerprint byte), without stopping at
    // the first match, so timing does not tell which key signed.
    let mut authentic = false;
    for key in keys.candidates().filter(|k| k.id == key_id) {
        authentic |= constant_time_eq(&key.tag(payload), tag);
    }
    if !authentic {
        return Err(SignedUrlError::BadSignature);
    }

    let grant = decode_payload(payload)?;
    if now_unix >= grant.expires {
        return Err(SignedUrlError::Expired);
    }
    if !covers(&grant.scope, path) {
        return Err(SignedUrlError::WrongScope);
    }
    if let Some(bound) = grant.client_ip
        && bound.to_canonical() != client_ip.to_canonical()
    {
        return Err(SignedUrlError::WrongIp);
    }
    Ok(grant)
}

fn encode_payload(key_id: u8, grant: &Grant) -> Result<Vec<u8>, SignedUrlError> {
    let user_len = u8::try_from(grant.user_id.len())
        .map_err(|_| SignedUrlError::InvalidGrant("user id too long"))?;
    let scope_len = u16::try_from(grant.scope.len())
        .map_err(|_| SignedUrlError::InvalidGrant("scope too long"))?;
    let mut out = Vec::with_capacity(64 + grant.user_id.len() + grant.scope.len());
    out.push(TOKEN_VERSION);
    out.push(key_id);
    out.extend_from_slice(&grant.expires.to_be_bytes());
    out.push(user_len);
    out.extend_from_slice(grant.user_id.as_bytes());
    match grant.client_ip.map(|ip| ip.to_canonical()) {
        None => out.push(IP_NONE),
        Some(IpAddr::V4(v4)) => {
            out.push(IP_V4);
            out.extend_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            out.push(IP_V6);
            out.extend_from_slice(&v6.octets());
        }
    }
    out.extend_from_slice(&scope_len.to_be_bytes());
    out.extend_from_slice(grant.scope.as_bytes());
    Ok(out)
}

/// Parses an authenticated payload. The tag has been checked, so failures here mean a token
/// from a buggy or future signer; still, every length is bounded and checked.
fn decode_payload(payload: &[u8]) -> Result<Grant, SignedUrlError> {
    let mut r = Reader(payload);
    let _version = r.u8()?;
    let _key_id = r.u8()?;
    let expires = u64::from_be_bytes(r.array()?);
    let user_len = usize::from(r.u8()?);
    if user_len > MAX_USER_ID_LEN {
        return Err(SignedUrlError::Malformed);
    }
    let user_id = r.string(user_len)?;
    let client_ip = match r.u8()? {
        IP_NONE => None,
        IP_V4 => Some(IpAddr::V4(Ipv4Addr::from(r.array::<4>()?))),
        IP_V6 => Some(IpAddr::V6(Ipv6Addr::from(r.array::<16>()?))),
        _ => return Err(SignedUrlError::Malformed),
    };
    let scope_len = usize::from(u16::from_be_bytes(r.array()?));
    if scope_len > MAX_SCOPE_LEN {
        return Err(SignedUrlError::Malformed);
    }
    let scope = r.string(scope_len)?;
    if !r.0.is_empty() {
        return Err(SignedUrlError::Malformed);
    }
    let grant = Grant {
        scope,
        expires,
        user_id,
        client_ip,
    };
    grant.validate().map_err(|_| SignedUrlError::Malformed)?;
    Ok(grant)
}

/// A cursor over untrusted bytes whose reads fail instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SignedUrlError> {
        let (head, tail) = self
            .0
            .split_at_checked(n)
            .ok_or(SignedUrlError::Malformed)?;
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, SignedUrlError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SignedUrlError> {
        self.take(N)?
            .try_into()
            .map_err(|_| SignedUrlError::Malformed)
    }

    fn string(&mut self, n: usize) -> Result<String, SignedUrlError> {
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| SignedUrlError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    const KEY_A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const KEY_B: &[u8] = b"fedcba9876543210fedcba9876543210";
    const KEY_C: &[u8] = b"a completely different 32+ byte key";
    const NOW: u64 = 1_700_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn keys() -> SigningKeys {
        SigningKeys::new(KEY_A, None).unwrap()
    }

    fn grant(scope: &str) -> Grant {
        Grant {
            scope: scope.to_owned(),
            expires: NOW + 3600,
            user_id: "01HZY3K4W6ZQ".to_owned(),
            client_ip: None,
        }
    }

    #[test]
    fn round_trip() {
        let keys = keys();
        for g in [
            grant("/live/mychannel/"),
            Grant {
                user_id: String::new(),
                ..grant("/live/mychannel/")
            },
            Grant {
                client_ip: Some(ip("203.0.113.7")),
                ..grant("/live/mychannel/")
            },
            Grant {
                client_ip: Some(ip("2001:db8::1")),
                ..grant("/live/mychannel/index.m3u8")
            },
        ] {
            let token = sign(&keys, &g).unwrap();
            assert!(token.len() <= MAX_TOKEN_LEN);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            let path = if g.scope.ends_with('/') {
                "/live/mychannel/index.m3u8"
            } else {
                g.scope.as_str()
            };
            let peer = g.client_ip.unwrap_or(ip("198.51.100.1"));
            assert_eq!(verify(&keys, &token, path, NOW, peer), Ok(g));
        }
    }

    #[test]
    fn every_single_character_change_fails() {
        let keys = keys();
        let g = Grant {
            client_ip: Some(ip("203.0.113.7")),
            ..grant("/live/mychannel/")
        };
        let token = sign(&keys, &g).unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let peer = ip("203.0.113.7");
        for i in 0..token.len() {
            for &c in alphabet.iter() {
                let mut bytes = token.clone().into_bytes();
                if bytes[i] == c {
                    continue;
                }
                bytes[i] = c;
                let tampered = String::from_utf8(bytes).unwrap();
                let result = verify(&keys, &tampered, "/live/mychannel/a.m4s", NOW, peer);
                assert!(
                    matches!(
                        result,
                        Err(SignedUrlError::Malformed | SignedUrlError::BadSignature)
                    ),
                    "position {i} -> {c}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn every_bit_flip_of_the_decoded_token_fails() {
        let keys = keys();
        let token = sign(&keys, &grant("/live/mychannel/")).unwrap();
        let raw = BASE64URL_NOPAD.decode(token.as_bytes()).unwrap();
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut flipped = raw.clone();
                flipped[i] ^= 1 << bit;
                let tampered = BASE64URL_NOPAD.encode(&flipped);
                let result = verify(&keys, &tampered, "/live/mychannel/x", NOW, ip("::1"));
                assert!(
                    matches!(
                        result,
                        Err(SignedUrlError::Malformed | SignedUrlError::BadSignature)
                    ),
                    "byte {i} bit {bit}: {result:?}"
                );
            }
        }
        // Truncations and extensions fail too.
        for len in 0..raw.len() {
            let cut = BASE64URL_NOPAD.encode(&raw[..len]);
            assert!(verify(&keys, &cut, "/live/mychannel/x", NOW, ip("::1")).is_err());
        }
        let longer = format!("{token}AA");
        assert!(verify(&keys, &longer, "/live/mychannel/x", NOW, ip("::1")).is_err());
    }

    #[test]
    fn expiry_is_exclusive() {
        let keys = keys();
        let g = grant("/live/mychannel/");
        let token = sign(&keys, &g).unwrap();
        let path = "/live/mychannel/index.m3u8";
        let peer = ip("198.51.100.1");
        assert!(verify(&keys, &token, path, g.expires - 1, peer).is_ok());
        assert_eq!(
            verify(&keys, &token, path, g.expires, peer),
            Err(SignedUrlError::Expired)
        );
        assert_eq!(
            verify(&keys, &token, path, u64::MAX, peer),
            Err(SignedUrlError::Expired)
        );
    }

    #[test]
    fn wrong_scope() {
        let keys = keys();
        let peer = ip("198.51.100.1");
        let check = |scope: &str, path: &str| {
            let token = sign(&keys, &grant(scope)).unwrap();
            verify(&keys, &token, path, NOW, peer)
        };
        let wrong = Err(SignedUrlError::WrongScope);
        assert!(check("/live/mychannel/", "/live/mychannel/seg/1.m4s").is_ok());
        assert_eq!(check("/live/mychannel/", "/live/other/index.m3u8"), wrong);
        assert_eq!(check("/live/mychannel/", "/live/mychannel"), wrong);
        assert_eq!(check("/live/mychannel/", "/live/"), wrong);
        // A scope without a trailing slash is one exact path, not a prefix.
        assert_eq!(check("/live/my", "/live/mychannel/index.m3u8"), wrong);
        assert_eq!(check("/live/my", "/live/my/index.m3u8"), wrong);
        assert!(check("/live/my", "/live/my").is_ok());
        assert_eq!(check("/live/ab/", "/live/abc/index.m3u8"), wrong);
        // Paths that could resolve outside the scope.
        for path in [
            "/live/ab/../abc/index.m3u8",
            "/live/ab/./x",
            "/live/ab//x",
            "/live/ab/%2e%2e/abc/x",
            "/live/ab/%2E%2E/abc/x",
            "/live/ab/..%2fabc",
            "/live/ab/..%5Cabc",
            "/live/ab/..\\abc",
            "/live/ab/x?y",
            "/live/ab/x\0",
            "live/ab/x",
        ] {
            assert_eq!(check("/live/ab/", path), wrong, "{path}");
        }
        let long = format!("/live/ab/{}", "a".repeat(MAX_PATH_LEN));
        assert_eq!(check("/live/ab/", &long), wrong);
    }

    #[test]
    fn channel_scope_covers_hls_and_flv() {
        let scope = channel_scope("mychannel").unwrap();
        assert_eq!(scope, "/live/mychannel/");
        assert!(covers(&scope, "/live/mychannel/index.m3u8"));
        assert!(covers(&scope, "/live/mychannel/720p/seg-12.m4s"));
        assert!(covers(&scope, "/live/mychannel.flv"));
        assert!(!covers(&scope, "/live/mychannelx.flv"));
        assert!(!covers(&scope, "/live/mychanne.flv"));
        assert!(!covers(&scope, "/live/mychannel.flv/x"));
        assert!(!covers(&scope, "/live/mychannel.flvx"));
        assert!(!covers(&scope, "/live/other.flv"));
        assert!(covers("/", "/live/x/y"));
        assert!(covers("/", "/live/x.flv"));
        assert_eq!(channel_scope("bad/name"), None);
        assert_eq!(channel_scope(""), None);
        // Through a token.
        let keys = keys();
        let token = sign(&keys, &grant(&scope)).unwrap();
        let peer = ip("198.51.100.1");
        assert!(verify(&keys, &token, "/live/mychannel.flv", NOW, peer).is_ok());
    }

    #[test]
    fn wrong_ip() {
        let keys = keys();
        let path = "/live/mychannel/index.m3u8";
        let g = Grant {
            client_ip: Some(ip("203.0.113.7")),
            ..grant("/live/mychannel/")
        };
        let token = sign(&keys, &g).unwrap();
        assert!(verify(&keys, &token, path, NOW, ip("203.0.113.7")).is_ok());
        // Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6.
        assert!(verify(&keys, &token, path, NOW, ip("::ffff:203.0.113.7")).is_ok());
        assert_eq!(
            verify(&keys, &token, path, NOW, ip("203.0.113.8")),
            Err(SignedUrlError::WrongIp)
        );
        assert_eq!(
            verify(&keys, &token, path, NOW, ip("2001:db8::1")),
            Err(SignedUrlError::WrongIp)
        );
        let v6 = Grant {
            client_ip: Some(ip("2001:db8::1")),
            ..grant("/live/mychannel/")
        };
        let token = sign(&keys, &v6).unwrap();
        assert!(verify(&keys, &token, path, NOW, ip("2001:db8::1")).is_ok());
        assert_eq!(
            verify(&keys, &token, path, NOW, ip("2001:db8::2")),
            Err(SignedUrlError::WrongIp)
        );
    }

    #[test]
    fn key_rotation() {
        let path = "/live/mychannel/index.m3u8";
        let peer = ip("198.51.100.1");
        let old = SigningKeys::new(KEY_A, None).unwrap();
        let old_token = sign(&old, &grant("/live/mychannel/")).unwrap();

        let rotated = old.rotate(KEY_B).unwrap();
        let new_token = sign(&rotated, &grant("/live/mychannel/")).unwrap();
        assert_ne!(old_token, new_token);
        assert!(verify(&rotated, &old_token, path, NOW, peer).is_ok());
        assert!(verify(&rotated, &new_token, path, NOW, peer).is_ok());
        // The old keys do not know the new key.
        assert_eq!(
            verify(&old, &new_token, path, NOW, peer),
            Err(SignedUrlError::BadSignature)
        );
        // Once the old key is retired, its tokens stop working.
        let retired = SigningKeys::new(KEY_B, None).unwrap();
        assert_eq!(
            verify(&retired, &old_token, path, NOW, peer),
            Err(SignedUrlError::BadSignature)
        );
        // Same via new() with an explicit secondary.
        let explicit = SigningKeys::new(KEY_B, Some(KEY_A)).unwrap();
        assert!(verify(&explicit, &old_token, path, NOW, peer).is_ok());
        // An unknown key.
        let unknown = SigningKeys::new(KEY_C, None).unwrap();
        let forged = sign(&unknown, &grant("/live/mychannel/")).unwrap();
        assert_eq!(
            verify(&explicit, &forged, path, NOW, peer),
            Err(SignedUrlError::BadSignature)
        );
    }

    #[test]
    fn weak_keys_are_refused() {
        assert_eq!(
            SigningKeys::new(&KEY_A[..31], None).unwrap_err(),
            SignedUrlError::WeakKey
        );
        assert_eq!(
            SigningKeys::new(KEY_A, Some(b"short")).unwrap_err(),
            SignedUrlError::WeakKey
        );
        assert_eq!(keys().rotate(b"").unwrap_err(), SignedUrlError::WeakKey);
        assert!(!format!("{:?}", keys()).contains("0123"));
    }

    #[test]
    fn size_limits() {
        let keys = keys();
        let peer = ip("2001:db8::1");
        // The largest grant fits within MAX_TOKEN_LEN and verifies.
        let scope = format!("/{}/", "s".repeat(MAX_SCOPE_LEN - 2));
        let largest = Grant {
            scope: scope.clone(),
            expires: u64::MAX,
            user_id: "u".repeat(MAX_USER_ID_LEN),
            client_ip: Some(peer),
        };
        let token = sign(&keys, &largest).unwrap();
        assert!(token.len() <= MAX_TOKEN_LEN, "{}", token.len());
        let path = format!("{scope}x");
        assert_eq!(verify(&keys, &token, &path, NOW, peer), Ok(largest.clone()));

        let too_long_user = Grant {
            user_id: "u".repeat(MAX_USER_ID_LEN + 1),
            ..largest.clone()
        };
        assert!(matches!(
            sign(&keys, &too_long_user),
            Err(SignedUrlError::InvalidGrant(_))
        ));
        let too_long_scope = Grant {
            scope: format!("/{}/", "s".repeat(MAX_SCOPE_LEN - 1)),
            ..largest
        };
        assert!(matches!(
            sign(&keys, &too_long_scope),
            Err(SignedUrlError::InvalidGrant(_))
        ));
        for bad_scope in [
            "",
            "live/x/",
            "/live/../x/",
            "/live//x/",
            "/live/x?/",
            "/live/é/",
        ] {
            assert!(
                matches!(
                    sign(&keys, &grant(bad_scope)),
                    Err(SignedUrlError::InvalidGrant(_))
                ),
                "{bad_scope:?}"
            );
        }
        let control = Grant {
            user_id: "a\nb".to_owned(),
            ..grant("/live/x/")
        };
        assert!(sign(&keys, &control).is_err());

        let oversized = "A".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            verify(&keys, &oversized, "/live/x/", NOW, peer),
            Err(SignedUrlError::Malformed)
        );
        assert_eq!(
            verify(&keys, "", "/live/x/", NOW, peer),
            Err(SignedUrlError::Malformed)
        );
    }

    #[test]
    fn random_input_never_panics() {
        let keys = keys();
        let valid = sign(
            &keys,
            &Grant {
                client_ip: Some(ip("203.0.113.7")),
                ..grant("/live/mychannel/")
            },
        )
        .unwrap();
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=/+%. ";
        let peer = ip("203.0.113.7");
        for _ in 0..10_000 {
            // Random text, mostly from the token alphabet.
            // Mostly token-sized, sometimes around and beyond the limit.
            let len = if rng.random_range(0..10) == 0 {
                rng.random_range(0..MAX_TOKEN_LEN + 64)
            } else {
                rng.random_range(0..200)
            };
            let text: String = (0..len)
                .map(|_| {
                    if rng.random_range(0..20) == 0 {
                        char::from(rng.random::<u8>() & 0x7f)
                    } else {
                        char::from(alphabet[rng.random_range(0..alphabet.len())])
                    }
                })
                .collect();
            let _ = verify(&keys, &text, "/live/mychannel/x", NOW, peer);
            let _ = covers(&text, "/live/mychannel/x");
            let _ = covers("/live/mychannel/", &text);

            // Random bytes straight into the payload parser, which a forged tag never reaches.
            let raw: Vec<u8> = (0..rng.random_range(0..200))
                .map(|_| rng.random())
                .collect();
            let _ = decode_payload(&raw);

            // A valid token with a few random edits.
            let mut bytes = valid.clone().into_bytes();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = alphabet[rng.random_range(0..64)];
            }
            let edited = String::from_utf8(bytes).unwrap();
            let result = verify(&keys, &edited, "/live/mychannel/x", NOW, peer);
            assert!(edited == valid || result.is_err());
        }
    }

    #[test]
    fn payload_parser_rejects_well_tagged_nonsense() {
        // Payloads that a (hypothetically buggy) signer tagged correctly still get parsed
        // strictly.
        let g = grant("/live/mychannel/");
        let good = encode_payload(7, &g).unwrap();
        assert_eq!(decode_payload(&good), Ok(g));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode_payload(&trailing), Err(SignedUrlError::Malformed));
        let mut bad_ip = good.clone();
        bad_ip[11 + 12] = 5; // IP kind byte after the 12-byte user id
        assert_eq!(decode_payload(&bad_ip), Err(SignedUrlError::Malformed));
        for len in 0..good.len() {
            assert_eq!(decode_payload(&good[..len]), Err(SignedUrlError::Malformed));
        }
    }
}
