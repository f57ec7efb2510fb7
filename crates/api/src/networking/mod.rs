//! Neutron v2.0 at `/networking` (DESIGN §4 "Network"): networks, subnets,
//! ports, security groups and their rules, routers (interfaces, gateway,
//! extra routes) and floating IPs, authoritative at the top. Errors
//! use Neutron's body, `{"NeutronError": {"type", "message", "detail"}}`,
//! with Neutron's exception names as types.

mod extensions;
mod quotas;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use tricircle_common::{Error, ErrorKind, RequestContext};
use tricircle_core::App;
use tricircle_core::networking::listing::{ListQuery, project_fields};
use tricircle_openstack_api::fault::neutron_error;

use crate::ApiState;
use crate::auth::Caller;
use crate::url::base_url;

/// An error rendered the way Neutron renders it.
pub struct NeutronError(pub Error);

impl From<Error> for NeutronError {
    fn from(e: Error) -> Self {
        NeutronError(e)
    }
}

fn default_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::BadRequest | ErrorKind::Unprocessable => "HTTPBadRequest",
        ErrorKind::Unauthorized => "HTTPUnauthorized",
        ErrorKind::Forbidden => "HTTPForbidden",
        ErrorKind::NotFound => "HTTPNotFound",
        ErrorKind::MethodNotAllowed => "HTTPMethodNotAllowed",
        ErrorKind::Conflict => "HTTPConflict",
        ErrorKind::PayloadTooLarge => "HTTPRequestEntityTooLarge",
        ErrorKind::Unavailable => "ServiceUnavailable",
        ErrorKind::Internal => "HTTPInternalServerError",
    }
}

impl IntoResponse for NeutronError {
    fn into_response(self) -> Response {
        let err = self.0;
        match err.kind() {
            ErrorKind::Internal => tracing::error!(error = %err, "request failed"),
            ErrorKind::Unavailable => tracing::warn!(error = %err, "dependency unavailable"),
            _ => tracing::debug!(error = %err, "request refused"),
        }
        let status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let kind = err.type_name().unwrap_or_else(|| default_type(err.kind()));
        (status, Json(neutron_error(kind, err.external_message()))).into_response()
    }
}

type NeutronResult<T> = Result<T, NeutronError>;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/networking", get(versions))
        .route("/networking/", get(versions))
        .route("/networking/v2.0", get(resources))
        .route("/networking/v2.0/", get(resources))
        .route("/networking/v2.0/extensions", get(extensions::list))
        .route("/networking/v2.0/extensions/{alias}", get(extensions::show))
        .route("/networking/v2.0/availability_zones", get(zones))
        .route("/networking/v2.0/quotas", get(quotas::list))
        .route(
            "/networking/v2.0/quotas/{project}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route("/networking/v2.0/quotas/{project}/details", get(quotas::details))
        .route("/networking/v2.0/quotas/{project}/default", get(quotas::defaults))
        .route("/networking/v2.0/routers/{id}/add_router_interface", put(add_interface))
        .route("/networking/v2.0/routers/{id}/remove_router_interface", put(remove_interface))
        .route("/networking/v2.0/routers/{id}/add_extraroutes", put(add_extraroutes))
        .route("/networking/v2.0/routers/{id}/remove_extraroutes", put(remove_extraroutes))
        .route("/networking/v2.0/{collection}", get(list).post(create))
        .route("/networking/v2.0/{collection}/{id}", get(show).put(update).delete(delete))
}

const COLLECTIONS: &[(&str, &str)] = &[
    ("networks", "network"),
    ("subnets", "subnet"),
    ("ports", "port"),
    ("security-groups", "security_group"),
    ("security-group-rules", "security_group_rule"),
    ("routers", "router"),
    ("floatingips", "floatingip"),
];

async fn versions(State(s): State<ApiState>, h: HeaderMap) -> Json<Value> {
    let base = base_url(s.public_url.as_deref(), &h);
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{base}/networking/v2.0/")}]}]}))
}

/// Like Neutron, only the version list is public; `/v2.0` needs a token.
async fn resources(State(s): State<ApiState>, Caller(_ctx): Caller, h: HeaderMap) -> Json<Value> {
    let base = base_url(s.public_url.as_deref(), &h);
    let resources: Vec<Value> = COLLECTIONS
        .iter()
        .map(|(coll, one)| {
            json!({"name": one, "collection": coll,
            "links": [{"rel": "self", "href": format!("{base}/networking/v2.0/{coll}")}]})
        })
        .collect();
    Json(json!({"resources": resources}))
}

/// The singular of a collection this API serves; 404 (Neutron's body) otherwise.
fn singular(collection: &str) -> NeutronResult<&'static str> {
    COLLECTIONS.iter().find(|(c, _)| *c == collection).map(|(_, one)| *one).ok_or_else(|| {
        NeutronError(
            Error::new(ErrorKind::NotFound, "The resource could not be found.")
                .with_type("HTTPNotFound"),
        )
    })
}

fn query_of(uri: &Uri) -> NeutronResult<ListQuery> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).map(ListQuery).map_err(|_| {
        NeutronError(
            Error::bad_request("The query string is not valid.").with_type("HTTPBadRequest"),
        )
    })
}

fn parse_body(body: &Bytes) -> NeutronResult<Value> {
    serde_json::from_slice(body).map_err(|e| {
        NeutronError(
            Error::bad_request(format!("Malformed request body: {e}")).with_type("HTTPBadRequest"),
        )
    })
}

