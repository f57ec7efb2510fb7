//! The small Nova resources: availability zones, limits, hypervisors and compute services
//! (server groups are in `server_groups`). Each simulated host is one `nova-compute` service
//! and one hypervisor in the pod's availability zone; admins also see the `internal` zone, as
//! on real Nova.

use axum::extract::{Path, State};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::SVC;
use crate::http::{ApiError, ApiResult, Ctx, Query, json_resp};
use crate::pod::Pod;
use crate::state::fmt;

fn admin(ctx: &Ctx, rule: &str) -> ApiResult<()> {
    if ctx.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            SVC,
            format!("Policy doesn't allow os_compute_api:{rule} to be performed."),
        ))
    }
}

pub async fn az_list(State(pod): State<Pod>, _ctx: Ctx) -> ApiResult {
    Ok(json_resp(
        200,
        json!({"availabilityZoneInfo": [{"zoneName": pod.az, "zoneState": {"available": true}, "hosts": null}]}),
    ))
}

pub async fn az_detail(State(pod): State<Pod>, ctx: Ctx) -> ApiResult {
    admin(&ctx, "os-availability-zone:detail")?;
    let now = fmt::iso(&Utc::now());
    let svc = |_: &str| json!({"available": true, "active": true, "updated_at": now});
    let mut hosts = Map::new();
    for h in &pod.hosts {
        hosts.insert(h.name.clone(), json!({"nova-compute": svc("nova-compute")}));
    }
    let controller = format!("{}-controller", pod.region.to_lowercase());
    Ok(json_resp(
        200,
        json!({"availabilityZoneInfo": [
            {"zoneName": "internal", "zoneState": {"available": true},
             "hosts": {controller: {"nova-conductor": svc("c"), "nova-scheduler": svc("s")}}},
            {"zoneName": pod.az, "zoneState": {"available": true}, "hosts": hosts},
        ]}),
    ))
}

pub async fn limits(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let project = match q.get("tenant_id") {
        Some(t) if ctx.is_admin => t.to_string(),
        _ => ctx.project_id.clone(),
    };
    let st = pod.read();
    let servers: Vec<_> = st.compute.servers.values().filter(|s| s.project_id == project).collect();
    let cores: u64 = servers.iter().map(|s| s.flavor.vcpus).sum();
    let ram: u64 = servers.iter().map(|s| s.flavor.ram).sum();
    let groups = st.compute.server_groups.values().filter(|g| g.project_id == project).count();
    let mut abs = json!({
        "maxServerMeta": 128, "maxTotalKeypairs": 100, "maxServerGroupMembers": 10,
        "maxServerGroups": 10, "maxTotalCores": 20, "maxTotalInstances": 10,
        "maxTotalRAMSize": 51200, "totalCoresUsed": cores, "totalInstancesUsed": servers.len(),
        "totalRAMUsed": ram, "totalServerGroupsUsed": groups,
    });
    if !ctx.mv.ge(2, 36) {
        abs["maxSecurityGroupRules"] = json!(20);
        abs["maxSecurityGroups"] = json!(10);
        abs["maxTotalFloatingIps"] = json!(10);
        abs["totalSecurityGroupsUsed"] = json!(0);
        abs["totalFloatingIpsUsed"] = json!(0);
    }
    if !ctx.mv.ge(2, 39) {
        abs["maxImageMeta"] = json!(128);
    }
    if !ctx.mv.ge(2, 57) {
        abs["maxPersonality"] = json!(5);
        abs["maxPersonalitySize"] = json!(10240);
    }
    Ok(json_resp(200, json!({"limits": {"rate": [], "absolute": abs}})))
}

fn hypervisors(pod: &Pod, ctx: &Ctx, detail: bool) -> Value {
    let st = pod.read();
    let list: Vec<Value> = pod
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let id = if ctx.mv.ge(2, 53) { json!(host_uuid(&h.name)) } else { json!(i + 1) };
            let mut v = json!({"id": id, "hypervisor_hostname": h.name, "state": "up", "status": "enabled"});
            if detail {
                let running = st.compute.servers.values().filter(|s| s.host == h.name).count();
                v["host_ip"] = json!(h.tunnel_ip.to_string());
                v["hypervisor_type"] = json!("fake");
                v["hypervisor_version"] = json!(1000);
                v["service"] = json!({"host": h.name, "id": i + 1, "disabled_reason": null});
                if !ctx.mv.ge(2, 88) {
                    v["running_vms"] = json!(running);
                    v["vcpus"] = json!(64);
                    v["memory_mb"] = json!(262_144);
                    v["local_gb"] = json!(2048);
                }
            }
            v
        })
        .collect();
    json!({"hypervisors": list})
}

