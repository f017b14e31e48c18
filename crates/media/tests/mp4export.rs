//! Recording export against real media: the FLV fixture (8 s H.264 High 320x240 25 fps with
//! B-frames, GOP 25, AAC 44.1 kHz) is muxed into an init segment and 1-second CMAF fragments by
//! our `FragmentWriter`, exported to one progressive MP4 and read back by ffprobe/ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use onair_media::flv;
use onair_media::fmp4::{FragmentWriter, init_segment};
use onair_media::mp4export::{Export, export, export_64bit};
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

/// Groups frames into fragments of at least 1 s that start on a video keyframe; each with the
/// DTS where it ends (the next fragment's first frame, or one frame past the last video frame).
fn one_second_groups(frames: &[Frame]) -> Vec<(Vec<Frame>, i64)> {
    let mut out: Vec<(Vec<Frame>, i64)> = Vec::new();
    let mut cur: Vec<Frame> = Vec::new();
    let mut start = frames[0].dts();
    for f in frames {
        if f.is_keyframe() && f.dts() - start >= i64::from(TIMESCALE) && !cur.is_empty() {
            out.push((std::mem::take(&mut cur), f.dts()));
            start = f.dts();
        }
        cur.push(f.clone());
    }
    // The last video frame lasts one frame (25 fps).
    let last_video = cur.iter().rev().find(|f| matches!(f, Frame::Video(_)));
    let end = last_video.unwrap().dts() + i64::from(TIMESCALE) / 25;
    out.push((cur, end));
    out
}

fn shifted(frames: &[Frame], by: i64) -> Vec<Frame> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Video(v) => {
                let mut v = v.clone();
                v.dts += by;
                Frame::Video(v)
            }
            Frame::Audio(a) => {
                let mut a = a.clone();
                a.dts += by;
                Frame::Audio(a)
            }
        })
        .collect()
}

fn segments(writer: &mut FragmentWriter, groups: &[(Vec<Frame>, i64)]) -> Vec<Bytes> {
    groups
        .iter()
        .map(|(g, end)| Bytes::from(writer.write(g, *end).unwrap().chunks.concat()))
        .collect()
}

fn write_file(dir: &Path, name: &str, e: &Export) -> PathBuf {
    let mut file = e.header.to_vec();
    for p in &e.payload {
        file.extend_from_slice(p);
    }
    assert_eq!(file.len() as u64, e.len);
    let path = dir.join(name);
    std::fs::write(&path, &file).unwrap();
    path
}

fn ffprobe(path: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
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

struct Probe {
    format: String,
    duration: f64,
    video: (String, i64, i64, usize),
    audio: (String, usize),
}

fn probe(path: &Path) -> Probe {
    let p = ffprobe(
        path,
        &[
            "-count_packets",
            "-show_entries",
            "format=format_name,duration:stream=codec_name,codec_type,width,height,nb_read_packets",
        ],
    );
    let stream = |kind: &str| {
        p["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} stream"))
            .clone()
    };
    let packets = |s: &serde_json::Value| -> usize {
        s["nb_read_packets"].as_str().unwrap().parse().unwrap()
    };
    let v = stream("video");
    let a = stream("audio");
    Probe {
        format: p["format"]["format_name"].as_str().unwrap().to_string(),
        duration: p["format"]["duration"].as_str().unwrap().parse().unwrap(),
        video: (
            v["codec_name"].as_str().unwrap().to_string(),
            v["width"].as_i64().unwrap(),
            v["height"].as_i64().unwrap(),
            packets(&v),
        ),
        audio: (a["codec_name"].as_str().unwrap().to_string(), packets(&a)),
    }
}

