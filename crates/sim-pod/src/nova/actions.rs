//! `POST /servers/{id}/action`: one URL, dispatched on the body's single top-level key.
//!
//! Each action checks the state Nova would check (409 `Cannot 'stop' instance ... while it is in
//! vm_state stopped`), sets the task state, and queues a transition that settles the server
//! after `delays.server_action`. `createImage` makes a Glance image holding the server's root
//! disk bytes (shared, not copied); live migration moves the server and rebinds its ports to
//! the new host, which is what the dataplane view then shows.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::{SVC, require_state, require_unlocked, visible, visible_mut};
use crate::http::{ApiError, ApiResult, Ctx, empty, json_resp, parse};
use crate::model::compute::power;
use crate::pod::Pod;
use crate::state::Transition;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(SVC, msg)
}

pub async fn action(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let v: Map<String, Value> = parse(SVC, &body)?;
    let Some((name, arg)) = v.into_iter().next() else {
        return Err(bad("Malformed request body"));
    };
    let due = pod.due(pod.delays.server_action);
    let mut st = pod.write();
    visible(&st, &ctx, &id)?;
    let settle = |vm: &str, p: u8| Transition::ServerSettle {
        id: id.clone(),
        vm_state: vm.into(),
        power_state: p,
    };
    let s = visible_mut(&mut st, &ctx, &id)?;
    let lock_exempt = matches!(name.as_str(), "lock" | "unlock" | "os-getConsoleOutput");
    if !lock_exempt {
        require_unlocked(s, &ctx)?;
    }
    s.updated = Utc::now();
    let next = match name.as_str() {
        "os-start" => {
            require_state(s, "start", &["stopped"])?;
            s.task_state = Some("powering-on".into());
            Some(settle("active", power::RUNNING))
        }
        "os-stop" => {
            require_state(s, "stop", &["active", "error", "resized", "rescued"])?;
            s.task_state = Some("powering-off".into());
            Some(settle("stopped", power::SHUTDOWN))
        }
        "reboot" => {
            let hard = arg.get("type").and_then(Value::as_str).map(str::to_ascii_uppercase);
            match hard.as_deref() {
                Some("HARD") => {
                    require_state(
                        s,
                        "reboot",
                        &["active", "stopped", "paused", "suspended", "error"],
                    )?;
                    s.task_state = Some("rebooting_hard".into());
                }
                Some("SOFT") => {
                    require_state(s, "reboot", &["active"])?;
                    s.task_state = Some("rebooting".into());
                }
                _ => {
                    return Err(bad(
                        "Invalid input for field/attribute reboot. Value: type must be SOFT or HARD.",
                    ));
                }
            }
            Some(settle("active", power::RUNNING))
        }
        "resize" => {
            let fid = arg
                .get("flavorRef")
                .and_then(|f| {
                    f.as_str().map(str::to_string).or_else(|| f.as_u64().map(|n| n.to_string()))
                })
                .ok_or_else(|| {
                    bad("Invalid input for field/attribute resize: flavorRef is required.")
                })?;
            require_state(s, "resize", &["active", "stopped"])?;
            let power_state = s.power_state;
            let current = s.flavor.id.clone();
            let flavor = st
                .compute
                .flavors
                .get(&fid)
                .cloned()
                .ok_or_else(|| bad(format!("Flavor {fid} could not be found.")))?;
            if flavor.id == current {
                return Err(bad("When resizing, instances must change flavor!"));
            }
            let s = st.compute.servers.get_mut(&id).expect("checked");
            s.old_flavor = Some(std::mem::replace(&mut s.flavor, flavor));
            s.task_state = Some("resize_prep".into());
            Some(settle("resized", power_state))
        }
        "confirmResize" => {
            if s.vm_state != "resized" {
                return Err(ApiError::conflict(
                    SVC,
                    "InstanceInvalidState",
                    format!(
                        "Cannot 'confirmResize' instance {id} while it is in vm_state {}",
                        s.vm_state
                    ),
                ));
            }
            s.old_flavor = None;
            s.vm_state =
                if s.power_state == power::RUNNING { "active".into() } else { "stopped".into() };
            drop(st);
            return Ok(empty(204));
        }
        "revertResize" => {
            if s.vm_state != "resized" {
                return Err(ApiError::conflict(
                    SVC,
                    "InstanceInvalidState",
                    format!(
                        "Cannot 'revertResize' instance {id} while it is in vm_state {}",
                        s.vm_state
                    ),
                ));
            }
            if let Some(old) = s.old_flavor.take() {
                s.flavor = old;
            }
            s.task_state = Some("resize_reverting".into());
            let vm = if s.power_state == power::RUNNING { "active" } else { "stopped" };
            Some(settle(vm, s.power_state))
        }
        "pause" => {
            require_state(s, "pause", &["active"])?;
            s.task_state = Some("pausing".into());
            Some(settle("paused", power::PAUSED))
        }
        "unpause" => {
            require_state(s, "unpause", &["paused"])?;
            s.task_state = Some("unpausing".into());
            Some(settle("active", power::RUNNING))
        }
        "suspend" => {
            require_state(s, "suspend", &["active"])?;
            s.task_state = Some("suspending".into());
            Some(settle("suspended", power::SUSPENDED))
        }
        "resume" => {
            require_state(s, "resume", &["suspended"])?;
            s.task_state = Some("resuming".into());
            Some(settle("active", power::RUNNING))
        }
        "lock" => {
            s.locked = true;
            s.locked_reason = arg.get("locked_reason").and_then(Value::as_str).map(str::to_string);
            None
        }
        "unlock" => {
            s.locked = false;
            s.locked_reason = None;
            None
        }
        "os-resetState" => {
            if !ctx.is_admin {
                return Err(ApiError::forbidden(
                    SVC,
                    "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.",
                ));
            }
            let state = arg.get("state").and_then(Value::as_str).unwrap_or("");
            match state {
                "active" | "error" => {
                    s.vm_state = state.into();
                    s.task_state = None;
                }
                _ => return Err(bad("Invalid input for field/attribute state.")),
            }
            None
        }
        "os-getConsoleOutput" => {
            let name = s.name.clone();
            drop(st);
            let out = format!("[    0.000000] Linux version 6.1.0 (sim-pod)\n{name} login: \n");
            return Ok(json_resp(200, json!({"output": out})));
        }
        "addSecurityGroup" | "removeSecurityGroup" => {
            let sg = arg
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Invalid input for field/attribute name."))?
                .to_string();
            let project = s.project_id.clone();
            let ports = s.ports.clone();
            let sg_id = st.security_group_for(&project, &sg).ok_or_else(|| {
                ApiError::not_found(
                    SVC,
                    "SecurityGroupNotFound",
                    format!("Security group {sg} not found for project {project}."),
                )
            })?;
            let add = name == "addSecurityGroup";
            for p in ports {
                if let Some(port) = st.network.ports.get_mut(&p) {
                    port.security_groups.retain(|x| x != &sg_id);
                    if add {
                        port.security_groups.push(sg_id.clone());
                    }
                }
            }
            let s = st.compute.servers.get_mut(&id).expect("checked");
            s.security_groups.retain(|x| x != &sg);
            if add {
                s.security_groups.push(sg);
            }
            None
        }
        "changePassword" => {
            s.admin_pass =
                arg.get("adminPass").and_then(Value::as_str).unwrap_or_default().to_string();
            None
        }
        "rebuild" => {
            require_state(s, "rebuild", &["active", "stopped", "error"])?;
            let image = arg
                .get("imageRef")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Invalid input for field/attribute imageRef."))?
                .to_string();
            let img = st
                .image_visible(&ctx, &image)
                .cloned()
                .ok_or_else(|| bad(format!("Image {image} could not be found.")))?;
            let s = st.compute.servers.get_mut(&id).expect("checked");
            s.image_id = Some(img.id.clone());
            s.root_disk = img.data.clone();
            s.task_state = Some("rebuilding".into());
            let body = arg.clone();
            if let Some(n) = body.get("name").and_then(Value::as_str) {
                s.name = n.to_string();
            }
            Some(settle("active", power::RUNNING))
        }
        "os-migrateLive" | "migrate" => {
            if !ctx.is_admin {
                return Err(ApiError::forbidden(
                    SVC,
                    "Policy doesn't allow os_compute_api:os-migrate-server to be performed.",
                ));
            }
            require_state(s, "migrate", &["active", "stopped", "paused"])?;
            let current = s.host.clone();
            let target = match arg.get("host").and_then(Value::as_str) {
                Some(h) => pod
                    .hosts
                    .iter()
                    .find(|x| x.name == h)
                    .map(|x| x.name.clone())
                    .ok_or_else(|| bad(format!("Compute host {h} could not be found.")))?,
                None => pod
                    .hosts
                    .iter()
                    .map(|h| h.name.clone())
                    .find(|h| h != &current)
                    .ok_or_else(|| bad("No valid host was found."))?,
            };
            let vm = s.vm_state.clone();
            let p = s.power_state;
            s.host = target.clone();
            s.task_state = Some("migrating".into());
            let ports = s.ports.clone();
            for port in ports {
                if let Some(port) = st.network.ports.get_mut(&port) {
                    port.binding_host_id = target.clone();
                }
            }
            Some(settle(&vm, p))
        }
        "createImage" => {
            require_state(s, "createImage", &["active", "stopped", "paused", "suspended"])?;
            let image_name = arg
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| bad("Invalid input for field/attribute name."))?
                .to_string();
            let meta = arg.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
            let server = s.clone();
            let image_id = st.image_snapshot_of_server(&server, &image_name, meta);
            drop(st);
            let mut resp = if ctx.mv.ge(2, 45) {
                json_resp(202, json!({"image_id": image_id}))
            } else {
                empty(202)
            };
            if !ctx.mv.ge(2, 45)
                && let Ok(v) =
                    HeaderValue::from_str(&format!("{}/image/v2/images/{image_id}", pod.base_url))
            {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            return Ok(resp);
        }
        other => return Err(bad(format!("There is no such action: {other}"))),
    };
    if let Some(t) = next {
        st.schedule(due, t);
    }
    Ok(empty(202))
}
