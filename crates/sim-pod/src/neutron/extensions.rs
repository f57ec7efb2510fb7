//! The extension list (what clients probe before using a feature) and quotas.
//!
//! Only extensions whose attributes and calls the sim actually implements are listed, so a
//! client never takes a code path that would then fail here.

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::not_found;
use crate::http::{ApiResult, Ctx, json_resp};
use crate::pod::Pod;

const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("agent", "agent", "The agent management extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP."),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "Edit extra routes of a router on server side by atomically adding/removing extra routes",
    ),
    (
        "fip-port-details",
        "Floating IP Port Details Extension",
        "Add port_details attribute to Floating IP resource",
    ),
    (
        "filter-validation",
        "Filter parameters validation",
        "Provides validation on filter parameters.",
    ),
    (
        "ip-substring-filtering",
        "IP address substring filtering",
        "Provides IP address substring filtering when listing ports",
    ),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    (
        "network_availability_zone",
        "Network Availability Zone",
        "Availability zone support for network.",
    ),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("port-security", "Port Security", "Provides port security"),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    (
        "router_availability_zone",
        "Router Availability Zone",
        "Availability zone support for router.",
    ),
    ("security-group", "security-group", "The security groups extension."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute: port, subnet, subnetpool, network, security_group, router, floatingip, policy, trunk, network_segment_range",
        "Enables to set tag on resources with standard attribute.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    (
        "stateful-security-group",
        "Stateful security group",
        "Indicates if the security group is stateful or not",
    ),
];

fn ext(alias: &str, name: &str, desc: &str) -> Value {
    json!({"alias": alias, "name": name, "description": desc, "updated": "2013-01-20T00:00:00-00:00", "links": []})
}

pub async fn list(_ctx: Ctx) -> ApiResult {
    let list: Vec<Value> = EXTENSIONS.iter().map(|(a, n, d)| ext(a, n, d)).collect();
    Ok(json_resp(200, json!({"extensions": list})))
}

pub async fn show(_ctx: Ctx, Path(alias): Path<String>) -> ApiResult {
    let (a, n, d) = EXTENSIONS.iter().find(|(a, _, _)| *a == alias).ok_or_else(|| {
        not_found("ExtensionNotFound", format!("Extension with alias {alias} does not exist"))
    })?;
    Ok(json_resp(200, json!({"extension": ext(a, n, d)})))
}

const QUOTAS: &[(&str, i64)] = &[
    ("network", 100),
    ("subnet", 100),
    ("port", 500),
    ("router", 10),
    ("floatingip", 50),
    ("security_group", 10),
    ("security_group_rule", 100),
    ("rbac_policy", 10),
    ("subnetpool", -1),
];

pub async fn quota_show(_ctx: Ctx, Path(_project): Path<String>) -> ApiResult {
    let q: serde_json::Map<String, Value> =
        QUOTAS.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    Ok(json_resp(200, json!({ "quota": q })))
}

/// Quotas with usage (`/quotas/{project}/details`).
pub async fn quota_details(
    State(pod): State<Pod>,
    _ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult {
    let st = pod.read();
    let n = &st.network;
    let used = |k: &str| -> usize {
        match k {
            "network" => n.networks.values().filter(|x| x.project_id == project).count(),
            "subnet" => n.subnets.values().filter(|x| x.project_id == project).count(),
            "port" => n.ports.values().filter(|x| x.project_id == project).count(),
            "router" => n.routers.values().filter(|x| x.project_id == project).count(),
            "floatingip" => n.floating_ips.values().filter(|x| x.project_id == project).count(),
            "security_group" => {
                n.security_groups.values().filter(|x| x.project_id == project).count()
            }
            "security_group_rule" => {
                n.sg_rules.values().filter(|x| x.project_id == project).count()
            }
            _ => 0,
        }
    };
    let q: serde_json::Map<String, Value> = QUOTAS
        .iter()
        .map(|(k, v)| (k.to_string(), json!({"limit": v, "used": used(k), "reserved": 0})))
        .collect();
    Ok(json_resp(200, json!({ "quota": q })))
}

/// Network and router availability zones: the pod's one zone.
pub async fn az_list(State(pod): State<Pod>, _ctx: Ctx) -> ApiResult {
    let zones: Vec<Value> = ["network", "router"]
        .iter()
        .map(|r| json!({"name": pod.az, "resource": r, "state": "available"}))
        .collect();
    Ok(json_resp(200, json!({"availability_zones": zones})))
}

/// One Open vSwitch agent per simulated host (its tunnel endpoint in
/// `configurations.tunneling_ip`), and an L3 and a DHCP agent on the controller.
pub async fn agent_list(State(pod): State<Pod>, ctx: Ctx, q: crate::http::Query) -> ApiResult {
    if !ctx.is_admin {
        return Err(crate::http::ApiError::forbidden(
            super::SVC,
            "rule:get_agent is disallowed by policy",
        ));
    }
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let agent = |id: String, ty: &str, binary: &str, host: &str, topic: &str, conf: Value| {
        json!({"id": id, "agent_type": ty, "binary": binary, "host": host, "topic": topic,
               "alive": true, "admin_state_up": true, "configurations": conf,
               "availability_zone": if ty == "Open vSwitch agent" { Value::Null } else { json!(pod.az) },
               "created_at": now, "started_at": now, "heartbeat_timestamp": now,
               "description": null, "resources_synced": null, "resource_versions": {}})
    };
    let controller = format!("{}-controller", pod.region.to_lowercase());
    let mut list: Vec<Value> = pod
        .hosts
        .iter()
        .map(|h| {
            agent(
                stable_id(&format!("ovs-{}", h.name)),
                "Open vSwitch agent",
                "neutron-openvswitch-agent",
                &h.name,
                "N/A",
                json!({"tunneling_ip": h.tunnel_ip.to_string(), "tunnel_types": ["vxlan"],
                       "l2_population": true, "bridge_mappings": {}}),
            )
        })
        .collect();
    let l3 = json!({"agent_mode": "legacy"});
    list.push(agent(stable_id("l3"), "L3 agent", "neutron-l3-agent", &controller, "l3_agent", l3));
    let dhcp = json!({});
    list.push(agent(
        stable_id("dhcp"),
        "DHCP agent",
        "neutron-dhcp-agent",
        &controller,
        "dhcp_agent",
        dhcp,
    ));
    let list: Vec<Value> = list
        .into_iter()
        .filter(|a| q.get("agent_type").is_none_or(|t| a["agent_type"] == t))
        .filter(|a| q.get("host").is_none_or(|h| a["host"] == h))
        .collect();
    Ok(json_resp(200, json!({"agents": list})))
}

fn stable_id(seed: &str) -> String {
    use md5::{Digest, Md5};
    let d = Md5::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d);
    uuid::Uuid::from_bytes(b).to_string()
}
