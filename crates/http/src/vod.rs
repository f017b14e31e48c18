//! Recordings played back from the object store: `GET /vod/{recording}/{path}` serves the
//! recording's stored objects (`index.m3u8`, `init.mp4`, `seg/{msn}.m4s`, `ts/index.m3u8`,
//! `ts/{msn}.ts`) under the playback rules of the channel it belongs to (visibility, signed
//! URLs scoped to `/vod/{recording}/`), signing the URIs of playlists served under a
//! signature like live playlists.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;

use super::playback::{self, PlaybackRequest};
use super::{AppState, Problem};
use crate::store;

/// Longest object path below a recording.
pub const MAX_VOD_PATH: usize = 256;

pub fn router() -> Router<AppState> {
    Router::new().route("/vod/{id}/{*path}", get(vod))
}

/// Paths a recording's objects can have: plain segments of `[A-Za-z0-9._-]`, no dot segments.
fn is_object_path(path: &str) -> bool {
    path.len() <= MAX_VOD_PATH
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

async fn vod(
    State(state): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if !onair_auth::is_valid_channel_name(&id) || !is_object_path(&path) {
        return Err(Problem::not_found("no such recording object"));
    }
    let sys = &state.sys;
    let Some(rec) = sys.db.recording(&id).await? else {
        return Err(Problem::not_found("no such recording"));
    };
    let channel = if rec.channel_id.is_empty() {
        None
    } else {
        match sys.db.channel(&rec.channel_id).await? {
            Some(c) => Some(std::sync::Arc::new(c)),
            // Its channel was deleted and the recording is being deleted with it (and without
            // a channel it would play as open publishing's, to anyone).
            None => return Err(Problem::not_found("no such recording")),
        }
    };
    let access = playback::authorize_channel(
        &state,
        channel,
        &PlaybackRequest {
            channel: &rec.channel_slug,
            path: uri.path(),
            query: query.as_deref(),
            headers: &headers,
            ip: peer.ip(),
        },
    )
    .await?;
    let key = format!("{}{path}", rec.prefix);
    let data = state
        .store
        .get(&key)
        .await
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(|| Problem::not_found("no such recording object"))?;
    let is_playlist = path.ends_with(".m3u8");
    let data = if is_playlist {
        let dir = uri.path().rsplit_once('/').map_or("/", |(d, _)| d);
        match std::str::from_utf8(&data)
            .ok()
            .and_then(|t| playback::sign_playlist(&state, &access, &format!("{dir}/"), t))
        {
            Some(signed) => Bytes::from(signed),
            None => data,
        }
    } else if path.ends_with(".mp4") {
        // Init segments stored before the `esds` fix are served corrected.
        onair_media::fmp4::repair_init(&data).unwrap_or(data)
    } else {
        data
    };
    let cache = match (is_playlist, rec.status.as_str()) {
        (false, _) => store::IMMUTABLE,
        (true, "complete") => store::FINISHED_PLAYLIST,
        (true, _) => store::GROWING_PLAYLIST,
    };
    let mut res = Response::new(Body::from(data));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(store::content_type(&path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    access.apply(&mut res);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_object_paths() {
        for ok in ["index.m3u8", "seg/12.m4s", "ts/3.ts", "init-2.mp4"] {
            assert!(is_object_path(ok), "{ok}");
        }
        for bad in [
            "../x",
            "seg/../../y",
            "",
            "a//b",
            "a/./b",
            "a b",
            "%2e%2e/x",
            "x?y",
        ] {
            assert!(!is_object_path(bad), "{bad}");
        }
    }
}
