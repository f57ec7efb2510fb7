//! Server groups (Nova's `os-server-groups`): top objects of a project. A
//! group spans pods, so the top keeps it and its members (top server IDs);
//! a pod gets a bottom copy when a member first lands there (see
//! [`super::server_group_copies`]), which enforces the policy between that
//! pod's hosts. Between pods the gateway's placement enforces it (see
//! [`super::placement`]): different pods are different hosts.

use serde_json::{Map, Value};
use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_store::{GroupMember, ServerGroup, StoreError, now};

use super::project_of;
use crate::App;

pub const AFFINITY: &str = "affinity";
pub const ANTI_AFFINITY: &str = "anti-affinity";
pub const SOFT_AFFINITY: &str = "soft-affinity";
pub const SOFT_ANTI_AFFINITY: &str = "soft-anti-affinity";
/// Every policy, in Nova's order of introduction.
pub const POLICIES: [&str; 4] = [ANTI_AFFINITY, AFFINITY, SOFT_ANTI_AFFINITY, SOFT_AFFINITY];

/// Nova's default quotas (`server_groups`, `server_group_members`), which
/// the gateway enforces at the top: a group's members may be spread over
/// pods, so no pod sees them all.
pub const MAX_GROUPS_PER_PROJECT: i64 = 10;
pub const MAX_MEMBERS_PER_GROUP: usize = 10;

/// A new group as the client asked for it (the wire shape is the API's).
#[derive(Clone, Debug, Default)]
pub struct ServerGroupSpec {
    pub name: String,
    pub policy: String,
    /// `max_server_per_host`, anti-affinity only.
    pub rules: Map<String, Value>,
}

/// A group with its members (top server IDs, oldest first).
#[derive(Clone, Debug)]
pub struct GroupView {
    pub group: ServerGroup,
    pub members: Vec<String>,
}

impl GroupView {
    pub fn rules(&self) -> Map<String, Value> {
        serde_json::from_str(&self.group.rules).unwrap_or_default()
    }
}

pub(crate) fn group_not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "Instance group {} could not be found.",
            tricircle_common::ids::truncate_for_message(id)
        ),
    )
}

/// Members that count: servers whose creation is not being undone.
pub(crate) fn live(members: Vec<GroupMember>) -> Vec<GroupMember> {
    members.into_iter().filter(|m| m.status != super::server_create::UNWINDING).collect()
}

/// Nova's name rule: 1 to 255 printable characters, no space at either end.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 255 {
        return Err(Error::bad_request(
            "Invalid input for field/attribute name: it must have 1 to 255 characters.",
        ));
    }
    if name.trim() != name || name.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
        ));
    }
    Ok(())
}

/// The rules as stored: `max_server_per_host` as a number of at least 1.
fn check_rules(policy: &str, rules: &Map<String, Value>) -> Result<Map<String, Value>> {
    if rules.is_empty() {
        return Ok(Map::new());
    }
    if policy != ANTI_AFFINITY {
        return Err(Error::bad_request("Only anti-affinity policy supports rules."));
    }
    let mut out = Map::new();
    for (key, value) in rules {
        if key != "max_server_per_host" {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute rules: '{}' is not a rule; the only rule is max_server_per_host.",
                tricircle_common::ids::truncate_for_message(key)
            )));
        }
        // Nova takes an integer or a string of digits.
        let n = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            _ => None,
        }
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            Error::bad_request(format!(
                "Invalid input for field/attribute max_server_per_host. Value: {value}. It must be an integer of at least 1."
            ))
        })?;
        out.insert(key.clone(), Value::from(n));
    }
    Ok(out)
}

