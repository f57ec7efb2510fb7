//! Volume attachments (`os-volume_attachments`) and network interfaces (`os-interface`).
//!
//! Attaching answers 200 at once with the attachment, while the volume goes `attaching` →
//! `in-use` after `delays.volume_attach`, like Nova's asynchronous attach through Cinder.
//! Detaching answers 202 and the volume goes `detaching` → `available`. Interfaces attach by
//! port (taken over and bound to the server's host) or by network (a new port Nova owns and
//! deletes again on detach).

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SVC, require_state, require_unlocked, visible, visible_mut};
use crate::http::{ApiError, ApiResult, Ctx, empty, json_resp, parse_wrapped};
use crate::model::compute::{Bdm, Server};
use crate::model::network::Port;
use crate::neutron::ports::{FixedIpReq, PortSpec};
use crate::pod::Pod;

fn attachment_view(ctx: &Ctx, s: &Server, b: &Bdm) -> Value {
    let mut v = json!({"device": b.device, "serverId": s.id, "volumeId": b.volume_id});
    if !ctx.mv.ge(2, 89) {
        v["id"] = json!(b.volume_id);
    }
    if ctx.mv.ge(2, 70) {
        v["tag"] = json!(b.tag);
    }
    if ctx.mv.ge(2, 79) {
        v["delete_on_termination"] = json!(b.delete_on_termination);
    }
    if ctx.mv.ge(2, 89) {
        v["attachment_id"] = json!(b.attachment_id);
        v["bdm_uuid"] = json!(b.bdm_uuid);
    }
    v
}

pub async fn volume_list(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let s = visible(&st, &ctx, &id)?;
    let list: Vec<Value> = s.volumes.iter().map(|b| attachment_view(&ctx, s, b)).collect();
    Ok(json_resp(200, json!({"volumeAttachments": list})))
}

fn attachment_nf(server: &str, vol: &str) -> ApiError {
    ApiError::not_found(
        SVC,
        "VolumeBDMNotFound",
        format!("Volume {vol} is not attached to instance {server}."),
    )
}

pub async fn volume_show(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, vol)): Path<(String, String)>,
) -> ApiResult {
    let st = pod.read();
    let s = visible(&st, &ctx, &id)?;
    let b =
        s.volumes.iter().find(|b| b.volume_id == vol).ok_or_else(|| attachment_nf(&id, &vol))?;
    Ok(json_resp(200, json!({"volumeAttachment": attachment_view(&ctx, s, b)})))
}

#[derive(Deserialize)]
struct AttachReq {
    #[serde(rename = "volumeId")]
    volume_id: String,
    device: Option<String>,
    tag: Option<String>,
    #[serde(default)]
    delete_on_termination: bool,
}

pub async fn volume_attach(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let r: AttachReq = parse_wrapped(SVC, &body, "volumeAttachment")?;
    let due = pod.due(pod.delays.volume_attach);
    let mut st = pod.write();
    let s = visible(&st, &ctx, &id)?;
    require_unlocked(s, &ctx)?;
    require_state(s, "attach_volume", &["active", "stopped", "paused", "suspended", "resized"])?;
    let host = s.host.clone();
    let used: Vec<String> = s.volumes.iter().map(|b| b.device.clone()).collect();
    if s.volumes.iter().any(|b| b.volume_id == r.volume_id) {
        return Err(bad_volume(&format!(
            "volume {} is already attached to instance {id}",
            r.volume_id
        )));
    }
    let v = st
        .volume
        .volumes
        .get(&r.volume_id)
        .filter(|v| ctx.is_admin || ctx.owns(&v.project_id))
        .ok_or_else(|| {
            ApiError::not_found(
                SVC,
                "VolumeNotFound",
                format!("Volume {} could not be found.", r.volume_id),
            )
        })?;
    let ok = v.status == "available" || (v.multiattach && v.status == "in-use");
    if !ok {
        return Err(bad_volume(&format!(
            "volume {} status must be available or in-use with multiattach, but current status is: {}",
            v.id, v.status
        )));
    }
    let device = match r.device {
        Some(d) if !d.is_empty() && !used.contains(&d) => d,
        _ => (b'b'..=b'z')
            .map(|c| format!("/dev/vd{}", c as char))
            .find(|d| !used.contains(d))
            .unwrap_or_else(|| "/dev/vdz".into()),
    };
    let attachment_id = st.volume_attach_begin(&r.volume_id, &id, &device, &host, due);
    let b = Bdm {
        volume_id: r.volume_id,
        device,
        delete_on_termination: r.delete_on_termination && ctx.mv.ge(2, 79),
        attachment_id,
        bdm_uuid: uuid::Uuid::new_v4().to_string(),
        tag: r.tag,
        boot_index: None,
    };
    let s = visible_mut(&mut st, &ctx, &id)?;
    s.volumes.push(b.clone());
    s.updated = Utc::now();
    let view = attachment_view(&ctx, s, &b);
    Ok(json_resp(200, json!({"volumeAttachment": view})))
}

fn bad_volume(msg: &str) -> ApiError {
    ApiError::bad_request(SVC, format!("Invalid volume: {msg}"))
}

