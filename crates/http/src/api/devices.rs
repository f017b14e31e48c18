//! Devices (encoders): register with a stream key (shown once), rotate the key, enable or
//! disable, delete, kick, and see live status.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use onair_media::{AudioConfig, VideoConfig};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{audit, audit_ok};
use super::channels::managed;
use super::extract::{Body, Query};
use super::validate::Check;
use crate::caller::Caller;
use crate::db::Page;
use crate::db::audit::AuditResult;
use crate::db::devices::{Device, DeviceChanges, DeviceKind};
use crate::origin::{Origin, RequestOrigin};
use crate::problem::ProblemBody;
use crate::security::secret::{self, SecretKind};
use crate::stream::Phase;
use crate::system::System;
use crate::{AppState, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices, create_device))
        .routes(routes!(get_device, update_device, delete_device))
        .routes(routes!(rotate_key))
        .routes(routes!(kick_device))
}

/// What a live device is sending.
#[derive(Serialize, ToSchema)]
pub struct LiveStatus {
    pub publish_session_id: String,
    /// Bits per second over the last second.
    pub bitrate: u64,
    pub fps: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub uptime_seconds: u64,
    pub publisher_ip: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    #[serde(flatten)]
    pub device: Device,
    pub online: bool,
    /// Present while the device publishes.
    pub live: Option<LiveStatus>,
}

async fn view(sys: &System, device: Device) -> Result<DeviceView, Problem> {
    let mut live = None;
    if let Some(session) = &device.current_session_id
        && let Some(channel) = sys.db.channel(&device.channel_id).await?
        && let Some(stream) = sys.registry.get(&channel.slug)
        && stream.phase() == Phase::Live
    {
        let tracks = stream.tracks();
        let video = tracks.as_ref().and_then(|t| t.video.clone());
        let (width, height) = match &video {
            Some(VideoConfig::Avc(c)) => (Some(c.width), Some(c.height)),
            Some(VideoConfig::Hevc(c)) => (Some(c.width), Some(c.height)),
            None => (None, None),
        };
        live = Some(LiveStatus {
            publish_session_id: session.clone(),
            bitrate: stream.stats.ingest_bitrate.load(Ordering::Relaxed),
            fps: stream.stats.fps(),
            width,
            height,
            video_codec: video.as_ref().map(VideoConfig::codecs),
            audio_codec: tracks
                .as_ref()
                .and_then(|t| t.audio.as_ref())
                .map(AudioConfig::codecs),
            uptime_seconds: stream
                .started_at()
                .elapsed()
                .map(|d| d.as_secs())
                .unwrap_or(0),
            publisher_ip: stream.publisher_addr(),
        });
    }
    Ok(DeviceView {
        online: live.is_some(),
        live,
        device,
    })
}

#[derive(Serialize, ToSchema)]
pub struct DeviceList {
    pub items: Vec<DeviceView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub channel_id: Option<String>,
    /// Only this owner's devices (admins; others always see their own).
    pub owner_id: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Devices the caller manages.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(ListQuery),
    responses((status = 200, body = DeviceList), (status = 401, body = ProblemBody)))]
