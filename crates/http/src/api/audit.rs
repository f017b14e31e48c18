//! The audit log: admins read every entry, everyone else the entries of their own actions.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::validate::Check;
use crate::caller::Caller;
use crate::db::Page;
use crate::db::audit::{AuditEntry, AuditFilter, AuditResult, NewAudit};
use crate::db::users::User;
use crate::problem::ProblemBody;
use crate::system::System;
use crate::{AppState, Problem};

/// Longest filter value accepted (ids, action names, e-mail addresses).
const MAX_FILTER_LEN: usize = 256;

/// Audits a successful action of a signed-in caller.
pub(crate) async fn audit_ok(
    sys: &System,
    caller: &crate::caller::Caller,
    action: &str,
    target: Option<(&str, &str)>,
    detail: Option<&str>,
) {
    audit(
        sys,
        Some(&caller.user),
        action,
        target,
        &caller.ip_text(),
        AuditResult::Ok,
        detail,
    )
    .await;
}

pub(crate) async fn audit(
    sys: &System,
    actor: Option<&User>,
    action: &str,
    target: Option<(&str, &str)>,
    ip: &str,
    result: AuditResult,
    detail: Option<&str>,
) {
    let r = sys
        .db
        .audit(NewAudit {
            actor_id: actor.map(|u| u.id.as_str()),
            actor: actor.map_or("anonymous", |u| u.email.as_str()),
            action,
            target_type: target.map(|t| t.0),
            target_id: target.map(|t| t.1),
            ip: Some(ip),
            result: Some(result),
            detail,
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "audit write failed");
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEntry>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The actor's user id or its `actor` text (an e-mail, `system`, `anonymous`).
    pub actor: Option<String>,
    /// e.g. `user.login`.
    pub action: Option<String>,
    /// e.g. `user`, `device`, `channel`, `webhook`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Entries at or after this time (Unix milliseconds).
    pub since: Option<i64>,
    /// Entries before this time (Unix milliseconds).
    pub until: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Audit entries, newest first. Admins see every entry; other users only those where they are
/// the actor.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 401, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditList>, Problem> {
    let mut c = Check::new();
    for (field, v) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("target_type", &q.target_type),
        ("target_id", &q.target_id),
    ] {
        if v.as_ref().is_some_and(|v| v.len() > MAX_FILTER_LEN) {
            c.fail(field, format!("must be at most {MAX_FILTER_LEN} bytes"));
        }
    }
    if let (Some(s), Some(u)) = (q.since, q.until)
        && s > u
    {
        c.fail("until", "must not be before since");
    }
    c.done()?;
    let filter = AuditFilter {
        actor_id: (!caller.is_admin()).then(|| caller.id()),
        actor: nonempty(q.actor.as_deref()),
        action: nonempty(q.action.as_deref()),
        target_type: nonempty(q.target_type.as_deref()),
        target_id: nonempty(q.target_id.as_deref()),
        since: q.since,
        until: q.until,
    };
    let items = state
        .sys
        .db
        .list_audit(&filter, Page::new(q.limit, q.offset))
        .await?;
    Ok(Json(AuditList { items }))
}

/// An empty query parameter (`?action=`) does not filter.
fn nonempty(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}
