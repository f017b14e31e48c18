#![no_main]
//! AVC/HEVC decoder configuration records and AAC AudioSpecificConfig; whatever parses must
//! also mux (init segment, ADTS header) without panicking.
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use onair_media::codec::{AacConfig, AudioConfig, AvcConfig, HevcConfig, Tracks, VideoConfig};

fuzz_target!(|data: &[u8]| {
    let b = Bytes::copy_from_slice(data);
    let video = AvcConfig::parse(b.clone())
        .map(VideoConfig::Avc)
        .or_else(|_| HevcConfig::parse(b.clone()).map(VideoConfig::Hevc))
        .ok();
    let audio = AacConfig::parse(b).ok().map(AudioConfig::Aac);
    if let Some(AudioConfig::Aac(a)) = &audio {
        let _ = a.adts_header(100);
    }
    let tracks = Tracks { video, audio };
    let _ = tracks.codecs();
    let _ = onair_media::fmp4::init_segment(&tracks);
});
