//! North-south (DESIGN §4 "Network"): an external network lives in the pod
//! its `availability_zone_hints` name (the first such pod). A router with a
//! gateway on it gets its gateway, at the top's address, on its copy in
//! that pod; the router's copies elsewhere send what they have no route for
//! (0.0.0.0/0) over the bridge to that copy.
//!
//! A floating IP is made in the external network's pod: that pod gets a
//! copy of the associated port's network (so the router copy there has an
//! interface on it) and a shadow of the port, and the pod's floating IP
//! maps to the shadow (or to the port itself when it lives there). Traffic
//! from outside enters there and is carried to the port's pod over L2.

use std::collections::HashSet;

use serde_json::{Value, json};
use tricircle_common::{Error, Result};
use tricircle_pod_client::{PodRequest, PodSession, ServiceType};
use tricircle_store::{NetFilter, NetObject, NewRouting, Pod, RoutingPatch, StoreError};

use super::body_of;
use crate::App;
use crate::pod_sessions::pod_error;

const FLOATING: &str = "floatingip";
const GATEWAY_PORT: &str = "tricircle:gateway_port";

fn step(e: tricircle_jobs::StepError) -> Error {
    Error::unavailable(e.message.clone(), e.message)
}

/// A router's gateway as the pods need it.
pub(crate) struct Gateway {
    pub network: NetObject,
    pub pod: Pod,
    pub subnet_id: String,
    pub ip: String,
    pub enable_snat: bool,
}

