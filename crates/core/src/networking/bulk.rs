//! Bulk creates, as Neutron's API offers them: `POST /networks` with
//! `{"networks": [{...}, {...}]}` makes them all, in order, or none. The
//! batch is checked against the quota as a whole first; then each object
//! is made by the resource's own create, so a bulk object is exactly what
//! a single create would have made; when one fails, those already made are
//! deleted again and the failing one's error is the answer.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tricircle_common::{Error, RequestContext, Result};

use super::{Caller, bad, body_object, str_field, target_project};
use crate::App;

/// What may be created in bulk (each by its own create).
const BULK_KINDS: &[&str] =
    &["network", "subnet", "port", "security_group", "security_group_rule", "router"];

impl App {
    /// Create every object of `items` (the list under the plural key), all
    /// or none; their views in order.
    pub async fn network_bulk_create(
        &self,
        ctx: &RequestContext,
        kind: &str,
        items: &Value,
    ) -> Result<Vec<Value>> {
        let caller = Caller::of(ctx)?;
        if !BULK_KINDS.contains(&kind) {
            return Err(bad(format!(
                "Bulk operation not supported for {kind}: create them one by one."
            )));
        }
        let items = items
            .as_array()
            .ok_or_else(|| bad(format!("Invalid input: the {kind} bulk body must be a list.")))?;
        if items.is_empty() {
            return Err(bad("Resources required: the list is empty."));
        }
        // Each element is the object itself or, as Neutron also takes it,
        // wrapped under the singular key.
        let bodies: Vec<Value> = items
            .iter()
            .map(|item| match item.as_object() {
                Some(m) if m.len() == 1 && m.get(kind).is_some_and(Value::is_object) => {
                    item.clone()
                }
                _ => json!({ kind: item }),
            })
            .collect();

        let mut per_project: BTreeMap<String, usize> = BTreeMap::new();
        for body in &bodies {
            if let Some(p) = self.bulk_owner(&caller, kind, body).await? {
                *per_project.entry(p).or_default() += 1;
            }
        }
        for (project, n) in &per_project {
            self.check_network_quota(project, kind, *n).await?;
        }

        let mut made: Vec<Value> = Vec::with_capacity(bodies.len());
        for body in &bodies {
            match self.create_one(ctx, kind, body).await {
                Ok(v) => made.push(v),
                Err(e) => {
                    self.undo_bulk(ctx, kind, &made).await;
                    return Err(e);
                }
            }
        }
        Ok(made)
    }

    /// The project whose quota an element of a bulk create counts against:
    /// a rule counts against its group's owner. `None` when that cannot be
    /// told yet (an unknown group): its own create refuses it then.
    async fn bulk_owner(
        &self,
        caller: &Caller<'_>,
        kind: &str,
        body: &Value,
    ) -> Result<Option<String>> {
        let b = body_object(body, kind)?;
        if kind != "security_group_rule" {
            return target_project(caller, b).map(Some);
        }
        let Some(group_id) = str_field(b, "security_group_id")? else {
            return Ok(None);
        };
        Ok(self
            .store
            .net_object_get("security_group", &group_id)
            .await?
            .filter(|g| caller.owns(g))
            .map(|g| g.project_id))
    }

    async fn create_one(&self, ctx: &RequestContext, kind: &str, body: &Value) -> Result<Value> {
        match kind {
            "network" => self.network_create(ctx, body).await,
            "subnet" => self.subnet_create(ctx, body).await,
            "port" => self.port_create(ctx, body).await,
            "security_group" => self.security_group_create(ctx, body).await,
            "security_group_rule" => self.security_group_rule_create(ctx, body).await,
            "router" => self.router_create(ctx, body).await,
            other => Err(Error::internal(format!("no bulk create for {other}"))),
        }
    }

    /// Delete what a failed bulk create made, newest first. Best effort: an
    /// object someone changed meanwhile (a port on a new network) stays, and
    /// the log says so.
    async fn undo_bulk(&self, ctx: &RequestContext, kind: &str, made: &[Value]) {
        for v in made.iter().rev() {
            let Some(id) = v["id"].as_str() else { continue };
            let done = match kind {
                "network" => self.network_delete(ctx, id).await,
                "subnet" => self.subnet_delete(ctx, id).await,
                "port" => self.port_delete(ctx, id).await,
                "security_group" => self.security_group_delete(ctx, id).await,
                "security_group_rule" => self.security_group_rule_delete(ctx, id).await,
                _ => self.router_delete(ctx, id).await,
            };
            if let Err(e) = done {
                tracing::warn!(kind, id, error = %e, "a failed bulk create left this object behind");
            }
        }
    }
}
