//! Channels: create, change, delete, ban/resume, kick the live publisher, private grants, and
//! signed playback URLs.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::audit_ok;
use super::extract::{Body, Query};
use super::validate::Check;
use crate::caller::Caller;
use crate::channels::{ChannelError, NewChannel as NewChannelRow};
use crate::db::Page;
use crate::db::channels::{Channel, ChannelChanges, Visibility};
use crate::origin::Origin;
use crate::problem::ProblemBody;
use crate::security::{alibaba, signed_url};
use crate::stream::Phase;
use crate::system::System;
use crate::{AppState, Problem};

/// Shortest and longest per-channel segment target (ms).
pub const SEGMENT_MS_RANGE: std::ops::RangeInclusive<i64> = 500..=60_000;
/// Shortest and longest per-channel part target (ms).
pub const PART_MS_RANGE: std::ops::RangeInclusive<i64> = 50..=5_000;
/// Longest lifetime of a signed playback URL.
pub const MAX_PLAYBACK_TTL_SECS: u64 = 7 * 86_400;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(get_channel, update_channel, delete_channel))
        .routes(routes!(ban_channel))
        .routes(routes!(resume_channel))
        .routes(routes!(kick_channel))
        .routes(routes!(list_grants))
        .routes(routes!(add_grant, remove_grant))
        .routes(routes!(playback_url))
}

#[derive(Serialize, ToSchema)]
pub struct ChannelView {
    #[serde(flatten)]
    pub channel: Channel,
    /// A publisher is live on this channel now.
    pub live: bool,
    /// Viewers now: HTTP-FLV connections plus distinct HLS and LL-HLS sessions seen in the
    /// last 15 s.
    pub viewers: u64,
}

fn view(sys: &System, channel: Channel) -> ChannelView {
    let stream = sys.registry.get(&channel.slug);
    let live = stream.as_ref().is_some_and(|s| s.phase() == Phase::Live);
    let viewers = stream.map_or(0, |s| s.viewers.total());
    ChannelView {
        channel,
        live,
        viewers,
    }
}

/// Whether the slug is free (see `System::slug_free`), as a 409 problem when not.
async fn slug_free(sys: &System, slug: &str) -> Result<(), Problem> {
    Ok(sys.slug_free(slug).await?)
}

/// How the channel service's refusals read over HTTP.
impl From<ChannelError> for Problem {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::NameTaken(m) => Problem::conflict(m),
            ChannelError::Db(e) => e.into(),
            e @ (ChannelError::NotFound | ChannelError::NoSuchUser | ChannelError::NoSuchGrant) => {
                Problem::not_found(e.to_string())
            }
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    pub items: Vec<ChannelView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this owner's channels (admins; others always see their own).
    pub owner_id: Option<String>,
    /// Only channels whose name (slug) or title contains this (case ignored).
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Channels the caller manages (admins: all, or one owner's), newest first.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", params(ListQuery),
    responses((status = 200, body = ChannelList), (status = 401, body = ProblemBody)))]
