//! Cross-pod L2 (DESIGN §4 "Network"): a network whose copies live in
//! several pods carries the same segment in each, and every bound port gets
//! a *shadow port* in the other pods of its network: same address and MAC,
//! `device_owner` `compute:shadow`, and the tunnel endpoint of the real
//! port's host in `binding:profile`, so each pod's switches know where to
//! send frames for it.
//!
//! [`App::sync_network_shadows`] reconciles one network: it computes the
//! shadows that should exist from the pods' actual state (where each port
//! is bound, which tunnel endpoint that host has, from the pod's agents),
//! creates the missing ones (each recorded as a `shadow_port` routing
//! before the pod is asked) and deletes the ones no port needs any more,
//! including after a port moved to another pod, and removes the copy of
//! the network (with its subnets) from a pod where no port of it is left,
//! or every copy once the top network is deleted. It is idempotent, so it is
//! run after every change that may affect the network and may be run again
//! at any time (the audit of the durable-jobs issue will run it
//! periodically).

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use tricircle_common::{Error, Result};
use tricircle_pod_client::{PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{NetFilter, Page, Pod, Routing, RoutingFilter};

use super::body_of;
use crate::App;
use crate::pod_sessions::pod_error;

const SHADOW: &str = "shadow_port";

/// The name of a network's turn (see [`App::sync_network_shadows`]).
fn network_turn(network_id: &str) -> String {
    format!("network:{network_id}")
}

/// Where a top port really is: its pod, the host it is bound to there and
/// that host's tunnel endpoint.
struct BoundPort {
    top_id: String,
    project_id: String,
    pod: Pod,
    tunnel_ip: String,
    fixed_ips: Vec<Value>,
    mac: String,
}

/// A router interface's copies follow the network's copies (the router
/// sync makes them where the network is): they do not keep a copy alive.
fn follows_network(port: &tricircle_store::NetObject) -> Result<bool> {
    Ok(body_of(port)?["device_owner"].as_str() == Some("network:router_interface"))
}

impl App {
    /// The routings of one top object of a kind, in every pod.
    pub(crate) async fn routings_of(&self, top_id: &str, kind: &str) -> Result<Vec<Routing>> {
        let filter = RoutingFilter {
            top_id: Some(top_id.into()),
            resource_type: Some(kind.into()),
            ..Default::default()
        };
        Ok(self.store.routing_list(&filter, &Page { limit: 1000, marker: None }).await?)
    }

    /// The tunnel endpoint of a pod's host, from its L2 agent.
    async fn tunnel_ip(&self, admin: &PodSession, pod: &Pod, host: &str) -> Result<Option<String>> {
        let req = PodRequest::get(ServiceType::Network, "/v2.0/agents").with_query("host", host);
        let agents: Value = match admin.call(&req).await {
            Ok(r) => r.json().map_err(|e| pod_error(pod, e))?,
            // A pod without agents (an API-only Neutron) has no tunnels to offer.
            Err(PodError::Service { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(pod_error(pod, e)),
        };
        Ok(agents["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|a| a["configurations"]["tunneling_ip"].as_str().map(str::to_string)))
    }

    /// The network's top ports that are bound in a pod with a tunnel endpoint.
    async fn bound_ports(&self, network_id: &str) -> Result<Vec<BoundPort>> {
        let filter = NetFilter { network_id: Some(network_id), ..Default::default() };
        let mut out = Vec::new();
        // Many ports share a host: its agent is asked once.
        let mut tunnels: HashMap<(String, String), Option<String>> = HashMap::new();
        for port in self.store.net_object_list("port", &filter).await? {
            // A router interface has a copy in every pod of the network (the
            // same gateway address in each): never a shadow.
            if follows_network(&port)? {
                continue;
            }
            for r in self.routings_of(&port.id, "port").await? {
                let (Some(bottom), Some(pod)) = (r.bottom_id, self.store.pod_get(r.pod_id).await?)
                else {
                    continue;
                };
                let admin = self.pod_admin_session(&pod).await?;
                let req = PodRequest::get(ServiceType::Network, format!("/v2.0/ports/{bottom}"));
                let copy: Value = match admin.call(&req).await {
                    Ok(resp) => resp.json().map_err(|e| pod_error(&pod, e))?,
                    Err(PodError::Service { status: 404, .. }) => continue,
                    Err(e) => return Err(pod_error(&pod, e)),
                };
                let host = copy["port"]["binding:host_id"].as_str().unwrap_or_default();
                if host.is_empty() {
                    continue;
                }
                let key = (pod.pod_id.to_string(), host.to_string());
                let tunnel = match tunnels.get(&key) {
                    Some(t) => t.clone(),
                    None => {
                        let t = self.tunnel_ip(&admin, &pod, host).await?;
                        tunnels.insert(key, t.clone());
                        t
                    }
                };
                let Some(tunnel_ip) = tunnel else {
                    tracing::warn!(region = %pod.region_name, host, "no tunnel endpoint for a host: its ports get no shadows");
                    continue;
                };
                let body = body_of(&port)?;
                out.push(BoundPort {
                    top_id: port.id.clone(),
                    project_id: super::bridges::serving_project(&port, &body),
                    pod,
                    tunnel_ip,
                    fixed_ips: body["fixed_ips"].as_array().cloned().unwrap_or_default(),
                    mac: body["mac_address"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Make the shadow ports of `network_id` what the pods' state says they
    /// should be. Returns how many were created and deleted.
    ///
    /// One sync of a network at a time, in this process and across
    /// replicas (a turn): two at once each act on what they read, and the
    /// one that read before the other's change undoes it (deletes a shadow
    /// just made as unwanted, or makes one for a port just released).
    pub async fn sync_network_shadows(&self, network_id: &str) -> Result<(usize, usize)> {
        let turn = self.turn(&network_turn(network_id)).await?;
        let mut routers = Vec::new();
        let result = self.sync_network_in_turn(network_id, &mut routers).await;
        turn.release().await;
        // The routers on a copy that went are synced after the turn: a
        // router's sync takes its networks' turns (router, then network,
        // never the other way round).
        if !routers.is_empty() {
            Box::pin(self.sync_routers_recorded(routers)).await;
        }
        result
    }

    async fn sync_network_in_turn(
        &self,
        network_id: &str,
        routers: &mut Vec<String>,
    ) -> Result<(usize, usize)> {
        // The pods holding a copy of the network, by pod ID, and those that
        // need it: a port of the network lives there (not just a shadow).
        let mut all_copies: HashMap<String, (Pod, String)> = HashMap::new();
        for r in self.routings_of(network_id, "network").await? {
            if let (Some(b), Some(pod)) = (r.bottom_id, self.store.pod_get(r.pod_id).await?) {
                all_copies.insert(pod.pod_id.to_string(), (pod, b));
            }
        }
        let filter = NetFilter { network_id: Some(network_id), ..Default::default() };
        let mut needed: HashSet<String> = HashSet::new();
        for port in self.store.net_object_list("port", &filter).await? {
            if follows_network(&port)? {
                continue;
            }
            for r in self.routings_of(&port.id, "port").await? {
                needed.insert(r.pod_id.to_string());
            }
        }
        // An external network's copies serve router gateways; other
        // networks are needed where their ports' floating IPs live.
        match self.store.net_object_get("network", network_id).await? {
            Some(n) if body_of(&n)?["router:external"] == json!(true) => {
                needed.extend(all_copies.keys().cloned());
            }
            _ => needed.extend(self.floating_ip_pods_of_network(network_id).await?),
        }
        let (copies, unneeded): (HashMap<_, _>, HashMap<_, _>) =
            all_copies.into_iter().partition(|(k, _)| needed.contains(k));
        let bound = if copies.len() > 1 { self.bound_ports(network_id).await? } else { Vec::new() };
        let mut wanted: HashSet<(String, String)> = HashSet::new();
        let mut created = 0;
        for port in &bound {
            for (pod_key, (pod, bottom_net)) in &copies {
                if *pod_key == port.pod.pod_id.to_string() {
                    continue;
                }
                wanted.insert((port.top_id.clone(), pod_key.clone()));
                if self
                    .store
                    .routing_find(&port.top_id, SHADOW, pod.pod_id)
                    .await?
                    .is_some_and(|r| r.bottom_id.is_some())
                {
                    continue;
                }
                self.create_shadow(pod, bottom_net, port).await?;
                created += 1;
            }
        }
        // Shadows no bound port needs in that pod any more.
        let mut deleted = 0;
        let filter = NetFilter { network_id: Some(network_id), ..Default::default() };
        let ports: Vec<String> =
            self.store.net_object_list("port", &filter).await?.into_iter().map(|p| p.id).collect();
        for port_id in ports {
            for r in self.routings_of(&port_id, SHADOW).await? {
                if wanted.contains(&(port_id.clone(), r.pod_id.to_string())) {
                    continue;
                }
                self.delete_shadow(&r).await?;
                deleted += 1;
            }
        }
        // Shadows the pods hold that no routing explains any more (a process
        // died between asking the pod and recording the answer, or between
        // a port's release and the deletion of its shadows): found in the
        // pod's own list of this network's shadow ports.
        for (pod, bottom_net) in copies.values() {
            deleted += self.sweep_shadows(pod, bottom_net, &wanted).await?;
        }
        // Copies no port needs any more: the pod's network goes (its
        // subnets with it), and their routings.
        for (pod, bottom_net) in unneeded.values() {
            self.delete_network_copy(network_id, pod, bottom_net, routers).await?;
        }
        Ok((created, deleted))
    }

    /// Delete the shadow ports on a pod's copy of a network that no bound
    /// port wants there (with their routings, when they have one).
    async fn sweep_shadows(
        &self,
        pod: &Pod,
        bottom_net: &str,
        wanted: &HashSet<(String, String)>,
    ) -> Result<usize> {
        let admin = self.pod_admin_session(pod).await?;
        let req = PodRequest::get(ServiceType::Network, "/v2.0/ports")
            .with_query("network_id", bottom_net.to_string())
            .with_query("device_owner", "compute:shadow".to_string());
        let found: Value =
            admin.call(&req).await.and_then(|r| r.json()).map_err(|e| pod_error(pod, e))?;
        let mut deleted = 0;
        for p in found["ports"].as_array().into_iter().flatten() {
            let (Some(top), Some(id)) =
                (p["name"].as_str().and_then(|n| n.strip_prefix("shadow-")), p["id"].as_str())
            else {
                continue;
            };
            if p["device_owner"] != "compute:shadow"
                || wanted.contains(&(top.to_string(), pod.pod_id.to_string()))
            {
                continue;
            }
            match self.store.routing_find(top, SHADOW, pod.pod_id).await? {
                Some(r) => self.delete_shadow(&r).await?,
                None => super::delete_in_pod(&admin, pod, format!("/v2.0/ports/{id}")).await?,
            }
            tracing::info!(region = %pod.region_name, port = top, "stray shadow port deleted");
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Remove a pod's copy of the network; the routers on it, whose copies
    /// may leave the pod too, are added to `routers` to sync.
    async fn delete_network_copy(
        &self,
        network_id: &str,
        pod: &Pod,
        bottom_net: &str,
        routers: &mut Vec<String>,
    ) -> Result<()> {
        // Again just before: a server or a floating IP may have started to
        // use it meanwhile.
        if self.floating_ip_pods_of_network(network_id).await?.contains(&pod.pod_id.to_string()) {
            return Ok(());
        }
        let filter = NetFilter { network_id: Some(network_id), ..Default::default() };
        for port in self.store.net_object_list("port", &filter).await? {
            if !follows_network(&port)?
                && self.store.routing_find(&port.id, "port", pod.pod_id).await?.is_some()
            {
                return Ok(());
            }
        }
        let mut cidrs = Vec::new();
        for s in self.subnets_of(network_id).await? {
            if let Some(c) = body_of(&s)?["cidr"].as_str().and_then(|c| c.parse().ok()) {
                cidrs.push(c);
            }
        }
        self.detach_routers_from(pod, bottom_net, &cidrs).await?;
        let admin = self.pod_admin_session(pod).await?;
        super::delete_in_pod(&admin, pod, format!("/v2.0/networks/{bottom_net}")).await?;
        // The subnet copies went with the pod's network: theirs are the
        // routings in this pod of this network's subnets, or of subnets gone.
        let filter = RoutingFilter {
            pod_id: Some(pod.pod_id),
            resource_type: Some("subnet".into()),
            ..Default::default()
        };
        for r in self.store.routing_list(&filter, &Page { limit: 10_000, marker: None }).await? {
            let subnet = self.store.net_object_get("subnet", &r.top_id).await?;
            if subnet.is_none_or(|s| s.network_id.as_deref() == Some(network_id)) {
                self.store.routing_delete(r.id).await?;
            }
        }
        if let Some(r) = self.store.routing_find(network_id, "network", pod.pod_id).await? {
            self.store.routing_delete(r.id).await?;
        }
        tracing::info!(region = %pod.region_name, network = network_id, "pod's copy of the network removed: nothing there uses it");
        // The routers on it may leave the pod, and the others' routes change.
        routers.extend(self.routers_on_network(network_id).await?);
        Ok(())
    }

    /// A port's shadows in every pod, when it leaves its server (then it is
    /// bound nowhere, or about to be deleted).
    pub(crate) async fn delete_shadows_of(&self, port_id: &str) -> Result<()> {
        for r in self.routings_of(port_id, SHADOW).await? {
            self.delete_shadow(&r).await?;
        }
        Ok(())
    }

    /// Shadows whose port is gone (a pod was away when the port left its
    /// server): the periodic reconcile's sweep, once per pass.
    pub(crate) async fn delete_orphan_shadows(&self) -> Result<usize> {
        let filter = RoutingFilter { resource_type: Some(SHADOW.into()), ..Default::default() };
        let all = self.store.routing_list(&filter, &Page { limit: 100_000, marker: None }).await?;
        let mut deleted = 0;
        for r in all {
            if self.store.net_object_get("port", &r.top_id).await?.is_none() {
                self.delete_shadow(&r).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn create_shadow(&self, pod: &Pod, bottom_net: &str, port: &BoundPort) -> Result<()> {
        let owner = self.bottom_project_id(pod, &port.project_id).await?;
        let mut fixed = Vec::new();
        for ip in &port.fixed_ips {
            let subnet = ip["subnet_id"].as_str().unwrap_or_default();
            let Some(bottom_subnet) = self
                .store
                .routing_find(subnet, "subnet", pod.pod_id)
                .await?
                .and_then(|r| r.bottom_id)
            else {
                // The pod has no copy of this subnet: no server of its uses it.
                continue;
            };
            fixed.push(json!({"subnet_id": bottom_subnet, "ip_address": ip["ip_address"]}));
        }
        let body = json!({"name": format!("shadow-{}", port.top_id), "network_id": bottom_net,
            "tenant_id": owner, "mac_address": port.mac, "fixed_ips": fixed,
            "device_owner": "compute:shadow", "device_id": format!("shadow-{}", port.top_id),
            "binding:profile": {"type": "shadow", "tunnel_ip": port.tunnel_ip,
                                "region": port.pod.region_name}});
        let admin = self.pod_admin_session(pod).await?;
        self.ensure_bottom(pod, &admin, &port.project_id, (SHADOW, "ports"), &port.top_id, body)
            .await
            .map_err(|e| Error::unavailable(e.message.clone(), e.message))?;
        // The port may have left its server since this sync read it (a
        // server delete in another request): its release deletes the
        // shadows recorded before the port went, so one recorded after is
        // taken back here.
        if !self.still_bound(port).await? {
            if let Some(r) = self.store.routing_find(&port.top_id, SHADOW, pod.pod_id).await? {
                self.delete_shadow(&r).await?;
            }
            tracing::info!(region = %pod.region_name, port = %port.top_id, "shadow port taken back: its port left meanwhile");
            return Ok(());
        }
        tracing::info!(region = %pod.region_name, port = %port.top_id, tunnel = %port.tunnel_ip, "shadow port made");
        Ok(())
    }

    /// Whether the port still exists with its copy in the pod it was found
    /// bound in (a server's delete removes that copy's routing first).
    async fn still_bound(&self, port: &BoundPort) -> Result<bool> {
        if self.store.net_object_get("port", &port.top_id).await?.is_none() {
            return Ok(false);
        }
        Ok(self.store.routing_find(&port.top_id, "port", port.pod.pod_id).await?.is_some())
    }

    pub(crate) async fn delete_shadow(&self, r: &Routing) -> Result<()> {
        if let Some(pod) = self.store.pod_get(r.pod_id).await? {
            let admin = self.pod_admin_session(&pod).await?;
            let bottoms = match &r.bottom_id {
                Some(b) => vec![b.clone()],
                // Being made, or its maker died after asking the pod.
                None => {
                    let name = format!("shadow-{}", r.top_id);
                    super::find_in_pod_by_name(&admin, &pod, "ports", &name).await?
                }
            };
            for b in bottoms {
                super::delete_in_pod(&admin, &pod, format!("/v2.0/ports/{b}")).await?;
            }
        }
        self.store.routing_delete(r.id).await?;
        Ok(())
    }
}