impl App {
    /// The pod an external network lives in: the first (by region name)
    /// its availability zone hints name.
    pub(crate) async fn external_pod(&self, net: &NetObject) -> Result<Option<Pod>> {
        let b = body_of(net)?;
        let hints: Vec<&str> = b["availability_zone_hints"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut pods: Vec<Pod> = self
            .store
            .pod_list()
            .await?
            .into_iter()
            .filter(|p| hints.iter().any(|h| *h == p.az_name || *h == p.region_name))
            .collect();
        pods.sort_by(|a, b| a.region_name.cmp(&b.region_name));
        Ok(pods.into_iter().next())
    }

    /// The router's gateway, when it has one on an external network that
    /// lives in a pod.
    pub(crate) async fn router_gateway(&self, router: &NetObject) -> Result<Option<Gateway>> {
        let b = body_of(router)?;
        let Some(info) = b.get("external_gateway_info").filter(|g| g.is_object()) else {
            return Ok(None);
        };
        let (Some(net_id), Some(port_id)) =
            (info["network_id"].as_str(), b.get(GATEWAY_PORT).and_then(Value::as_str))
        else {
            return Ok(None);
        };
        let (Some(network), Some(port)) = (
            self.store.net_object_get("network", net_id).await?,
            self.store.net_object_get("port", port_id).await?,
        ) else {
            return Ok(None);
        };
        let Some(pod) = self.external_pod(&network).await? else {
            tracing::warn!(
                network = net_id,
                "external network names no region in its availability_zone_hints: router gateways on it are not made in any pod"
            );
            return Ok(None);
        };
        let pb = body_of(&port)?;
        let fixed = &pb["fixed_ips"][0];
        Ok(Some(Gateway {
            network,
            pod,
            subnet_id: fixed["subnet_id"].as_str().unwrap_or_default().to_string(),
            ip: fixed["ip_address"].as_str().unwrap_or_default().to_string(),
            enable_snat: info["enable_snat"].as_bool().unwrap_or(true),
        }))
    }

    /// Give the pod's router copy (`current`, as the pod last showed it)
    /// the top router's gateway (or none).
    pub(crate) async fn set_bottom_gateway(
        &self,
        pod: &Pod,
        bottom_router: &str,
        current: &Value,
        gateway: Option<&Gateway>,
    ) -> Result<()> {
        let admin = self.pod_admin_session(pod).await?;
        let path = format!("/v2.0/routers/{bottom_router}");
        let have = &current["external_gateway_info"];
        let want = match gateway {
            None if !have.is_object() => return Ok(()),
            None => json!({}),
            Some(g) => {
                let owner = g.network.project_id.clone();
                let bottom_net =
                    self.ensure_network_copy(pod, &owner, &g.network.id).await.map_err(step)?;
                let bottom_subnet = self
                    .ensure_subnet_copy(pod, &admin, &owner, &g.subnet_id, &bottom_net)
                    .await
                    .map_err(step)?;
                let same = have["network_id"] == json!(bottom_net)
                    && have["enable_snat"] == json!(g.enable_snat)
                    && have["external_fixed_ips"][0]["ip_address"] == json!(g.ip);
                if same {
                    return Ok(());
                }
                json!({"network_id": bottom_net, "enable_snat": g.enable_snat,
                       "external_fixed_ips": [{"subnet_id": bottom_subnet, "ip_address": g.ip}]})
            }
        };
        let other_network = have["network_id"] != want["network_id"]
            || have["external_fixed_ips"][0]["ip_address"]
                != want["external_fixed_ips"][0]["ip_address"];
        if have.is_object() && gateway.is_some() && other_network {
            // A different gateway: the old one goes first (its address may be reused).
            let req = PodRequest::new(ServiceType::Network, reqwest::Method::PUT, path.clone())
                .with_body(json!({"router": {"external_gateway_info": {}}}));
            admin.call(&req).await.map_err(|e| pod_error(pod, e))?;
        }
        let req = PodRequest::new(ServiceType::Network, reqwest::Method::PUT, path)
            .with_body(json!({"router": {"external_gateway_info": want}}));
        admin.call(&req).await.map_err(|e| pod_error(pod, e))?;
        Ok(())
    }

    /// The pods that need a copy of the network for floating IPs of its
    /// ports (the external networks' pods).
    pub(crate) async fn floating_ip_pods_of_network(
        &self,
        network_id: &str,
    ) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        for f in self.store.net_object_list(FLOATING, &NetFilter::default()).await? {
            let b = body_of(&f)?;
            let Some(port_id) = b["port_id"].as_str() else { continue };
            let on_network = self
                .store
                .net_object_get("port", port_id)
                .await?
                .is_some_and(|p| p.network_id.as_deref() == Some(network_id));
            if !on_network {
                continue;
            }
            let net = b["floating_network_id"].as_str().unwrap_or_default();
            if let Some(ext) = self.store.net_object_get("network", net).await?
                && let Some(pod) = self.external_pod(&ext).await?
            {
                out.insert(pod.pod_id.to_string());
            }
        }
        Ok(out)
    }

    /// Make the floating IP's copy in the external network's pod what the
    /// top says: the port's network copied there, its shadow, the router's
    /// interface, then the pod's floating IP mapped to it; or no copy when
    /// the floating IP is gone or mapped to nothing.
    pub async fn sync_floating_ip(&self, fip_id: &str) -> Result<()> {
        // Two quick changes of one floating IP: the second waits, then reads
        // the latest. (Held across the router's sync, which takes no
        // floating IP's turn, so the order is always this one.)
        let _turn = self.turn(&format!("floatingip:{fip_id}")).await?;
        let fip = self.store.net_object_get(FLOATING, fip_id).await?;
        let target = match &fip {
            Some(f) => self.floating_ip_place(f).await?,
            None => None,
        };
        let Some((f, port, pod, router)) = target else {
            for r in self.routings_of(fip_id, FLOATING).await? {
                if let (Some(b), Some(pod)) = (&r.bottom_id, self.store.pod_get(r.pod_id).await?) {
                    let admin = self.pod_admin_session(&pod).await?;
                    super::delete_in_pod(&admin, &pod, format!("/v2.0/floatingips/{b}")).await?;
                }
                self.store.routing_delete(r.id).await?;
            }
            return Ok(());
        };
        let project = f.project_id.clone();
        let net_id = port.network_id.clone().unwrap_or_default();
        let session = self.pod_project_session(&pod, &project).await?;
        let bottom_net = self.ensure_network_copy(&pod, &project, &net_id).await.map_err(step)?;
        for ip in body_of(&port)?["fixed_ips"].as_array().cloned().unwrap_or_default() {
            let subnet = ip["subnet_id"].as_str().unwrap_or_default();
            self.ensure_subnet_copy(&pod, &session, &project, subnet, &bottom_net)
                .await
                .map_err(step)?;
        }
        self.sync_network_shadows(&net_id).await?;
        Box::pin(self.sync_router(&router)).await?;
        self.floating_ip_copy(&f, &port, &pod).await
    }

