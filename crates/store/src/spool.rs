//! The local write-ahead spool. Every init section, segment and end-of-stream marker of a
//! stream is written here (one file each, atomically: temporary file, fsync, rename) before it
//! is uploaded, and removed once the object store has it. A stream's spool directory also keeps
//! `state.json`: what is already stored, so the stored playlist can be rebuilt after a restart.
//!
//! Entry file: one JSON header line, then the payload (init: the init section; segment: the
//! CMAF segment followed by the MPEG-TS segment).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Longest entry header line read back (a guard against a corrupt file).
pub const MAX_HEADER_LEN: usize = 4096;
/// Share of the spool bound past which the alarm is raised.
pub const ALARM_RATIO: f64 = 0.8;

/// One stored segment, as the stored playlists need it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentMeta {
    pub msn: u64,
    /// Seconds.
    pub duration: f64,
    pub discontinuity: bool,
    /// EXT-X-PROGRAM-DATE-TIME, Unix milliseconds.
    pub pdt_ms: i64,
    pub init_id: u32,
    pub fmp4_len: u64,
    pub ts_len: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Header {
    Init { id: u32, len: u64 },
    Segment(SegmentMeta),
    End,
}

/// A spooled entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub seq: u64,
    pub path: PathBuf,
    pub header: Header,
    /// File size (counted against the spool bound).
    pub size: u64,
}

/// What is already stored of one stream (`state.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StoredState {
    /// The channel's slug when the stream was published.
    pub channel: String,
    /// The channel's database id when the stream was published; `None` without a channel row
    /// (open publishing) and in `state.json` files of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    pub sid: String,
    pub segments: Vec<SegmentMeta>,
    pub inits: Vec<u32>,
    pub ended: bool,
}

impl StoredState {
    /// The stream's object prefix (see [`super::layout`]). Without a channel id this is the
    /// slug's: where open publishing and earlier versions put their objects.
    pub fn prefix(&self) -> String {
        super::layout::prefix(
            super::layout::owner(self.channel_id.as_deref(), &self.channel),
            &self.sid,
        )
    }
}

/// Bytes spooled across all streams, against the bound.
#[derive(Debug)]
pub struct Meter {
    bytes: AtomicU64,
    max: u64,
    alarm: AtomicBool,
}

impl Meter {
    pub fn new(max: u64) -> Self {
        Self {
            bytes: AtomicU64::new(0),
            max,
            alarm: AtomicBool::new(false),
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Reserves `n` bytes; false when that would pass the bound.
    pub fn reserve(&self, n: u64) -> bool {
        let mut cur = self.bytes.load(Ordering::Relaxed);
        loop {
            if cur + n > self.max {
                return false;
            }
            match self
                .bytes
                .compare_exchange(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(v) => cur = v,
            }
        }
        self.report();
        true
    }

    /// Counts `n` bytes whatever the bound (entries that must not be dropped, and entries
    /// found at start-up).
    pub fn force(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::AcqRel);
        self.report();
    }

    pub fn release(&self, n: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        self.report();
    }

    fn report(&self) {
        let bytes = self.bytes();
        metrics::gauge!("onair_storage_spool_bytes").set(bytes as f64);
        let high = bytes as f64 >= self.max as f64 * ALARM_RATIO;
        if self.alarm.swap(high, Ordering::AcqRel) != high {
            metrics::gauge!("onair_storage_spool_alarm").set(if high { 1.0 } else { 0.0 });
            if high {
                tracing::error!(
                    bytes,
                    max = self.max,
                    "storage spool is nearly full: the object store is down or too slow; new segments will not be stored once it is full"
                );
            } else {
                tracing::info!(bytes, "storage spool back below its alarm level");
            }
        }
    }
}

fn entry_name(seq: u64) -> String {
    format!("{seq:012}.entry")
}

/// Writes an entry atomically (blocking).
pub fn write_entry(
    dir: &Path,
    seq: u64,
    header: &Header,
    payload: &[Bytes],
) -> std::io::Result<Entry> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(entry_name(seq));
    let tmp = dir.join(format!("{}.tmp", entry_name(seq)));
    let mut line = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&line)?;
    for chunk in payload {
        f.write_all(chunk)?;
    }
    f.sync_data()?;
    let size = f.metadata()?.len();
    drop(f);
    std::fs::rename(&tmp, &path)?;
    Ok(Entry {
        seq,
        path,
        header: header.clone(),
        size,
    })
}

