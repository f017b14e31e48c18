//! The RTMP handshake (Adobe RTMP specification 1.0, §5.2), server and client side.
//!
//! Besides the simple handshake of the specification, the server speaks the "digest" handshake
//! of Flash Player 9+ that librtmp (OBS) and ffmpeg send: C1 carries an HMAC-SHA256 digest keyed
//! with the Flash Player key at one of two offset schemes; S1 answers with a digest keyed with
//! the Flash Media Server key, and S2 is signed with a key derived from the client's digest.
//! librtmp verifies both, so a server that only echoes is refused by it.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Size of C1/C2/S1/S2.
pub const HANDSHAKE_SIZE: usize = 1536;
/// RTMP version in C0/S0 (3 = plain RTMP; 6 would be RTMPE, which we do not speak).
pub const RTMP_VERSION: u8 = 3;

const DIGEST_LEN: usize = 32;
/// "Genuine Adobe Flash Player 001" followed by 32 fixed bytes; C1 digests use the first 30.
const FP_KEY: [u8; 62] = *b"Genuine Adobe Flash Player 001\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// "Genuine Adobe Flash Media Server 001" followed by the same 32 bytes; S1 digests use the
/// first 36, the S2 key derivation all 68.
const FMS_KEY: [u8; 68] = *b"Genuine Adobe Flash Media Server 001\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// Version we announce in S1 (must be non-zero for digest clients).
const SERVER_VERSION: [u8; 4] = [0x0D, 0x0E, 0x0A, 0x0D];

/// Errors of the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("unsupported RTMP version {0} in C0 (only 3 is spoken; 6 is RTMPE)")]
    UnsupportedVersion(u8),
}

/// Which handshake the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeMode {
    /// Plain handshake: S2 echoes C1.
    Simple,
    /// Flash Player 9 digest handshake; `base` is the offset scheme (8 or 772).
    Digest { base: usize },
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Offset of the 32-byte digest in a 1536-byte C1/S1 for scheme `base` (8 or 772).
pub fn digest_offset(block: &[u8], base: usize) -> usize {
    let sum: usize = block[base..base + 4].iter().map(|&b| b as usize).sum();
    sum % 728 + base + 4
}

/// The digest of `block` computed as if its digest field at `offset` were absent.
fn block_digest(block: &[u8], offset: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac(key, &[&block[..offset], &block[offset + DIGEST_LEN..]])
}

/// Finds a valid client digest in C1; returns the scheme and the digest.
fn find_client_digest(c1: &[u8]) -> Option<(usize, [u8; DIGEST_LEN])> {
    for base in [772, 8] {
        let off = digest_offset(c1, base);
        let expect = block_digest(c1, off, &FP_KEY[..30]);
        if c1[off..off + DIGEST_LEN] == expect {
            return Some((base, expect));
        }
    }
    None
}

fn random_block() -> BytesMut {
    let mut b = BytesMut::zeroed(HANDSHAKE_SIZE);
    // Randomness only makes the handshake look like everyone else's; zeros would also work.
    let _ = getrandom::fill(&mut b[8..]);
    b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    WaitC0C1,
    WaitC2,
    Done,
}

/// Server side of the handshake.
#[derive(Debug)]
pub struct ServerHandshake {
    state: ServerState,
    mode: HandshakeMode,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self {
            state: ServerState::WaitC0C1,
            mode: HandshakeMode::Simple,
        }
    }
}

impl ServerHandshake {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_done(&self) -> bool {
        self.state == ServerState::Done
    }

    /// The mode chosen after C1 arrived.
    pub fn mode(&self) -> HandshakeMode {
        self.mode
    }

    /// Consumes handshake bytes from `input`; pushes S0+S1+S2 to `out` once C0+C1 are in.
    /// Returns true once C2 has been consumed (the rest of `input` is chunk stream).
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        out: &mut Vec<Bytes>,
    ) -> Result<bool, HandshakeError> {
        if self.state == ServerState::WaitC0C1 {
            if input.is_empty() {
                return Ok(false);
            }
            if input[0] != RTMP_VERSION {
                return Err(HandshakeError::UnsupportedVersion(input[0]));
            }
            if input.len() < 1 + HANDSHAKE_SIZE {
                return Ok(false);
            }
            input.advance(1);
            let c1 = input.split_to(HANDSHAKE_SIZE);
            out.push(self.respond(&c1));
            self.state = ServerState::WaitC2;
        }
        if self.state == ServerState::WaitC2 {
            if input.len() < HANDSHAKE_SIZE {
                return Ok(false);
            }
            // C2 content is not checked: clients differ in what they echo, and nothing secret
            // depends on it.
            input.advance(HANDSHAKE_SIZE);
            self.state = ServerState::Done;
        }
        Ok(self.state == ServerState::Done)
    }

    fn respond(&mut self, c1: &[u8]) -> Bytes {
        let mut reply = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
        reply.put_u8(RTMP_VERSION);
        let client_version = &c1[4..8];
        let digest = if client_version != [0, 0, 0, 0] {
            find_client_digest(c1)
        } else {
            None
        };
        match digest {
            None => {
                self.mode = HandshakeMode::Simple;
                let mut s1 = random_block();
                s1[..8].fill(0);
                reply.put_slice(&s1);
                reply.put_slice(c1);
            }
            Some((base, client_digest)) => {
                self.mode = HandshakeMode::Digest { base };
                let mut s1 = random_block();
                s1[..4].fill(0);
                s1[4..8].copy_from_slice(&SERVER_VERSION);
                let off = digest_offset(&s1, base);
                let d = block_digest(&s1, off, &FMS_KEY[..36]);
                s1[off..off + DIGEST_LEN].copy_from_slice(&d);
                reply.put_slice(&s1);
                let mut s2 = random_block();
                let key = hmac(&FMS_KEY, &[&client_digest]);
                let sig = hmac(&key, &[&s2[..HANDSHAKE_SIZE - DIGEST_LEN]]);
                s2[HANDSHAKE_SIZE - DIGEST_LEN..].copy_from_slice(&sig);
                reply.put_slice(&s2);
            }
        }
        reply.freeze()
    }
}

