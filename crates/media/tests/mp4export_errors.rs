//! Recording export: error paths on altered inputs, and no panic on mutated or truncated ones.

use bytes::Bytes;
use onair_media::flv;
use onair_media::fmp4::{FragmentWriter, init_segment};
use onair_media::mp4export::{ExportError, export};
use onair_media::{Frame, TIMESCALE, Tracks};
use proptest::prelude::*;

fn load() -> (Tracks, Vec<Frame>) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/live_h264_aac.flv");
    flv::demux(Bytes::from(std::fs::read(path).unwrap())).unwrap()
}

/// The fixture's first ~3 s as an init segment and three 1-second segments.
fn recording(tracks: &Tracks) -> (Bytes, Vec<Bytes>) {
    let (_, frames) = load();
    let init = init_segment(tracks).unwrap();
    let mut w = FragmentWriter::new(tracks).unwrap();
    let second = i64::from(TIMESCALE);
    let segs = (0..3)
        .map(|i| {
            let group: Vec<Frame> = frames
                .iter()
                .filter(|f| (i * second..(i + 1) * second).contains(&f.dts()))
                .cloned()
                .collect();
            Bytes::from(w.write(&group, (i + 1) * second).unwrap().chunks.concat())
        })
        .collect();
    (init, segs)
}

fn fixture() -> (Bytes, Vec<Bytes>) {
    recording(&load().0)
}

/// Position of the `n`th occurrence of a box type (its fourcc).
fn find(data: &[u8], fourcc: &[u8; 4], n: usize) -> usize {
    data.windows(4)
        .enumerate()
        .filter(|(_, w)| w == fourcc)
        .nth(n)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no {:?} #{n}", std::str::from_utf8(fourcc)))
}

fn patch(data: &Bytes, at: usize, bytes: &[u8]) -> Bytes {
    let mut v = data.to_vec();
    v[at..at + bytes.len()].copy_from_slice(bytes);
    Bytes::from(v)
}

#[test]
fn the_fixture_prefix_exports() {
    let (init, segs) = fixture();
    let e = export(&init, &segs).unwrap();
    let payload: u64 = e.payload.iter().map(|p| p.len() as u64).sum();
    assert_eq!(e.len, e.header.len() as u64 + payload);
}

#[test]
fn init_errors() {
    let (init, segs) = fixture();
    assert_eq!(
        export(&Bytes::from_static(b"garbage"), &segs).unwrap_err(),
        ExportError::Init("malformed box")
    );
    assert_eq!(
        export(&Bytes::new(), &segs).unwrap_err(),
        ExportError::Init("no moov")
    );
    // Not a fragmented init: mvex renamed.
    let no_mvex = patch(&init, find(&init, b"mvex", 0), b"free");
    assert_eq!(
        export(&no_mvex, &segs).unwrap_err(),
        ExportError::Init("no mvex (not fragmented)")
    );
    let text = patch(&init, find(&init, b"vide", 0), b"text");
    assert!(matches!(
        export(&text, &segs).unwrap_err(),
        ExportError::UnsupportedHandler { track_id: 1, .. }
    ));
    // Second tkhd's track_ID (after fullbox header, two times) set to 1.
    let dup = patch(
        &init,
        find(&init, b"tkhd", 1) + 4 + 4 + 8,
        &1u32.to_be_bytes(),
    );
    assert_eq!(
        export(&dup, &segs).unwrap_err(),
        ExportError::DuplicateTrack(1)
    );
    let zero_ts = patch(
        &init,
        find(&init, b"mdhd", 0) + 4 + 4 + 8,
        &0u32.to_be_bytes(),
    );
    assert_eq!(
        export(&zero_ts, &segs).unwrap_err(),
        ExportError::ZeroTimescale(1)
    );
    // trex default_sample_description_index 5: only one sample entry.
    let sdi = patch(
        &init,
        find(&init, b"trex", 0) + 4 + 4 + 4,
        &5u32.to_be_bytes(),
    );
    assert!(matches!(
        export(&sdi, &segs).unwrap_err(),
        ExportError::BadSampleDescription {
            segment: 0,
            track_id: 1,
            index: 5
        }
    ));
    let big = Bytes::from(vec![0u8; onair_media::mp4export::MAX_INIT_LEN + 1]);
    assert_eq!(export(&big, &segs).unwrap_err(), ExportError::InitTooLarge);
}

#[test]
fn segments_of_another_init_are_refused() {
    let (tracks, _) = load();
    let (_, segs) = fixture();
    let video_only = Tracks {
        video: tracks.video.clone(),
        audio: None,
    };
    let init = init_segment(&video_only).unwrap();
    assert_eq!(
        export(&init, &segs).unwrap_err(),
        ExportError::UnknownTrack {
            segment: 0,
            track_id: 2
        }
    );
}

