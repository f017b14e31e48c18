//! AMF0 (Action Message Format 0, Adobe AMF0 File Format Specification, December 2007), the
//! encoding of RTMP command and data messages.

use bytes::{BufMut, BytesMut};

/// Nesting depth of objects/arrays accepted from a peer.
pub const MAX_DEPTH: usize = 32;
/// Entries in one object, ECMA array or strict array accepted from a peer.
pub const MAX_ITEMS: usize = 4096;
/// Values decoded from one message.
pub const MAX_VALUES: usize = 64;

/// Errors decoding AMF0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    #[error("AMF0 data ends early")]
    Truncated,
    #[error("unknown AMF0 type marker {0:#04x}")]
    UnknownMarker(u8),
    #[error("AMF0 nesting deeper than MAX_DEPTH ({MAX_DEPTH})")]
    TooDeep,
    #[error("AMF0 container with more than MAX_ITEMS ({MAX_ITEMS}) entries")]
    TooManyItems,
    #[error("more than MAX_VALUES ({MAX_VALUES}) AMF0 values in one message")]
    TooManyValues,
    #[error("AMF0 string is not UTF-8")]
    InvalidUtf8,
}

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    String(String),
    /// Anonymous object (marker 0x03): ordered key/value pairs.
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    /// ECMA array (marker 0x08): associative, with a (non-authoritative) count.
    EcmaArray(Vec<(String, Value)>),
    StrictArray(Vec<Value>),
    /// Milliseconds since the epoch and a time zone (reserved, usually 0).
    Date(f64, i16),
}

impl Value {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Looks up `key` in an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => {
                p.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// Shorthand for an object from pairs.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const REFERENCE: u8 = 0x07;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0A;
const DATE: u8 = 0x0B;
const LONG_STRING: u8 = 0x0C;
const UNSUPPORTED: u8 = 0x0D;
const XML_DOCUMENT: u8 = 0x0F;
const TYPED_OBJECT: u8 = 0x10;
const AVMPLUS: u8 = 0x11;

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        if self.buf.len() < n {
            return Err(Amf0Error::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, n: usize) -> Result<String, Amf0Error> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| Amf0Error::InvalidUtf8)
    }

    fn short_string(&mut self) -> Result<String, Amf0Error> {
        let n = self.u16()? as usize;
        self.utf8(n)
    }

    fn pairs(&mut self, depth: usize) -> Result<Vec<(String, Value)>, Amf0Error> {
        let mut pairs = Vec::new();
        loop {
            let key = self.short_string()?;
            if key.is_empty() && self.buf.first() == Some(&OBJECT_END) {
                self.take(1)?;
                return Ok(pairs);
            }
            if pairs.len() >= MAX_ITEMS {
                return Err(Amf0Error::TooManyItems);
            }
            let v = self.value(depth + 1)?;
            pairs.push((key, v));
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Amf0Error> {
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep);
        }
        let marker = self.u8()?;
        Ok(match marker {
            NUMBER => Value::Number(self.f64()?),
            BOOLEAN => Value::Boolean(self.u8()? != 0),
            STRING => Value::String(self.short_string()?),
            OBJECT => Value::Object(self.pairs(depth)?),
            NULL => Value::Null,
            UNDEFINED | UNSUPPORTED => Value::Undefined,
            REFERENCE => {
                self.u16()?;
                Value::Undefined
            }
            ECMA_ARRAY => {
                // The count is advisory; the list ends with the object-end marker.
                self.u32()?;
                Value::EcmaArray(self.pairs(depth)?)
            }
            STRICT_ARRAY => {
                let n = self.u32()? as usize;
                if n > MAX_ITEMS {
                    return Err(Amf0Error::TooManyItems);
                }
                let mut items = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::StrictArray(items)
            }
            DATE => {
                let ms = self.f64()?;
                let tz = self.u16()? as i16;
                Value::Date(ms, tz)
            }
            LONG_STRING | XML_DOCUMENT => {
                let n = self.u32()? as usize;
                Value::String(self.utf8(n)?)
            }
            TYPED_OBJECT => {
                self.short_string()?;
                Value::Object(self.pairs(depth)?)
            }
            other @ (AVMPLUS | _) => return Err(Amf0Error::UnknownMarker(other)),
        })
    }
}

