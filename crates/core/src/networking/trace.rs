//! `tricircle trace` (the networking issue): does a packet from a top port,
//! or from the outside world through a floating IP, reach an IP, judged from
//! the pods' actual state rather than the top's intent?
//!
//! [`App::network_trace`] reads, as each pod's admin, what its Neutron
//! knows (networks with their segments, subnets, ports with their binding
//! and shadow ports' tunnel endpoints, the hosts' tunnel endpoints from the
//! L2 agents, routers with their interfaces, routes and gateway, floating
//! IPs), builds one [`DataplaneView`] per pod and runs the pod-independent
//! tracer of `tricircle-dataplane` from the port's copy (or from the
//! outside, for every pod holding a network copy). Bottom IDs in the
//! verdict are turned back into top IDs where a routing says so; the pods'
//! own objects (a router interface the top did not make) are shown as
//! `(pod-local)`, so no bottom ID reaches the client.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;
use serde_json::Value;
use tricircle_common::{Error, RequestContext, Result};
use tricircle_dataplane::{
    DataplaneView, DpFloatingIp, DpGateway, DpHost, DpInterface, DpNetwork, DpPort, DpRouter,
    DpSubnet, FixedIp, Reachability, Route,
};
use tricircle_pod_client::{PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{Page, Pod, RoutingFilter};

use crate::App;
use crate::pod_sessions::pod_error;

/// What the pods' dataplanes say about a packet from a top port, or from the
/// outside, to an IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceReport {
    pub reachable: bool,
    /// What the packet went through, in order (`az1-region: port <top ID> on host1`, ...).
    pub hops: Vec<String>,
    /// Why it stopped, when it did not arrive: the missing piece.
    pub reason: Option<String>,
    /// The top port owning the destination IP, when it has one (none when the
    /// packet left for the outside world).
    pub dest_port: Option<String>,
    /// The region of the port owning the destination IP.
    pub dest_region: Option<String>,
}

/// How the verdict names a pod-local object no routing maps to the top.
const POD_LOCAL: &str = "(pod-local)";

const SHADOW_OWNER: &str = "compute:shadow";

/// Where a traced packet starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceSource {
    /// A top port, from its copy in the pod of its server.
    Port(String),
    /// The outside world: the destination must be a floating IP.
    Outside,
}

impl App {
    /// Trace a packet from `from` (a top port, or the outside world) to `to`
    /// through the pods' bottom state. Admin only.
    pub async fn network_trace(
        &self,
        ctx: &RequestContext,
        from: &TraceSource,
        to: IpAddr,
    ) -> Result<TraceReport> {
        crate::require_admin(ctx)?;
        let all = |resource_type: Option<&str>, top_id: Option<&str>| RoutingFilter {
            top_id: top_id.map(str::to_string),
            resource_type: resource_type.map(str::to_string),
            ..Default::default()
        };
        let page = Page { limit: 10_000, marker: None };
        // The source port's copy: (pod, bottom ID, top ID).
        let source = match from {
            TraceSource::Outside => None,
            TraceSource::Port(from_port) => {
                if self.store.net_object_get("port", from_port).await?.is_none() {
                    return Err(Error::not_found("Port", from_port));
                }
                let copy = self
                    .store
                    .routing_list(&all(Some("port"), Some(from_port)), &page)
                    .await?
                    .into_iter()
                    .find_map(|r| r.bottom_id.map(|b| (r.pod_id, b)));
                let Some((pod, bottom)) = copy else {
                    return Err(Error::conflict(format!(
                        "Port {from_port} has no copy in any region: it is not on any server yet."
                    )));
                };
                Some((pod, bottom, from_port.as_str()))
            }
        };
        // Every pod holding a copy of some network (where floating IPs and
        // the routers holding them live too), and the source's pod.
        let mut pod_ids: HashSet<_> = source.iter().map(|(pod, _, _)| *pod).collect();
        for r in self.store.routing_list(&all(Some("network"), None), &page).await? {
            pod_ids.insert(r.pod_id);
        }
        let mut pods: Vec<Pod> = Vec::new();
        for pod in self.store.pod_list().await? {
            if pod_ids.contains(&pod.pod_id) {
                pods.push(pod);
            }
        }
        // Bottom ID -> top ID, from every routing in those pods.
        let mut to_top: HashMap<String, String> = HashMap::new();
        for pod in &pods {
            let filter = RoutingFilter { pod_id: Some(pod.pod_id), ..Default::default() };
            for r in self.store.routing_list(&filter, &page).await? {
                if let Some(b) = r.bottom_id {
                    to_top.insert(b, r.top_id);
                }
            }
        }
        let mut views = Vec::with_capacity(pods.len());
        for pod in &pods {
            views.push(self.dataplane_view(pod).await?);
        }
        let (verdict, source_ids) = match &source {
            Some((_, bottom, top)) => {
                (tricircle_dataplane::trace(&views, bottom, to), Some((bottom.as_str(), *top)))
            }
            None => (tricircle_dataplane::trace_from_outside(&views, to), None),
        };
        Ok(to_top_ids(verdict, &views, &to_top, source_ids))
    }