pub async fn volume_detach(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, vol)): Path<(String, String)>,
) -> ApiResult {
    let due = pod.due(pod.delays.volume_attach);
    let mut st = pod.write();
    let s = visible_mut(&mut st, &ctx, &id)?;
    require_unlocked(s, &ctx)?;
    let idx = s
        .volumes
        .iter()
        .position(|b| b.volume_id == vol)
        .ok_or_else(|| attachment_nf(&id, &vol))?;
    if s.volumes[idx].boot_index == Some(0) {
        return Err(ApiError::bad_request(SVC, "Cannot detach a root device volume"));
    }
    s.volumes.remove(idx);
    s.updated = Utc::now();
    st.volume_detach_begin(&vol, &id, due);
    Ok(empty(202))
}

fn interface_view(ctx: &Ctx, p: &Port) -> Value {
    let mut v = json!({
        "fixed_ips": p.fixed_ips.iter().map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address})).collect::<Vec<_>>(),
        "mac_addr": p.mac_address,
        "net_id": p.network_id,
        "port_id": p.id,
        "port_state": p.status,
    });
    if ctx.mv.ge(2, 70) {
        v["tag"] = Value::Null;
    }
    v
}

pub async fn interface_list(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let s = visible(&st, &ctx, &id)?;
    let list: Vec<Value> = s
        .ports
        .iter()
        .filter_map(|p| st.network.ports.get(p))
        .map(|p| interface_view(&ctx, p))
        .collect();
    Ok(json_resp(200, json!({"interfaceAttachments": list})))
}

fn interface_nf(port: &str) -> ApiError {
    ApiError::not_found(SVC, "PortNotFound", format!("Port {port} is not attached"))
}

pub async fn interface_show(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, port)): Path<(String, String)>,
) -> ApiResult {
    let st = pod.read();
    let s = visible(&st, &ctx, &id)?;
    if !s.ports.contains(&port) {
        return Err(interface_nf(&port));
    }
    let p = st.network.ports.get(&port).ok_or_else(|| interface_nf(&port))?;
    Ok(json_resp(200, json!({"interfaceAttachment": interface_view(&ctx, p)})))
}

#[derive(Deserialize)]
struct InterfaceReq {
    port_id: Option<String>,
    net_id: Option<String>,
    #[serde(default)]
    fixed_ips: Vec<FixedIpReq>,
}

pub async fn interface_attach(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let r: InterfaceReq = parse_wrapped(SVC, &body, "interfaceAttachment")?;
    let mut st = pod.write();
    let s = visible(&st, &ctx, &id)?;
    require_unlocked(s, &ctx)?;
    require_state(s, "attach_interface", &["active", "stopped", "paused"])?;
    let (host, project, az) = (s.host.clone(), s.project_id.clone(), s.availability_zone.clone());
    let (port_id, owned) = match (r.port_id, r.net_id) {
        (Some(p), _) => {
            let port = st.network.ports.get(&p).ok_or_else(|| {
                ApiError::not_found(SVC, "PortNotFound", format!("Port {p} could not be found."))
            })?;
            if !port.device_id.is_empty() {
                return Err(ApiError::conflict(
                    SVC,
                    "PortInUse",
                    format!("Port {p} is still in use."),
                ));
            }
            st.port_bind(&p, &host, &id, &format!("compute:{az}"));
            (p, false)
        }
        (None, Some(net)) => {
            let mut spec = PortSpec::new(&net, &project);
            spec.device_id = id.clone();
            spec.device_owner = format!("compute:{az}");
            spec.binding_host_id = host.clone();
            if !r.fixed_ips.is_empty() {
                spec.fixed_ips = Some(r.fixed_ips);
            }
            (st.port_create(spec).map_err(|e| e.svc(SVC))?, true)
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                SVC,
                "Invalid input for field/attribute interfaceAttachment: port_id or net_id is required.",
            ));
        }
    };
    let running = st.compute.servers.get(&id).is_some_and(|s| s.vm_state == "active");
    if let Some(p) = st.network.ports.get_mut(&port_id) {
        p.status = if running { "ACTIVE".into() } else { "DOWN".into() };
    }
    let s = visible_mut(&mut st, &ctx, &id)?;
    s.ports.push(port_id.clone());
    if owned {
        s.owned_ports.push(port_id.clone());
    }
    let p = st.network.ports.get(&port_id).expect("just bound");
    Ok(json_resp(200, json!({"interfaceAttachment": interface_view(&ctx, p)})))
}

pub async fn interface_detach(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, port)): Path<(String, String)>,
) -> ApiResult {
    let mut st = pod.write();
    let s = visible_mut(&mut st, &ctx, &id)?;
    require_unlocked(s, &ctx)?;
    if !s.ports.contains(&port) {
        return Err(interface_nf(&port));
    }
    s.ports.retain(|p| p != &port);
    let owned = s.owned_ports.contains(&port);
    s.owned_ports.retain(|p| p != &port);
    if owned {
        st.port_remove(&port);
    } else {
        st.port_unbind(&port);
    }
    Ok(empty(202))
}
