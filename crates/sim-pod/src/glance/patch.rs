//! Glance's JSON-patch image update (`PATCH /v2/images/{id}`).
//!
//! Glance accepts only its own media type and refuses read-only and reserved attributes with
//! 403; the whole patch applies or nothing does (we patch a copy and swap it in).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use chrono::Utc;
use serde_json::Value;

use super::{READ_ONLY, SVC, check_formats, check_visibility, forbidden, owned, u64_of, view};
use crate::http::{ApiError, ApiResult, Ctx, json_resp, parse};
use crate::model::image::Image;
use crate::pod::Pod;

fn apply_patch(ctx: &Ctx, img: &mut Image, op: &Value) -> ApiResult<()> {
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(SVC, "Unable to find 'op' in JSON Schema change"))?;
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(SVC, "Unable to find 'path' in JSON Schema change"))?;
    let key = path.trim_start_matches('/');
    if key.is_empty() || key.contains('/') && !key.starts_with("tags") {
        return Err(ApiError::bad_request(
            SVC,
            format!("Invalid JSON pointer for this resource: '{path}'"),
        ));
    }
    if READ_ONLY.contains(&key) || key == "id" || key == "owner" && !ctx.is_admin {
        return Err(forbidden(format!("Attribute '{key}' is read-only.")));
    }
    let value = op.get("value").cloned();
    let need = || {
        value.clone().ok_or_else(|| {
            ApiError::bad_request(SVC, "Unable to find 'value' in JSON Schema change")
        })
    };
    let str_or_null = |v: Value| -> Option<String> { v.as_str().map(str::to_string) };
    match (kind, key) {
        ("add" | "replace", "name") => img.name = str_or_null(need()?),
        ("add" | "replace", "visibility") => {
            let v = need()?.as_str().unwrap_or_default().to_string();
            check_visibility(ctx, &v)?;
            img.visibility = v;
        }
        ("add" | "replace", "protected") => {
            img.protected = need()?
                .as_bool()
                .ok_or_else(|| ApiError::bad_request(SVC, "Invalid value for protected"))?
        }
        ("add" | "replace", "os_hidden") => {
            img.os_hidden = need()?
                .as_bool()
                .ok_or_else(|| ApiError::bad_request(SVC, "Invalid value for os_hidden"))?
        }
        ("add" | "replace", "min_disk") => img.min_disk = u64_of(&need()?, "min_disk")?,
        ("add" | "replace", "min_ram") => img.min_ram = u64_of(&need()?, "min_ram")?,
        ("add" | "replace", "owner") => {
            img.owner = need()?.as_str().unwrap_or_default().to_string()
        }
        ("add" | "replace", "disk_format" | "container_format") => {
            if img.status != "queued" {
                return Err(forbidden(format!(
                    "Attribute {key} can be only replaced for a queued image."
                )));
            }
            let v = str_or_null(need()?);
            if key == "disk_format" {
                check_formats(v.as_deref(), None)?;
                img.disk_format = v;
            } else {
                check_formats(None, v.as_deref())?;
                img.container_format = v;
            }
        }
        ("add" | "replace", "tags") => {
            img.tags = need()?
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
        }
        ("add", k) => {
            img.properties.insert(k.to_string(), need()?);
        }
        ("replace", k) => {
            if !img.properties.contains_key(k) {
                return Err(ApiError::conflict(
                    SVC,
                    "Conflict",
                    format!("Property {k} does not exist."),
                ));
            }
            img.properties.insert(k.to_string(), need()?);
        }
        ("remove", k) => {
            if [
                "name",
                "visibility",
                "protected",
                "min_disk",
                "min_ram",
                "disk_format",
                "container_format",
                "tags",
                "os_hidden",
            ]
            .contains(&k)
            {
                return Err(forbidden(format!("Attribute '{k}' is reserved.")));
            }
            if img.properties.remove(k).is_none() {
                return Err(ApiError::conflict(
                    SVC,
                    "Conflict",
                    format!("Property {k} does not exist."),
                ));
            }
        }
        (other, _) => {
            return Err(ApiError::bad_request(SVC, format!("Invalid operation: `{other}`")));
        }
    }
    Ok(())
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ctype.starts_with("application/openstack-images-v2.1-json-patch")
        && !ctype.starts_with("application/openstack-images-v2.0-json-patch")
    {
        return Err(ApiError::new(
            SVC,
            415,
            "UnsupportedMediaType",
            format!("Unsupported Content-Type {ctype}"),
        ));
    }
    let ops: Vec<Value> = parse(SVC, &body)?;
    let mut st = pod.write();
    let img = owned(&mut st, &ctx, &id)?;
    let mut work = img.clone();
    for o in &ops {
        apply_patch(&ctx, &mut work, o)?;
    }
    work.updated_at = Utc::now();
    *img = work;
    Ok(json_resp(200, view(img, true)))
}
