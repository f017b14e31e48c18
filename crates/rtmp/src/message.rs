//! RTMP message types (Adobe RTMP specification 1.0, §5.4 protocol control, §6.2 user control,
//! §7.1 message types) and the small encoders for what the server and client send.

use bytes::{BufMut, Bytes, BytesMut};

use crate::amf0::{self, Value};
use crate::chunk::Message;

pub const SET_CHUNK_SIZE: u8 = 1;
pub const ABORT: u8 = 2;
pub const ACKNOWLEDGEMENT: u8 = 3;
pub const USER_CONTROL: u8 = 4;
pub const WINDOW_ACK_SIZE: u8 = 5;
pub const SET_PEER_BANDWIDTH: u8 = 6;
pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const DATA_AMF3: u8 = 15;
pub const COMMAND_AMF3: u8 = 17;
pub const DATA_AMF0: u8 = 18;
pub const COMMAND_AMF0: u8 = 20;
pub const AGGREGATE: u8 = 22;

/// User control event types (§6.2).
pub const UC_STREAM_BEGIN: u16 = 0;
pub const UC_STREAM_EOF: u16 = 1;
pub const UC_SET_BUFFER_LENGTH: u16 = 3;
pub const UC_PING_REQUEST: u16 = 6;
pub const UC_PING_RESPONSE: u16 = 7;

/// Chunk stream ids we send on.
pub const CSID_CONTROL: u32 = 2;
pub const CSID_COMMAND: u32 = 3;
pub const CSID_STREAM_COMMAND: u32 = 5;
pub const CSID_AUDIO: u32 = 6;
pub const CSID_VIDEO: u32 = 7;
pub const CSID_DATA: u32 = 4;

fn control(type_id: u8, payload: Bytes) -> Message {
    Message {
        csid: CSID_CONTROL,
        timestamp: 0,
        type_id,
        stream_id: 0,
        payload,
    }
}

pub fn set_chunk_size(size: u32) -> Message {
    control(
        SET_CHUNK_SIZE,
        Bytes::copy_from_slice(&(size & 0x7FFF_FFFF).to_be_bytes()),
    )
}

pub fn acknowledgement(sequence: u32) -> Message {
    control(
        ACKNOWLEDGEMENT,
        Bytes::copy_from_slice(&sequence.to_be_bytes()),
    )
}

pub fn window_ack_size(size: u32) -> Message {
    control(WINDOW_ACK_SIZE, Bytes::copy_from_slice(&size.to_be_bytes()))
}

/// Set Peer Bandwidth with limit type 2 (dynamic).
pub fn set_peer_bandwidth(size: u32) -> Message {
    let mut b = BytesMut::with_capacity(5);
    b.put_u32(size);
    b.put_u8(2);
    control(SET_PEER_BANDWIDTH, b.freeze())
}

pub fn user_control(event: u16, data: u32) -> Message {
    let mut b = BytesMut::with_capacity(6);
    b.put_u16(event);
    b.put_u32(data);
    control(USER_CONTROL, b.freeze())
}

/// An AMF0 command message.
pub fn command(csid: u32, stream_id: u32, values: &[Value]) -> Message {
    Message {
        csid,
        timestamp: 0,
        type_id: COMMAND_AMF0,
        stream_id,
        payload: amf0::encode_all(values).freeze(),
    }
}

/// `onStatus` on a message stream (§7.2.2).
pub fn on_status(stream_id: u32, level: &str, code: &str, description: &str) -> Message {
    command(
        CSID_STREAM_COMMAND,
        stream_id,
        &[
            "onStatus".into(),
            0.0.into(),
            Value::Null,
            Value::object([
                ("level", level.into()),
                ("code", code.into()),
                ("description", description.into()),
            ]),
        ],
    )
}

/// Reads a big-endian u32 from the start of a control message payload.
pub fn read_u32(payload: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(payload.get(..4)?.try_into().ok()?))
}

/// Reads a user control event: (event type, first u32 of event data).
pub fn read_user_control(payload: &[u8]) -> Option<(u16, u32)> {
    let ev = u16::from_be_bytes(payload.get(..2)?.try_into().ok()?);
    let data = payload
        .get(2..6)
        .and_then(|d| d.try_into().ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0);
    Some((ev, data))
}

/// Splits an aggregate message (§7.1.6: a run of FLV tags) into its sub-messages, with
/// timestamps rebased on the aggregate's own.
pub fn split_aggregate(agg: &Message) -> Vec<Message> {
    let mut out = Vec::new();
    let p = &agg.payload;
    let mut pos = 0usize;
    let mut first_ts: Option<u32> = None;
    while pos + 11 <= p.len() {
        let type_id = p[pos];
        let len = (usize::from(p[pos + 1]) << 16)
            | (usize::from(p[pos + 2]) << 8)
            | usize::from(p[pos + 3]);
        let ts = u32::from_be_bytes([p[pos + 7], p[pos + 4], p[pos + 5], p[pos + 6]]);
        let start = pos + 11;
        let Some(end) = start.checked_add(len).filter(|&e| e <= p.len()) else {
            break;
        };
        let base = *first_ts.get_or_insert(ts);
        out.push(Message {
            csid: agg.csid,
            timestamp: agg.timestamp.wrapping_add(ts.wrapping_sub(base)),
            type_id,
            stream_id: agg.stream_id,
            payload: p.slice(start..end),
        });
        // Skip the 4-byte back pointer.
        pos = end + 4;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_split_into_tags() {
        let mut b = BytesMut::new();
        for (t, ts, data) in [(9u8, 100u32, &b"abc"[..]), (8, 120, &b"de"[..])] {
            b.put_u8(t);
            b.put_uint(data.len() as u64, 3);
            b.put_uint(u64::from(ts & 0xFF_FFFF), 3);
            b.put_u8((ts >> 24) as u8);
            b.put_uint(0, 3);
            b.put_slice(data);
            b.put_u32(11 + data.len() as u32);
        }
        b.put_slice(&[9, 0, 0]); // truncated trailing tag is ignored
        let agg = Message {
            csid: 4,
            timestamp: 5000,
            type_id: AGGREGATE,
            stream_id: 1,
            payload: b.freeze(),
        };
        let subs = split_aggregate(&agg);
        assert_eq!(subs.len(), 2);
        assert_eq!(
            (subs[0].type_id, subs[0].timestamp, &subs[0].payload[..]),
            (9, 5000, &b"abc"[..])
        );
        assert_eq!(
            (subs[1].type_id, subs[1].timestamp, &subs[1].payload[..]),
            (8, 5020, &b"de"[..])
        );
    }
}
