//! A picture of a whole world, top and bottom, that two worlds made alike
//! share although their IDs differ: one line per object, every ID replaced
//! by a label saying what it names (a top object by its type and name, a
//! pod's object by its pod, collection and name: pods name their copies
//! after top IDs, so that name is the top object's label), and what changes
//! with time alone (timestamps, counters, passwords the pod makes up) left
//! out. An ID nothing names becomes `?`. Twins stay visible: lines are a
//! sorted list, not a set.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};
use tricircle_jobs::saga::testing::Against;
use tricircle_store::{NetFilter, Page, RoutingFilter};

use crate::common::World;

/// What a failed saga keeps on purpose (see the sagas' doc comments):
/// copies later runs reuse. Left out of a comparison with the world before
/// the saga: the pod's identity (the bottom project of the top project),
/// flavors, images (finished copies, and their bytes), keypairs, server
/// groups (settled and kept by `group`'s undo) and security groups with
/// their rules.
const KEPT_IN_PODS: &[&str] = &[
    "identity.",
    "compute.flavors",
    "compute.keypairs",
    "compute.server_groups",
    "image.images",
    "blobs",
    "network.security_groups",
    "network.sg_rules",
];

/// Whether `object` of a pod's `collection` is one of [`KEPT_IN_PODS`]; an
/// image copy only once finished (a queued one is of no use to anyone).
fn kept_in_pod(collection: &str, object: &Value) -> bool {
    KEPT_IN_PODS.iter().any(|k| collection.starts_with(k))
        && (collection != "image.images" || object["status"] == "active")
}

/// Their routings at the top, once complete: one still without the pod's
/// ID is a copy left half-made, and counts.
const KEPT_ROUTINGS: &[&str] = &["project", "flavor", "image", "server_group", "security_group"];

/// Fields that differ between two runs without anything being wrong.
fn volatile(key: &str) -> bool {
    key.ends_with("_at")
        || key.starts_with("next_")
        || ["created", "updated", "seq", "revision_number", "admin_pass", "reservation_id"]
            .contains(&key)
}

/// The lines of a picture, sorted.
#[derive(PartialEq, Eq)]
pub struct Picture(pub Vec<String>);

impl fmt::Debug for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|l| writeln!(f, "{l}"))
    }
}

impl Picture {
    /// The lines about pod objects of `collection` (`"compute.servers"`).
    pub fn lines(&self, collection: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some(collection))
            .map(String::as_str)
            .collect()
    }
}

/// The picture of `w`, to compare `against` the world before a saga (what
/// sagas keep on purpose left out) or after an uninterrupted run.
pub async fn picture(w: &World, against: Against) -> Picture {
    let raw = Raw::read(w).await;
    let labels = Labels::of(&raw);
    let mut lines = Vec::new();
    for (what, v, kept) in raw.top {
        if against == Against::Before && kept {
            continue;
        }
        lines.push(format!("top {what} {}", labels.apply_json(v)));
    }
    for (pod, state) in raw.pods {
        for (collection, v) in collections(&state) {
            let kept = kept_in_pod(&collection, &v);
            if (against == Against::Before && kept) || collection == "identity.tokens" {
                continue;
            }
            lines.push(format!("{pod} {collection} {}", labels.apply_json(v)));
        }
    }
    lines.sort();
    Picture(lines)
}

/// Everything read, IDs still in.
struct Raw {
    /// (what, value, kept on purpose): `resource server`, `routing port`, ...
    top: Vec<(String, Value, bool)>,
    /// Each pod's region and state.
    pods: Vec<(String, Value)>,
    /// The top's IDs with the label of each.
    top_labels: Vec<(String, String)>,
}

