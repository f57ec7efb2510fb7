//! A server's ports: top ports claimed (or made) for the server's
//! `networks` before it is created, and their bottom copies made lazily in
//! the server's pod (DESIGN §4 "Network"): the pod gets the network, the
//! subnet and the port with the top's CIDR, address and MAC, each named
//! after its top ID and recorded as a routing before the pod is asked, so a
//! retry finds the earlier attempt. Nova in the pod is then given the bottom
//! ports, never a network to allocate from, so every address stays the top's.
//!
//! Bottom subnets are made with DHCP off: a pod's DHCP port would take an
//! address the top did not allocate.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_jobs::StepError;
use tricircle_pod_client::{PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{NetFilter, NetObject, NewRouting, Pod, Routing, RoutingPatch, StoreError};

use super::body_of;
use crate::App;
use crate::pod_sessions::pod_error;

/// The hidden body key naming the server a port was made for (deleted with
/// it, as Nova deletes the ports it made); never shown, never settable.
pub(crate) const CREATED_FOR: &str = "tricircle:created_for";

/// A top port a server uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerPort {
    pub top_port: String,
    /// The pod's copy, once made.
    #[serde(default)]
    pub bottom_port: Option<String>,
}

fn store_err(e: impl std::fmt::Display) -> StepError {
    StepError::retry(format!("database: {e}"))
}

fn perr(pod: &Pod) -> impl Fn(PodError) -> StepError + '_ {
    move |e: PodError| StepError {
        retryable: e.is_retryable(),
        message: pod_error(pod, e).to_string(),
    }
}

fn session_err(e: Error) -> StepError {
    StepError { retryable: e.status() == 503, message: e.to_string() }
}

fn bad_network(msg: impl Into<String>) -> Error {
    Error::bad_request(msg)
}

