//! The media crate against real files: the FLV fixture is demuxed with our parsers (checked
//! against ffprobe), then remuxed to fMP4 and MPEG-TS and read back by ffprobe/ffmpeg.

use std::path::PathBuf;
use std::process::Command;

use bytes::{Bytes, BytesMut};
use onair_conformance::{mp4, ts};
use onair_media::codec::{AudioConfig, VideoConfig};
use onair_media::flv::{self, FlvReader};
use onair_media::fmp4::{FragmentWriter, init_segment};
use onair_media::ts::TsMuxer;
use onair_media::{Frame, TIMESCALE};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

fn load() -> (onair_media::Tracks, Vec<Frame>) {
    let data = Bytes::from(std::fs::read(fixture("live_h264_aac.flv")).unwrap());
    flv::demux(data).unwrap()
}

/// ffprobe's view: per stream (codec_name, width, height, profile, sample_rate, channels, packets).
fn probe(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .arg("stream=codec_name,codec_type,width,height,profile,level,sample_rate,channels,nb_read_packets")
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stream<'a>(p: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    p["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap()
}

fn decode_clean(path: &std::path::Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn flv_and_codec_configs_match_ffprobe() {
    let (tracks, frames) = load();
    let p = probe(&fixture("live_h264_aac.flv"));
    let v = stream(&p, "video");
    let Some(VideoConfig::Avc(avc)) = &tracks.video else {
        panic!("no AVC track")
    };
    assert_eq!(i64::from(avc.width), v["width"].as_i64().unwrap());
    assert_eq!(i64::from(avc.height), v["height"].as_i64().unwrap());
    assert_eq!(v["profile"], "High");
    assert_eq!(avc.profile_idc, 100);
    assert_eq!(i64::from(avc.level_idc), v["level"].as_i64().unwrap());
    assert_eq!(avc.nal_length_size, 4);
    let a = stream(&p, "audio");
    let Some(AudioConfig::Aac(aac)) = &tracks.audio else {
        panic!("no AAC track")
    };
    assert_eq!(
        aac.sample_rate.to_string(),
        a["sample_rate"].as_str().unwrap()
    );
    assert_eq!(
        i64::from(aac.channel_config),
        a["channels"].as_i64().unwrap()
    );
    assert_eq!(
        tracks.codecs(),
        format!("avc1.6400{:02x},mp4a.40.2", avc.level_idc)
    );
    let nv = frames
        .iter()
        .filter(|f| matches!(f, Frame::Video(_)))
        .count() as i64;
    let na = frames
        .iter()
        .filter(|f| matches!(f, Frame::Audio(_)))
        .count() as i64;
    assert_eq!(
        nv,
        v["nb_read_packets"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    );
    assert_eq!(
        na,
        a["nb_read_packets"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    );
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Frame::Video(v) if v.cts > 0)),
        "fixture has B-frames"
    );
}

#[test]
fn flv_tags_round_trip_through_our_writer() {
    let (tracks, frames) = load();
    let mut out = vec![flv::file_header(true, true)];
    out.extend(flv::video_sequence_tag(tracks.video.as_ref().unwrap(), 0));
    out.extend(flv::audio_sequence_tag(tracks.audio.as_ref().unwrap(), 0));
    for f in &frames {
        let ms = (f.dts() / 90) as u32;
        match f {
            Frame::Video(v) => {
                out.extend(flv::video_frame_tag(tracks.video.as_ref().unwrap(), v, ms))
            }
            Frame::Audio(a) => {
                out.extend(flv::audio_frame_tag(tracks.audio.as_ref().unwrap(), a, ms))
            }
        }
    }
    let file: Bytes = out.concat().into();
    let (t2, f2) = flv::demux(file.clone()).unwrap();
    assert_eq!(t2, tracks);
    assert_eq!(f2, frames);
    assert_eq!(FlvReader::new(file).unwrap().count(), frames.len() + 2);
    // ffmpeg reads what we wrote.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rt.flv");
    std::fs::write(&path, out.concat()).unwrap();
    decode_clean(&path);
}

/// Groups frames into ~200 ms parts the way the segmenter does (on video DTS).
fn parts(frames: &[Frame]) -> Vec<(Vec<Frame>, i64)> {
    let mut out: Vec<(Vec<Frame>, i64)> = Vec::new();
    let mut cur: Vec<Frame> = Vec::new();
    let mut start = frames[0].dts();
    for f in frames {
        if matches!(f, Frame::Video(_))
            && f.dts() - start >= i64::from(TIMESCALE) / 5
            && !cur.is_empty()
        {
            out.push((std::mem::take(&mut cur), f.dts()));
            start = f.dts();
        }
        cur.push(f.clone());
    }
    let end = cur.last().unwrap().dts() + 3600;
    out.push((cur, end));
    out
}

