//! Routing between pods (DESIGN §4 "Network", cross-pod L3). A router
//! whose networks have copies in several pods has a copy in each
//! (`router_copies`); here those copies are joined. Every project has one
//! *bridge network* at the top: its own VXLAN segment, addresses from
//! `networking.bridge_cidr`, owned by no project so its members never see
//! it (admins do, named `bridge-<project>`). Each router copy gets a
//! *bridge port* on it, and routes each subnet only other pods hold to the
//! bridge address of a copy that holds it.
//!
//! Bridge ports are top ports like any other, so the central IPAM gives
//! their addresses and the shadow-port reconcile makes each reachable from
//! the other pods. Their bottom copies are bound to the pod's *network
//! host* (the host whose tunnel endpoint carries the pod's router traffic:
//! an L3 agent's host when it has a tunnel, else the first host with one),
//! so a shadow knows where to send frames for them.
//!
//! IDs of the bridge network and subnet are derived from the project, so
//! replicas racing to make them end up with one.

use serde_json::{Map, Value, json};
use tricircle_common::{AuthContext, Error, RequestContext, RequestId, Result};
use tricircle_pod_client::{PodRequest, PodSession, ServiceType};
use tricircle_store::{NetFilter, NetObject, Pod, Segment, StoreError};

use super::{body_of, ipam, new_object};
use crate::App;
use crate::pod_sessions::pod_error;

/// `device_owner` of the top bridge ports (the pods' copies are plain
/// router interfaces).
pub(crate) const BRIDGE_OWNER: &str = "network:router_bridge";
/// Body key naming the project a bridge object serves (never shown).
pub(crate) const BRIDGE_FOR: &str = "tricircle:bridge_for";

const SEGMENT_TRIES: usize = 8;

/// The IDs of a project's bridge network and subnet.
pub(crate) fn bridge_ids(project_id: &str) -> (String, String) {
    let id = |what: &str| {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("tricircle:bridge-{what}:{project_id}").as_bytes(),
        )
        .to_string()
    };
    (id("network"), id("subnet"))
}

/// The project a bridge object (owned by nobody) serves, when `obj` is one.
fn bridge_project(obj: &NetObject, body: &Map<String, Value>) -> Option<String> {
    let p = body.get(BRIDGE_FOR).and_then(Value::as_str)?;
    obj.project_id.is_empty().then(|| p.to_string())
}

/// The project an object serves: its owner, or for a bridge object the
/// project it joins.
pub(crate) fn serving_project(obj: &NetObject, body: &Map<String, Value>) -> String {
    bridge_project(obj, body).unwrap_or_else(|| obj.project_id.clone())
}

/// The project a bridge network serves, when `net` is one.
pub(crate) fn bridge_project_of(net: &NetObject) -> Option<String> {
    bridge_project(net, &body_of(net).ok()?)
}

/// An admin context for the top objects the gateway makes itself.
fn gateway_admin(project_id: &str) -> RequestContext {
    RequestContext {
        request_id: RequestId::new(),
        auth: AuthContext {
            user_id: "tricircle-bridge".into(),
            user_name: "tricircle-bridge".into(),
            project_id: Some(project_id.into()),
            roles: vec!["admin".into()],
        },
    }
}

fn step(e: tricircle_jobs::StepError) -> Error {
    Error::unavailable(e.message.clone(), e.message)
}

