//! The registry of job kinds (`GET /admin/v1.0/jobs/schemas`).

use serde_json::{Map, Value};
use tricircle_common::{Error, Result};

/// One kind of durable job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobKind {
    /// The job's `type` in the admin API.
    pub name: &'static str,
    /// The fields of its `resource`, in key order.
    pub resource_fields: &'static [&'static str],
    pub description: &'static str,
}

/// Probe a pod's identity endpoint and record whether it answers.
pub const POD_CHECK: JobKind = JobKind {
    name: "pod_check",
    resource_fields: &["pod_id"],
    description: "Check that a pod's identity endpoint answers.",
};

/// Create a server in a pod (a saga; see `core::compute::server_create`).
pub const SERVER_CREATE: JobKind = JobKind {
    name: "server_create",
    resource_fields: &["id"],
    description: "Create a server in its pod: project, flavor, image and keypair first.",
};

/// Delete a server from its pod (a saga).
pub const SERVER_DELETE: JobKind = JobKind {
    name: "server_delete",
    resource_fields: &["id"],
    description: "Delete a server in its pod and forget it.",
};

/// Create a volume in a pod (a saga).
pub const VOLUME_CREATE: JobKind = JobKind {
    name: "volume_create",
    resource_fields: &["id"],
    description: "Create a volume in its pod (copying its image there first).",
};

/// Delete a volume or snapshot from its pod (a saga).
pub const VOLUME_DELETE: JobKind = JobKind {
    name: "volume_delete",
    resource_fields: &["id"],
    description: "Delete a volume or snapshot in its pod and forget it.",
};

/// Delete one pod's copy of a server group (a saga, one per pod).
pub const SERVER_GROUP_DELETE: JobKind = JobKind {
    name: "server_group_delete",
    resource_fields: &["id"],
    description: "Delete a server group's copy in one pod and forget it.",
};

/// Make a network's pod copies and shadow ports what the top says.
pub const NETWORK_SYNC: JobKind = JobKind {
    name: "network_sync",
    resource_fields: &["id"],
    description: "Make a network's copies and shadow ports in the pods match the top.",
};

/// Make a router's pod copies, bridge ports and routes what the top says.
pub const ROUTER_SYNC: JobKind = JobKind {
    name: "router_sync",
    resource_fields: &["id"],
    description: "Make a router's copies, bridge ports and routes in the pods match the top.",
};

/// Put a floating IP in the external network's pod, or take it away.
pub const FLOATING_IP_SYNC: JobKind = JobKind {
    name: "floating_ip_sync",
    resource_fields: &["id"],
    description: "Make a floating IP's copy in the external network's pod match the top.",
};

/// Keep a security group's pod copies in line with the top (or delete them).
pub const SECURITY_GROUP_SYNC: JobKind = JobKind {
    name: "security_group_sync",
    resource_fields: &["id"],
    description: "Make a security group's copies and rules in the pods match the top.",
};

/// Every job kind the gateway runs.
pub const KINDS: &[JobKind] = &[
    POD_CHECK,
    SERVER_CREATE,
    SERVER_DELETE,
    VOLUME_CREATE,
    VOLUME_DELETE,
    SERVER_GROUP_DELETE,
    NETWORK_SYNC,
    ROUTER_SYNC,
    FLOATING_IP_SYNC,
    SECURITY_GROUP_SYNC,
];

/// The kinds that reconcile one object toward the top's state: idempotent,
/// so running one again is always safe. One object's syncs run one at a
/// time (its job, and a turn inside each sync against the periodic pass).
pub const SYNC_KINDS: &[JobKind] =
    &[NETWORK_SYNC, ROUTER_SYNC, FLOATING_IP_SYNC, SECURITY_GROUP_SYNC];

pub fn kind(name: &str) -> Option<&'static JobKind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The resource key of `resource` for `kind`: its fields joined by `#`.
/// Missing, extra, empty or non-string fields are refused, as upstream did.
pub fn resource_key(kind: &JobKind, resource: &Map<String, Value>) -> Result<String> {
    let mut parts = Vec::with_capacity(kind.resource_fields.len());
    for field in kind.resource_fields {
        match resource.get(*field) {
            Some(Value::String(s)) if !s.trim().is_empty() && !s.contains('#') => {
                parts.push(s.trim())
            }
            Some(_) => {
                return Err(Error::bad_request(format!(
                    "resource.{field} of a {} job must be a non-empty string without '#'.",
                    kind.name
                )));
            }
            None => {
                return Err(Error::bad_request(format!(
                    "resource.{field} is required for a {} job.",
                    kind.name
                )));
            }
        }
    }
    if let Some(extra) = resource.keys().find(|k| !kind.resource_fields.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "resource.{extra} is not a field of a {} job (fields: {}).",
            kind.name,
            kind.resource_fields.join(", ")
        )));
    }
    Ok(parts.join("#"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keys_follow_field_order_and_refuse_bad_resources() {
        let two = JobKind { name: "t", resource_fields: &["pod_id", "router_id"], description: "" };
        assert_eq!(
            resource_key(&two, &obj(json!({"router_id": "r", "pod_id": "p"}))).unwrap(),
            "p#r"
        );
        assert_eq!(resource_key(&two, &obj(json!({"pod_id": "p"}))).unwrap_err().status(), 400);
        assert_eq!(
            resource_key(&two, &obj(json!({"pod_id": "p", "router_id": "r", "x": "y"})))
                .unwrap_err()
                .status(),
            400
        );
        assert!(resource_key(&two, &obj(json!({"pod_id": 1, "router_id": "r"}))).is_err());
        assert!(resource_key(&two, &obj(json!({"pod_id": "a#b", "router_id": "r"}))).is_err());
        assert_eq!(kind("pod_check"), Some(&POD_CHECK));
        assert_eq!(kind("nope"), None);
    }
}
