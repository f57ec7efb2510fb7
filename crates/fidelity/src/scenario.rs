//! The scripted scenario: the flows of the sim pod's acceptance list, in one sequence, at fixed
//! microversions (compute 2.79, volume 3.66) so that both regions are asked exactly the same
//! thing. It runs as whoever the target logs in as: an admin and a member see different views
//! (admin-only attributes), so the differential test runs it once as each.
//!
//! Besides recording every answer for the comparison, the scenario checks its own expectations
//! (statuses, the image bytes coming back unchanged, servers and volumes reaching their states),
//! so that a run against one region alone is already a test. Everything it creates is deleted
//! by its own steps; when a run aborts half-way a best-effort cleanup removes what is left, so a
//! long-lived real region does not fill up with debris.

use std::time::{Duration, Instant};

use serde_json::json;
use tricircle_pod_client::Microversion;

use crate::compare::Exchange;
use tricircle_pod_client::ServiceType;

use crate::runner::{
    Abort, Api, COMPUTE, Call, IDENTITY, IMAGE, NETWORK, Resp, Runner, VOLUME, gone, state_is,
};
use crate::target::Target;

pub const COMPUTE_MV: Microversion = Microversion::new(2, 79);
pub const VOLUME_MV: Microversion = Microversion::new(3, 66);
/// An id no region has.
pub const MISSING: &str = "0c6f0a54-6a41-4e3e-9d55-9f1c2b1e0d77";

/// One run of the scenario against one target.
#[derive(Debug)]
pub struct Run {
    pub label: String,
    pub exchanges: Vec<Exchange>,
    /// Expectations of the scenario that did not hold.
    pub failures: Vec<String>,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
    pub elapsed: Duration,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.aborted.is_none()
    }
}

/// The bytes uploaded as the image: 64 KiB that differ from run to run.
pub fn image_bytes(tag: &str) -> Vec<u8> {
    let seed = tag.as_bytes();
    (0..64 * 1024).map(|i| seed[i % seed.len().max(1)].wrapping_add((i / 251) as u8)).collect()
}

/// Run the whole scenario. `tag` goes into every name, so runs never collide and the two
/// regions of one comparison use the same names (Nova keys `addresses` by network name).
pub async fn run(target: &Target, tag: &str) -> Run {
    let started = Instant::now();
    let mut r = Runner::new(target);
    r.set("tag", tag);
    r.set("missing", MISSING);
    let outcome = script(&mut r, tag).await;
    let aborted = outcome.err().map(|a| a.0);
    if aborted.is_some() {
        cleanup(&mut r).await;
    }
    Run {
        label: target.label.clone(),
        exchanges: r.exchanges,
        failures: r.failures,
        aborted,
        elapsed: started.elapsed(),
    }
}

async fn script(r: &mut Runner<'_>, tag: &str) -> Result<(), Abort> {
    discovery(r).await?;
    errors(r).await?;
    flavors(r).await?;
    image(r, tag).await?;
    network(r).await?;
    server_and_volume(r).await?;
    teardown(r).await
}

