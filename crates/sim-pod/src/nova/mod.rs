//! Nova v2.1: servers, actions, volume attachments, interfaces, flavors, keypairs, server
//! groups, availability zones and limits, with microversions 2.1–2.96.
//!
//! Handlers are thin: parse, check, change the state under one lock, render. Cross-service
//! effects (ports in Neutron, volumes in Cinder, snapshots in Glance) call the other services'
//! state methods directly, which is what makes them atomic here while the real services need
//! RPC and can leave half-done work behind.

mod actions;
mod attachments;
mod flavors;
mod keypairs;
mod misc;
mod server_create;
mod server_groups;
mod server_view;
mod servers;

use axum::Router;
use axum::routing::{MethodFilter as M, get};

use crate::faults::op;
use crate::http::{ApiError, Ctx, Svc};
use crate::model::compute::Server;
use crate::pod::Pod;
use crate::state::State;
use crate::versions;

pub(crate) const SVC: Svc = Svc::Compute;

pub fn router() -> Router<Pod> {
    Router::new()
        .route("/", get(versions::compute_v21))
        .route("/servers", op(M::GET, "compute.server_list", servers::list))
        .route("/servers", op(M::POST, "compute.server_create", server_create::create))
        .route("/servers/detail", op(M::GET, "compute.server_list_detail", servers::detail))
        .route("/servers/{id}", op(M::GET, "compute.server_show", servers::show))
        .route("/servers/{id}", op(M::PUT, "compute.server_update", servers::update))
        .route("/servers/{id}", op(M::DELETE, "compute.server_delete", servers::delete))
        .route("/servers/{id}/ips", op(M::GET, "compute.server_ips", servers::ips))
        .route(
            "/servers/{id}/metadata",
            op(M::GET, "compute.server_metadata_list", servers::metadata_list),
        )
        .route(
            "/servers/{id}/metadata",
            op(M::POST, "compute.server_metadata_update", servers::metadata_update),
        )
        .route(
            "/servers/{id}/metadata",
            op(M::PUT, "compute.server_metadata_replace", servers::metadata_replace),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            op(M::GET, "compute.server_metadata_show", servers::metadata_show),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            op(M::PUT, "compute.server_metadata_set", servers::metadata_set),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            op(M::DELETE, "compute.server_metadata_delete", servers::metadata_delete),
        )
        .route("/servers/{id}/action", op(M::POST, "compute.server_action", actions::action))
        .route(
            "/servers/{id}/os-volume_attachments",
            op(M::GET, "compute.volume_attachment_list", attachments::volume_list),
        )
        .route(
            "/servers/{id}/os-volume_attachments",
            op(M::POST, "compute.volume_attachment_create", attachments::volume_attach),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{vol}",
            op(M::GET, "compute.volume_attachment_show", attachments::volume_show),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{vol}",
            op(M::DELETE, "compute.volume_attachment_delete", attachments::volume_detach),
        )
        .route(
            "/servers/{id}/os-interface",
            op(M::GET, "compute.interface_list", attachments::interface_list),
        )
        .route(
            "/servers/{id}/os-interface",
            op(M::POST, "compute.interface_create", attachments::interface_attach),
        )
        .route(
            "/servers/{id}/os-interface/{port}",
            op(M::GET, "compute.interface_show", attachments::interface_show),
        )
        .route(
            "/servers/{id}/os-interface/{port}",
            op(M::DELETE, "compute.interface_delete", attachments::interface_detach),
        )
        .route("/flavors", op(M::GET, "compute.flavor_list", flavors::list))
        .route("/flavors", op(M::POST, "compute.flavor_create", flavors::create))
        .route("/flavors/detail", op(M::GET, "compute.flavor_list_detail", flavors::detail))
        .route("/flavors/{id}", op(M::GET, "compute.flavor_show", flavors::show))
        .route("/flavors/{id}", op(M::DELETE, "compute.flavor_delete", flavors::delete))
        .route(
            "/flavors/{id}/os-extra_specs",
            op(M::GET, "compute.flavor_extra_specs_list", flavors::specs_list),
        )
        .route(
            "/flavors/{id}/os-extra_specs",
            op(M::POST, "compute.flavor_extra_specs_create", flavors::specs_create),
        )
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            op(M::GET, "compute.flavor_extra_spec_show", flavors::spec_show),
        )
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            op(M::PUT, "compute.flavor_extra_spec_update", flavors::spec_update),
        )
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            op(M::DELETE, "compute.flavor_extra_spec_delete", flavors::spec_delete),
        )
        .route(
            "/flavors/{id}/os-flavor-access",
            op(M::GET, "compute.flavor_access_list", flavors::access_list),
        )
        .route("/flavors/{id}/action", op(M::POST, "compute.flavor_action", flavors::action))
        .route("/os-keypairs", op(M::GET, "compute.keypair_list", keypairs::list))
        .route("/os-keypairs", op(M::POST, "compute.keypair_create", keypairs::create))
        .route("/os-keypairs/{name}", op(M::GET, "compute.keypair_show", keypairs::show))
        .route("/os-keypairs/{name}", op(M::DELETE, "compute.keypair_delete", keypairs::delete))
        .route("/os-availability-zone", op(M::GET, "compute.availability_zone_list", misc::az_list))
        .route(
            "/os-availability-zone/detail",
            op(M::GET, "compute.availability_zone_detail", misc::az_detail),
        )
        .route("/limits", op(M::GET, "compute.limits_show", misc::limits))
        .route(
            "/os-server-groups",
            op(M::GET, "compute.server_group_list", server_groups::group_list),
        )
        .route(
            "/os-server-groups",
            op(M::POST, "compute.server_group_create", server_groups::group_create),
        )
        .route(
            "/os-server-groups/{id}",
            op(M::GET, "compute.server_group_show", server_groups::group_show),
        )
        .route(
            "/os-server-groups/{id}",
            op(M::DELETE, "compute.server_group_delete", server_groups::group_delete),
        )
        .route("/os-hypervisors", op(M::GET, "compute.hypervisor_list", misc::hypervisor_list))
        .route(
            "/os-hypervisors/detail",
            op(M::GET, "compute.hypervisor_list_detail", misc::hypervisor_detail),
        )
        .route("/os-services", op(M::GET, "compute.service_list", misc::service_list))
        .route("/os-quota-sets/{project}", op(M::GET, "compute.quota_show", misc::quota_show))
        .route(
            "/os-quota-sets/{project}/detail",
            op(M::GET, "compute.quota_show_detail", misc::quota_detail),
        )
        .route(
            "/os-quota-sets/{project}/defaults",
            op(M::GET, "compute.quota_defaults", misc::quota_defaults),
        )
}

