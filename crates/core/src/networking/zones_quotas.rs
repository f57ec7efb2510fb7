//! Network availability zones (one per pod zone, for networks and routers)
//! and the project's network quotas as Neutron reports them (its default
//! limits, with what the project uses at the top).

use serde_json::{Map, Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_store::NetFilter;

use super::Caller;
use super::listing::{ListQuery, list_body_of};
use crate::App;

/// Neutron's default quotas (`[quotas]` in neutron.conf); -1 is unlimited.
const DEFAULT_QUOTAS: &[(&str, i64)] = &[
    ("network", 100),
    ("subnet", 100),
    ("port", 500),
    ("router", 10),
    ("floatingip", 50),
    ("security_group", 10),
    ("security_group_rule", 100),
    ("rbac_policy", 10),
    ("subnetpool", -1),
];

const ZONE_ATTRIBUTES: &[&str] = &["name", "resource", "state"];

impl App {
    /// `GET /availability_zones`: each pod zone, for networks and routers.
    pub async fn network_zone_list(
        &self,
        ctx: &RequestContext,
        q: &ListQuery,
        link_base: &str,
    ) -> Result<Value> {
        Caller::of(ctx)?;
        let mut views = Vec::new();
        for zone in self.availability_zones().await? {
            let state = if zone.available { "available" } else { "unavailable" };
            for resource in ["network", "router"] {
                views.push(json!({"name": zone.name, "resource": resource, "state": state}));
            }
        }
        let mut body = list_body_of(
            "availability_zones",
            ZONE_ATTRIBUTES,
            views,
            q,
            link_base,
            self.settings.pagination_max_limit,
        )?;
        // Zones have no IDs: no paging links.
        if let Some(m) = body.as_object_mut() {
            m.remove("availability_zones_links");
        }
        Ok(body)
    }

    /// `GET /quotas/{project}` (and `/details` with usage): a member reads
    /// its own project's, an admin any project's.
    pub async fn network_quota_show(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        details: bool,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        if !caller.is_admin && caller.project_id != project_id {
            return Err(Error::forbidden(
                "(rule:get_quota) is disallowed by policy: a member reads its own project's quotas.",
            )
            .with_type("PolicyNotAuthorized"));
        }
        let mut quota = Map::new();
        for (resource, limit) in DEFAULT_QUOTAS {
            if !details {
                quota.insert((*resource).into(), json!(limit));
                continue;
            }
            let used = match *resource {
                "network"
                | "subnet"
                | "port"
                | "router"
                | "security_group"
                | "security_group_rule" => {
                    let filter = NetFilter { project_id: Some(project_id), ..Default::default() };
                    let mine = self.store.net_object_list(resource, &filter).await?;
                    mine.into_iter().filter(|o| o.project_id == project_id).count()
                }
                _ => 0,
            };
            quota.insert((*resource).into(), json!({"limit": limit, "used": used, "reserved": 0}));
        }
        Ok(json!({"quota": quota}))
    }
}
