//! `os-interface`: a server's network interfaces are its top ports. Listing
//! and showing read them at the top (so no pod ID reaches the client);
//! attaching claims a top port (on a network, or the caller's own port),
//! makes its copy in the server's pod and asks the pod's Nova to attach
//! it; detaching asks the pod's Nova, removes the copy and gives the top
//! port back (deleted when made for the server). Shadow ports follow.

use serde_json::{Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_pod_client::{PodError, PodRequest, ServiceType};
use tricircle_store::NetObject;

use crate::App;
use crate::networking::server_ports::ServerPort;
use crate::pod_sessions::pod_error;

fn attachment(p: &NetObject) -> Result<Value> {
    let b: Value = serde_json::from_str(&p.body).map_err(Error::internal)?;
    Ok(json!({
        "port_id": p.id,
        "net_id": p.network_id,
        "mac_addr": b["mac_address"],
        "port_state": b["status"],
        "fixed_ips": b["fixed_ips"],
        "tag": null,
    }))
}

fn step(e: tricircle_jobs::StepError) -> Error {
    if e.retryable {
        Error::unavailable(
            "A region did not answer while attaching the interface; retry.",
            e.message,
        )
    } else {
        Error::conflict(e.message)
    }
}

impl App {
    pub async fn interface_list(&self, ctx: &RequestContext, server: &str) -> Result<Value> {
        let (row, _pod) = self.server_row(ctx, server).await?;
        let ports = self.ports_of_server(&row.project_id, &row.id).await?;
        let list = ports.iter().map(attachment).collect::<Result<Vec<_>>>()?;
        Ok(json!({"interfaceAttachments": list}))
    }

    pub async fn interface_show(
        &self,
        ctx: &RequestContext,
        server: &str,
        port: &str,
    ) -> Result<Value> {
        let (row, _pod) = self.server_row(ctx, server).await?;
        let ports = self.ports_of_server(&row.project_id, &row.id).await?;
        let p = ports.iter().find(|p| p.id == port).ok_or_else(|| {
            Error::not_found("Port", tricircle_common::ids::truncate_for_message(port))
        })?;
        Ok(json!({"interfaceAttachment": attachment(p)?}))
    }

    /// `POST os-interface` with `{"interfaceAttachment": {"net_id" | "port_id", "fixed_ips"}}`.
    pub async fn interface_attach(
        &self,
        ctx: &RequestContext,
        server: &str,
        body: &Value,
    ) -> Result<Value> {
        let (row, pod) = self.server_row(ctx, server).await?;
        let a = body.get("interfaceAttachment").and_then(Value::as_object).ok_or_else(|| {
            Error::bad_request(
                "Invalid input for field/attribute interfaceAttachment: it is required.",
            )
        })?;
        let entry = match (
            a.get("port_id").and_then(Value::as_str),
            a.get("net_id").and_then(Value::as_str),
        ) {
            (Some(_), Some(_)) => {
                return Err(Error::bad_request("Must not input both network_id and port_id"));
            }
            (Some(p), None) => json!({"port": p}),
            (None, Some(n)) => {
                let mut e = json!({"uuid": n});
                if let Some(ip) = a.get("fixed_ips").and_then(|f| f[0]["ip_address"].as_str()) {
                    e["fixed_ip"] = json!(ip);
                }
                e
            }
            // Nova would pick "the" network; the top does not guess.
            (None, None) => {
                return Err(Error::bad_request(
                    "Specify net_id or port_id to attach an interface.",
                ));
            }
        };
        let bottom_server = self
            .bottom_of(&row.id, "server", &pod)
            .await?
            .ok_or_else(|| Error::conflict(format!("Instance {server} is still being built.")))?;
        let claimed = self.claim_one(ctx, &row.id, &entry, None).await?;
        let mut ports = vec![claimed.clone()];
        let result = async {
            self.materialize_ports(&pod, &row.project_id, &mut ports).await.map_err(step)?;
            let bottom_port = ports[0].bottom_port.clone().unwrap_or_default();
            let session = self.pod_project_session(&pod, &row.project_id).await?;
            let req = PodRequest::new(
                ServiceType::Compute,
                reqwest::Method::POST,
                format!("/servers/{bottom_server}/os-interface"),
            )
            .with_body(json!({"interfaceAttachment": {"port_id": bottom_port}}));
            match session.call(&req).await {
                Ok(_) => Ok(()),
                Err(PodError::Service { status, message, .. }) if (400..500).contains(&status) => {
                    Err(Error::conflict(format!(
                        "Region {} refused the interface: {message}",
                        pod.region_name
                    )))
                }
                Err(e) => Err(pod_error(&pod, e)),
            }
        }
        .await;
        if let Err(e) = result {
            self.undo_attach(&pod, &row.project_id, &row.id, &claimed).await;
            return Err(e);
        }
        self.refresh_top_ports(&pod, &row.project_id, &row.id, &ports).await;
        self.mark_server_ports(&row.project_id, &row.id, "ACTIVE").await?;
        if let Some(net) =
            self.store.net_object_get("port", &claimed.top_port).await?.and_then(|p| p.network_id)
        {
            self.sync_networks_recorded([net]).await;
        }
        self.interface_show(ctx, server, &claimed.top_port).await
    }

    /// Take back what a failed attach made: the pod's copy, the top port.
    async fn undo_attach(
        &self,
        pod: &tricircle_store::Pod,
        project: &str,
        server: &str,
        claimed: &ServerPort,
    ) {
        if let Ok(admin) = self.pod_admin_session(pod).await
            && let Err(e) = self.unmaterialize_port(pod, &admin, &claimed.top_port).await
        {
            tracing::warn!(region = %pod.region_name, port = %claimed.top_port, error = %e.message, "undoing an interface attach");
        }
        if let Ok(Some(p)) = self.store.net_object_get("port", &claimed.top_port).await
            && let Err(e) = self.release_port(&p, server).await
        {
            tracing::warn!(port = %claimed.top_port, project, error = %e, "giving back a port");
        }
    }

    /// `DELETE os-interface/{port}`.
    pub async fn interface_detach(
        &self,
        ctx: &RequestContext,
        server: &str,
        port: &str,
    ) -> Result<()> {
        let (row, pod) = self.server_row(ctx, server).await?;
        let ports = self.ports_of_server(&row.project_id, &row.id).await?;
        let p = ports.iter().find(|p| p.id == port).ok_or_else(|| {
            Error::not_found("Port", tricircle_common::ids::truncate_for_message(port))
        })?;
        let bottom_server = self.bottom_of(&row.id, "server", &pod).await?;
        let bottom_port =
            self.store.routing_find(port, "port", pod.pod_id).await?.and_then(|r| r.bottom_id);
        if let (Some(bs), Some(bp)) = (bottom_server, bottom_port) {
            let session = self.pod_project_session(&pod, &row.project_id).await?;
            let req = PodRequest::new(
                ServiceType::Compute,
                reqwest::Method::DELETE,
                format!("/servers/{bs}/os-interface/{bp}"),
            );
            match session.call(&req).await {
                Ok(_) | Err(PodError::Service { status: 404, .. }) => {}
                Err(e) => return Err(pod_error(&pod, e)),
            }
        }
        let admin = self.pod_admin_session(&pod).await?;
        self.unmaterialize_port(&pod, &admin, port).await.map_err(step)?;
        let network = p.network_id.clone();
        self.release_port(p, &row.id).await?;
        if let Some(net) = network {
            self.sync_networks_recorded([net]).await;
        }
        Ok(())
    }
}
