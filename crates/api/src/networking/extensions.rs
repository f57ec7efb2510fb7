//! `GET /extensions`: what this Neutron offers, so clients (openstacksdk,
//! the `openstack` CLI) enable the attributes they know. Only extensions the
//! gateway really implements are listed (`router` covers floating IPs, as
//! in Neutron's L3 extension).

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};
use tricircle_common::Error;

use super::{NeutronError, NeutronResult};
use crate::auth::Caller;

const UPDATED: &str = "2024-01-01T00:00:00-00:00";

/// (alias, name, description)
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("port-security", "Port Security", "Provides port security"),
    ("security-group", "security-group", "The security groups extension."),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    (
        "fip-port-details",
        "Floating IP Port Details Extension",
        "Add port_details attribute to Floating IP resource",
    ),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "Edit extra routes of a router on server side by atomically adding/removing extra routes",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    (
        "router_availability_zone",
        "Router Availability Zone",
        "Availability zone support for router.",
    ),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    (
        "network_availability_zone",
        "Network Availability Zone",
        "Availability zone support for network.",
    ),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "quota-check-limit",
        "Quota engine limit check",
        "A quota update may ask that no limit be set below current usage (check_limit)",
    ),
    (
        "quota-check-limit-default",
        "Quota engine limit check by default",
        "Quota updates refuse a limit below current usage unless forced (force)",
    ),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("fields", "Fields", "Extension that indicates that fields filtering is enabled."),
    (
        "filter-validation",
        "Filter parameters validation",
        "Provides validation on filter parameters.",
    ),
];

fn view(e: &(&str, &str, &str)) -> Value {
    json!({"alias": e.0, "name": e.1, "description": e.2, "updated": UPDATED, "links": []})
}

pub async fn list(Caller(_ctx): Caller) -> Json<Value> {
    Json(json!({"extensions": EXTENSIONS.iter().map(view).collect::<Vec<_>>()}))
}

pub async fn show(Caller(_ctx): Caller, Path(alias): Path<String>) -> NeutronResult<Json<Value>> {
    let e = EXTENSIONS.iter().find(|e| e.0 == alias).ok_or_else(|| {
        NeutronError(
            Error::not_found("Extension", tricircle_common::ids::truncate_for_message(&alias))
                .with_type("ExtensionNotFound"),
        )
    })?;
    Ok(Json(json!({"extension": view(e)})))
}
