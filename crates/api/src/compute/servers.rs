//! `/compute/v2.1/servers`: thin handlers over `core::compute`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use tricircle_common::Error;
use tricircle_core::compute::ServerListQuery;
use tricircle_core::paging::page_limit;
use tricircle_openstack_api::links::with_query;

use super::NovaVersion;
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::url::base_url;

/// Add the gateway's links to a server view.
pub(super) fn with_links(base: &str, mut v: Value) -> Value {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    v["links"] = json!([
        {"rel": "self", "href": format!("{base}/compute/v2.1/servers/{id}")},
        {"rel": "bookmark", "href": format!("{base}/compute/servers/{id}")},
    ]);
    if let Some(fid) = v["flavor"]["id"].as_str().map(str::to_string) {
        v["flavor"]["links"] =
            json!([{"rel": "bookmark", "href": format!("{base}/compute/flavors/{fid}")}]);
    }
    if let Some(iid) = v["image"]["id"].as_str().map(str::to_string) {
        v["image"]["links"] =
            json!([{"rel": "bookmark", "href": format!("{base}/compute/images/{iid}")}]);
    }
    v
}

fn parse_query(
    raw: Option<&str>,
    max: u32,
) -> Result<(ServerListQuery, Vec<(String, String)>), Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| Error::bad_request(format!("Invalid query string: {e}.")))?;
    let mut q = ServerListQuery::default();
    let mut limit = None;
    let (mut keys, mut dirs) = (Vec::new(), Vec::new());
    for (k, v) in &pairs {
        match k.as_str() {
            "limit" => {
                limit = Some(crate::extract::parse_int("limit", Some(v))?.unwrap_or_default())
            }
            "marker" => q.marker = Some(v.clone()),
            "name" => q.name = Some(v.clone()),
            "status" => q.status = Some(v.clone()),
            "all_tenants" => {
                q.all_tenants =
                    !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off")
            }
            "sort_key" => keys.push(v.clone()),
            "sort_dir" => dirs.push(v.clone()),
            // Nova ignores filters it does not know for non-admins; so do we.
            _ => {}
        }
    }
    for (i, key) in keys.iter().enumerate() {
        let field = tricircle_core::compute::server_list::sort_field(key).ok_or_else(|| {
            Error::bad_request(format!(
                "Invalid input for query parameters sort_key. Value: {}.",
                tricircle_common::ids::truncate_for_message(key)
            ))
        })?;
        let asc = match dirs.get(i).map(|d| d.to_ascii_lowercase()) {
            None => false,
            Some(d) if d == "asc" => true,
            Some(d) if d == "desc" => false,
            Some(d) => {
                return Err(Error::bad_request(format!(
                    "Invalid input for query parameters sort_dir. Value: {d}."
                )));
            }
        };
        q.sort.push((field.to_string(), asc));
    }
    q.limit = page_limit(limit, max)?;
    Ok((q, pairs))
}

