//! GStreamer as a player: `gst-launch-1.0 playbin3` with fake sinks whose base class logs every
//! buffer it renders (`basesink` at DEBUG level: written synchronously by the streaming thread,
//! unlike `fakesink`'s `last-message` notifications, which `gst-launch -v` samples and so
//! repeats or skips buffers).
//!
//! `playbin3` picks the demuxer (`hlsdemux2`, `qtdemux`, `tsdemux`) and decoders as a
//! set-top box or a WebKit browser would. Decoding errors, caps negotiation failures and the
//! warnings of the demuxers and parsers fail the check: they are what makes strict players
//! stop or stutter where ffprobe carries on.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// GStreamer debug categories whose warnings count as failures: demuxers and parsers, the
/// elements that judge the container and the elementary streams.
pub const STRICT_CATEGORIES: &[&str] = &[
    "hlsdemux2",
    "adaptivedemux2",
    "qtdemux",
    "tsdemux",
    "mpegtsbase",
    "mpegtspacketizer",
    "aacparse",
    "h264parse",
    "h265parse",
    "decodebin3",
    "parsebin",
];

/// Warnings qtdemux 1.22 logs for every progressive (unfragmented) MP4, ffmpeg's own
/// `-movflags +faststart` output included: it looks for fragment defaults (`mvex`/`trex`) while
/// parsing each `trak`, which only fragmented files have.
pub const PROGRESSIVE_MP4_WARNINGS: &[&str] = &["failed to find fragment defaults for stream"];

/// How long a live playback may take to stop after SIGINT before it is killed.
const LIVE_STOP_GRACE: Duration = Duration::from_secs(3);

/// What playback produced.
#[derive(Debug, Default)]
pub struct Playback {
    /// Decoded video frames and audio buffers that reached the sinks.
    pub video_buffers: usize,
    pub audio_buffers: usize,
    /// The latest presentation timestamp a sink saw, in seconds.
    pub last_video_pts: f64,
    pub last_audio_pts: f64,
    /// Whether the pipeline reached end of stream by itself.
    pub eos: bool,
    /// ERROR lines and warnings of [`STRICT_CATEGORIES`].
    pub problems: Vec<String>,
    /// The whole log, for failure messages.
    pub log: String,
}

impl Playback {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Plays `uri` until end of stream, or for `live_for` and then stops it; gives up after
/// `limit` (an error). Warnings containing one of `tolerated` are not problems.
pub fn play(
    uri: &str,
    live_for: Option<Duration>,
    limit: Duration,
    tolerated: &[&str],
) -> Result<Playback, String> {
    let debug = STRICT_CATEGORIES
        .iter()
        .map(|c| format!("{c}:2"))
        .collect::<Vec<_>>()
        .join(",");
    let mut child = Command::new("gst-launch-1.0")
        .args(["-e", "playbin3", &format!("uri={uri}")])
        .arg("video-sink=fakesink name=vsink sync=false")
        .arg("audio-sink=fakesink name=asink sync=false")
        .env(
            "GST_DEBUG",
            // More categories when debugging a failure (`ONAIR_GST_DEBUG=qtdemux:5`, say).
            match std::env::var("ONAIR_GST_DEBUG") {
                Ok(extra) => format!("*:1,basesink:5,{debug},{extra}"),
                Err(_) => format!("*:1,basesink:5,{debug}"),
            },
        )
        .env("GST_DEBUG_NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("gst-launch-1.0 (the test command installs it): {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let mut stopped = false;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if let Some(d) = live_for {
            if !stopped && start.elapsed() >= d {
                // SIGINT: with -e, gst-launch sends EOS downstream and exits cleanly...
                let _ = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status();
                stopped = true;
            } else if stopped && start.elapsed() >= d + LIVE_STOP_GRACE {
                // ...unless a demuxer is blocked waiting for the live edge.
                let _ = child.kill();
            }
        }
        if start.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            let log = out.join().unwrap_or_default() + &err.join().unwrap_or_default();
            return Err(format!(
                "{uri}: GStreamer still running after {limit:?}\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let mut p = Playback {
        eos: stdout.contains("Got EOS from element \"playbin3"),
        ..Playback::default()
    };
    for line in stdout.lines() {
        if line.starts_with("ERROR") {
            p.problems.push(line.to_owned());
        }
    }
    for line in stderr.lines() {
        if let Some((sink, what)) = rendered(line) {
            let video = sink == "vsink";
            if what.starts_with("object unref after render") {
                if video {
                    p.video_buffers += 1;
                } else {
                    p.audio_buffers += 1;
                }
            } else if let Some(pts) = what.strip_prefix("got times start: ").and_then(seconds) {
                let last = if video {
                    &mut p.last_video_pts
                } else {
                    &mut p.last_audio_pts
                };
                *last = last.max(pts);
            }
            continue;
        }
        let warn_or_error = line.contains(" WARN ") || line.contains(" ERROR ");
        if warn_or_error
            && STRICT_CATEGORIES
                .iter()
                .any(|c| line.contains(&format!(" {c} ")))
            && !tolerated.iter().any(|t| line.contains(t))
        {
            p.problems.push(line.to_owned());
        }
        if line.starts_with("ERROR") {
            p.problems.push(line.to_owned());
        }
    }
    if !status.success() && !stopped {
        p.problems
            .push(format!("gst-launch-1.0 exited with {status}"));
    }
    p.log = format!("{stdout}\n{stderr}");
    Ok(p)
}

/// A `basesink` chain log line of one of our sinks: (`vsink` or `asink`, the message), e.g.
/// `… gst_base_sink_chain_unlocked:<vsink> got times start: 0:00:00.080000000, end: …`.
fn rendered(line: &str) -> Option<(&str, &str)> {
    let rest = line.split("gst_base_sink_chain_unlocked:<").nth(1)?;
    let (sink, what) = rest.split_once("> ")?;
    matches!(sink, "vsink" | "asink").then_some((sink, what))
}

/// `H:MM:SS.nnnnnnnnn` (followed by anything after a comma) in seconds.
fn seconds(t: &str) -> Option<f64> {
    let t = t.split(',').next()?;
    let mut parts = t.split(':');
    let h: f64 = parts.next()?.trim().parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_basesink_chain_lines() {
        let line = "0:00:00.138932860 17684 0x7f79dc069240 DEBUG               basesink \
                    gstbasesink.c:3826:gst_base_sink_chain_unlocked:<vsink> got times start: \
                    0:00:07.960000000, end: 0:00:08.000000000";
        let (sink, what) = super::rendered(line).unwrap();
        assert_eq!(sink, "vsink");
        let pts = what
            .strip_prefix("got times start: ")
            .and_then(super::seconds);
        assert_eq!(pts, Some(7.96));
        assert!(super::rendered("… gst_base_sink_chain_unlocked:<other> x").is_none());
    }
}