fn decode_clean(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
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

/// Top-level box types of a file, after the strict box parser checked every box in it.
fn top_level(file: &[u8]) -> Vec<String> {
    onair_conformance::mp4::check(file).unwrap_or_else(|e| panic!("strict MP4 check: {e}"))
}

/// Every payload is a slice of one of the segments (no copy).
fn assert_zero_copy(e: &Export, segs: &[Bytes]) {
    for p in &e.payload {
        let (start, end) = (p.as_ptr() as usize, p.as_ptr() as usize + p.len());
        assert!(
            segs.iter().any(|s| {
                let b = s.as_ptr() as usize;
                start >= b && end <= b + s.len()
            }),
            "payload copied"
        );
    }
}

fn counts(frames: &[Frame]) -> (usize, usize) {
    let v = frames
        .iter()
        .filter(|f| matches!(f, Frame::Video(_)))
        .count();
    (v, frames.len() - v)
}

#[test]
fn fixture_exports_to_a_faststart_mp4_that_ffmpeg_reads() {
    let (tracks, frames) = load();
    let (nv, na) = counts(&frames);
    assert_eq!(nv, 200);
    let init = init_segment(&tracks).unwrap();
    let mut w = FragmentWriter::new(&tracks).unwrap();
    let groups = one_second_groups(&frames);
    assert!((7..=9).contains(&groups.len()), "{} groups", groups.len());
    let segs = segments(&mut w, &groups);
    let e = export(&init, &segs).unwrap();
    assert_zero_copy(&e, &segs);
    // A recording whose init segment was stored before the `esds` fix exports to a file the
    // strict parser accepts (the descriptor sizes keep their old 4-byte form).
    let old = Bytes::from(std::fs::read(fixture("init_esds_before_fix.mp4")).unwrap());
    let from_old = export(&old, &segs).unwrap();
    let mut old_file = from_old.header.to_vec();
    from_old
        .payload
        .iter()
        .for_each(|p| old_file.extend_from_slice(p));
    assert_eq!(top_level(&old_file), ["ftyp", "moov", "mdat"]);
    // One chunk per track per fragment, each contiguous: at most two slices a fragment.
    assert!(e.payload.len() <= 2 * segs.len(), "{}", e.payload.len());

    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "out.mp4", &e);
    let file = std::fs::read(&path).unwrap();
    assert_eq!(top_level(&file), ["ftyp", "moov", "mdat"], "faststart");
    assert_eq!(&file[8..12], b"isom");

    let p = probe(&path);
    assert!(p.format.contains("mp4"), "{}", p.format);
    assert_eq!(p.video, ("h264".to_string(), 320, 240, 200));
    assert_eq!(p.audio, ("aac".to_string(), na));
    assert!((p.duration - 8.0).abs() <= 0.1, "duration {}", p.duration);
    decode_clean(&path);

    // Keyframes are marked: one every 25 frames.
    let k = ffprobe(
        &path,
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "packet=flags",
            "-show_packets",
        ],
    );
    let keys = k["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["flags"].as_str().unwrap().starts_with('K'))
        .count();
    assert_eq!(keys, 8);
}

