//! Strict oracles for every container OnAir writes, used by the test suites only.
//!
//! ffprobe, Chromium and hls.js are lenient readers: they play files that stricter players
//! (GStreamer, set-top boxes) refuse. The checks here use parsers OnAir did not write:
//!
//! * [`mp4`]: every ISO BMFF box (ISO/IEC 14496-12:2022, 14496-14:2020, 14496-15:2022) is
//!   decoded by the `mp4-atom` crate in its strict mode — a box whose body is not consumed
//!   exactly, one that reads past its declared size, or a child box where none belongs, is an
//!   error — and survives an encode/decode round trip unchanged.
//! * [`ts`]: MPEG-2 transport streams (ISO/IEC 13818-1:2019) are split into packets, PSI and
//!   PES headers by the `mpeg2ts-reader` crate; on top, the ETSI TR 101 290 V1.4.1 §5.2.1
//!   first-priority checks (sync, PAT/PMT present and repeated within 0.5 s, continuity
//!   counters) and the PCR interval of ISO/IEC 13818-1 §2.7.2 (at most 0.1 s), plus the
//!   RFC 8216bis §3.3 rule that each segment starts with a PAT and a PMT.
//! * [`gst`]: GStreamer (`gst-launch-1.0 playbin3`) plays a URI with fake sinks and reports the
//!   buffers each sink received and every error or warning it logged.

pub mod gst;
pub mod mp4;
pub mod ts;
