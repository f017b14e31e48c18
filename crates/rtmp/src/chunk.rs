//! The RTMP chunk stream (Adobe RTMP specification 1.0, §5.3): splitting messages into chunks
//! and reassembling them, with per-chunk-stream header compression and extended timestamps.
//!
//! Reading is incremental: feed whatever the socket gave; a chunk is consumed only once its
//! header and payload piece are all there, so the result is identical under any split of the
//! input. A message that fits in one chunk is a zero-copy slice of the input buffer; a message
//! spread over several chunks is assembled with one copy.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Chunk size before any Set Chunk Size (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size accepted from a peer. Messages are at most 24-bit long, so a larger chunk
/// size is meaningless.
pub const MAX_CHUNK_SIZE: u32 = 0xFF_FFFF;
/// Largest message accepted (8 MiB: a 4K intra frame at high bit rate fits).
pub const MAX_MESSAGE_LENGTH: u32 = 8 * 1024 * 1024;
/// Chunk streams one connection may use.
pub const MAX_CHUNK_STREAMS: usize = 64;
/// Bytes of partly received messages held across all chunk streams of one connection.
pub const MAX_PARTIAL_BYTES: usize = 16 * 1024 * 1024;

/// What a peer may make the reader hold: the length of one message and the bytes of partly
/// received messages. The server starts a connection with small limits and raises them once a
/// publish is requested ([`ChunkLimits::PRE_PUBLISH`], [`ChunkLimits::MAX`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    pub max_message_length: u32,
    pub max_partial_bytes: usize,
}

impl ChunkLimits {
    /// The protocol-wide caps: [`MAX_MESSAGE_LENGTH`], [`MAX_PARTIAL_BYTES`].
    pub const MAX: Self = Self {
        max_message_length: MAX_MESSAGE_LENGTH,
        max_partial_bytes: MAX_PARTIAL_BYTES,
    };
    /// Before a publish: `connect`, `createStream` and `publish` are a few hundred bytes each
    /// (the largest seen, OBS's connect with an E-RTMP `fourCcList`, is under 1 KiB), so an
    /// unauthenticated peer cannot make a connection hold megabytes.
    pub const PRE_PUBLISH: Self = Self {
        max_message_length: 16 * 1024,
        max_partial_bytes: 32 * 1024,
    };
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self::MAX
    }
}

const EXTENDED: u32 = 0xFF_FFFF;

/// Errors of the chunk stream; each closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk size {0} is outside 1..=MAX_CHUNK_SIZE ({MAX_CHUNK_SIZE})")]
    ChunkSize(u32),
    #[error("message length {length} exceeds the limit of {limit} bytes")]
    MessageTooLong { length: u32, limit: u32 },
    #[error("more than MAX_CHUNK_STREAMS ({MAX_CHUNK_STREAMS}) chunk streams")]
    TooManyChunkStreams,
    #[error("partly received messages exceed the limit of {0} bytes")]
    TooMuchBuffered(usize),
}

/// A reassembled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub csid: u32,
    /// Absolute timestamp in milliseconds (32-bit, wraps).
    pub timestamp: u32,
    pub type_id: u8,
    pub stream_id: u32,
    pub payload: Bytes,
}

#[derive(Debug, Default)]
struct ChunkStream {
    /// The timestamp field of the last type 0/1/2 header (absolute for 0, delta for 1/2), or
    /// the extended value that replaced it.
    ts_field: u32,
    extended: bool,
    timestamp: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Pieces of the message being received, and their total size.
    pieces: Vec<Bytes>,
    received: usize,
}

/// Reassembles messages from chunks.
#[derive(Debug)]
pub struct ChunkReader {
    chunk_size: u32,
    /// Chunk stream states by id; a short list (clients use 3–6 ids), searched linearly —
    /// cheaper per chunk than hashing.
    streams: Vec<(u32, ChunkStream)>,
    partial_bytes: usize,
    limits: ChunkLimits,
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
            partial_bytes: 0,
            limits: ChunkLimits::MAX,
        }
    }
}

