//! Publish history: one entry per continuous publish of a channel, with its device, node,
//! duration, bytes, codecs and end reason. Admins see every channel's, others their own.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::validate::Check;
use crate::caller::Caller;
use crate::db::Page;
use crate::db::publish_sessions::{PublishSession, PublishSessionFilter};
use crate::problem::ProblemBody;
use crate::{AppState, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_publish_sessions))
        .routes(routes!(get_publish_session))
}

#[derive(Serialize, ToSchema)]
pub struct PublishSessionList {
    pub items: Vec<PublishSession>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub channel_id: Option<String>,
    pub device_id: Option<String>,
    /// Only sessions of this owner's channels (admins; others always see their own).
    pub owner_id: Option<String>,
    /// Sessions started at or after this time (Unix milliseconds).
    pub since: Option<i64>,
    /// Sessions started before this time (Unix milliseconds).
    pub until: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Publish sessions of the channels the caller manages, newest first.
#[utoipa::path(get, path = "/api/v1/publish-sessions", tag = "streams", params(ListQuery),
    responses((status = 200, body = PublishSessionList), (status = 401, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn list_publish_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<PublishSessionList>, Problem> {
    let mut c = Check::new();
    if let (Some(s), Some(u)) = (q.since, q.until)
        && s > u
    {
        c.fail("until", "must not be before since");
    }
    c.done()?;
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let owner = if caller.is_admin() {
        nonempty(&q.owner_id)
    } else {
        Some(caller.id().to_owned())
    };
    let (channel, device) = (nonempty(&q.channel_id), nonempty(&q.device_id));
    let items = state
        .sys
        .db
        .list_publish_sessions(
            &PublishSessionFilter {
                channel_id: channel.as_deref(),
                device_id: device.as_deref(),
                owner_id: owner.as_deref(),
                since: q.since,
                until: q.until,
            },
            Page::new(q.limit, q.offset),
        )
        .await?;
    Ok(Json(PublishSessionList { items }))
}

/// One publish session of a channel the caller manages.
#[utoipa::path(get, path = "/api/v1/publish-sessions/{id}", tag = "streams", params(("id" = String, Path)),
    responses((status = 200, body = PublishSession), (status = 404, body = ProblemBody)))]
async fn get_publish_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PublishSession>, Problem> {
    let sys = &state.sys;
    let not_found = || Problem::not_found("no such publish session");
    let session = sys.db.publish_session(&id).await?.ok_or_else(not_found)?;
    match sys.db.channel(&session.channel_id).await? {
        Some(ch) if caller.can_manage(&ch.owner_id) => Ok(Json(session)),
        _ => Err(not_found()),
    }
}