#[test]
fn fmp4_output_is_read_back_by_ffprobe_and_ffmpeg() {
    let (tracks, frames) = load();
    let init = init_segment(&tracks).unwrap();
    // The strict box parser: every box decodes exactly and survives a round trip.
    assert_eq!(mp4::check(&init).unwrap(), ["ftyp", "moov"]);
    let mut file = init.to_vec();
    let mut w = FragmentWriter::new(&tracks).unwrap();
    for (group, end) in parts(&frames) {
        let frag = w.write(&group, end).unwrap();
        let bytes = frag.chunks.concat();
        assert_eq!(bytes.len(), frag.len);
        assert_eq!(mp4::check(&bytes).unwrap(), ["moof", "mdat"]);
        // The payloads are the frames' own buffers (zero-copy).
        assert_eq!(frag.chunks.len(), group.len() + 1);
        file.extend_from_slice(&bytes);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mp4");
    std::fs::write(&path, &file).unwrap();
    let p = probe(&path);
    let v = stream(&p, "video");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(320), Some(240))
    );
    assert_eq!(v["nb_read_packets"], "200");
    let a = stream(&p, "audio");
    assert_eq!(a["codec_name"], "aac");
    let na = frames
        .iter()
        .filter(|f| matches!(f, Frame::Audio(_)))
        .count();
    assert_eq!(a["nb_read_packets"], na.to_string());
    decode_clean(&path);
}

#[test]
fn mpegts_output_is_read_back_by_ffprobe_and_ffmpeg() {
    let (tracks, frames) = load();
    let mut mux = TsMuxer::new(&tracks).unwrap();
    let mut out = BytesMut::new();
    mux.write_tables(&mut out);
    for f in &frames {
        mux.write_frame(f, &mut out).unwrap();
    }
    // Sync, continuity, PAT/PMT repetition, PCR interval and timestamps, by mpeg2ts-reader.
    let report = ts::check(&[ts::Segment {
        data: &out,
        discontinuity: false,
    }])
    .unwrap();
    assert_eq!(report.pes[&onair_media::ts::VIDEO_PID], 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ts");
    std::fs::write(&path, &out).unwrap();
    let p = probe(&path);
    let v = stream(&p, "video");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(320), Some(240))
    );
    assert_eq!(v["nb_read_packets"], "200");
    let a = stream(&p, "audio");
    assert_eq!(a["codec_name"], "aac");
    decode_clean(&path);
}

/// Init segments stored before the `esds` fix: the strict parser refuses them, the repair (used
/// by the export and when serving stored init segments) makes them conform, changing only the
/// ES_Descriptor's size, and the repaired header says the same as a freshly written one.
#[test]
fn init_segments_written_before_the_esds_fix_are_repaired() {
    let old = Bytes::from(std::fs::read(fixture("init_esds_before_fix.mp4")).unwrap());
    let err = mp4::check(&old).unwrap_err();
    assert!(err.to_string().contains("does not decode"), "{err}");
    let fixed = onair_media::fmp4::repair_init(&old).expect("repairable");
    assert_eq!(mp4::check(&fixed).unwrap(), ["ftyp", "moov"]);
    assert_eq!(fixed.len(), old.len());
    assert_eq!(
        old.iter().zip(&fixed[..]).filter(|(a, b)| a != b).count(),
        1
    );
    assert!(onair_media::fmp4::repair_init(&fixed).is_none());
    let (tracks, _) = load();
    assert!(onair_media::fmp4::repair_init(&init_segment(&tracks).unwrap()).is_none());
}

/// Muxes `frames` as one segment and checks it with the strict TS checker.
fn strict_ts(tracks: &onair_media::Tracks, frames: &[Frame]) -> (BytesMut, ts::TsReport) {
    let mut mux = TsMuxer::new(tracks).unwrap();
    let mut out = BytesMut::new();
    mux.write_tables(&mut out);
    for f in frames {
        mux.write_frame(f, &mut out).unwrap();
    }
    let report = ts::check(&[ts::Segment {
        data: &out,
        discontinuity: false,
    }])
    .unwrap_or_else(|e| panic!("{e}"));
    (out, report)
}

/// Video frames `factor` times further apart (a slide show, a stalled encoder).
fn slowed(frames: &[Frame], factor: i64) -> Vec<Frame> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Video(v) => {
                let mut v = v.clone();
                v.dts *= factor;
                v.cts *= factor as i32;
                Some(Frame::Video(v))
            }
            Frame::Audio(_) => None,
        })
        .collect()
}

#[test]
fn mpegts_keeps_pcr_and_tables_between_sparse_frames() {
    let (tracks, frames) = load();
    // 2.5 fps video only: frames 400 ms apart, PCRs and tables must still recur in between.
    let video_only = onair_media::Tracks {
        video: tracks.video.clone(),
        audio: None,
    };
    let sparse = slowed(&frames, 10);
    let (_, report) = strict_ts(&video_only, &sparse);
    assert!(report.max_pcr_interval <= onair_media::ts::PCR_INTERVAL as u64);
    // Measured from the PCR before them, tables are at most a PCR step late.
    let step = onair_media::ts::PCR_INTERVAL as u64;
    assert!(
        report.max_pat_interval <= onair_media::ts::TABLE_INTERVAL as u64 + 2 * step,
        "{report:?}"
    );
    assert_eq!(report.pes[&onair_media::ts::VIDEO_PID], 200);

    // A jump of a minute in the timestamps: a PCR discontinuity, not a minute of filler.
    let mut jumped = frames.clone();
    for f in &mut jumped[300..] {
        match f {
            Frame::Video(v) => v.dts += 60 * i64::from(TIMESCALE),
            Frame::Audio(a) => a.dts += 60 * i64::from(TIMESCALE),
        }
    }
    let (out, _) = strict_ts(&tracks, &jumped);
    let (plain, _) = strict_ts(&tracks, &frames);
    assert!(
        out.len() < plain.len() + 40 * 188,
        "{} vs {}",
        out.len(),
        plain.len()
    );
}
