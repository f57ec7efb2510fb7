//! Network availability zones: one per pod zone, for networks and routers.

use serde_json::{Value, json};
use tricircle_common::{RequestContext, Result};

use super::Caller;
use super::listing::{ListQuery, list_body_of};
use crate::App;

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
}
