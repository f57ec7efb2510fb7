//! Top ports claimed for a server that does not exist. A server create
//! records its saga before it claims ports, so the runner gives them back
//! after a crash; this pass is the net for what that misses (a job deleted
//! by an admin, or claims older than this scheme).

use std::collections::HashSet;

use serde_json::Value;
use tricircle_common::Result;
use tricircle_store::{NetFilter, Pod};

use super::{Scope, Tally};
use crate::App;

/// The server a top port is claimed for, if it is claimed for one
/// (`compute:*`, not a pod's shadow).
fn claimed_for(body: &Value) -> Option<&str> {
    let owner = body["device_owner"].as_str()?;
    let server = body["device_id"].as_str().filter(|d| !d.is_empty())?;
    (owner.starts_with("compute:") && owner != "compute:shadow").then_some(server)
}

impl App {
    /// Give back the claims older than the grace whose server has no top
    /// row and no job waiting or running. A port with a copy in this pod
    /// loses the copy too; one with a copy in another pod is left to that
    /// pod's audit; one with no copy anywhere is given back by the first
    /// pod's audit that finds it.
    pub(super) async fn release_leaked_claims(
        &self,
        pod: &Pod,
        scope: &Scope,
        tally: &mut Tally<'_>,
    ) -> Result<()> {
        // The top's servers in one read; a candidate is looked up again
        // before it is released (a create may have recorded it meanwhile).
        let servers: HashSet<String> =
            self.store.resource_places("server", None).await?.into_iter().map(|p| p.id).collect();
        for p in self.store.net_object_list("port", &NetFilter::default()).await? {
            if p.updated_at >= scope.cutoff {
                continue;
            }
            let Ok(body) = serde_json::from_str::<Value>(&p.body) else { continue };
            let Some(server) = claimed_for(&body) else { continue };
            if servers.contains(server)
                || scope.live_jobs.contains(server)
                || self.store.resource_get(server).await?.is_some()
            {
                continue;
            }
            let copies = self.store.routing_list_for_top(&p.id, "port").await?;
            if copies.iter().any(|r| r.pod_id != pod.pod_id) {
                continue;
            }
            if !copies.is_empty() {
                let admin = self.pod_admin_session(pod).await?;
                if let Err(e) = self.unmaterialize_port(pod, &admin, &p.id).await {
                    tracing::warn!(region = %pod.region_name, port_id = %p.id, error = %e.message, "audit: a leaked port's copy not deleted yet");
                    continue;
                }
            }
            self.release_port(&p, server).await?;
            tally.port_released(&p.id, server);
        }
        Ok(())
    }
}