    /// One pod's dataplane, from its Neutron API as its admin.
    async fn dataplane_view(&self, pod: &Pod) -> Result<DataplaneView> {
        let admin = self.pod_admin_session(pod).await?;
        let list = |path: &'static str, key: &'static str| neutron_list(&admin, pod, path, key);
        let nets = list("/v2.0/networks", "networks").await?.unwrap_or_default();
        let subnets = list("/v2.0/subnets", "subnets").await?.unwrap_or_default();
        let ports = list("/v2.0/ports", "ports").await?.unwrap_or_default();
        // An API-only Neutron has no agents, hence no tunnel endpoints.
        let agents = list("/v2.0/agents", "agents").await?.unwrap_or_default();
        let routers = list("/v2.0/routers", "routers").await?.unwrap_or_default();
        let fips = list("/v2.0/floatingips", "floatingips").await?.unwrap_or_default();
        Ok(build_view(&pod.region_name, &nets, &subnets, &ports, &agents, &routers, &fips))
    }
}

/// `GET path` on the pod's Neutron, the list under `key`; `None` when the
/// pod does not have that resource (404: an extension it lacks).
async fn neutron_list(
    admin: &PodSession,
    pod: &Pod,
    path: &str,
    key: &str,
) -> Result<Option<Vec<Value>>> {
    let req = PodRequest::get(ServiceType::Network, path);
    let body: Value = match admin.call(&req).await {
        Ok(r) => r.json().map_err(|e| pod_error(pod, e))?,
        Err(PodError::Service { status: 404, .. }) => return Ok(None),
        Err(e) => return Err(pod_error(pod, e)),
    };
    Ok(Some(body[key].as_array().cloned().unwrap_or_default()))
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn opt_s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn fixed_ips(port: &Value) -> Vec<FixedIp> {
    port["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| FixedIp { subnet_id: s(&f["subnet_id"]), ip_address: s(&f["ip_address"]) })
        .collect()
}

fn interfaces(port: &Value) -> Vec<DpInterface> {
    fixed_ips(port)
        .into_iter()
        .map(|f| DpInterface {
            port_id: s(&port["id"]),
            network_id: s(&port["network_id"]),
            subnet_id: f.subnet_id,
            ip_address: f.ip_address,
        })
        .collect()
}

/// A pod's [`DataplaneView`] from its Neutron's lists (as its admin sees them).
pub fn build_view(
    region: &str,
    nets: &[Value],
    subnets: &[Value],
    ports: &[Value],
    agents: &[Value],
    routers: &[Value],
    fips: &[Value],
) -> DataplaneView {
    let mut hosts: Vec<DpHost> = Vec::new();
    for a in agents {
        let name = s(&a["host"]);
        let ip = a["configurations"]["tunneling_ip"].as_str().and_then(|t| t.parse().ok());
        if let Some(tunnel_ip) = ip
            && !name.is_empty()
            && !hosts.iter().any(|h| h.name == name)
        {
            hosts.push(DpHost { name, tunnel_ip });
        }
    }
    let host_tunnel = |host: &str| hosts.iter().find(|h| h.name == host).map(|h| h.tunnel_ip);
    let networks = nets
        .iter()
        .map(|n| {
            let id = s(&n["id"]);
            DpNetwork {
                name: s(&n["name"]),
                network_type: s(&n["provider:network_type"]),
                physical_network: opt_s(&n["provider:physical_network"]),
                segmentation_id: n["provider:segmentation_id"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok()),
                external: n["router:external"].as_bool().unwrap_or(false),
                subnets: subnets
                    .iter()
                    .filter(|x| x["network_id"].as_str() == Some(id.as_str()))
                    .map(|x| DpSubnet {
                        id: s(&x["id"]),
                        cidr: s(&x["cidr"]),
                        gateway_ip: opt_s(&x["gateway_ip"]),
                    })
                    .collect(),
                id,
            }
        })
        .collect();
    let dp_ports = ports
        .iter()
        .map(|p| {
            let host = s(&p["binding:host_id"]);
            let profile_tunnel: Option<Ipv4Addr> =
                p["binding:profile"]["tunnel_ip"].as_str().and_then(|t| t.parse().ok());
            let device_owner = s(&p["device_owner"]);
            DpPort {
                id: s(&p["id"]),
                network_id: s(&p["network_id"]),
                mac_address: s(&p["mac_address"]),
                fixed_ips: fixed_ips(p),
                tunnel_ip: profile_tunnel.or_else(|| host_tunnel(&host)),
                host,
                shadow: device_owner == SHADOW_OWNER
                    || p["binding:profile"]["type"].as_str() == Some("shadow"),
                device_owner,
                device_id: s(&p["device_id"]),
                status: s(&p["status"]),
                admin_state_up: p["admin_state_up"].as_bool().unwrap_or(true),
            }
        })
        .collect();
    let routers = routers
        .iter()
        .map(|r| {
            let id = s(&r["id"]);
            let owned_by = |p: &&Value, owner: &str| {
                p["device_id"].as_str() == Some(id.as_str())
                    && p["device_owner"].as_str().is_some_and(|o| o.starts_with(owner))
            };
            let gw_info = &r["external_gateway_info"];
            let gateway_net = gw_info["network_id"].as_str();
            DpRouter {
                name: s(&r["name"]),
                interfaces: ports
                    .iter()
                    .filter(|p| owned_by(p, "network:router_interface"))
                    .flat_map(interfaces)
                    .collect(),
                gateway: ports
                    .iter()
                    .filter(|p| owned_by(p, "network:router_gateway"))
                    .find(|p| gateway_net.is_none_or(|n| p["network_id"].as_str() == Some(n)))
                    .and_then(|p| interfaces(p).into_iter().next())
                    .map(|interface| DpGateway {
                        interface,
                        // Neutron's default when the field is absent.
                        enable_snat: gw_info["enable_snat"].as_bool().unwrap_or(true),
                    }),
                routes: r["routes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| Route { destination: s(&x["destination"]), nexthop: s(&x["nexthop"]) })
                    .collect(),
                id,
            }
        })
        .collect();
    let floating_ips = fips
        .iter()
        .map(|f| DpFloatingIp {
            floating_ip_address: s(&f["floating_ip_address"]),
            fixed_ip_address: opt_s(&f["fixed_ip_address"]),
            port_id: opt_s(&f["port_id"]),
            router_id: opt_s(&f["router_id"]),
        })
        .collect();
    DataplaneView {
        region: region.to_string(),
        hosts,
        networks,
        ports: dp_ports,
        routers,
        floating_ips,
    }
}

/// The verdict with every bottom ID of the views replaced by its top ID, or
/// by [`POD_LOCAL`] when no routing maps it.
fn to_top_ids(
    v: Reachability,
    views: &[DataplaneView],
    to_top: &HashMap<String, String>,
    source: Option<(&str, &str)>,
) -> TraceReport {
    let mut names: HashMap<&str, &str> = HashMap::new();
    for view in views {
        let ids = view
            .networks
            .iter()
            .flat_map(|n| std::iter::once(&n.id).chain(n.subnets.iter().map(|x| &x.id)))
            .chain(view.ports.iter().map(|p| &p.id))
            .chain(view.routers.iter().map(|r| &r.id));
        for id in ids.filter(|id| !id.is_empty()) {
            names.insert(id, to_top.get(id).map_or(POD_LOCAL, String::as_str));
        }
    }
    // The source port: (bottom, top).
    if let Some((bottom, top)) = source {
        names.insert(bottom, top);
    }
    let translate = |text: &str| {
        let mut out = text.to_string();
        for (bottom, top) in &names {
            if out.contains(bottom) {
                out = out.replace(bottom, top);
            }
        }
        out
    };
    TraceReport {
        reachable: v.reachable,
        hops: v.hops.iter().map(|h| translate(h)).collect(),
        reason: v.reason.as_deref().map(translate),
        dest_port: v.dest_port.and_then(|p| to_top.get(&p).cloned()),
        dest_region: v.dest_region,
    }
}
