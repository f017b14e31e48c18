//! MPEG-2 transport stream checks over the segments of a playlist, in order.
//!
//! Packets, PAT, PMT and PES headers are parsed by `mpeg2ts-reader`; the rules are those of
//! ETSI TR 101 290 V1.4.1 §5.2.1 (priority 1), ISO/IEC 13818-1:2019 §2.7.2 (PCR interval) and
//! RFC 8216bis §3.3 (PAT and PMT at the start of every segment). Time is measured on the
//! stream's own clock (the last PCR seen), so the checks do not depend on how fast the test
//! fetched the segments.

use std::collections::HashMap;

use mpeg2ts_reader::mpegts_crc;
use mpeg2ts_reader::packet::Packet;
use mpeg2ts_reader::pes::{PesContents, PesHeader, PtsDts};
use mpeg2ts_reader::psi::pat::{PatSection, ProgramDescriptor};
use mpeg2ts_reader::psi::pmt::PmtSection;

pub const PACKET_SIZE: usize = 188;
/// 90 kHz ticks per second (PCR base, PTS, DTS).
const HZ: u64 = 90_000;
/// ISO/IEC 13818-1 §2.7.2: PCRs at most 100 ms apart.
pub const MAX_PCR_INTERVAL: u64 = HZ / 10;
/// TR 101 290 PAT_error / PMT_error: a PAT and each PMT at least every 0.5 s.
pub const MAX_TABLE_INTERVAL: u64 = HZ / 2;

/// A segment and whether the playlist puts a discontinuity before it.
pub struct Segment<'a> {
    pub data: &'a [u8],
    pub discontinuity: bool,
}

/// What a stream looked like, for further assertions.
#[derive(Debug, Default)]
pub struct TsReport {
    pub packets: usize,
    /// PES packets started, by PID.
    pub pes: HashMap<u16, usize>,
    /// Longest PCR interval, in 90 kHz ticks.
    pub max_pcr_interval: u64,
    /// Longest time without a PAT / without a PMT, in 90 kHz ticks of the PCR clock.
    pub max_pat_interval: u64,
    pub max_pmt_interval: u64,
    /// Elementary stream types of the PMT (ISO/IEC 13818-1 Table 2-34), by PID.
    pub stream_types: HashMap<u16, u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("segment {segment}, packet {packet}: {what}")]
pub struct TsError {
    pub segment: usize,
    pub packet: usize,
    pub what: String,
}

#[derive(Default)]
struct State {
    report: TsReport,
    cc: HashMap<u16, u8>,
    pmt_pid: Option<u16>,
    pcr_pid: Option<u16>,
    /// The clock: the last PCR base seen.
    last_pcr: Option<u64>,
    last_pat: Option<u64>,
    last_pmt: Option<u64>,
    /// A PAT / PMT seen before the first PCR: it counts from that PCR.
    pat_before_clock: bool,
    pmt_before_clock: bool,
}

