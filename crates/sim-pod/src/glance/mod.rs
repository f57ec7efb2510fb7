//! Glance v2: images with real data, JSON-patch updates, tags, visibility.
//!
//! Uploaded bytes go to the content-addressed blob store; `checksum` (MD5) and
//! `os_hash_value` (SHA-512) are computed from them, and a download carries `Content-MD5` so
//! openstacksdk's integrity check passes or fails on the real bytes. Nova snapshots and Cinder
//! upload-to-image create images through [`State::image_create_internal`], sharing the bytes.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter as M;
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::blob::BlobKey;
use crate::faults::op;
use crate::http::{ApiError, ApiResult, Ctx, Query, Svc, empty, json_resp, parse};
use crate::model::compute::Server;
use crate::model::image::Image;
use crate::pod::Pod;
use crate::state::{State as PodState, fmt};

mod patch;
mod schemas;

const SVC: Svc = Svc::Image;
const DISK_FORMATS: &[&str] =
    &["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"];
const CONTAINER_FORMATS: &[&str] =
    &["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"];
const READ_ONLY: &[&str] = &[
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "status",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "owner_id",
    "direct_url",
    "locations",
    "stores",
];

pub fn router() -> Router<Pod> {
    Router::new()
        .route("/", axum::routing::get(crate::versions::image_root))
        .route("/images", op(M::GET, "image.image_list", list))
        .route("/images", op(M::POST, "image.image_create", create))
        .route("/images/{id}", op(M::GET, "image.image_show", show))
        .route("/images/{id}", op(M::PATCH, "image.image_update", patch::update))
        .route("/images/{id}", op(M::DELETE, "image.image_delete", delete))
        .route("/images/{id}/file", op(M::PUT, "image.image_upload", upload))
        .route("/images/{id}/file", op(M::GET, "image.image_download", download))
        .route("/images/{id}/tags/{tag}", op(M::PUT, "image.image_tag_add", tag_add))
        .route("/images/{id}/tags/{tag}", op(M::DELETE, "image.image_tag_delete", tag_delete))
        .route("/images/{id}/actions/deactivate", op(M::POST, "image.image_deactivate", deactivate))
        .route("/images/{id}/actions/reactivate", op(M::POST, "image.image_reactivate", reactivate))
        .route("/info/import", op(M::GET, "image.import_info", schemas::import_info))
        .route("/schemas/image", op(M::GET, "image.schema_image", schemas::schema_image))
        .route("/schemas/images", op(M::GET, "image.schema_images", schemas::schema_images))
}

fn image_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "NotFound", format!("No image found with ID {id}"))
}

fn forbidden(msg: impl Into<String>) -> ApiError {
    ApiError::forbidden(SVC, msg)
}

pub fn view(i: &Image, with_stores: bool) -> Value {
    let mut v = json!({
        "id": i.id, "name": i.name, "status": i.status, "visibility": i.visibility,
        "protected": i.protected, "os_hidden": i.os_hidden, "checksum": i.checksum,
        "os_hash_algo": i.os_hash_value.as_ref().map(|_| "sha512"), "os_hash_value": i.os_hash_value,
        "owner": i.owner, "size": i.size, "virtual_size": null, "min_ram": i.min_ram,
        "min_disk": i.min_disk, "disk_format": i.disk_format, "container_format": i.container_format,
        "created_at": fmt::iso(&i.created_at), "updated_at": fmt::iso(&i.updated_at),
        "tags": i.tags, "self": format!("/v2/images/{}", i.id),
        "file": format!("/v2/images/{}/file", i.id), "schema": "/v2/schemas/image",
    });
    for (k, p) in &i.properties {
        v[k] = p.clone();
    }
    if with_stores && i.data.is_some() {
        v["stores"] = json!("file");
    }
    v
}

impl PodState {
    /// An image the caller may use.
    pub fn image_visible(&self, ctx: &Ctx, id: &str) -> Option<&Image> {
        self.image.images.get(id).filter(|i| can_see(ctx, i))
    }