pub(crate) fn server_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "InstanceNotFound", format!("Instance {id} could not be found."))
}

/// The server `id` if the caller may see it (owner, or admin).
pub(crate) fn visible<'a>(st: &'a State, ctx: &Ctx, id: &str) -> Result<&'a Server, ApiError> {
    st.compute
        .servers
        .get(id)
        .filter(|s| ctx.is_admin || ctx.owns(&s.project_id))
        .ok_or_else(|| server_nf(id))
}

/// The same, for a change; a locked server refuses changes from non-admins.
pub(crate) fn visible_mut<'a>(
    st: &'a mut State,
    ctx: &Ctx,
    id: &str,
) -> Result<&'a mut Server, ApiError> {
    visible(st, ctx, id)?;
    let s = st.compute.servers.get_mut(id).ok_or_else(|| server_nf(id))?;
    Ok(s)
}

/// 409 unless the server is in one of `states` (vm_state) with no task running.
pub(crate) fn require_state(s: &Server, action: &str, states: &[&str]) -> Result<(), ApiError> {
    if s.task_state.is_some() || !states.contains(&s.vm_state.as_str()) {
        let state = match &s.task_state {
            Some(t) => format!("task_state {t}"),
            None => format!("vm_state {}", s.vm_state),
        };
        return Err(ApiError::conflict(
            SVC,
            "InstanceInvalidState",
            format!("Cannot '{action}' instance {} while it is in {state}", s.id),
        ));
    }
    Ok(())
}

pub(crate) fn require_unlocked(s: &Server, ctx: &Ctx) -> Result<(), ApiError> {
    if s.locked && !ctx.is_admin {
        return Err(ApiError::conflict(
            SVC,
            "InstanceIsLocked",
            format!("Instance {} is locked", s.id),
        ));
    }
    Ok(())
}

/// `BASE/compute/v2.1/<path>` and the bookmark `BASE/compute/<path>`.
pub(crate) fn links(pod: &Pod, path: &str) -> serde_json::Value {
    serde_json::json!([
        {"rel": "self", "href": format!("{}/compute/v2.1/{path}", pod.base_url)},
        {"rel": "bookmark", "href": format!("{}/compute/{path}", pod.base_url)},
    ])
}
