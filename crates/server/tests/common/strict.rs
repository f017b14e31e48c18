//! The strict oracles of `onair-conformance` applied to what a node serves: every MP4 object a
//! playlist names parses with the strict box parser, a TS playlist's segments pass the
//! transport stream checks in order, and GStreamer plays a URL cleanly.

use std::time::Duration;

use onair_conformance::{gst, mp4, ts};

use super::api::{Api, download_recording};
use super::playlist::{self, MediaPlaylist};
use super::{TestNode, get, get_text};

/// Resolves `uri` against the playlist at `base`.
fn resolve(base: &str, uri: &str) -> String {
    let dir = base.split('?').next().unwrap_or(base);
    let dir = dir.rsplit_once('/').map_or(dir, |(d, _)| d);
    format!("{dir}/{uri}")
}

async fn fetch(url: &str) -> bytes::Bytes {
    let res = get(url).await;
    assert_eq!(res.status(), 200, "{url}");
    res.bytes().await.unwrap()
}

async fn media_playlist(url: &str) -> MediaPlaylist {
    let (status, text) = get_text(url).await;
    assert_eq!(status, 200, "{url}: {text}");
    playlist::parse(&text)
}

/// Fetches the init segment(s), every segment and every part of the fMP4 playlist at `url`
/// and checks each with the strict box parser; returns how many objects were checked.
pub async fn check_fmp4_playlist(url: &str) -> usize {
    let p = media_playlist(url).await;
    assert!(!p.map_uris.is_empty(), "{url}: no EXT-X-MAP");
    let mut objects = Vec::new();
    for uri in &p.map_uris {
        objects.push((resolve(url, uri), vec!["ftyp", "moov"]));
    }
    for s in &p.segments {
        objects.push((resolve(url, &s.uri), vec![]));
        for part in &s.parts {
            objects.push((resolve(url, &part.uri), vec!["moof", "mdat"]));
        }
    }
    for part in &p.trailing_parts {
        objects.push((resolve(url, &part.uri), vec!["moof", "mdat"]));
    }
    assert!(objects.len() > 2, "{url}: {p:?}");
    for (object, expected) in &objects {
        let data = fetch(object).await;
        let kinds = mp4::check(&data).unwrap_or_else(|e| panic!("{object}: {e}"));
        if expected.is_empty() {
            // A segment: one or more fragments.
            assert!(
                kinds.len() >= 2 && kinds.chunks(2).all(|f| f == ["moof", "mdat"]),
                "{object}: {kinds:?}"
            );
        } else {
            assert_eq!(&kinds, expected, "{object}");
        }
    }
    objects.len()
}

/// Fetches every segment of the TS playlist at `url` and checks them in order.
pub async fn check_ts_playlist(url: &str) -> ts::TsReport {
    let p = media_playlist(url).await;
    let mut data = Vec::new();
    for s in &p.segments {
        data.push((fetch(&resolve(url, &s.uri)).await, s.discontinuity));
    }
    let segments: Vec<ts::Segment<'_>> = data
        .iter()
        .map(|(d, discontinuity)| ts::Segment {
            data: d,
            discontinuity: *discontinuity,
        })
        .collect();
    ts::check(&segments).unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// GStreamer plays `url` to its end; returns what the sinks received.
pub async fn gst_plays_to_end(url: &str) -> gst::Playback {
    gst_plays_to_end_tolerating(url, &[]).await
}

/// GStreamer plays the MP4 file at `path` to its end.
pub async fn gst_plays_mp4_file(path: &std::path::Path) -> gst::Playback {
    let url = format!("file://{}", path.display());
    gst_plays_to_end_tolerating(&url, gst::PROGRESSIVE_MP4_WARNINGS).await
}

async fn gst_plays_to_end_tolerating(
    url: &str,
    tolerated: &'static [&'static str],
) -> gst::Playback {
    let u = url.to_owned();
    let p = tokio::task::spawn_blocking(move || {
        gst::play(&u, None, Duration::from_secs(90), tolerated)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.is_clean(), "{url}: {:#?}\n{}", p.problems, tail(&p.log));
    assert!(p.eos, "{url}: no end of stream\n{}", tail(&p.log));
    p
}

/// GStreamer plays the live `url` for `secs` seconds; returns what the sinks received.
pub async fn gst_plays_live(url: &str, secs: u64) -> gst::Playback {
    let u = url.to_owned();
    let p = tokio::task::spawn_blocking(move || {
        gst::play(
            &u,
            Some(Duration::from_secs(secs)),
            Duration::from_secs(secs + 30),
            &[],
        )
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.is_clean(), "{url}: {:#?}\n{}", p.problems, tail(&p.log));
    p
}

/// Recording `id` of a stream of `frames` video frames: its VOD playlist's objects pass the
/// strict parser and GStreamer plays it to the end; its MP4 download passes the strict parser
/// and GStreamer plays it to the end. Returns (VOD playback, MP4 playback).
pub async fn check_recording(
    node: &TestNode,
    api: &Api,
    id: &str,
    frames: usize,
) -> (gst::Playback, gst::Playback) {
    let vod = node.url(&format!("/vod/{id}/index.m3u8"));
    check_fmp4_playlist(&vod).await;
    let from_vod = gst_plays_to_end(&vod).await;
    assert_eq!(from_vod.video_buffers, frames, "VOD: {from_vod:?}");

    let body = download_recording(api, id).await;
    let kinds = mp4::check(&body).unwrap_or_else(|e| panic!("MP4 download: {e}"));
    assert_eq!(kinds, ["ftyp", "moov", "mdat"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recording.mp4");
    std::fs::write(&file, &body).unwrap();
    let from_file = gst_plays_mp4_file(&file).await;
    assert_eq!(from_file.video_buffers, frames, "MP4: {from_file:?}");
    (from_vod, from_file)
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