    /// Create an active image holding `data` (Nova snapshots, Cinder upload-to-image).
    #[allow(clippy::too_many_arguments)]
    pub fn image_create_internal(
        &mut self,
        owner: &str,
        name: &str,
        disk_format: &str,
        container_format: &str,
        data: Option<BlobKey>,
        min_disk: u64,
        properties: BTreeMap<String, Value>,
    ) -> String {
        let now = Utc::now();
        let seq = self.next_seq();
        let bytes = data.as_deref().and_then(|k| self.blobs.get(k));
        let digests = bytes.as_deref().map(crate::blob::digests);
        let img = Image {
            id: uuid::Uuid::new_v4().to_string(),
            seq,
            name: Some(name.into()),
            status: "active".into(),
            visibility: "private".into(),
            protected: false,
            os_hidden: false,
            owner: owner.into(),
            disk_format: Some(disk_format.into()),
            container_format: Some(container_format.into()),
            min_disk,
            min_ram: 0,
            size: Some(digests.as_ref().map(|d| d.size).unwrap_or(0)),
            checksum: digests.as_ref().map(|d| d.md5.clone()),
            os_hash_value: digests.as_ref().map(|d| d.sha512.clone()),
            tags: Vec::new(),
            properties,
            members: BTreeMap::new(),
            data,
            created_at: now,
            updated_at: now,
        };
        let id = img.id.clone();
        self.image.images.insert(id.clone(), img);
        id
    }

    /// `createImage` of a server: the root disk's bytes as a new image.
    pub fn image_snapshot_of_server(
        &mut self,
        s: &Server,
        name: &str,
        meta: Map<String, Value>,
    ) -> String {
        let mut props: BTreeMap<String, Value> = meta.into_iter().collect();
        props.insert("image_type".into(), json!("snapshot"));
        props.insert("instance_uuid".into(), json!(s.id));
        props.insert("user_id".into(), json!(s.user_id));
        let (data, fmt) = match &s.root_disk {
            Some(k) => (Some(k.clone()), "raw"),
            None => {
                // Volume-backed: Nova snapshots the volume; the image carries its bytes too.
                let vol = s
                    .volumes
                    .iter()
                    .find(|b| b.boot_index == Some(0))
                    .and_then(|b| self.volume.volumes.get(&b.volume_id));
                props.insert("root_device_name".into(), json!("/dev/vda"));
                (vol.and_then(|v| v.data.clone()), "raw")
            }
        };
        if let Some(src) = s.image_id.as_deref().and_then(|i| self.image.images.get(i)) {
            props.insert("base_image_ref".into(), json!(src.id));
        }
        self.image_create_internal(&s.project_id, name, fmt, "bare", data, s.flavor.disk, props)
    }
}

fn can_see(ctx: &Ctx, i: &Image) -> bool {
    ctx.is_admin
        || i.visibility == "public"
        || i.visibility == "community"
        || i.owner == ctx.project_id
        || (i.visibility == "shared" && i.members.contains_key(&ctx.project_id))
}

fn visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a Image> {
    st.image.images.get(id).filter(|i| can_see(ctx, i)).ok_or_else(|| image_nf(id))
}