async fn list_servers(
    s: ApiState,
    ctx: tricircle_common::RequestContext,
    h: HeaderMap,
    raw: Option<String>,
    mv: NovaVersion,
    detail: bool,
) -> ApiResult<Response> {
    let (mut q, pairs) = parse_query(raw.as_deref(), s.app.settings().pagination_max_limit)?;
    q.microversion = Some(mv.0);
    let limit = q.limit;
    let page = s.app.server_list(&ctx, q).await?;
    let base = base_url(s.public_url.as_deref(), &h);
    let servers: Vec<Value> = page
        .servers
        .into_iter()
        .map(|v| {
            let v = with_links(&base, v);
            if detail { v } else { json!({"id": v["id"], "name": v["name"], "links": v["links"]}) }
        })
        .collect();
    let mut body = json!({"servers": servers});
    if let Some(m) = page.next_marker {
        let mut query: Vec<(&str, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "marker" && k != "limit")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        query.push(("limit", limit.to_string()));
        query.push(("marker", m));
        let path = if detail { "servers/detail" } else { "servers" };
        body["servers_links"] = json!([{"rel": "next", "href": with_query(&format!("{base}/compute/v2.1/{path}"), &query)}]);
    }
    let mut resp = Json(body).into_response();
    if page.partial {
        // Some region did not answer: its servers are listed as UNKNOWN.
        resp.headers_mut().insert("tricircle-partial-result", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

pub async fn list(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(mv): Extension<NovaVersion>,
    h: HeaderMap,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    list_servers(s, ctx, h, uri.query().map(str::to_string), mv, false).await
}

pub async fn list_detail(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(mv): Extension<NovaVersion>,
    h: HeaderMap,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    list_servers(s, ctx, h, uri.query().map(str::to_string), mv, true).await
}

pub async fn show(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s.app.server_show(&ctx, &id, Some(mv)).await?;
    Ok(Json(json!({"server": with_links(&base_url(s.public_url.as_deref(), &h), v)})))
}

pub async fn update(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    h: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let name = body["server"]["name"].as_str().ok_or_else(|| {
        ApiError(Error::bad_request(
            "Only the server's name can be updated here: send {\"server\": {\"name\": ...}}.",
        ))
    })?;
    let v = s.app.server_rename(&ctx, &id, name, Some(mv)).await?;
    Ok(Json(json!({"server": with_links(&base_url(s.public_url.as_deref(), &h), v)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.server_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn action(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    h: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let (status, body) = s.app.server_action(&ctx, &id, &body, Some(mv)).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
    let mut resp = if body.is_null() {
        status.into_response()
    } else {
        (status, Json(body.clone())).into_response()
    };
    // createImage: Nova points at the new image (the body has it from 2.45).
    if let Some(image) = body["image_id"].as_str() {
        let location = format!("{}/image/v2/images/{image}", base_url(s.public_url.as_deref(), &h));
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert("location", v);
        }
    }
    Ok(resp)
}

/// `GET/POST /servers/{id}/os-volume_attachments`.
pub async fn attachments(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let list = s.app.volume_attachments(&ctx, &id, Some(mv)).await?;
    Ok(Json(json!({"volumeAttachments": list})))
}

pub async fn attach(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let att = &body["volumeAttachment"];
    let volume = att["volumeId"].as_str().ok_or_else(|| {
        ApiError(Error::bad_request("Invalid input: 'volumeId' is a required property."))
    })?;
    let v = s.app.volume_attach(&ctx, &id, volume, att["device"].as_str(), Some(mv)).await?;
    Ok(Json(json!({"volumeAttachment": v})))
}

pub async fn detach(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path((id, volume)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.app.volume_detach(&ctx, &id, &volume).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `/servers/{id}/{metadata|tags|os-instance-actions|os-interface}[/...]`,
/// forwarded to the server's pod.
pub async fn subresource(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    method: axum::http::Method,
    Path((id, rest)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let first = rest.split('/').next().unwrap_or_default();
    if !["metadata", "tags", "os-instance-actions", "os-interface"].contains(&first) {
        return Err(super::not_found());
    }
    if first == "os-interface" {
        return interfaces(&s, &ctx, &method, &id, &rest, &body).await;
    }
    let body =
        if body.is_empty() { None } else { Some(crate::extract::parse_json::<Value>(&body)?) };
    let (status, out) = s.app.server_subresource(&ctx, &id, method, &rest, body, Some(mv)).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    Ok(if out.is_null() { status.into_response() } else { (status, Json(out)).into_response() })
}

/// `os-interface`: the server's top ports (see `core::compute::interfaces`).
async fn interfaces(
    s: &ApiState,
    ctx: &tricircle_common::RequestContext,
    method: &axum::http::Method,
    id: &str,
    rest: &str,
    body: &axum::body::Bytes,
) -> ApiResult<Response> {
    use axum::http::Method;
    let port = rest.strip_prefix("os-interface").unwrap_or_default().trim_start_matches('/');
    match (method.clone(), port.is_empty()) {
        (Method::GET, true) => Ok(Json(s.app.interface_list(ctx, id).await?).into_response()),
        (Method::GET, false) => {
            Ok(Json(s.app.interface_show(ctx, id, port).await?).into_response())
        }
        (Method::POST, true) => {
            let body: Value = crate::extract::parse_json(body)?;
            Ok(Json(s.app.interface_attach(ctx, id, &body).await?).into_response())
        }
        (Method::DELETE, false) => {
            s.app.interface_detach(ctx, id, port).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        _ => Err(ApiError(Error::new(
            tricircle_common::ErrorKind::MethodNotAllowed,
            "The method is not allowed for the requested URL.",
        ))),
    }
}
