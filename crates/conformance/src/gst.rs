//! GStreamer as a player: `gst-launch-1.0 playbin3` with fake sinks that report every buffer.
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
/// `limit` (an error).
pub fn play(uri: &str, live_for: Option<Duration>, limit: Duration) -> Result<Playback, String> {
    let debug = STRICT_CATEGORIES
        .iter()
        .map(|c| format!("{c}:2"))
        .collect::<Vec<_>>()
        .join(",");
    let mut child = Command::new("gst-launch-1.0")
        .args(["-v", "-e", "playbin3", &format!("uri={uri}")])
        .arg("video-sink=fakesink name=vsink silent=false sync=false")
        .arg("audio-sink=fakesink name=asink silent=false sync=false")
        .env("GST_DEBUG", format!("*:1,{debug}"))
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
        if !stopped && live_for.is_some_and(|d| start.elapsed() >= d) {
            // SIGINT: with -e, gst-launch sends EOS downstream and exits cleanly.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            stopped = true;
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
        // "/GstPlayBin3:playbin3/…/GstFakeSink:vsink: last-message = chain   ******* (vsink:sink)
        //  (115200 bytes, dts: none, pts: 0:00:01.000000000, duration: …"
        let video = line.contains("(vsink:sink)");
        if (video || line.contains("(asink:sink)")) && line.contains("chain") {
            let pts = pts_of(line).unwrap_or(0.0);
            if video {
                p.video_buffers += 1;
                p.last_video_pts = p.last_video_pts.max(pts);
            } else {
                p.audio_buffers += 1;
                p.last_audio_pts = p.last_audio_pts.max(pts);
            }
        }
        if line.starts_with("ERROR") {
            p.problems.push(line.to_owned());
        }
    }
    for line in stderr.lines() {
        let warn_or_error = line.contains(" WARN ") || line.contains(" ERROR ");
        if warn_or_error
            && STRICT_CATEGORIES
                .iter()
                .any(|c| line.contains(&format!(" {c} ")))
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

/// The `pts: H:MM:SS.nnnnnnnnn` of a fakesink message, in seconds.
fn pts_of(line: &str) -> Option<f64> {
    let t = line.split("pts: ").nth(1)?.split(',').next()?;
    let mut parts = t.split(':');
    let h: f64 = parts.next()?.trim().parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_fakesink_timestamps() {
        let line = "/GstPlayBin3:playbin3/GstFakeSink:vsink: last-message = chain   ******* \
                    (vsink:sink) (115200 bytes, dts: none, pts: 0:00:07.960000000, duration: \
                    0:00:00.040000000, offset: -1, flags: 00000000 ) 0x7f";
        assert_eq!(super::pts_of(line), Some(7.96));
    }
}
