//! Live thumbnails: about every [`THUMBNAIL_EVERY`], the keyframe that starts each live stream's
//! cached GOP is decoded to a small JPEG by Debian's `ffmpeg` (a child process per picture:
//! decoding stays out of this process), kept with the stream for `/live/{channel}/thumbnail.jpg`
//! and stored as `thumbnail.jpg` under the stream's object prefix (the recording's thumbnail).
//! Without ffmpeg on the host, thumbnails are off, with one log line.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use onair_media::flv;
use onair_media::{Frame, Tracks};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::stream::{Phase, Registry};

/// How often a live stream's thumbnail is refreshed.
pub const THUMBNAIL_EVERY: Duration = Duration::from_secs(10);
/// How often streams are looked at (a new stream gets its first thumbnail this soon).
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Longest an ffmpeg run may take.
pub const FFMPEG_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JPEG accepted from ffmpeg.
pub const MAX_THUMBNAIL_BYTES: usize = 2 << 20;
/// Thumbnail width in pixels (height keeps the aspect ratio).
pub const THUMBNAIL_WIDTH: u32 = 320;
/// Cache-Control of a thumbnail (it changes every few seconds).
pub const THUMBNAIL_CACHE: &str = "public, max-age=10";

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("the stream has no video configuration")]
    NoVideo,
    #[error("running ffmpeg: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("ffmpeg took longer than {FFMPEG_TIMEOUT:?}")]
    Timeout,
    #[error("ffmpeg produced no picture ({0})")]
    NoPicture(String),
}

/// Whether `ffmpeg` can be run on this host.
pub async fn ffmpeg_available() -> bool {
    tokio::process::Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// One keyframe as a tiny FLV file ffmpeg can read from its standard input.
fn keyframe_flv(tracks: &Tracks, frame: &Frame) -> Result<Bytes, ThumbnailError> {
    let (Some(config), Frame::Video(v)) = (tracks.video.as_ref(), frame) else {
        return Err(ThumbnailError::NoVideo);
    };
    let mut out = BytesMut::new();
    out.extend_from_slice(&flv::file_header(false, true));
    for part in flv::video_sequence_tag(config, 0) {
        out.extend_from_slice(&part);
    }
    for part in flv::video_frame_tag(config, v, 0) {
        out.extend_from_slice(&part);
    }
    Ok(out.freeze())
}

/// Decodes `frame` (a keyframe) to a JPEG [`THUMBNAIL_WIDTH`] pixels wide.
pub async fn render(tracks: &Tracks, frame: &Frame) -> Result<Bytes, ThumbnailError> {
    let input = keyframe_flv(tracks, frame)?;
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-f", "flv", "-i", "pipe:0", "-frames:v", "1"])
        .args(["-vf", &format!("scale={THUMBNAIL_WIDTH}:-2")])
        .args(["-c:v", "mjpeg", "-q:v", "5", "-f", "image2", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| ThumbnailError::NoPicture("no stdin".into()))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| ThumbnailError::NoPicture("no stdout".into()))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| ThumbnailError::NoPicture("no stderr".into()))?;
    let run = async {
        let feed = async {
            let _ = stdin.write_all(&input).await;
            drop(stdin);
        };
        let mut jpeg = Vec::new();
        let mut err = Vec::new();
        let read = async {
            let _ = (&mut stdout)
                .take(MAX_THUMBNAIL_BYTES as u64 + 1)
                .read_to_end(&mut jpeg)
                .await;
        };
        let read_err = async {
            let _ = (&mut stderr).take(4096).read_to_end(&mut err).await;
        };
        tokio::join!(feed, read, read_err);
        let _ = child.wait().await;
        (jpeg, err)
    };
    let (jpeg, err) = tokio::time::timeout(FFMPEG_TIMEOUT, run)
        .await
        .map_err(|_| ThumbnailError::Timeout)?;
    if jpeg.len() < 4 || jpeg.len() > MAX_THUMBNAIL_BYTES || jpeg[..2] != [0xFF, 0xD8] {
        return Err(ThumbnailError::NoPicture(
            String::from_utf8_lossy(&err).trim().to_owned(),
        ));
    }
    Ok(Bytes::from(jpeg))
}

/// Whether live thumbnails are being made (set once `run` has looked for ffmpeg).
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this node makes live thumbnails (false until the ffmpeg check has passed).
pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Refreshes the thumbnails of live streams until `shutdown`.
pub async fn run(registry: Arc<Registry>, store: Store, shutdown: CancellationToken) {
    if !ffmpeg_available().await {
        tracing::warn!("ffmpeg is not installed: live thumbnails are off");
        return;
    }
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        for stream in registry.list() {
            if stream.phase() != Phase::Live {
                continue;
            }
            let due = stream
                .thumbnail()
                .is_none_or(|(at, _)| at.elapsed() >= THUMBNAIL_EVERY);
            if !due {
                continue;
            }
            let Some((tracks, frame)) = stream.broadcast.keyframe() else {
                continue;
            };
            match render(&tracks, &frame).await {
                Ok(jpeg) => {
                    stream.set_thumbnail(Instant::now(), jpeg.clone());
                    metrics::counter!("onair_thumbnails_total").increment(1);
                    let key = format!(
                        "{}thumbnail.jpg",
                        crate::store::layout::stream_prefix(&stream)
                    );
                    if let Err(e) = store.put(&key, vec![jpeg], THUMBNAIL_CACHE).await {
                        tracing::debug!(error = %e, "storing a thumbnail failed");
                    }
                }
                Err(e) => {
                    metrics::counter!("onair_thumbnail_errors_total").increment(1);
                    tracing::debug!(channel = %stream.channel, error = %e, "thumbnail failed");
                    // Try again at the next interval, not at every check.
                    stream.set_thumbnail_attempt(Instant::now());
                }
            }
        }
    }
}
