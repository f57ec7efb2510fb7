//! `/admin/v1.0/trace`: does a packet from a top port reach an IP, judged
//! from the pods' actual state (see `tricircle_core::networking::trace`).

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tricircle_common::Error;
use tricircle_core::networking::trace::TraceReport;
use utoipa::IntoParams;

use super::views::{Fault, TraceBody, TraceView};
use crate::ApiState;
use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::QueryParams;

impl From<TraceReport> for TraceView {
    fn from(r: TraceReport) -> Self {
        TraceView {
            reachable: r.reachable,
            hops: r.hops,
            reason: r.reason,
            dest_port: r.dest_port,
            dest_region: r.dest_region,
        }
    }
}

/// Where the packet starts and where it goes. Unknown parameters are refused.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TraceQuery {
    /// The top port the packet leaves from.
    from_port: Option<String>,
    /// The destination IP address.
    to: Option<String>,
}

/// Trace a packet from a top port to an IP through the pods' bottom state,
/// hop by hop: shadow ports and their tunnel endpoints, routers, routes.
#[utoipa::path(get, path = "/admin/v1.0/trace", tag = "trace", operation_id = "network_trace",
    security(("token" = [])),
    params(TraceQuery),
    responses(
        (status = 200, description = "The verdict; `reason` names the missing piece when it does not reach", body = TraceBody),
        (status = 400, description = "`from_port` or `to` missing, or `to` is not an IP address", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such port", body = Fault),
        (status = 409, description = "The port has no copy in any pod (it is on no server yet)", body = Fault),
        (status = 503, description = "A pod is not answering", body = Fault),
    ))]
pub async fn network_trace(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    QueryParams(q): QueryParams<TraceQuery>,
) -> ApiResult<Json<TraceBody>> {
    let from_port = q
        .from_port
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Error::bad_request("The from_port parameter is required."))?;
    let to = q.to.ok_or_else(|| Error::bad_request("The to parameter is required."))?;
    let to: IpAddr =
        to.parse().map_err(|_| Error::bad_request(format!("to: {to:?} is not an IP address.")))?;
    let report = state.app.network_trace(&ctx, &from_port, to).await?;
    Ok(Json(TraceBody { trace: report.into() }))
}
