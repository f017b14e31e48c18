#![no_main]
//! Recording export (CMAF init + media segments → progressive MP4): the input is split into an
//! init segment and up to three media segments; whatever exports must be self-consistent.
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use onair_media::mp4export::export;

fuzz_target!(|data: &[u8]| {
    // Layout: [init_len: u16][init][seg_len: u16][seg]... (the last segment takes the rest).
    let data = Bytes::copy_from_slice(data);
    let mut parts = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() && parts.len() < 4 {
        let len = match data.get(pos..pos + 2) {
            Some(l) if parts.len() < 3 => usize::from(u16::from_be_bytes([l[0], l[1]])),
            _ => data.len(),
        };
        let start = (pos + 2).min(data.len());
        let end = start.saturating_add(len).min(data.len());
        parts.push(data.slice(start..end));
        pos = end;
    }
    let Some((init, segments)) = parts.split_first() else {
        return;
    };
    if let Ok(e) = export(init, segments) {
        let payload: u64 = e.payload.iter().map(|p| p.len() as u64).sum();
        assert_eq!(e.len, e.header.len() as u64 + payload);
    }
});
