//! LL-HLS and HLS playback: playlists (with blocking reload and delta updates), init segments,
//! parts (with preload-hint blocking) and segments, served from the live window.
//!
//! URL layout under `/live/{channel}/`:
//! * `index.m3u8` multivariant playlist, `llhls.m3u8` LL-HLS media playlist (CMAF fMP4);
//! * `{sid}/init/{id}.mp4`, `{sid}/seg/{msn}.m4s`, `{sid}/part/{seq}.m4s` (`seq` counts parts
//!   across segments, so a preload hint always names a part that will exist) — `sid` names
//!   one stream's life, so a URL is never reused for other bytes and CDNs may cache these
//!   objects for a year;
//! * `ts/index.m3u8` classic HLS media playlist, `ts/{sid}/{msn}.ts` its MPEG-TS segments.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use onair_hls::request::{self, Decision, HlsQuery};
use tokio::time::Instant;

use super::playback::{self, Access, PlaybackRequest};
use super::{AppState, Problem};
use crate::playlists;
use crate::store::layout;
use crate::stream::{Protocol, Stream};
use crate::window::{Chunks, WindowState};

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const MP4_TYPE: &str = "video/mp4";
const TS_TYPE: &str = "video/mp2t";
/// Media objects never change under their URL (see module docs).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn router() -> Router<AppState> {
    Router::new().route("/live/{channel}/{*path}", get(dispatch))
}