impl Raw {
    async fn read(w: &World) -> Raw {
        let store = w.app.store();
        let mut top = Vec::new();
        let mut top_labels = Vec::new();
        for p in store.pod_list().await.unwrap() {
            top_labels.push((p.pod_id.to_string(), format!("<{}>", p.region_name)));
        }
        for t in ["server", "volume", "snapshot"] {
            for r in store.resource_list(t, None).await.unwrap() {
                top_labels.push((r.id.clone(), format!("<{t} {}>", r.name)));
                let summary: Value = serde_json::from_str(&r.summary).unwrap_or(Value::Null);
                let v = serde_json::json!({"id": r.id, "project": r.project_id, "user": r.user_id,
                    "pod": r.pod_id, "name": r.name, "status": r.status, "summary": summary});
                top.push((format!("resource {t}"), v, false));
            }
        }
        let all = RoutingFilter::default();
        for r in store.routing_list(&all, &Page { limit: 100_000, marker: None }).await.unwrap() {
            let kept = r.bottom_id.is_some() && KEPT_ROUTINGS.contains(&r.resource_type.as_str());
            let v = serde_json::json!([r.top_id, r.bottom_id, r.pod_id.to_string(), r.project_id]);
            top.push((format!("routing {}", r.resource_type), v, kept));
        }
        let kinds = [
            "network",
            "subnet",
            "port",
            "security_group",
            "security_group_rule",
            "router",
            "floatingip",
        ];
        let mut subnets = Vec::new();
        for kind in kinds {
            for o in store.net_object_list(kind, &NetFilter::default()).await.unwrap() {
                let body: Value = serde_json::from_str(&o.body).unwrap();
                let label = format!("<{kind} {}>", body["name"].as_str().unwrap_or_default());
                if let Some(mac) = body["mac_address"].as_str() {
                    top_labels.push((mac.to_string(), format!("<mac of {label}>")));
                }
                top_labels.push((o.id.clone(), label));
                if kind == "subnet" {
                    subnets.push(o.id.clone());
                }
                top.push((format!("net {kind}"), body, false));
            }
        }
        for a in store.net_allocations_in(&subnets).await.unwrap() {
            top.push((
                "ip".into(),
                serde_json::json!([a.subnet_id, a.ip_address, a.port_id]),
                false,
            ));
        }
        for i in store.image_list().await.unwrap() {
            top_labels.push((i.id.clone(), format!("<image {}>", i.name.unwrap_or_default())));
        }
        let groups = store.server_group_list(None, 1000, 0).await.unwrap();
        for g in &groups {
            top_labels.push((g.id.clone(), format!("<group {}>", g.name)));
        }
        let ids: Vec<String> = groups.into_iter().map(|g| g.id).collect();
        for m in store.server_group_members(&ids).await.unwrap() {
            top.push(("member".into(), serde_json::json!([m.group_id, m.server_id]), false));
        }
        let mut pods = Vec::new();
        for (i, pod) in w.pods.iter().enumerate() {
            // What the pod's workers would have done by the next request.
            pod.control().advance();
            pods.push((format!("Pod{}", i + 1), pod.control().state_json()));
        }
        Raw { top, pods, top_labels }
    }
}

/// A pod's state as (collection, object) pairs: each object of a map of
/// objects (`compute.servers`, `identity.projects`), each other value whole.
fn collections(state: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (service, v) in state.as_object().into_iter().flatten() {
        if volatile(service) {
            continue;
        }
        let Some(parts) = v.as_object().filter(|_| service != "blobs") else {
            out.push((service.clone(), v.clone()));
            continue;
        };
        for (name, c) in parts.iter().filter(|(name, _)| !volatile(name)) {
            let collection = format!("{service}.{name}");
            match c.as_object() {
                Some(m) if m.values().all(Value::is_object) => {
                    out.extend(m.values().map(|o| (collection.clone(), o.clone())))
                }
                _ => out.push((collection, c.clone())),
            }
        }
    }
    out
}

/// What each ID of one world names.
struct Labels(HashMap<String, String>);

impl Labels {
    fn of(raw: &Raw) -> Labels {
        let mut labels = Labels(HashMap::new());
        for (id, label) in &raw.top_labels {
            labels.0.entry(id.clone()).or_insert_with(|| label.clone());
        }
        // A pod's objects by name: the pod names its copies after top IDs.
        let mut bottom = Vec::new();
        for (pod, state) in &raw.pods {
            for (collection, o) in collections(state) {
                if let (Some(id), Some(name)) = (o["id"].as_str(), o["name"].as_str()) {
                    bottom.push((
                        id.to_string(),
                        format!("<{pod} {collection} {}>", labels.apply(name)),
                    ));
                }
            }
        }
        for (id, label) in bottom {
            labels.0.entry(id).or_insert(label);
        }
        labels
    }

    /// `s` with each ID in it (a UUID, 32 hex digits, a MAC) replaced by
    /// its label, or by `?`.
    fn apply(&self, s: &str) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < s.len() {
            match id_at(s, i) {
                Some(id) => {
                    out.push_str(self.0.get(id).map_or("?", String::as_str));
                    i += id.len();
                }
                None => {
                    let c = s[i..].chars().next().unwrap_or_default();
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
        out
    }

    /// `v` with its IDs replaced (in keys too) and its volatile fields left out.
    fn apply_json(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.apply(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.apply_json(x)).collect()),
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(k, _)| !volatile(k))
                    .map(|(k, x)| (self.apply(&k), self.apply_json(x)))
                    .collect::<Map<_, _>>(),
            ),
            other => other,
        }
    }
}

/// The ID starting at byte `i` of `s`, if one does and `s[..i]` does not
/// end in the middle of a longer run of hex digits (a hash is no ID).
fn id_at(s: &str, i: usize) -> Option<&str> {
    let hex = |c: u8| c.is_ascii_hexdigit();
    if i > 0 && hex(s.as_bytes()[i - 1]) {
        return None;
    }
    let ends_clean = |n: usize| s.as_bytes().get(i + n).is_none_or(|c| !hex(*c));
    let shape = |n: usize, seps: &[usize], sep: u8| {
        s.get(i..i + n).filter(|t| {
            t.bytes().enumerate().all(|(j, c)| if seps.contains(&j) { c == sep } else { hex(c) })
        })
    };
    shape(36, &[8, 13, 18, 23], b'-')
        .or_else(|| shape(17, &[2, 5, 8, 11, 14], b':'))
        .or_else(|| shape(32, &[], 0))
        .filter(|t| ends_clean(t.len()))
}
