//! The segmenter on a real encoder's timestamps (ffmpeg's FLV: ms timestamps, B-frames).

use std::time::Duration;

use bytes::Bytes;
use onair_hls::segmenter::{Segmenter, SegmenterConfig, SegmenterEvent};
use onair_media::flv;

#[test]
fn real_stream_parts_respect_the_part_target() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/live_h264_aac.flv");
    let (_, frames) = flv::demux(Bytes::from(std::fs::read(path).unwrap())).unwrap();
    for (seg, part) in [(1000, 200), (2000, 200), (2000, 500), (1000, 333)] {
        let cfg = SegmenterConfig {
            segment_target: Duration::from_millis(seg),
            part_target: Duration::from_millis(part),
        };
        let mut s = Segmenter::new(cfg, 0, true);
        let mut events: Vec<SegmenterEvent> =
            frames.iter().flat_map(|f| s.push(f.clone())).collect();
        events.extend(s.finish());
        let mut n = 0;
        for e in events {
            if let SegmenterEvent::PartClosed(p) = e {
                n += p.frames.len();
                let d = p.end_dts - p.start_dts;
                assert!(
                    d <= part as i64 * 90,
                    "{seg}/{part}: part {}.{} lasts {d} ticks",
                    p.msn,
                    p.index
                );
            }
        }
        assert_eq!(n, frames.len());
    }
}
