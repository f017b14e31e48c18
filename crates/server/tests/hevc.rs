//! HEVC + AAC end to end. Debian's ffmpeg 5.1 cannot put HEVC into FLV, so our own RTMP client
//! publishes an ffmpeg-encoded HEVC stream as Enhanced RTMP (`hvc1`) tags with the AAC of the
//! H.264 fixture; ffprobe and ffmpeg read back the LL-HLS (CMAF `hvc1`) and MPEG-TS outputs,
//! the strict parsers check every object, and GStreamer plays them live and to the end, with
//! the time-shift playlist, the recording's VOD and its MP4 download (issue #11).

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::api::{channel_with_device, complete_recording, user};
use common::strict::{
    check_fmp4_playlist, check_recording, check_ts_playlist, gst_plays_live, gst_plays_to_end,
};
use common::*;
use onair_server::db::users::Role;

/// Splits an Annex B stream into NAL units.
fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut e = starts.get(k + 1).map(|n| n - 3).unwrap_or(data.len());
        while e > s && data[e - 1] == 0 {
            e -= 1;
        }
        out.push(&data[s..e]);
    }
    out
}

fn nal_type(n: &[u8]) -> u8 {
    (n[0] >> 1) & 0x3F
}

fn rbsp(n: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut zeros = 0;
    for &b in n {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// An HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) for 8-bit 4:2:0 with the
/// profile/tier/level copied from the SPS.
fn hvcc(vps: &[u8], sps: &[u8], pps: &[u8]) -> Bytes {
    let r = rbsp(&sps[2..]);
    let ptl = &r[1..13];
    let mut b = BytesMut::new();
    b.put_u8(1);
    b.put_slice(ptl);
    b.put_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0x00, 0x00]);
    b.put_u8(0x08 | 0x04 | 0x03); // 1 temporal layer, nested, 4-byte lengths
    b.put_u8(3);
    for (t, n) in [(32u8, vps), (33, sps), (34, pps)] {
        b.put_u8(0x80 | t);
        b.put_u16(1);
        b.put_u16(n.len() as u16);
        b.put_slice(n);
    }
    b.freeze()
}

/// One message the publisher sends: its timestamp (ms) and the FLV tag body.
enum Tag {
    Video(u32, Bytes),
    Audio(u32, Bytes),
}

/// 8 s of HEVC (the 4 s fixture twice, timestamps running on) and the AAC of the H.264
/// fixture, in timestamp order.
fn hevc_aac_tags() -> (Bytes, Vec<Tag>) {
    let data = std::fs::read(fixture("hevc_aud.h265")).unwrap();
    let nals = nal_units(&data);
    let find = |t: u8| *nals.iter().find(|n| nal_type(n) == t).unwrap();
    let record = hvcc(find(32), find(33), find(34));
    // Access units start at each delimiter (type 35).
    let mut aus: Vec<Vec<&[u8]>> = Vec::new();
    for n in &nals {
        if nal_type(n) == 35 {
            aus.push(Vec::new());
        } else if let Some(au) = aus.last_mut()
            && !(32..=34).contains(&nal_type(n))
        {
            au.push(n);
        }
    }
    assert_eq!(aus.len(), 100);
    let mut tags = Vec::new();
    for (i, au) in aus.iter().chain(aus.iter()).enumerate() {
        let key = au.iter().any(|n| (16..=23).contains(&nal_type(n)));
        let mut tag = BytesMut::new();
        // ExVideoTagHeader: CodedFramesX (no composition time), FrameType 1 key / 2 inter.
        tag.put_u8(0x80 | if key { 0x10 } else { 0x20 } | 3);
        tag.put_slice(b"hvc1");
        for n in au {
            tag.put_u32(n.len() as u32);
            tag.put_slice(n);
        }
        tags.push(Tag::Video(i as u32 * 40, tag.freeze()));
    }
    let flv = Bytes::from(std::fs::read(fixture(LIVE_FIXTURE)).unwrap());
    let mut reader = onair_media::flv::FlvReader::new(flv).unwrap();
    while let Some(t) = reader.next_tag().unwrap() {
        if t.tag_type == 8 && t.timestamp_ms < 8_000 {
            tags.push(Tag::Audio(t.timestamp_ms, t.body));
        }
    }
    // In timestamp order, video first at equal times: the AAC sequence header comes after the
    // first video frame and there is no onMetaData, as from some hardware encoders. The node
    // holds the start back briefly so both tracks are in the first init segment.
    tags.sort_by_key(|t| match t {
        Tag::Video(ms, _) | Tag::Audio(ms, _) => *ms,
    });
    (record, tags)
}