async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<DeviceList>, Problem> {
    let sys = &state.sys;
    let owner = if caller.is_admin() {
        q.owner_id.clone()
    } else {
        Some(caller.id().to_owned())
    };
    let devices = sys
        .db
        .list_devices(
            owner.as_deref(),
            q.channel_id.as_deref(),
            Page::new(q.limit, q.offset),
        )
        .await?;
    let mut items = Vec::with_capacity(devices.len());
    for d in devices {
        items.push(view(sys, d).await?);
    }
    Ok(Json(DeviceList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: DeviceKind,
    /// The channel it publishes to (one the caller manages).
    pub channel_id: String,
}

fn default_kind() -> DeviceKind {
    DeviceKind::Other
}

#[derive(Serialize, ToSchema)]
pub struct DeviceWithKey {
    #[serde(flatten)]
    pub device: Device,
    /// The stream key. Shown only now: put it in the encoder.
    pub stream_key: String,
    /// Server URL for the encoder (OBS: Server).
    pub rtmp_url: String,
    /// The whole publish URL (ffmpeg): `rtmp_url` + `/` + `stream_key`.
    pub publish_url: String,
}

/// `rtmp://HOST:PORT/APP`: where encoders publish. `--public-rtmp-url` as given; else the
/// host of `--public-url`, else the host the client used (`origin`), with the RTMP port and
/// application.
pub(crate) fn rtmp_base(sys: &System, origin: Option<&RequestOrigin>) -> String {
    if let Some(u) = &sys.settings.public_rtmp_url {
        return u.clone();
    }
    let configured = sys
        .settings
        .public_url
        .as_deref()
        .and_then(|u| u.split("://").nth(1))
        .map(|rest| {
            let authority = rest.split('/').next().unwrap_or(rest);
            crate::origin::hostname(authority).to_owned()
        })
        .filter(|h| !h.is_empty());
    let host = configured
        .or_else(|| origin.map(|o| o.hostname().to_owned()))
        .unwrap_or_else(|| "localhost".to_owned());
    format!(
        "rtmp://{host}:{}/{}",
        sys.settings.rtmp_listen.port(),
        sys.settings.rtmp_app
    )
}

fn with_key(
    sys: &System,
    origin: Option<&RequestOrigin>,
    device: Device,
    key: String,
) -> DeviceWithKey {
    let rtmp_url = rtmp_base(sys, origin);
    DeviceWithKey {
        publish_url: format!("{rtmp_url}/{key}"),
        rtmp_url,
        stream_key: key,
        device,
    }
}

/// Registers a device with a new stream key.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = NewDevice,
    responses((status = 201, body = DeviceWithKey), (status = 403, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn create_device(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Body(b): Body<NewDevice>,
) -> Result<(StatusCode, Json<DeviceWithKey>), Problem> {
    let sys = &state.sys;
    caller.require_broadcaster()?;
    let mut c = Check::new();
    c.name("name", &b.name);
    c.done()?;
    let channel = managed(sys, &caller, &b.channel_id)
        .await
        .map_err(|_| Problem::field("channel_id", "no such channel"))?;
    let key = secret::generate(SecretKind::StreamKey);
    let device = sys
        .db
        .create_device(
            &channel.owner_id,
            &channel.id,
            b.name.trim(),
            b.kind,
            &secret::digest(&key),
            &secret::visible_prefix(&key),
        )
        .await?;
    audit_ok(
        sys,
        &caller,
        "device.create",
        Some(("device", &device.id)),
        None,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(with_key(sys, origin.as_ref(), device, key)),
    ))
}

async fn managed_device(sys: &System, caller: &Caller, id: &str) -> Result<Device, Problem> {
    match sys.db.device(id).await? {
        Some(d) if caller.can_manage(&d.owner_id) => Ok(d),
        _ => Err(Problem::not_found("no such device")),
    }
}

/// A device and its live status.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 404, body = ProblemBody)))]
async fn get_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeviceView>, Problem> {
    let sys = &state.sys;
    let d = managed_device(sys, &caller, &id).await?;
    Ok(Json(view(sys, d).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDevice {
    pub name: Option<String>,
    pub kind: Option<DeviceKind>,
    /// A disabled device's key is refused; disabling a live device disconnects it.
    pub enabled: Option<bool>,
    pub channel_id: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = String, Path)), request_body = UpdateDevice,
    responses((status = 200, body = DeviceView), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn update_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<UpdateDevice>,
) -> Result<Json<DeviceView>, Problem> {
    let sys = &state.sys;
    let cur = managed_device(sys, &caller, &id).await?;
    let mut c = Check::new();
    if let Some(n) = &b.name {
        c.name("name", n);
    }
    c.done()?;
    if let Some(ch) = &b.channel_id {
        let channel = managed(sys, &caller, ch)
            .await
            .map_err(|_| Problem::field("channel_id", "no such channel"))?;
        if channel.owner_id != cur.owner_id {
            return Err(Problem::field(
                "channel_id",
                "the channel belongs to another user",
            ));
        }
    }
    let device = sys
        .db
        .update_device(
            &id,
            DeviceChanges {
                name: b.name.map(|n| n.trim().to_owned()),
                kind: b.kind,
                enabled: b.enabled,
                channel_id: b.channel_id,
            },
        )
        .await?
        .ok_or_else(|| Problem::not_found("no such device"))?;
    if b.enabled == Some(false) {
        sys.kick_device(&id, "device_disabled");
    }
    let action = match b.enabled {
        Some(true) if !cur.enabled => "device.enable",
        Some(false) if cur.enabled => "device.disable",
        _ => "device.update",
    };
    audit(
        sys,
        Some(&caller.user),
        action,
        Some(("device", &id)),
        &caller.ip_text(),
        AuditResult::Ok,
        None,
    )
    .await;
    Ok(Json(view(sys, device).await?))
}

/// Deletes a device; a live publisher using it is disconnected.
#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn delete_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    managed_device(sys, &caller, &id).await?;
    sys.db.delete_device(&id).await?;
    sys.kick_device(&id, "device_deleted");
    audit_ok(sys, &caller, "device.delete", Some(("device", &id)), None).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Also disconnect the live publisher (it used the old key) [default: false].
    #[serde(default)]
    pub kick: bool,
}

/// Replaces the stream key; the old key stops working at once.
#[utoipa::path(post, path = "/api/v1/devices/{id}/rotate-key", tag = "devices", params(("id" = String, Path)), request_body = RotateBody,
    responses((status = 200, body = DeviceWithKey), (status = 404, body = ProblemBody)))]
async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(id): Path<String>,
    Body(b): Body<RotateBody>,
) -> Result<Json<DeviceWithKey>, Problem> {
    let sys = &state.sys;
    managed_device(sys, &caller, &id).await?;
    let key = secret::generate(SecretKind::StreamKey);
    let device = sys
        .db
        .rotate_device_key(&id, &secret::digest(&key), &secret::visible_prefix(&key))
        .await?
        .ok_or_else(|| Problem::not_found("no such device"))?;
    if b.kick {
        sys.kick_device(&id, "key_rotated");
    }
    audit_ok(
        sys,
        &caller,
        "device.rotate_key",
        Some(("device", &id)),
        b.kick.then_some("kicked"),
    )
    .await;
    Ok(Json(with_key(sys, origin.as_ref(), device, key)))
}

/// Disconnects the device's live publish.
#[utoipa::path(post, path = "/api/v1/devices/{id}/kick", tag = "devices", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn kick_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    let device = managed_device(sys, &caller, &id).await?;
    let here = sys.kick_device(&id, "kicked");
    // In a cluster it may publish to another node, which was told too.
    let elsewhere = sys.settings.cluster.is_some() && device.current_session_id.is_some();
    if !here && !elsewhere {
        return Err(Problem::conflict("the device is not live"));
    }
    audit_ok(sys, &caller, "device.kick", Some(("device", &id)), None).await;
    Ok(StatusCode::NO_CONTENT)
}