async fn list(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(collection): Path<String>,
    h: HeaderMap,
    uri: Uri,
) -> NeutronResult<Json<Value>> {
    singular(&collection)?;
    let q = query_of(&uri)?;
    let link = format!("{}/networking/v2.0/{collection}", base_url(s.public_url.as_deref(), &h));
    let app = &s.app;
    let body = match collection.as_str() {
        "networks" => app.network_list(&ctx, &q, &link).await,
        "subnets" => app.subnet_list(&ctx, &q, &link).await,
        "security-groups" => app.security_group_list(&ctx, &q, &link).await,
        "security-group-rules" => app.security_group_rule_list(&ctx, &q, &link).await,
        "routers" => app.router_list(&ctx, &q, &link).await,
        "floatingips" => app.floating_ip_list(&ctx, &q, &link).await,
        _ => app.port_list(&ctx, &q, &link).await,
    }?;
    Ok(Json(body))
}

async fn zones(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    h: HeaderMap,
    uri: Uri,
) -> NeutronResult<Json<Value>> {
    let q = query_of(&uri)?;
    let link =
        format!("{}/networking/v2.0/availability_zones", base_url(s.public_url.as_deref(), &h));
    Ok(Json(s.app.network_zone_list(&ctx, &q, &link).await?))
}

async fn fetch(app: &App, ctx: &RequestContext, one: &str, id: &str) -> Result<Value, Error> {
    match one {
        "network" => app.network_show(ctx, id).await,
        "subnet" => app.subnet_show(ctx, id).await,
        "security_group" => app.security_group_show(ctx, id).await,
        "security_group_rule" => app.security_group_rule_show(ctx, id).await,
        "router" => app.router_show(ctx, id).await,
        "floatingip" => app.floating_ip_show(ctx, id).await,
        _ => app.port_show(ctx, id).await,
    }
}

async fn show(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path((collection, id)): Path<(String, String)>,
    uri: Uri,
) -> NeutronResult<Json<Value>> {
    let one = singular(&collection)?;
    let q = query_of(&uri)?;
    let v = fetch(&s.app, &ctx, one, &id).await?;
    Ok(Json(json!({ one: project_fields(v, &q) })))
}

async fn create(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(collection): Path<String>,
    body: Bytes,
) -> NeutronResult<Response> {
    let one = singular(&collection)?;
    let body = parse_body(&body)?;
    // `{"networks": [...]}` rather than `{"network": {...}}`: a bulk create.
    let plural = collection.replace('-', "_");
    if let Some(items) = body.get(&plural) {
        let made = s.app.network_bulk_create(&ctx, one, items).await?;
        return Ok((StatusCode::CREATED, Json(json!({ plural: made }))).into_response());
    }
    let app = &s.app;
    let v = match one {
        "network" => app.network_create(&ctx, &body).await,
        "subnet" => app.subnet_create(&ctx, &body).await,
        "security_group" => app.security_group_create(&ctx, &body).await,
        "security_group_rule" => app.security_group_rule_create(&ctx, &body).await,
        "router" => app.router_create(&ctx, &body).await,
        "floatingip" => app.floating_ip_create(&ctx, &body).await,
        _ => app.port_create(&ctx, &body).await,
    }?;
    Ok((StatusCode::CREATED, Json(json!({ one: v })).into_response()).into_response())
}

async fn update(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> NeutronResult<Json<Value>> {
    let one = singular(&collection)?;
    let body = parse_body(&body)?;
    let app = &s.app;
    let v = match one {
        "network" => app.network_update(&ctx, &id, &body).await,
        "subnet" => app.subnet_update(&ctx, &id, &body).await,
        "security_group" => app.security_group_update(&ctx, &id, &body).await,
        "security_group_rule" => app.security_group_rule_update(&ctx, &id, &body).await,
        "router" => app.router_update(&ctx, &id, &body).await,
        "floatingip" => app.floating_ip_update(&ctx, &id, &body).await,
        _ => app.port_update(&ctx, &id, &body).await,
    }?;
    Ok(Json(json!({ one: v })))
}

async fn delete(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path((collection, id)): Path<(String, String)>,
) -> NeutronResult<StatusCode> {
    let one = singular(&collection)?;
    let app = &s.app;
    match one {
        "network" => app.network_delete(&ctx, &id).await,
        "subnet" => app.subnet_delete(&ctx, &id).await,
        "security_group" => app.security_group_delete(&ctx, &id).await,
        "security_group_rule" => app.security_group_rule_delete(&ctx, &id).await,
        "router" => app.router_delete(&ctx, &id).await,
        "floatingip" => app.floating_ip_delete(&ctx, &id).await,
        _ => app.port_delete(&ctx, &id).await,
    }?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /routers/{id}/add_router_interface`: Neutron answers the bare
/// interface info (no `router` wrapper) with 200.
async fn add_interface(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> NeutronResult<Json<Value>> {
    let body = parse_body(&body)?;
    Ok(Json(s.app.router_add_interface(&ctx, &id, &body).await?))
}

async fn remove_interface(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> NeutronResult<Json<Value>> {
    let body = parse_body(&body)?;
    Ok(Json(s.app.router_remove_interface(&ctx, &id, &body).await?))
}

async fn add_extraroutes(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> NeutronResult<Json<Value>> {
    let body = parse_body(&body)?;
    Ok(Json(json!({"router": s.app.router_change_routes(&ctx, &id, &body, true).await?})))
}

async fn remove_extraroutes(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> NeutronResult<Json<Value>> {
    let body = parse_body(&body)?;
    Ok(Json(json!({"router": s.app.router_change_routes(&ctx, &id, &body, false).await?})))
}