/// The payload of an entry (blocking).
pub fn read_payload(entry: &Entry) -> std::io::Result<Bytes> {
    let data = std::fs::read(&entry.path)?;
    let nl = data
        .iter()
        .take(MAX_HEADER_LEN)
        .position(|b| *b == b'\n')
        .ok_or_else(|| std::io::Error::other("spool entry without a header line"))?;
    Ok(Bytes::from(data).slice(nl + 1..))
}

fn read_header(path: &Path) -> std::io::Result<Header> {
    use std::io::{BufRead, Read};
    let f = std::fs::File::open(path)?;
    let mut line = Vec::new();
    std::io::BufReader::new(f)
        .take(MAX_HEADER_LEN as u64)
        .read_until(b'\n', &mut line)?;
    serde_json::from_slice(&line).map_err(std::io::Error::other)
}

/// The entries of a stream's spool directory in order (blocking). Unfinished temporary files
/// (a crash mid-write: never acknowledged) and unreadable entries are removed.
pub fn scan(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let Some(seq) = name
            .strip_suffix(".entry")
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        match read_header(&path) {
            Ok(header) => out.push(Entry {
                seq,
                size: e.metadata()?.len(),
                path,
                header,
            }),
            Err(err) => {
                tracing::error!(path = %path.display(), error = %err, "unreadable spool entry removed");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    out.sort_by_key(|e| e.seq);
    Ok(out)
}

pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Saves `state.json` atomically (blocking).
pub fn save_state(dir: &Path, state: &StoredState) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("state.json.tmp");
    let data = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&data)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, state_path(dir))
}

pub fn load_state(dir: &Path) -> Option<StoredState> {
    let data = std::fs::read(state_path(dir)).ok()?;
    serde_json::from_slice(&data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_leftovers_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SegmentMeta {
            msn: 3,
            duration: 1.5,
            discontinuity: true,
            pdt_ms: 1,
            init_id: 0,
            fmp4_len: 3,
            ts_len: 2,
        };
        write_entry(
            dir.path(),
            2,
            &Header::Segment(meta.clone()),
            &[Bytes::from_static(b"abc"), Bytes::from_static(b"de")],
        )
        .unwrap();
        write_entry(
            dir.path(),
            1,
            &Header::Init { id: 0, len: 1 },
            &[Bytes::from_static(b"i")],
        )
        .unwrap();
        std::fs::write(dir.path().join("000000000003.entry.tmp"), b"partial").unwrap();
        std::fs::write(dir.path().join("000000000004.entry"), b"not json\n").unwrap();
        let entries = scan(dir.path()).unwrap();
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(entries[1].header, Header::Segment(meta));
        assert_eq!(&read_payload(&entries[1]).unwrap()[..], b"abcde");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "leftovers removed"
        );
    }

    /// A `state.json` of an earlier version (no channel id) still loads, and its stream keeps
    /// storing under the slug's prefix, where its first objects went.
    #[test]
    fn earlier_state_files_load_under_their_old_prefix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            state_path(dir.path()),
            br#"{"channel":"main","sid":"mxa2ghek0","segments":[],"inits":[1],"ended":false}"#,
        )
        .unwrap();
        let old = load_state(dir.path()).expect("the old format loads");
        assert_eq!(old.channel_id, None);
        assert_eq!(old.prefix(), "live/main/mxa2ghek0/");
        let new = StoredState {
            channel_id: Some("01jchannel".into()),
            ..old
        };
        save_state(dir.path(), &new).unwrap();
        let back = load_state(dir.path()).unwrap();
        assert_eq!(back.channel_id.as_deref(), Some("01jchannel"));
        assert_eq!(back.prefix(), "live/01jchannel/mxa2ghek0/");
    }

    #[test]
    fn the_meter_refuses_past_its_bound() {
        let m = Meter::new(100);
        assert!(m.reserve(60));
        assert!(!m.reserve(50));
        m.release(60);
        assert!(m.reserve(100));
        m.release(1000);
        assert_eq!(m.bytes(), 0);
    }
}
