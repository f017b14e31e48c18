//! Recordings: list, inspect, delete, get a playback URL (`/vod/{id}/…`, the channel's playback
//! rules) and download as one MP4 (remuxed from the stored CMAF segments, no re-encoding).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::audit_ok;
use super::extract::{Body as JsonBody, Query};
use crate::caller::Caller;
use crate::db::Page;
use crate::db::recordings::Recording;
use crate::problem::ProblemBody;
use crate::security::signed_url;
use crate::system::System;
use crate::{AppState, Problem};

/// Largest recording (CMAF bytes) exported as one MP4: the remux holds the segments in memory.
pub const MAX_EXPORT_BYTES: u64 = 1 << 30;
/// Longest lifetime of a recording's signed playback URL.
pub const MAX_VOD_TTL_SECS: u64 = 7 * 86_400;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_recordings))
        .routes(routes!(get_recording, delete_recording))
        .routes(routes!(recording_playback_url))
        .routes(routes!(download_recording))
}

#[derive(Serialize, ToSchema)]
pub struct RecordingList {
    pub items: Vec<Recording>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub channel_id: Option<String>,
    /// Only this owner's recordings (admins; others always see their own).
    pub owner_id: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A recording the caller manages (its channel's owner, or an admin); 404 otherwise.
async fn managed(sys: &System, caller: &Caller, id: &str) -> Result<Recording, Problem> {
    let Some(rec) = sys.db.recording(id).await? else {
        return Err(Problem::not_found("no such recording"));
    };
    let channel = if rec.channel_id.is_empty() {
        None
    } else {
        match sys.db.channel(&rec.channel_id).await? {
            Some(c) => Some(c),
            // Its channel was deleted: the recording is being deleted with it.
            None => return Err(Problem::not_found("no such recording")),
        }
    };
    let allowed = caller.is_admin() || channel.is_some_and(|c| c.owner_id == caller.id());
    if allowed {
        Ok(rec)
    } else {
        Err(Problem::not_found("no such recording"))
    }
}

/// Recordings of the channels the caller manages, newest first.
#[utoipa::path(get, path = "/api/v1/recordings", tag = "recordings", params(ListQuery),
    responses((status = 200, body = RecordingList), (status = 401, body = ProblemBody)))]
async fn list_recordings(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<RecordingList>, Problem> {
    let owner = if caller.is_admin() {
        q.owner_id.clone().filter(|s| !s.is_empty())
    } else {
        Some(caller.id().to_owned())
    };
    let channel = q.channel_id.clone().filter(|s| !s.is_empty());
    let items = state
        .sys
        .db
        .list_recordings(
            channel.as_deref(),
            owner.as_deref(),
            Page::new(q.limit, q.offset),
        )
        .await?;
    Ok(Json(RecordingList { items }))
}

#[utoipa::path(get, path = "/api/v1/recordings/{id}", tag = "recordings", params(("id" = String, Path)),
    responses((status = 200, body = Recording), (status = 404, body = ProblemBody)))]
