//! Whether the top and the pods agree, as the durable-jobs issue states it:
//! every top server is ACTIVE and has exactly one copy, in the pod its
//! routing names; no pod holds a server (or a port copy, or a shadow port)
//! that no top object explains (an orphan), nor two for one top ID (a
//! twin); every top port bound to a server is bound to one that exists.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::procs::{Api, SimPod};

/// The agreed state, for the test's own assertions.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// Top server ID → (status, region of its pod).
    pub servers: BTreeMap<String, (String, String)>,
    /// Top port ID → the server it is bound to.
    pub bound_ports: BTreeMap<String, String>,
    /// Region → the top IDs of the servers it holds.
    pub in_pods: BTreeMap<String, BTreeSet<String>>,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Read the top (as its admin) and each pod (as the pod's admin) and list
/// every disagreement; `Ok` only when there is none.
pub async fn check_world(top: &Api, pods: &[(&SimPod, Api)]) -> Result<World, String> {
    let mut problems = Vec::new();
    let mut world = World::default();
    let regions: BTreeMap<String, String> = top.get("/admin/v1.0/pods").await["pods"]
        .as_array()
        .expect("pods")
        .iter()
        .map(|p| (s(&p["pod_id"]), s(&p["region_name"])))
        .collect();
    let routings = top.all("/admin/v1.0/routings?resource_type=server&limit=500", "routings").await;
    let mut routed: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    for r in &routings {
        let region = regions.get(&s(&r["pod_id"])).cloned().unwrap_or_default();
        routed
            .entry(s(&r["top_id"]))
            .or_default()
            .push((region, r["bottom_id"].as_str().map(str::to_string)));
    }
    let listed = top.get("/compute/v2.1/servers/detail?all_tenants=1").await;
    for sv in listed["servers"].as_array().expect("servers") {
        let id = s(&sv["id"]);
        let status = s(&sv["status"]);
        if status != "ACTIVE" {
            problems.push(format!("top server {id} is {status}"));
        }
        let region = match routed.get(&id).map(Vec::as_slice) {
            Some([(region, Some(_))]) => region.clone(),
            other => {
                problems.push(format!(
                    "top server {id} has routings {other:?}, not one with a bottom ID"
                ));
                String::new()
            }
        };
        world.servers.insert(id, (status, region));
    }
    for top_id in routed.keys() {
        if !world.servers.contains_key(top_id) {
            problems.push(format!("a server routing for {top_id}, which is no top server"));
        }
    }

    // Top ports: bound ones are bound to an existing server.
    let mut networks: BTreeMap<String, String> = BTreeMap::new();
    let ports = top.get("/networking/v2.0/ports").await;
    for p in ports["ports"].as_array().expect("ports") {
        let (id, device, owner) = (s(&p["id"]), s(&p["device_id"]), s(&p["device_owner"]));
        if !owner.starts_with("compute:") || device.is_empty() {
            continue;
        }
        if !world.servers.contains_key(&device) {
            problems.push(format!("top port {id} is bound to {device}, which is no top server"));
        }
        networks.insert(id.clone(), s(&p["network_id"]));
        world.bound_ports.insert(id, device);
    }
    // Where each network has a server's port: every other such pod needs a
    // shadow of each of its bound ports (cross-pod L2).
    let mut pods_of_net: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (port, server) in &world.bound_ports {
        if let Some((_, home)) = world.servers.get(server) {
            pods_of_net.entry(networks[port].clone()).or_default().insert(home.clone());
        }
    }

    for (pod, admin) in pods {
        let region = pod.region.clone();
        let bottoms = admin.get("/compute/v2.1/servers/detail?all_tenants=1").await;
        let mut names: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for b in bottoms["servers"].as_array().expect("servers") {
            names.entry(s(&b["name"])).or_default().push((s(&b["id"]), s(&b["status"])));
        }
        for (name, copies) in &names {
            match world.servers.get(name) {
                None => problems.push(format!("orphan in {region}: server {name} {copies:?}")),
                Some((_, home)) if *home != region => problems
                    .push(format!("server {name} lives in {home} but has a copy in {region}")),
                Some(_) => {}
            }
            if copies.len() > 1 {
                problems.push(format!(
                    "twin in {region}: {} copies of server {name}: {copies:?}",
                    copies.len()
                ));
            }
            if let [(bottom, status)] = copies.as_slice() {
                if status != "ACTIVE" {
                    problems.push(format!("the copy of {name} in {region} is {status}"));
                }
                if let Some([(_, Some(b))]) = routed.get(name).map(Vec::as_slice)
                    && b != bottom
                {
                    problems
                        .push(format!("server {name}: routing says {b}, {region} holds {bottom}"));
                }
            }
        }
        for (id, (_, home)) in &world.servers {
            if *home == region && !names.contains_key(id) {
                problems.push(format!("top server {id} has no copy in its pod {region}"));
            }
        }
        world.in_pods.insert(region.clone(), names.keys().cloned().collect());

        // Port copies (named after the top port) and shadows ("shadow-" + top port).
        let bottom_ports = admin.get("/networking/v2.0/ports").await;
        let mut copies: BTreeMap<String, usize> = BTreeMap::new();
        let mut shadows: BTreeMap<String, usize> = BTreeMap::new();
        for p in bottom_ports["ports"].as_array().expect("ports") {
            let (name, owner) = (s(&p["name"]), s(&p["device_owner"]));
            if owner.starts_with("network:") {
                continue;
            }
            match name.strip_prefix("shadow-") {
                Some(top_port) => *shadows.entry(top_port.to_string()).or_default() += 1,
                None => *copies.entry(name).or_default() += 1,
            }
        }
        let home_of = |port: &str| {
            world
                .bound_ports
                .get(port)
                .and_then(|srv| world.servers.get(srv))
                .map(|(_, r)| r.clone())
        };
        for (port, n) in &copies {
            match home_of(port) {
                Some(home) if home == region => {}
                other => problems.push(format!(
                    "orphan port copy {port} in {region} (its server lives in {other:?})"
                )),
            }
            if *n > 1 {
                problems.push(format!("twin: {n} copies of port {port} in {region}"));
            }
        }
        for (port, n) in &shadows {
            match home_of(port) {
                Some(home) if home != region => {}
                other => problems.push(format!(
                    "orphan shadow of port {port} in {region} (its server lives in {other:?})"
                )),
            }
            if *n > 1 {
                problems.push(format!("twin: {n} shadows of port {port} in {region}"));
            }
        }
        for (port, server) in &world.bound_ports {
            let Some((_, home)) = world.servers.get(server) else { continue };
            if *home == region && !copies.contains_key(port) {
                problems.push(format!("port {port} of server {server} has no copy in {region}"));
            }
            let here = pods_of_net.get(&networks[port]).is_some_and(|p| p.contains(&region));
            if *home != region && here && !shadows.contains_key(port) {
                problems.push(format!(
                    "port {port} (server {server} in {home}) has no shadow in {region}"
                ));
            }
        }
    }
    if problems.is_empty() { Ok(world) } else { Err(problems.join("\n")) }
}

/// Every answer a client got held: a create answered 202 made its server
/// (named in `names`, the top's server names), a delete answered 204 left no
/// server at the top or in a pod, a 503 shed under load did nothing, and a
/// 503 saying the work goes on in the background may end either way.
/// `seen` holds `("create NAME" | "delete ID", what the client saw)`.
pub fn check_answers_held(
    seen: &[(String, super::procs::Seen)],
    world: &World,
    names: &std::collections::BTreeSet<String>,
) {
    use super::procs::Seen;
    for (what, s) in seen {
        match (what.split_once(' ').expect("kind and subject"), s) {
            (_, Seen::Answered(503, v)) if v.to_string().contains("in the background") => {}
            (("create", name), Seen::Answered(503, v)) => {
                assert!(!names.contains(name), "{what} was refused ({v}) but made");
            }
            (("delete", id), Seen::Answered(503, v)) => {
                assert!(world.servers.contains_key(id), "{what} was refused ({v}) but done");
            }
            (("create", name), Seen::Answered(status, v)) => {
                assert_eq!(*status, 202, "{what}: {v}");
                let id = v["server"]["id"].as_str().unwrap();
                assert!(world.servers.contains_key(id), "{what} was accepted as {id} but is gone");
                assert!(names.contains(name), "{what} was accepted but its name is not listed");
            }
            (("delete", id), Seen::Answered(status, v)) => {
                assert_eq!(*status, 204, "{what}: {v}");
                assert!(
                    !world.servers.contains_key(id),
                    "{what} was accepted; the server is there"
                );
                assert!(
                    world.in_pods.values().all(|ids| !ids.contains(id)),
                    "{what}: still in a pod"
                );
            }
            (_, Seen::Lost(_)) => {}
            _ => panic!("unexpected request {what}"),
        }
    }
}
