//! Issue 6's acceptance flow with the Rust `openstack_sdk` (gtema) against the
//! real `tricircle up`: a second client, independent of python-openstackclient
//! (its own auth, catalog and version discovery, microversion headers and
//! typed request builders, its own pagination over `servers_links`). Servers
//! in az1, az2, az3 and without an AZ; server-side sort and paging across
//! pods; reboot, stop/start, resize and confirm, rename; a volume attached
//! (refused across pods); delete with the volume still attached.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::http::Response;
use bytes::Bytes;
use common::{Up, regression_check};
use futures::future::join_all;
use openstack_sdk::AsyncOpenStack;
use openstack_sdk::api::block_storage::v3::volume;
use openstack_sdk::api::compute::v2::flavor;
use openstack_sdk::api::compute::v2::server::{
    self, confirm_resize, create_290, get_20, list_detailed_21, os_start, os_stop, reboot, resize,
    set_21, volume_attachment,
};
use openstack_sdk::api::image::v2::image;
use openstack_sdk::api::{Pagination, QueryAsync, paged, raw};
use openstack_sdk::config::ConfigFile;
use openstack_sdk::types::ServiceType;
use serde_json::{Value, json};

/// Reads ask for a recent microversion (the typed `get_20`/`list_detailed_21`
/// would otherwise send 2.0/2.1, where a flavor is only `{id, links}`).
const MV: axum::http::HeaderName = axum::http::HeaderName::from_static("openstack-api-version");
const COMPUTE_MV: axum::http::HeaderValue = axum::http::HeaderValue::from_static("compute 2.96");

async fn connect(up: &Up, cloud: &str) -> AsyncOpenStack {
    let cfg = ConfigFile::builder().add_source(up.clouds_file()).unwrap().build().unwrap();
    let profile = cfg.get_cloud_config(cloud).unwrap().expect("cloud in clouds.yaml");
    let os = AsyncOpenStack::builder(&profile)
        .disable_auth_cache(true)
        .connect()
        .await
        .expect("connect");
    // Version discovery from each unversioned catalog URL (the SDK uses
    // the catalog URL as it is for services it has not discovered).
    for st in [ServiceType::Compute, ServiceType::Image, ServiceType::BlockStorage] {
        os.discover_service_endpoint(&st).await.unwrap_or_else(|e| panic!("discover {st:?}: {e}"));
    }
    os
}

async fn get_server(os: &AsyncOpenStack, id: &str) -> Value {
    get_20::Request::builder()
        .id(id)
        .header(MV, COMPUTE_MV)
        .build()
        .unwrap()
        .query_async(os)
        .await
        .unwrap_or_else(|e| panic!("show {id}: {e}"))
}

async fn get_volume(os: &AsyncOpenStack, id: &str) -> Value {
    volume::get::Request::builder()
        .id(id)
        .build()
        .unwrap()
        .query_async(os)
        .await
        .unwrap_or_else(|e| panic!("show volume {id}: {e}"))
}