#[test]
fn nothing_to_export() {
    let (init, _) = fixture();
    assert_eq!(export(&init, &[]).unwrap_err(), ExportError::NoSamples);
    // Segments with only unknown boxes are skipped, which leaves nothing.
    let free = Bytes::from_static(b"\0\0\0\x08free");
    assert_eq!(export(&init, &[free]).unwrap_err(), ExportError::NoSamples);
}

#[test]
fn time_going_backwards_is_an_error() {
    let (init, segs) = fixture();
    let swapped = [segs[1].clone(), segs[0].clone()];
    assert!(matches!(
        export(&init, &swapped).unwrap_err(),
        ExportError::TimeWentBackwards {
            segment: 1,
            track_id: 1,
            ..
        }
    ));
}

#[test]
fn a_gap_longer_than_a_sample_can_hold_is_an_error() {
    let (init, mut segs) = fixture();
    let at = find(&segs[1], b"tfdt", 0) + 8;
    segs[1] = patch(&segs[1], at, &(1u64 << 40).to_be_bytes());
    assert!(matches!(
        export(&init, &segs).unwrap_err(),
        ExportError::GapTooLarge {
            segment: 1,
            track_id: 1,
            ..
        }
    ));
}

#[test]
fn data_offsets_out_of_range_are_errors() {
    let (init, mut segs) = fixture();
    let good = segs[2].clone();
    let trun = find(&good, b"trun", 0);
    // data_offset far past the mdat.
    segs[2] = patch(&good, trun + 12, &0x7FFF_0000u32.to_be_bytes());
    assert_eq!(
        export(&init, &segs).unwrap_err(),
        ExportError::DataOutOfRange { segment: 2 }
    );
    // data_offset before the moof (negative).
    segs[2] = patch(&good, trun + 12, &(-100i32).to_be_bytes());
    assert_eq!(
        export(&init, &segs).unwrap_err(),
        ExportError::DataOutOfRange { segment: 2 }
    );
    // data_offset inside the moof: not in an mdat.
    segs[2] = patch(&good, trun + 12, &8u32.to_be_bytes());
    assert_eq!(
        export(&init, &segs).unwrap_err(),
        ExportError::DataOutOfRange { segment: 2 }
    );
}

#[test]
fn absurd_counts_and_truncation_are_errors() {
    let (init, mut segs) = fixture();
    let good = segs[0].clone();
    segs[0] = patch(&good, find(&good, b"trun", 0) + 8, &u32::MAX.to_be_bytes());
    assert_eq!(
        export(&init, &segs).unwrap_err(),
        ExportError::Segment {
            segment: 0,
            what: "trun sample count exceeds the box"
        }
    );
    // Cut inside the mdat: the box claims more than there is.
    segs[0] = good.slice(..good.len() - 1);
    assert_eq!(
        export(&init, &segs).unwrap_err(),
        ExportError::Segment {
            segment: 0,
            what: "malformed box"
        }
    );
    // A box size below its header.
    segs[0] = patch(&good, 0, &4u32.to_be_bytes());
    assert_eq!(
        export(&init, &segs).unwrap_err(),
        ExportError::Segment {
            segment: 0,
            what: "malformed box"
        }
    );
}

#[test]
fn sample_counts_past_max_samples_are_refused_before_allocation() {
    let (init, mut segs) = fixture();
    let good = segs[0].clone();
    // The audio trun without per-sample fields (all defaults, size 0) and 4 G samples.
    let trun = find(&good, b"trun", 1);
    let bad = patch(&good, trun + 4, &1u32.to_be_bytes());
    segs[0] = patch(&bad, trun + 8, &u32::MAX.to_be_bytes());
    assert_eq!(
        export(&init, &segs).unwrap_err(),
        ExportError::TooManySamples
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Flipped bytes and truncation anywhere in the init segment or a media segment: an error
    /// or a consistent export, never a panic.
    #[test]
    fn mutated_inputs_never_panic(
        target in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (mut init, mut segs) = fixture();
        let buf = if target == 0 { &mut init } else { &mut segs[target - 1] };
        let mut v = buf.to_vec();
        for (i, b) in flips {
            let at = i.index(v.len());
            v[at] = b;
        }
        if let Some(c) = cut {
            v.truncate(c.index(v.len()));
        }
        *buf = Bytes::from(v);
        if let Ok(e) = export(&init, &segs) {
            let payload: u64 = e.payload.iter().map(|p| p.len() as u64).sum();
            prop_assert_eq!(e.len, e.header.len() as u64 + payload);
        }
    }

    /// Arbitrary bytes as init and segment.
    #[test]
    fn random_bytes_never_panic(init in proptest::collection::vec(any::<u8>(), 0..512),
                                seg in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = export(&Bytes::from(init), &[Bytes::from(seg)]);
    }
}