/// Decodes every value in `buf`.
pub fn decode_all(buf: &[u8]) -> Result<Vec<Value>, Amf0Error> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while !r.buf.is_empty() {
        if out.len() >= MAX_VALUES {
            return Err(Amf0Error::TooManyValues);
        }
        out.push(r.value(0)?);
    }
    Ok(out)
}

fn put_short_string(out: &mut BytesMut, s: &str) {
    // Keys and short strings longer than u16::MAX are cut; they never occur in what we send.
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.put_u16(b.len() as u16);
    out.put_slice(b);
}

fn put_pairs(out: &mut BytesMut, pairs: &[(String, Value)]) {
    for (k, v) in pairs {
        put_short_string(out, k);
        encode(out, v);
    }
    out.put_u16(0);
    out.put_u8(OBJECT_END);
}

/// Appends the encoding of `v`.
pub fn encode(out: &mut BytesMut, v: &Value) {
    match v {
        Value::Number(n) => {
            out.put_u8(NUMBER);
            out.put_f64(*n);
        }
        Value::Boolean(b) => {
            out.put_u8(BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Value::String(s) if s.len() <= u16::MAX as usize => {
            out.put_u8(STRING);
            put_short_string(out, s);
        }
        Value::String(s) => {
            out.put_u8(LONG_STRING);
            out.put_u32(s.len() as u32);
            out.put_slice(s.as_bytes());
        }
        Value::Object(p) => {
            out.put_u8(OBJECT);
            put_pairs(out, p);
        }
        Value::Null => out.put_u8(NULL),
        Value::Undefined => out.put_u8(UNDEFINED),
        Value::EcmaArray(p) => {
            out.put_u8(ECMA_ARRAY);
            out.put_u32(p.len() as u32);
            put_pairs(out, p);
        }
        Value::StrictArray(items) => {
            out.put_u8(STRICT_ARRAY);
            out.put_u32(items.len() as u32);
            for i in items {
                encode(out, i);
            }
        }
        Value::Date(ms, tz) => {
            out.put_u8(DATE);
            out.put_f64(*ms);
            out.put_u16(*tz as u16);
        }
    }
}

/// Encodes a sequence of values.
pub fn encode_all(values: &[Value]) -> BytesMut {
    let mut out = BytesMut::new();
    for v in values {
        encode(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<f64>()
                .prop_filter("NaN != NaN", |f| !f.is_nan())
                .prop_map(Value::Number),
            any::<bool>().prop_map(Value::Boolean),
            ".{0,20}".prop_map(Value::String),
            Just(Value::Null),
            Just(Value::Undefined),
            (any::<i32>(), any::<i16>()).prop_map(|(ms, tz)| Value::Date(f64::from(ms), tz)),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(("[a-z]{1,8}", inner.clone()), 0..6).prop_map(Value::Object),
                prop::collection::vec(("[a-z]{1,8}", inner.clone()), 0..6)
                    .prop_map(Value::EcmaArray),
                prop::collection::vec(inner, 0..6).prop_map(Value::StrictArray),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips(values in prop::collection::vec(arb_value(), 0..8)) {
            let bytes = encode_all(&values);
            prop_assert_eq!(decode_all(&bytes).unwrap(), values);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_all(&bytes);
        }
    }

    #[test]
    fn decodes_a_connect_command_as_ffmpeg_sends_it() {
        let cmd = encode_all(&[
            "connect".into(),
            1.0.into(),
            Value::object([("app", "live".into()), ("tcUrl", "rtmp://h/live".into())]),
        ]);
        let v = decode_all(&cmd).unwrap();
        assert_eq!(v[0].as_str(), Some("connect"));
        assert_eq!(v[2].get("app").and_then(Value::as_str), Some("live"));
    }

    #[test]
    fn limits_hold() {
        let mut deep = Vec::new();
        for _ in 0..(MAX_DEPTH + 2) {
            deep.extend_from_slice(&[STRICT_ARRAY, 0, 0, 0, 1]);
        }
        deep.push(NULL);
        assert_eq!(decode_all(&deep), Err(Amf0Error::TooDeep));
        assert_eq!(
            decode_all(&[STRICT_ARRAY, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Amf0Error::TooManyItems)
        );
        assert_eq!(decode_all(&[STRING, 0, 5, b'a']), Err(Amf0Error::Truncated));
        assert_eq!(decode_all(&[0x42]), Err(Amf0Error::UnknownMarker(0x42)));
    }
}
