//! Parsing FLV audio/video tag bodies (legacy and Enhanced RTMP).

use bytes::Bytes;

use super::FlvError;
use crate::codec::{AvcConfig, HevcConfig, VideoConfig};

/// Video codecs a tag can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Avc,
    Hevc,
    Av1,
    Vp9,
}

/// A parsed video tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// Decoder configuration record (avcC / hvcC / av1C ...).
    SequenceHeader {
        codec: VideoCodec,
        record: Bytes,
    },
    /// A coded frame: length-prefixed NAL units for AVC/HEVC (zero-copy slice of the body).
    Frame {
        codec: VideoCodec,
        keyframe: bool,
        cts_ms: i32,
        data: Bytes,
    },
    EndOfSequence {
        codec: VideoCodec,
    },
    /// Command frames, metadata packets and other things without pictures.
    Ignored,
}

/// A parsed audio tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    AacSequenceHeader {
        asc: Bytes,
    },
    AacRaw {
        data: Bytes,
    },
    /// Another SoundFormat (MP3, G.711, ...), not packaged.
    Other {
        sound_format: u8,
    },
}

const FRAME_KEY: u8 = 1;
const FRAME_COMMAND: u8 = 5;

fn si24(b: &[u8]) -> i32 {
    let v = (i32::from(b[0]) << 16) | (i32::from(b[1]) << 8) | i32::from(b[2]);
    (v << 8) >> 8
}

fn fourcc_codec(f: [u8; 4]) -> Result<VideoCodec, FlvError> {
    match &f {
        b"avc1" => Ok(VideoCodec::Avc),
        b"hvc1" => Ok(VideoCodec::Hevc),
        b"av01" => Ok(VideoCodec::Av1),
        b"vp09" => Ok(VideoCodec::Vp9),
        _ => Err(FlvError::UnsupportedFourCc(f)),
    }
}

/// Parses the body of an FLV video tag / RTMP video message.
pub fn parse_video_tag(body: Bytes) -> Result<VideoTag, FlvError> {
    let b0 = *body.first().ok_or(FlvError::Truncated("video tag"))?;
    if b0 & 0x80 != 0 {
        // Enhanced RTMP: [IsExHeader:1][FrameType:3][PacketType:4][FourCC:32]
        let frame_type = (b0 >> 4) & 0x07;
        let packet_type = b0 & 0x0F;
        let f = body
            .get(1..5)
            .ok_or(FlvError::Truncated("ExVideoTagHeader"))?;
        let fourcc = [f[0], f[1], f[2], f[3]];
        if frame_type == FRAME_COMMAND {
            return Ok(VideoTag::Ignored);
        }
        // Multitrack (6) and ModEx (7) packets are not taken apart.
        if matches!(packet_type, 4 | 6 | 7) {
            return Ok(VideoTag::Ignored);
        }
        let codec = fourcc_codec(fourcc)?;
        let keyframe = frame_type == FRAME_KEY;
        return match packet_type {
            0 => Ok(VideoTag::SequenceHeader {
                codec,
                record: body.slice(5..),
            }),
            1 => {
                let with_cts = matches!(codec, VideoCodec::Avc | VideoCodec::Hevc);
                if with_cts {
                    let c = body
                        .get(5..8)
                        .ok_or(FlvError::Truncated("composition time"))?;
                    Ok(VideoTag::Frame {
                        codec,
                        keyframe,
                        cts_ms: si24(c),
                        data: body.slice(8..),
                    })
                } else {
                    Ok(VideoTag::Frame {
                        codec,
                        keyframe,
                        cts_ms: 0,
                        data: body.slice(5..),
                    })
                }
            }
            2 => Ok(VideoTag::EndOfSequence { codec }),
            3 => Ok(VideoTag::Frame {
                codec,
                keyframe,
                cts_ms: 0,
                data: body.slice(5..),
            }),
            _ => Ok(VideoTag::Ignored),
        };
    }
    let frame_type = b0 >> 4;
    let codec = match b0 & 0x0F {
        7 => VideoCodec::Avc,
        // HEVC under codec id 12: the pre-Enhanced-RTMP extension used by older OBS/SRS forks.
        12 => VideoCodec::Hevc,
        other => return Err(FlvError::UnsupportedVideoCodec(other)),
    };
    if frame_type == FRAME_COMMAND {
        return Ok(VideoTag::Ignored);
    }
    let h = body
        .get(1..5)
        .ok_or(FlvError::Truncated("AVCVIDEOPACKET header"))?;
    match h[0] {
        0 => Ok(VideoTag::SequenceHeader {
            codec,
            record: body.slice(5..),
        }),
        1 => Ok(VideoTag::Frame {
            codec,
            keyframe: frame_type == FRAME_KEY,
            cts_ms: si24(&h[1..4]),
            data: body.slice(5..),
        }),
        2 => Ok(VideoTag::EndOfSequence { codec }),
        _ => Ok(VideoTag::Ignored),
    }
}