async fn dispatch(
    State(state): State<AppState>,
    Path((channel, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let access = playback::authorize(
        &state,
        &PlaybackRequest {
            channel: &channel,
            path: uri.path(),
            query: query.as_deref(),
            headers: &headers,
            ip: peer.ip(),
        },
    )
    .await?;
    let mut res = match serve(
        &state,
        &channel,
        &path,
        &uri,
        query.as_deref(),
        &access,
        peer,
        &headers,
    )
    .await
    {
        Ok(res) => res,
        Err(problem) => briefly_cacheable(problem),
    };
    access.apply(&mut res);
    Ok(res)
}

/// An authorized request for an object that is not there (404) or not there in time (503)
/// may be shared by caches for one second: a CDN edge then answers the crowd asking for it
/// (every viewer's preload hint for the part that never comes when a stream ends, every
/// viewer's blocking reload when a publisher stalls) with one origin request, instead of
/// passing them to the origin one by one (an uncacheable answer releases nginx's cache lock
/// to the next waiter). One second never pins an object that appears later for long.
/// Everything else keeps the problem's `no-store`; refusals (401/403) are decided before
/// this and are never cacheable.
fn briefly_cacheable(problem: Problem) -> Response {
    let status = problem.status;
    let mut res = axum::response::IntoResponse::into_response(problem);
    if status == axum::http::StatusCode::NOT_FOUND
        || status == axum::http::StatusCode::SERVICE_UNAVAILABLE
    {
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=1"),
        );
    }
    res
}

/// Serves an authorized request.
#[allow(clippy::too_many_arguments)]
async fn serve(
    state: &AppState,
    channel: &str,
    path: &str,
    uri: &Uri,
    query: Option<&str>,
    access: &Access,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let stream = state
        .registry
        .get(channel)
        .ok_or_else(|| Problem::not_found(format!("channel {channel:?} is not live")))?;
    let segs: Vec<&str> = path.split('/').collect();
    let protocol = if segs.first() == Some(&"ts") {
        Protocol::Hls
    } else {
        Protocol::LlHls
    };
    // A thumbnail is a look at the stream (the console's dashboard), not a viewer.
    if segs != ["thumbnail.jpg"] {
        stream
            .viewers
            .touch(protocol, peer.ip(), headers, access.session());
    }
    // Relative URIs in a playlist resolve against its directory (signatures cover full paths).
    let dir = uri.path().rsplit_once('/').map_or("/", |(d, _)| d);
    let dir = format!("{dir}/");
    let sign = |text: Bytes| -> Bytes {
        match std::str::from_utf8(&text)
            .ok()
            .and_then(|t| playback::sign_playlist(state, access, &dir, t))
        {
            Some(signed) => Bytes::from(signed),
            None => text,
        }
    };
    match segs.as_slice() {
        ["index.m3u8"] => multivariant(&stream).map(|r| map_body(r, sign)),
        ["llhls.m3u8"] => media_playlist(state, &stream, query, Kind::LlHls)
            .await
            .map(|r| map_body(r, sign)),
        ["ts", "index.m3u8"] => media_playlist(state, &stream, query, Kind::Ts)
            .await
            .map(|r| map_body(r, sign)),
        [sid, "init", file] => {
            let id: u32 = parse_name(file, ".mp4")?;
            let init = (stream.sid == *sid)
                .then(|| stream.window.read().init(id).cloned())
                .flatten();
            let data = match init {
                Some(init) => Chunks::new(vec![init]),
                None => {
                    let stored = from_store(state, &stream, sid, &layout::init(id)).await?;
                    // Init segments stored before the `esds` fix are served corrected.
                    let init = onair_media::fmp4::repair_init(&stored).unwrap_or(stored);
                    Chunks::new(vec![init])
                }
            };
            Ok(media_response(MP4_TYPE, data))
        }
        [sid, "part", file] => {
            check_sid(&stream, sid)?;
            let seq = parse_name(file, ".m4s")?;
            let data = wait_for(state, &stream, |w| part_state(w, seq)).await?;
            Ok(media_response(MP4_TYPE, data))
        }
        [sid, "seg", file] => {
            let msn = parse_name(file, ".m4s")?;
            let data = if in_window(&stream, sid, msn) {
                wait_for(state, &stream, |w| segment_state(w, msn, Kind::LlHls)).await?
            } else {
                Chunks::new(vec![
                    from_store(state, &stream, sid, &layout::segment(msn)).await?,
                ])
            };
            Ok(media_response(MP4_TYPE, data))
        }
        ["ts", sid, file] => {
            let msn = parse_name(file, ".ts")?;
            let data = if in_window(&stream, sid, msn) {
                wait_for(state, &stream, |w| segment_state(w, msn, Kind::Ts)).await?
            } else {
                Chunks::new(vec![
                    from_store(state, &stream, sid, &layout::ts_segment(msn)).await?,
                ])
            };
            Ok(media_response(TS_TYPE, data))
        }
        ["dvr.m3u8"] => dvr_playlist(state, &stream)
            .await
            .map(|r| map_body(r, sign)),
        ["thumbnail.jpg"] => {
            let jpeg = stream
                .thumbnail_jpeg()
                .ok_or_else(|| Problem::not_ready("no thumbnail yet"))?;
            let mut res = Response::new(Body::from(jpeg));
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(crate::thumbnails::THUMBNAIL_CACHE),
            );
            Ok(res)
        }
        _ => Err(Problem::not_found("no such resource")),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    LlHls,
    Ts,
}

/// Whether segment `msn` of stream life `sid` is (or will be) in the memory window; older
/// segments and earlier stream lives are served from the store.
fn in_window(stream: &Stream, sid: &str, msn: u64) -> bool {
    stream.sid == sid
        && stream
            .window
            .read()
            .media_sequence()
            .is_none_or(|first| msn >= first)
}

/// An object that left the memory window, from the object store (time-shift).
///
/// The request was authorized for the channel that has the URL's slug now; a stored object is
/// served only if it belongs to that same channel, by id: the live stream's own objects, or
/// those of an earlier stream life whose recording row names this channel. The key comes from
/// the stream or the recording row, never from the URL, so a slug renamed away and taken by
/// another channel does not lead to the first channel's objects.
async fn from_store(
    state: &AppState,
    stream: &Stream,
    sid: &str,
    name: &str,
) -> Result<Bytes, Problem> {
    let prefix = if stream.sid == sid {
        stream.store_prefix()
    } else {
        earlier_life_prefix(state, stream, sid).await?
    };
    let key = format!("{prefix}{name}");
    match state.store.get(&key).await {
        Ok(Some(data)) => Ok(data),
        Ok(None) => Err(Problem::not_found(
            "no such object in the live window or the store",
        )),
        Err(e) => {
            tracing::warn!(error = %e, %key, "time-shift read from the store failed");
            Err(Problem::not_ready(
                "the stored copy is not reachable right now",
            ))
        }
    }
}

/// The object prefix of stream life `sid` if it is an earlier one of `stream`'s channel.
async fn earlier_life_prefix(
    state: &AppState,
    stream: &Stream,
    sid: &str,
) -> Result<String, Problem> {
    let gone = || Problem::not_found("no such object in the live window or the store");
    if !onair_auth::is_valid_channel_name(sid) {
        return Err(gone());
    }
    let rec = match state.sys.db.recording(sid).await {
        Ok(Some(rec)) => rec,
        Ok(None) => return Err(gone()),
        Err(e) => {
            tracing::warn!(error = %e, "time-shift: looking up a recording failed");
            return Err(Problem::not_ready(
                "the stored copy is not reachable right now",
            ));
        }
    };
    let same_channel = match &stream.channel_id {
        Some(id) => rec.channel_id == *id,
        // Open publishing: streams without a channel row are told apart by their slug only.
        None => rec.channel_id.is_empty() && rec.channel_slug == stream.channel,
    };
    if same_channel {
        Ok(rec.prefix)
    } else {
        Err(gone())
    }
}

/// How long a read of the stored playlist serves time-shift playlists (the store rewrites it
/// once per segment; segments not stored yet come from the memory window anyway).
const DVR_STORED_TTL: Duration = Duration::from_secs(1);

/// The time-shift playlist: what the store holds of this stream life within the DVR window,
/// followed by the complete segments of the memory window that are not stored yet. URIs are
/// the live ones; objects that left the memory window are served from the store.
async fn dvr_playlist(state: &AppState, stream: &Arc<Stream>) -> Result<PlaylistResponse, Problem> {
    let window_secs = state.sys.settings.dvr_window.as_secs_f64();
    if window_secs <= 0.0 {
        return Err(Problem::not_found("time-shift is off on this node"));
    }
    let key = format!("{}{}", stream.store_prefix(), layout::PLAYLIST);
    let cached = stream
        .dvr_stored
        .lock()
        .as_ref()
        .filter(|(at, _)| at.elapsed() < DVR_STORED_TTL)
        .map(|(_, t)| t.clone());
    let stored: std::sync::Arc<str> = match cached {
        Some(t) => t,
        None => {
            let text: std::sync::Arc<str> = match state.store.get(&key).await {
                Ok(Some(b)) => String::from_utf8_lossy(&b).into(),
                Ok(None) => "".into(),
                Err(e) => {
                    tracing::warn!(error = %e, "time-shift playlist: the store is not reachable");
                    "".into()
                }
            };
            *stream.dvr_stored.lock() = Some((std::time::Instant::now(), text.clone()));
            text
        }
    };
    let text = {
        let w = stream.window.read();
        playlists::dvr(&w, &stream.sid, &stored, window_secs)
    };
    if text.is_empty() {
        return Err(Problem::not_ready("the stream has no complete segment yet"));
    }
    Ok(PlaylistResponse {
        text: Bytes::from(text),
        cache: "public, max-age=1",
    })
}

fn check_sid(stream: &Stream, sid: &str) -> Result<(), Problem> {
    if stream.sid == sid {
        Ok(())
    } else {
        Err(Problem::not_found(
            "this object belongs to an earlier stream",
        ))
    }
}

fn parse_name<T: std::str::FromStr>(file: &str, ext: &str) -> Result<T, Problem> {
    file.strip_suffix(ext)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Problem::not_found("no such object"))
}

