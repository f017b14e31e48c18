//! ISO BMFF files and fragments checked by `mp4-atom` in strict mode.
//!
//! Every box must be one `mp4-atom` knows, in a place where it belongs, and its declared size
//! must match its content exactly: a body with bytes left over, or one that needs bytes past
//! its end (as an `esds` descriptor whose size counts its own header does), is an error. The
//! decoded boxes then survive an encode/decode round trip unchanged.

use mp4_atom::{Any, Decode, DecodeMaybe, Encode};

/// Errors: where the first problem is, as an offset into the checked bytes.
#[derive(Debug, thiserror::Error)]
pub enum Mp4Error {
    #[error("at byte {offset}: box does not decode: {source}")]
    Decode {
        offset: usize,
        #[source]
        source: mp4_atom::Error,
    },
    #[error("at byte {offset}: truncated box header or body ({left} bytes left)")]
    Truncated { offset: usize, left: usize },
    #[error("at byte {offset}: `{kind}` does not re-encode: {source}")]
    Encode {
        offset: usize,
        kind: String,
        #[source]
        source: mp4_atom::Error,
    },
    #[error("at byte {offset}: `{kind}` decodes differently after the round trip")]
    Unstable { offset: usize, kind: String },
    #[error("at byte {offset}: unknown top-level box `{kind}`")]
    Unknown { offset: usize, kind: String },
}

/// Checks `data` (a whole file, an init segment, a segment or a part) box by box; returns the
/// top-level boxes' types.
pub fn check(data: &[u8]) -> Result<Vec<String>, Mp4Error> {
    let mut rest = data;
    let mut kinds = Vec::new();
    while !rest.is_empty() {
        let offset = data.len() - rest.len();
        let before = rest;
        let atom = match Any::decode_maybe(&mut rest) {
            Ok(Some(atom)) => atom,
            Ok(None) => {
                return Err(Mp4Error::Truncated {
                    offset,
                    left: rest.len(),
                });
            }
            Err(source) => return Err(Mp4Error::Decode { offset, source }),
        };
        let kind = atom.kind().to_string();
        if let Any::Unknown(..) = atom {
            return Err(Mp4Error::Unknown { offset, kind });
        }
        // mp4-atom's encoder normalizes (64-bit versions of mvhd/tkhd/mdhd, its own child
        // order), so the round trip compares what the boxes say, not their bytes: encoding
        // and decoding again must give the same boxes back.
        let written = before.len() - rest.len();
        let mut encoded = Vec::with_capacity(written);
        atom.encode(&mut encoded)
            .map_err(|source| Mp4Error::Encode {
                offset,
                kind: kind.clone(),
                source,
            })?;
        let again = Any::decode(&mut encoded.as_slice())
            .map_err(|source| Mp4Error::Decode { offset, source })?;
        if again != atom {
            return Err(Mp4Error::Unstable { offset, kind });
        }
        kinds.push(kind);
    }
    Ok(kinds)
}
