//! Flavors, their extra specs and access lists.
//!
//! The view changes with the microversion: `description` from 2.55, `extra_specs` embedded from
//! 2.61, and `swap` an integer from 2.75 (an empty string before when zero). Lists are sorted by
//! `flavorid` ascending and page with `limit`/`marker` as Nova does.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SVC, links};
use crate::http::{
    ApiError, ApiResult, Ctx, Query, empty, is_true, json_resp, parse, parse_wrapped,
};
use crate::model::compute::Flavor;
use crate::pod::Pod;

pub(crate) fn flavor_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "FlavorNotFound", format!("Flavor {id} could not be found."))
}

fn admin(ctx: &Ctx, rule: &str) -> ApiResult<()> {
    if ctx.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            SVC,
            format!("Policy doesn't allow os_compute_api:{rule} to be performed."),
        ))
    }
}

pub(crate) fn view(pod: &Pod, ctx: &Ctx, f: &Flavor, detail: bool) -> Value {
    let mv = ctx.mv;
    let mut v =
        json!({"id": f.id, "name": f.name, "links": links(pod, &format!("flavors/{}", f.id))});
    if mv.ge(2, 55) {
        v["description"] = json!(f.description);
    }
    if detail {
        v["ram"] = json!(f.ram);
        v["vcpus"] = json!(f.vcpus);
        v["disk"] = json!(f.disk);
        v["swap"] = if f.swap == 0 && !mv.ge(2, 75) { json!("") } else { json!(f.swap) };
        v["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral);
        v["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
        v["rxtx_factor"] = json!(f.rxtx_factor);
        v["os-flavor-access:is_public"] = json!(f.is_public);
        if mv.ge(2, 61) {
            v["extra_specs"] = json!(f.extra_specs);
        }
    }
    v
}

/// The flavors a caller may see, filtered, sorted and paged like Nova's flavor list.
fn select<'a>(
    pod: &Pod,
    ctx: &Ctx,
    q: &Query,
    flavors: impl Iterator<Item = &'a Flavor>,
) -> ApiResult<(Vec<&'a Flavor>, bool)> {
    let _ = pod;
    let is_public = q.get("is_public").map(|v| v.to_ascii_lowercase());
    let mut out: Vec<&Flavor> = flavors
        .filter(|f| match is_public.as_deref() {
            Some("none") if ctx.is_admin => true,
            Some(v) if !is_true(v) && ctx.is_admin => !f.is_public,
            _ => {
                f.is_public
                    || ctx.is_admin && is_public.is_none()
                    || f.access.contains(&ctx.project_id)
            }
        })
        .filter(|f| q.get("minRam").and_then(|v| v.parse::<u64>().ok()).is_none_or(|m| f.ram >= m))
        .filter(|f| {
            q.get("minDisk").and_then(|v| v.parse::<u64>().ok()).is_none_or(|m| f.disk >= m)
        })
        .collect();
    let key = q.get("sort_key").unwrap_or("flavorid");
    out.sort_by(|a, b| match key {
        "name" => a.name.cmp(&b.name),
        "memory_mb" => a.ram.cmp(&b.ram),
        "vcpus" => a.vcpus.cmp(&b.vcpus),
        "root_gb" => a.disk.cmp(&b.disk),
        _ => a.id.cmp(&b.id),
    });
    if q.get("sort_dir") == Some("desc") {
        out.reverse();
    }
    if let Some(m) = q.get("marker") {
        let pos = out
            .iter()
            .position(|f| f.id == m)
            .ok_or_else(|| ApiError::bad_request(SVC, format!("marker [{m}] not found")))?;
        out.drain(..=pos);
    }
    let mut full = false;
    if let Some(limit) = q.get("limit") {
        let limit: usize = limit
            .parse()
            .map_err(|_| ApiError::bad_request(SVC, "Invalid input for query parameters limit."))?;
        full = out.len() >= limit && limit > 0;
        out.truncate(limit);
    }
    Ok((out, full))
}

async fn render(pod: Pod, ctx: Ctx, q: Query, detail: bool) -> ApiResult {
    let st = pod.read();
    let (items, full) = select(&pod, &ctx, &q, st.compute.flavors.values())?;
    let mut body =
        json!({"flavors": items.iter().map(|f| view(&pod, &ctx, f, detail)).collect::<Vec<_>>()});
    if full && let Some(last) = items.last() {
        let path = if detail { "flavors/detail" } else { "flavors" };
        let mut pairs: Vec<(&str, String)> =
            q.0.iter()
                .filter(|(k, _)| k != "marker")
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
        pairs.push(("marker", last.id.clone()));
        let href = tricircle_openstack_api::links::with_query(
            &format!("{}/compute/v2.1/{path}", pod.base_url),
            &pairs,
        );
        body["flavors_links"] = json!([{"rel": "next", "href": href}]);
    }
    Ok(json_resp(200, body))
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    render(pod, ctx, q, false).await
}

pub async fn detail(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    render(pod, ctx, q, true).await
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let f = st.compute.flavors.get(&id).ok_or_else(|| flavor_nf(&id))?;
    Ok(json_resp(200, json!({"flavor": view(&pod, &ctx, f, true)})))
}

#[derive(Deserialize)]
struct FlavorReq {
    name: String,
    ram: Value,
    vcpus: Value,
    disk: Value,
    id: Option<Value>,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral", default)]
    ephemeral: Option<Value>,
    #[serde(default)]
    swap: Option<Value>,
    rxtx_factor: Option<f64>,
    #[serde(rename = "os-flavor-access:is_public")]
    is_public: Option<bool>,
    description: Option<String>,
}

fn int_field(name: &str, v: &Value) -> ApiResult<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if s.is_empty() => Some(0),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| {
        ApiError::bad_request(SVC, format!("Invalid input for field/attribute {name}. Value: {v}."))
    })
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    admin(&ctx, "os-flavor-manage:create")?;
    let r: FlavorReq = parse_wrapped(SVC, &body, "flavor")?;
    if r.name.trim().is_empty() || r.name.len() > 255 {
        return Err(ApiError::bad_request(SVC, "Invalid input for field/attribute name."));
    }
    let id = match &r.id {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let f = Flavor {
        id: id.clone(),
        name: r.name,
        ram: int_field("ram", &r.ram)?,
        vcpus: int_field("vcpus", &r.vcpus)?,
        disk: int_field("disk", &r.disk)?,
        ephemeral: r
            .ephemeral
            .as_ref()
            .map(|v| int_field("OS-FLV-EXT-DATA:ephemeral", v))
            .transpose()?
            .unwrap_or(0),
        swap: r.swap.as_ref().map(|v| int_field("swap", v)).transpose()?.unwrap_or(0),
        rxtx_factor: r.rxtx_factor.unwrap_or(1.0),
        is_public: r.is_public.unwrap_or(true),
        disabled: false,
        description: r.description,
        extra_specs: BTreeMap::new(),
        access: Vec::new(),
    };
    if f.ram == 0 || f.vcpus == 0 {
        return Err(ApiError::bad_request(SVC, "Invalid input for field/attribute ram or vcpus."));
    }
    let mut st = pod.write();
    if st.compute.flavors.contains_key(&id) {
        return Err(ApiError::conflict(
            SVC,
            "FlavorIdExists",
            format!("Flavor with ID {id} already exists."),
        ));
    }
    if st.compute.flavors.values().any(|x| x.name == f.name) {
        return Err(ApiError::conflict(
            SVC,
            "FlavorExists",
            format!("Flavor with name {} already exists.", f.name),
        ));
    }
    st.compute.flavors.insert(id, f.clone());
    Ok(json_resp(200, json!({"flavor": view(&pod, &ctx, &f, true)})))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    admin(&ctx, "os-flavor-manage:delete")?;
    pod.write().compute.flavors.remove(&id).ok_or_else(|| flavor_nf(&id))?;
    Ok(empty(202))
}

