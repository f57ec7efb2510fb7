//! The audit of a pod's volumes: orphans deleted, lost ones marked `error`.

use serde_json::Value;
use tricircle_common::Result;
use tricircle_pod_client::{PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::Pod;

use super::{Scope, Tally, is_top_id, list_all};
use crate::App;
use crate::networking::audit::older_than;
use crate::pod_sessions::pod_error;

/// The top ID a pod's volume of the gateway's is named after.
fn gateway_volume(v: &Value) -> Option<&str> {
    v["name"].as_str().filter(|n| is_top_id(n))
}

impl App {
    pub(super) async fn audit_volumes(
        &self,
        pod: &Pod,
        admin: &PodSession,
        scope: &Scope,
        tally: &mut Tally<'_>,
    ) -> Result<()> {
        let listed =
            list_all(admin, pod, ServiceType::BlockStorage, "/volumes/detail", "volumes").await?;
        for v in &listed {
            let (Some(id), Some(top_id)) = (v["id"].as_str(), gateway_volume(v)) else { continue };
            let owner = v["os-vol-tenant-attr:tenant_id"].as_str().unwrap_or_default();
            if !scope.ours.contains_key(owner)
                || scope.known.contains(id)
                || scope.busy(top_id)
                // A delete the gateway asked for, still under way in the pod.
                || v["status"].as_str() == Some("deleting")
                || !older_than(v, scope.cutoff)
            {
                continue;
            }
            if self.claimed_since(pod, "volume", top_id, id).await? {
                continue;
            }
            let req = PodRequest::new(
                ServiceType::BlockStorage,
                reqwest::Method::DELETE,
                format!("/volumes/{id}"),
            );
            match admin.call(&req).await {
                Ok(_) | Err(PodError::Service { status: 404, .. }) => {
                    tally.orphan_deleted("volume", id)
                }
                // Attached, or otherwise busy in the pod: a later run.
                Err(e) => {
                    let e = pod_error(pod, e);
                    tracing::warn!(region = %pod.region_name, bottom_id = id, error = %e, "audit: orphan volume not deleted yet");
                }
            }
        }

        let what = ("volume", ServiceType::BlockStorage, "volumes");
        for row in self.lost_rows(pod, admin, scope, what, &listed).await? {
            // Deleted with its server and being forgotten: not lost.
            if row.status == "deleting" {
                continue;
            }
            let marked = self.volume_mark_lost(&row, pod).await?;
            tally.vanished_marked("volume", &row.id, marked);
        }
        Ok(())
    }
}
