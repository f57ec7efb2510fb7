//! Attaching volumes to servers (Nova's `os-volume_attachments`): both must
//! live in the same pod; the pod's Nova does the rest.

use serde_json::{Value, json};
use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_pod_client::{Microversion, PodRequest, ServiceType};
use tricircle_store::Pod;

use super::{relay, volume_not_found};
use crate::App;

fn server_not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("Instance {} could not be found.", tricircle_common::ids::truncate_for_message(id)),
    )
}

impl App {
    fn attachment_to_top(&self, a: &Value, server_id: &str, volume_id: &str) -> Value {
        let mut v = a.clone();
        v["id"] = json!(volume_id);
        v["volumeId"] = json!(volume_id);
        v["serverId"] = json!(server_id);
        v
    }

    async fn server_pod_session(
        &self,
        ctx: &RequestContext,
        server_id: &str,
    ) -> Result<(tricircle_store::ResourceRow, Pod, String)> {
        let (row, pod) = self
            .placed(ctx, server_id, "server")
            .await?
            .ok_or_else(|| server_not_found(server_id))?;
        let bottom = self.bottom_of(&row.id, "server", &pod).await?.ok_or_else(|| {
            Error::conflict(format!(
                "Cannot attach volumes to instance {server_id} while it is being built."
            ))
        })?;
        Ok((row, pod, bottom))
    }

    pub async fn volume_attach(
        &self,
        ctx: &RequestContext,
        server_id: &str,
        volume_id: &str,
        device: Option<&str>,
        mv: Option<Microversion>,
    ) -> Result<Value> {
        let (server, spod, sbottom) = self.server_pod_session(ctx, server_id).await?;
        let (vol, vpod) = self
            .placed(ctx, volume_id, "volume")
            .await?
            .ok_or_else(|| volume_not_found(volume_id))?;
        if vpod.pod_id != spod.pod_id {
            return Err(Error::conflict(format!(
                "Volume {volume_id} is in region {} (availability zone {}) but server {server_id} is in region {} (availability zone {}); a volume can only be attached to a server in the same region.",
                vpod.region_name, vpod.az_name, spod.region_name, spod.az_name
            )));
        }
        let vbottom = self.bottom_of(&vol.id, "volume", &vpod).await?.ok_or_else(|| {
            Error::conflict(format!("Volume {volume_id} is still being created."))
        })?;
        let session = self.pod_project_session(&spod, &server.project_id).await?;
        let mut att = json!({"volumeId": vbottom});
        if let Some(d) = device {
            att["device"] = json!(d);
        }
        let mut req = PodRequest::new(
            ServiceType::Compute,
            reqwest::Method::POST,
            format!("/servers/{sbottom}/os-volume_attachments"),
        )
        .with_body(json!({"volumeAttachment": att}))
        .with_request_id(ctx.request_id.as_str());
        if let Some(mv) = mv {
            req = req.with_microversion(
                session
                    .negotiate(ServiceType::Compute, mv)
                    .await
                    .map_err(|e| crate::pod_sessions::pod_error(&spod, e))?,
            );
        }
        let (_, body) = relay(session.call(&req).await, &spod)?;
        Ok(self.attachment_to_top(&body["volumeAttachment"], server_id, volume_id))
    }

    pub async fn volume_attachments(
        &self,
        ctx: &RequestContext,
        server_id: &str,
        mv: Option<Microversion>,
    ) -> Result<Vec<Value>> {
        let (server, pod, sbottom) = self.server_pod_session(ctx, server_id).await?;
        let session = self.pod_project_session(&pod, &server.project_id).await?;
        let mut req = PodRequest::get(
            ServiceType::Compute,
            format!("/servers/{sbottom}/os-volume_attachments"),
        );
        if let Some(mv) = mv {
            req = req.with_microversion(
                session
                    .negotiate(ServiceType::Compute, mv)
                    .await
                    .map_err(|e| crate::pod_sessions::pod_error(&pod, e))?,
            );
        }
        let (_, body) = relay(session.call(&req).await, &pod)?;
        let volumes: std::collections::HashMap<String, String> = self
            .store
            .routing_list_in_pod("volume", pod.pod_id)
            .await?
            .into_iter()
            .filter_map(|r| r.bottom_id.map(|b| (b, r.top_id)))
            .collect();
        Ok(body["volumeAttachments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let top = volumes.get(a["volumeId"].as_str()?)?;
                Some(self.attachment_to_top(a, server_id, top))
            })
            .collect())
    }

    pub async fn volume_detach(
        &self,
        ctx: &RequestContext,
        server_id: &str,
        volume_id: &str,
    ) -> Result<()> {
        let (server, pod, sbottom) = self.server_pod_session(ctx, server_id).await?;
        let (vol, _) = self
            .placed(ctx, volume_id, "volume")
            .await?
            .ok_or_else(|| volume_not_found(volume_id))?;
        let vbottom = self
            .bottom_of(&vol.id, "volume", &pod)
            .await?
            .ok_or_else(|| volume_not_found(volume_id))?;
        let session = self.pod_project_session(&pod, &server.project_id).await?;
        let req = PodRequest::new(
            ServiceType::Compute,
            reqwest::Method::DELETE,
            format!("/servers/{sbottom}/os-volume_attachments/{vbottom}"),
        );
        relay(session.call(&req).await, &pod)?;
        Ok(())
    }
}