impl ChunkReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a peer's Set Chunk Size.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::ChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the limits for what comes next (limits above [`ChunkLimits::MAX`] are lowered
    /// to it). Lowering them does not drop what is already held.
    pub fn set_limits(&mut self, limits: ChunkLimits) {
        self.limits = ChunkLimits {
            max_message_length: limits.max_message_length.min(MAX_MESSAGE_LENGTH),
            max_partial_bytes: limits.max_partial_bytes.min(MAX_PARTIAL_BYTES),
        };
    }

    /// Bytes of partly received messages held now.
    pub fn partial_bytes(&self) -> usize {
        self.partial_bytes
    }

    /// Applies a peer's Abort Message: drops the partial message on `csid`.
    pub fn abort(&mut self, csid: u32) {
        if let Some((_, s)) = self.streams.iter_mut().find(|(id, _)| *id == csid) {
            self.partial_bytes -= s.received;
            s.pieces.clear();
            s.received = 0;
        }
    }

    /// Consumes complete chunks from `buf` until a message is complete (returned) or the
    /// buffer holds only part of a chunk (`None`).
    pub fn read(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ChunkError> {
        loop {
            match self.read_chunk(buf)? {
                Step::Incomplete => return Ok(None),
                Step::Chunk => continue,
                Step::Message(m) => return Ok(Some(m)),
            }
        }
    }

    fn read_chunk(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkError> {
        let b = &buf[..];
        let Some(&b0) = b.first() else {
            return Ok(Step::Incomplete);
        };
        let fmt = b0 >> 6;
        let (csid, mut pos) = match b0 & 0x3F {
            0 => match b.get(1) {
                Some(&x) => (64 + u32::from(x), 2),
                None => return Ok(Step::Incomplete),
            },
            1 => match (b.get(1), b.get(2)) {
                (Some(&x), Some(&y)) => (64 + u32::from(x) + 256 * u32::from(y), 3),
                _ => return Ok(Step::Incomplete),
            },
            n => (u32::from(n), 1),
        };
        let header_len = [11, 7, 3, 0][fmt as usize];
        if b.len() < pos + header_len {
            return Ok(Step::Incomplete);
        }
        let index = match self.streams.iter().position(|(id, _)| *id == csid) {
            Some(i) => i,
            None if self.streams.len() >= MAX_CHUNK_STREAMS => {
                return Err(ChunkError::TooManyChunkStreams);
            }
            None => {
                self.streams.push((csid, ChunkStream::default()));
                self.streams.len() - 1
            }
        };
        let chunk_size = self.chunk_size as usize;
        let state = &mut self.streams[index].1;
        let h = &b[pos..pos + header_len];
        let be24 = |x: &[u8]| u32::from(x[0]) << 16 | u32::from(x[1]) << 8 | u32::from(x[2]);
        let ts_field = if fmt < 3 {
            be24(&h[0..3])
        } else {
            state.ts_field
        };
        let (length, type_id) = if fmt < 2 {
            (be24(&h[3..6]), h[6])
        } else {
            (state.length, state.type_id)
        };
        let stream_id = if fmt == 0 {
            u32::from_le_bytes([h[7], h[8], h[9], h[10]])
        } else {
            state.stream_id
        };
        pos += header_len;
        let has_extended = if fmt < 3 {
            ts_field == EXTENDED
        } else {
            state.extended
        };
        let mut ext = None;
        if has_extended {
            if b.len() < pos + 4 {
                return Ok(Step::Incomplete);
            }
            ext = Some(u32::from_be_bytes([
                b[pos],
                b[pos + 1],
                b[pos + 2],
                b[pos + 3],
            ]));
            pos += 4;
        }
        if length > self.limits.max_message_length {
            return Err(ChunkError::MessageTooLong {
                length,
                limit: self.limits.max_message_length,
            });
        }
        let continuing = fmt == 3 && state.received > 0;
        let remaining = if continuing {
            state.length as usize - state.received
        } else {
            length as usize
        };
        let piece = remaining.min(chunk_size);
        if b.len() < pos + piece {
            return Ok(Step::Incomplete);
        }
        if !continuing && state.received > 0 {
            // A new header while a message is incomplete: the peer abandoned it.
            self.partial_bytes -= state.received;
            state.pieces.clear();
            state.received = 0;
        }

        // The chunk is complete: commit its header to the chunk stream state.
        if !continuing {
            let field = ext.unwrap_or(ts_field);
            match fmt {
                0 => {
                    state.timestamp = field;
                    state.ts_field = field;
                }
                1 | 2 => {
                    state.timestamp = state.timestamp.wrapping_add(field);
                    state.ts_field = field;
                }
                // Type 3 starting a new message: the previous delta (or type 0 timestamp)
                // applies again (§5.3.1.2.4).
                _ => state.timestamp = state.timestamp.wrapping_add(field),
            }
            if fmt < 3 {
                state.extended = has_extended;
            }
            state.length = length;
            state.type_id = type_id;
            state.stream_id = stream_id;
        }
        buf.advance(pos);
        let data = buf.split_to(piece).freeze();
        state.received += piece;
        if state.received < state.length as usize {
            self.partial_bytes += piece;
            if self.partial_bytes > self.limits.max_partial_bytes {
                return Err(ChunkError::TooMuchBuffered(self.limits.max_partial_bytes));
            }
            state.pieces.push(data);
            return Ok(Step::Chunk);
        }
        let payload = if state.pieces.is_empty() {
            data
        } else {
            let mut whole = BytesMut::with_capacity(state.length as usize);
            for p in state.pieces.drain(..) {
                whole.put_slice(&p);
            }
            whole.put_slice(&data);
            self.partial_bytes -= state.received - piece;
            whole.freeze()
        };
        state.received = 0;
        Ok(Step::Message(Message {
            csid,
            timestamp: state.timestamp,
            type_id: state.type_id,
            stream_id: state.stream_id,
            payload,
        }))
    }
}

enum Step {
    Incomplete,
    Chunk,
    Message(Message),
}

/// Splits messages into chunks. Every message starts with a type 0 header (always correct,
/// and what we send is small apart from our own test/load publisher); continuation chunks are
/// type 3, repeating the extended timestamp as §5.3.1.3 requires.
#[derive(Debug)]
pub struct ChunkWriter {
    chunk_size: u32,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

impl ChunkWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes the outgoing chunk size; the caller must have sent Set Chunk Size first.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_CHUNK_SIZE);
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Appends the chunks of one message to `out` (headers as small `Bytes`, payload slices
    /// shared with `payload`).
    pub fn write(&mut self, csid: u32, msg: &Message, out: &mut Vec<Bytes>) {
        let _ = csid;
        let extended = msg.timestamp >= EXTENDED;
        let ts_field = if extended { EXTENDED } else { msg.timestamp };
        let mut h = BytesMut::with_capacity(18);
        put_basic_header(&mut h, 0, msg.csid);
        h.put_uint(u64::from(ts_field), 3);
        h.put_uint(msg.payload.len() as u64, 3);
        h.put_u8(msg.type_id);
        h.put_u32_le(msg.stream_id);
        if extended {
            h.put_u32(msg.timestamp);
        }
        let size = self.chunk_size as usize;
        let mut offset = 0;
        let total = msg.payload.len();
        let mut header = h.freeze();
        loop {
            let end = (offset + size).min(total);
            out.push(header);
            if end > offset {
                out.push(msg.payload.slice(offset..end));
            }
            offset = end;
            if offset >= total {
                break;
            }
            let mut c = BytesMut::with_capacity(8);
            put_basic_header(&mut c, 3, msg.csid);
            if extended {
                c.put_u32(msg.timestamp);
            }
            header = c.freeze();
        }
    }
}

fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    match csid {
        2..=63 => out.put_u8(fmt << 6 | csid as u8),
        64..=319 => {
            out.put_u8(fmt << 6);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            let v = csid.clamp(64, 65599) - 64;
            out.put_u8(fmt << 6 | 1);
            out.put_u8((v & 0xFF) as u8);
            out.put_u8((v >> 8) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(csid: u32, timestamp: u32, len: usize, type_id: u8) -> Message {
        Message {
            csid,
            timestamp,
            type_id,
            stream_id: 1,
            payload: Bytes::from(
                (0..len)
                    .map(|i| (i * 7 + csid as usize) as u8)
                    .collect::<Vec<_>>(),
            ),
        }
    }

    fn encode(msgs: &[Message], chunk_size: u32) -> Vec<u8> {
        let mut w = ChunkWriter::new();
        w.set_chunk_size(chunk_size);
        let mut out = vec![];
        for m in msgs {
            w.write(m.csid, m, &mut out);
        }
        out.concat()
    }

    fn decode_with_splits(bytes: &[u8], chunk_size: u32, splits: &[usize]) -> Vec<Message> {
        let mut r = ChunkReader::new();
        r.set_chunk_size(chunk_size).unwrap();
        let mut buf = BytesMut::new();
        let mut out = vec![];
        let mut last = 0;
        let mut cuts: Vec<usize> = splits.iter().map(|s| s % (bytes.len() + 1)).collect();
        cuts.push(bytes.len());
        cuts.sort_unstable();
        for cut in cuts {
            buf.put_slice(&bytes[last..cut]);
            last = cut;
            while let Some(m) = r.read(&mut buf).unwrap() {
                out.push(m);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn identical_under_every_split(
            sizes in prop::collection::vec((2u32..70, 0usize..3000, any::<u32>()), 1..12),
            chunk_size in 1u32..4200,
            splits in prop::collection::vec(any::<usize>(), 0..40),
        ) {
            let msgs: Vec<Message> = sizes.iter().map(|&(csid, len, ts)| msg(csid, ts, len, 9)).collect();
            let bytes = encode(&msgs, chunk_size);
            let whole = decode_with_splits(&bytes, chunk_size, &[]);
            prop_assert_eq!(&whole, &msgs);
            let split = decode_with_splits(&bytes, chunk_size, &splits);
            prop_assert_eq!(split, msgs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            let mut r = ChunkReader::new();
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = r.read(&mut buf) {}
        }
    }

    #[test]
    fn compressed_headers_follow_the_spec_examples() {
        // §5.3.2.1 example 1: audio messages on csid 3, type 0 then type 2 then type 3.
        let mut b = BytesMut::new();
        b.put_slice(&[0x03, 0, 0x03, 0xE8, 0, 0, 2, 8, 1, 0, 0, 0, 0xAA, 0xBB]); // ts 1000, len 2
        b.put_slice(&[0x83, 0, 0, 20, 0xCC, 0xDD]); // type 2: delta 20
        b.put_slice(&[0xC3, 0xEE, 0xFF]); // type 3: same delta
        let mut r = ChunkReader::new();
        let ts: Vec<u32> = std::iter::from_fn(|| r.read(&mut b).unwrap())
            .map(|m| m.timestamp)
            .collect();
        assert_eq!(ts, vec![1000, 1020, 1040]);
    }

    #[test]
    fn extended_timestamps_round_trip_with_continuations() {
        let msgs = vec![
            msg(6, 0x0100_0000, 1000, 9),
            msg(6, 0xFFFF_FFF0, 300, 9),
            msg(4, 0xFF_FFFF, 10, 8),
        ];
        let bytes = encode(&msgs, 128);
        assert_eq!(decode_with_splits(&bytes, 128, &[5, 77, 300]), msgs);
    }

    #[test]
    fn caps_are_enforced() {
        let mut r = ChunkReader::new();
        assert_eq!(
            r.set_chunk_size(0x7FFF_FFFF),
            Err(ChunkError::ChunkSize(0x7FFF_FFFF))
        );
        let mut b = BytesMut::from(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0][..]);
        assert_eq!(
            r.read(&mut b),
            Err(ChunkError::MessageTooLong {
                length: 0xFF_FFFF,
                limit: MAX_MESSAGE_LENGTH
            })
        );
        let mut r = ChunkReader::new();
        let mut b = BytesMut::new();
        for csid in 0..=MAX_CHUNK_STREAMS as u32 {
            // Type 0 header announcing 200 bytes, first 128 sent.
            b.put_u8(0);
            b.put_u8(csid as u8);
            b.put_slice(&[0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0]);
            b.put_slice(&[0u8; 128]);
        }
        let mut err = None;
        loop {
            match r.read(&mut b) {
                Ok(None) => break,
                Ok(Some(_)) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert_eq!(err, Some(ChunkError::TooManyChunkStreams));
    }

    #[test]
    fn abort_discards_the_partial_message() {
        let m = msg(5, 0, 300, 9);
        let bytes = encode(std::slice::from_ref(&m), 128);
        let mut r = ChunkReader::new();
        let mut b = BytesMut::from(&bytes[..12 + 128]);
        assert_eq!(r.read(&mut b).unwrap(), None);
        r.abort(5);
        let mut b = BytesMut::from(&bytes[..]);
        assert_eq!(r.read(&mut b).unwrap(), Some(m));
    }
}
