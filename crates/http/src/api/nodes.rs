//! `GET /api/v1/nodes` (admins): the nodes of the cluster with their state and load, as the
//! shared database knows them (heartbeat ages by the database's clock). A single node (no
//! `--cluster-secret`) lists itself.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caller::Caller;
use crate::{AppState, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_nodes))
}

#[derive(Serialize, ToSchema)]
pub struct NodeView {
    pub name: String,
    /// How the other nodes reach it.
    pub internal_url: String,
    /// Where encoders publish to it.
    pub rtmp_url: String,
    /// `active`, `draining` or `gone`.
    pub state: String,
    /// Whether its heartbeat is younger than the TTL (`--node-ttl`) and it has not left.
    pub alive: bool,
    /// Unix ms (the database's clock).
    pub started_at: i64,
    pub heartbeat_age_ms: i64,
    /// Live streams, viewers and CPU (thousandths of a core) at its last heartbeat.
    pub streams: i64,
    pub viewers: i64,
    pub cpu_milli: i64,
}

#[derive(Serialize, ToSchema)]
pub struct NodeList {
    pub items: Vec<NodeView>,
}

/// The cluster's nodes (admin).
#[utoipa::path(get, path = "/api/v1/nodes", tag = "node",
    responses((status = 200, body = NodeList), (status = 403, body = crate::problem::ProblemBody)))]
async fn list_nodes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<NodeList>, Problem> {
    caller.require_admin()?;
    let sys = &state.sys;
    let Some(cluster) = &sys.settings.cluster else {
        return Ok(Json(NodeList {
            items: vec![this_node(&state)],
        }));
    };
    let ttl_ms = cluster.node_ttl.as_millis() as i64;
    let items = sys
        .db
        .nodes()
        .await?
        .into_iter()
        .map(|n| NodeView {
            alive: n.state != "gone" && n.heartbeat_age_ms < ttl_ms,
            name: n.name,
            internal_url: n.internal_url,
            rtmp_url: n.rtmp_url,
            state: n.state,
            started_at: n.started_at,
            heartbeat_age_ms: n.heartbeat_age_ms,
            streams: n.load.streams,
            viewers: n.load.viewers,
            cpu_milli: n.load.cpu_milli,
        })
        .collect();
    Ok(Json(NodeList { items }))
}

/// A single node, as it knows itself.
fn this_node(state: &AppState) -> NodeView {
    let s = &state.sys.settings;
    let streams = state.registry.list();
    let live = streams
        .iter()
        .filter(|s| s.phase() == crate::stream::Phase::Live)
        .count();
    let viewers: u64 = streams.iter().map(|s| s.viewers.total()).sum();
    let started_at = state
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    NodeView {
        name: s.node_name.clone(),
        internal_url: format!("http://{}", s.http_listen),
        rtmp_url: format!("rtmp://{}/{}", s.rtmp_listen, s.rtmp_app),
        state: "active".to_owned(),
        alive: true,
        started_at,
        heartbeat_age_ms: 0,
        streams: live as i64,
        viewers: viewers as i64,
        cpu_milli: 0,
    }
}
