//! A pod's view of a server turned into the top's: top IDs, the top name,
//! the top project and user, the zone as the gateway names it. Links are
//! dropped here; the API layer adds the gateway's own.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tricircle_store::{Pod, ResourceRow};

/// What the top remembers of a server besides the cached view.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ServerFacts {
    pub flavor_id: String,
    pub flavor_name: String,
    pub image_id: Option<String>,
    pub key_name: Option<String>,
    /// The top server group it is a member of.
    #[serde(default)]
    pub group_id: Option<String>,
    /// The last top view rendered (a down pod's servers are listed from it).
    #[serde(default)]
    pub view: Value,
}

impl ServerFacts {
    pub fn of(row: &ResourceRow) -> ServerFacts {
        serde_json::from_str(&row.summary).unwrap_or_default()
    }
}

/// Keys of the pod's server object that the top replaces or hides.
const METADATA_KEY: &str = "tricircle_top_id";

/// What translating a pod's server needs besides the server itself.
#[derive(Clone, Debug, Default)]
pub struct TopNames {
    /// Top flavor names by top ID (the server's flavor changes on resize;
    /// the pod calls the gateway's flavors `tc-<id>`).
    pub flavors: HashMap<String, String>,
    /// Top volume IDs by the pod's volume IDs.
    pub volumes: HashMap<String, String>,
    /// Top network names by top network ID: a pod's copy of a network is
    /// named after the top ID, which is how the pod keys `addresses`.
    pub networks: HashMap<String, String>,
}

/// A host name from a display name, as Nova derives one: lower case,
/// letters, digits and hyphens.
fn hostname(name: &str) -> String {
    let mut h: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    h = h.trim_matches('-').to_string();
    h.truncate(63);
    if h.is_empty() { "server".into() } else { h }
}

pub fn server_to_top(
    bottom: &Value,
    row: &ResourceRow,
    facts: &ServerFacts,
    pod: &Pod,
    names: &TopNames,
) -> Value {
    let mut s: Map<String, Value> = bottom.as_object().cloned().unwrap_or_default();
    s.insert("id".into(), json!(row.id));
    s.insert("name".into(), json!(row.name));
    s.insert("tenant_id".into(), json!(row.project_id));
    s.insert("user_id".into(), json!(row.user_id));
    s.remove("links");
    if s.contains_key("OS-EXT-AZ:availability_zone") || s.contains_key("status") {
        s.insert("OS-EXT-AZ:availability_zone".into(), json!(pod.az_name));
    }
    if let Some(Value::Object(flavor)) = s.get_mut("flavor") {
        flavor.remove("links");
        if let Some(Value::String(id)) = flavor.get("id").cloned() {
            let top = id
                .strip_prefix("tc-")
                .map(str::to_string)
                .unwrap_or_else(|| facts.flavor_id.clone());
            flavor.insert("id".into(), json!(top));
        }
        if let Some(Value::String(name)) = flavor.get("original_name").cloned() {
            let top = name
                .strip_prefix("tc-")
                .and_then(|id| names.flavors.get(id).cloned())
                .unwrap_or_else(|| facts.flavor_name.clone());
            flavor.insert("original_name".into(), json!(top));
        }
    }
    if s.contains_key("OS-EXT-SRV-ATTR:hostname") {
        s.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(hostname(&row.name)));
    }
    if let Some(Value::Array(vols)) = s.get_mut("os-extended-volumes:volumes_attached") {
        for v in vols.iter_mut() {
            if let Some(top) = v["id"].as_str().and_then(|b| names.volumes.get(b)) {
                v["id"] = json!(top);
            }
        }
    }
    if let Some(Value::Object(image)) = s.get_mut("image") {
        image.remove("links");
        if let Some(id) = &facts.image_id {
            image.insert("id".into(), json!(id));
        }
    }
    if let Some(Value::Array(groups)) = s.get_mut("server_groups") {
        // The pod names its own copy of the group (compute 2.71+); none
        // once the group was deleted.
        let top = facts.group_id.iter().filter(|_| !groups.is_empty()).map(|g| json!(g));
        *groups = top.collect();
    }
    if let Some(Value::Object(addresses)) = s.get_mut("addresses") {
        let taken = std::mem::take(addresses);
        for (key, ips) in taken {
            let key = names.networks.get(&key).cloned().unwrap_or(key);
            addresses.insert(key, ips);
        }
    }
    if s.contains_key("key_name") {
        s.insert("key_name".into(), json!(facts.key_name));
    }
    if let Some(Value::Object(meta)) = s.get_mut("metadata") {
        meta.remove(METADATA_KEY);
    }
    Value::Object(s)
}

/// The cached view of a server whose pod did not answer: status UNKNOWN,
/// as Nova reports servers of a down cell (microversion 2.69).
pub fn unknown_view(row: &ResourceRow, facts: &ServerFacts, pod_az: &str) -> Value {
    let mut v = match &facts.view {
        Value::Object(m) if !m.is_empty() => Value::Object(m.clone()),
        _ => {
            json!({"id": row.id, "name": row.name, "tenant_id": row.project_id, "user_id": row.user_id,
                     "created": row.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                     "flavor": {"id": facts.flavor_id}, "metadata": {}, "addresses": {}})
        }
    };
    v["status"] = json!("UNKNOWN");
    v["OS-EXT-AZ:availability_zone"] = json!(pod_az);
    v
}

pub fn metadata_key() -> &'static str {
    METADATA_KEY
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostnames_follow_the_display_name() {
        assert_eq!(super::hostname("Web Server 01"), "web-server-01");
        assert_eq!(super::hostname("--"), "server");
        assert_eq!(super::hostname(&"x".repeat(80)).len(), 63);
    }
}