    /// The floating IP's copy, when its port is in some pod (no network
    /// copies or router sync: the router's sync calls this).
    pub(crate) async fn floating_ip_copy_if_placed(&self, f: &NetObject) -> Result<()> {
        match self.floating_ip_place(f).await? {
            Some((f, port, pod, _)) => self.floating_ip_copy(&f, &port, &pod).await,
            None => Ok(()),
        }
    }

    /// Where a floating IP's copy belongs: (the floating IP, its port, the
    /// external network's pod, its router), when it is mapped to a port
    /// that is in some pod.
    async fn floating_ip_place(
        &self,
        f: &NetObject,
    ) -> Result<Option<(NetObject, NetObject, Pod, String)>> {
        let b = body_of(f)?;
        let (Some(port_id), Some(router)) = (b["port_id"].as_str(), b["router_id"].as_str()) else {
            return Ok(None);
        };
        let Some(port) = self.store.net_object_get("port", port_id).await? else {
            return Ok(None);
        };
        if self.routings_of(port_id, "port").await?.is_empty() {
            // On no server yet: nothing to map in any pod.
            return Ok(None);
        }
        let net = b["floating_network_id"].as_str().unwrap_or_default();
        let Some(ext) = self.store.net_object_get("network", net).await? else {
            return Ok(None);
        };
        let Some(pod) = self.external_pod(&ext).await? else { return Ok(None) };
        Ok(Some((f.clone(), port, pod, router.to_string())))
    }

    /// The pod's floating IP for `f`, mapped to the port's copy there (its
    /// real copy or its shadow).
    async fn floating_ip_copy(&self, f: &NetObject, port: &NetObject, pod: &Pod) -> Result<()> {
        let b = body_of(f)?;
        let real = self.store.routing_find(&port.id, "port", pod.pod_id).await?;
        let shadow = self.store.routing_find(&port.id, "shadow_port", pod.pod_id).await?;
        let Some(bottom_port) = real.or(shadow).and_then(|r| r.bottom_id) else {
            return Err(Error::unavailable(
                format!("Port {} has no copy in region {} yet.", port.id, pod.region_name),
                "floating IP target not in the external pod yet",
            ));
        };
        let ext = b["floating_network_id"].as_str().unwrap_or_default();
        let Some(bottom_ext) =
            self.store.routing_find(ext, "network", pod.pod_id).await?.and_then(|r| r.bottom_id)
        else {
            return Err(Error::unavailable(
                format!("External network {ext} has no copy in region {} yet.", pod.region_name),
                "external network not in its pod yet",
            ));
        };
        let admin = self.pod_admin_session(pod).await?;
        let address = b["floating_ip_address"].clone();
        let want = json!({"port_id": bottom_port, "fixed_ip_address": b["fixed_ip_address"]});
        let bottom = match self.floating_lock(f, pod).await? {
            Some(id) => id,
            None => {
                let owner = self.bottom_project_id(pod, &f.project_id).await?;
                let mut body = want.clone();
                body["floating_network_id"] = json!(bottom_ext);
                body["floating_ip_address"] = address.clone();
                body["tenant_id"] = json!(owner);
                body["description"] = json!(f.id);
                let made = self.floating_create(&admin, pod, &bottom_ext, &address, body).await?;
                let r = self.store.routing_find(&f.id, FLOATING, pod.pod_id).await?;
                if let Some(r) = r {
                    let patch =
                        RoutingPatch { bottom_id: Some(Some(made.clone())), ..Default::default() };
                    self.store.routing_update(r.id, &patch).await?;
                }
                tracing::info!(region = %pod.region_name, floating_ip = %f.id, "floating IP made in the external network's region");
                return Ok(());
            }
        };
        let path = format!("/v2.0/floatingips/{bottom}");
        let have: Value =
            super::pod_json(&admin, pod, &PodRequest::get(ServiceType::Network, &path)).await?;
        if have["floatingip"]["port_id"] != want["port_id"]
            || have["floatingip"]["fixed_ip_address"] != want["fixed_ip_address"]
        {
            let req = PodRequest::new(ServiceType::Network, reqwest::Method::PUT, path)
                .with_body(json!({ "floatingip": want }));
            admin.call(&req).await.map_err(|e| pod_error(pod, e))?;
        }
        Ok(())
    }

