//! The periodic refresh of cached summaries: every resource's status and
//! view is read again from its pod, so listings for a pod that later goes
//! down, quota counts and audits do not work from stale data. It is the same
//! code path as a read (one call per pod and project), run with the
//! gateway's own admin context.

use tricircle_common::{AuthContext, RequestContext, RequestId, Result};

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