#[test]
fn export_64bit_layout_is_read_back() {
    let (tracks, frames) = load();
    let init = init_segment(&tracks).unwrap();
    let mut w = FragmentWriter::new(&tracks).unwrap();
    let segs = segments(&mut w, &one_second_groups(&frames));
    let e = export_64bit(&init, &segs).unwrap();
    let small = export(&init, &segs).unwrap();
    assert!(e.header.windows(4).any(|w| w == b"co64"));
    assert!(!small.header.windows(4).any(|w| w == b"co64"));
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "out64.mp4", &e);
    let file = std::fs::read(&path).unwrap();
    assert_eq!(top_level(&file), ["ftyp", "moov", "mdat"]);
    let mdat = e.header.len() - 16;
    assert_eq!(&file[mdat..mdat + 8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
    let p = probe(&path);
    assert_eq!(p.video.3, 200);
    assert!((p.duration - 8.0).abs() <= 0.1, "duration {}", p.duration);
    decode_clean(&path);
}

#[test]
fn recording_with_a_gap_plays_continuously_for_its_whole_length() {
    const GAP: i64 = 2 * TIMESCALE as i64;
    let (tracks, frames) = load();
    let (nv, na) = counts(&frames);
    // A publisher reconnect: the second half arrives 2 s later than it would have.
    let split = frames
        .iter()
        .position(|f| f.is_keyframe() && f.dts() >= 4 * i64::from(TIMESCALE))
        .unwrap();
    let (first, second) = frames.split_at(split);
    let second = shifted(second, GAP);
    let mut groups = one_second_groups(first);
    // The first half ends where the second would have started without the gap.
    groups.last_mut().unwrap().1 = second[0].dts() - GAP;
    groups.extend(one_second_groups(&second));
    let init = init_segment(&tracks).unwrap();
    let mut w = FragmentWriter::new(&tracks).unwrap();
    let segs = segments(&mut w, &groups);
    let e = export(&init, &segs).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "gap.mp4", &e);
    let p = probe(&path);
    assert_eq!(p.video.3, nv);
    assert_eq!(p.audio.1, na);
    assert!((p.duration - 10.0).abs() <= 0.1, "duration {}", p.duration);
    decode_clean(&path);

    // Continuous: each stream's decode timeline runs from its first packet to ~10 s, with
    // exactly one step of ~2 s (the sample before the gap, lengthened) and no other hole.
    for stream in ["v", "a"] {
        let k = ffprobe(
            &path,
            &[
                "-select_streams",
                stream,
                "-show_entries",
                "packet=dts_time,duration_time",
                "-show_packets",
            ],
        );
        let packets = k["packets"].as_array().unwrap();
        let num =
            |p: &serde_json::Value, k: &str| -> f64 { p[k].as_str().unwrap().parse().unwrap() };
        let dts: Vec<f64> = packets.iter().map(|p| num(p, "dts_time")).collect();
        let last = packets.last().unwrap();
        let span = dts[dts.len() - 1] + num(last, "duration_time") - dts[0];
        assert!((span - 10.0).abs() <= 0.1, "{stream}: {span} s");
        let steps: Vec<f64> = dts.windows(2).map(|w| w[1] - w[0]).collect();
        let long = steps.iter().filter(|&&d| d > 0.05).count();
        assert_eq!(long, 1, "{stream}: one long sample");
        let longest = steps.iter().copied().fold(0.0, f64::max);
        assert!((2.0..2.1).contains(&longest), "{stream}: {longest} s");
        if stream == "a" {
            // ffmpeg reports audio durations from stts: the long one closes the gap exactly.
            for (pair, step) in packets.windows(2).zip(&steps) {
                assert!((num(&pair[0], "duration_time") - step).abs() < 0.001);
            }
        }
    }
}

/// Splits a file into its top-level boxes.
fn boxes(file: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= file.len() {
        let size = u32::from_be_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(file.slice(pos..pos + size));
        pos += size;
    }
    out
}

/// Fragments written by another muxer (ffmpeg: tfhd default duration/size/flags,
/// first_sample_flags, two track fragments per moof, an mfra at the end) export too.
#[test]
fn ffmpeg_fragmented_mp4_exports() {
    let (_, frames) = load();
    let (nv, na) = counts(&frames);
    let dir = tempfile::tempdir().unwrap();
    let frag = dir.path().join("frag.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(fixture("live_h264_aac.flv"))
        .args(["-c", "copy", "-f", "mp4", "-movflags"])
        .args(["+frag_keyframe+empty_moov+default_base_moof"])
        .args(["-frag_duration", "1000000"])
        .arg(&frag)
        .status()
        .unwrap();
    assert!(status.success());
    let file = Bytes::from(std::fs::read(&frag).unwrap());
    let top = boxes(&file);
    assert_eq!((&top[0][4..8], &top[1][4..8]), (&b"ftyp"[..], &b"moov"[..]));
    let init = Bytes::from([top[0].clone(), top[1].clone()].concat());
    // Each segment: a moof and its mdat (and whatever follows, kept with the last).
    let mut segs: Vec<Bytes> = Vec::new();
    let mut cur: Vec<Bytes> = Vec::new();
    for b in &top[2..] {
        if &b[4..8] == b"moof" && !cur.is_empty() {
            segs.push(Bytes::from(std::mem::take(&mut cur).concat()));
        }
        cur.push(b.clone());
    }
    segs.push(Bytes::from(cur.concat()));
    assert!(segs.len() >= 8, "{} segments", segs.len());
    let e = export(&init, &segs).unwrap();
    assert_zero_copy(&e, &segs);
    let path = write_file(dir.path(), "ff.mp4", &e);
    assert_eq!(
        top_level(&std::fs::read(&path).unwrap()),
        ["ftyp", "moov", "mdat"]
    );
    let p = probe(&path);
    assert_eq!(p.video, ("h264".to_string(), 320, 240, nv));
    assert_eq!(p.audio, ("aac".to_string(), na));
    assert!((p.duration - 8.0).abs() <= 0.1, "duration {}", p.duration);
    decode_clean(&path);
}