fn owned<'a>(st: &'a mut PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a mut Image> {
    let i = visible(st, ctx, id)?;
    if !ctx.is_admin && i.owner != ctx.project_id {
        return Err(forbidden(format!("You are not permitted to modify image {id}.")));
    }
    Ok(st.image.images.get_mut(id).expect("visible"))
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let mut items: Vec<&Image> = st
        .image
        .images
        .values()
        .filter(|i| can_see(&ctx, i))
        .filter(|i| match q.get("visibility") {
            Some("all") => true,
            Some(v) => i.visibility == v,
            None => i.visibility != "community" || i.owner == ctx.project_id,
        })
        .filter(|i| q.get("name").is_none_or(|n| i.name.as_deref() == Some(n)))
        .filter(|i| q.get("status").is_none_or(|s| i.status == s))
        .filter(|i| q.get("owner").is_none_or(|o| i.owner == o))
        .filter(|i| q.get("disk_format").is_none_or(|d| i.disk_format.as_deref() == Some(d)))
        .filter(|i| {
            q.get("container_format").is_none_or(|d| i.container_format.as_deref() == Some(d))
        })
        .filter(|i| q.all("tag").iter().all(|t| i.tags.iter().any(|x| x == t)))
        .filter(|i| match q.get("os_hidden") {
            Some(h) => i.os_hidden == crate::http::is_true(h),
            None => !i.os_hidden,
        })
        .filter(|i| q.get("id").is_none_or(|id| i.id == id))
        .collect();
    // Default order: newest first.
    items.sort_by_key(|i| std::cmp::Reverse((i.created_at, i.seq)));
    if let Some(m) = q.get("marker") {
        let pos = items.iter().position(|i| i.id == m).ok_or_else(|| {
            ApiError::bad_request(SVC, format!("The marker {m} could not be found."))
        })?;
        items.drain(..=pos);
    }
    let mut next = None;
    if let Some(l) = q.get("limit") {
        let limit: usize =
            l.parse().map_err(|_| ApiError::bad_request(SVC, "limit param must be an integer"))?;
        if items.len() > limit {
            items.truncate(limit);
            next = items.last().map(|i| format!("/v2/images?marker={}&limit={limit}", i.id));
        }
    }
    let mut body = json!({
        "images": items.iter().map(|i| view(i, true)).collect::<Vec<_>>(),
        "first": "/v2/images", "schema": "/v2/schemas/images",
    });
    if let Some(n) = next {
        body["next"] = json!(n);
    }
    Ok(json_resp(200, body))
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    Ok(json_resp(200, view(visible(&st, &ctx, &id)?, true)))
}

fn check_formats(disk: Option<&str>, container: Option<&str>) -> ApiResult<()> {
    if let Some(d) = disk
        && !DISK_FORMATS.contains(&d)
    {
        return Err(ApiError::bad_request(
            SVC,
            format!(
                "Invalid value '{d}' for parameter 'disk_format': Valid values are: {}",
                DISK_FORMATS.join(", ")
            ),
        ));
    }
    if let Some(c) = container
        && !CONTAINER_FORMATS.contains(&c)
    {
        return Err(ApiError::bad_request(
            SVC,
            format!(
                "Invalid value '{c}' for parameter 'container_format': Valid values are: {}",
                CONTAINER_FORMATS.join(", ")
            ),
        ));
    }
    Ok(())
}

fn check_visibility(ctx: &Ctx, v: &str) -> ApiResult<()> {
    match v {
        "public" if !ctx.is_admin => {
            Err(forbidden("You are not authorized to complete publicize_image action."))
        }
        "public" | "private" | "shared" | "community" => Ok(()),
        other => Err(ApiError::bad_request(SVC, format!("Invalid visibility value: {other}"))),
    }
}

