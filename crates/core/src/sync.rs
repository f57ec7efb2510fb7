//! The periodic refresh of cached summaries: every resource's status and
//! view is read again from its pod, so listings for a pod that later goes
//! down, quota counts and audits do not work from stale data. It is the same
//! code path as a read (one call per pod and project), run with the
//! gateway's own admin context. Beside it, the networking reconcile
//! finishes what a change could not (a pod that was away).

use std::collections::BTreeSet;

use tricircle_common::{AuthContext, RequestContext, RequestId, Result};
use tricircle_store::{NetFilter, Page, RoutingFilter};

use tricircle_jobs::JobKind;
use tricircle_jobs::kinds::{FLOATING_IP_SYNC, NETWORK_SYNC, ROUTER_SYNC, SECURITY_GROUP_SYNC};

use crate::App;
use crate::compute::ServerListQuery;

impl App {
    pub async fn refresh_summaries(&self) -> Result<usize> {
        let ctx = RequestContext {
            request_id: RequestId::new(),
            auth: AuthContext {
                user_id: "tricircle-sync".into(),
                user_name: "tricircle-sync".into(),
                project_id: None,
                roles: vec!["admin".into()],
            },
        };
        let q = ServerListQuery { all_tenants: true, limit: u32::MAX, ..Default::default() };
        let servers = self.server_list_read_all(&ctx, q).await?.servers.len();
        let volumes = self.volume_list(&ctx, true, None).await?.len();
        Ok(servers + volumes)
    }
}

impl App {
    /// The periodic reconcile of networking in pods: every network's shadow
    /// ports and copies (also of networks deleted at the top whose copies a
    /// failed pod kept), every security group's copies. What a change could
    /// not finish at once (a pod was away) is finished here. Returns how
    /// many networks and groups it went over.
    pub async fn reconcile_networking(&self) -> Result<usize> {
        let routings = |kind: &'static str| RoutingFilter {
            resource_type: Some(kind.into()),
            ..Default::default()
        };
        let page = Page { limit: 100_000, marker: None };
        let top_networks = self.store.net_object_list("network", &NetFilter::default()).await?;
        let mut networks: BTreeSet<String> = top_networks.iter().map(|n| n.id.clone()).collect();
        for r in self.store.routing_list(&routings("network"), &page).await? {
            networks.insert(r.top_id);
        }
        let mut n = networks.len();
        if let Err(e) = self.delete_orphan_shadows().await {
            tracing::warn!(error = %e, "orphan shadow ports not swept yet");
        }
        self.sync_each(&NETWORK_SYNC, networks).await;
        let mut routers: BTreeSet<String> = self
            .store
            .net_object_list("router", &NetFilter::default())
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        for r in self.store.routing_list(&routings("router"), &page).await? {
            routers.insert(r.top_id);
        }
        n += routers.len();
        self.sync_each(&ROUTER_SYNC, routers).await;
        // Bridge networks no router uses any more (their last router's sync
        // may have failed before it could remove them).
        for net in &top_networks {
            let project = crate::networking::bridges::bridge_project_of(net);
            if let Some(p) = project
                && let Err(e) = self.bridge_network_gc(&p).await
            {
                tracing::warn!(network = %net.id, error = %e, "unused bridge network not removed yet");
            }
        }
        let mut floating: BTreeSet<String> = self
            .store
            .net_object_list("floatingip", &NetFilter::default())
            .await?
            .into_iter()
            .map(|f| f.id)
            .collect();
        for r in self.store.routing_list(&routings("floatingip"), &page).await? {
            floating.insert(r.top_id);
        }
        n += floating.len();
        self.sync_each(&FLOATING_IP_SYNC, floating).await;
        let groups: BTreeSet<String> = self
            .store
            .routing_list(&routings("security_group"), &page)
            .await?
            .into_iter()
            .map(|r| r.top_id)
            .collect();
        n += groups.len();
        self.sync_each(&SECURITY_GROUP_SYNC, groups).await;
        Ok(n)
    }

    /// Run each sync directly (not recorded: see `sync_jobs`), logging
    /// what a pod refused; the next pass tries again.
    async fn sync_each(&self, kind: &JobKind, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if let Err(e) = self.run_sync(kind, &id).await {
                tracing::warn!(kind = kind.name, id, error = %e, "not in sync yet");
            }
        }
    }
}
