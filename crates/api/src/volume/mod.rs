//! Cinder v3 at `/volume` (DESIGN §4): volumes and snapshots routed to their
//! pods, volume types, availability zones, limits, microversions 3.0–3.71.
//! Errors use Cinder's body, the same fault family as Nova.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};
use tricircle_common::Error;
use tricircle_core::volumes::create::VolumeSpec;
use tricircle_pod_client::Microversion;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::url::base_url;

pub const MIN: Microversion = Microversion::new(3, 0);
pub const MAX: Microversion = Microversion::new(3, 71);

#[derive(Clone, Copy, Debug)]
pub struct CinderVersion(pub Microversion);

async fn negotiate(mut req: Request, next: Next) -> Response {
    let asked =
        req.headers().get("openstack-api-version").and_then(|v| v.to_str().ok()).and_then(|v| {
            let mut p = v.split_whitespace();
            p.next().filter(|s| s.eq_ignore_ascii_case("volume")).and(p.next()).map(str::to_string)
        });
    let version = match asked {
        None => MIN,
        Some(v) if v.eq_ignore_ascii_case("latest") => MAX,
        Some(v) => match v.parse::<Microversion>() {
            Ok(mv) if (MIN..=MAX).contains(&mv) => mv,
            _ => {
                let body = json!({"computeFault": {"code": 406, "message": format!("Version {} is not supported by the API. Minimum is {MIN} and maximum is {MAX}.", tricircle_common::ids::truncate_for_message(&v))}});
                return (StatusCode::NOT_ACCEPTABLE, Json(body)).into_response();
            }
        },
    };
    req.extensions_mut().insert(CinderVersion(version));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&format!("volume {version}")) {
        resp.headers_mut().insert("openstack-api-version", v);
    }
    resp.headers_mut().insert("vary", HeaderValue::from_static("OpenStack-API-Version"));
    resp
}

pub fn router() -> Router<ApiState> {
    let v3 = Router::new()
        .route("/volume/v3", get(version))
        .route("/volume/v3/", get(version))
        .route("/volume/v3/volumes", get(list).post(create))
        .route("/volume/v3/volumes/detail", get(list))
        .route("/volume/v3/volumes/{id}", get(show).put(update).delete(delete))
        .route("/volume/v3/volumes/{id}/action", post(action))
        .route("/volume/v3/snapshots", get(snapshots).post(snapshot_create))
        .route("/volume/v3/snapshots/detail", get(snapshots))
        .route("/volume/v3/snapshots/{id}", get(snapshot_show).delete(snapshot_delete))
        .route("/volume/v3/types", get(types))
        .route("/volume/v3/os-availability-zone", get(zones))
        .route("/volume/v3/limits", get(limits))
        .layer(middleware::from_fn(negotiate));
    Router::new().route("/volume", get(versions)).route("/volume/", get(versions)).merge(v3)
}

fn v3(base: &str) -> Value {
    json!({"id": "v3.0", "status": "CURRENT", "version": MAX.to_string(), "min_version": MIN.to_string(),
           "updated": "2023-08-31T00:00:00Z", "links": [{"rel": "self", "href": format!("{base}/volume/v3/")}],
           "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}]})
}

async fn versions(State(s): State<ApiState>, h: HeaderMap) -> Response {
    let body = json!({"versions": [v3(&base_url(s.public_url.as_deref(), &h))]});
    (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

async fn version(State(s): State<ApiState>, h: HeaderMap) -> Json<Value> {
    Json(json!({"versions": [v3(&base_url(s.public_url.as_deref(), &h))]}))
}

fn links(base: &str, kind: &str, mut v: Value) -> Value {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    v["links"] = json!([{"rel": "self", "href": format!("{base}/volume/v3/{kind}/{id}")}, {"rel": "bookmark", "href": format!("{base}/volume/{kind}/{id}")}]);
    v
}

async fn list(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(CinderVersion(mv)): Extension<CinderVersion>,
    h: HeaderMap,
    uri: axum::http::Uri,
) -> ApiResult<Json<Value>> {
    let all = uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|p| p == "all_tenants=1" || p == "all_tenants=true" || p == "all_tenants=True");
    let base = base_url(s.public_url.as_deref(), &h);
    let detail = uri.path().ends_with("/detail");
    let vols = s.app.volume_list(&ctx, all, Some(mv)).await?;
    let vols: Vec<Value> = vols
        .into_iter()
        .map(|v| {
            let v = links(&base, "volumes", v);
            if detail { v } else { json!({"id": v["id"], "name": v["name"], "links": v["links"]}) }
        })
        .collect();
    Ok(Json(json!({"volumes": vols})))
}

async fn show(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(CinderVersion(mv)): Extension<CinderVersion>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s.app.volume_show(&ctx, &id, Some(mv)).await?;
    Ok(Json(json!({"volume": links(&base_url(s.public_url.as_deref(), &h), "volumes", v)})))
}

async fn create(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    h: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = body.get("volume").and_then(Value::as_object).ok_or_else(|| {
        ApiError(Error::bad_request("Missing required element 'volume' in request body."))
    })?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if v.get("source_volid").is_some_and(|x| !x.is_null())
        || v.get("backup_id").is_some_and(|x| !x.is_null())
    {
        return Err(ApiError(Error::bad_request(
            "Volumes from another volume or from a backup are not supported yet.",
        )));
    }
    let size = match v.get("size") {
        None | Some(Value::Null) => 0,
        Some(x) => {
            x.as_i64().or_else(|| x.as_str().and_then(|s| s.parse().ok())).ok_or_else(|| {
                ApiError(Error::bad_request(
                    "Invalid input received: Volume size must be an integer.",
                ))
            })?
        }
    };
    let spec = VolumeSpec {
        name: text("name"),
        size,
        description: text("description"),
        availability_zone: text("availability_zone"),
        image_ref: text("imageRef"),
        snapshot_id: text("snapshot_id"),
        metadata: v.get("metadata").and_then(Value::as_object).cloned().unwrap_or_else(Map::new),
    };
    let created = s.app.volume_create(&ctx, spec).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"volume": links(&base_url(s.public_url.as_deref(), &h), "volumes", created)})),
    ))
}

