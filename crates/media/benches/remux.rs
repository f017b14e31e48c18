//! Remux throughput: FLV tag bodies (as RTMP delivers them) → frames → fMP4 parts, and → MPEG-TS.
//!
//! Input: the H.264/AAC fixture, looped 30 times (4 minutes of media, ~5.7 MB) and held in
//! memory. Throughput is media payload bytes per second on one core.
//!
//! `cargo bench -p onair-media --bench remux`

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use onair_media::flv::{self, AudioTag, FlvReader, VideoTag};
use onair_media::fmp4::FragmentWriter;
use onair_media::frame::ms_to_ticks;
use onair_media::ts::TsMuxer;
use onair_media::{AudioFrame, Frame, TIMESCALE, VideoFrame};

const LOOPS: u32 = 30;

/// (tag type, timestamp ms, body) of the fixture, looped.
fn tags() -> Vec<(u8, u32, Bytes)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/live_h264_aac.flv");
    let file = Bytes::from(std::fs::read(path).expect("fixture"));
    let one: Vec<_> = FlvReader::new(file).unwrap().map(|t| t.unwrap()).collect();
    let span = one.iter().map(|t| t.timestamp_ms).max().unwrap() + 40;
    let mut out = Vec::new();
    for l in 0..LOOPS {
        for t in &one {
            out.push((t.tag_type, t.timestamp_ms + l * span, t.body.clone()));
        }
    }
    out
}

fn to_frames(tags: &[(u8, u32, Bytes)]) -> Vec<Frame> {
    let mut frames = Vec::with_capacity(tags.len());
    for (t, ms, body) in tags {
        let dts = ms_to_ticks(i64::from(*ms));
        match *t {
            flv::TAG_VIDEO => {
                if let Ok(VideoTag::Frame {
                    keyframe,
                    cts_ms,
                    data,
                    ..
                }) = flv::parse_video_tag(body.clone())
                {
                    frames.push(Frame::Video(VideoFrame {
                        dts,
                        cts: cts_ms * 90,
                        keyframe,
                        data,
                    }));
                }
            }
            flv::TAG_AUDIO => {
                if let Ok(AudioTag::AacRaw { data }) = flv::parse_audio_tag(body.clone()) {
                    frames.push(Frame::Audio(AudioFrame { dts, data }));
                }
            }
            _ => {}
        }
    }
    frames
}

fn bench(c: &mut Criterion) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/live_h264_aac.flv");
    let (tracks, _) = flv::demux(Bytes::from(std::fs::read(path).unwrap())).unwrap();
    let tags = tags();
    let frames = to_frames(&tags);
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let mut g = c.benchmark_group("remux");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(20);

    g.bench_function("flv_to_fmp4_parts_200ms", |b| {
        b.iter(|| {
            let frames = to_frames(&tags);
            let mut w = FragmentWriter::new(&tracks).unwrap();
            let mut start = 0usize;
            let mut part_start = frames[0].dts();
            let mut out = 0usize;
            for i in 0..frames.len() {
                if matches!(frames[i], Frame::Video(_))
                    && frames[i].dts() - part_start >= i64::from(TIMESCALE) / 5
                {
                    out += w.write(&frames[start..i], frames[i].dts()).unwrap().len;
                    start = i;
                    part_start = frames[i].dts();
                }
            }
            black_box(out)
        })
    });

    g.bench_function("flv_to_mpegts", |b| {
        let mut buf = BytesMut::with_capacity(bytes as usize * 11 / 10);
        b.iter(|| {
            let frames = to_frames(&tags);
            let mut m = TsMuxer::new(&tracks).unwrap();
            buf.clear();
            m.write_tables(&mut buf);
            for f in &frames {
                m.write_frame(f, &mut buf).unwrap();
            }
            black_box(buf.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
