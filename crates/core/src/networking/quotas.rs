//! The top Neutron's quotas: Neutron's defaults, overridden per project by
//! an admin (stored at the top, so every pod's resources count against one
//! limit), and enforced when the top creates an object.
//!
//! Usage is what the project owns in the top store. Objects the gateway
//! makes for itself are owned by project `""` (router gateway ports, as in
//! Neutron), so they count against nobody. What Neutron's plugins make past
//! the API's check is not checked here either but counts: a router's
//! interface ports, the project's `default` group with its rules, and the
//! egress rules a new group comes with.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tricircle_common::{Error, RequestContext, Result};

use super::{Caller, bad, body_object, bool_field, known_attributes, policy, short};
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

/// The `service` of Neutron's rows in the shared quota table.
const SERVICE: &str = "network";

/// What a quota update may carry besides limits.
const OPTIONS: &[&str] = &["force", "check_limit", "project_id", "tenant_id"];

/// Neutron's largest limit (its database column is a 32-bit integer).
const MAX_LIMIT: i64 = i32::MAX as i64;

/// Neutron's refusal of a create over quota (409).
fn over_quota(resource: &str) -> Error {
    Error::conflict(format!("Quota exceeded for resources: ['{resource}'].")).with_type("OverQuota")
}

/// A project may read its own quotas; another project's are the admin's.
fn may_read(caller: &Caller<'_>, project_id: &str) -> Result<()> {
    if caller.is_admin || caller.project_id == project_id {
        return Ok(());
    }
    Err(Error::forbidden(
        "(rule:get_quota) is disallowed by policy: a member reads its own project's quotas.",
    )
    .with_type("PolicyNotAuthorized"))
}

/// A limit from a request: an integer (or its text) from -1 up.
fn limit_of(resource: &str, v: &Value) -> Result<i64> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        bad(format!("Invalid input for {resource}. Reason: '{}' is not an integer.", short(v)))
    })?;
    if !(-1..=MAX_LIMIT).contains(&n) {
        return Err(bad(format!(
            "Invalid input for {resource}. Reason: '{n}' is not in range -1 (unlimited) through {MAX_LIMIT}."
        )));
    }
    Ok(n)
}

