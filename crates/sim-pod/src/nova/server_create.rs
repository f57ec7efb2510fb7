//! Server create: validation as Nova does it, then ports, volumes and placement in one step.
//!
//! Everything a real boot asks of other services happens here under the state lock: the
//! image is looked up in Glance, ports are created (or taken over) in Neutron with the host
//! binding, boot volumes are created from images or attached, the host is chosen round-robin
//! (or forced with `availability_zone` `az:host`). The server starts in BUILD and a transition
//! makes it ACTIVE after the configured delay. `min_count`/`max_count` create several servers
//! with one reservation id, the first one answered.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SVC, links};
use crate::http::{ApiError, ApiResult, Ctx, json_resp, parse};
use crate::model::compute::{Bdm, Server, power};
use crate::neutron::ports::{FixedIpReq, PortSpec};
use crate::pod::Pod;
use crate::state::{State as PodState, Transition};

#[derive(Deserialize)]
struct CreateBody {
    server: CreateReq,
    #[serde(rename = "os:scheduler_hints", alias = "OS-SCH-HNT:scheduler_hints")]
    scheduler_hints: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize)]
struct CreateReq {
    name: String,
    #[serde(rename = "imageRef", default)]
    image_ref: Option<String>,
    #[serde(rename = "flavorRef")]
    flavor_ref: Value,
    networks: Option<Value>,
    block_device_mapping_v2: Option<Vec<BdmReq>>,
    availability_zone: Option<String>,
    key_name: Option<String>,
    user_data: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    security_groups: Option<Vec<NameRef>>,
    min_count: Option<Value>,
    max_count: Option<Value>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    config_drive: Option<Value>,
    #[serde(rename = "adminPass")]
    admin_pass: Option<String>,
    hostname: Option<String>,
    #[serde(rename = "accessIPv4")]
    access_ipv4: Option<String>,
    #[serde(rename = "accessIPv6")]
    access_ipv6: Option<String>,
}

#[derive(Deserialize)]
struct NameRef {
    name: String,
}

#[derive(Deserialize, Clone)]
struct BdmReq {
    boot_index: Option<Value>,
    uuid: Option<String>,
    source_type: Option<String>,
    destination_type: Option<String>,
    volume_size: Option<Value>,
    #[serde(default)]
    delete_on_termination: bool,
    tag: Option<String>,
    volume_type: Option<String>,
}

