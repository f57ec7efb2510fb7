//! Nova v2.1 at `/compute` (DESIGN §4): version documents, microversion
//! negotiation, servers (routed to their pods), flavors, keypairs and server
//! groups (top objects), availability zones (one per pod AZ), limits.
//!
//! Microversions: 2.1 to [`MAX`]. The gateway forwards the client's version
//! to the pod, so it advertises no more than every supported pod offers
//! (the sim pod's 2.96; real Nova 34 offers 2.104).

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tricircle_common::{Error, ErrorKind};
use tricircle_pod_client::Microversion;

use crate::ApiState;
use crate::error::ApiError;

mod flavors;
mod keypairs;
mod misc;
mod server_create;
mod server_groups;
mod servers;

pub const MIN: Microversion = Microversion::new(2, 1);
pub const MAX: Microversion = Microversion::new(2, 96);

/// The microversion of this request, after negotiation.
#[derive(Clone, Copy, Debug)]
pub struct NovaVersion(pub Microversion);

fn requested(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("openstack-api-version").and_then(|v| v.to_str().ok()) {
        let mut parts = v.split_whitespace();
        if parts.next().is_some_and(|s| s.eq_ignore_ascii_case("compute")) {
            return parts.next().map(str::to_string);
        }
    }
    headers
        .get("x-openstack-nova-api-version")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// Negotiate the microversion, refuse unsupported ones with 406 (as Nova
/// does), and echo the version on the response.
async fn negotiate(mut req: Request, next: Next) -> Response {
    let version = match requested(req.headers()) {
        None => MIN,
        Some(v) if v.eq_ignore_ascii_case("latest") => MAX,
        Some(v) => match v.parse::<Microversion>() {
            Ok(mv) if (MIN..=MAX).contains(&mv) => mv,
            Ok(mv) => {
                return version_error(&format!(
                    "Version {mv} is not supported by the API. Minimum is {MIN} and maximum is {MAX}."
                ));
            }
            Err(()) => {
                return ApiError(Error::bad_request(format!(
                    "Invalid format for version string {}: use MAJOR.MINOR.",
                    tricircle_common::ids::truncate_for_message(&v)
                )))
                .into_response();
            }
        },
    };
    req.extensions_mut().insert(NovaVersion(version));
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {version}")) {
        h.insert("openstack-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
        h.insert("x-openstack-nova-api-version", v);
    }
    h.insert(
        "vary",
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
    resp
}

fn version_error(message: &str) -> Response {
    let status = axum::http::StatusCode::NOT_ACCEPTABLE;
    (status, axum::Json(serde_json::json!({"computeFault": {"code": 406, "message": message}})))
        .into_response()
}

pub fn router() -> Router<ApiState> {
    let v21 = Router::new()
        .route("/compute/v2.1", get(misc::version))
        .route("/compute/v2.1/", get(misc::version))
        .route("/compute/v2.1/servers", get(servers::list).post(server_create::create))
        .route("/compute/v2.1/servers/detail", get(servers::list_detail))
        .route(
            "/compute/v2.1/servers/{id}",
            get(servers::show).put(servers::update).delete(servers::delete),
        )
        .route("/compute/v2.1/servers/{id}/action", post(servers::action))
        // metadata, tags, os-instance-actions, os-interface (GET): forwarded.
        .route(
            "/compute/v2.1/servers/{id}/{*rest}",
            get(servers::subresource)
                .put(servers::subresource)
                .post(servers::subresource)
                .delete(servers::subresource),
        )
        .route(
            "/compute/v2.1/servers/{id}/os-volume_attachments",
            get(servers::attachments).post(servers::attach),
        )
        .route(
            "/compute/v2.1/servers/{id}/os-volume_attachments/{volume}",
            axum::routing::delete(servers::detach),
        )
        .route("/compute/v2.1/flavors", get(flavors::list).post(flavors::create))
        .route("/compute/v2.1/flavors/detail", get(flavors::list_detail))
        .route("/compute/v2.1/flavors/{id}", get(flavors::show).delete(flavors::delete))
        .route("/compute/v2.1/flavors/{id}/action", post(flavors::action))
        .route("/compute/v2.1/flavors/{id}/os-flavor-access", get(flavors::access))
        .route("/compute/v2.1/flavors/{id}/os-extra_specs", get(flavors::extra_specs))
        .route("/compute/v2.1/os-keypairs", get(keypairs::list).post(keypairs::create))
        .route("/compute/v2.1/os-keypairs/{name}", get(keypairs::show).delete(keypairs::delete))
        .route(
            "/compute/v2.1/os-server-groups",
            get(server_groups::list).post(server_groups::create),
        )
        .route(
            "/compute/v2.1/os-server-groups/{id}",
            get(server_groups::show).delete(server_groups::delete),
        )
        .route("/compute/v2.1/os-availability-zone", get(misc::availability_zones))
        .route("/compute/v2.1/os-availability-zone/detail", get(misc::availability_zones))
        .route("/compute/v2.1/limits", get(misc::limits))
        .layer(middleware::from_fn(negotiate));
    Router::new()
        .route("/compute", get(misc::versions))
        .route("/compute/", get(misc::versions))
        .merge(v21)
}

/// Nova's 404 for an unknown route under /compute.
pub fn not_found() -> ApiError {
    ApiError(Error::new(ErrorKind::NotFound, "The resource could not be found."))
}