async fn discovery(r: &mut Runner<'_>) -> Result<(), Abort> {
    let c = r.target.credentials.clone();
    let auth = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password}}},
        "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}
    }});
    let call = Call::post(IDENTITY, "/auth/tokens").json(auth).anonymous();
    let resp = r.step("token issue", call, 201).await?;
    let token = resp
        .header("x-subject-token")
        .ok_or_else(|| Abort(format!("{}: token issue gave no X-Subject-Token", r.target.label)))?
        .to_string();
    r.set_token(token);
    // Admin or member: a few answers depend on it (Keystone's project show is 403 to members).
    let admin = resp.json()["token"]["roles"]
        .as_array()
        .is_some_and(|roles| roles.iter().any(|role| role["name"] == "admin"));
    r.set("role", if admin { "admin" } else { "member" });
    let catalog = r.step("catalog", Call::get(IDENTITY, "/auth/catalog"), 200).await?;
    let types: Vec<String> = catalog.json()["catalog"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["type"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    for want in ["identity", "compute", "network", "image"] {
        r.check(types.iter().any(|t| t == want), || format!("catalog has no {want}: {types:?}"));
    }
    // The version documents at the catalog's endpoints (what microversion negotiation reads).
    r.step("identity version", Call::get(IDENTITY, ""), 200).await?;
    r.step("compute version", Call::get(COMPUTE, ""), 200).await?;
    r.step("volume version", Call::get(VOLUME, ""), 200).await?;
    r.step("network versions", Call::get(NETWORK, ""), 200).await?;
    r.step("image versions", Call::get(IMAGE, ""), 300).await?;
    // The roots above versioned endpoints, where clients fall back to.
    r.step("identity root", Call::get(Api::Root(None), ""), 300).await?;
    let compute_root = Call::get(Api::Root(Some(ServiceType::Compute)), "");
    r.step("compute root", compute_root, 200).await?;
    r.step("volume root", Call::get(Api::Root(Some(ServiceType::BlockStorage)), ""), 300).await?;
    Ok(())
}

async fn errors(r: &mut Runner<'_>) -> Result<(), Abort> {
    let garbage = b"{this is not json".to_vec();
    let json_ct = "application/json";
    r.step("compute unknown id", Call::get(COMPUTE, "/servers/{missing}").mv(COMPUTE_MV), 404)
        .await?;
    r.step("volume unknown id", Call::get(VOLUME, "/volumes/{missing}").mv(VOLUME_MV), 404).await?;
    r.step("network unknown id", Call::get(NETWORK, "/v2.0/networks/{missing}"), 404).await?;
    r.step("image unknown id", Call::get(IMAGE, "/v2/images/{missing}"), 404).await?;
    let status = if r.var("role") == Some("admin") { 404 } else { 403 };
    r.step("identity unknown id", Call::get(IDENTITY, "/projects/{missing}"), status).await?;
    let empty = json!({});
    r.step(
        "compute bad body",
        Call::post(COMPUTE, "/servers").json(empty.clone()).mv(COMPUTE_MV),
        400,
    )
    .await?;
    r.step("volume bad body", Call::post(VOLUME, "/volumes").json(empty).mv(VOLUME_MV), 400)
        .await?;
    let garbage_net = Call::post(NETWORK, "/v2.0/networks").raw(garbage.clone(), json_ct);
    r.step("network bad body", garbage_net, 400).await?;
    r.step("image bad body", Call::post(IMAGE, "/v2/images").raw(garbage.clone(), json_ct), 400)
        .await?;
    let bad_auth = Call::post(IDENTITY, "/auth/tokens").raw(garbage, json_ct).anonymous();
    r.step("identity bad body", bad_auth, 400).await?;
    let wrong = Microversion::new(9, 9);
    r.step("compute wrong microversion", Call::get(COMPUTE, "/servers").mv(wrong), 406).await?;
    r.step("volume wrong microversion", Call::get(VOLUME, "/volumes").mv(wrong), 406).await?;
    Ok(())
}

async fn flavors(r: &mut Runner<'_>) -> Result<(), Abort> {
    r.step("flavor list", Call::get(COMPUTE, "/flavors").mv(COMPUTE_MV), 200).await?;
    r.step("flavor list detail", Call::get(COMPUTE, "/flavors/detail").mv(COMPUTE_MV), 200).await?;
    let tiny = r.step("flavor show", Call::get(COMPUTE, "/flavors/1").mv(COMPUTE_MV), 200).await?;
    let name = tiny.str_at("/flavor/name");
    r.check(name.as_deref() == Some("m1.tiny"), || format!("flavor 1 is {name:?}, not m1.tiny"));
    let key = json!({"keypair": {"name": format!("fid-key-{}", r.var("tag").unwrap_or_default())}});
    let create = Call::post(COMPUTE, "/os-keypairs").json(key).mv(COMPUTE_MV);
    let made = r.create("keypair create", create, 201, "keypair", "/keypair/name").await?;
    let private = made.str_at("/keypair/private_key").unwrap_or_default();
    r.check(private.contains("PRIVATE KEY"), || "keypair create gave no private key".into());
    let show = Call::get(COMPUTE, "/os-keypairs/{keypair}").mv(COMPUTE_MV);
    r.step("keypair show", show, 200).await?;
    let delete = Call::delete(COMPUTE, "/os-keypairs/{keypair}").mv(COMPUTE_MV);
    r.step("keypair delete", delete, 204).await?;
    r.forget("keypair");
    Ok(())
}

async fn image(r: &mut Runner<'_>, tag: &str) -> Result<(), Abort> {
    let body = json!({"name": format!("fid-image-{tag}"), "disk_format": "raw",
        "container_format": "bare", "visibility": "private"});
    r.create("image create", Call::post(IMAGE, "/v2/images").json(body), 201, "image", "/id")
        .await?;
    let bytes = image_bytes(tag);
    let upload =
        Call::put(IMAGE, "/v2/images/{image}/file").raw(bytes.clone(), "application/octet-stream");
    r.step("image upload", upload, 204).await?;
    let show = Call::get(IMAGE, "/v2/images/{image}");
    r.poll("image show (active)", show, 200, state_is("/status", "active", &["killed"])).await?;
    let got = r.step("image download", Call::get(IMAGE, "/v2/images/{image}/file"), 200).await?;
    r.check(got.body == bytes, || {
        format!("image download gave {} bytes, not the {} uploaded", got.body.len(), bytes.len())
    });
    Ok(())
}

async fn network(r: &mut Runner<'_>) -> Result<(), Abort> {
    let tag = r.var("tag").unwrap_or_default().to_string();
    let net = json!({"network": {"name": format!("fid-net-{tag}")}});
    r.create(
        "network create",
        Call::post(NETWORK, "/v2.0/networks").json(net),
        201,
        "network",
        "/network/id",
    )
    .await?;
    r.step("network show", Call::get(NETWORK, "/v2.0/networks/{network}"), 200).await?;
    let network = r.var("network").unwrap_or_default().to_string();
    let subnet = json!({"subnet": {"network_id": network, "name": format!("fid-subnet-{tag}"),
        "cidr": "10.77.0.0/24", "ip_version": 4}});
    r.create(
        "subnet create",
        Call::post(NETWORK, "/v2.0/subnets").json(subnet),
        201,
        "subnet",
        "/subnet/id",
    )
    .await?;
    let subnet = r.var("subnet").unwrap_or_default().to_string();

    let router = json!({"router": {"name": format!("fid-router-{tag}")}});
    r.create(
        "router create",
        Call::post(NETWORK, "/v2.0/routers").json(router),
        201,
        "router",
        "/router/id",
    )
    .await?;
    let add = Call::put(NETWORK, "/v2.0/routers/{router}/add_router_interface")
        .json(json!({"subnet_id": subnet}));
    r.create("router add interface", add, 200, "router_port", "/port_id").await?;
    r.step("router show", Call::get(NETWORK, "/v2.0/routers/{router}"), 200).await?;
    r.step("router interface port show", Call::get(NETWORK, "/v2.0/ports/{router_port}"), 200)
        .await?;
    let remove = Call::put(NETWORK, "/v2.0/routers/{router}/remove_router_interface")
        .json(json!({"subnet_id": subnet}));
    r.step("router remove interface", remove, 200).await?;
    r.forget("router_port");

    let sg =
        json!({"security_group": {"name": format!("fid-sg-{tag}"), "description": "fidelity"}});
    let call = Call::post(NETWORK, "/v2.0/security-groups").json(sg);
    r.create("security group create", call, 201, "sg", "/security_group/id").await?;
    let sg = r.var("sg").unwrap_or_default().to_string();
    let rule = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress",
        "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0"}});
    let call = Call::post(NETWORK, "/v2.0/security-group-rules").json(rule);
    r.create("security group rule create", call, 201, "sg_rule", "/security_group_rule/id").await?;
    r.step("security group show", Call::get(NETWORK, "/v2.0/security-groups/{sg}"), 200).await?;

    let port = json!({"port": {"network_id": network, "name": format!("fid-port-{tag}")}});
    r.create("port create", Call::post(NETWORK, "/v2.0/ports").json(port), 201, "port", "/port/id")
        .await?;
    r.step("port show", Call::get(NETWORK, "/v2.0/ports/{port}"), 200).await?;
    Ok(())
}

