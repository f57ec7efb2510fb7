//! The resource types a routing may name.
//!
//! Upstream Tricircle accepted only networking types through its API; the
//! gateway also routes compute, volume and image objects, and marks its own
//! helper objects (shadow ports, bridge networks) so operators can find them.

/// Every resource type the gateway records routings for.
pub const RESOURCE_TYPES: &[&str] = &[
    // Identity (mapped projects in pods with `mapped` identity).
    "project",
    // Compute and its top objects pushed to pods on first use.
    "server",
    "flavor",
    "keypair",
    "server_group",
    // Block storage.
    "volume",
    "snapshot",
    "backup",
    "volume_type",
    // Images copied into pods.
    "image",
    // Networking.
    "network",
    "subnet",
    "port",
    "router",
    "security_group",
    "floatingip",
    "trunk",
    "qos_policy",
    // Gateway-made helpers.
    "shadow_network",
    "shadow_subnet",
    "shadow_port",
    "bridge_network",
    "bridge_subnet",
    "bridge_port",
    "ns_router",
];

pub fn is_known(resource_type: &str) -> bool {
    RESOURCE_TYPES.contains(&resource_type)
}
