//! The same flows as `osc_cli.rs`, driven by the Rust `openstack_sdk` crate (gtema): a second,
//! independent client implementation (its own auth, catalog and version discovery,
//! microversion negotiation and typed request builders) must agree with the sim pod.

use std::time::Duration;

use futures::AsyncReadExt;
use openstack_sdk::AsyncOpenStack;
use openstack_sdk::api::block_storage::v3::{backup, snapshot, volume};
use openstack_sdk::api::compute::v2::{flavor, server};
use openstack_sdk::api::image::v2::image;
use openstack_sdk::api::network::v2::{
    network, router, security_group, security_group_rule, subnet,
};
use openstack_sdk::api::{QueryAsync, download, raw, raw_with_body};
use openstack_sdk::config::ConfigFile;
use openstack_sdk::types::{BoxedAsyncRead, ServiceType};
use serde_json::Value;
use tricircle_sim_pod::{SimPodConfig, start};

async fn connect(auth_url: &str, dir: &std::path::Path) -> AsyncOpenStack {
    let clouds = format!(
        "clouds:\n  sim:\n    auth:\n      auth_url: {auth_url}\n      username: admin\n      password: secret\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n"
    );
    let path = dir.join("clouds.yaml");
    std::fs::write(&path, clouds).unwrap();
    let cfg = ConfigFile::builder().add_source(&path).unwrap().build().unwrap();
    let profile = cfg.get_cloud_config("sim").unwrap().expect("cloud sim");
    AsyncOpenStack::builder(&profile).disable_auth_cache(true).connect().await.expect("connect")
}