async fn server_and_volume(r: &mut Runner<'_>) -> Result<(), Abort> {
    let tag = r.var("tag").unwrap_or_default().to_string();
    let (image, network) = (
        r.var("image").unwrap_or_default().to_string(),
        r.var("network").unwrap_or_default().to_string(),
    );
    let server = json!({"server": {"name": format!("fid-server-{tag}"), "imageRef": image,
        "flavorRef": "1", "networks": [{"uuid": network}]}});
    let call = Call::post(COMPUTE, "/servers").json(server).mv(COMPUTE_MV);
    r.create("server create", call, 202, "server", "/server/id").await?;
    let show = Call::get(COMPUTE, "/servers/{server}").mv(COMPUTE_MV);
    let active = r
        .poll("server show (ACTIVE)", show, 200, state_is("/server/status", "ACTIVE", &["ERROR"]))
        .await?;
    let addresses = active.json()["server"]["addresses"][format!("fid-net-{tag}")].clone();
    r.check(addresses.as_array().is_some_and(|a| !a.is_empty()), || {
        format!("the ACTIVE server has no address on its network: {addresses}")
    });
    let list = Call::get(COMPUTE, "/servers/detail?name=fid-server-{tag}").mv(COMPUTE_MV);
    let listed = r.step("server list detail", list, 200).await?;
    let n = listed.json()["servers"].as_array().map_or(0, Vec::len);
    r.check(n == 1, || format!("server list by name found {n} servers"));
    // `name` is a regular expression; Nova on MySQL takes `|` literally.
    let list = Call::get(COMPUTE, "/servers?name=%5Efid-server-{tag}%24").mv(COMPUTE_MV);
    let listed = r.step("server list by an anchored name regex", list, 200).await?;
    let n = listed.json()["servers"].as_array().map_or(0, Vec::len);
    r.check(n == 1, || format!("server list by an anchored regex found {n} servers"));
    let list = Call::get(COMPUTE, "/servers?name=%5E(fid-server-{tag}%7Cnone)%24").mv(COMPUTE_MV);
    let listed = r.step("server list by a name regex with a bar", list, 200).await?;
    let n = listed.json()["servers"].as_array().map_or(0, Vec::len);
    r.check(n == 0, || format!("`|` in a name regex matched {n} servers (MySQL Nova escapes it)"));
    let list = Call::get(COMPUTE, "/servers?name=fid-server-(").mv(COMPUTE_MV);
    r.step("server list by an invalid regex", list, 400).await?;
    r.step("server ports", Call::get(NETWORK, "/v2.0/ports?device_id={server}"), 200).await?;
    r.step("server ips", Call::get(COMPUTE, "/servers/{server}/ips").mv(COMPUTE_MV), 200).await?;
    let action = |body| Call::post(COMPUTE, "/servers/{server}/action").json(body).mv(COMPUTE_MV);
    let show = Call::get(COMPUTE, "/servers/{server}").mv(COMPUTE_MV);
    r.step("server stop", action(json!({"os-stop": null})), 202).await?;
    let shutoff = state_is("/server/status", "SHUTOFF", &["ERROR"]);
    r.poll("server show (SHUTOFF)", show.clone(), 200, shutoff).await?;
    r.step("server start", action(json!({"os-start": null})), 202).await?;
    let active = state_is("/server/status", "ACTIVE", &["ERROR"]);
    r.poll("server show (ACTIVE again)", show, 200, active).await?;

    let volume = json!({"volume": {"size": 1, "name": format!("fid-volume-{tag}")}});
    let call = Call::post(VOLUME, "/volumes").json(volume).mv(VOLUME_MV);
    r.create("volume create", call, 202, "volume", "/volume/id").await?;
    let show = Call::get(VOLUME, "/volumes/{volume}").mv(VOLUME_MV);
    let fatal = &["error", "error_attaching", "error_detaching"];
    r.poll(
        "volume show (available)",
        show.clone(),
        200,
        state_is("/volume/status", "available", fatal),
    )
    .await?;
    let volume_id = r.var("volume").unwrap_or_default().to_string();
    let attach = Call::post(COMPUTE, "/servers/{server}/os-volume_attachments")
        .json(json!({"volumeAttachment": {"volumeId": volume_id}}))
        .mv(COMPUTE_MV);
    r.step("volume attach", attach, 200).await?;
    r.poll("volume show (in-use)", show.clone(), 200, state_is("/volume/status", "in-use", fatal))
        .await?;
    let list = Call::get(COMPUTE, "/servers/{server}/os-volume_attachments").mv(COMPUTE_MV);
    r.step("volume attachment list", list, 200).await?;
    let one = Call::get(COMPUTE, "/servers/{server}/os-volume_attachments/{volume}").mv(COMPUTE_MV);
    r.step("volume attachment show", one, 200).await?;

    // An in-use volume: allowed without `force` from 3.66 on.
    let snap = json!({"snapshot": {"volume_id": volume_id, "name": format!("fid-snap-{tag}")}});
    let call = Call::post(VOLUME, "/snapshots").json(snap).mv(VOLUME_MV);
    r.create("snapshot create", call, 202, "snapshot", "/snapshot/id").await?;
    let snap_show = Call::get(VOLUME, "/snapshots/{snapshot}").mv(VOLUME_MV);
    r.poll(
        "snapshot show (available)",
        snap_show.clone(),
        200,
        state_is("/snapshot/status", "available", &["error"]),
    )
    .await?;

    let detach =
        Call::delete(COMPUTE, "/servers/{server}/os-volume_attachments/{volume}").mv(COMPUTE_MV);
    r.step("volume detach", detach, 202).await?;
    r.poll(
        "volume show (detached)",
        show.clone(),
        200,
        state_is("/volume/status", "available", fatal),
    )
    .await?;

    r.step("snapshot delete", Call::delete(VOLUME, "/snapshots/{snapshot}").mv(VOLUME_MV), 202)
        .await?;
    r.poll("snapshot gone", snap_show, 404, gone).await?;
    r.forget("snapshot");
    r.step("volume delete", Call::delete(VOLUME, "/volumes/{volume}").mv(VOLUME_MV), 202).await?;
    r.poll("volume gone", show, 404, gone).await?;
    r.forget("volume");
    r.step("server delete", Call::delete(COMPUTE, "/servers/{server}").mv(COMPUTE_MV), 204).await?;
    r.poll("server gone", Call::get(COMPUTE, "/servers/{server}").mv(COMPUTE_MV), 404, gone)
        .await?;
    r.forget("server");
    Ok(())
}

