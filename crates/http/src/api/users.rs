//! User administration (admin only): list and search, create, change role, status and display
//! name, set a new password, and turn off two-factor sign-in for a user who lost it. The last active admin can be neither demoted nor disabled.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{audit, audit_ok};
use super::extract::{Body, Query};
use super::validate::{Check, MAX_NAME_LEN};
use crate::caller::Caller;
use crate::db::audit::AuditResult;
use crate::db::users::{
    NewUser, Role, User, UserChanges, UserFilter, UserStatus, UserUpdate, UserView,
};
use crate::db::{MAX_PAGE_SIZE, Page};
use crate::problem::ProblemBody;
use crate::system::System;
use crate::{AppState, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(reset_password))
        .routes(routes!(clear_totp))
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    /// Substring of the e-mail address or display name (case-insensitive).
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Users, oldest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, body = UserList), (status = 403, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<UserList>, Problem> {
    caller.require_admin()?;
    if let Some(text) = &q.q
        && text.chars().count() > MAX_NAME_LEN
    {
        return Err(Problem::field(
            "q",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    let users = state
        .sys
        .db
        .list_users(
            &UserFilter {
                role: q.role,
                status: q.status,
                q: q.q.as_deref().filter(|s| !s.is_empty()),
            },
            Page::new(q.limit, q.offset),
        )
        .await?;
    Ok(Json(UserList {
        items: users.iter().map(UserView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub role: Role,
}

/// Creates an active user with a verified e-mail address.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, body = UserView), (status = 403, body = ProblemBody),
              (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<NewUserBody>,
) -> Result<(StatusCode, Json<UserView>), Problem> {
    let sys = &state.sys;
    caller.require_admin()?;
    let mut c = Check::new();
    c.email("email", &b.email);
    c.name("display_name", &b.display_name);
    c.password_for("password", &b.password, &[&b.email, &b.display_name]);
    c.done()?;
    let hash = sys
        .hash_password(&b.password)
        .await
        .map_err(|e| Problem::internal(&e))?;
    let user = sys
        .db
        .create_user(NewUser {
            email: &b.email,
            display_name: b.display_name.trim(),
            password_hash: &hash,
            role: b.role,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await?;
    audit_ok(
        sys,
        &caller,
        "user.create",
        Some(("user", &user.id)),
        Some(&format!("role={}", user.role.as_str())),
    )
    .await;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

async fn existing(sys: &System, id: &str) -> Result<User, Problem> {
    sys.db
        .user(id)
        .await?
        .ok_or_else(|| Problem::not_found("no such user"))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UserView>, Problem> {
    caller.require_admin()?;
    let user = existing(&state.sys, &id).await?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub role: Option<Role>,
    /// `active` or `disabled`. Disabling signs the user out everywhere, revokes their
    /// access tokens and disconnects their devices' live publishes.
    pub status: Option<UserStatus>,
    pub display_name: Option<String>,
}

/// Changes a user's role, status and/or display name. Demoting or disabling the last active
/// admin is refused (409).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
              (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<UpdateUser>,
) -> Result<Json<UserView>, Problem> {
    let sys = &state.sys;
    caller.require_admin()?;
    let mut c = Check::new();
    if let Some(n) = &b.display_name {
        c.name("display_name", n);
    }
    if b.status == Some(UserStatus::Pending) {
        c.fail("status", "must be active or disabled");
    }
    c.done()?;
    let cur = existing(sys, &id).await?;
    let changes = UserChanges {
        role: b.role,
        status: b.status,
        display_name: b.display_name.as_deref().map(|n| n.trim().to_owned()),
    };
    let user = match sys.db.update_user(&id, changes).await? {
        UserUpdate::Updated(u) => *u,
        UserUpdate::NotFound => return Err(Problem::not_found("no such user")),
        UserUpdate::LastAdmin => {
            audit(
                sys,
                Some(&caller.user),
                "user.update",
                Some(("user", &id)),
                &caller.ip_text(),
                AuditResult::Denied,
                Some("last active admin"),
            )
            .await;
            return Err(Problem::conflict(
                "this is the last active admin: make another user admin first",
            ));
        }
    };
    let disabled = user.status == UserStatus::Disabled && cur.status != UserStatus::Disabled;
    if disabled {
        sys.db.revoke_all_sessions(&id, None).await?;
        sys.db.revoke_all_api_tokens(&id).await?;
        kick_devices(sys, &id).await?;
    }
    let action = if disabled {
        "user.disable"
    } else if user.status == UserStatus::Active && cur.status != UserStatus::Active {
        "user.enable"
    } else if user.role != cur.role {
        "user.role_change"
    } else {
        "user.update"
    };
    let mut detail = Vec::new();
    if user.role != cur.role {
        detail.push(format!("role={}", user.role.as_str()));
    }
    if user.status != cur.status {
        detail.push(format!("status={}", user.status.as_str()));
    }
    if user.display_name != cur.display_name {
        detail.push("display_name".to_owned());
    }
    let detail = detail.join(" ");
    audit(
        sys,
        Some(&caller.user),
        action,
        Some(("user", &id)),
        &caller.ip_text(),
        AuditResult::Ok,
        (!detail.is_empty()).then_some(detail.as_str()),
    )
    .await;
    Ok(Json(UserView::from(&user)))
}

/// Disconnects the live publishes of a user's devices (their keys are refused from now on,
/// since the owner is not active).
async fn kick_devices(sys: &System, owner_id: &str) -> Result<(), Problem> {
    let mut offset = 0;
    loop {
        let page = sys
            .db
            .list_devices(
                Some(owner_id),
                None,
                Page::new(Some(MAX_PAGE_SIZE), Some(offset)),
            )
            .await?;
        for d in &page {
            sys.kick_device(&d.id, "owner_disabled");
        }
        if (page.len() as i64) < MAX_PAGE_SIZE {
            return Ok(());
        }
        offset += MAX_PAGE_SIZE;
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: String,
}

/// Sets a new password for a user, signs them out of every console session (an admin
/// resetting their own password keeps the session making the request) and revokes their
/// access tokens.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", tag = "users", params(("id" = String, Path)), request_body = PasswordBody,
    responses((status = 204), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<PasswordBody>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    caller.require_admin()?;
    let mut c = Check::new();
    c.password("password", &b.password);
    c.done()?;
    let user = existing(sys, &id).await?;
    let hash = sys
        .hash_password(&b.password)
        .await
        .map_err(|e| Problem::internal(&e))?;
    if !sys.db.set_password_hash(&user.id, &hash).await? {
        return Err(Problem::not_found("no such user"));
    }
    let keep = if user.id == caller.id() {
        caller.session_id()
    } else {
        None
    };
    sys.db.revoke_all_sessions(&user.id, keep).await?;
    sys.db.revoke_all_api_tokens(&user.id).await?;
    audit_ok(
        sys,
        &caller,
        "user.password_set",
        Some(("user", &user.id)),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns two-factor sign-in off for a user (and drops a setup in progress), for someone who
/// lost their authenticator or whose account had one enrolled by someone else. Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/clear-totp", tag = "users", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn clear_totp(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    caller.require_admin()?;
    let user = existing(sys, &id).await?;
    let was_on = user.totp_secret.is_some();
    sys.db.set_totp(&user.id, None, None).await?;
    audit_ok(
        sys,
        &caller,
        "user.totp_clear",
        Some(("user", &user.id)),
        Some(if was_on { "was on" } else { "was off" }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