    /// The routing of the floating IP's copy (made first, as a lock); its
    /// bottom ID when the copy exists.
    async fn floating_lock(&self, f: &NetObject, pod: &Pod) -> Result<Option<String>> {
        if let Some(r) = self.store.routing_find(&f.id, FLOATING, pod.pod_id).await? {
            return Ok(r.bottom_id);
        }
        let lock = NewRouting {
            top_id: f.id.clone(),
            bottom_id: None,
            pod_id: pod.pod_id,
            project_id: f.project_id.clone(),
            resource_type: FLOATING.into(),
        };
        match self.store.routing_create(&lock).await {
            Ok(_) => Ok(None),
            Err(StoreError::Duplicate(_)) => Ok(self
                .store
                .routing_find(&f.id, FLOATING, pod.pod_id)
                .await?
                .and_then(|r| r.bottom_id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Create the pod's floating IP, or adopt one an earlier attempt made
    /// (same address on the same network).
    async fn floating_create(
        &self,
        admin: &PodSession,
        pod: &Pod,
        bottom_ext: &str,
        address: &Value,
        body: Value,
    ) -> Result<String> {
        let req = PodRequest::get(ServiceType::Network, "/v2.0/floatingips")
            .with_query("floating_network_id", bottom_ext)
            .with_query("floating_ip_address", address.as_str().unwrap_or_default());
        let found: Value = super::pod_json(admin, pod, &req).await?;
        let existing = &found["floatingips"][0];
        if existing.is_object() && existing["description"] != body["description"] {
            // Someone else's address in that region: never taken over.
            return Err(Error::conflict(format!(
                "Floating IP {} is in use in region {} by something the gateway did not make.",
                address.as_str().unwrap_or_default(),
                pod.region_name
            )));
        }
        if let Some(id) = existing["id"].as_str() {
            let req = PodRequest::new(
                ServiceType::Network,
                reqwest::Method::PUT,
                format!("/v2.0/floatingips/{id}"),
            )
            .with_body(json!({"floatingip": {"port_id": body["port_id"],
                "fixed_ip_address": body["fixed_ip_address"]}}));
            admin.call(&req).await.map_err(|e| pod_error(pod, e))?;
            return Ok(id.to_string());
        }
        let req = PodRequest::new(ServiceType::Network, reqwest::Method::POST, "/v2.0/floatingips")
            .with_body(json!({ "floatingip": body }));
        let made: Value = super::pod_json(admin, pod, &req).await?;
        Ok(made["floatingip"]["id"].as_str().unwrap_or_default().to_string())
    }

    /// Sync floating IPs (recorded, see `sync_jobs`); `was_on`, the port
    /// they were mapped to before a change, has its network's copies synced
    /// too (the external pod's may no longer be needed).
    pub(crate) async fn sync_floating_ips_moved(
        &self,
        ids: impl IntoIterator<Item = String>,
        was_on: Option<String>,
    ) {
        self.sync_floating_ips_recorded(ids).await;
        let Some(port) = was_on else { return };
        if let Ok(Some(p)) = self.store.net_object_get("port", &port).await {
            self.sync_networks_recorded(p.network_id).await;
        }
    }
}
