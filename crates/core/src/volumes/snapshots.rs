//! Volume snapshots: made in the volume's pod, named after their top ID.

use serde_json::{Value, json};
use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_pod_client::{Microversion, PodError, PodRequest, ServiceType};
use tricircle_store::{NewRouting, ResourceRow, RoutingPatch, now};

use super::{VolumeFacts, create::VolumeDelete, relay, volume_mv, volume_not_found};
use crate::App;
use crate::pod_sessions::pod_error;

fn snapshot_not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("Snapshot {} could not be found.", tricircle_common::ids::truncate_for_message(id)),
    )
}

impl App {
    fn snapshot_to_top(&self, bottom: &Value, row: &ResourceRow) -> Value {
        let facts = VolumeFacts::of(row);
        let mut v = bottom.clone();
        v["id"] = json!(row.id);
        v["name"] = json!(row.name);
        v["volume_id"] = json!(facts.volume_id);
        if v.get("os-extended-snapshot-attributes:project_id").is_some() {
            v["os-extended-snapshot-attributes:project_id"] = json!(row.project_id);
        }
        if let Some(o) = v.as_object_mut() {
            o.remove("links");
        }
        v
    }

    pub async fn snapshot_create(
        &self,
        ctx: &RequestContext,
        volume_id: &str,
        name: Option<String>,
        description: Option<String>,
        force: bool,
        mv: Option<Microversion>,
    ) -> Result<(u16, Value)> {
        let (vol, pod) = self
            .placed(ctx, volume_id, "volume")
            .await?
            .ok_or_else(|| volume_not_found(volume_id))?;
        let bottom_vol = self.bottom_of(&vol.id, "volume", &pod).await?.ok_or_else(|| {
            Error::conflict(format!("Volume {volume_id} is still being created."))
        })?;
        let top_id = uuid::Uuid::new_v4().to_string();
        let routing = self
            .store
            .routing_create(&NewRouting {
                top_id: top_id.clone(),
                bottom_id: None,
                pod_id: pod.pod_id,
                project_id: vol.project_id.clone(),
                resource_type: "snapshot".into(),
            })
            .await?;
        let session = self.pod_project_session(&pod, &vol.project_id).await?;
        let mut body = json!({"snapshot": {"volume_id": bottom_vol, "name": top_id, "description": description}});
        if force {
            body["snapshot"]["force"] = json!(true);
        }
        let mut req =
            PodRequest::new(ServiceType::BlockStorage, reqwest::Method::POST, "/snapshots")
                .with_body(body);
        if let Some(mv) = volume_mv(&session, &pod, mv).await? {
            req = req.with_microversion(mv);
        }
        let created = match relay(session.call(&req).await, &pod) {
            Ok((status, created)) => (status, created),
            Err(e) => {
                self.store.routing_delete(routing.id).await?;
                return Err(e);
            }
        };
        let bottom = created.1["snapshot"]["id"].as_str().unwrap_or_default().to_string();
        self.store
            .routing_update(
                routing.id,
                &RoutingPatch { bottom_id: Some(Some(bottom)), ..Default::default() },
            )
            .await?;
        let t = now();
        let facts = VolumeFacts { volume_id: Some(vol.id.clone()), ..Default::default() };
        let row = ResourceRow {
            id: top_id.clone(),
            resource_type: "snapshot".into(),
            project_id: vol.project_id.clone(),
            user_id: ctx.auth.user_id.clone(),
            pod_id: Some(pod.pod_id.to_string()),
            name: name.unwrap_or_default(),
            status: "creating".into(),
            summary: serde_json::to_string(&facts).map_err(Error::internal)?,
            created_at: t,
            updated_at: t,
        };
        self.store.resource_insert(&row).await?;
        Ok((created.0, json!({"snapshot": self.snapshot_to_top(&created.1["snapshot"], &row)})))
    }

    pub async fn snapshot_show(
        &self,
        ctx: &RequestContext,
        id: &str,
        mv: Option<Microversion>,
    ) -> Result<Value> {
        let (row, pod) =
            self.placed(ctx, id, "snapshot").await?.ok_or_else(|| snapshot_not_found(id))?;
        let bottom = self
            .bottom_of(&row.id, "snapshot", &pod)
            .await?
            .ok_or_else(|| snapshot_not_found(id))?;
        let session = self.pod_project_session(&pod, &row.project_id).await?;
        let mut req = PodRequest::get(ServiceType::BlockStorage, format!("/snapshots/{bottom}"));
        if let Some(mv) = volume_mv(&session, &pod, mv).await? {
            req = req.with_microversion(mv);
        }
        match session.call(&req).await {
            Ok(resp) => {
                let body: Value = resp.json().map_err(|e| pod_error(&pod, e))?;
                let view = self.snapshot_to_top(&body["snapshot"], &row);
                let status = view["status"].as_str().unwrap_or(&row.status).to_string();
                self.store.resource_refresh(&row.id, &row.name, &status, &row.summary).await?;
                Ok(view)
            }
            Err(PodError::Service { status: 404, .. }) => Err(snapshot_not_found(id)),
            Err(e) => Err(pod_error(&pod, e)),
        }
    }

    pub async fn snapshot_list(
        &self,
        ctx: &RequestContext,
        mv: Option<Microversion>,
    ) -> Result<Vec<Value>> {
        let project = crate::compute::project_of_pub(ctx)?;
        let mut out = Vec::new();
        for row in self.store.resource_list("snapshot", Some(project)).await? {
            match self.snapshot_show(ctx, &row.id, mv).await {
                Ok(v) => out.push(v),
                Err(e) if e.status() == 503 => {
                    out.push(json!({"id": row.id, "name": row.name, "status": row.status}))
                }
                Err(e) if e.status() == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub async fn snapshot_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let (row, pod) =
            self.placed(ctx, id, "snapshot").await?.ok_or_else(|| snapshot_not_found(id))?;
        let state = VolumeDelete {
            top_id: row.id.clone(),
            project_id: row.project_id.clone(),
            pod_id: pod.pod_id,
            resource_type: "snapshot".into(),
        };
        self.run_inline(&row.project_id, state, &pod).await?;
        Ok(())
    }
}