pub async fn specs_list(State(pod): State<Pod>, _ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let f = st.compute.flavors.get(&id).ok_or_else(|| flavor_nf(&id))?;
    Ok(json_resp(200, json!({"extra_specs": f.extra_specs})))
}

pub async fn specs_create(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    admin(&ctx, "os-flavor-extra-specs:create")?;
    let specs: BTreeMap<String, String> = parse_wrapped(SVC, &body, "extra_specs")?;
    let mut st = pod.write();
    let f = st.compute.flavors.get_mut(&id).ok_or_else(|| flavor_nf(&id))?;
    f.extra_specs.extend(specs.clone());
    Ok(json_resp(200, json!({"extra_specs": specs})))
}

fn spec_nf(id: &str, key: &str) -> ApiError {
    ApiError::not_found(
        SVC,
        "FlavorExtraSpecsNotFound",
        format!("Flavor {id} has no extra specs with key {key}."),
    )
}

pub async fn spec_show(
    State(pod): State<Pod>,
    _ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult {
    let st = pod.read();
    let f = st.compute.flavors.get(&id).ok_or_else(|| flavor_nf(&id))?;
    let v = f.extra_specs.get(&key).ok_or_else(|| spec_nf(&id, &key))?;
    Ok(json_resp(200, json!({ key: v })))
}

pub async fn spec_update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    admin(&ctx, "os-flavor-extra-specs:update")?;
    let m: BTreeMap<String, String> = parse(SVC, &body)?;
    let Some(value) = m.get(&key).filter(|_| m.len() == 1) else {
        return Err(ApiError::bad_request(SVC, "Request body and URI mismatch"));
    };
    let mut st = pod.write();
    let f = st.compute.flavors.get_mut(&id).ok_or_else(|| flavor_nf(&id))?;
    f.extra_specs.insert(key.clone(), value.clone());
    Ok(json_resp(200, json!({ key: value })))
}

