//! The audit of a pod's servers: orphans deleted (with what the delete
//! saga would take with them), lost ones marked ERROR.

use serde_json::Value;
use tricircle_common::Result;
use tricircle_pod_client::{PodSession, ServiceType};
use tricircle_store::Pod;

use super::{Scope, Tally, is_top_id, list_all};
use crate::App;
use crate::compute::server_bottom::delete_server_in_pod;
use crate::networking::audit::older_than;

/// The top ID a pod's server of the gateway's is named after: its name is a
/// top ID and the gateway's metadata key says the same (a server someone
/// merely named with a UUID is not taken for the gateway's).
fn gateway_server(s: &Value) -> Option<&str> {
    let name = s["name"].as_str().filter(|n| is_top_id(n))?;
    let key = crate::compute::translate::metadata_key();
    (s["metadata"][key].as_str() == Some(name)).then_some(name)
}

/// Whether the pod is deleting the server already (a delete the gateway
/// asked for, its routing gone, while Nova finishes).
fn being_deleted(s: &Value) -> bool {
    s["OS-EXT-STS:task_state"].as_str() == Some("deleting")
        || matches!(s["status"].as_str(), Some("DELETED" | "SOFT_DELETED"))
}

impl App {
    pub(super) async fn audit_servers(
        &self,
        pod: &Pod,
        admin: &PodSession,
        scope: &Scope,
        tally: &mut Tally<'_>,
    ) -> Result<()> {
        let listed =
            list_all(admin, pod, ServiceType::Compute, "/servers/detail", "servers").await?;
        for s in &listed {
            let (Some(id), Some(top_id)) = (s["id"].as_str(), gateway_server(s)) else { continue };
            let owner = s["tenant_id"].as_str().unwrap_or_default();
            let Some(top_project) = scope.ours.get(owner) else { continue };
            if scope.known.contains(id)
                || scope.busy(top_id)
                || being_deleted(s)
                || !older_than(s, scope.cutoff)
            {
                continue;
            }
            if self.claimed_since(pod, "server", top_id, id).await? {
                continue;
            }
            // One server the pod will not let go does not stop the audit.
            match self.delete_orphan_server(pod, admin, id, top_id, top_project, tally).await {
                Ok(()) => tally.orphan_deleted("server", id),
                Err(why) => {
                    tracing::warn!(region = %pod.region_name, bottom_id = id, error = %why, "audit: orphan server not deleted yet");
                }
            }
        }

        let what = ("server", ServiceType::Compute, "servers");
        for row in self.lost_rows(pod, admin, scope, what, &listed).await? {
            let marked = self.server_mark_lost(&row, pod).await?;
            tally.vanished_marked("server", &row.id, marked);
        }
        Ok(())
    }

    /// Delete an orphan server as the delete saga does: the pod's server
    /// (and the top volumes its Nova deletes with it); then, when the top
    /// has no such server, its top ports: their copies in this pod and the
    /// claims. A twin of a live top server leaves the ports to that server.
    /// The error is for the log only.
    async fn delete_orphan_server(
        &self,
        pod: &Pod,
        admin: &PodSession,
        bottom_id: &str,
        top_id: &str,
        top_project: &str,
        tally: &mut Tally<'_>,
    ) -> std::result::Result<(), String> {
        delete_server_in_pod(self, admin, pod, bottom_id).await.map_err(|e| e.message)?;
        if self.store.resource_get(top_id).await.map_err(|e| e.to_string())?.is_some() {
            return Ok(());
        }
        let ports = self.ports_of_server(top_project, top_id).await.map_err(|e| e.to_string())?;
        if ports.is_empty() {
            return Ok(());
        }
        let networks: Vec<String> = ports.iter().filter_map(|p| p.network_id.clone()).collect();
        self.unmaterialize_ports(pod, top_project, top_id).await.map_err(|e| e.message)?;
        for p in &ports {
            self.release_port(p, top_id).await.map_err(|e| e.to_string())?;
            tally.port_released(&p.id, top_id);
        }
        self.sync_networks_recorded(networks).await;
        Ok(())
    }
}