/// Client side of the (simple) handshake, for our own publisher client.
#[derive(Debug, Default)]
pub struct ClientHandshake {
    sent: bool,
    done: bool,
}

impl ClientHandshake {
    /// C0+C1.
    pub fn start(&mut self) -> Bytes {
        self.sent = true;
        let mut b = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        b.put_u8(RTMP_VERSION);
        let mut c1 = random_block();
        c1[..8].fill(0);
        b.put_slice(&c1);
        b.freeze()
    }

    /// Consumes S0+S1+S2 and answers C2. Returns true when done.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        out: &mut Vec<Bytes>,
    ) -> Result<bool, HandshakeError> {
        if self.done {
            return Ok(true);
        }
        if input.is_empty() {
            return Ok(false);
        }
        if input[0] != RTMP_VERSION {
            return Err(HandshakeError::UnsupportedVersion(input[0]));
        }
        if input.len() < 1 + 2 * HANDSHAKE_SIZE {
            return Ok(false);
        }
        input.advance(1);
        let s1 = input.split_to(HANDSHAKE_SIZE).freeze();
        input.advance(HANDSHAKE_SIZE);
        out.push(s1);
        self.done = true;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a C1 the way librtmp/ffmpeg do for the FP9 handshake.
    fn digest_c1(base: usize) -> (BytesMut, [u8; 32]) {
        let mut c1 = random_block();
        c1[..4].fill(0);
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        let off = digest_offset(&c1, base);
        let d = block_digest(&c1, off, &FP_KEY[..30]);
        c1[off..off + 32].copy_from_slice(&d);
        (c1, d)
    }

    #[test]
    fn digest_handshake_answers_what_librtmp_verifies() {
        for base in [8, 772] {
            let (c1, client_digest) = digest_c1(base);
            let mut hs = ServerHandshake::new();
            let mut input = BytesMut::new();
            input.put_u8(3);
            input.put_slice(&c1);
            let mut out = vec![];
            assert!(!hs.process(&mut input, &mut out).unwrap());
            assert_eq!(hs.mode(), HandshakeMode::Digest { base });
            let reply = &out[0];
            let s1 = &reply[1..1 + HANDSHAKE_SIZE];
            let s2 = &reply[1 + HANDSHAKE_SIZE..];
            // librtmp: VerifyDigest(serversig, GenuineFMSKey, 36) at the client's scheme.
            let off = digest_offset(s1, base);
            assert_eq!(s1[off..off + 32], block_digest(s1, off, &FMS_KEY[..36]));
            // librtmp: signature over S2 with HMAC(GenuineFMSKey(68), client digest).
            let key = hmac(&FMS_KEY, &[&client_digest]);
            assert_eq!(
                s2[HANDSHAKE_SIZE - 32..],
                hmac(&key, &[&s2[..HANDSHAKE_SIZE - 32]])
            );
            input.put_slice(&[0u8; HANDSHAKE_SIZE]);
            assert!(hs.process(&mut input, &mut out).unwrap());
        }
    }

    #[test]
    fn simple_handshake_echoes_c1_and_accepts_split_input() {
        let mut c1 = vec![0u8; HANDSHAKE_SIZE];
        c1[100] = 7;
        let mut all = vec![3u8];
        all.extend_from_slice(&c1);
        all.extend_from_slice(&[1u8; HANDSHAKE_SIZE]);
        all.extend_from_slice(b"rest");
        let mut hs = ServerHandshake::new();
        let mut input = BytesMut::new();
        let mut out = vec![];
        let mut done = false;
        for b in all.chunks(100) {
            input.put_slice(b);
            done = hs.process(&mut input, &mut out).unwrap();
        }
        assert!(done);
        assert_eq!(hs.mode(), HandshakeMode::Simple);
        assert_eq!(&out[0][1 + HANDSHAKE_SIZE..], &c1[..]);
        assert_eq!(&input[..], b"rest");
    }

    #[test]
    fn wrong_version_is_refused() {
        let mut hs = ServerHandshake::new();
        let mut input = BytesMut::from(&b"GET / HTTP/1.1"[..]);
        assert_eq!(
            hs.process(&mut input, &mut vec![]),
            Err(HandshakeError::UnsupportedVersion(b'G'))
        );
    }
}