/// Parses the body of an FLV audio tag / RTMP audio message.
pub fn parse_audio_tag(body: Bytes) -> Result<AudioTag, FlvError> {
    let b0 = *body.first().ok_or(FlvError::Truncated("audio tag"))?;
    let sound_format = b0 >> 4;
    match sound_format {
        10 => {
            let t = *body.get(1).ok_or(FlvError::Truncated("AACPacketType"))?;
            Ok(if t == 0 {
                AudioTag::AacSequenceHeader {
                    asc: body.slice(2..),
                }
            } else {
                AudioTag::AacRaw {
                    data: body.slice(2..),
                }
            })
        }
        // Enhanced RTMP v2 ExAudioTagHeader: [9:4][AudioPacketType:4][FourCC:32]
        9 => {
            let f = body
                .get(1..5)
                .ok_or(FlvError::Truncated("ExAudioTagHeader"))?;
            if f != b"mp4a" {
                return Ok(AudioTag::Other { sound_format });
            }
            Ok(match b0 & 0x0F {
                0 => AudioTag::AacSequenceHeader {
                    asc: body.slice(5..),
                },
                1 => AudioTag::AacRaw {
                    data: body.slice(5..),
                },
                _ => AudioTag::Other { sound_format },
            })
        }
        _ => Ok(AudioTag::Other { sound_format }),
    }
}

