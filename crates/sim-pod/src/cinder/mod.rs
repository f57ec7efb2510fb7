//! Cinder v3: volumes, actions, snapshots, backups, attachments, volume types, limits and
//! availability zones, with microversions 3.0–3.71.
//!
//! Creates and deletes answer 202 and move through `creating`/`deleting` after
//! `delays.volume_create`; attachments are driven by Nova's volume attach. Data is shared: a
//! volume created from an image, a snapshot or a backup keeps the very same bytes.

mod actions;
mod backups;
mod snapshots;
mod types;
mod volumes;

use axum::Router;
use axum::routing::{MethodFilter as M, get};
use serde_json::{Value, json};

use crate::faults::op;
use crate::http::{ApiError, Ctx, Query, Svc, is_true};
use crate::pod::Pod;
use crate::versions;

pub(crate) const SVC: Svc = Svc::Volume;

pub fn router() -> Router<Pod> {
    Router::new()
        .route("/", get(versions::volume_v3))
        .route("/volumes", op(M::GET, "volume.volume_list", volumes::list))
        .route("/volumes", op(M::POST, "volume.volume_create", volumes::create))
        .route("/volumes/detail", op(M::GET, "volume.volume_list_detail", volumes::detail))
        .route("/volumes/{id}", op(M::GET, "volume.volume_show", volumes::show))
        .route("/volumes/{id}", op(M::PUT, "volume.volume_update", volumes::update))
        .route("/volumes/{id}", op(M::DELETE, "volume.volume_delete", volumes::delete))
        .route("/volumes/{id}/action", op(M::POST, "volume.volume_action", actions::action))
        .route(
            "/volumes/{id}/metadata",
            op(M::GET, "volume.volume_metadata_list", volumes::metadata_list),
        )
        .route(
            "/volumes/{id}/metadata",
            op(M::POST, "volume.volume_metadata_update", volumes::metadata_update),
        )
        .route("/attachments", op(M::GET, "volume.attachment_list", actions::attachment_list))
        .route(
            "/attachments/detail",
            op(M::GET, "volume.attachment_list_detail", actions::attachment_list),
        )
        .route("/attachments/{id}", op(M::GET, "volume.attachment_show", actions::attachment_show))
        .route("/snapshots", op(M::GET, "volume.snapshot_list", snapshots::list))
        .route("/snapshots", op(M::POST, "volume.snapshot_create", snapshots::create))
        .route("/snapshots/detail", op(M::GET, "volume.snapshot_list_detail", snapshots::detail))
        .route("/snapshots/{id}", op(M::GET, "volume.snapshot_show", snapshots::show))
        .route("/snapshots/{id}", op(M::PUT, "volume.snapshot_update", snapshots::update))
        .route("/snapshots/{id}", op(M::DELETE, "volume.snapshot_delete", snapshots::delete))
        .route("/backups", op(M::GET, "volume.backup_list", backups::list))
        .route("/backups", op(M::POST, "volume.backup_create", backups::create))
        .route("/backups/detail", op(M::GET, "volume.backup_list_detail", backups::detail))
        .route("/backups/{id}", op(M::GET, "volume.backup_show", backups::show))
        .route("/backups/{id}", op(M::DELETE, "volume.backup_delete", backups::delete))
        .route("/backups/{id}/restore", op(M::POST, "volume.backup_restore", backups::restore))
        .route("/types", op(M::GET, "volume.type_list", types::list))
        .route("/types", op(M::POST, "volume.type_create", types::create))
        .route("/types/{id}", op(M::GET, "volume.type_show", types::show))
        .route("/types/{id}", op(M::DELETE, "volume.type_delete", types::delete))
        .route(
            "/types/{id}/extra_specs",
            op(M::GET, "volume.type_extra_specs_list", types::specs_list),
        )
        .route(
            "/types/{id}/extra_specs",
            op(M::POST, "volume.type_extra_specs_create", types::specs_create),
        )
        .route("/limits", op(M::GET, "volume.limits_show", types::limits))
        .route("/os-availability-zone", op(M::GET, "volume.availability_zone_list", types::az_list))
        .route("/os-services", op(M::GET, "volume.service_list", types::service_list))
        .route("/os-quota-sets/{project}", op(M::GET, "volume.quota_show", types::quota_show))
        .route(
            "/os-quota-sets/{project}/defaults",
            op(M::GET, "volume.quota_defaults", types::quota_show),
        )
}

pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(SVC, msg)
}

pub(crate) fn invalid_volume(msg: impl std::fmt::Display) -> ApiError {
    bad(format!("Invalid volume: {msg}"))
}

pub(crate) fn volume_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "VolumeNotFound", format!("Volume {id} could not be found."))
}

/// `BASE/volume/v3/<project>/<path>` self and bookmark links.
pub(crate) fn links(pod: &Pod, project: &str, path: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/volume/v3/{project}/{path}", pod.base_url)},
        {"rel": "bookmark", "href": format!("{}/volume/{project}/{path}", pod.base_url)},
    ])
}

/// Whether to list every project's resources (admin with `all_tenants`).
pub(crate) fn all_tenants(ctx: &Ctx, q: &Query) -> bool {
    ctx.is_admin && q.get("all_tenants").is_some_and(|v| v.is_empty() || is_true(v))
}

/// Cinder's `sort=key:dir,key2` or `sort_key`/`sort_dir`, default `created_at:desc`.
pub(crate) fn sort_spec(q: &Query) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    if let Some(s) = q.get("sort") {
        for part in s.split(',') {
            let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
            out.push((k.trim().to_string(), d.trim() != "asc"));
        }
    } else if let Some(k) = q.get("sort_key") {
        out.push((k.to_string(), q.get("sort_dir") != Some("asc")));
    }
    if out.is_empty() {
        out.push(("created_at".into(), true));
    }
    out
}

/// Page `items` (already sorted) by `marker`/`limit`; returns whether a next link is due.
pub(crate) fn page<T>(
    items: &mut Vec<T>,
    q: &Query,
    id_of: impl Fn(&T) -> &str,
) -> Result<bool, ApiError> {
    if let Some(m) = q.get("marker") {
        let pos = items.iter().position(|i| id_of(i) == m).ok_or_else(|| {
            ApiError::not_found(SVC, "MarkerNotFound", format!("Marker {m} could not be found."))
        })?;
        items.drain(..=pos);
    }
    if let Some(l) = q.get("limit") {
        let limit: usize = l.parse().map_err(|_| {
            bad(format!("Invalid input received: limit must be an integer, not {l}"))
        })?;
        if items.len() > limit {
            items.truncate(limit);
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn next_link(pod: &Pod, project: &str, coll: &str, q: &Query, last: &str) -> Value {
    let mut pairs: Vec<(&str, String)> =
        q.0.iter().filter(|(k, _)| k != "marker").map(|(k, v)| (k.as_str(), v.clone())).collect();
    pairs.push(("marker", last.to_string()));
    let base = format!("{}/volume/v3/{project}/{coll}", pod.base_url);
    json!([{"rel": "next", "href": tricircle_openstack_api::links::with_query(&base, &pairs)}])
}