async fn get_recording(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Recording>, Problem> {
    Ok(Json(managed(&state.sys, &caller, &id).await?))
}

/// Deletes a finished recording and its stored objects.
#[utoipa::path(delete, path = "/api/v1/recordings/{id}", tag = "recordings", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn delete_recording(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    let rec = managed(sys, &caller, &id).await?;
    if rec.status != "complete" {
        return Err(Problem::conflict(
            "the recording is still being stored; delete it once it is complete",
        ));
    }
    state
        .store
        .delete_prefix(&rec.prefix)
        .await
        .map_err(|e| Problem::internal(&e))?;
    sys.db.delete_recording(&id).await?;
    audit_ok(
        sys,
        &caller,
        "recording.delete",
        Some(("recording", &id)),
        Some(&rec.prefix),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VodUrlBody {
    /// Seconds the URL stays valid [default: 3600].
    pub ttl_seconds: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct VodUrls {
    /// CMAF playlist.
    pub hls: String,
    /// MPEG-TS playlist.
    pub ts: String,
    /// The `token=…` query the URLs carry.
    pub query: String,
    pub expires_at: u64,
}

/// A signed playback URL of a recording, for a caller who manages it.
#[utoipa::path(post, path = "/api/v1/recordings/{id}/playback-url", tag = "recordings", params(("id" = String, Path)),
    request_body = VodUrlBody,
    responses((status = 200, body = VodUrls), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn recording_playback_url(
    State(state): State<AppState>,
    caller: Caller,
    crate::origin::Origin(origin): crate::origin::Origin,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<VodUrlBody>,
) -> Result<Json<VodUrls>, Problem> {
    let sys = &state.sys;
    let rec = managed(sys, &caller, &id).await?;
    let ttl = b.ttl_seconds.unwrap_or(3600);
    if !(1..=MAX_VOD_TTL_SECS).contains(&ttl) {
        return Err(Problem::field(
            "ttl_seconds",
            format!("must be 1..={MAX_VOD_TTL_SECS}"),
        ));
    }
    let epoch = match sys.db.channel(&rec.channel_id).await? {
        Some(c) => c.playback_epoch,
        None => 0,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let token = signed_url::sign(
        &sys.playback.signed,
        &signed_url::Grant {
            scope: format!("/vod/{id}/"),
            expires: now + ttl,
            // Bound to the channel's playback epoch like live URLs.
            user_id: format!("{}@{epoch}", caller.id()),
            client_ip: None,
        },
    )
    .map_err(|e| Problem::internal(&e))?;
    let base = sys.public_url_for(origin.as_ref().map(|o| o.base()));
    Ok(Json(VodUrls {
        hls: format!("{base}/vod/{id}/index.m3u8?token={token}"),
        ts: format!("{base}/vod/{id}/ts/index.m3u8?token={token}"),
        query: format!("token={token}"),
        expires_at: now + ttl,
    }))
}

/// The stored CMAF playlist's init section and segments (object names below the prefix).
fn playlist_objects(text: &str) -> (Vec<String>, Vec<String>) {
    let mut inits = Vec::new();
    let mut segments = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            let uri = rest.trim_end_matches('"').to_owned();
            if !inits.contains(&uri) {
                inits.push(uri);
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            segments.push(line.to_owned());
        }
    }
    (inits, segments)
}

/// The recording as one MP4 file (ISO BMFF, `moov` first), streamed.
#[utoipa::path(get, path = "/api/v1/recordings/{id}/download", tag = "recordings", params(("id" = String, Path)),
    responses((status = 200, content_type = "video/mp4", description = "The MP4 file"),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn download_recording(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let rec = managed(&state.sys, &caller, &id).await?;
    if rec.status != "complete" {
        return Err(Problem::conflict("the recording is still being stored"));
    }
    if rec.bytes as u64 > 2 * MAX_EXPORT_BYTES {
        return Err(Problem::conflict(
            "the recording is too large to export as one file",
        ));
    }
    let store = &state.store;
    let get = |key: String| async move {
        store
            .get(&key)
            .await
            .map_err(|e| Problem::internal(&e))?
            .ok_or_else(|| Problem::not_found("a stored object of the recording is missing"))
    };
    let playlist = get(format!("{}index.m3u8", rec.prefix)).await?;
    let (inits, segments) = playlist_objects(&String::from_utf8_lossy(&playlist));
    let [init] = inits.as_slice() else {
        return Err(Problem::conflict(
            "the recording changes codecs midway and cannot be one MP4 file",
        ));
    };
    let init = get(format!("{}{init}", rec.prefix)).await?;
    let mut fragments: Vec<Bytes> = Vec::with_capacity(segments.len());
    for s in &segments {
        fragments.push(get(format!("{}{s}", rec.prefix)).await?);
    }
    let export = onair_media::mp4export::export(&init, &fragments).map_err(|e| {
        tracing::warn!(error = %e, recording = %id, "MP4 export failed");
        Problem::conflict("the recording could not be remuxed to MP4")
    })?;
    let len = export.len;
    let chunks: Vec<Bytes> = std::iter::once(export.header)
        .chain(export.payload)
        .collect();
    let body = Body::from_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        download_name(&rec.channel_slug, rec.started_at)
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// The MP4's file name: the channel and the start in UTC, `show-2026-12-05-1623.mp4` (no
/// colons, which some file systems refuse).
fn download_name(slug: &str, started_at_ms: i64) -> String {
    let start = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(started_at_ms).unwrap_or(0));
    let t = humantime::format_rfc3339_seconds(start).to_string();
    // "2026-12-05T16:23:06Z" → "2026-12-05-1623"
    let stamp = format!("{}-{}{}", &t[..10], &t[11..13], &t[14..16]);
    format!("{slug}-{stamp}.mp4")
}

#[cfg(test)]
mod tests {
    #[test]
    fn download_name_is_channel_and_utc_start() {
        assert_eq!(
            super::download_name("show", 1_796_487_786_000),
            "show-2026-12-05-1623.mp4"
        );
    }
}