impl App {
    /// Claim the top ports a server create asks for (`networks` as Nova
    /// takes it): a port on each `{"uuid"}` network (at `fixed_ip` when
    /// given), each `{"port"}` as it is. `"auto"`, `"none"` and no value
    /// give no port. Errors read as Nova's.
    pub async fn claim_server_ports(
        &self,
        ctx: &RequestContext,
        server_id: &str,
        networks: Option<&Value>,
        security_groups: &[String],
    ) -> Result<Vec<ServerPort>> {
        let groups = self.security_group_ids(ctx, security_groups).await?;
        let entries = match networks {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::String(s)) if s == "auto" || s == "none" => return Ok(Vec::new()),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                return Err(bad_network(
                    "Bad networks format: networks must be a list, \"auto\" or \"none\".",
                ));
            }
        };
        let mut claimed: Vec<ServerPort> = Vec::new();
        for e in &entries {
            let result = self.claim_one(ctx, server_id, e, groups.as_deref()).await;
            match result {
                Ok(p) => claimed.push(p),
                Err(err) => {
                    // Give back what this request took so far.
                    self.release_ports(&ctx.auth.project_id.clone().unwrap_or_default(), server_id)
                        .await?;
                    return Err(err);
                }
            }
        }
        Ok(claimed)
    }

    pub(crate) async fn claim_one(
        &self,
        ctx: &RequestContext,
        server_id: &str,
        e: &Value,
        groups: Option<&[String]>,
    ) -> Result<ServerPort> {
        if let Some(port_id) = e.get("port").and_then(Value::as_str) {
            let port = self.port_show(ctx, port_id).await.map_err(|_| {
                Error::not_found("Port", tricircle_common::ids::truncate_for_message(port_id))
            })?;
            if !port["device_id"].as_str().unwrap_or_default().is_empty() {
                return Err(Error::conflict(format!("Port {port_id} is still in use.")));
            }
            let body = json!({"port": {"device_id": server_id, "device_owner": "compute:nova"}});
            self.port_update(ctx, port_id, &body).await?;
            return Ok(ServerPort { top_port: port_id.to_string(), bottom_port: None });
        }
        let Some(net) = e.get("uuid").and_then(Value::as_str) else {
            return Err(bad_network(
                "Bad networks format: each entry needs a uuid (network) or a port.",
            ));
        };
        let mut port =
            json!({"network_id": net, "device_id": server_id, "device_owner": "compute:nova"});
        // The server's groups (Nova's `security_groups`) for the ports it makes.
        if let Some(g) = groups {
            port["security_groups"] = json!(g);
        }
        if let Some(ip) = e.get("fixed_ip").and_then(Value::as_str) {
            port["fixed_ips"] = json!([{"ip_address": ip}]);
        }
        let created = match self.port_create(ctx, &json!({"port": port})).await {
            Ok(p) => p,
            Err(err) if err.type_name() == Some("NetworkNotFound") => {
                return Err(bad_network(format!(
                    "Network {} could not be found.",
                    tricircle_common::ids::truncate_for_message(net)
                )));
            }
            Err(err) => return Err(err),
        };
        let id = created["id"].as_str().unwrap_or_default().to_string();
        if let Some(obj) = self.store.net_object_get("port", &id).await? {
            let mut body = body_of(&obj)?;
            body.insert(CREATED_FOR.into(), json!(server_id));
            self.store.net_object_update(&id, false, &Value::Object(body).to_string()).await?;
        }
        Ok(ServerPort { top_port: id, bottom_port: None })
    }

    /// The caller's groups named (by name or ID) in a server create; `None`
    /// when none was named (the ports get the project's default group).
    async fn security_group_ids(
        &self,
        ctx: &RequestContext,
        names: &[String],
    ) -> Result<Option<Vec<String>>> {
        if names.is_empty() {
            return Ok(None);
        }
        let q = super::listing::ListQuery::default();
        let listed = self.security_group_list(ctx, &q, "").await?;
        let project = ctx.auth.project_id.clone().unwrap_or_default();
        let mine: Vec<&Value> = listed["security_groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["project_id"].as_str() == Some(project.as_str()))
            .collect();
        let mut out = Vec::new();
        for n in names {
            let found = mine
                .iter()
                .find(|g| g["id"].as_str() == Some(n.as_str()))
                .or_else(|| mine.iter().find(|g| g["name"].as_str() == Some(n.as_str())));
            match found.and_then(|g| g["id"].as_str()) {
                Some(id) => out.push(id.to_string()),
                None => {
                    return Err(Error::bad_request(format!(
                        "Security group {} not found for project {project}.",
                        tricircle_common::ids::truncate_for_message(n)
                    )));
                }
            }
        }
        Ok(Some(out))
    }

    /// The top ports a server holds.
    pub(crate) async fn ports_of_server(
        &self,
        project_id: &str,
        server_id: &str,
    ) -> Result<Vec<NetObject>> {
        let filter = NetFilter { project_id: Some(project_id), ..Default::default() };
        let mut out = Vec::new();
        for p in self.store.net_object_list("port", &filter).await? {
            if body_of(&p)?["device_id"].as_str() == Some(server_id) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The networks of a server's top ports.
    pub(crate) async fn networks_of_server(
        &self,
        project_id: &str,
        server_id: &str,
    ) -> Result<Vec<String>> {
        Ok(self
            .ports_of_server(project_id, server_id)
            .await?
            .into_iter()
            .filter_map(|p| p.network_id)
            .collect())
    }

    /// Give back a server's top ports: those made for it are deleted, the
    /// others unbound (as Nova does when a server goes).
    pub(crate) async fn release_ports(&self, project_id: &str, server_id: &str) -> Result<()> {
        for p in self.ports_of_server(project_id, server_id).await? {
            self.release_port(&p, server_id).await?;
        }
        Ok(())
    }

    /// Give back one top port of a server (deleted when made for it).
    pub(crate) async fn release_port(&self, p: &NetObject, server_id: &str) -> Result<()> {
        // Bound nowhere now: no pod needs its shadows. They go before the
        // port does, so its address is free at the top only once no pod
        // holds it any more (a new port may get it at once), and a process
        // that dies in between leaves the port for the retry to release.
        // A pod that is away keeps its shadow until the network's sync or
        // the periodic sweep of shadows without a port removes it.
        if let Err(e) = self.delete_shadows_of(&p.id).await {
            tracing::warn!(port = %p.id, error = %e, "shadow ports not deleted yet");
        }
        let mut body = body_of(p)?;
        if body.get(CREATED_FOR).and_then(Value::as_str) == Some(server_id) {
            self.disassociate_floating_ips(&p.id).await?;
            self.store.net_object_delete(&p.id).await?;
        } else {
            for key in ["device_id", "device_owner", "binding:host_id"] {
                body.insert(key.into(), json!(""));
            }
            body.insert("status".into(), json!("DOWN"));
            self.store.net_object_update(&p.id, false, &Value::Object(body).to_string()).await?;
        }
        // Again: a network sync of another request that saw the port bound
        // may have recorded a shadow since. One that records it after this
        // finds the port gone when it checks again (see `create_shadow`).
        if let Err(e) = self.delete_shadows_of(&p.id).await {
            tracing::warn!(port = %p.id, error = %e, "shadow ports not deleted yet");
        }
        Ok(())
    }

    /// The pod's copy of one top object (network, subnet, port, shadow
    /// port), made on first use and named after the top ID (or the body's
    /// name); returns its bottom ID.
    pub(crate) async fn ensure_bottom(
        &self,
        pod: &Pod,
        session: &PodSession,
        project_id: &str,
        (kind, collection): (&str, &str),
        top_id: &str,
        body: Value,
    ) -> Result<String, StepError> {
        let find = || self.store.routing_find(top_id, kind, pod.pod_id);
        if let Some(b) = find().await.map_err(store_err)?.and_then(|r| r.bottom_id) {
            return Ok(b);
        }
        // One maker of a copy at a time, in this process and across
        // replicas: two at once made two copies of objects a pod accepts
        // twice (security groups, seen with two replicas booting servers in
        // one pod). The next in turn takes the maker's answer, or makes the
        // copy itself when the maker failed or died (its turn's lease ran out).
        let turn = self
            .turn(&format!("copy:{kind}:{}:{top_id}", pod.pod_id))
            .await
            .map_err(|e| StepError::retry(e.to_string()))?;
        let result = async {
            let routing = match find().await.map_err(store_err)? {
                Some(r) if r.bottom_id.is_some() => return Ok(r.bottom_id.unwrap_or_default()),
                Some(r) => r,
                None => {
                    let lock = NewRouting {
                        top_id: top_id.into(),
                        bottom_id: None,
                        pod_id: pod.pod_id,
                        project_id: project_id.into(),
                        resource_type: kind.into(),
                    };
                    match self.store.routing_create(&lock).await {
                        Ok(r) => r,
                        // Written by a caller that holds no turn (a port's
                        // copy, locked by its server's saga first).
                        Err(StoreError::Duplicate(_)) => find()
                            .await
                            .map_err(store_err)?
                            .ok_or_else(|| StepError::retry("routing vanished"))?,
                        Err(e) => return Err(store_err(e)),
                    }
                }
            };
            if let Some(b) = routing.bottom_id.clone() {
                return Ok(b);
            }
            self.make_bottom(pod, session, (kind, collection), top_id, body, routing).await
        }
        .await;
        turn.release().await;
        result
    }

    /// Make (or find, by its name) the pod's copy under the lock `routing`,
    /// held by the caller, and record its bottom ID there.
    pub(crate) async fn make_bottom(
        &self,
        pod: &Pod,
        session: &PodSession,
        (kind, collection): (&str, &str),
        top_id: &str,
        body: Value,
        routing: Routing,
    ) -> Result<String, StepError> {
        // Found by its name: the top ID, or the name the body gives (a
        // shadow port's, which must not be taken for the port itself).
        let name = body["name"].as_str().unwrap_or(top_id).to_string();
        let path = format!("/v2.0/{collection}?name={name}");
        let found: Value = session
            .call(&PodRequest::get(ServiceType::Network, path.clone()))
            .await
            .map_err(perr(pod))?
            .json()
            .map_err(perr(pod))?;
        // Bodies and answers say `security_group(s)` where paths say `security-groups`.
        let key = collection.trim_end_matches('s').replace('-', "_");
        let list_key = collection.replace('-', "_");
        let existing = found[list_key.as_str()]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|o| o["id"].as_str())
            .map(str::to_string);
        let bottom = match existing {
            Some(b) => b,
            None => {
                let req = PodRequest::new(
                    ServiceType::Network,
                    reqwest::Method::POST,
                    format!("/v2.0/{collection}"),
                )
                .with_body(json!({ key.clone(): body }));
                match session.call(&req).await {
                    Ok(r) => {
                        let created: Value = r.json().map_err(perr(pod))?;
                        created[key.as_str()]["id"].as_str().unwrap_or_default().to_string()
                    }
                    Err(PodError::Service { status, message, .. })
                        if (400..500).contains(&status) && status != 429 =>
                    {
                        // A concurrent make of the same copy (two servers
                        // on one network at once) won the race: the pod
                        // refuses the twin (overlap, address or segment in
                        // use); take the winner's.
                        let again: Value = session
                            .call(&PodRequest::get(ServiceType::Network, path.clone()))
                            .await
                            .map_err(perr(pod))?
                            .json()
                            .map_err(perr(pod))?;
                        match again[list_key.as_str()][0]["id"].as_str() {
                            Some(id) => id.to_string(),
                            None => {
                                return Err(StepError::fatal(format!(
                                    "Region {} refused the {key} {top_id}: {message}",
                                    pod.region_name
                                )));
                            }
                        }
                    }
                    Err(e) => return Err(perr(pod)(e)),
                }
            }
        };
        let patch = RoutingPatch { bottom_id: Some(Some(bottom.clone())), ..Default::default() };
        if self.store.routing_update(routing.id, &patch).await.map_err(store_err)?.is_none() {
            // The routing (the lock) was removed while the copy was being
            // made: whoever removed it wants no copy (its top object left,
            // as a server delete does to a shadow a concurrent sync was
            // making). Kept, the copy would be an orphan no routing points
            // at, invisible to every sweep but the audit's.
            if let Err(e) =
                super::delete_in_pod(session, pod, format!("/v2.0/{collection}/{bottom}")).await
            {
                tracing::warn!(region = %pod.region_name, kind, top_id, error = %e, "a copy whose routing was removed is left for the audit");
            }
            return Err(StepError::retry(format!(
                "the {kind} {top_id} stopped being needed in region {} while its copy was made",
                pod.region_name
            )));
        }
        Ok(bottom)
    }

    /// The pod's copy of a top network, with the top's segment (so shadow
    /// ports can join the copies); provider attributes need the pod's
    /// admin, on the project's behalf.
    pub(crate) async fn ensure_network_copy(
        &self,
        pod: &Pod,
        project_id: &str,
        net_id: &str,
    ) -> Result<String, StepError> {
        let net = self
            .store
            .net_object_get("network", net_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| {
                StepError::fatal(format!("Network {net_id} was deleted while it was being used."))
            })?;
        let nbody = body_of(&net).map_err(|e| StepError::fatal(e.to_string()))?;
        let admin = self.pod_admin_session(pod).await.map_err(session_err)?;
        let owner = self.bottom_project_id(pod, project_id).await.map_err(session_err)?;
        let mut body = json!({"name": net_id, "admin_state_up": nbody["admin_state_up"],
            "mtu": nbody["mtu"], "tenant_id": owner,
            "provider:network_type": nbody["provider:network_type"]});
        for key in ["provider:physical_network", "provider:segmentation_id", "router:external"] {
            if !nbody[key].is_null() && nbody[key] != json!(false) {
                body[key] = nbody[key].clone();
            }
        }
        self.ensure_bottom(pod, &admin, project_id, ("network", "networks"), net_id, body).await
    }

    /// The pod's copy of a top subnet on the pod's copy of its network.
    pub(crate) async fn ensure_subnet_copy(
        &self,
        pod: &Pod,
        session: &PodSession,
        project_id: &str,
        subnet_id: &str,
        bottom_net: &str,
    ) -> Result<String, StepError> {
        let subnet = self
            .store
            .net_object_get("subnet", subnet_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| {
                StepError::fatal(format!("Subnet {subnet_id} was deleted while it was being used."))
            })?;
        let sb = body_of(&subnet).map_err(|e| StepError::fatal(e.to_string()))?;
        let body = json!({"name": subnet_id, "network_id": bottom_net, "cidr": sb["cidr"],
            "ip_version": sb["ip_version"], "gateway_ip": sb["gateway_ip"],
            "allocation_pools": sb["allocation_pools"], "enable_dhcp": false,
            "dns_nameservers": sb["dns_nameservers"], "host_routes": sb["host_routes"]});
        self.ensure_bottom(pod, session, project_id, ("subnet", "subnets"), subnet_id, body).await
    }

    /// Make the pod's copies of a server's ports (and of their networks and
    /// subnets); fills each `bottom_port`.
    pub(crate) async fn materialize_ports(
        &self,
        pod: &Pod,
        project_id: &str,
        ports: &mut [ServerPort],
    ) -> Result<(), StepError> {
        if ports.is_empty() {
            return Ok(());
        }
        let session = self.pod_project_session(pod, project_id).await.map_err(session_err)?;
        for sp in ports.iter_mut() {
            let port = self
                .store
                .net_object_get("port", &sp.top_port)
                .await
                .map_err(store_err)?
                .ok_or_else(|| {
                    StepError::fatal(format!(
                        "Port {} was deleted while the server was being created.",
                        sp.top_port
                    ))
                })?;
            let pbody = body_of(&port).map_err(|e| StepError::fatal(e.to_string()))?;
            // The port's routing first: it tells the network reconcile that
            // this pod uses the network before its copy is looked up, so a
            // concurrent reconcile does not take the copy away meanwhile.
            let lock = NewRouting {
                top_id: sp.top_port.clone(),
                bottom_id: None,
                pod_id: pod.pod_id,
                project_id: project_id.into(),
                resource_type: "port".into(),
            };
            // Its lock too: one saga at a time works on a server, so a lock
            // already there is an earlier attempt's of this same create.
            let routing = match self.store.routing_create(&lock).await {
                Ok(r) => r,
                Err(StoreError::Duplicate(_)) => self
                    .store
                    .routing_find(&sp.top_port, "port", pod.pod_id)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| StepError::retry("the port's routing vanished"))?,
                Err(e) => return Err(store_err(e)),
            };
            let net_id = port.network_id.clone().unwrap_or_default();
            let bottom_net = self.ensure_network_copy(pod, project_id, &net_id).await?;
            let mut fixed = Vec::new();
            for ip in pbody["fixed_ips"].as_array().cloned().unwrap_or_default() {
                let subnet_id = ip["subnet_id"].as_str().unwrap_or_default();
                let bottom_subnet = self
                    .ensure_subnet_copy(pod, &session, project_id, subnet_id, &bottom_net)
                    .await?;
                fixed.push(json!({"subnet_id": bottom_subnet, "ip_address": ip["ip_address"]}));
            }
            // A port moving here from another pod had a shadow here: it goes
            // first, or the pod would refuse the address twice.
            if let Some(shadow) = self
                .store
                .routing_find(&sp.top_port, "shadow_port", pod.pod_id)
                .await
                .map_err(store_err)?
            {
                self.delete_shadow(&shadow).await.map_err(session_err)?;
            }
            let mut body = json!({"name": sp.top_port, "network_id": bottom_net, "fixed_ips": fixed,
                "mac_address": pbody["mac_address"], "admin_state_up": pbody["admin_state_up"]});
            // Its security groups, copied into the pod with their rules.
            let groups: Vec<String> = pbody["security_groups"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            if pbody["port_security_enabled"] == json!(false) {
                body["port_security_enabled"] = json!(false);
                body["security_groups"] = json!([]);
            } else {
                let bottom_groups =
                    self.ensure_security_groups_in_pod(pod, project_id, &groups).await?;
                body["security_groups"] = json!(bottom_groups);
            }
            sp.bottom_port = Some(match routing.bottom_id.clone() {
                Some(b) => b,
                None => {
                    self.make_bottom(pod, &session, ("port", "ports"), &sp.top_port, body, routing)
                        .await?
                }
            });
        }
        // Routers on these networks get their copies in this pod.
        for sp in ports.iter() {
            let net = self
                .store
                .net_object_get("port", &sp.top_port)
                .await
                .ok()
                .flatten()
                .and_then(|p| p.network_id);
            if let Some(net) = net
                && let Ok(routers) = self.routers_on_network(&net).await
            {
                self.sync_routers_recorded(routers).await;
            }
        }
        Ok(())
    }

    /// A server's top ports take `status` (its own went ACTIVE or not).
    pub(crate) async fn mark_server_ports(
        &self,
        project_id: &str,
        server_id: &str,
        status: &str,
    ) -> Result<()> {
        for p in self.ports_of_server(project_id, server_id).await? {
            let mut body = body_of(&p)?;
            if body["status"].as_str() == Some(status) {
                continue;
            }
            body.insert("status".into(), json!(status));
            self.store.net_object_update(&p.id, false, &Value::Object(body).to_string()).await?;
        }
        Ok(())
    }

    /// After the pod took the server: each top port shows what its copy
    /// says (status, host binding). Best effort: a port whose copy cannot be
    /// read keeps its view, and the server is not failed for it.
    pub(crate) async fn refresh_top_ports(
        &self,
        pod: &Pod,
        project_id: &str,
        server_id: &str,
        ports: &[ServerPort],
    ) {
        let Ok(session) = self.pod_project_session(pod, project_id).await else { return };
        for sp in ports {
            let Some(bottom) = &sp.bottom_port else { continue };
            let req = PodRequest::get(ServiceType::Network, format!("/v2.0/ports/{bottom}"));
            let copy: Value = match session.call(&req).await.and_then(|r| r.json()) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(region = %pod.region_name, port = %sp.top_port, error = %e, "reading a port's copy");
                    continue;
                }
            };
            let Ok(Some(top)) = self.store.net_object_get("port", &sp.top_port).await else {
                continue;
            };
            let Ok(mut body) = body_of(&top) else { continue };
            if body["device_id"].as_str() != Some(server_id) {
                continue;
            }
            body.insert("status".into(), copy["port"]["status"].clone());
            body.insert("device_owner".into(), json!(format!("compute:{}", pod.az_name)));
            if let Some(host) = copy["port"]["binding:host_id"].as_str().filter(|h| !h.is_empty()) {
                body.insert("binding:host_id".into(), json!(host));
                body.insert("binding:vif_type".into(), copy["port"]["binding:vif_type"].clone());
            }
            if let Err(e) =
                self.store.net_object_update(&top.id, false, &Value::Object(body).to_string()).await
            {
                tracing::warn!(port = %sp.top_port, error = %e, "refreshing a top port");
            }
        }
    }

    /// Delete the pod's copies of a server's ports (already gone is fine)
    /// and their routings. Networks and subnets stay for other servers.
    pub(crate) async fn unmaterialize_ports(
        &self,
        pod: &Pod,
        project_id: &str,
        server_id: &str,
    ) -> Result<(), StepError> {
        let ports = self.ports_of_server(project_id, server_id).await.map_err(store_err)?;
        if ports.is_empty() {
            return Ok(());
        }
        // The pod's admin: a real Neutron refuses the project its own port
        // while Nova still holds it (the server's delete is asynchronous).
        let session = self.pod_admin_session(pod).await.map_err(session_err)?;
        for p in ports {
            self.unmaterialize_port(pod, &session, &p.id).await?;
        }
        Ok(())
    }

    /// Delete one top port's copy in a pod (as the pod's admin) and its routing.
    pub(crate) async fn unmaterialize_port(
        &self,
        pod: &Pod,
        admin: &PodSession,
        port_id: &str,
    ) -> Result<(), StepError> {
        let Some(r) =
            self.store.routing_find(port_id, "port", pod.pod_id).await.map_err(store_err)?
        else {
            return Ok(());
        };
        let bottoms = match &r.bottom_id {
            Some(b) => vec![b.clone()],
            // Being made, or its maker died after asking the pod: the copy
            // is found by its name (the top port's ID).
            None => super::find_in_pod_by_name(admin, pod, "ports", port_id)
                .await
                .map_err(|e| StepError::retry(e.to_string()))?,
        };
        for b in bottoms {
            let req = PodRequest::new(
                ServiceType::Network,
                reqwest::Method::DELETE,
                format!("/v2.0/ports/{b}"),
            );
            match admin.call(&req).await {
                Ok(_) | Err(PodError::Service { status: 404, .. }) => {}
                Err(e) => return Err(perr(pod)(e)),
            }
        }
        self.store.routing_delete(r.id).await.map_err(store_err)?;
        Ok(())
    }
}