impl App {
    /// The project's bridge network and subnet IDs, made on first need.
    pub(crate) async fn bridge_network(&self, project_id: &str) -> Result<(String, String)> {
        let (net_id, subnet_id) = bridge_ids(project_id);
        if self.store.net_object_get("network", &net_id).await?.is_none() {
            self.create_bridge_network(project_id, &net_id).await?;
        }
        if self.store.net_object_get("subnet", &subnet_id).await?.is_none() {
            let cidr = ipnet::IpNet::V4(self.settings.bridge_cidr);
            let mut view = Map::new();
            view.insert("name".into(), json!(format!("bridge-{project_id}")));
            view.insert("network_id".into(), json!(net_id));
            view.insert("ip_version".into(), json!(4));
            view.insert("cidr".into(), json!(cidr.to_string()));
            view.insert("gateway_ip".into(), Value::Null);
            view.insert("allocation_pools".into(), json!(ipam::default_pools(&cidr, None)));
            view.insert("dns_nameservers".into(), json!([]));
            view.insert("host_routes".into(), json!([]));
            view.insert("enable_dhcp".into(), json!(false));
            view.insert("ipv6_ra_mode".into(), Value::Null);
            view.insert("ipv6_address_mode".into(), Value::Null);
            view.insert("subnetpool_id".into(), Value::Null);
            view.insert("segment_id".into(), Value::Null);
            view.insert("service_types".into(), json!([]));
            view.insert(BRIDGE_FOR.into(), json!(project_id));
            let mut obj = new_object("subnet", "", Some(&net_id), false, &view);
            obj.id = subnet_id.clone();
            match self.store.net_object_create(&obj).await {
                Ok(()) | Err(StoreError::Duplicate(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((net_id, subnet_id))
    }

    async fn create_bridge_network(&self, project_id: &str, net_id: &str) -> Result<()> {
        let mut view = Map::new();
        view.insert("name".into(), json!(format!("bridge-{project_id}")));
        view.insert(
            "description".into(),
            json!("Joins this project's routers across regions (made by the gateway)."),
        );
        view.insert("admin_state_up".into(), json!(true));
        view.insert("status".into(), json!("ACTIVE"));
        view.insert("shared".into(), json!(false));
        view.insert("router:external".into(), json!(false));
        view.insert("mtu".into(), json!(1450));
        view.insert("port_security_enabled".into(), json!(false));
        view.insert("availability_zone_hints".into(), json!([]));
        view.insert("availability_zones".into(), json!([]));
        view.insert("provider:network_type".into(), json!("vxlan"));
        view.insert("provider:physical_network".into(), Value::Null);
        view.insert(BRIDGE_FOR.into(), json!(project_id));
        for _ in 0..SEGMENT_TRIES {
            let segment_id = self.lowest_free_segment("vxlan", "").await?;
            view.insert("provider:segmentation_id".into(), json!(segment_id));
            let mut obj = new_object("network", "", None, false, &view);
            obj.id = net_id.to_string();
            let seg = Segment {
                network_type: "vxlan".into(),
                physical_network: String::new(),
                segmentation_id: segment_id,
            };
            match self.store.net_network_create(&obj, Some(&seg)).await {
                Ok(()) => return Ok(()),
                // Another replica made it, or took that segment: look again.
                Err(StoreError::Duplicate(_)) => {
                    if self.store.net_object_get("network", net_id).await?.is_some() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::unavailable(
            "The bridge network could not be made: too many concurrent creates; retry.",
            "bridge segment allocation lost every race",
        ))
    }

    /// The router's top bridge ports (one per pod, named after the pod ID).
    pub(crate) async fn bridge_ports_of(
        &self,
        project_id: &str,
        router_id: &str,
    ) -> Result<Vec<NetObject>> {
        let (net_id, _) = bridge_ids(project_id);
        let filter = NetFilter { network_id: Some(&net_id), ..Default::default() };
        let mut out = Vec::new();
        for p in self.store.net_object_list("port", &filter).await? {
            if p.project_id.is_empty() {
                let b = body_of(&p)?;
                if b["device_owner"].as_str() == Some(BRIDGE_OWNER)
                    && b["device_id"].as_str() == Some(router_id)
                {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// The router's bridge port for a pod: its top port (address from the
    /// central IPAM), its copy in the pod bound to the network host, and the
    /// pod's router copy attached to it. Returns the bridge address.
    pub(crate) async fn ensure_bridge_port(
        &self,
        pod: &Pod,
        project_id: &str,
        router_id: &str,
        bottom_router: &str,
        existing: &[NetObject],
    ) -> Result<(String, String)> {
        let (net_id, subnet_id) = self.bridge_network(project_id).await?;
        let name = pod.pod_id.to_string();
        let top = match existing.iter().find(|p| body_of(p).is_ok_and(|b| b["name"] == name)) {
            Some(p) => p.clone(),
            None => {
                let body = json!({"port": {"network_id": net_id, "project_id": "",
                    "name": name, "device_id": router_id, "device_owner": BRIDGE_OWNER,
                    "port_security_enabled": false}});
                let made =
                    self.port_create_metered(&gateway_admin(project_id), &body, false).await?;
                let id = made["id"].as_str().unwrap_or_default().to_string();
                // Marked with its project for the shadows' owner.
                let mut obj = self
                    .store
                    .net_object_get("port", &id)
                    .await?
                    .ok_or_else(|| Error::internal(format!("bridge port {id} vanished")))?;
                let mut b = body_of(&obj)?;
                b.insert(BRIDGE_FOR.into(), json!(project_id));
                obj.body = Value::Object(b).to_string();
                self.store.net_object_update(&id, false, &obj.body).await?;
                obj
            }
        };
        let b = body_of(&top)?;
        let ip = b["fixed_ips"][0]["ip_address"].as_str().unwrap_or_default().to_string();
        let admin = self.pod_admin_session(pod).await?;
        let session = self.pod_project_session(pod, project_id).await?;
        let bottom_net = self.ensure_network_copy(pod, project_id, &net_id).await.map_err(step)?;
        let bottom_subnet = self
            .ensure_subnet_copy(pod, &session, project_id, &subnet_id, &bottom_net)
            .await
            .map_err(step)?;
        let owner = self.bottom_project_id(pod, project_id).await?;
        let host = self.network_host(&admin, pod).await?;
        let mut body = json!({"name": top.id, "network_id": bottom_net, "tenant_id": owner,
            "fixed_ips": [{"subnet_id": bottom_subnet, "ip_address": ip}],
            "mac_address": b["mac_address"], "port_security_enabled": false,
            "security_groups": []});
        if let Some(h) = &host {
            body["binding:host_id"] = json!(h);
        } else {
            tracing::warn!(region = %pod.region_name, "no host with a tunnel endpoint: the router's bridge port there is unreachable from other regions");
        }
        let port = self
            .ensure_bottom(pod, &admin, project_id, ("port", "ports"), &top.id, body)
            .await
            .map_err(step)?;
        let req = PodRequest::get(ServiceType::Network, format!("/v2.0/ports/{port}"));
        let copy: Value = super::pod_json(&admin, pod, &req).await?;
        if copy["port"]["device_id"].as_str() != Some(bottom_router) {
            let req = PodRequest::new(
                ServiceType::Network,
                reqwest::Method::PUT,
                format!("/v2.0/routers/{bottom_router}/add_router_interface"),
            )
            .with_body(json!({"port_id": port}));
            session.call(&req).await.map_err(|e| pod_error(pod, e))?;
        }
        Ok((port, ip))
    }

    /// Forget a bridge port the router no longer needs: its shadows, its
    /// copy (already detached from the router copy by the router's sync,
    /// which removes it; one never attached is deleted here), then the top
    /// port.
    pub(crate) async fn drop_bridge_port(&self, port: &NetObject) -> Result<()> {
        self.delete_shadows_of(&port.id).await?;
        for r in self.routings_of(&port.id, "port").await? {
            if let Some(pod) = self.store.pod_get(r.pod_id).await? {
                let admin = self.pod_admin_session(&pod).await?;
                self.unmaterialize_port(&pod, &admin, &port.id).await.map_err(step)?;
            }
        }
        self.store.net_object_delete(&port.id).await?;
        Ok(())
    }

    /// A project's bridge network once no router uses it: its copies go by
    /// the network reconcile, then the top network and subnet.
    pub(crate) async fn bridge_network_gc(&self, project_id: &str) -> Result<()> {
        let (net_id, subnet_id) = bridge_ids(project_id);
        if self.store.net_object_get("network", &net_id).await?.is_none() {
            return Ok(());
        }
        self.sync_network_shadows(&net_id).await?;
        if self.store.net_port_count(&net_id).await? > 0
            || !self.routings_of(&net_id, "network").await?.is_empty()
        {
            return Ok(());
        }
        self.store.net_object_delete(&subnet_id).await?;
        // A router may take a bridge port right now (its port create then
        // fails and its sync runs again, making a new bridge network).
        self.store.net_object_delete(&net_id).await?;
        Ok(())
    }

    /// The pod's network host: where its routers' traffic enters the
    /// tunnels (an L3 agent's host with a tunnel endpoint, else the first
    /// host that has one).
    async fn network_host(&self, admin: &PodSession, pod: &Pod) -> Result<Option<String>> {
        let req = PodRequest::get(ServiceType::Network, "/v2.0/agents");
        let agents: Value = match admin.call(&req).await {
            Ok(r) => r.json().map_err(|e| pod_error(pod, e))?,
            Err(tricircle_pod_client::PodError::Service { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(pod_error(pod, e)),
        };
        let agents = agents["agents"].as_array().cloned().unwrap_or_default();
        let mut tunneled: Vec<&str> = agents
            .iter()
            .filter(|a| a["configurations"]["tunneling_ip"].as_str().is_some())
            .filter_map(|a| a["host"].as_str())
            .collect();
        tunneled.sort_unstable();
        let l3 = agents
            .iter()
            .filter(|a| a["agent_type"] == "L3 agent")
            .filter_map(|a| a["host"].as_str())
            .find(|h| tunneled.contains(h));
        Ok(l3.or(tunneled.first().copied()).map(str::to_string))
    }
}
