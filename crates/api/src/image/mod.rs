//! Glance v2 at `/image` (DESIGN §4 "Image"): the top image catalogue with
//! data upload and download. Errors use Glance's flat body
//! `{"code": "404", "title": "Not Found", "message": ...}`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use tricircle_common::{Error, ErrorKind};
use tricircle_core::images::ImageSpec;
use tricircle_openstack_api::fault::reason_phrase;
use tricircle_store::Image;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::parse_json;
use crate::url::base_url;

/// An error in Glance's shape.
#[derive(Debug)]
pub struct GlanceError(pub Error);

impl From<Error> for GlanceError {
    fn from(e: Error) -> Self {
        GlanceError(e)
    }
}

impl From<ApiError> for GlanceError {
    fn from(e: ApiError) -> Self {
        GlanceError(e.0)
    }
}

impl IntoResponse for GlanceError {
    fn into_response(self) -> Response {
        let e = self.0;
        if e.kind() == ErrorKind::Internal {
            tracing::error!(error = %e, "request failed");
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"code": e.status().to_string(), "title": reason_phrase(e.status()), "message": e.external_message()});
        (status, Json(body)).into_response()
    }
}

type GResult<T> = Result<T, GlanceError>;
type C = Result<Caller, ApiError>;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/image", get(versions))
        .route("/image/", get(versions))
        .route("/image/versions", get(versions))
        .route("/image/v2/images", get(list).post(create))
        .route("/image/v2/images/{id}", get(show).patch(update).delete(delete))
        .route("/image/v2/images/{id}/file", get(download).put(upload))
        .route("/image/v2/schemas/image", get(schema_image))
        .route("/image/v2/schemas/images", get(schema_images))
}

async fn versions(State(s): State<ApiState>, h: HeaderMap) -> Response {
    let base = base_url(s.public_url.as_deref(), &h);
    let v = |id: &str, status: &str| json!({"id": id, "status": status, "links": [{"rel": "self", "href": format!("{base}/image/v2/")}]});
    let body = json!({"versions": [v("v2.16", "CURRENT"), v("v2.15", "SUPPORTED"), v("v2.0", "SUPPORTED")]});
    (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn view(i: &Image) -> Value {
    let mut v = json!({
        "id": i.id, "name": i.name, "status": i.status, "visibility": i.visibility, "protected": i.protected,
        "tags": serde_json::from_str::<Value>(&i.tags).unwrap_or(json!([])),
        "container_format": i.container_format, "disk_format": i.disk_format,
        "min_disk": i.min_disk, "min_ram": i.min_ram, "size": i.size, "virtual_size": null,
        "checksum": i.checksum, "os_hash_algo": i.os_hash_algo, "os_hash_value": i.os_hash_value,
        "owner": i.owner, "os_hidden": false, "created_at": ts(i.created_at), "updated_at": ts(i.updated_at),
        "self": format!("/v2/images/{}", i.id), "file": format!("/v2/images/{}/file", i.id), "schema": "/v2/schemas/image",
    });
    if let Ok(Value::Object(props)) = serde_json::from_str::<Value>(&i.properties) {
        for (k, p) in props.into_iter().filter(|(k, _)| !k.starts_with("tricircle_")) {
            v[k] = p;
        }
    }
    v
}

async fn list(State(s): State<ApiState>, c: C, uri: axum::http::Uri) -> GResult<Json<Value>> {
    let ctx = c?.0;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| Error::bad_request(format!("Invalid query string: {e}.")))?;
    let mut images = s.app.image_list(&ctx).await?;
    let mut limit = s.app.settings().pagination_max_limit as usize;
    let mut marker = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "name" => images.retain(|i| i.name.as_deref() == Some(v.as_str())),
            "visibility" if v != "all" => images.retain(|i| &i.visibility == v),
            "status" => images.retain(|i| &i.status == v),
            "owner" => images.retain(|i| &i.owner == v),
            "limit" => {
                limit =
                    v.parse().map_err(|_| Error::bad_request("limit param must be an integer"))?
            }
            "marker" => marker = Some(v.clone()),
            _ => {}
        }
    }
    images.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let start = match &marker {
        Some(m) => images
            .iter()
            .position(|i| &i.id == m)
            .map(|p| p + 1)
            .ok_or_else(|| Error::bad_request(format!("marker {m} could not be found")))?,
        None => 0,
    };
    let page: Vec<&Image> = images.iter().skip(start).take(limit).collect();
    let mut body = json!({"images": page.iter().map(|i| view(i)).collect::<Vec<_>>(), "first": "/v2/images", "schema": "/v2/schemas/images"});
    if page.len() == limit && start + limit < images.len() {
        body["next"] = json!(format!(
            "/v2/images?marker={}&limit={limit}",
            page.last().map(|i| i.id.as_str()).unwrap_or_default()
        ));
    }
    Ok(Json(body))
}

async fn show(State(s): State<ApiState>, c: C, Path(id): Path<String>) -> GResult<Json<Value>> {
    let image = s.app.image_get(&c?.0, &id).await?;
    Ok(Json(view(&image)))
}