async fn get_server(os: &AsyncOpenStack, id: &str) -> Result<Value, String> {
    let ep = server::get_20::Request::builder().id(id).build().unwrap();
    ep.query_async(os).await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_sdk_drives_a_sim_pod() {
    let pod = start(SimPodConfig::for_tests("RegionOne")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let os = connect(&pod.auth_url(), dir.path()).await;

    // Token and catalog.
    assert!(os.get_auth_token().is_some());
    let catalog = os.get_token_catalog().expect("catalog");
    let catalog = serde_json::to_value(&catalog).unwrap().to_string();
    for ty in ["compute", "network", "image", "volumev3", "block-storage", "identity"] {
        assert!(catalog.contains(&format!("\"{ty}\"")), "{ty} missing in {catalog}");
    }
    for st in
        [ServiceType::Compute, ServiceType::Network, ServiceType::Image, ServiceType::BlockStorage]
    {
        os.discover_service_endpoint(&st).await.unwrap_or_else(|e| panic!("discover {st:?}: {e}"));
    }

    // Flavors.
    let flavors: Vec<Value> = flavor::list_detailed_20::Request::builder()
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    assert!(flavors.iter().any(|f| f["name"] == "m1.tiny"));

    // Image with data, then download the same bytes.
    let img: Value = image::create::Request::builder()
        .name(Some("cirros".into()))
        .disk_format(image::create::DiskFormat::Raw)
        .container_format(image::create::ContainerFormat::Bare)
        .visibility(image::create::Visibility::Public)
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    let image_id = img["id"].as_str().unwrap().to_string();
    let payload: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    let up = image::file::upload::Request::builder()
        .image_id(&image_id)
        .header(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/octet-stream"),
        )
        .build()
        .unwrap();
    let _: axum::http::Response<bytes::Bytes> =
        raw_with_body(up, BoxedAsyncRead::new(futures::io::Cursor::new(payload.clone())))
            .query_async(&os)
            .await
            .unwrap();
    let down = image::file::download::Request::builder().image_id(&image_id).build().unwrap();
    let (_, mut reader) = download(down).query_async(&os).await.unwrap();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, payload);

    // Network, subnet, router with an interface, security group and rule.
    let net: Value = network::create::Request::builder()
        .network(network::create::NetworkBuilder::default().name("net1").build().unwrap())
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    let net_id = net["id"].as_str().unwrap().to_string();
    let sub: Value = subnet::create::Request::builder()
        .subnet(
            subnet::create::SubnetBuilder::default()
                .network_id(&net_id)
                .cidr(Some("10.0.0.0/24".into()))
                .ip_version(4)
                .name("sub1")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    let sub_id = sub["id"].as_str().unwrap().to_string();
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    let r: Value = router::create::Request::builder()
        .router(router::create::RouterBuilder::default().name("r1").build().unwrap())
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    let router_id = r["id"].as_str().unwrap().to_string();
    let iface: Value = router::add_router_interface::Request::builder()
        .id(&router_id)
        .subnet_id(&sub_id)
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    assert_eq!(iface["subnet_id"], sub_id.as_str());
    let sg: Value = security_group::create::Request::builder()
        .security_group(
            security_group::create::SecurityGroupBuilder::default().name("sg1").build().unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    let rule: Value = security_group_rule::create::Request::builder()
        .security_group_rule(
            security_group_rule::create::SecurityGroupRuleBuilder::default()
                .security_group_id(sg["id"].as_str().unwrap())
                .direction(security_group_rule::create::Direction::Ingress)
                .protocol("tcp")
                .port_range_min(Some(22))
                .port_range_max(Some(22))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    assert_eq!(rule["port_range_max"], 22);

    // Server, ACTIVE with an IP from the subnet.
    let srv: Value = server::create_290::Request::builder()
        .server(
            server::create_290::ServerBuilder::default()
                .name("vm1")
                .image_ref(image_id.as_str())
                .flavor_ref("1")
                .networks(server::create_290::ServerNetworks::F1(vec![
                    server::create_290::NetworksBuilder::default()
                        .uuid(net_id.as_str())
                        .build()
                        .unwrap(),
                ]))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    let server_id = srv["id"].as_str().unwrap().to_string();
    let mut shown = Value::Null;
    for _ in 0..20 {
        shown = get_server(&os, &server_id).await.unwrap();
        if shown["status"] == "ACTIVE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown["status"], "ACTIVE");
    let ip = shown["addresses"]["net1"][0]["addr"].as_str().unwrap();
    assert!(ip.starts_with("10.0.0."), "{ip}");

    // Volume, attach (in-use), snapshot, backup.
    let vol: Value = volume::create_30::Request::builder()
        .volume(
            volume::create_30::VolumeBuilder::default()
                .size(Some(1))
                .name(Some("vol1".into()))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    let vol_id = vol["id"].as_str().unwrap().to_string();
    let att: Value = server::volume_attachment::create_279::Request::builder()
        .server_id(&server_id)
        .volume_attachment(
            server::volume_attachment::create_279::VolumeAttachmentBuilder::default()
                .volume_id(vol_id.as_str())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    assert_eq!(att["volumeId"], vol_id.as_str());
    let v: Value = volume::get::Request::builder()
        .id(&vol_id)
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    assert_eq!(v["status"], "in-use");
    let snap: Value = snapshot::create::Request::builder()
        .snapshot(
            snapshot::create::SnapshotBuilder::default()
                .volume_id(vol_id.as_str())
                .name(Some("snap1".into()))
                .force(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    assert!(snap["id"].is_string());
    let bk: Value = backup::create_30::Request::builder()
        .backup(
            backup::create_30::BackupBuilder::default()
                .volume_id(vol_id.as_str())
                .name(Some("bk1".into()))
                .force(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    let bk_id = bk["id"].as_str().unwrap().to_string();
    let b: Value =
        backup::get::Request::builder().id(&bk_id).build().unwrap().query_async(&os).await.unwrap();
    assert_eq!(b["status"], "available");

    // Delete the server and see it go.
    let del = server::delete::Request::builder().id(&server_id).build().unwrap();
    let resp: axum::http::Response<bytes::Bytes> = raw(del).query_async(&os).await.unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let gone = get_server(&os, &server_id).await;
    assert!(gone.is_err(), "{gone:?}");
    let v: Value = volume::get::Request::builder()
        .id(&vol_id)
        .build()
        .unwrap()
        .query_async(&os)
        .await
        .unwrap();
    assert_eq!(v["status"], "available");
    pod.shutdown().await;
}
