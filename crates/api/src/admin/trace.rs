//! `/admin/v1.0/trace`: does a packet from a top port, or from the outside
//! world through a floating IP, reach an IP, judged from the pods' actual
//! state (see `tricircle_core::networking::trace`).

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tricircle_common::Error;
use tricircle_core::networking::trace::{TraceReport, TraceSource};
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
    /// The top port the packet leaves from (or give `from_outside`).
    from_port: Option<String>,
    /// `true`: the packet comes from the outside world, to a floating IP (instead of `from_port`).
    #[param(value_type = Option<bool>)]
    from_outside: Option<String>,
    /// The destination IP address.
    to: Option<String>,
}

/// Trace a packet from a top port (or, with `from_outside=true`, from the
/// outside world to a floating IP) to an IP through the pods' bottom state,
/// hop by hop: shadow ports and their tunnel endpoints, routers, routes,
/// router gateways with SNAT, floating IPs.
#[utoipa::path(get, path = "/admin/v1.0/trace", tag = "trace", operation_id = "network_trace",
    security(("token" = [])),
    params(TraceQuery),
    responses(
        (status = 200, description = "The verdict; `reason` names the missing piece when it does not reach", body = TraceBody),
        (status = 400, description = "Not exactly one of `from_port` and `from_outside=true`, `to` missing, or `to` is not an IP address", body = Fault),
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
    let from = source(q.from_port, q.from_outside.as_deref())?;
    let to = q.to.ok_or_else(|| Error::bad_request("The to parameter is required."))?;
    let to: IpAddr =
        to.parse().map_err(|_| Error::bad_request(format!("to: {to:?} is not an IP address.")))?;
    let report = state.app.network_trace(&ctx, &from, to).await?;
    Ok(Json(TraceBody { trace: report.into() }))
}

/// Exactly one of `from_port` and `from_outside=true`.
fn source(from_port: Option<String>, from_outside: Option<&str>) -> Result<TraceSource, Error> {
    let outside = match from_outside {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "from_outside: {other:?} is not a boolean (true or false)."
            )));
        }
    };
    match (from_port.filter(|p| !p.is_empty()), outside) {
        (Some(p), false) => Ok(TraceSource::Port(p)),
        (None, true) => Ok(TraceSource::Outside),
        (Some(_), true) => Err(Error::bad_request(
            "Give either from_port or from_outside=true, not both: a packet starts at a port or \
             outside.",
        )),
        (None, false) => Err(Error::bad_request(
            "Where the packet starts is required: from_port=<top port ID> or from_outside=true.",
        )),
    }
}
