//! `/compute/v2.1/flavors`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use tricircle_common::Error;
use tricircle_core::compute::FlavorSpec;
use tricircle_pod_client::Microversion;
use tricircle_store::Flavor;

use super::NovaVersion;
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::url::base_url;

fn links(base: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/compute/v2.1/flavors/{id}")},
        {"rel": "bookmark", "href": format!("{base}/compute/flavors/{id}")},
    ])
}

pub fn view(base: &str, f: &Flavor, mv: Microversion, detail: bool) -> Value {
    let mut v = json!({"id": f.id, "name": f.name, "links": links(base, &f.id)});
    if mv >= Microversion::new(2, 55) {
        v["description"] = json!(f.description);
    }
    if detail {
        v["ram"] = json!(f.ram_mb);
        v["disk"] = json!(f.disk_gb);
        v["vcpus"] = json!(f.vcpus);
        v["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral_gb);
        v["OS-FLV-DISABLED:disabled"] = json!(false);
        v["swap"] = if f.swap_mb == 0 && mv < Microversion::new(2, 75) {
            json!("")
        } else {
            json!(f.swap_mb)
        };
        v["rxtx_factor"] = json!(1.0);
        v["os-flavor-access:is_public"] = json!(f.is_public);
        if mv >= Microversion::new(2, 61) {
            v["extra_specs"] = serde_json::from_str(&f.extra_specs).unwrap_or(json!({}));
        }
    }
    v
}

async fn list_flavors(
    s: &ApiState,
    ctx: &tricircle_common::RequestContext,
    h: &HeaderMap,
    mv: Microversion,
    detail: bool,
) -> ApiResult<Json<Value>> {
    let base = base_url(s.public_url.as_deref(), h);
    let flavors = s.app.flavor_list(ctx).await?;
    Ok(Json(
        json!({"flavors": flavors.iter().map(|f| view(&base, f, mv, detail)).collect::<Vec<_>>()}),
    ))
}

pub async fn list(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    h: HeaderMap,
) -> ApiResult<Json<Value>> {
    list_flavors(&s, &ctx, &h, mv, false).await
}

pub async fn list_detail(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    h: HeaderMap,
) -> ApiResult<Json<Value>> {
    list_flavors(&s, &ctx, &h, mv, true).await
}

pub async fn show(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = s.app.flavor_get(&ctx, &id).await?;
    Ok(Json(json!({"flavor": view(&base_url(s.public_url.as_deref(), &h), &f, mv, true)})))
}

#[derive(Deserialize)]
pub struct CreateBody {
    flavor: CreateFields,
}

#[derive(Deserialize)]
pub struct CreateFields {
    name: String,
    ram: i64,
    vcpus: i64,
    disk: i64,
    id: Option<String>,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral")]
    ephemeral: Option<i64>,
    swap: Option<Value>,
    #[serde(rename = "os-flavor-access:is_public")]
    is_public: Option<bool>,
    description: Option<String>,
    #[serde(default)]
    rxtx_factor: Option<f64>,
}

pub async fn create(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    h: HeaderMap,
    JsonBody(b): JsonBody<CreateBody>,
) -> ApiResult<Json<Value>> {
    let f = b.flavor;
    let _ = f.rxtx_factor;
    let swap = match f.swap {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) if s.is_empty() => 0,
        Some(v) => {
            v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).ok_or_else(|| {
                ApiError(Error::bad_request("Invalid input for field/attribute swap."))
            })?
        }
    };
    let spec = FlavorSpec {
        id: f.id,
        name: f.name,
        vcpus: f.vcpus,
        ram_mb: f.ram,
        disk_gb: f.disk,
        ephemeral_gb: f.ephemeral.unwrap_or(0),
        swap_mb: swap,
        is_public: f.is_public.unwrap_or(true),
        description: f.description,
    };
    let created = s.app.flavor_create(&ctx, spec).await?;
    Ok(Json(json!({"flavor": view(&base_url(s.public_url.as_deref(), &h), &created, mv, true)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.flavor_delete(&ctx, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

fn access_view(id: &str, projects: Vec<String>) -> Json<Value> {
    Json(
        json!({"flavor_access": projects.iter().map(|p| json!({"flavor_id": id, "tenant_id": p})).collect::<Vec<_>>()}),
    )
}

pub async fn access(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let projects = s.app.flavor_access(&ctx, &id, None, "").await?;
    Ok(access_view(&id, projects))
}

pub async fn action(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let (add, tenant) = if let Some(a) = b.get("addTenantAccess") {
        (true, a["tenant"].as_str())
    } else if let Some(r) = b.get("removeTenantAccess") {
        (false, r["tenant"].as_str())
    } else {
        return Err(ApiError(Error::bad_request(
            "Unknown flavor action: use addTenantAccess or removeTenantAccess.",
        )));
    };
    let tenant =
        tenant.ok_or_else(|| ApiError(Error::bad_request("The action needs a tenant.")))?;
    let projects = s.app.flavor_access(&ctx, &id, Some(add), tenant).await?;
    Ok(access_view(&id, projects))
}

pub async fn extra_specs(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = s.app.flavor_get(&ctx, &id).await?;
    Ok(Json(
        json!({"extra_specs": serde_json::from_str::<Value>(&f.extra_specs).unwrap_or(json!({}))}),
    ))
}
