//! Rendering a server as Nova does at a given microversion.
//!
//! Clients validate responses against the upstream schemas, so fields appear exactly from the
//! microversion that introduced them and admin-only attributes (`OS-EXT-SRV-ATTR:*`) only for
//! admins. Addresses are built from the server's Neutron ports at render time, so they always
//! agree with what Neutron reports.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha224};

use super::links;
use crate::http::Ctx;
use crate::model::compute::Server;
use crate::pod::Pod;
use crate::state::{State, fmt};

/// Nova's `hostId`: a per-project hash of the host name.
pub fn host_id(project_id: &str, host: &str) -> String {
    if host.is_empty() {
        return String::new();
    }
    hex::encode(Sha224::digest(format!("{project_id}{host}").as_bytes()))
}

/// `{"<network name>": [{"version", "addr", "OS-EXT-IPS:type", "OS-EXT-IPS-MAC:mac_addr"}]}`.
pub fn addresses(st: &State, s: &Server) -> Value {
    let mut out: Map<String, Value> = Map::new();
    for pid in &s.ports {
        let Some(p) = st.network.ports.get(pid) else { continue };
        let net =
            st.network.networks.get(&p.network_id).map(|n| n.name.clone()).unwrap_or_default();
        let entry = out.entry(net).or_insert_with(|| json!([]));
        let list = entry.as_array_mut().expect("array");
        for ip in &p.fixed_ips {
            let version = if ip.ip_address.contains(':') { 6 } else { 4 };
            list.push(json!({
                "version": version, "addr": ip.ip_address,
                "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": p.mac_address
            }));
            for fip in st.network.floating_ips.values().filter(|f| {
                f.port_id.as_deref() == Some(pid.as_str())
                    && f.fixed_ip_address.as_deref() == Some(ip.ip_address.as_str())
            }) {
                list.push(json!({
                    "version": 4, "addr": fip.floating_ip_address,
                    "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": p.mac_address
                }));
            }
        }
    }
    Value::Object(out)
}

/// The short form of list: id, name, links.
pub fn brief(pod: &Pod, s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "links": links(pod, &format!("servers/{}", s.id))})
}

/// The full server document. `show` adds what only show/update answers carry (2.71
/// `server_groups`).
pub fn full(pod: &Pod, st: &State, ctx: &Ctx, s: &Server, show: bool) -> Value {
    let mv = ctx.mv;
    let status = s.status();
    let image = match &s.image_id {
        Some(id) => {
            json!({"id": id, "links": [{"rel": "bookmark", "href": format!("{}/compute/images/{id}", pod.base_url)}]})
        }
        None => json!(""),
    };
    let flavor = if mv.ge(2, 47) {
        json!({
            "vcpus": s.flavor.vcpus, "ram": s.flavor.ram, "disk": s.flavor.disk,
            "ephemeral": s.flavor.ephemeral, "swap": s.flavor.swap,
            "original_name": s.flavor.name, "extra_specs": s.flavor.extra_specs,
        })
    } else {
        json!({"id": s.flavor.id, "links": [{"rel": "bookmark", "href": format!("{}/compute/flavors/{}", pod.base_url, s.flavor.id)}]})
    };
    let volumes: Vec<Value> = s
        .volumes
        .iter()
        .map(|b| {
            if mv.ge(2, 3) {
                json!({"id": b.volume_id, "delete_on_termination": b.delete_on_termination})
            } else {
                json!({"id": b.volume_id})
            }
        })
        .collect();
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "status": status,
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": s.metadata,
        "hostId": host_id(&s.project_id, &s.host),
        "image": image,
        "flavor": flavor,
        "created": fmt::iso(&s.created),
        "updated": fmt::iso(&s.updated),
        "addresses": addresses(st, s),
        "accessIPv4": s.access_ipv4,
        "accessIPv6": s.access_ipv6,
        "links": links(pod, &format!("servers/{}", s.id)),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": if s.vm_state == "building" { String::new() } else { s.availability_zone.clone() },
        "config_drive": if s.config_drive { "True" } else { "" },
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": s.launched_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
        "OS-SRV-USG:terminated_at": null,
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:power_state": s.power_state,
        "os-extended-volumes:volumes_attached": volumes,
    });
    if matches!(status, "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING") {
        v["progress"] = json!(if status == "BUILD" { 0 } else { 100 });
    }
    if !s.security_groups.is_empty() {
        v["security_groups"] =
            json!(s.security_groups.iter().map(|n| json!({"name": n})).collect::<Vec<_>>());
    }
    if ctx.is_admin {
        v["OS-EXT-SRV-ATTR:host"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{:08x}", s.seq));
        v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(s.host);
        if mv.ge(2, 3) {
            v["OS-EXT-SRV-ATTR:reservation_id"] = json!(s.reservation_id);
            v["OS-EXT-SRV-ATTR:launch_index"] = json!(s.launch_index);
            v["OS-EXT-SRV-ATTR:hostname"] = json!(s.hostname);
            v["OS-EXT-SRV-ATTR:kernel_id"] = json!("");
            v["OS-EXT-SRV-ATTR:ramdisk_id"] = json!("");
            v["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
            v["OS-EXT-SRV-ATTR:user_data"] = json!(s.user_data);
        }
        if mv.ge(2, 16) {
            v["host_status"] = json!(if s.host.is_empty() { "" } else { "UP" });
        }
    } else if mv.ge(2, 90) {
        v["OS-EXT-SRV-ATTR:hostname"] = json!(s.hostname);
    }
    if mv.ge(2, 9) {
        v["locked"] = json!(s.locked);
    }
    if mv.ge(2, 19) {
        v["description"] = json!(s.description);
    }
    if mv.ge(2, 26) {
        v["tags"] = json!(s.tags);
    }
    if mv.ge(2, 63) {
        v["trusted_image_certificates"] = Value::Null;
    }
    if mv.ge(2, 71) && show {
        let groups: Vec<&String> = st
            .compute
            .server_groups
            .values()
            .filter(|g| g.members.contains(&s.id))
            .map(|g| &g.id)
            .collect();
        v["server_groups"] = json!(groups);
    }
    if mv.ge(2, 73) {
        v["locked_reason"] = json!(s.locked_reason);
    }
    if mv.ge(2, 96) {
        v["pinned_availability_zone"] = json!(s.pinned_az);
    }
    if let Some(f) = &s.fault {
        v["fault"] = f.clone();
    }
    v
}