pub async fn hypervisor_list(State(pod): State<Pod>, ctx: Ctx) -> ApiResult {
    admin(&ctx, "os-hypervisors:list")?;
    Ok(json_resp(200, hypervisors(&pod, &ctx, false)))
}

pub async fn hypervisor_detail(State(pod): State<Pod>, ctx: Ctx) -> ApiResult {
    admin(&ctx, "os-hypervisors:list-detail")?;
    Ok(json_resp(200, hypervisors(&pod, &ctx, true)))
}

pub async fn service_list(State(pod): State<Pod>, ctx: Ctx) -> ApiResult {
    admin(&ctx, "os-services:list")?;
    let now = fmt::iso(&Utc::now());
    let controller = format!("{}-controller", pod.region.to_lowercase());
    let mut rows: Vec<(String, String, String)> = vec![
        ("nova-conductor".into(), controller.clone(), "internal".into()),
        ("nova-scheduler".into(), controller, "internal".into()),
    ];
    rows.extend(
        pod.hosts.iter().map(|h| ("nova-compute".to_string(), h.name.clone(), pod.az.clone())),
    );
    let list: Vec<Value> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (binary, host, zone))| {
            let mut v = json!({"id": i + 1, "binary": binary, "host": host, "zone": zone,
                "status": "enabled", "state": "up", "updated_at": now, "disabled_reason": null});
            if ctx.mv.ge(2, 11) {
                v["forced_down"] = json!(false);
            }
            v
        })
        .collect();
    Ok(json_resp(200, json!({"services": list})))
}

/// A stable UUID for a host name (hypervisor ids from 2.53).
fn host_uuid(name: &str) -> String {
    use md5::{Digest, Md5};
    let d = Md5::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d);
    uuid::Uuid::from_bytes(b).to_string()
}

/// Nova's default quotas (no enforcement: the sim reports, it does not refuse).
fn quota_limits(ctx: &Ctx) -> Vec<(&'static str, i64)> {
    let mut q = vec![
        ("cores", 20),
        ("instances", 10),
        ("key_pairs", 100),
        ("metadata_items", 128),
        ("ram", 51200),
        ("server_groups", 10),
        ("server_group_members", 10),
    ];
    if !ctx.mv.ge(2, 57) {
        q.extend([
            ("injected_files", 5),
            ("injected_file_content_bytes", 10240),
            ("injected_file_path_bytes", 255),
        ]);
    }
    if !ctx.mv.ge(2, 36) {
        q.extend([
            ("fixed_ips", -1),
            ("floating_ips", 10),
            ("security_group_rules", 20),
            ("security_groups", 10),
        ]);
    }
    q
}

fn quota_usage(pod: &Pod, project: &str, key: &str) -> u64 {
    let st = pod.read();
    let servers = st.compute.servers.values().filter(|s| s.project_id == project);
    match key {
        "cores" => servers.map(|s| s.flavor.vcpus).sum(),
        "ram" => servers.map(|s| s.flavor.ram).sum(),
        "instances" => servers.count() as u64,
        "server_groups" => {
            st.compute.server_groups.values().filter(|g| g.project_id == project).count() as u64
        }
        _ => 0,
    }
}

fn quota_body(pod: &Pod, ctx: &Ctx, project: &str, detail: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(project));
    for (k, v) in quota_limits(ctx) {
        let val = if detail {
            json!({"limit": v, "in_use": quota_usage(pod, project, k), "reserved": 0})
        } else {
            json!(v)
        };
        m.insert(k.into(), val);
    }
    json!({"quota_set": m})
}

fn quota_project(ctx: &Ctx, project: &str) -> ApiResult<()> {
    if project != ctx.project_id {
        admin(ctx, "os-quota-sets:show")?;
    }
    Ok(())
}

pub async fn quota_show(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult {
    quota_project(&ctx, &project)?;
    Ok(json_resp(200, quota_body(&pod, &ctx, &project, false)))
}

pub async fn quota_detail(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult {
    quota_project(&ctx, &project)?;
    Ok(json_resp(200, quota_body(&pod, &ctx, &project, true)))
}

pub async fn quota_defaults(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult {
    Ok(json_resp(200, quota_body(&pod, &ctx, &project, false)))
}
