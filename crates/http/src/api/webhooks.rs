//! Webhook endpoints: register a URL for publish and recording events (the signing secret is
//! generated here and shown once), change, delete, read the delivery log, and send a test event.
//!
//! Broadcasters manage their own endpoints, admins every endpoint; someone else's endpoint is
//! answered like a missing one (404), so ids do not disclose what exists.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{audit, audit_ok};
use super::extract::{Body, Query};
use super::validate::Check;
use crate::caller::Caller;
use crate::db::Page;
use crate::db::audit::AuditResult;
use crate::db::webhooks::{WEBHOOK_EVENTS, Webhook, WebhookChanges, WebhookDelivery};
use crate::problem::ProblemBody;
use crate::security::secret::{self, SecretKind};
use crate::system::System;
use crate::webhooks::{
    Endpoint, EventData, PublishRef, PublishStarted, PublishStopped, RecordDone, WebhookEvent,
    validate_endpoint_target,
};
use crate::{AppState, Problem};

/// Most webhook endpoints one user may have.
pub const MAX_WEBHOOKS_PER_USER: i64 = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(test_webhook))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this owner's endpoints (admins; others always see their own).
    pub owner_id: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Webhook endpoints the caller manages.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", params(ListQuery),
    responses((status = 200, body = WebhookList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<WebhookList>, Problem> {
    caller.require_broadcaster()?;
    let owner = if caller.is_admin() {
        q.owner_id.clone().filter(|o| !o.is_empty())
    } else {
        Some(caller.id().to_owned())
    };
    let items = state
        .sys
        .db
        .list_webhooks(owner.as_deref(), Page::new(q.limit, q.offset))
        .await?;
    Ok(Json(WebhookList { items }))
}

/// Adds field errors for `url` and `events`; returns the events sorted and deduplicated.
/// Unless the operator allows private targets, a URL whose host is a non-public IP address is
/// refused (host names are checked when delivering, against what they resolve to then).
fn check_fields(
    sys: &System,
    c: &mut Check,
    url: Option<&str>,
    events: Option<&[String]>,
) -> Vec<String> {
    if let Some(url) = url
        && let Err(e) = validate_endpoint_target(url, sys.settings.webhook_allow_private_targets)
    {
        c.fail("url", e.to_string());
    }
    let Some(events) = events else {
        return Vec::new();
    };
    if events.is_empty() || events.iter().any(|e| !WEBHOOK_EVENTS.contains(&e.as_str())) {
        c.fail(
            "events",
            format!("must be a non-empty list of {}", WEBHOOK_EVENTS.join(", ")),
        );
    }
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    events
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `http://` or `https://` URL receiving signed POSTs.
    pub url: String,
    /// Events to send: `publish.started`, `publish.stopped`, `record.done` [default: all].
    pub events: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// HMAC-SHA256 key of the `OnAir-Signature` header. Shown only now: store it.
    pub secret: String,
}

/// Registers a webhook endpoint with a new signing secret (at most
/// [`MAX_WEBHOOKS_PER_USER`] per user: 409 beyond).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = WebhookWithSecret), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody),
              (status = 422, body = ProblemBody)))]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), Problem> {
    let sys = &state.sys;
    caller.require_broadcaster()?;
    let all: Vec<String> = WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect();
    let mut c = Check::new();
    let events = check_fields(
        sys,
        &mut c,
        Some(&b.url),
        Some(b.events.as_deref().unwrap_or(&all)),
    );
    c.done()?;
    // Every endpoint gets every matching event: unbounded endpoints would let one user
    // multiply the node's outgoing requests. Counted in the insert itself: a count before it
    // let concurrent requests all pass.
    let key = secret::generate(SecretKind::Webhook);
    let Some(webhook) = sys
        .db
        .create_webhook_within(caller.id(), &b.url, &key, &events, MAX_WEBHOOKS_PER_USER)
        .await?
    else {
        return Err(Problem::conflict(format!(
            "at most {MAX_WEBHOOKS_PER_USER} webhooks per user; delete one first"
        )));
    };
    audit_ok(
        sys,
        &caller,
        "webhook.create",
        Some(("webhook", &webhook.id)),
        None,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret {
            webhook,
            secret: key,
        }),
    ))
}