/// Builds the video configuration from a sequence header.
pub fn video_config_from(codec: VideoCodec, record: Bytes) -> Result<VideoConfig, FlvError> {
    match codec {
        VideoCodec::Avc => Ok(VideoConfig::Avc(AvcConfig::parse(record)?)),
        VideoCodec::Hevc => Ok(VideoConfig::Hevc(HevcConfig::parse(record)?)),
        VideoCodec::Av1 => Err(FlvError::UnsupportedFourCc(*b"av01")),
        VideoCodec::Vp9 => Err(FlvError::UnsupportedFourCc(*b"vp09")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(v: &[u8]) -> Bytes {
        Bytes::copy_from_slice(v)
    }

    #[test]
    fn legacy_avc_tags() {
        let seq = parse_video_tag(b(&[0x17, 0, 0, 0, 0, 1, 2, 3])).unwrap();
        assert_eq!(
            seq,
            VideoTag::SequenceHeader {
                codec: VideoCodec::Avc,
                record: b(&[1, 2, 3])
            }
        );
        // Inter frame with a negative composition time (SI24 -2).
        let f = parse_video_tag(b(&[0x27, 1, 0xFF, 0xFF, 0xFE, 9, 9])).unwrap();
        assert_eq!(
            f,
            VideoTag::Frame {
                codec: VideoCodec::Avc,
                keyframe: false,
                cts_ms: -2,
                data: b(&[9, 9])
            }
        );
        assert_eq!(
            parse_video_tag(b(&[0x17, 2, 0, 0, 0])).unwrap(),
            VideoTag::EndOfSequence {
                codec: VideoCodec::Avc
            }
        );
        // Command frame (FrameType 5) carries no picture.
        assert_eq!(parse_video_tag(b(&[0x57, 0])).unwrap(), VideoTag::Ignored);
        // HEVC under the legacy codec id 12.
        let h = parse_video_tag(b(&[0x1C, 1, 0, 0, 40, 7])).unwrap();
        assert_eq!(
            h,
            VideoTag::Frame {
                codec: VideoCodec::Hevc,
                keyframe: true,
                cts_ms: 40,
                data: b(&[7])
            }
        );
        assert_eq!(
            parse_video_tag(b(&[0x12, 0])),
            Err(FlvError::UnsupportedVideoCodec(2))
        );
        assert_eq!(
            parse_video_tag(b(&[0x17, 1])),
            Err(FlvError::Truncated("AVCVIDEOPACKET header"))
        );
    }

    #[test]
    fn enhanced_rtmp_video_tags() {
        // [IsExHeader=1][FrameType=1][PacketType=0 SequenceStart] "hvc1" record
        let seq = parse_video_tag(b(&[0x90, b'h', b'v', b'c', b'1', 0xAA])).unwrap();
        assert_eq!(
            seq,
            VideoTag::SequenceHeader {
                codec: VideoCodec::Hevc,
                record: b(&[0xAA])
            }
        );
        // CodedFrames (1) has SI24 composition time.
        let f = parse_video_tag(b(&[0xA1, b'h', b'v', b'c', b'1', 0, 0, 80, 5])).unwrap();
        assert_eq!(
            f,
            VideoTag::Frame {
                codec: VideoCodec::Hevc,
                keyframe: false,
                cts_ms: 80,
                data: b(&[5])
            }
        );
        // CodedFramesX (3): composition time is zero and absent.
        let x = parse_video_tag(b(&[0x93, b'a', b'v', b'c', b'1', 5, 6])).unwrap();
        assert_eq!(
            x,
            VideoTag::Frame {
                codec: VideoCodec::Avc,
                keyframe: true,
                cts_ms: 0,
                data: b(&[5, 6])
            }
        );
        // AV1 coded frames have no composition time field.
        let a = parse_video_tag(b(&[0x91, b'a', b'v', b'0', b'1', 7])).unwrap();
        assert_eq!(
            a,
            VideoTag::Frame {
                codec: VideoCodec::Av1,
                keyframe: true,
                cts_ms: 0,
                data: b(&[7])
            }
        );
        assert_eq!(
            parse_video_tag(b(&[0x92, b'h', b'v', b'c', b'1'])).unwrap(),
            VideoTag::EndOfSequence {
                codec: VideoCodec::Hevc
            }
        );
        // Metadata (4), multitrack (6) and command frames are skipped.
        assert_eq!(
            parse_video_tag(b(&[0x94, b'h', b'v', b'c', b'1', 2])).unwrap(),
            VideoTag::Ignored
        );
        assert_eq!(
            parse_video_tag(b(&[0xD1, b'h', b'v', b'c', b'1'])).unwrap(),
            VideoTag::Ignored
        );
        assert_eq!(
            parse_video_tag(b(&[0x91, b'x', b'y', b'z', b'w'])),
            Err(FlvError::UnsupportedFourCc(*b"xyzw"))
        );
        assert!(video_config_from(VideoCodec::Av1, Bytes::new()).is_err());
    }

    #[test]
    fn audio_tags() {
        assert_eq!(
            parse_audio_tag(b(&[0xAF, 0, 0x12, 0x10])).unwrap(),
            AudioTag::AacSequenceHeader {
                asc: b(&[0x12, 0x10])
            }
        );
        assert_eq!(
            parse_audio_tag(b(&[0xAF, 1, 9])).unwrap(),
            AudioTag::AacRaw { data: b(&[9]) }
        );
        assert_eq!(
            parse_audio_tag(b(&[0x2F, 1])).unwrap(),
            AudioTag::Other { sound_format: 2 }
        );
        // Enhanced RTMP v2 ExAudioTagHeader with FourCC mp4a.
        assert_eq!(
            parse_audio_tag(b(&[0x90, b'm', b'p', b'4', b'a', 0x12, 0x10])).unwrap(),
            AudioTag::AacSequenceHeader {
                asc: b(&[0x12, 0x10])
            }
        );
        assert_eq!(
            parse_audio_tag(b(&[0x91, b'm', b'p', b'4', b'a', 3])).unwrap(),
            AudioTag::AacRaw { data: b(&[3]) }
        );
        assert_eq!(
            parse_audio_tag(b(&[0x91, b'O', b'p', b'u', b's', 3])).unwrap(),
            AudioTag::Other { sound_format: 9 }
        );
        assert!(parse_audio_tag(Bytes::new()).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_tags_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let body = Bytes::from(data);
            if let Ok(VideoTag::SequenceHeader { codec, record }) = parse_video_tag(body.clone()) {
                let _ = video_config_from(codec, record);
            }
            let _ = parse_audio_tag(body.clone());
            let _ = crate::flv::demux(body);
        }
    }
}