fn multivariant(stream: &Stream) -> Result<PlaylistResponse, Problem> {
    let w = stream.window.read();
    if w.last_complete_msn().is_none() {
        return Err(Problem::not_ready("the stream has no complete segment yet"));
    }
    let text = playlists::multivariant(&w, stream.stats.fps())
        .ok_or_else(|| Problem::not_ready("the stream's codecs are not known yet"))?;
    Ok(PlaylistResponse {
        text: Bytes::from(text),
        cache: "public, max-age=2",
    })
}

async fn media_playlist(
    state: &AppState,
    stream: &Arc<Stream>,
    query: Option<&str>,
    kind: Kind,
) -> Result<PlaylistResponse, Problem> {
    let q = request::parse_query(query.unwrap_or(""))
        .map_err(|e| Problem::bad_request(e.to_string()))?;
    if kind == Kind::Ts && (q.msn.is_some() || q.skip.is_some()) {
        return Err(Problem::bad_request(
            "the MPEG-TS playlist has no blocking reload or delta updates",
        ));
    }
    let blocking = q.msn.is_some();
    let mut waited = false;
    let mut rx = stream.window.subscribe();
    let deadline = Instant::now() + block_limit(state, stream);
    loop {
        {
            let version = stream.window.version();
            let w = stream.window.read();
            let ready = match kind {
                Kind::LlHls => w.is_ready(),
                Kind::Ts => w.last_complete_msn().is_some(),
            };
            if ready {
                let decision = if blocking && !w.ended {
                    evaluate(&q, &w)
                } else {
                    Decision::Ready
                };
                match decision {
                    Decision::Ready => {
                        if waited && let Some(t) = w.last_part_published() {
                            // How long after the awaited part closed the answer went out.
                            metrics::histogram!("onair_hls_blocking_reload_delay_seconds")
                                .record(t.elapsed().as_secs_f64());
                        }
                        let skip = q.skip.is_some();
                        let slot = match (kind, skip) {
                            (Kind::LlHls, false) => 0,
                            (Kind::LlHls, true) => 1,
                            (Kind::Ts, _) => 2,
                        };
                        let text = stream.window.cached(slot, version, || match kind {
                            Kind::LlHls => playlists::llhls(&w, &stream.sid, skip),
                            Kind::Ts => playlists::ts(&w, &stream.sid),
                        });
                        let cache = if w.ended {
                            "public, max-age=3600"
                        } else if blocking {
                            // The answer to a given _HLS_msn/_HLS_part is stable; the query
                            // string is part of the cache key.
                            "public, max-age=60"
                        } else {
                            "public, max-age=1"
                        };
                        return Ok(PlaylistResponse { text, cache });
                    }
                    Decision::BadRequest(reason) => return Err(Problem::bad_request(reason)),
                    Decision::Wait => {}
                }
            } else if !blocking || w.ended {
                return Err(Problem::not_ready("the stream has not produced media yet"));
            }
        }
        waited = true;
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => {
                return Err(Problem::not_ready(
                    "the requested part was not produced in time",
                ));
            }
        }
    }
}

