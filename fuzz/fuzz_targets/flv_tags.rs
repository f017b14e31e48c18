#![no_main]
//! FLV tag bodies (legacy and Enhanced RTMP), and whole FLV files.
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use onair_media::flv;

fuzz_target!(|data: &[u8]| {
    let b = Bytes::copy_from_slice(data);
    if let Ok(flv::VideoTag::SequenceHeader { codec, record }) = flv::parse_video_tag(b.clone()) {
        let _ = flv::video_config_from(codec, record);
    }
    let _ = flv::parse_audio_tag(b.clone());
    let _ = flv::demux(b);
});