async fn update(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(CinderVersion(mv)): Extension<CinderVersion>,
    h: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let v = s.app.volume_rename(&ctx, &id, body["volume"]["name"].as_str(), Some(mv)).await?;
    Ok(Json(json!({"volume": links(&base_url(s.public_url.as_deref(), &h), "volumes", v)})))
}

async fn delete(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.volume_delete(&ctx, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn action(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(CinderVersion(mv)): Extension<CinderVersion>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let (status, body) = s.app.volume_action(&ctx, &id, &body, Some(mv)).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
    Ok(if body.is_null() { status.into_response() } else { (status, Json(body)).into_response() })
}

async fn snapshots(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(CinderVersion(mv)): Extension<CinderVersion>,
    h: HeaderMap,
) -> ApiResult<Json<Value>> {
    let base = base_url(s.public_url.as_deref(), &h);
    let list = s.app.snapshot_list(&ctx, Some(mv)).await?;
    Ok(Json(
        json!({"snapshots": list.into_iter().map(|v| links(&base, "snapshots", v)).collect::<Vec<_>>()}),
    ))
}

async fn snapshot_show(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(CinderVersion(mv)): Extension<CinderVersion>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s.app.snapshot_show(&ctx, &id, Some(mv)).await?;
    Ok(Json(json!({"snapshot": links(&base_url(s.public_url.as_deref(), &h), "snapshots", v)})))
}

async fn snapshot_create(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(CinderVersion(mv)): Extension<CinderVersion>,
    h: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let snap = &body["snapshot"];
    let volume_id = snap["volume_id"].as_str().ok_or_else(|| {
        ApiError(Error::bad_request("Invalid input received: 'volume_id' is a required property."))
    })?;
    let force = match &snap["force"] {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let (status, mut v) = s
        .app
        .snapshot_create(
            &ctx,
            volume_id,
            snap["name"].as_str().map(str::to_string),
            snap["description"].as_str().map(str::to_string),
            force,
            Some(mv),
        )
        .await?;
    v["snapshot"] =
        links(&base_url(s.public_url.as_deref(), &h), "snapshots", v["snapshot"].take());
    Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED), Json(v)).into_response())
}

async fn snapshot_delete(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.snapshot_delete(&ctx, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// One default type: the pods' default backends stand behind it.
async fn types(Caller(_ctx): Caller) -> Json<Value> {
    Json(
        json!({"volume_types": [{"id": "__DEFAULT__", "name": "__DEFAULT__", "description": "Default Volume Type",
        "is_public": true, "os-volume-type-access:is_public": true, "extra_specs": {}, "qos_specs_id": null}]}),
    )
}

async fn zones(State(s): State<ApiState>, Caller(_ctx): Caller) -> ApiResult<Json<Value>> {
    let zones = s.app.availability_zones().await?;
    Ok(Json(
        json!({"availabilityZoneInfo": zones.iter().map(|z| json!({"zoneName": z.name, "zoneState": {"available": z.available}})).collect::<Vec<_>>()}),
    ))
}

async fn limits(State(s): State<ApiState>, Caller(ctx): Caller) -> ApiResult<Json<Value>> {
    let project = ctx.auth.project_id.clone().unwrap_or_default();
    let vols = s.app.store().resource_list("volume", Some(&project)).await.map_err(Error::from)?;
    Ok(Json(json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": -1, "maxTotalSnapshots": -1, "maxTotalVolumeGigabytes": -1, "maxTotalBackups": -1,
        "maxTotalBackupGigabytes": -1, "totalVolumesUsed": vols.len(), "totalGigabytesUsed": 0,
        "totalSnapshotsUsed": 0, "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}}})))
}