/// Checks the segments of one playlist, in playlist order.
pub fn check(segments: &[Segment<'_>]) -> Result<TsReport, TsError> {
    let mut st = State::default();
    for (i, seg) in segments.iter().enumerate() {
        let fail = |packet: usize, what: String| TsError {
            segment: i,
            packet,
            what,
        };
        if seg.data.len() % PACKET_SIZE != 0 {
            return Err(fail(
                0,
                format!("{} bytes: not whole packets", seg.data.len()),
            ));
        }
        if seg.discontinuity {
            // A new timeline and new counters may start here (RFC 8216bis §4.4.4.3).
            st.cc.clear();
            st.last_pcr = None;
            st.last_pat = None;
            st.last_pmt = None;
        }
        for (n, raw) in seg.data.chunks(PACKET_SIZE).enumerate() {
            let Some(pkt) = Packet::try_new(raw) else {
                return Err(fail(n, "lost sync (no 0x47)".into()));
            };
            let pid = u16::from(pkt.pid());
            if n == 0 && pid != 0 {
                return Err(fail(
                    n,
                    format!("segment starts with PID {pid:#x}, not the PAT"),
                ));
            }
            if n == 1 && Some(pid) != st.pmt_pid {
                return Err(fail(
                    n,
                    format!("second packet has PID {pid:#x}, not the PMT"),
                ));
            }
            packet(&mut st, &pkt, pid).map_err(|what| fail(n, what))?;
        }
    }
    Ok(st.report)
}

fn packet(st: &mut State, pkt: &Packet<'_>, pid: u16) -> Result<(), String> {
    st.report.packets += 1;
    if pkt.transport_error_indicator() {
        return Err("transport_error_indicator set".into());
    }
    // Continuity: +1 per packet with payload; unchanged for adaptation-only packets (§2.4.3.3).
    let cc = pkt.continuity_counter().count();
    let has_payload = pkt.adaptation_control().has_payload();
    let discontinuity = pkt
        .adaptation_field()
        .is_some_and(|af| af.discontinuity_indicator());
    if let Some(&prev) = st.cc.get(&pid)
        && !discontinuity
    {
        let expected = if has_payload { (prev + 1) & 0x0F } else { prev };
        if cc != expected {
            return Err(format!(
                "PID {pid:#x}: continuity counter {cc}, expected {expected}"
            ));
        }
    }
    st.cc.insert(pid, cc);

    if Some(pid) == st.pcr_pid
        && let Some(af) = pkt.adaptation_field()
        && let Ok(pcr) = af.pcr()
    {
        let base = pcr.base();
        if discontinuity {
            // A new time base (§2.4.3.5): intervals restart from here.
            st.last_pcr = None;
            st.last_pat = st.last_pat.map(|_| base);
            st.last_pmt = st.last_pmt.map(|_| base);
        }
        if let Some(last) = st.last_pcr {
            if base < last {
                return Err(format!("PCR went backwards ({base} < {last})"));
            }
            st.report.max_pcr_interval = st.report.max_pcr_interval.max(base - last);
            if base - last > MAX_PCR_INTERVAL {
                return Err(format!(
                    "PCRs {} ms apart (ISO/IEC 13818-1 §2.7.2: at most 100 ms)",
                    (base - last) / 90
                ));
            }
        }
        st.last_pcr = Some(base);
        if std::mem::take(&mut st.pat_before_clock) {
            st.last_pat = Some(base);
        }
        if std::mem::take(&mut st.pmt_before_clock) {
            st.last_pmt = Some(base);
        }
    }
    let now = st.last_pcr;
    // Tables must recur on the PCR clock; checked whenever the clock moves.
    if let Some(now) = now {
        for (last, max, name) in [
            (st.last_pat, &mut st.report.max_pat_interval, "PAT"),
            (st.last_pmt, &mut st.report.max_pmt_interval, "PMT"),
        ] {
            let Some(last) = last else { continue };
            let since = now.saturating_sub(last);
            *max = (*max).max(since);
            if since > MAX_TABLE_INTERVAL {
                return Err(format!(
                    "no {name} for {} ms (TR 101 290: at most 500 ms)",
                    since / 90
                ));
            }
        }
    }

    let Some(payload) = pkt.payload() else {
        return Ok(());
    };
    if pid == 0 {
        let section = section(pkt, payload)?;
        let pat = PatSection::new(section);
        let pmt = pat.programs().find_map(|p| match p {
            ProgramDescriptor::Program { pid, .. } => Some(u16::from(pid)),
            ProgramDescriptor::Network { .. } => None,
        });
        st.pmt_pid = Some(pmt.ok_or("PAT lists no program")?);
        st.last_pat = now;
        st.pat_before_clock = now.is_none();
    } else if Some(pid) == st.pmt_pid {
        let section = section(pkt, payload)?;
        let pmt = PmtSection::from_bytes(section).map_err(|e| format!("PMT: {e:?}"))?;
        st.pcr_pid = Some(u16::from(pmt.pcr_pid()));
        for s in pmt.streams() {
            st.report
                .stream_types
                .insert(u16::from(s.elementary_pid()), u8::from(s.stream_type()));
        }
        st.last_pmt = now;
        st.pmt_before_clock = now.is_none();
    } else if pkt.payload_unit_start_indicator() {
        if !st.report.stream_types.contains_key(&pid) {
            return Err(format!("PES on PID {pid:#x}, which the PMT does not list"));
        }
        *st.report.pes.entry(pid).or_default() += 1;
        let header = PesHeader::from_bytes(payload).ok_or("PES header does not parse")?;
        let PesContents::Parsed(Some(parsed)) = header.contents() else {
            return Err("PES without a parsed header".into());
        };
        let (pts, dts) = match parsed.pts_dts() {
            Ok(PtsDts::PtsOnly(Ok(p))) => (p.value(), p.value()),
            Ok(PtsDts::Both {
                pts: Ok(p),
                dts: Ok(d),
            }) => (p.value(), d.value()),
            other => return Err(format!("PES without valid PTS/DTS: {other:?}")),
        };
        if pts < dts {
            return Err(format!("PTS {pts} before DTS {dts}"));
        }
        // T-STD: a PES arrives (on the PCR clock) before it is decoded.
        if let Some(pcr) = now
            && dts < pcr
        {
            return Err(format!(
                "DTS {dts} is before the PCR {pcr}: arrives too late"
            ));
        }
    }
    Ok(())
}

/// The section data between the table syntax header and the CRC, after checking the CRC.
fn section<'a>(pkt: &Packet<'_>, payload: &'a [u8]) -> Result<&'a [u8], String> {
    if !pkt.payload_unit_start_indicator() {
        return Err("PSI packet without payload_unit_start_indicator".into());
    }
    let pointer = usize::from(*payload.first().ok_or("empty PSI payload")?);
    let s = payload
        .get(1 + pointer..)
        .ok_or("pointer_field past the packet")?;
    if s.len() < 3 {
        return Err("truncated section".into());
    }
    let len = usize::from(u16::from_be_bytes([s[1], s[2]]) & 0x0FFF);
    let whole = s.get(..3 + len).ok_or("section longer than its packet")?;
    if len < 9 || mpegts_crc::sum32(whole) != 0 {
        return Err("section CRC_32 does not check".into());
    }
    Ok(&whole[8..whole.len() - 4])
}