const CORE: &[&str] = &[
    "id",
    "name",
    "visibility",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "protected",
    "tags",
];

async fn create(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> GResult<Response> {
    let ctx = c?.0;
    let b: Map<String, Value> = parse_json(&body)?;
    let str_field = |k: &str| -> Result<Option<String>, Error> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => {
                Err(Error::bad_request(format!("Invalid value for {k}: it must be a string.")))
            }
        }
    };
    let int_field = |k: &str| -> Result<Option<i64>, Error> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid value for {k}: it must be a non-negative integer."
                ))
            }),
        }
    };
    let mut properties = Map::new();
    for (k, v) in &b {
        if CORE.contains(&k.as_str()) {
            continue;
        }
        if [
            "status",
            "owner",
            "size",
            "checksum",
            "created_at",
            "updated_at",
            "os_hash_value",
            "os_hash_algo",
            "self",
            "file",
            "schema",
        ]
        .contains(&k.as_str())
        {
            return Err(GlanceError(Error::forbidden(format!("Attribute '{k}' is read-only."))));
        }
        let v = v.as_str().ok_or_else(|| {
            Error::bad_request(format!("Invalid value for property {k}: it must be a string."))
        })?;
        properties.insert(k.clone(), json!(v));
    }
    let spec = ImageSpec {
        id: str_field("id")?,
        name: str_field("name")?,
        visibility: str_field("visibility")?,
        disk_format: str_field("disk_format")?,
        container_format: str_field("container_format")?,
        min_disk: int_field("min_disk")?,
        min_ram: int_field("min_ram")?,
        protected: b.get("protected").and_then(Value::as_bool),
        tags: b
            .get("tags")
            .map(|t| serde_json::from_value(t.clone()))
            .transpose()
            .map_err(|_| Error::bad_request("tags must be a list of strings."))?
            .unwrap_or_default(),
        properties,
    };
    let image = s.app.image_create(&ctx, spec).await?;
    let base = base_url(s.public_url.as_deref(), &h);
    let mut resp = (StatusCode::CREATED, Json(view(&image))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/image/v2/images/{}", image.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn update(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> GResult<Json<Value>> {
    let ctx = c?.0;
    let ct = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/openstack-images-v2.1-json-patch")
        && !ct.starts_with("application/openstack-images-v2.0-json-patch")
    {
        return Err(GlanceError(Error::new(
            ErrorKind::BadRequest,
            "Unsupported Content-Type: use application/openstack-images-v2.1-json-patch.",
        )));
    }
    let ops: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("The JSON patch is not valid JSON: {e}")))?;
    let image = s.app.image_update_patch(&ctx, &id, &ops).await?;
    Ok(Json(view(&image)))
}

async fn delete(State(s): State<ApiState>, c: C, Path(id): Path<String>) -> GResult<StatusCode> {
    s.app.image_delete(&c?.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn upload(
    State(s): State<ApiState>,
    c: C,
    Path(id): Path<String>,
    req: Request,
) -> GResult<StatusCode> {
    let ctx = c?.0;
    let stream = req.into_body().into_data_stream().map_err(std::io::Error::other);
    s.app.image_upload(&ctx, &id, Box::pin(stream)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn download(State(s): State<ApiState>, c: C, Path(id): Path<String>) -> GResult<Response> {
    let (image, file) = s.app.image_download(&c?.0, &id).await?;
    let Some(file) = file else { return Ok(StatusCode::NO_CONTENT.into_response()) };
    let mut resp = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Some(md5) = image.checksum.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("content-md5", md5);
    }
    if let Some(size) = image.size.and_then(|n| HeaderValue::from_str(&n.to_string()).ok()) {
        h.insert(header::CONTENT_LENGTH, size);
    }
    Ok(resp)
}

fn image_schema() -> Value {
    let s = json!({"type": ["null", "string"]});
    json!({
        "name": "image",
        "properties": {
            "id": {"type": "string"}, "name": s, "status": {"type": "string"}, "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
            "protected": {"type": "boolean"}, "checksum": s, "owner": s, "size": {"type": ["null", "integer"]},
            "min_ram": {"type": "integer"}, "min_disk": {"type": "integer"}, "disk_format": s, "container_format": s,
            "tags": {"type": "array", "items": {"type": "string"}}, "created_at": {"type": "string"}, "updated_at": {"type": "string"},
            "os_hash_algo": s, "os_hash_value": s, "os_hidden": {"type": "boolean"},
            "self": {"type": "string"}, "file": {"type": "string"}, "schema": {"type": "string"},
        },
        "additionalProperties": {"type": "string"},
        "links": [{"href": "{self}", "rel": "self"}, {"href": "{file}", "rel": "enclosure"}, {"href": "{schema}", "rel": "describedby"}],
    })
}

async fn schema_image() -> Json<Value> {
    Json(image_schema())
}

async fn schema_images() -> Json<Value> {
    Json(
        json!({"name": "images", "properties": {"images": {"type": "array", "items": image_schema()}, "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
        "links": [{"href": "{first}", "rel": "first"}, {"href": "{next}", "rel": "next"}, {"href": "{schema}", "rel": "describedby"}]}),
    )
}
