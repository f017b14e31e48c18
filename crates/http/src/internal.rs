//! Node-to-node and operator endpoints of a cluster, under `/internal/v1/`: not part of the
//! public API (not in the OpenAPI document), and refused without the cluster secret
//! (`Authorization: Bearer <--cluster-secret>`, compared in constant time). A node that is not
//! in a cluster has none of them (404).
//!
//! * `POST /internal/v1/drain?timeout=SECONDS` — drain this node (`onair drain`): see
//!   `System::drain`.

use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::Deserialize;

use crate::{AppState, Problem};

/// Longest drain timeout accepted.
pub const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(3600);

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/v1/drain", post(drain))
}

/// Checks the caller holds the cluster secret.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Problem> {
    let Some(cluster) = &state.sys.settings.cluster else {
        return Err(Problem::not_found("no such resource"));
    };
    let sent = crate::caller::bearer(headers).unwrap_or("");
    if crate::security::constant_time_eq(sent.as_bytes(), cluster.secret.as_bytes()) {
        Ok(())
    } else {
        Err(Problem::unauthorized("the cluster secret is required"))
    }
}

#[derive(Deserialize)]
struct DrainQuery {
    /// Seconds publishers may stay before they are disconnected [default: 0].
    timeout: Option<f64>,
}

async fn drain(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, Problem> {
    authorize(&state, &headers)?;
    let q: DrainQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| Problem::bad_request(e.to_string()))?;
    let timeout = match q.timeout {
        None => Duration::ZERO,
        Some(t) if t.is_finite() && (0.0..=MAX_DRAIN_TIMEOUT.as_secs_f64()).contains(&t) => {
            Duration::from_secs_f64(t)
        }
        Some(_) => {
            return Err(Problem::bad_request(format!(
                "timeout must be 0..={} seconds",
                MAX_DRAIN_TIMEOUT.as_secs()
            )));
        }
    };
    state.sys.drain(timeout).await;
    Ok(StatusCode::ACCEPTED)
}