/// Frames in the HEVC stream.
const HEVC_FRAMES: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_aac_over_enhanced_rtmp_conforms_and_plays_everywhere() {
    let node = TestNode::start_with(keyed).await;
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (channel_id, _, key) = channel_with_device(&owner, "hevc").await;
    let (record, tags) = hevc_aac_tags();

    let addr = node.server.as_ref().unwrap().rtmp_addr;
    let publisher = tokio::spawn(async move {
        let (mut sock, mut c) = common::net::rtmp_publish(addr, &key).await;
        let mut seq = BytesMut::new();
        seq.put_slice(&[0x90, b'h', b'v', b'c', b'1']);
        seq.put_slice(&record);
        c.send_video(0, seq.freeze());
        let start = tokio::time::Instant::now();
        for tag in tags {
            let ms = match &tag {
                Tag::Video(ms, body) => {
                    c.send_video(*ms, body.clone());
                    *ms
                }
                Tag::Audio(ms, body) => {
                    c.send_audio(*ms, body.clone());
                    *ms
                }
            };
            common::net::flush(&mut sock, &mut c).await;
            // In real time, so the stream is live while GStreamer follows it.
            tokio::time::sleep_until(start + Duration::from_millis(u64::from(ms))).await;
        }
        c.unpublish();
        common::net::flush(&mut sock, &mut c).await;
        sock
    });

    // Live: GStreamer follows both playlists once they hold three segments.
    let (llhls, ts) = (
        node.url("/live/hevc/index.m3u8"),
        node.url("/live/hevc/ts/index.m3u8"),
    );
    for p in ["/live/hevc/llhls.m3u8", "/live/hevc/ts/index.m3u8"] {
        let url = node.url(p);
        eventually(Duration::from_secs(20), "three segments", async || {
            let (status, text) = get_text(&url).await;
            (status == 200 && playlist::parse(&text).segments.len() >= 3).then_some(())
        })
        .await;
    }
    let (a, b) = tokio::join!(gst_plays_live(&llhls, 3), gst_plays_live(&ts, 3));
    for (name, p) in [("LL-HLS", &a), ("TS", &b)] {
        assert!(
            p.video_buffers >= 25 && p.audio_buffers >= 25,
            "{name} live: {p:?}"
        );
    }
    let _sock = publisher.await.unwrap();
    let (_, media) = get_text(&node.url("/live/hevc/llhls.m3u8")).await;
    assert_eq!(
        media.matches("#EXT-X-MAP").count(),
        1,
        "one init segment: {media}"
    );

    let llhls_media = node.url("/live/hevc/llhls.m3u8");
    wait_endlist(&llhls_media, Duration::from_secs(10)).await;
    let (_, mv) = get_text(&llhls).await;
    assert!(mv.contains("CODECS=\"hvc1.1.6.L"), "{mv}");
    assert!(mv.contains(",mp4a.40.2\""), "{mv}");
    assert!(mv.contains("RESOLUTION=320x240"), "{mv}");

    // ffprobe and ffmpeg read both flavours, every frame.
    for url in [&llhls, &ts] {
        let u = url.clone();
        let probe = tokio::task::spawn_blocking(move || ffprobe(&u, Duration::from_secs(60)))
            .await
            .unwrap();
        let v = probe
            .stream("video")
            .unwrap_or_else(|| panic!("{url}: {probe:?}"));
        assert_eq!(v.codec_name, "hevc", "{url}");
        assert_eq!((v.width, v.height), (Some(320), Some(240)), "{url}");
        assert_eq!(v.packets, HEVC_FRAMES as i64, "{url}");
        assert_eq!(
            probe.stream("audio").map(|a| a.codec_name.as_str()),
            Some("aac")
        );
        let u = url.clone();
        let (ok, err) =
            tokio::task::spawn_blocking(move || ffmpeg_decode(&u, Duration::from_secs(60)))
                .await
                .unwrap();
        assert!(ok, "{url}: {err}");
    }

    // The strict parsers, and GStreamer to the end of every flavour.
    check_fmp4_playlist(&llhls_media).await;
    let report = check_ts_playlist(&ts).await;
    assert_eq!(
        report.stream_types.get(&onair_media::ts::VIDEO_PID),
        Some(&0x24)
    );
    for url in [&llhls, &ts, &node.url("/live/hevc/dvr.m3u8")] {
        let p = gst_plays_to_end(url).await;
        assert_eq!(p.video_buffers, HEVC_FRAMES, "{url}: {p:?}");
        assert!(p.audio_buffers > 300, "{url}: {p:?}");
    }

    // The recording, as VOD and as one MP4.
    let rec = complete_recording(&owner, &channel_id).await;
    let id = rec["id"].as_str().unwrap();
    let (_, mp4) = check_recording(&node, &owner, id, HEVC_FRAMES).await;
    assert!(mp4.audio_buffers > 300, "MP4: {mp4:?}");
    node.stop().await;
}
