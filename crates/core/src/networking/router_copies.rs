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

impl App {
    /// The top interface ports of a router.
    async fn interfaces_of(&self, router_id: &str) -> Result<Vec<NetObject>> {
        let mut out = Vec::new();
        for p in self.store.net_object_list("port", &NetFilter::default()).await? {
            let b = body_of(&p)?;
            if b["device_id"].as_str() == Some(router_id)
                && b["device_owner"].as_str() == Some(INTERFACE)
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
    /// copies say.
    pub async fn sync_router(&self, router_id: &str) -> Result<()> {
        let router = self.store.net_object_get("router", router_id).await?;
        // Per pod: (the interface port, the pod's copy of its network).
        let mut wanted: BTreeMap<String, (Pod, Vec<(NetObject, String)>)> = BTreeMap::new();
        if router.is_some() {
            for iface in self.interfaces_of(router_id).await? {
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
        let project = router.as_ref().map(|r| r.project_id.clone()).unwrap_or_default();
        for (pod, ifaces) in wanted.values() {
            self.router_copy(pod, &project, router_id, ifaces).await?;
        }
        // Copies in pods the router no longer reaches.
        for r in self.routings_of(router_id, "router").await? {
            if wanted.contains_key(&r.pod_id.to_string()) {
                continue;
            }
            let Some(pod) = self.store.pod_get(r.pod_id).await? else { continue };
            let admin = self.pod_admin_session(&pod).await?;
            if let Some(b) = &r.bottom_id {
                self.detach_stale(&pod, &admin, b, &HashSet::new()).await?;
                super::delete_in_pod(&admin, &pod, format!("/v2.0/routers/{b}")).await?;
            }
            self.store.routing_delete(r.id).await?;
        }
        Ok(())
    }

    async fn router_copy(
        &self,
        pod: &Pod,
        project: &str,
        router_id: &str,
        ifaces: &[(NetObject, String)],
    ) -> Result<()> {
        let session = self.pod_project_session(pod, project).await?;
        let body = json!({"name": router_id, "admin_state_up": true});
        let bottom = self
            .ensure_bottom(pod, &session, project, ("router", "routers"), router_id, body)
            .await
            .map_err(step)?;
        let admin = self.pod_admin_session(pod).await?;
        let mut keep = HashSet::new();
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
            let copy: Value = admin
                .call(&req)
                .await
                .map_err(|e| pod_error(pod, e))?
                .json()
                .map_err(|e| pod_error(pod, e))?;
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
        self.detach_stale(pod, &admin, &bottom, &keep).await
    }

    /// Detach (and forget) the pod router's interfaces not in `keep`.
    async fn detach_stale(
        &self,
        pod: &Pod,
        admin: &PodSession,
        bottom_router: &str,
        keep: &HashSet<String>,
    ) -> Result<()> {
        let req = PodRequest::get(ServiceType::Network, "/v2.0/ports")
            .with_query("device_id", bottom_router)
            .with_query("device_owner", INTERFACE);
        let ports: Value = admin
            .call(&req)
            .await
            .map_err(|e| pod_error(pod, e))?
            .json()
            .map_err(|e| pod_error(pod, e))?;
        for p in ports["ports"].as_array().cloned().unwrap_or_default() {
            let id = p["id"].as_str().unwrap_or_default();
            if keep.contains(id) {
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

    /// Sync routers, logging (not failing) on trouble.
    pub(crate) async fn sync_routers_best_effort(&self, routers: impl IntoIterator<Item = String>) {
        for r in routers {
            if let Err(e) = self.sync_router(&r).await {
                tracing::warn!(router = %r, error = %e, "router copies not in sync yet");
            }
        }
    }
}