/// One requested NIC.
enum Nic {
    Network { id: String, fixed_ip: Option<String> },
    Port(String),
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(SVC, msg)
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn last_segment(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(s.rsplit('/').next().unwrap_or(&s).to_string())
}

fn parse_nics(st: &PodState, ctx: &Ctx, networks: Option<&Value>) -> ApiResult<Vec<Nic>> {
    let networks = match networks {
        None if ctx.mv.ge(2, 37) => {
            return Err(bad(
                "Invalid input for field/attribute server. Value: networks is a required property.",
            ));
        }
        None => Some(&Value::String("auto".into())),
        Some(n) => Some(n),
    };
    match networks {
        Some(Value::String(s)) if s == "none" => Ok(Vec::new()),
        Some(Value::String(s)) if s == "auto" => {
            let usable: Vec<&String> = st
                .network
                .networks
                .values()
                .filter(|n| !n.external && (n.project_id == ctx.project_id || n.shared))
                .filter(|n| st.network.subnets.values().any(|s| s.network_id == n.id))
                .map(|n| &n.id)
                .collect();
            match usable.as_slice() {
                [] => Err(bad(format!("Unable to automatically allocate a network for project {}", ctx.project_id))),
                [one] => Ok(vec![Nic::Network { id: (*one).clone(), fixed_ip: None }]),
                _ => Err(ApiError::conflict(
                    SVC,
                    "NetworkAmbiguous",
                    "Multiple possible networks found, use a Network ID to be more specific.",
                )),
            }
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|n| {
                if let Some(p) = n.get("port").and_then(Value::as_str).filter(|p| !p.is_empty()) {
                    Ok(Nic::Port(p.to_string()))
                } else if let Some(u) = n.get("uuid").and_then(Value::as_str) {
                    Ok(Nic::Network {
                        id: u.to_string(),
                        fixed_ip: n.get("fixed_ip").and_then(Value::as_str).map(str::to_string),
                    })
                } else {
                    Err(bad("Invalid input for field/attribute networks: a network needs a uuid or a port."))
                }
            })
            .collect(),
        Some(other) => Err(bad(format!("Invalid input for field/attribute networks. Value: {other}."))),
        None => Ok(Vec::new()),
    }
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let req: CreateBody = parse(SVC, &body)?;
    let hints = req.scheduler_hints.unwrap_or_default();
    let r = req.server;
    if r.name.trim().is_empty() || r.name.len() > 255 {
        return Err(bad(format!("Invalid input for field/attribute name. Value: {}.", r.name)));
    }
    let min = r
        .min_count
        .as_ref()
        .map(|v| as_u64(v).ok_or_else(|| bad("Invalid input for field/attribute min_count.")))
        .transpose()?
        .unwrap_or(1);
    let max = r
        .max_count
        .as_ref()
        .map(|v| as_u64(v).ok_or_else(|| bad("Invalid input for field/attribute max_count.")))
        .transpose()?
        .unwrap_or(min);
    if min == 0 || max < min {
        return Err(bad("min_count must be <= max_count"));
    }
    let flavor_id =
        last_segment(&r.flavor_ref).ok_or_else(|| bad("Invalid flavorRef provided."))?;
    let build_due = pod.due(pod.delays.server_build);
    let mut st = pod.write();
    let flavor = st
        .compute
        .flavors
        .get(&flavor_id)
        .filter(|f| f.is_public || ctx.is_admin || f.access.contains(&ctx.project_id))
        .cloned()
        .ok_or_else(|| bad(format!("Flavor {flavor_id} could not be found.")))?;
    let bdms = r.block_device_mapping_v2.clone().unwrap_or_default();
    let boot_bdm = bdms.iter().find(|b| b.boot_index.as_ref().and_then(as_i64) == Some(0)).cloned();
    let image_id = r
        .image_ref
        .clone()
        .filter(|s| !s.is_empty())
        .map(|s| s.rsplit('/').next().unwrap_or(&s).to_string());
    let image_id = match (&image_id, &boot_bdm) {
        (_, Some(b))
            if b.source_type.as_deref() == Some("volume")
                || b.destination_type.as_deref() == Some("volume") =>
        {
            None
        }
        (Some(i), _) => Some(i.clone()),
        (None, Some(b)) if b.source_type.as_deref() == Some("image") => b.uuid.clone(),
        (None, _) => {
            return Err(bad(
                "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.",
            ));
        }
    };
    let image = match &image_id {
        Some(i) => Some(
            st.image_visible(&ctx, i)
                .filter(|img| img.status == "active")
                .cloned()
                .ok_or_else(|| bad(format!("Image {i} could not be found.")))?,
        ),
        None => None,
    };
    if let Some(img) = &image
        && flavor.disk > 0
        && img.min_disk > flavor.disk
    {
        return Err(bad("Flavor's disk is too small for requested image."));
    }
    let az = match r.availability_zone.as_deref() {
        None | Some("") => None,
        Some(a) => Some(a.to_string()),
    };
    let (az_name, forced_host) = match az
        .as_deref()
        .map(|a| a.split_once(':').map(|(z, h)| (z, Some(h))).unwrap_or((a, None)))
    {
        None => (pod.az.clone(), None),
        Some((z, h)) => {
            if !z.is_empty() && z != pod.az {
                return Err(bad("The requested availability zone is not available"));
            }
            if let Some(h) = h
                && !ctx.is_admin
            {
                let _ = h;
                return Err(ApiError::forbidden(
                    SVC,
                    "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.",
                ));
            }
            let h = h.filter(|h| !h.is_empty()).map(str::to_string);
            if let Some(h) = &h
                && !pod.hosts.iter().any(|x| &x.name == h)
            {
                return Err(bad(format!("Compute host {h} could not be found.")));
            }
            (pod.az.clone(), h)
        }
    };
    if let Some(k) = &r.key_name
        && !st.compute.keypairs.contains_key(&crate::model::compute::keypair_key(&ctx.user_id, k))
    {
        return Err(bad("Invalid key_name provided."));
    }
    let group = super::server_groups::hinted_group(&st, hints.get("group"))?;
    let sg_names: Vec<String> = r
        .security_groups
        .as_ref()
        .map(|v| v.iter().map(|n| n.name.clone()).collect())
        .unwrap_or_else(|| vec!["default".to_string()]);
    let mut sg_ids = Vec::new();
    for n in &sg_names {
        sg_ids.push(st.security_group_for(&ctx.project_id, n).ok_or_else(|| {
            bad(format!("Security group {n} not found for project {}.", ctx.project_id))
        })?);
    }
    let nics = parse_nics(&st, &ctx, r.networks.as_ref())?;
    // Validate NICs before creating anything, so a bad request leaves nothing behind.
    for nic in &nics {
        match nic {
            Nic::Network { id, .. } => {
                let n = st
                    .network
                    .networks
                    .get(id)
                    .filter(|n| n.project_id == ctx.project_id || n.shared || ctx.is_admin);
                if n.is_none() {
                    return Err(bad(format!("Network {id} could not be found.")));
                }
            }
            Nic::Port(p) => {
                let port = st
                    .network
                    .ports
                    .get(p)
                    .filter(|x| x.project_id == ctx.project_id || ctx.is_admin)
                    .ok_or_else(|| bad(format!("Port {p} could not be found.")))?;
                if !port.device_id.is_empty() {
                    return Err(ApiError::conflict(
                        SVC,
                        "PortInUse",
                        format!("Port {p} is still in use."),
                    ));
                }
            }
        }
    }
    if max > 1 && nics.iter().any(|n| matches!(n, Nic::Port(_))) {
        return Err(bad(
            "Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.",
        ));
    }
    // Boot volume checks.
    if let Some(b) = &boot_bdm
        && b.source_type.as_deref() == Some("volume")
    {
        let vid = b.uuid.clone().unwrap_or_default();
        let v = st
            .volume
            .volumes
            .get(&vid)
            .filter(|v| v.project_id == ctx.project_id || ctx.is_admin)
            .ok_or_else(|| {
                bad(format!("Block Device Mapping is Invalid: failed to get volume {vid}."))
            })?;
        if v.status != "available" {
            return Err(bad(format!(
                "Block Device Mapping is Invalid: volume {vid} status must be available, but current status is: {}.",
                v.status
            )));
        }
        if !v.bootable {
            return Err(bad(format!("Block Device {vid} is not bootable.")));
        }
    }

    let reservation_id = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let now = Utc::now();
    let mut first: Option<(String, String)> = None;
    for index in 0..max {
        let id = uuid::Uuid::new_v4().to_string();
        let host = match &forced_host {
            Some(h) => Some(h.clone()),
            None => {
                let i = st.next_host % pod.hosts.len().max(1);
                st.next_host += 1;
                match &group {
                    Some(g) => {
                        let names: Vec<String> = pod.hosts.iter().map(|h| h.name.clone()).collect();
                        super::server_groups::host_for_member(&st, g, &names, i)
                    }
                    None => pod.hosts.get(i).map(|h| h.name.clone()),
                }
            }
        };
        // No host meets the group's hard policy: the server is made and
        // goes to ERROR, as the real scheduler leaves it.
        let no_valid_host = host.is_none();
        let host = host.unwrap_or_default();
        let name = if max > 1 { format!("{}-{}", r.name, index + 1) } else { r.name.clone() };
        let mut ports = Vec::new();
        let mut owned = Vec::new();
        for nic in nics.iter().filter(|_| !no_valid_host) {
            match nic {
                Nic::Network { id: net, fixed_ip } => {
                    let mut spec = PortSpec::new(net, &ctx.project_id);
                    spec.device_id = id.clone();
                    spec.device_owner = format!("compute:{az_name}");
                    spec.binding_host_id = host.clone();
                    spec.security_groups = Some(sg_ids.clone());
                    if let Some(ip) = fixed_ip {
                        spec.fixed_ips = Some(vec![FixedIpReq {
                            subnet_id: None,
                            ip_address: Some(ip.clone()),
                        }]);
                    }
                    let pid = st.port_create(spec).map_err(|e| e.svc(SVC))?;
                    ports.push(pid.clone());
                    owned.push(pid);
                }
                Nic::Port(p) => {
                    st.port_bind(p, &host, &id, &format!("compute:{az_name}"));
                    ports.push(p.clone());
                }
            }
        }
        let mut volumes = Vec::new();
        let mut root_disk = image.as_ref().and_then(|i| i.data.clone());
        for (i, b) in bdms.iter().enumerate().filter(|_| !no_valid_host) {
            let device = format!("/dev/vd{}", (b'a' + i as u8) as char);
            let vid = match (b.source_type.as_deref(), b.destination_type.as_deref()) {
                (Some("volume"), _) => b.uuid.clone().unwrap_or_default(),
                (Some("image"), Some("volume")) => {
                    let size =
                        b.volume_size.as_ref().and_then(as_u64).unwrap_or(flavor.disk.max(1));
                    st.volume_from_image_for_boot(
                        &ctx,
                        b.uuid.as_deref().unwrap_or_default(),
                        size,
                        b.volume_type.as_deref(),
                        &pod.az,
                    )
                    .map_err(|e| e.svc(SVC))?
                }
                (Some("blank"), Some("volume")) => {
                    let size = b.volume_size.as_ref().and_then(as_u64).unwrap_or(1);
                    st.volume_blank_for_boot(&ctx, size, &pod.az)
                }
                _ => continue,
            };
            let attachment_id = st.volume_attached(&vid, &id, &device, &host);
            volumes.push(Bdm {
                volume_id: vid,
                device,
                delete_on_termination: b.delete_on_termination,
                attachment_id,
                bdm_uuid: uuid::Uuid::new_v4().to_string(),
                tag: b.tag.clone(),
                boot_index: b.boot_index.as_ref().and_then(as_i64),
            });
        }
        if image.is_none() {
            // Volume-backed: the root disk lives in the boot volume, not in the server.
            root_disk = None;
        }
        let admin_pass = r
            .admin_pass
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
        let seq = st.next_seq();
        let server = Server {
            id: id.clone(),
            seq,
            name: name.clone(),
            project_id: ctx.project_id.clone(),
            user_id: ctx.user_id.clone(),
            vm_state: "building".into(),
            task_state: Some("spawning".into()),
            power_state: power::NOSTATE,
            flavor: flavor.clone(),
            old_flavor: None,
            image_id: image.as_ref().map(|i| i.id.clone()),
            host,
            availability_zone: az_name.clone(),
            pinned_az: az.as_ref().map(|_| az_name.clone()),
            key_name: r.key_name.clone(),
            user_data: r.user_data.clone(),
            metadata: r.metadata.clone().unwrap_or_default(),
            created: now,
            updated: now,
            launched_at: None,
            ports,
            owned_ports: owned,
            volumes,
            security_groups: sg_names.clone(),
            admin_pass: admin_pass.clone(),
            description: r.description.clone(),
            locked: false,
            locked_reason: None,
            tags: r.tags.clone().unwrap_or_default(),
            config_drive: r.config_drive.as_ref().is_some_and(|v| {
                v.as_bool() == Some(true) || v.as_str().is_some_and(crate::http::is_true)
            }),
            hostname: r.hostname.clone().unwrap_or_else(|| sanitize_hostname(&name)),
            access_ipv4: r.access_ipv4.clone().unwrap_or_default(),
            access_ipv6: r.access_ipv6.clone().unwrap_or_default(),
            reservation_id: reservation_id.clone(),
            launch_index: index,
            root_disk,
            fault: None,
        };
        st.compute.servers.insert(id.clone(), server);
        if let Some(g) = &group
            && let Some(g) = st.compute.server_groups.get_mut(g)
        {
            g.members.push(id.clone());
        }
        if no_valid_host {
            if let Some(s) = st.compute.servers.get_mut(&id) {
                s.vm_state = "error".into();
                s.task_state = None;
                s.fault = Some(json!({"code": 500, "created": crate::state::fmt::iso(&now),
                    "message": "No valid host was found. There are not enough hosts available."}));
            }
        } else {
            st.schedule(
                build_due,
                Transition::ServerSettle {
                    id: id.clone(),
                    vm_state: "active".into(),
                    power_state: power::RUNNING,
                },
            );
        }
        if first.is_none() {
            first = Some((id, admin_pass));
        }
    }
    let (id, admin_pass) = first.expect("max >= 1");
    drop(st);
    let body = json!({
        "id": id,
        "links": links(&pod, &format!("servers/{id}")),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": sg_names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "adminPass": admin_pass,
    });
    let mut resp = json_resp(202, json!({ "server": body }));
    if let Ok(v) = HeaderValue::from_str(&format!("{}/compute/v2.1/servers/{id}", pod.base_url)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Nova's hostname from a display name: lowercase, alphanumerics and dashes, 63 chars.
fn sanitize_hostname(name: &str) -> String {
    let mut h: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    h.truncate(63);
    let h = h.trim_matches('-').to_string();
    if h.is_empty() { "server".into() } else { h }
}
