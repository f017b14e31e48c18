#![no_main]
//! The chunk reader on arbitrary bytes, fed in two pieces (the split point is the first byte).
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use onair_rtmp::chunk::ChunkReader;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let split = usize::from(split).min(rest.len());
    let mut reader = ChunkReader::new();
    let mut buf = BytesMut::new();
    for piece in [&rest[..split], &rest[split..]] {
        buf.extend_from_slice(piece);
        while let Ok(Some(m)) = reader.read(&mut buf) {
            if m.type_id == 1 && m.payload.len() >= 4 {
                let size = u32::from_be_bytes([m.payload[0], m.payload[1], m.payload[2], m.payload[3]]);
                if reader.set_chunk_size(size).is_err() {
                    return;
                }
            }
        }
    }
});
