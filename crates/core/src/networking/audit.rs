//! The periodic audit of a pod's networking (the durable-jobs issue):
//! compare what the pod's Neutron holds with the routings and repair the
//! drift.
//!
//! - An *orphan* is a pod object the gateway made (named after a top ID, or
//!   `shadow-<top ID>`; a floating IP carries the top ID as description)
//!   that no routing points at, older than the grace period (a create in
//!   flight has its routing, as a lock, before the pod is asked; the grace
//!   covers clocks and replicas). It is deleted. Objects the pod's own users
//!   made (other names) are never touched.
//! - A routing whose pod object vanished is dropped when the reconciles can
//!   make it again (network, subnet, router, shadow port and floating IP
//!   copies: the syncs that follow re-create them), or reported as missing
//!   when they cannot (a server's port: its server has lost it).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tricircle_common::Result;
use tricircle_pod_client::{PodRequest, PodSession, ServiceType};
use tricircle_store::{Page, Pod, RoutingFilter};

use super::pod_json;
use crate::App;
use crate::audit::Finding;

/// What one audit of one pod found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkAudit {
    /// Orphans deleted, by their pod's ID.
    pub orphans_deleted: Vec<Finding>,
    /// Routings dropped because their pod object vanished (made again by
    /// the reconciles), by top ID.
    pub vanished_remade: Vec<Finding>,
    /// Routings whose pod object vanished and cannot be made again, by top ID.
    pub vanished_missing: Vec<Finding>,
}

const KINDS: &[(&str, &str)] = &[
    ("floatingip", "floatingips"),
    ("port", "ports"),
    ("router", "routers"),
    ("subnet", "subnets"),
    ("network", "networks"),
];

/// The top ID a pod object of the gateway's is named after, if it is one.
fn gateway_made(kind: &str, obj: &Value) -> Option<String> {
    let label = if kind == "floatingip" { &obj["description"] } else { &obj["name"] };
    let label = label.as_str()?;
    let id = label.strip_prefix("shadow-").unwrap_or(label);
    uuid::Uuid::parse_str(id).ok().map(|_| id.to_string())
}

/// Whether a pod object was made before `cutoff`, from its creation time
/// (`created_at`, or `created` for Nova's servers).
pub(crate) fn older_than(obj: &Value, cutoff: DateTime<Utc>) -> bool {
    obj["created_at"]
        .as_str()
        .or(obj["created"].as_str())
        .and_then(|t| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.with_timezone(&Utc))
                .or_else(|| format!("{t}Z").parse::<DateTime<Utc>>().ok())
        })
        // No creation time: only the grace of the routings' lock protects it.
        .is_none_or(|d| d < cutoff)
}