impl App {
    /// A project's limits: the defaults with what an admin set over them.
    async fn network_limits(&self, project_id: &str) -> Result<BTreeMap<&'static str, i64>> {
        let mut limits: BTreeMap<&'static str, i64> = DEFAULT_QUOTAS.iter().copied().collect();
        for row in self.store.quota_get(SERVICE, project_id).await? {
            if let Some((name, _)) = DEFAULT_QUOTAS.iter().find(|(r, _)| *r == row.resource) {
                limits.insert(name, row.hard_limit);
            }
        }
        Ok(limits)
    }

    /// Refuse (409 `OverQuota`) a create of `adding` objects of `resource`
    /// that would take `project_id` over its limit.
    ///
    /// Count, then create: two racing creates may both pass the count and
    /// end one over the limit, as with Neutron's no-lock quota driver. A
    /// quota is a budget, not an allocation, so being over by the racers
    /// is accepted rather than serializing every create of a project.
    pub(crate) async fn check_network_quota(
        &self,
        project_id: &str,
        resource: &str,
        adding: usize,
    ) -> Result<()> {
        if project_id.is_empty() || adding == 0 {
            return Ok(());
        }
        let Some(&limit) = self.network_limits(project_id).await?.get(resource) else {
            return Err(Error::internal(format!("no quota is defined for {resource}")));
        };
        if limit < 0 {
            return Ok(());
        }
        let used = self.store.net_count(resource, project_id).await?;
        let adding = i64::try_from(adding).unwrap_or(i64::MAX);
        if used.saturating_add(adding) > limit {
            return Err(over_quota(resource));
        }
        Ok(())
    }

    /// `GET /quotas/{project}` (and `/details` with usage): a member reads
    /// its own project's, an admin any project's.
    pub async fn network_quota_show(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        details: bool,
    ) -> Result<Value> {
        may_read(&Caller::of(ctx)?, project_id)?;
        let limits = self.network_limits(project_id).await?;
        if !details {
            return Ok(json!({"quota": limits}));
        }
        let used: BTreeMap<String, i64> =
            self.store.net_usage(project_id).await?.into_iter().collect();
        let quota: Map<String, Value> = limits
            .iter()
            .map(|(resource, limit)| {
                let used = used.get(*resource).copied().unwrap_or(0);
                ((*resource).to_string(), json!({"limit": limit, "used": used, "reserved": 0}))
            })
            .collect();
        Ok(json!({"quota": quota}))
    }

    /// `GET /quotas/{project}/default`: the limits a project has when no
    /// admin set any.
    pub async fn network_quota_default(
        &self,
        ctx: &RequestContext,
        project_id: &str,
    ) -> Result<Value> {
        may_read(&Caller::of(ctx)?, project_id)?;
        let defaults: BTreeMap<&str, i64> = DEFAULT_QUOTAS.iter().copied().collect();
        Ok(json!({"quota": defaults}))
    }

    /// `GET /quotas/project` (and the older `/quotas/tenant`): whose token
    /// this is, under the key the client asked for.
    pub fn network_quota_whoami(&self, ctx: &RequestContext, key: &str) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        Ok(json!({ key: { format!("{key}_id"): caller.project_id } }))
    }

    /// `GET /quotas`: the projects whose quotas differ from the defaults,
    /// each with all its limits. An admin sees every project; anyone else
    /// only their own (never another project's).
    pub async fn network_quota_list(&self, ctx: &RequestContext) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let mut by_project: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for row in self.store.quota_list(SERVICE).await? {
            if !caller.is_admin && row.project_id != caller.project_id {
                continue;
            }
            let q = by_project.entry(row.project_id.clone()).or_insert_with(|| {
                let mut q: Map<String, Value> =
                    DEFAULT_QUOTAS.iter().map(|(r, l)| ((*r).to_string(), json!(l))).collect();
                q.insert("project_id".into(), json!(row.project_id));
                q.insert("tenant_id".into(), json!(row.project_id));
                q
            });
            if q.contains_key(&row.resource) {
                q.insert(row.resource, json!(row.hard_limit));
            }
        }
        Ok(json!({"quotas": by_project.into_values().collect::<Vec<_>>()}))
    }

    /// `PUT /quotas/{project}` (admin): set some limits, answer them all.
    /// Like Neutron since 2024.2, a limit below what the project already
    /// uses is refused unless the request says `"force": true`.
    pub async fn network_quota_update(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        if !caller.is_admin {
            return Err(policy("rule:update_quota"));
        }
        let b = body_object(body, "quota")?;
        let mut allowed: Vec<&str> = DEFAULT_QUOTAS.iter().map(|(r, _)| *r).collect();
        allowed.extend(OPTIONS);
        known_attributes(b, &allowed)?;
        // openstacksdk may send the project it updates in the body too.
        for key in ["project_id", "tenant_id"] {
            if b.get(key).is_some_and(|p| p.as_str() != Some(project_id)) {
                return Err(bad(format!(
                    "Invalid input for {key}. Reason: it must be the project of the URL, {project_id}."
                )));
            }
        }
        let force = bool_field(b, "force")?.unwrap_or(false);
        let check = bool_field(b, "check_limit")?.unwrap_or(!force);
        let mut limits = Vec::new();
        for (resource, v) in b.iter().filter(|(k, _)| !OPTIONS.contains(&k.as_str())) {
            limits.push((resource.clone(), limit_of(resource, v)?));
        }
        if check {
            let used: BTreeMap<String, i64> =
                self.store.net_usage(project_id).await?.into_iter().collect();
            for (resource, limit) in &limits {
                let used = used.get(resource).copied().unwrap_or(0);
                if *limit >= 0 && used > *limit {
                    return Err(bad(format!(
                        "Quota limit {limit} for {resource} must be greater than or equal to already used {used}; delete some first, or send \"force\": true."
                    )));
                }
            }
        }
        self.store.quota_set(SERVICE, project_id, &limits).await?;
        Ok(json!({"quota": self.network_limits(project_id).await?}))
    }

    /// `DELETE /quotas/{project}` (admin): back to the defaults.
    pub async fn network_quota_delete(&self, ctx: &RequestContext, project_id: &str) -> Result<()> {
        if !Caller::of(ctx)?.is_admin {
            return Err(policy("rule:delete_quota"));
        }
        self.store.quota_delete(SERVICE, project_id).await?;
        Ok(())
    }
}