/// Poll a server until `field` is `want` (50 ms apart, 30 s at most).
async fn wait_server(os: &AsyncOpenStack, id: &str, field: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = get_server(os, id).await;
        if s[field] == want {
            return s;
        }
        assert_ne!(s["status"], "ERROR", "{id}: {s}");
        assert!(Instant::now() < deadline, "server {id}: {field} never became {want}: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_volume(os: &AsyncOpenStack, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = get_volume(os, id).await;
        if v["status"] == want {
            return v;
        }
        assert!(!v["status"].as_str().unwrap_or("").starts_with("error"), "{id}: {v}");
        assert!(Instant::now() < deadline, "volume {id} never became {want}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One page of `GET /servers/detail`.
async fn list(
    os: &AsyncOpenStack,
    limit: Option<u32>,
    marker: Option<&str>,
    sort: Option<(&str, &str)>,
) -> Vec<Value> {
    let mut b = list_detailed_21::Request::builder();
    b.header(MV, COMPUTE_MV);
    if let Some(l) = limit {
        b.limit(l);
    }
    if let Some(m) = marker {
        b.marker(m);
    }
    if let Some((k, d)) = sort {
        b.sort_key(k).sort_dir(d);
    }
    b.build().unwrap().query_async(os).await.expect("server list")
}

fn ids(servers: &[Value]) -> Vec<String> {
    servers.iter().map(|s| s["id"].as_str().expect("id").to_string()).collect()
}

/// Page with an explicit marker loop; checks each page's size.
async fn marker_pages(os: &AsyncOpenStack, limit: u32, sort: Option<(&str, &str)>) -> Vec<String> {
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..20 {
        let page = ids(&list(os, Some(limit), marker.as_deref(), sort).await);
        assert!(page.len() <= limit as usize, "{page:?}");
        all.extend(page.iter().cloned());
        if page.len() < limit as usize {
            return all;
        }
        marker = page.last().cloned();
    }
    panic!("paging never ends: {all:?}");
}

async fn action_status<E>(os: &AsyncOpenStack, ep: E) -> u16
where
    E: openstack_sdk::api::RestEndpoint + Sync,
{
    let resp: Response<Bytes> = raw(ep).query_async(os).await.expect("action");
    resp.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_sdk_drives_tricircle_up() {
    let up = tokio::task::spawn_blocking(|| Up::start(3)).await.expect("up");
    let os = connect(&up, "tricircle-demo").await;

    // The catalog points at the gateway for every service.
    let catalog = serde_json::to_value(os.get_token_catalog().expect("catalog")).unwrap();
    let text = catalog.to_string();
    for ty in ["identity", "compute", "image", "volumev3", "block-storage"] {
        assert!(text.contains(&format!("\"{ty}\"")), "{ty} missing: {text}");
    }
    assert!(!text.contains(&format!(":{}/", up.port + 1)), "a sim pod leaks into the catalog");

    let images: Vec<Value> = image::list::Request::builder()
        .name("cirros")
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .expect("image list");
    assert_eq!(images.len(), 1, "{images:?}");
    let image_id = images[0]["id"].as_str().unwrap().to_string();

    // Admin adds a flavor whose ID ("4") a pod already uses for another size
    // (the sim pods' m1.large); sdk-b boots with it.
    let admin = connect(&up, "tricircle").await;
    let nano: Value = flavor::create_255::Request::builder()
        .flavor(
            flavor::create_255::FlavorBuilder::default()
                .id(Some("4".into()))
                .name("m1.nano")
                .ram(128)
                .vcpus(1)
                .disk(1)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&admin)
        .await
        .expect("flavor create");
    assert_eq!((nano["id"].as_str(), nano["ram"].as_u64()), (Some("4"), Some(128)), "{nano}");

    // Four servers at once, and a volume in az1.
    let specs =
        [("sdk-a", Some("az2")), ("sdk-b", None), ("sdk-c", Some("az1")), ("sdk-d", Some("az3"))];
    let creates = join_all(specs.iter().map(|(name, az)| {
        let os = &os;
        let image_id = image_id.clone();
        async move {
            let mut s = create_290::ServerBuilder::default();
            s.name(*name)
                .image_ref(image_id)
                .flavor_ref(if *name == "sdk-b" { "4" } else { "1" })
                .networks(create_290::ServerNetworks::F2(create_290::NetworksStringEnum::None));
            if let Some(az) = az {
                s.availability_zone(*az);
            }
            let created: Value = create_290::Request::builder()
                .server(s.build().unwrap())
                .build()
                .unwrap()
                .query_async(os)
                .await
                .unwrap_or_else(|e| panic!("create {name}: {e}"));
            let id = created["id"].as_str().expect("id").to_string();
            wait_server(os, &id, "status", "ACTIVE").await
        }
    }));
    let vol_create = async {
        let v: Value = volume::create_30::Request::builder()
            .volume(
                volume::create_30::VolumeBuilder::default()
                    .size(Some(1))
                    .name(Some("sdk-vol".into()))
                    .availability_zone(Some("az1".into()))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
            .query_async(&os)
            .await
            .expect("volume create");
        assert_eq!(v["availability_zone"], "az1", "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        wait_volume(&os, &id, "available").await;
        id
    };
    let (servers, vol) = tokio::join!(creates, vol_create);
    let mut by_name = std::collections::HashMap::new();
    for ((name, az), s) in specs.iter().zip(&servers) {
        assert_eq!(s["name"], *name, "{s}");
        let got = s["OS-EXT-AZ:availability_zone"].as_str().unwrap_or_default();
        match az {
            Some(az) => assert_eq!(got, *az, "{name}: {s}"),
            None => assert!(["az1", "az2", "az3"].contains(&got), "{name}: {got:?}"),
        }
        assert_eq!(s["image"]["id"], image_id.as_str(), "{name}: {s}");
        if *name == "sdk-b" {
            assert_eq!(s["flavor"]["original_name"], "m1.nano", "{s}");
            let size = (
                s["flavor"]["ram"].as_u64(),
                s["flavor"]["vcpus"].as_u64(),
                s["flavor"]["disk"].as_u64(),
            );
            regression_check(
                size == (Some(128), Some(1), Some(1)),
                &format!(
                    "a top flavor whose ID the pod already uses boots with the pod's size {size:?}"
                ),
            );
        } else {
            assert_eq!(s["flavor"]["original_name"], "m1.tiny", "{name}: {s}");
            assert_eq!(s["flavor"]["ram"], 512, "{name}: {s}");
        }
        by_name.insert(*name, s["id"].as_str().unwrap().to_string());
    }
    let all: HashSet<&String> = by_name.values().collect();
    assert_eq!(all.len(), 4);

    // Merged list: default order (created desc, the top ID breaking ties),
    // then server-side sort by name both ways, then paging three ways.
    let full = list(&os, None, None, None).await;
    let full_ids = ids(&full);
    assert_eq!(full_ids.iter().collect::<HashSet<_>>(), all);
    let mut expect: Vec<(String, String)> = full
        .iter()
        .map(|s| (s["created"].as_str().unwrap().into(), s["id"].as_str().unwrap().into()))
        .collect();
    expect.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(full_ids, expect.into_iter().map(|x| x.1).collect::<Vec<_>>(), "created desc");
    let names =
        |v: &[Value]| v.iter().map(|s| s["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let asc = list(&os, None, None, Some(("display_name", "asc"))).await;
    assert_eq!(names(&asc), ["sdk-a", "sdk-b", "sdk-c", "sdk-d"]);
    let desc = list(&os, None, None, Some(("display_name", "desc"))).await;
    assert_eq!(names(&desc), ["sdk-d", "sdk-c", "sdk-b", "sdk-a"]);
    assert_eq!(marker_pages(&os, 1, None).await, full_ids, "pages of 1, default order");
    assert_eq!(
        marker_pages(&os, 3, Some(("display_name", "desc"))).await,
        ids(&desc),
        "pages of 3 sorted by name desc"
    );
    // The SDK's own paging follows the `servers_links` next links.
    let ep = list_detailed_21::Request::builder().limit(2u32).build().unwrap();
    let followed: Vec<Value> = paged(ep, Pagination::All).query_async(&os).await.expect("paged");
    assert_eq!(ids(&followed), full_ids, "SDK pagination over servers_links");

    let (a, b, c, d) = (&by_name["sdk-a"], &by_name["sdk-b"], &by_name["sdk-c"], &by_name["sdk-d"]);

    // Cross-pod attach (volume in az1, sdk-a in az2) is a 409 naming both.
    let ep = volume_attachment::create_279::Request::builder()
        .server_id(a.as_str())
        .volume_attachment(
            volume_attachment::create_279::VolumeAttachmentBuilder::default()
                .volume_id(vol.as_str())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    match raw(ep).query_async(&os).await {
        Ok(r) => {
            let r: Response<Bytes> = r;
            let body = String::from_utf8_lossy(r.body()).to_string();
            assert_eq!(r.status().as_u16(), 409, "{body}");
            assert!(body.contains("az1") && body.contains("az2"), "{body}");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("409") || msg.contains("onflict"), "{msg}");
        }
    }

    // Actions, one per pod, concurrently.
    tokio::join!(
        async {
            let ep = volume_attachment::create_279::Request::builder()
                .server_id(c.as_str())
                .volume_attachment(
                    volume_attachment::create_279::VolumeAttachmentBuilder::default()
                        .volume_id(vol.as_str())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            let att: Value = ep.query_async(&os).await.expect("attach");
            assert_eq!(att["volumeId"], vol.as_str(), "{att}");
            assert_eq!(att["serverId"], c.as_str(), "{att}");
            let v = wait_volume(&os, &vol, "in-use").await;
            assert_eq!(v["attachments"][0]["server_id"], c.as_str(), "{v}");
            let listed: Vec<Value> = volume_attachment::list_20::Request::builder()
                .server_id(c.as_str())
                .build()
                .unwrap()
                .query_async(&os)
                .await
                .expect("attachments");
            assert_eq!(listed.len(), 1, "{listed:?}");
            assert_eq!(listed[0]["volumeId"], vol.as_str(), "{listed:?}");
            let ep = reboot::Request::builder()
                .id(c.as_str())
                .reboot(reboot::RebootBuilder::default()._type(reboot::Type::Hard).build().unwrap())
                .build()
                .unwrap();
            assert_eq!(action_status(&os, ep).await, 202);
            // Nova sets the task at once: HARD_REBOOT until the pod is done.
            let s = get_server(&os, c).await;
            assert_eq!(s["status"], "HARD_REBOOT", "right after the reboot: {s}");
            let s = wait_server(&os, c, "status", "ACTIVE").await;
            assert_eq!(s["OS-EXT-STS:task_state"], Value::Null, "{s}");
        },
        async {
            let ep =
                os_stop::Request::builder().id(b.as_str()).os_stop(Value::Null).build().unwrap();
            assert_eq!(action_status(&os, ep).await, 202);
            let s = wait_server(&os, b, "status", "SHUTOFF").await;
            assert_eq!(s["OS-EXT-STS:power_state"], 4, "{s}");
            let ep =
                os_start::Request::builder().id(b.as_str()).os_start(Value::Null).build().unwrap();
            assert_eq!(action_status(&os, ep).await, 202);
            wait_server(&os, b, "status", "ACTIVE").await;
        },
        async {
            let ep = resize::Request::builder()
                .id(d.as_str())
                .resize(resize::ResizeBuilder::default().flavor_ref("2").build().unwrap())
                .build()
                .unwrap();
            assert_eq!(action_status(&os, ep).await, 202);
            wait_server(&os, d, "status", "VERIFY_RESIZE").await;
            // Rebooting now is a conflict, told in the top's terms.
            let ep = reboot::Request::builder()
                .id(d.as_str())
                .reboot(reboot::RebootBuilder::default()._type(reboot::Type::Soft).build().unwrap())
                .build()
                .unwrap();
            let (status, body) = match raw(ep).query_async(&os).await {
                Ok(r) => {
                    let r: Response<Bytes> = r;
                    (r.status().as_u16(), String::from_utf8_lossy(r.body()).to_string())
                }
                Err(e) => (0, e.to_string()),
            };
            assert!(
                status == 409 || body.contains("409 Conflict"),
                "reboot in VERIFY_RESIZE: {status} {body}"
            );
            // The message only (the SDK's error text also quotes the URL).
            let message = body
                .split("\"message\":\"")
                .nth(1)
                .and_then(|m| m.split('"').next())
                .unwrap_or_else(|| panic!("no message in {body}"))
                .to_string();
            regression_check(
                message.contains(d.as_str()),
                &format!("the 409 names the pod's server ID, not the top ID {d}: {message}"),
            );
            let ep = confirm_resize::Request::builder()
                .id(d.as_str())
                .confirm_resize(Value::Null)
                .build()
                .unwrap();
            assert_eq!(action_status(&os, ep).await, 204);
            let s = wait_server(&os, d, "status", "ACTIVE").await;
            assert_eq!(
                (s["flavor"]["ram"].as_u64(), s["flavor"]["disk"].as_u64()),
                (Some(2048), Some(20)),
                "{s}"
            );
            regression_check(
                s["flavor"]["original_name"] == "m1.small",
                &format!(
                    "after resize + confirm, flavor.original_name is {}",
                    s["flavor"]["original_name"]
                ),
            );
        },
        async {
            let ep = set_21::Request::builder()
                .id(a.as_str())
                .server(set_21::ServerBuilder::default().name("sdk-a2").build().unwrap())
                .build()
                .unwrap();
            let s: Value = ep.query_async(&os).await.expect("rename");
            assert_eq!(s["name"], "sdk-a2", "{s}");
            assert_eq!(s["id"], a.as_str(), "{s}");
        },
    );
    let after = list(&os, None, None, Some(("display_name", "asc"))).await;
    assert_eq!(names(&after), ["sdk-a2", "sdk-b", "sdk-c", "sdk-d"]);
    for s in &after {
        assert_eq!(s["status"], "ACTIVE", "{s}");
    }
    let shown_c = get_server(&os, c).await;
    let attached =
        shown_c["os-extended-volumes:volumes_attached"].as_array().cloned().unwrap_or_default();
    assert_eq!(attached.len(), 1, "{shown_c}");
    regression_check(
        attached[0]["id"] == vol.as_str(),
        &format!("volumes_attached shows {} instead of the top ID {vol}", attached[0]["id"]),
    );

    // Delete all four, sdk-c with the volume still attached: the volume
    // comes back `available` and can then be deleted.
    for id in [a, b, c, d] {
        let ep = server::delete::Request::builder().id(id.as_str()).build().unwrap();
        assert_eq!(action_status(&os, ep).await, 204);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = list(&os, None, None, None).await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "servers never went: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in [a, b, c, d] {
        let ep = get_20::Request::builder().id(id.as_str()).build().unwrap();
        let r: Result<Response<Bytes>, _> = raw(ep).query_async(&os).await;
        match r {
            Ok(r) => assert_eq!(r.status().as_u16(), 404, "{id} still shown"),
            Err(e) => assert!(e.to_string().contains("404"), "{e}"),
        }
    }
    let v = wait_volume(&os, &vol, "available").await;
    assert_eq!(v["attachments"], json!([]), "{v}");
    let ep = volume::delete::Request::builder().id(vol.as_str()).build().unwrap();
    assert_eq!(action_status(&os, ep).await, 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let vols: Vec<Value> = volume::list_detailed::Request::builder()
            .build()
            .unwrap()
            .query_async(&os)
            .await
            .expect("volume list");
        if vols.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "volume never went: {vols:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
