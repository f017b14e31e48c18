//! HEVC end to end. Debian's ffmpeg 5.1 cannot put HEVC into FLV, so our own RTMP client
//! publishes an ffmpeg-encoded HEVC stream as Enhanced RTMP (`hvc1`) tags; ffprobe and ffmpeg
//! read back the LL-HLS (CMAF `hvc1`) and MPEG-TS outputs.

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_over_enhanced_rtmp_plays_back_as_llhls_and_ts() {
    let node = TestNode::start().await;
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

    let addr = node.server.as_ref().unwrap().rtmp_addr;
    let (mut sock, mut c) = common::net::rtmp_publish(addr, "hevc").await;
    let mut seq = BytesMut::new();
    seq.put_slice(&[0x90, b'h', b'v', b'c', b'1']);
    seq.put_slice(&record);
    c.send_video(0, seq.freeze());
    for (i, au) in aus.iter().enumerate() {
        let key = au.iter().any(|n| (16..=23).contains(&nal_type(n)));
        let mut tag = BytesMut::new();
        // ExVideoTagHeader: CodedFramesX (no composition time), FrameType 1 key / 2 inter.
        tag.put_u8(0x80 | if key { 0x10 } else { 0x20 } | 3);
        tag.put_slice(b"hvc1");
        for n in au {
            tag.put_u32(n.len() as u32);
            tag.put_slice(n);
        }
        c.send_video(i as u32 * 40, tag.freeze());
        common::net::flush(&mut sock, &mut c).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    c.unpublish();
    common::net::flush(&mut sock, &mut c).await;

    let llhls = node.url("/live/hevc/llhls.m3u8");
    wait_endlist(&llhls, Duration::from_secs(10)).await;
    let (_, mv) = get_text(&node.url("/live/hevc/index.m3u8")).await;
    assert!(mv.contains("CODECS=\"hvc1.1.6.L"), "{mv}");
    assert!(mv.contains("RESOLUTION=320x240"), "{mv}");
    for path in ["/live/hevc/index.m3u8", "/live/hevc/ts/index.m3u8"] {
        let url = node.url(path);
        let u = url.clone();
        let probe = tokio::task::spawn_blocking(move || ffprobe(&u, Duration::from_secs(60)))
            .await
            .unwrap();
        let v = probe
            .stream("video")
            .unwrap_or_else(|| panic!("{path}: {probe:?}"));
        assert_eq!(v.codec_name, "hevc", "{path}");
        assert_eq!((v.width, v.height), (Some(320), Some(240)), "{path}");
        assert_eq!(v.packets, 100, "{path}");
        let (ok, err) =
            tokio::task::spawn_blocking(move || ffmpeg_decode(&url, Duration::from_secs(60)))
                .await
                .unwrap();
        assert!(ok, "{path}: {err}");
    }
    node.stop().await;
}