fn u64_of(v: &Value, key: &str) -> ApiResult<u64> {
    v.as_u64().ok_or_else(|| ApiError::bad_request(SVC, format!("Invalid value for {key}: {v}")))
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let b: Map<String, Value> = parse(SVC, &body)?;
    for k in b.keys() {
        if READ_ONLY.contains(&k.as_str()) {
            return Err(forbidden(format!("Attribute '{k}' is read-only.")));
        }
    }
    let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    check_formats(s("disk_format").as_deref(), s("container_format").as_deref())?;
    let visibility = s("visibility").unwrap_or_else(|| "shared".into());
    check_visibility(&ctx, &visibility)?;
    let id = s("id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let owner = match s("owner") {
        Some(o) if ctx.is_admin => o,
        _ => ctx.project_id.clone(),
    };
    let core = [
        "id",
        "name",
        "visibility",
        "protected",
        "os_hidden",
        "owner",
        "disk_format",
        "container_format",
        "min_disk",
        "min_ram",
        "tags",
    ];
    let properties: BTreeMap<String, Value> = b
        .iter()
        .filter(|(k, _)| !core.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let now = Utc::now();
    let mut st = pod.write();
    if st.image.images.contains_key(&id) {
        return Err(ApiError::conflict(
            SVC,
            "Conflict",
            format!("Image with identifier {id} already exists!"),
        ));
    }
    let seq = st.next_seq();
    let img = Image {
        id: id.clone(),
        seq,
        name: s("name"),
        status: "queued".into(),
        visibility,
        protected: b.get("protected").and_then(Value::as_bool).unwrap_or(false),
        os_hidden: b.get("os_hidden").and_then(Value::as_bool).unwrap_or(false),
        owner,
        disk_format: s("disk_format"),
        container_format: s("container_format"),
        min_disk: b.get("min_disk").map(|v| u64_of(v, "min_disk")).transpose()?.unwrap_or(0),
        min_ram: b.get("min_ram").map(|v| u64_of(v, "min_ram")).transpose()?.unwrap_or(0),
        size: None,
        checksum: None,
        os_hash_value: None,
        tags: b
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        properties,
        members: BTreeMap::new(),
        data: None,
        created_at: now,
        updated_at: now,
    };
    let v = view(&img, false);
    st.image.images.insert(id.clone(), img);
    drop(st);
    let mut r = json_resp(201, v);
    if let Ok(h) = HeaderValue::from_str(&format!("{}/image/v2/images/{id}", pod.base_url)) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    Ok(r)
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    let img = owned(&mut st, &ctx, &id)?;
    if img.protected {
        return Err(forbidden(format!("Image {id} is protected and cannot be deleted.")));
    }
    st.image.images.remove(&id);
    st.gc_blobs();
    Ok(empty(204))
}

pub async fn upload(
    State(pod): State<Pod>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    if !ctype.starts_with("application/octet-stream") {
        return Err(ApiError::new(
            SVC,
            415,
            "UnsupportedMediaType",
            format!("Unsupported Content-Type {ctype}"),
        ));
    }
    let mut st = pod.write();
    let img = owned(&mut st, &ctx, &id)?;
    if img.status != "queued" {
        return Err(ApiError::conflict(
            SVC,
            "Conflict",
            format!("Image status transition from {} to saving is not allowed", img.status),
        ));
    }
    let (key, d) = st.blobs.put(body);
    let img = st.image.images.get_mut(&id).expect("owned");
    img.data = Some(key);
    img.size = Some(d.size);
    img.checksum = Some(d.md5);
    img.os_hash_value = Some(d.sha512);
    img.status = "active".into();
    img.updated_at = Utc::now();
    Ok(empty(204))
}

pub async fn download(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let img = visible(&st, &ctx, &id)?;
    if img.status == "deactivated" && !ctx.is_admin {
        return Err(forbidden(
            "The requested image has been deactivated. Image data download is forbidden.",
        ));
    }
    let Some(data) = img.data.as_deref().and_then(|k| st.blobs.get(k)) else {
        return Ok(empty(204));
    };
    let mut r = ([(header::CONTENT_TYPE, "application/octet-stream")], data).into_response();
    if let Some(c) = img.checksum.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        r.headers_mut().insert("content-md5", c);
    }
    Ok(r)
}

pub async fn tag_add(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult {
    let mut st = pod.write();
    let img = owned(&mut st, &ctx, &id)?;
    if !img.tags.contains(&tag) {
        img.tags.push(tag);
    }
    Ok(empty(204))
}

pub async fn tag_delete(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult {
    let mut st = pod.write();
    let img = owned(&mut st, &ctx, &id)?;
    let before = img.tags.len();
    img.tags.retain(|t| t != &tag);
    if img.tags.len() == before {
        return Err(ApiError::not_found(SVC, "NotFound", format!("Tag {tag} not found")));
    }
    Ok(empty(204))
}

async fn set_active(pod: &Pod, ctx: &Ctx, id: &str, active: bool) -> ApiResult<Response> {
    if !ctx.is_admin {
        return Err(forbidden("You are not authorized to complete deactivate action."));
    }
    let mut st = pod.write();
    let img = owned(&mut st, ctx, id)?;
    if img.status != "active" && img.status != "deactivated" {
        return Err(ApiError::forbidden(
            SVC,
            format!("Not allowed to change status of an image in status {}", img.status),
        ));
    }
    img.status = if active { "active".into() } else { "deactivated".into() };
    Ok(empty(204))
}

pub async fn deactivate(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    set_active(&pod, &ctx, &id, false).await
}

pub async fn reactivate(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    set_active(&pod, &ctx, &id, true).await
}