async fn list_channels(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<ChannelList>, Problem> {
    let sys = &state.sys;
    let owner = if caller.is_admin() {
        q.owner_id.clone()
    } else {
        Some(caller.id().to_owned())
    };
    let items = sys
        .db
        .list_channels(
            owner.as_deref(),
            q.q.as_deref(),
            Page::new(q.limit, q.offset),
        )
        .await?
        .into_iter()
        .map(|c| view(sys, c))
        .collect();
    Ok(Json(ChannelList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Public name in playback URLs, `[A-Za-z0-9_-]{1,64}`.
    pub slug: String,
    pub title: String,
    #[serde(default = "default_visibility")]
    pub visibility: Visibility,
    pub segment_duration_ms: Option<i64>,
    pub part_duration_ms: Option<i64>,
    /// Owner (admins only; default: the caller).
    pub owner_id: Option<String>,
}

fn default_visibility() -> Visibility {
    Visibility::Public
}

fn check_durations(c: &mut Check, segment: Option<i64>, part: Option<i64>) {
    if let Some(s) = segment
        && !SEGMENT_MS_RANGE.contains(&s)
    {
        c.fail(
            "segment_duration_ms",
            format!(
                "must be {}..={}",
                SEGMENT_MS_RANGE.start(),
                SEGMENT_MS_RANGE.end()
            ),
        );
    }
    if let Some(p) = part
        && !PART_MS_RANGE.contains(&p)
    {
        c.fail(
            "part_duration_ms",
            format!(
                "must be {}..={}",
                PART_MS_RANGE.start(),
                PART_MS_RANGE.end()
            ),
        );
    }
    if let (Some(s), Some(p)) = (segment, part)
        && p > s
    {
        c.fail("part_duration_ms", "must not exceed segment_duration_ms");
    }
}

/// Creates a channel.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = NewChannel,
    responses((status = 201, body = ChannelView), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<NewChannel>,
) -> Result<(StatusCode, Json<ChannelView>), Problem> {
    let sys = &state.sys;
    caller.require_broadcaster()?;
    let mut c = Check::new();
    c.slug("slug", &b.slug);
    c.name("title", &b.title);
    check_durations(&mut c, b.segment_duration_ms, b.part_duration_ms);
    c.done()?;
    slug_free(sys, &b.slug).await?;
    let owner = match &b.owner_id {
        Some(o) if o != caller.id() => {
            caller.require_admin()?;
            if sys.db.user(o).await?.is_none() {
                return Err(Problem::field("owner_id", "no such user"));
            }
            o.clone()
        }
        _ => caller.id().to_owned(),
    };
    let channel = sys
        .create_channel(NewChannelRow {
            owner_id: &owner,
            slug: &b.slug,
            title: b.title.trim(),
            visibility: b.visibility,
            segment_duration_ms: b.segment_duration_ms,
            part_duration_ms: b.part_duration_ms,
        })
        .await?;
    audit_ok(
        sys,
        &caller,
        "channel.create",
        Some(("channel", &channel.id)),
        Some(&channel.slug),
    )
    .await;
    Ok((StatusCode::CREATED, Json(view(sys, channel))))
}

/// The channel, if the caller manages it; 404 otherwise (existence is not disclosed).
pub(crate) async fn managed(sys: &System, caller: &Caller, id: &str) -> Result<Channel, Problem> {
    match sys.db.channel(id).await? {
        Some(c) if caller.can_manage(&c.owner_id) => Ok(c),
        _ => Err(Problem::not_found("no such channel")),
    }
}

#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, body = ChannelView), (status = 404, body = ProblemBody)))]
async fn get_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, Problem> {
    let sys = &state.sys;
    Ok(Json(view(sys, managed(sys, &caller, &id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub visibility: Option<Visibility>,
    /// `null` returns to the node default.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub segment_duration_ms: Option<Option<i64>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub part_duration_ms: Option<Option<i64>>,
    /// Keep finished streams as recordings [default for new channels: true].
    pub record: Option<bool>,
    /// Delete recordings this many days after they end (1..=36500); `null` keeps them.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub retention_days: Option<Option<i64>>,
}

/// Distinguishes an absent field (no change) from `null` (clear).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

/// Changes a channel. A new slug applies from the next publish.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = String, Path)), request_body = UpdateChannel,
    responses((status = 200, body = ChannelView), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn update_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<UpdateChannel>,
) -> Result<Json<ChannelView>, Problem> {
    let sys = &state.sys;
    let cur = managed(sys, &caller, &id).await?;
    let mut c = Check::new();
    if let Some(s) = &b.slug {
        c.slug("slug", s);
    }
    if let Some(t) = &b.title {
        c.name("title", t);
    }
    if let Some(slug) = &b.slug
        && *slug != cur.slug
    {
        slug_free(sys, slug).await?;
    }
    if let Some(Some(d)) = b.retention_days
        && !(1..=36_500).contains(&d)
    {
        c.fail(
            "retention_days",
            "must be 1..=36500 days, or null to keep recordings",
        );
    }
    let seg = b.segment_duration_ms.unwrap_or(cur.segment_duration_ms);
    let part = b.part_duration_ms.unwrap_or(cur.part_duration_ms);
    check_durations(&mut c, seg, part);
    c.done()?;
    let channel = sys
        .update_channel(
            &cur,
            ChannelChanges {
                slug: b.slug,
                title: b.title.map(|t| t.trim().to_owned()),
                visibility: b.visibility,
                segment_duration_ms: b.segment_duration_ms,
                part_duration_ms: b.part_duration_ms,
                record: b.record,
                retention_days: b.retention_days,
            },
        )
        .await?;
    audit_ok(sys, &caller, "channel.update", Some(("channel", &id)), None).await;
    Ok(Json(view(sys, channel)))
}

/// Deletes a channel with its devices, history and recordings.
///
/// A live publisher is disconnected. The channel's recordings leave the API at once; their
/// stored objects are deleted right after, in the background (if the object store cannot be
/// reached, the hourly recordings sweep tries again). A recording still being stored is deleted
/// when its upload completes.
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    let channel = managed(sys, &caller, &id).await?;
    sys.delete_channel(&channel).await?;
    audit_ok(
        sys,
        &caller,
        "channel.delete",
        Some(("channel", &id)),
        Some(&channel.slug),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BanBody {
    pub reason: Option<String>,
}

/// Bans a channel (admin): the live publisher is disconnected and publishing is refused until
/// the channel is resumed (like Alibaba's ForbidLiveStream).
#[utoipa::path(post, path = "/api/v1/channels/{id}/ban", tag = "channels", params(("id" = String, Path)), request_body = BanBody,
    responses((status = 200, body = ChannelView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn ban_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<BanBody>,
) -> Result<Json<ChannelView>, Problem> {
    let sys = &state.sys;
    caller.require_admin()?;
    let mut c = Check::new();
    if let Some(r) = &b.reason {
        c.name("reason", r);
    }
    c.done()?;
    let reason = b.reason.unwrap_or_else(|| "banned".to_owned());
    let channel = sys.ban_channel(&id, &reason).await?;
    audit_ok(
        sys,
        &caller,
        "channel.ban",
        Some(("channel", &id)),
        Some(&reason),
    )
    .await;
    Ok(Json(view(sys, channel)))
}

/// Lifts a ban (admin; like Alibaba's ResumeLiveStream).
#[utoipa::path(post, path = "/api/v1/channels/{id}/resume", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, body = ChannelView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn resume_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, Problem> {
    let sys = &state.sys;
    caller.require_admin()?;
    let channel = sys.resume_channel(&id).await?;
    audit_ok(sys, &caller, "channel.resume", Some(("channel", &id)), None).await;
    Ok(Json(view(sys, channel)))
}

/// Disconnects the channel's live publisher (it may publish again).
#[utoipa::path(post, path = "/api/v1/channels/{id}/kick", tag = "channels", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn kick_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    let channel = managed(sys, &caller, &id).await?;
    if !sys.kick_publisher(&channel).await? {
        return Err(Problem::conflict("the channel is not live"));
    }
    audit_ok(sys, &caller, "channel.kick", Some(("channel", &id)), None).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct GrantList {
    /// Users allowed to watch this private (or signed) channel.
    pub user_ids: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/channels/{id}/grants", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, body = GrantList), (status = 404, body = ProblemBody)))]
async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<GrantList>, Problem> {
    let sys = &state.sys;
    managed(sys, &caller, &id).await?;
    Ok(Json(GrantList {
        user_ids: sys.db.channel_grants(&id).await?,
    }))
}

/// Allows a user to watch the channel.
#[utoipa::path(put, path = "/api/v1/channels/{id}/grants/{user_id}", tag = "channels", params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn add_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    managed(sys, &caller, &id).await?;
    sys.grant_channel(&id, &user_id).await?;
    audit_ok(
        sys,
        &caller,
        "channel.grant",
        Some(("channel", &id)),
        Some(&user_id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/channels/{id}/grants/{user_id}", tag = "channels", params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn remove_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    let channel = managed(sys, &caller, &id).await?;
    sys.revoke_grant(&channel, &user_id).await?;
    audit_ok(
        sys,
        &caller,
        "channel.revoke_grant",
        Some(("channel", &id)),
        Some(&user_id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `caller` may watch `channel` (without a signed URL).
pub(crate) async fn may_watch(
    sys: &System,
    caller: Option<&Caller>,
    channel: &Channel,
) -> Result<bool, Problem> {
    Ok(match (channel.visibility, caller) {
        (Visibility::Public, _) => true,
        (Visibility::Authenticated, Some(_)) => true,
        (_, Some(c)) if c.can_manage(&channel.owner_id) => true,
        (Visibility::Private | Visibility::Signed, Some(c)) => {
            sys.db.has_channel_grant(&channel.id, c.id()).await?
        }
        _ => false,
    })
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PlaybackUrlBody {
    /// Seconds the URL stays valid [default: 3600].
    pub ttl_seconds: Option<u64>,
    /// Bind the URL to the caller's IP address (or the given one).
    #[serde(default)]
    pub bind_ip: bool,
    #[schema(value_type = Option<String>)]
    pub client_ip: Option<IpAddr>,
    /// `token` (OnAir's own, covers every object of the channel) or `alibaba` (type A; signs
    /// the multivariant playlist URL, and the playlists sign their children) [default: token].
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PlaybackUrls {
    /// Multivariant LL-HLS playlist.
    pub hls: String,
    /// Classic HLS (MPEG-TS).
    pub ts: String,
    pub flv: String,
    /// The query parameter (`token=…` or `auth_key=…`) the URLs carry.
    pub query: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// A signed playback URL for a user allowed to watch the channel.
#[utoipa::path(post, path = "/api/v1/channels/{id}/playback-url", tag = "channels", params(("id" = String, Path)), request_body = PlaybackUrlBody,
    responses((status = 200, body = PlaybackUrls), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn playback_url(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(id): Path<String>,
    Body(b): Body<PlaybackUrlBody>,
) -> Result<Json<PlaybackUrls>, Problem> {
    let sys = &state.sys;
    let Some(channel) = sys.db.channel(&id).await? else {
        return Err(Problem::not_found("no such channel"));
    };
    if !may_watch(sys, Some(&caller), &channel).await? {
        return Err(Problem::not_found("no such channel"));
    }
    let ttl = b.ttl_seconds.unwrap_or(3600);
    if !(1..=MAX_PLAYBACK_TTL_SECS).contains(&ttl) {
        return Err(Problem::field(
            "ttl_seconds",
            format!("must be 1..={MAX_PLAYBACK_TTL_SECS}"),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let slug = &channel.slug;
    let paths = [
        format!("/live/{slug}/index.m3u8"),
        format!("/live/{slug}/ts/index.m3u8"),
        format!("/live/{slug}.flv"),
    ];
    let (query, expires_at, signed): (String, u64, Vec<String>) =
        match b.format.as_deref().unwrap_or("token") {
            "token" => {
                let scope = signed_url::channel_scope(slug)
                    .ok_or_else(|| Problem::internal(&"invalid slug"))?;
                let client_ip = if b.bind_ip {
                    Some(b.client_ip.unwrap_or(caller.ip))
                } else {
                    b.client_ip
                };
                let token = signed_url::sign(
                    &sys.playback.signed,
                    &signed_url::Grant {
                        scope,
                        expires: now + ttl,
                        // Bound to the channel's playback epoch (see `http::playback`).
                        user_id: format!("{}@{}", caller.id(), channel.playback_epoch),
                        client_ip,
                    },
                )
                .map_err(|e| Problem::internal(&e))?;
                let q = format!("token={token}");
                (
                    q.clone(),
                    now + ttl,
                    paths.iter().map(|p| format!("{p}?{q}")).collect(),
                )
            }
            "alibaba" => {
                let Some(key) = sys.playback.alibaba.first() else {
                    return Err(Problem::field(
                        "format",
                        "Alibaba type A keys are not configured on this server",
                    ));
                };
                // Type A URLs are valid for the configured TTL after their timestamp: start the
                // window so that it ends when the caller asked.
                let cfg_ttl = sys.playback.alibaba_ttl.as_secs();
                let ts = (now + ttl.min(cfg_ttl)).saturating_sub(cfg_ttl);
                // Bound to the user and the channel's playback epoch like tokens, in the one
                // free field the CDN's MD5 covers (see `http::playback::alibaba_uid`).
                let uid = crate::playback::alibaba_uid(caller.id(), channel.playback_epoch);
                let mut urls = Vec::new();
                let mut first = String::new();
                for p in &paths {
                    let k =
                        alibaba::sign_for(p, ts, &uid, key).map_err(|e| Problem::internal(&e))?;
                    if first.is_empty() {
                        first = format!("auth_key={k}");
                    }
                    urls.push(format!("{p}?auth_key={k}"));
                }
                (first, ts + cfg_ttl, urls)
            }
            _ => return Err(Problem::field("format", "must be token or alibaba")),
        };
    audit_ok(
        sys,
        &caller,
        "channel.playback_url",
        Some(("channel", &id)),
        None,
    )
    .await;
    let base = sys.public_url_for(origin.as_ref().map(|o| o.base()));
    Ok(Json(PlaybackUrls {
        hls: format!("{base}{}", signed[0]),
        ts: format!("{base}{}", signed[1]),
        flv: format!("{base}{}", signed[2]),
        query,
        expires_at,
    }))
}