/// What the scenario deletes, in dependency order: (step, var, path).
const DELETES: [(&str, &str, &str); 7] = [
    ("port delete", "port", "/v2.0/ports/{port}"),
    ("security group rule delete", "sg_rule", "/v2.0/security-group-rules/{sg_rule}"),
    ("security group delete", "sg", "/v2.0/security-groups/{sg}"),
    ("router delete", "router", "/v2.0/routers/{router}"),
    ("subnet delete", "subnet", "/v2.0/subnets/{subnet}"),
    ("network delete", "network", "/v2.0/networks/{network}"),
    ("image delete", "image", "/v2/images/{image}"),
];

async fn teardown(r: &mut Runner<'_>) -> Result<(), Abort> {
    for (step, var, path) in DELETES {
        let api = if var == "image" { IMAGE } else { NETWORK };
        r.step(step, Call::delete(api, path), 204).await?;
        r.forget(var);
    }
    Ok(())
}

/// After an abort: delete whatever the run still holds, unrecorded, ignoring errors.
async fn cleanup(r: &mut Runner<'_>) {
    let wait_gone = async |r: &Runner<'_>, call: Call| {
        let started = Instant::now();
        while started.elapsed() < r.target.poll_timeout {
            match r.send(&call).await {
                Ok((Resp { status: 404, .. }, _)) | Err(_) => return,
                Ok(_) => tokio::time::sleep(r.target.poll_interval).await,
            }
        }
    };
    if r.var("keypair").is_some() {
        let _ = r.send(&Call::delete(COMPUTE, "/os-keypairs/{keypair}").mv(COMPUTE_MV)).await;
    }
    if r.var("server").is_some() {
        let _ = r.send(&Call::delete(COMPUTE, "/servers/{server}").mv(COMPUTE_MV)).await;
        wait_gone(r, Call::get(COMPUTE, "/servers/{server}").mv(COMPUTE_MV)).await;
    }
    if r.var("snapshot").is_some() {
        let _ = r.send(&Call::delete(VOLUME, "/snapshots/{snapshot}").mv(VOLUME_MV)).await;
        wait_gone(r, Call::get(VOLUME, "/snapshots/{snapshot}").mv(VOLUME_MV)).await;
    }
    if r.var("volume").is_some() {
        // The server's deletion detaches it; a volume still detaching refuses deletion.
        let show = Call::get(VOLUME, "/volumes/{volume}").mv(VOLUME_MV);
        for _ in 0..40 {
            let _ = r.send(&Call::delete(VOLUME, "/volumes/{volume}").mv(VOLUME_MV)).await;
            match r.send(&show).await {
                Ok((resp, _))
                    if resp.status == 404
                        || resp.str_at("/volume/status").as_deref() == Some("deleting") =>
                {
                    break;
                }
                Err(_) => break,
                Ok(_) => tokio::time::sleep(r.target.poll_interval).await,
            }
        }
        wait_gone(r, show).await;
    }
    if r.var("router_port").is_some() {
        let subnet = r.var("subnet").unwrap_or_default().to_string();
        let remove = Call::put(NETWORK, "/v2.0/routers/{router}/remove_router_interface")
            .json(json!({"subnet_id": subnet}));
        let _ = r.send(&remove).await;
    }
    for (_, var, path) in DELETES {
        if r.var(var).is_some() {
            let api = if var == "image" { IMAGE } else { NETWORK };
            let _ = r.send(&Call::delete(api, path)).await;
        }
    }
}