/// The webhook, if the caller manages it; 404 otherwise (existence is not disclosed).
async fn managed(sys: &System, caller: &Caller, id: &str) -> Result<Webhook, Problem> {
    caller.require_broadcaster()?;
    match sys.db.webhook(id).await? {
        Some(w) if caller.can_manage(&w.owner_id) => Ok(w),
        _ => Err(Problem::not_found("no such webhook")),
    }
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = ProblemBody)))]
async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, Problem> {
    Ok(Json(managed(&state.sys, &caller, &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// A disabled endpoint receives no events (test events are still sent).
    pub enabled: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), request_body = UpdateWebhook,
    responses((status = 200, body = Webhook), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn update_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<UpdateWebhook>,
) -> Result<Json<Webhook>, Problem> {
    let sys = &state.sys;
    let cur = managed(sys, &caller, &id).await?;
    let mut c = Check::new();
    let events = check_fields(sys, &mut c, b.url.as_deref(), b.events.as_deref());
    c.done()?;
    let webhook = sys
        .db
        .update_webhook(
            &id,
            WebhookChanges {
                url: b.url,
                events: b.events.map(|_| events),
                enabled: b.enabled,
            },
        )
        .await?
        .ok_or_else(|| Problem::not_found("no such webhook"))?;
    let action = match b.enabled {
        Some(true) if !cur.enabled => "webhook.enable",
        Some(false) if cur.enabled => "webhook.disable",
        _ => "webhook.update",
    };
    audit(
        sys,
        Some(&caller.user),
        action,
        Some(("webhook", &id)),
        &caller.ip_text(),
        AuditResult::Ok,
        None,
    )
    .await;
    Ok(Json(webhook))
}

/// Deletes a webhook endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    managed(sys, &caller, &id).await?;
    if !sys.db.delete_webhook(&id).await? {
        return Err(Problem::not_found("no such webhook"));
    }
    audit_ok(sys, &caller, "webhook.delete", Some(("webhook", &id)), None).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<WebhookDelivery>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Delivery attempts to the endpoint, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = DeliveryList), (status = 404, body = ProblemBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<DeliveryList>, Problem> {
    let sys = &state.sys;
    managed(sys, &caller, &id).await?;
    let items = sys
        .db
        .list_deliveries(&id, Page::new(q.limit, q.offset))
        .await?;
    Ok(Json(DeliveryList { items }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// Event type to send [default: the first the endpoint subscribes to].
    pub event: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TestSent {
    /// The `id` of the event sent; its attempts appear under `deliveries` with this `event_id`.
    pub event_id: String,
    /// `publish.started`, `publish.stopped` or `record.done`.
    pub event: String,
}

/// The reference every test event carries: recognisably not a real channel.
fn test_publish(event_id: &str) -> PublishRef {
    PublishRef {
        channel_id: "test".to_owned(),
        channel_slug: "test".to_owned(),
        device_id: None,
        publish_session_id: format!("test-{event_id}"),
    }
}

fn test_event(kind: &str) -> WebhookEvent {
    let id = ulid::Ulid::generate().to_string();
    let publish = test_publish(&id);
    let data = match kind {
        "publish.stopped" => EventData::PublishStopped(PublishStopped {
            publish,
            duration_ms: 0,
            bytes: 0,
            end_reason: crate::webhooks::EndReason::Unpublished,
        }),
        "record.done" => EventData::RecordDone(RecordDone {
            recording_id: format!("test{id}"),
            playlist_path: format!("/vod/test{id}/index.m3u8"),
            object_prefix: format!("test/{id}/"),
            publish,
            duration_ms: 0,
        }),
        _ => EventData::PublishStarted(PublishStarted { publish }),
    };
    WebhookEvent {
        id,
        test: true,
        ..WebhookEvent::new(data)
    }
}

/// Sends a test event (channel `test`) to this endpoint now, signed like every delivery. The
/// answer does not wait for the delivery: read `deliveries` for its outcome. Limited per user
/// (10 a minute by default; 429 with `Retry-After` beyond).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)), request_body = TestBody,
    responses((status = 202, body = TestSent), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
              (status = 429, body = ProblemBody), (status = 503, body = ProblemBody)))]
async fn test_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<TestBody>,
) -> Result<(StatusCode, Json<TestSent>), Problem> {
    let sys = &state.sys;
    let webhook = managed(sys, &caller, &id).await?;
    let kind = match &b.event {
        Some(e) if WEBHOOK_EVENTS.contains(&e.as_str()) => e.clone(),
        Some(_) => {
            return Err(Problem::field(
                "event",
                format!("must be one of {}", WEBHOOK_EVENTS.join(", ")),
            ));
        }
        None => webhook
            .events
            .first()
            .cloned()
            .unwrap_or_else(|| WEBHOOK_EVENTS[0].to_owned()),
    };
    if let Err(r) = sys
        .limiters
        .webhook_test_user
        .check(&caller.id().to_owned(), std::time::Instant::now())
    {
        return Err(Problem::too_many(r.0.as_secs_f64().ceil() as u32));
    }
    let event = test_event(&kind);
    let event_id = event.id.clone();
    let endpoint = Endpoint {
        id: webhook.id.clone(),
        url: webhook.url.clone(),
        secret: webhook.secret.clone(),
    };
    if !sys.emit_to(event, vec![endpoint]) {
        return Err(Problem::not_ready(
            "the webhook queue is full; try again shortly",
        ));
    }
    audit_ok(
        sys,
        &caller,
        "webhook.test",
        Some(("webhook", &id)),
        Some(&kind),
    )
    .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestSent {
            event_id,
            event: kind,
        }),
    ))
}