impl App {
    /// Audit one pod's networking; `grace` protects objects younger than it.
    pub async fn audit_pod_networking(
        &self,
        pod: &Pod,
        grace: std::time::Duration,
    ) -> Result<NetworkAudit> {
        let admin = self.pod_admin_session(pod).await?;
        // Routings first: a copy made while the pod is listed then shows up
        // as unknown (an orphan too young to delete), never as vanished.
        let filter = RoutingFilter { pod_id: Some(pod.pod_id), ..Default::default() };
        let routings =
            self.store.routing_list(&filter, &Page { limit: 1_000_000, marker: None }).await?;
        let mut bottom: HashMap<&str, Vec<Value>> = HashMap::new();
        for (kind, collection) in KINDS {
            let req = PodRequest::get(ServiceType::Network, format!("/v2.0/{collection}"));
            let list = pod_json(&admin, pod, &req).await?;
            let key = collection.to_string();
            bottom.insert(kind, list[key.as_str()].as_array().cloned().unwrap_or_default());
        }
        let known: HashSet<&str> = routings.iter().filter_map(|r| r.bottom_id.as_deref()).collect();
        // Creates in flight: their routing exists, without a bottom ID yet.
        let in_flight: HashSet<&str> =
            routings.iter().filter(|r| r.bottom_id.is_none()).map(|r| r.top_id.as_str()).collect();
        // Only the projects this gateway made in the pod are its: another
        // gateway's, or the pod's own users' (a shared pod has none mapped),
        // are never taken for orphans.
        let ours: HashSet<&str> = routings
            .iter()
            .filter(|r| r.resource_type == "project")
            .filter_map(|r| r.bottom_id.as_deref())
            .collect();
        let cutoff = Utc::now() - chrono::Duration::from_std(grace).unwrap_or_default();
        let mut report = NetworkAudit::default();

        let all_ids: HashSet<String> = bottom
            .values()
            .flatten()
            .filter_map(|o| o["id"].as_str().map(str::to_string))
            .collect();
        for (kind, _) in KINDS {
            for obj in &bottom[kind] {
                let id = obj["id"].as_str().unwrap_or_default();
                let Some(top) = gateway_made(kind, obj) else { continue };
                let owner = obj["project_id"].as_str().or(obj["tenant_id"].as_str());
                if known.contains(id)
                    || in_flight.contains(top.as_str())
                    || !owner.is_some_and(|o| ours.contains(o))
                    || !older_than(obj, cutoff)
                {
                    continue;
                }
                // Ports the pod owns (router gateways, DHCP) go with their owner.
                if *kind == "port"
                    && obj["device_owner"].as_str().is_some_and(|o| o.starts_with("network:"))
                {
                    continue;
                }
                // One object the pod will not let go does not stop the audit.
                if let Err(e) = self.delete_orphan(&admin, pod, kind, obj).await {
                    tracing::warn!(region = %pod.region_name, kind, bottom_id = id, error = %e, "audit: orphan not deleted yet");
                    continue;
                }
                tracing::warn!(region = %pod.region_name, kind, bottom_id = id, "audit: orphan deleted (no routing points at it)");
                metrics::counter!("tricircle_audit_repairs_total", "repair" => "orphan_deleted", "kind" => kind.to_string()).increment(1);
                report.orphans_deleted.push(Finding::new(kind, id));
            }
        }

        let mut networks = BTreeSet::new();
        let mut routers = BTreeSet::new();
        let mut floating = BTreeSet::new();
        for r in &routings {
            let Some(b) = &r.bottom_id else { continue };
            let kind = r.resource_type.as_str();
            let collection = match kind {
                "network" => "networks",
                "subnet" => "subnets",
                "router" => "routers",
                "shadow_port" | "port" => "ports",
                "floatingip" => "floatingips",
                _ => continue,
            };
            if all_ids.contains(b) || !self.vanished(&admin, pod, collection, b).await? {
                continue;
            }
            // A server's port cannot be made again; a router's interface or
            // bridge port can, by the router's sync.
            let port_owner = match kind {
                "port" => match self.store.net_object_get("port", &r.top_id).await? {
                    Some(p) => Some(super::body_of(&p)?),
                    None => None,
                },
                _ => None,
            };
            let router_port = port_owner.as_ref().filter(|b| {
                matches!(
                    b["device_owner"].as_str(),
                    Some("network:router_interface" | super::bridges::BRIDGE_OWNER)
                )
            });
            if kind == "port" && router_port.is_none() {
                tracing::error!(region = %pod.region_name, kind, top_id = %r.top_id, "audit: the pod lost its copy and it cannot be made again");
                metrics::counter!("tricircle_audit_repairs_total", "repair" => "vanished_missing", "kind" => kind.to_string()).increment(1);
                report.vanished_missing.push(Finding::new(kind, &r.top_id));
                continue;
            }
            self.store.routing_delete(r.id).await?;
            match kind {
                "shadow_port" => {
                    if let Some(p) = self.store.net_object_get("port", &r.top_id).await? {
                        networks.extend(p.network_id);
                    }
                }
                "router" => {
                    routers.insert(r.top_id.clone());
                }
                "port" => {
                    if let Some(router) = router_port.and_then(|b| b["device_id"].as_str()) {
                        routers.insert(router.to_string());
                    }
                }
                "floatingip" => {
                    floating.insert(r.top_id.clone());
                }
                _ => {}
            }
            tracing::warn!(region = %pod.region_name, kind, top_id = %r.top_id, "audit: the pod lost its copy; made again");
            metrics::counter!("tricircle_audit_repairs_total", "repair" => "vanished_remade", "kind" => kind.to_string()).increment(1);
            report.vanished_remade.push(Finding::new(kind, &r.top_id));
        }
        self.sync_networks_recorded(networks).await;
        self.sync_routers_recorded(routers).await;
        self.sync_floating_ips_moved(floating, None).await;
        Ok(report)
    }

    /// Whether the pod really has no such object (asked one by one: a list
    /// may be paged or filtered by the pod's policy).
    async fn vanished(
        &self,
        admin: &PodSession,
        pod: &Pod,
        collection: &str,
        id: &str,
    ) -> Result<bool> {
        let req = PodRequest::get(ServiceType::Network, format!("/v2.0/{collection}/{id}"));
        match admin.call(&req).await {
            Ok(_) => Ok(false),
            Err(tricircle_pod_client::PodError::Service { status: 404, .. }) => Ok(true),
            Err(e) => Err(crate::pod_sessions::pod_error(pod, e)),
        }
    }

    async fn delete_orphan(
        &self,
        admin: &PodSession,
        pod: &Pod,
        kind: &str,
        obj: &Value,
    ) -> Result<()> {
        let id = obj["id"].as_str().unwrap_or_default();
        match kind {
            "router" => {
                let path = format!("/v2.0/routers/{id}");
                let clear = json!({"router": {"routes": [], "external_gateway_info": {}}});
                let req = PodRequest::new(ServiceType::Network, reqwest::Method::PUT, path)
                    .with_body(clear);
                pod_json(admin, pod, &req).await?;
                self.detach_all_interfaces(pod, admin, id).await?;
            }
            "network" => {
                // Routes through the network go before its interfaces.
                let req = PodRequest::get(ServiceType::Network, "/v2.0/subnets")
                    .with_query("network_id", id);
                let subnets = pod_json(admin, pod, &req).await?;
                let cidrs: Vec<ipnet::IpNet> = subnets["subnets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["cidr"].as_str()?.parse().ok())
                    .collect();
                self.detach_routers_from(pod, id, &cidrs).await?
            }
            _ => {}
        }
        super::delete_in_pod(admin, pod, format!("/v2.0/{kind}s/{id}")).await
    }
}