impl App {
    pub async fn server_group_create(
        &self,
        ctx: &RequestContext,
        spec: ServerGroupSpec,
    ) -> Result<GroupView> {
        let project = project_of(ctx)?;
        check_name(&spec.name)?;
        if !POLICIES.contains(&spec.policy.as_str()) {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute policy. Value: {}. Use one of {}.",
                tricircle_common::ids::truncate_for_message(&spec.policy),
                POLICIES.join(", ")
            )));
        }
        let rules = check_rules(&spec.policy, &spec.rules)?;
        if self.store.server_group_count(project).await? >= MAX_GROUPS_PER_PROJECT {
            return Err(Error::forbidden("Quota exceeded, too many server groups."));
        }
        let group = ServerGroup {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project.to_string(),
            user_id: ctx.auth.user_id.clone(),
            name: spec.name,
            policy: spec.policy,
            rules: Value::Object(rules).to_string(),
            created_at: now(),
        };
        self.store.server_group_create(&group).await.map_err(|e| match e {
            StoreError::Duplicate(_) => Error::internal("a minted group ID already exists"),
            other => other.into(),
        })?;
        tracing::info!(group = %group.id, policy = %group.policy, "server group created");
        Ok(GroupView { group, members: Vec::new() })
    }

    /// A group the caller may see: its project's, or any for an admin.
    /// Another project's group is "not found", never "forbidden".
    pub(crate) async fn server_group_visible(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Option<ServerGroup>> {
        Ok(self.store.server_group_get(id).await?.filter(|g| {
            ctx.auth.is_admin() || ctx.auth.project_id.as_deref() == Some(g.project_id.as_str())
        }))
    }

    pub async fn server_group_get(&self, ctx: &RequestContext, id: &str) -> Result<GroupView> {
        let group = self.server_group_visible(ctx, id).await?.ok_or_else(|| group_not_found(id))?;
        let members = live(self.store.server_group_members(std::slice::from_ref(&group.id)).await?);
        Ok(GroupView { group, members: members.into_iter().map(|m| m.server_id).collect() })
    }

    /// The caller's groups (an admin asking for all projects: everyone's),
    /// oldest first, `limit` after skipping `offset`.
    pub async fn server_group_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<GroupView>> {
        // As Nova: all_projects from a non-admin is ignored, not refused.
        let project =
            if all_projects && ctx.auth.is_admin() { None } else { Some(project_of(ctx)?) };
        let groups = self.store.server_group_list(project, limit, offset).await?;
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        let mut members: std::collections::HashMap<String, Vec<String>> = Default::default();
        for m in live(self.store.server_group_members(&ids).await?) {
            members.entry(m.group_id).or_default().push(m.server_id);
        }
        Ok(groups
            .into_iter()
            .map(|g| GroupView { members: members.remove(&g.id).unwrap_or_default(), group: g })
            .collect())
    }

    /// How many groups the caller's project has (for `/limits`).
    pub async fn server_group_count(&self, ctx: &RequestContext) -> Result<i64> {
        Ok(self.store.server_group_count(project_of(ctx)?).await?)
    }

    /// Delete a group: first its copy in every pod (each a saga of its own,
    /// so a pod that does not answer is named and the copies already gone
    /// stay gone), then the top's row. Members stay, out of any group.
    pub async fn server_group_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let group = self.server_group_visible(ctx, id).await?.ok_or_else(|| group_not_found(id))?;
        self.server_group_copies_delete(&group).await?;
        self.store.server_group_delete(&group.id).await?;
        tracing::info!(group = %group.id, "server group deleted");
        Ok(())
    }

    /// The group a new server asks for with the `group` hint, and its live
    /// members. Nova answers 400 for a group that cannot be found.
    pub(crate) async fn server_group_for_boot(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(ServerGroup, Vec<GroupMember>)> {
        let group = self.server_group_visible(ctx, id).await?.ok_or_else(|| {
            Error::bad_request(format!(
                "Instance group {} could not be found.",
                tricircle_common::ids::truncate_for_message(id)
            ))
        })?;
        let members = live(self.store.server_group_members(std::slice::from_ref(&group.id)).await?);
        if members.len() >= MAX_MEMBERS_PER_GROUP {
            return Err(Error::forbidden("Quota exceeded, too many servers in group"));
        }
        Ok((group, members))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_follow_novas_rule() {
        assert!(check_name("web").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" web").is_err());
        assert!(check_name("web\n").is_err());
        assert!(check_name(&"x".repeat(256)).is_err());
        assert!(check_name(&"é".repeat(255)).is_ok(), "characters, not bytes");
    }

    #[test]
    fn rules_are_for_anti_affinity_only_and_positive() {
        let rules = |v: Value| v.as_object().unwrap().clone();
        let ok = check_rules(ANTI_AFFINITY, &rules(json!({"max_server_per_host": "2"}))).unwrap();
        assert_eq!(Value::Object(ok), json!({"max_server_per_host": 2}));
        assert!(check_rules(AFFINITY, &rules(json!({"max_server_per_host": 2}))).is_err());
        for bad in [json!(0), json!(-1), json!(1.5), json!("x"), json!(null)] {
            let r = rules(json!({"max_server_per_host": bad}));
            assert!(check_rules(ANTI_AFFINITY, &r).is_err(), "{bad}");
        }
        assert!(check_rules(ANTI_AFFINITY, &rules(json!({"other": 1}))).is_err());
        assert!(check_rules(AFFINITY, &Map::new()).unwrap().is_empty());
    }
}