fn evaluate(q: &HlsQuery, w: &WindowState) -> Decision {
    match playlists::live_edge(w) {
        Some(edge) => request::evaluate(q, &edge),
        None => Decision::Wait,
    }
}

/// RFC 8216bis §6.2.5.2: a server that cannot produce the awaited part within three target
/// durations answers 503.
fn block_limit(state: &AppState, stream: &Stream) -> Duration {
    let target = stream.window.read().target_duration.max(1);
    state.max_block.min(Duration::from_secs(3 * target))
}

/// What a waiting request sees on each check of the window.
enum Lookup {
    Found(Chunks),
    /// Not there yet, but expected soon.
    Pending,
    Gone,
}

/// Parts are named by their sequence number in the stream, so the preload-hinted next part
/// always exists once it closes, whichever segment it lands in. The hinted part (and the one
/// after, for a client that is slightly ahead) is held; anything else missing is not found.
fn part_state(w: &WindowState, seq: u64) -> Lookup {
    if let Some(p) = w.part(seq) {
        return Lookup::Found(p.data.clone());
    }
    match w.last_part_seq() {
        _ if w.ended => Lookup::Gone,
        Some(last) if seq > last && seq <= last + 2 => Lookup::Pending,
        None if seq <= 1 => Lookup::Pending,
        _ => Lookup::Gone,
    }
}

fn segment_state(w: &WindowState, msn: u64, kind: Kind) -> Lookup {
    match w.segment(msn) {
        Some(seg) if seg.is_complete() => Lookup::Found(match kind {
            Kind::LlHls => seg.fmp4(),
            Kind::Ts => seg.ts.clone().unwrap_or_default(),
        }),
        Some(_) if !w.ended => Lookup::Pending,
        _ => Lookup::Gone,
    }
}

async fn wait_for(
    state: &AppState,
    stream: &Stream,
    lookup: impl Fn(&WindowState) -> Lookup,
) -> Result<Chunks, Problem> {
    let mut rx = stream.window.subscribe();
    let deadline = Instant::now() + block_limit(state, stream);
    loop {
        match lookup(&stream.window.read()) {
            Lookup::Found(c) => return Ok(c),
            Lookup::Gone => return Err(Problem::not_found("no such object in the live window")),
            Lookup::Pending => {}
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return Err(Problem::not_ready("the object was not produced in time"));
        }
    }
}

/// A playlist is answered as one [`Bytes`] body; signing rewrites it.
struct PlaylistResponse {
    text: Bytes,
    cache: &'static str,
}

fn map_body(p: PlaylistResponse, sign: impl FnOnce(Bytes) -> Bytes) -> Response {
    playlist_response(sign(p.text), p.cache)
}

fn playlist_response(text: impl Into<Bytes>, cache: &'static str) -> Response {
    let mut res = Response::new(Body::from(text.into()));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PLAYLIST_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

fn media_response(content_type: &'static str, data: Chunks) -> Response {
    let len = data.len;
    let body = if data.chunks.len() == 1 {
        Body::from(data.chunks[0].clone())
    } else {
        let chunks = data.chunks.clone();
        Body::from_stream(futures_util::stream::iter(
            (0..chunks.len()).map(move |i| Ok::<_, std::convert::Infallible>(chunks[i].clone())),
        ))
    };
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    res
}
