//! The service catalog in the gateway's tokens: every service at the
//! gateway's own prefix (DESIGN §4), in the top region.

use serde_json::{Value, json};

/// (catalog type, service name, path under the gateway); also what
/// `tricircle endpoints register` puts in an external Keystone.
pub const SERVICES: &[(&str, &str, &str)] = &[
    ("identity", "keystone", "/identity"),
    ("compute", "nova", "/compute/v2.1"),
    ("volumev3", "cinderv3", "/volume/v3"),
    ("block-storage", "cinder", "/volume/v3"),
    ("network", "neutron", "/networking"),
    ("image", "glance", "/image"),
    ("tricircle", "tricircle", "/admin/v1.0"),
];

/// The catalog for clients that reached the gateway at `base`.
pub fn catalog(base: &str, region: &str) -> Value {
    let services: Vec<Value> = SERVICES
        .iter()
        .map(|(ty, name, path)| {
            let endpoints: Vec<Value> = ["public", "internal", "admin"]
                .iter()
                .map(|iface| {
                    json!({
                        "id": format!("{name}-{iface}"),
                        "interface": iface,
                        "region_id": region,
                        "region": region,
                        "url": format!("{base}{path}"),
                    })
                })
                .collect();
            json!({"id": format!("{name}-service"), "type": ty, "name": name, "endpoints": endpoints})
        })
        .collect();
    Value::Array(services)
}
