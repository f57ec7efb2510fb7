//! Routers in pods: a top router is copied into every pod that holds a
//! copy of one of its interfaces' networks, with an interface on each such
//! local network (the top interface port's address and MAC, so every pod
//! answers on the subnet's gateway address). Named after the top IDs and
//! recorded as routings before the pod is asked, like every pod object.
//! [`App::sync_router`] reconciles one router (also interfaces removed at
//! the top, and the copies of a deleted router); it runs after a change of
//! the router's interfaces, when a server's network reaches a pod, and
//! periodically. Routing between pods (bridge networks and routes) is not
//! made yet.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};
use tricircle_common::{Error, Result};
use tricircle_pod_client::{PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{NetFilter, NetObject, Pod};

use super::body_of;
use crate::App;
use crate::pod_sessions::pod_error;

const INTERFACE: &str = "network:router_interface";

fn step(e: tricircle_jobs::StepError) -> Error {
    Error::unavailable(e.message.clone(), e.message)
}

/// A router's copy in one pod, as the sync sees it.
struct RouterCopy {
    pod: Pod,
    bottom: String,
    /// The pod's interface ports that stay attached.
    keep: HashSet<String>,
    /// The subnets the copy is connected to.
    connected: Vec<ipnet::IpNet>,
    /// The copy as the pod showed it once its interfaces were attached.
    current: Value,
    /// The copy's address on the bridge network, when the router is joined.
    bridge_ip: Option<String>,
    /// Whether the copy holds the router's gateway.
    external: bool,
}

/// The routes of copy `i`: the top router's routes whose next hop it is
/// connected to, and each subnet only other copies hold via the bridge
/// address of the first of them that holds it.
fn routes_of_copy(i: usize, copies: &[RouterCopy], top_routes: &[(String, String)]) -> Vec<Value> {
    let me = &copies[i];
    let mut routes = Vec::new();
    for (dest, hop) in top_routes {
        let Ok(hop_ip) = hop.parse::<std::net::IpAddr>() else { continue };
        if me.connected.iter().any(|c| c.contains(&hop_ip)) {
            routes.push(json!({"destination": dest, "nexthop": hop}));
        }
    }
    if me.bridge_ip.is_none() {
        return routes;
    }
    // What it has no route for leaves through the copy with the gateway.
    let default_hop = copies.iter().find(|c| c.external).and_then(|c| c.bridge_ip.clone());
    if let Some(hop) = default_hop.filter(|_| !me.external)
        && !top_routes.iter().any(|(d, _)| d == "0.0.0.0/0")
    {
        routes.push(json!({"destination": "0.0.0.0/0", "nexthop": hop}));
    }
    let mut routed: Vec<ipnet::IpNet> = Vec::new();
    for (j, other) in copies.iter().enumerate() {
        let Some(hop) = other.bridge_ip.as_ref().filter(|_| j != i) else { continue };
        for cidr in &other.connected {
            if me.connected.contains(cidr) || routed.contains(cidr) {
                continue;
            }
            routed.push(*cidr);
            routes.push(json!({"destination": cidr.to_string(), "nexthop": hop}));
        }
    }
    routes
}

impl App {
    /// The top interface ports of a router (its project's: a member may
    /// label a port of its own as another router's interface, which makes
    /// it no interface of that router).
    async fn interfaces_of(&self, router: &NetObject) -> Result<Vec<NetObject>> {
        let mut out = Vec::new();
        for p in self.store.net_object_list("port", &NetFilter::default()).await? {
            let b = body_of(&p)?;
            if b["device_id"].as_str() == Some(router.id.as_str())
                && b["device_owner"].as_str() == Some(INTERFACE)
                && (p.project_id == router.project_id || p.project_id.is_empty())
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The routers with an interface on this network.
    pub(crate) async fn routers_on_network(&self, network_id: &str) -> Result<Vec<String>> {
        let filter = NetFilter { network_id: Some(network_id), ..Default::default() };
        let mut out = HashSet::new();
        for p in self.store.net_object_list("port", &filter).await? {
            let b = body_of(&p)?;
            if b["device_owner"].as_str() == Some(INTERFACE)
                && let Some(r) = b["device_id"].as_str()
            {
                out.insert(r.to_string());
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Make the router's pod copies what its interfaces and their networks'
    /// copies say, joined over the project's bridge network when there are
    /// several (see `bridges`).
    pub async fn sync_router(&self, router_id: &str) -> Result<()> {
        let _turn = self.turn(&format!("router:{router_id}")).await?;
        let router = self.store.net_object_get("router", router_id).await?;
        // Per pod: (the interface port, the pod's copy of its network).
        let mut wanted: BTreeMap<String, (Pod, Vec<(NetObject, String)>)> = BTreeMap::new();
        if let Some(router) = &router {
            for iface in self.interfaces_of(router).await? {
                let Some(net) = iface.network_id.clone() else { continue };
                for r in self.routings_of(&net, "network").await? {
                    let (Some(bottom_net), Some(pod)) =
                        (r.bottom_id, self.store.pod_get(r.pod_id).await?)
                    else {
                        continue;
                    };
                    wanted
                        .entry(pod.pod_id.to_string())
                        .or_insert_with(|| (pod, Vec::new()))
                        .1
                        .push((iface.clone(), bottom_net));
                }
            }
        }
        // A deleted router's project is still on its copies' routings.
        let project = match &router {
            Some(r) => r.project_id.clone(),
            None => self
                .routings_of(router_id, "router")
                .await?
                .first()
                .map(|r| r.project_id.clone())
                .unwrap_or_default(),
        };
        let top_routes: Vec<(String, String)> = match &router {
            Some(r) => body_of(r)?["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| {
                    Some((
                        x["destination"].as_str()?.to_string(),
                        x["nexthop"].as_str()?.to_string(),
                    ))
                })
                .collect(),
            None => Vec::new(),
        };
        let gateway = match &router {
            Some(r) => self.router_gateway(r).await?,
            None => None,
        };
        if let Some(g) = &gateway {
            // The external network's pod holds a copy, interfaces or not.
            wanted.entry(g.pod.pod_id.to_string()).or_insert_with(|| (g.pod.clone(), Vec::new()));
        }
        // Oldest first: replicas racing may have made two for one pod; the
        // first is kept, the others dropped below.
        let mut bridges = self.bridge_ports_of(&project, router_id).await?;
        bridges.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let joined = wanted.len() > 1;
        let mut copies = Vec::new();
        for (pod, ifaces) in wanted.values() {
            let mut copy = self.router_copy(pod, &project, router_id, ifaces).await?;
            let here = gateway.as_ref().filter(|g| g.pod.pod_id == pod.pod_id);
            copy.external = here.is_some();
            self.set_bottom_gateway(pod, &copy.bottom, &copy.current, here).await?;
            if joined {
                let (port, ip) = self
                    .ensure_bridge_port(pod, &project, router_id, &copy.bottom, &bridges)
                    .await?;
                copy.keep.insert(port);
                copy.bridge_ip = Some(ip);
            }
            copies.push(copy);
        }
        // Routes before detaching: a pod refuses to remove an interface a
        // route still goes through.
        for i in 0..copies.len() {
            let routes = routes_of_copy(i, &copies, &top_routes);
            self.set_bottom_routes(&copies[i], routes).await?;
        }
        for c in &copies {
            let admin = self.pod_admin_session(&c.pod).await?;
            self.detach_stale(&c.pod, &admin, &c.bottom, &c.keep).await?;
        }
        // Copies in pods the router no longer reaches.
        for r in self.routings_of(router_id, "router").await? {
            if wanted.contains_key(&r.pod_id.to_string()) {
                continue;
            }
            let Some(pod) = self.store.pod_get(r.pod_id).await? else { continue };
            let admin = self.pod_admin_session(&pod).await?;
            if let Some(b) = &r.bottom_id {
                if let Some(current) = self.bottom_router(&pod, &admin, b).await? {
                    let gone = RouterCopy {
                        pod: pod.clone(),
                        bottom: b.clone(),
                        current,
                        keep: HashSet::new(),
                        connected: Vec::new(),
                        bridge_ip: None,
                        external: false,
                    };
                    self.set_bottom_routes(&gone, Vec::new()).await?;
                    self.set_bottom_gateway(&pod, b, &gone.current, None).await?;
                }
                self.detach_stale(&pod, &admin, b, &HashSet::new()).await?;
                super::delete_in_pod(&admin, &pod, format!("/v2.0/routers/{b}")).await?;
            }
            self.store.routing_delete(r.id).await?;
        }
        // Bridge ports of pods no longer joined.
        let mut dropped = false;
        let mut kept = HashSet::new();
        for p in &bridges {
            let name = body_of(p)?["name"].as_str().unwrap_or_default().to_string();
            if !(joined && wanted.contains_key(&name) && kept.insert(name)) {
                self.drop_bridge_port(p).await?;
                dropped = true;
            }
        }
        // The router's floating IPs, in the external network's pod.
        if router.is_some() {
            for f in self.floating_ips_of_router(router_id).await? {
                if let Err(e) = self.floating_ip_copy_if_placed(&f).await {
                    tracing::warn!(floating_ip = %f.id, error = %e, "floating IP not in its region yet");
                }
            }
        }
        if !project.is_empty() && (joined || dropped) {
            // The bridge ports' shadows in the other pods, and the bridge
            // network's copies where no bridge port is left.
            let (net, _) = super::bridges::bridge_ids(&project);
            self.sync_network_shadows(&net).await?;
            if dropped {
                self.bridge_network_gc(&project).await?;
            }
        }
        Ok(())
    }

    /// The pod's router copy with an interface on each of `ifaces` (the
    /// networks the pod holds); stale interfaces are left to the caller.
    async fn router_copy(
        &self,
        pod: &Pod,
        project: &str,
        router_id: &str,
        ifaces: &[(NetObject, String)],
    ) -> Result<RouterCopy> {
        let session = self.pod_project_session(pod, project).await?;
        let body = json!({"name": router_id, "admin_state_up": true});
        let bottom = self
            .ensure_bottom(pod, &session, project, ("router", "routers"), router_id, body)
            .await
            .map_err(step)?;
        let admin = self.pod_admin_session(pod).await?;
        let mut keep = HashSet::new();
        let mut connected = Vec::new();
        for (iface, bottom_net) in ifaces {
            let b = body_of(iface)?;
            let mut fixed = Vec::new();
            for ip in b["fixed_ips"].as_array().cloned().unwrap_or_default() {
                let subnet = ip["subnet_id"].as_str().unwrap_or_default();
                if let Some(bs) = self
                    .store
                    .routing_find(subnet, "subnet", pod.pod_id)
                    .await?
                    .and_then(|r| r.bottom_id)
                {
                    fixed.push(json!({"subnet_id": bs, "ip_address": ip["ip_address"]}));
                    if let Some(cidr) = self.subnet_cidr(subnet).await? {
                        connected.push(cidr);
                    }
                }
            }
            if fixed.is_empty() {
                // The pod has no copy of this interface's subnet: no server there uses it.
                continue;
            }
            let body = json!({"name": iface.id, "network_id": bottom_net, "fixed_ips": fixed,
                "mac_address": b["mac_address"]});
            let port = self
                .ensure_bottom(pod, &session, project, ("port", "ports"), &iface.id, body)
                .await
                .map_err(step)?;
            keep.insert(port.clone());
            let req = PodRequest::get(ServiceType::Network, format!("/v2.0/ports/{port}"));
            let copy: Value = super::pod_json(&admin, pod, &req).await?;
            if copy["port"]["device_id"].as_str() == Some(bottom.as_str()) {
                continue;
            }
            let req = PodRequest::new(
                ServiceType::Network,
                reqwest::Method::PUT,
                format!("/v2.0/routers/{bottom}/add_router_interface"),
            )
            .with_body(json!({"port_id": port}));
            session.call(&req).await.map_err(|e| pod_error(pod, e))?;
        }
        // Read once for the gateway's and the routes' comparisons.
        let current = self.bottom_router(pod, &admin, &bottom).await?.unwrap_or_default();
        Ok(RouterCopy {
            pod: pod.clone(),
            bottom,
            current,
            keep,
            connected,
            bridge_ip: None,
            external: false,
        })
    }

    async fn subnet_cidr(&self, subnet_id: &str) -> Result<Option<ipnet::IpNet>> {
        Ok(match self.store.net_object_get("subnet", subnet_id).await? {
            Some(s) => body_of(&s)?["cidr"].as_str().and_then(|c| c.parse().ok()),
            None => None,
        })
    }

    /// A pod's router as it shows it (`None`: gone).
    async fn bottom_router(
        &self,
        pod: &Pod,
        admin: &PodSession,
        bottom_router: &str,
    ) -> Result<Option<Value>> {
        let path = format!("/v2.0/routers/{bottom_router}");
        match admin.call(&PodRequest::get(ServiceType::Network, path)).await {
            Ok(r) => Ok(Some(r.json::<Value>().map_err(|e| pod_error(pod, e))?["router"].take())),
            Err(PodError::Service { status: 404, .. }) => Ok(None),
            Err(e) => Err(pod_error(pod, e)),
        }
    }

    /// Give a pod's router copy exactly these routes (a PUT only when they
    /// differ).
    async fn set_bottom_routes(&self, copy: &RouterCopy, routes: Vec<Value>) -> Result<()> {
        let admin = self.pod_admin_session(&copy.pod).await?;
        let path = format!("/v2.0/routers/{}", copy.bottom);
        let mut have: Vec<Value> = copy.current["routes"].as_array().cloned().unwrap_or_default();
        let mut want = routes.clone();
        let key = |v: &Value| format!("{}>{}", v["destination"], v["nexthop"]);
        have.sort_by_key(key);
        want.sort_by_key(key);
        if have == want {
            return Ok(());
        }
        let req = PodRequest::new(ServiceType::Network, reqwest::Method::PUT, path)
            .with_body(json!({"router": {"routes": routes}}));
        admin.call(&req).await.map_err(|e| pod_error(&copy.pod, e))?;
        Ok(())
    }

    /// Detach (and forget) the pod router's interfaces not in `keep`.
    async fn detach_stale(
        &self,
        pod: &Pod,
        admin: &PodSession,
        bottom_router: &str,
        keep: &HashSet<String>,
    ) -> Result<()> {
        self.detach_ports(pod, admin, bottom_router, keep, None).await
    }

    /// Detach the pod router's interfaces not in `keep` (only `only`, when
    /// given), forgetting their routings.
    async fn detach_ports(
        &self,
        pod: &Pod,
        admin: &PodSession,
        bottom_router: &str,
        keep: &HashSet<String>,
        only: Option<&str>,
    ) -> Result<()> {
        let req = PodRequest::get(ServiceType::Network, "/v2.0/ports")
            .with_query("device_id", bottom_router)
            .with_query("device_owner", INTERFACE);
        let ports: Value = super::pod_json(admin, pod, &req).await?;
        for p in ports["ports"].as_array().cloned().unwrap_or_default() {
            let id = p["id"].as_str().unwrap_or_default();
            if keep.contains(id) || only.is_some_and(|o| o != id) {
                continue;
            }
            let req = PodRequest::new(
                ServiceType::Network,
                reqwest::Method::PUT,
                format!("/v2.0/routers/{bottom_router}/remove_router_interface"),
            )
            .with_body(json!({"port_id": id}));
            match admin.call(&req).await {
                Ok(_) | Err(PodError::Service { status: 404, .. }) => {}
                Err(e) => return Err(pod_error(pod, e)),
            }
            if let Some(name) = p["name"].as_str()
                && let Some(r) = self.store.routing_find(name, "port", pod.pod_id).await?
            {
                self.store.routing_delete(r.id).await?;
            }
        }
        Ok(())
    }

    /// Detach every interface of a pod router (an orphan the audit removes).
    pub(crate) async fn detach_all_interfaces(
        &self,
        pod: &Pod,
        admin: &PodSession,
        bottom_router: &str,
    ) -> Result<()> {
        self.detach_ports(pod, admin, bottom_router, &HashSet::new(), None).await
    }

    /// Before a pod's copy of a network goes: detach the pod's router
    /// copies from it (their routes through it first, or the pod refuses),
    /// forgetting those interfaces' routings.
    pub(crate) async fn detach_routers_from(
        &self,
        pod: &Pod,
        bottom_net: &str,
        cidrs: &[ipnet::IpNet],
    ) -> Result<()> {
        let admin = self.pod_admin_session(pod).await?;
        let req = PodRequest::get(ServiceType::Network, "/v2.0/ports")
            .with_query("network_id", bottom_net)
            .with_query("device_owner", INTERFACE);
        let ports: Value = super::pod_json(&admin, pod, &req).await?;
        for p in ports["ports"].as_array().cloned().unwrap_or_default() {
            let Some(bottom_router) = p["device_id"].as_str() else { continue };
            let Some(current) = self.bottom_router(pod, &admin, bottom_router).await? else {
                continue;
            };
            let routes: Vec<Value> = current["routes"].as_array().cloned().unwrap_or_default();
            let kept: Vec<Value> = routes
                .iter()
                .filter(|r| {
                    let hop =
                        r["nexthop"].as_str().and_then(|h| h.parse::<std::net::IpAddr>().ok());
                    !hop.is_some_and(|h| cidrs.iter().any(|c| c.contains(&h)))
                })
                .cloned()
                .collect();
            if kept.len() != routes.len() {
                let path = format!("/v2.0/routers/{bottom_router}");
                let req = PodRequest::new(ServiceType::Network, reqwest::Method::PUT, path)
                    .with_body(json!({"router": {"routes": kept}}));
                admin.call(&req).await.map_err(|e| pod_error(pod, e))?;
            }
            let keep: HashSet<String> = HashSet::new();
            let only = p["id"].as_str().unwrap_or_default();
            self.detach_ports(pod, &admin, bottom_router, &keep, Some(only)).await?;
        }
        Ok(())
    }
}