pub async fn spec_delete(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult {
    admin(&ctx, "os-flavor-extra-specs:delete")?;
    let mut st = pod.write();
    let f = st.compute.flavors.get_mut(&id).ok_or_else(|| flavor_nf(&id))?;
    f.extra_specs.remove(&key).ok_or_else(|| spec_nf(&id, &key))?;
    Ok(empty(202))
}

fn access_body(f: &Flavor) -> Response {
    let list: Vec<Value> =
        f.access.iter().map(|p| json!({"flavor_id": f.id, "tenant_id": p})).collect();
    json_resp(200, json!({"flavor_access": list}))
}

pub async fn access_list(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    admin(&ctx, "os-flavor-access")?;
    let st = pod.read();
    let f = st.compute.flavors.get(&id).ok_or_else(|| flavor_nf(&id))?;
    if f.is_public {
        return Err(ApiError::not_found(
            SVC,
            "FlavorAccessNotFound",
            "Access list not available for public flavors.",
        ));
    }
    Ok(access_body(f))
}

/// `addTenantAccess` / `removeTenantAccess`.
pub async fn action(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    admin(&ctx, "os-flavor-access:add_tenant_access")?;
    let v: Value = parse(SVC, &body)?;
    let mut st = pod.write();
    let f = st.compute.flavors.get_mut(&id).ok_or_else(|| flavor_nf(&id))?;
    if let Some(t) = v.pointer("/addTenantAccess/tenant").and_then(Value::as_str) {
        if f.is_public {
            return Err(ApiError::conflict(
                SVC,
                "FlavorAccessExists",
                "Can not add access to a public flavor.",
            ));
        }
        if f.access.iter().any(|p| p == t) {
            return Err(ApiError::conflict(
                SVC,
                "FlavorAccessExists",
                format!(
                    "Flavor access already exists for flavor {id} and project {t} combination."
                ),
            ));
        }
        f.access.push(t.to_string());
    } else if let Some(t) = v.pointer("/removeTenantAccess/tenant").and_then(Value::as_str) {
        let before = f.access.len();
        f.access.retain(|p| p != t);
        if f.access.len() == before {
            return Err(ApiError::not_found(
                SVC,
                "FlavorAccessNotFound",
                format!("Flavor access not found for {id} / {t} combination."),
            ));
        }
    } else {
        return Err(ApiError::bad_request(SVC, "Invalid flavor action."));
    }
    Ok(access_body(f))
}
