//! LL-HLS and HLS playback: playlists (with blocking reload and delta updates), init segments,
//! parts (with preload-hint blocking) and segments, read through the [`LiveEdge`] (whose local
//! implementation, `onair_live::edge`, holds the LL-HLS request rules); what left the memory
//! window is read from the object store.
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

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use onair_hls::request;

use super::playback::{self, Access, PlaybackRequest};
use super::{AppState, Problem};
use crate::directory::StreamKey;
use crate::edge::{EdgeError, EdgeStream, PlaylistAnswer, Rendering};
use crate::store::layout;
use crate::stream::Protocol;
use crate::window::Chunks;

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
    let key = StreamKey::source(channel);
    let edge = &state.edge;
    let stream = edge
        .stream(&key)
        .await
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
    let sign = |p: PlaylistAnswer| -> Response {
        let text = match std::str::from_utf8(&p.text)
            .ok()
            .and_then(|t| playback::sign_playlist(state, access, &dir, t))
        {
            Some(signed) => Bytes::from(signed),
            None => p.text,
        };
        playlist_response(text, p.cache)
    };
    let max_block = state.max_block;
    match segs.as_slice() {
        ["index.m3u8"] => Ok(sign(edge.multivariant(channel).await?)),
        ["llhls.m3u8"] | ["ts", "index.m3u8"] => {
            let rendering = if segs.len() == 1 {
                Rendering::LlHls
            } else {
                Rendering::Ts
            };
            let q = request::parse_query(query.unwrap_or(""))
                .map_err(|e| Problem::bad_request(e.to_string()))?;
            let answer = edge.media_playlist(&key, rendering, &q, max_block).await?;
            Ok(sign(answer))
        }
        [sid, "init", file] => {
            let id: u32 = parse_name(file, ".mp4")?;
            let init = match edge.init(&key, sid, id).await {
                Some(init) => init,
                None => {
                    let stored = from_store(state, &stream, sid, &layout::init(id)).await?;
                    // Init segments stored before the `esds` fix are served corrected.
                    onair_media::fmp4::repair_init(&stored).unwrap_or(stored)
                }
            };
            Ok(media_response(MP4_TYPE, Chunks::new(vec![init])))
        }
        [sid, "part", file] => {
            let seq = parse_name(file, ".m4s")?;
            let data = edge.part(&key, sid, seq, max_block).await?;
            Ok(media_response(MP4_TYPE, data))
        }
        [sid, "seg", file] => {
            let msn = parse_name(file, ".m4s")?;
            let data = match edge
                .segment(&key, sid, msn, Rendering::LlHls, max_block)
                .await?
            {
                Some(data) => data,
                None => Chunks::new(vec![
                    from_store(state, &stream, sid, &layout::segment(msn)).await?,
                ]),
            };
            Ok(media_response(MP4_TYPE, data))
        }
        ["ts", sid, file] => {
            let msn = parse_name(file, ".ts")?;
            let data = match edge
                .segment(&key, sid, msn, Rendering::Ts, max_block)
                .await?
            {
                Some(data) => data,
                None => Chunks::new(vec![
                    from_store(state, &stream, sid, &layout::ts_segment(msn)).await?,
                ]),
            };
            Ok(media_response(TS_TYPE, data))
        }
        ["dvr.m3u8"] => Ok(sign(dvr_playlist(state, &stream).await?)),
        ["thumbnail.jpg"] => {
            let jpeg = edge
                .thumbnail(&key)
                .await
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

/// How the edge's refusals read over HTTP.
impl From<EdgeError> for Problem {
    fn from(e: EdgeError) -> Self {
        match e {
            EdgeError::NotLive(channel) => {
                Problem::not_found(format!("channel {channel:?} is not live"))
            }
            EdgeError::NotFound(m) => Problem::not_found(m),
            EdgeError::NotReady(m) => Problem::not_ready(m),
            EdgeError::BadRequest(m) => Problem::bad_request(m),
        }
    }
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
    stream: &EdgeStream,
    sid: &str,
    name: &str,
) -> Result<Bytes, Problem> {
    let prefix = if stream.sid == sid {
        own_prefix(stream)
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
/// Where the stream life's own objects are stored.
fn own_prefix(stream: &EdgeStream) -> String {
    layout::prefix(
        layout::owner(stream.channel_id.as_deref(), &stream.key.channel),
        &stream.sid,
    )
}

async fn earlier_life_prefix(
    state: &AppState,
    stream: &EdgeStream,
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
        None => rec.channel_id.is_empty() && rec.channel_slug == stream.key.channel,
    };
    if same_channel {
        Ok(rec.prefix)
    } else {
        Err(gone())
    }
}

/// The time-shift playlist: what the store holds of this stream life within the DVR window,
/// followed by the complete segments of the memory window that are not stored yet. URIs are
/// the live ones; objects that left the memory window are served from the store.
async fn dvr_playlist(state: &AppState, stream: &EdgeStream) -> Result<PlaylistAnswer, Problem> {
    let window_secs = state.sys.settings.dvr_window.as_secs_f64();
    if window_secs <= 0.0 {
        return Err(Problem::not_found("time-shift is off on this node"));
    }
    let key = format!("{}{}", own_prefix(stream), layout::PLAYLIST);
    let stored = || -> crate::directory::BoxFuture<'_, Arc<str>> {
        Box::pin(async {
            match state.store.get(&key).await {
                Ok(Some(b)) => String::from_utf8_lossy(&b).into(),
                Ok(None) => "".into(),
                Err(e) => {
                    tracing::warn!(error = %e, "time-shift playlist: the store is not reachable");
                    "".into()
                }
            }
        })
    };
    Ok(state
        .edge
        .dvr_playlist(&stream.key, window_secs, &stored)
        .await?)
}

fn parse_name<T: std::str::FromStr>(file: &str, ext: &str) -> Result<T, Problem> {
    file.strip_suffix(ext)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Problem::not_found("no such object"))
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
