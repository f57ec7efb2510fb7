use serde_json::{Value, json};

use crate::common::{Client, Resp, pod};

#[tokio::test]
async fn microversion_is_negotiated_echoed_and_out_of_range_is_406() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c.get("/compute/v2.1/flavors").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("openstack-api-version"), Some("compute 2.1"));
    assert_eq!(r.header("x-openstack-nova-api-version"), Some("2.1"));
    assert!(r.header("x-compute-request-id").unwrap().starts_with("req-"));
    let r = c.nova("GET", "/flavors", None, "latest").await;
    assert_eq!(r.header("openstack-api-version"), Some("compute 2.96"));
    let r = c
        .send("GET", "/compute/v2.1/flavors", None, &[("x-openstack-nova-api-version", "2.60")])
        .await;
    assert_eq!(r.header("openstack-api-version"), Some("compute 2.60"));
    let r = c.nova("GET", "/flavors", None, "9.9").await;
    assert_eq!(r.status, 406);
    assert_eq!(r.header("openstack-api-version"), Some("compute 9.9"));
    assert_eq!(r.body["computeFault"]["code"], 406);
    pod.shutdown().await;
}

#[tokio::test]
async fn flavors_are_seeded_and_shaped_by_microversion() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c.nova("GET", "/flavors/detail", None, "2.1").await;
    let names: Vec<&str> =
        r.body["flavors"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["m1.tiny", "m1.small", "m1.medium", "m1.large"]);
    assert_eq!(r.body["flavors"][0]["swap"], "");
    assert!(r.body["flavors"][0].get("extra_specs").is_none());
    let r = c.nova("GET", "/flavors/1", None, "2.75").await;
    assert_eq!(r.body["flavor"]["swap"], 0);
    assert_eq!(r.body["flavor"]["extra_specs"], json!({}));
    let r = c.nova("GET", "/flavors?limit=2", None, "2.1").await;
    assert_eq!(r.body["flavors"].as_array().unwrap().len(), 2);
    assert!(r.body["flavors_links"][0]["href"].as_str().unwrap().contains("marker=2"));
    let r = c
        .nova(
            "POST",
            "/flavors",
            Some(json!({"flavor": {"name": "x1", "ram": 128, "vcpus": 1, "disk": 1, "id": "x1"}})),
            "2.1",
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c
        .nova(
            "POST",
            "/flavors",
            Some(json!({"flavor": {"name": "x2", "ram": 128, "vcpus": 1, "disk": 1, "id": "x1"}})),
            "2.1",
        )
        .await;
    assert_eq!(r.status, 409);
    pod.shutdown().await;
}

#[tokio::test]
async fn server_boots_active_with_an_ip_from_the_subnet_and_deletes() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, subnet) = c.net_with_subnet("private", "10.0.0.0/24").await;
    let image = c.image("cirros", b"cirros-bytes").await;
    let r = c
        .nova("POST", "/servers", Some(json!({"server": {"name": "vm1", "imageRef": image, "flavorRef": "1", "networks": [{"uuid": net}]}})), "2.79")
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    assert!(r.header("location").unwrap().ends_with(&format!("/compute/v2.1/servers/{id}")));
    assert!(r.body["server"]["adminPass"].is_string());
    let s = c.nova("GET", &format!("/servers/{id}"), None, "2.79").await;
    assert_eq!(s.body["server"]["status"], "ACTIVE");
    assert_eq!(s.body["server"]["flavor"]["original_name"], "m1.tiny");
    let addr = &s.body["server"]["addresses"]["private"][0];
    assert_eq!(addr["addr"], "10.0.0.2");
    assert_eq!(addr["OS-EXT-IPS:type"], "fixed");
    let host = s.body["server"]["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert!(!host.is_empty());
    let ports = c.get(&format!("/networking/v2.0/ports?device_id={id}")).await;
    let port = &ports.body["ports"][0];
    assert_eq!(port["binding:host_id"], host.as_str());
    assert_eq!(port["fixed_ips"][0]["subnet_id"], subnet.as_str());
    assert_eq!(port["status"], "ACTIVE");
    assert_eq!(c.nova("DELETE", &format!("/servers/{id}"), None, "2.79").await.status, 204);
    let gone = c.nova("GET", &format!("/servers/{id}"), None, "2.79").await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["itemNotFound"]["code"], 404);
    let ports = c.get(&format!("/networking/v2.0/ports?device_id={id}")).await;
    assert_eq!(ports.body["ports"], json!([]));
    pod.shutdown().await;
}

#[tokio::test]
async fn old_microversion_shows_flavor_reference_and_no_newer_fields() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.1.0.0/24").await;
    let image = c.image("img", b"x").await;
    let id = c.server("vm", &image, &net).await;
    let s = c.nova("GET", &format!("/servers/{id}"), None, "2.1").await;
    assert_eq!(s.body["server"]["flavor"]["id"], "1");
    assert!(s.body["server"].get("locked").is_none());
    assert!(s.body["server"].get("description").is_none());
    let s = c.nova("GET", &format!("/servers/{id}"), None, "2.96").await;
    assert_eq!(s.body["server"]["locked"], false);
    assert!(s.body["server"].get("server_groups").is_some());
    assert!(s.body["server"].get("pinned_availability_zone").is_some());
    // Without an explicit network at >= 2.37 the request is invalid.
    let r = c
        .nova(
            "POST",
            "/servers",
            Some(json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1"}})),
            "2.79",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["badRequest"]["code"], 400);
    pod.shutdown().await;
}

#[tokio::test]
async fn server_list_filters_sorts_and_pages_like_nova() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.2.0.0/24").await;
    let image = c.image("img", b"x").await;
    let mut ids = Vec::new();
    for n in ["a", "b", "c"] {
        ids.push(c.server(n, &image, &net).await);
    }
    let r = c.nova("GET", "/servers/detail?limit=2", None, "2.79").await;
    let page: Vec<&str> =
        r.body["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(page, ["c", "b"], "newest first");
    let next = r.body["servers_links"][0]["href"].as_str().unwrap();
    assert!(next.contains(&format!("marker={}", ids[1])));
    let r =
        c.nova("GET", &format!("/servers/detail?limit=2&marker={}", ids[1]), None, "2.79").await;
    assert_eq!(r.body["servers"][0]["name"], "a");
    assert!(r.body.get("servers_links").is_none());
    let r = c.nova("GET", &format!("/servers?marker={}", ids[0]), None, "2.79").await;
    assert_eq!(r.body["servers"], json!([]));
    let r = c.nova("GET", "/servers?marker=nope", None, "2.79").await;
    assert_eq!(r.status, 400);
    let r = c
        .nova("GET", "/servers/detail?sort_key=display_name&sort_dir=asc&name=b", None, "2.79")
        .await;
    assert_eq!(r.body["servers"].as_array().unwrap().len(), 1);
    // `name` is a regular expression, searched anywhere in the name.
    let names = |r: &Resp| -> Vec<String> {
        r.body["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().into())
            .collect()
    };
    let r = c
        .nova(
            "GET",
            "/servers?sort_key=display_name&sort_dir=asc&name=%5E%5Bac%5D%24",
            None,
            "2.79",
        )
        .await;
    assert_eq!(names(&r), ["a", "c"]);
    // As Nova on MySQL: a bar is literal, not an alternation.
    let r = c.nova("GET", "/servers?name=%5E(a%7Cc)%24", None, "2.79").await;
    assert!(names(&r).is_empty(), "{:?}", names(&r));
    let r = c.nova("GET", "/servers?name=%5B", None, "2.79").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["badRequest"]["message"].as_str().unwrap().contains("regex"));
    let r = c.nova("GET", "/servers/detail?sort_key=display_name&sort_dir=asc", None, "2.79").await;
    assert_eq!(r.body["servers"][0]["name"], "a");
    // Another project sees none of them.
    let demo = Client::user(&pod, "demo", "demo").await;
    assert_eq!(demo.nova("GET", "/servers", None, "2.79").await.body["servers"], json!([]));
    assert_eq!(demo.nova("GET", &format!("/servers/{}", ids[0]), None, "2.79").await.status, 404);
    pod.shutdown().await;
}

async fn status(c: &Client, id: &str) -> Value {
    c.nova("GET", &format!("/servers/{id}"), None, "2.79").await.body["server"]["status"].clone()
}

#[tokio::test]
async fn actions_change_state_and_refuse_invalid_transitions() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.3.0.0/24").await;
    let image = c.image("img", b"root-disk-bytes").await;
    let id = c.server("vm", &image, &net).await;
    let path = format!("/servers/{id}/action");
    let act = |body: Value| c.nova("POST", &path, Some(body), "2.79");
    assert_eq!(act(json!({"os-stop": null})).await.status, 202);
    assert_eq!(status(&c, &id).await, "SHUTOFF");
    let r = act(json!({"os-stop": null})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["conflictingRequest"]["code"], 409);
    assert_eq!(act(json!({"os-start": null})).await.status, 202);
    assert_eq!(status(&c, &id).await, "ACTIVE");
    assert_eq!(act(json!({"reboot": {"type": "HARD"}})).await.status, 202);
    assert_eq!(status(&c, &id).await, "ACTIVE");
    assert_eq!(act(json!({"resize": {"flavorRef": "2"}})).await.status, 202);
    assert_eq!(status(&c, &id).await, "VERIFY_RESIZE");
    assert_eq!(act(json!({"confirmResize": null})).await.status, 204);
    let s = c.nova("GET", &format!("/servers/{id}"), None, "2.79").await;
    assert_eq!(s.body["server"]["status"], "ACTIVE");
    assert_eq!(s.body["server"]["flavor"]["original_name"], "m1.small");
    assert_eq!(act(json!({"nonsense": null})).await.status, 400);
    let r = act(json!({"createImage": {"name": "snap"}})).await;
    assert_eq!(r.status, 202);
    let img = r.body["image_id"].as_str().unwrap();
    let data = c
        .http
        .get(format!("{}/image/v2/images/{img}/file", c.base))
        .header("x-auth-token", &c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(data.bytes().await.unwrap().as_ref(), b"root-disk-bytes");
    pod.shutdown().await;
}

#[tokio::test]
async fn volume_attach_goes_in_use_and_detach_frees_it() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.4.0.0/24").await;
    let image = c.image("img", b"x").await;
    let id = c.server("vm", &image, &net).await;
    let v = c
        .cinder("POST", "/volumes", Some(json!({"volume": {"size": 1, "name": "v"}})), "3.0")
        .await;
    assert_eq!(v.status, 202);
    let vid = v.body["volume"]["id"].as_str().unwrap().to_string();
    let r = c
        .nova(
            "POST",
            &format!("/servers/{id}/os-volume_attachments"),
            Some(json!({"volumeAttachment": {"volumeId": vid}})),
            "2.79",
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["volumeAttachment"]["device"], "/dev/vdb");
    assert_eq!(r.body["volumeAttachment"]["delete_on_termination"], false);
    let vol = c.cinder("GET", &format!("/volumes/{vid}"), None, "3.0").await;
    assert_eq!(vol.body["volume"]["status"], "in-use");
    assert_eq!(vol.body["volume"]["attachments"][0]["server_id"], id.as_str());
    // Attaching again is refused.
    let r = c
        .nova(
            "POST",
            &format!("/servers/{id}/os-volume_attachments"),
            Some(json!({"volumeAttachment": {"volumeId": vid}})),
            "2.79",
        )
        .await;
    assert_eq!(r.status, 400);
    let r =
        c.nova("DELETE", &format!("/servers/{id}/os-volume_attachments/{vid}"), None, "2.79").await;
    assert_eq!(r.status, 202);
    let vol = c.cinder("GET", &format!("/volumes/{vid}"), None, "3.0").await;
    assert_eq!(vol.body["volume"]["status"], "available");
    pod.shutdown().await;
}

#[tokio::test]
async fn interfaces_attach_by_network_and_detach() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.5.0.0/24").await;
    let (net2, _) = c.net_with_subnet("n2", "10.6.0.0/24").await;
    let image = c.image("img", b"x").await;
    let id = c.server("vm", &image, &net).await;
    let r = c
        .nova(
            "POST",
            &format!("/servers/{id}/os-interface"),
            Some(json!({"interfaceAttachment": {"net_id": net2}})),
            "2.79",
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let port = r.body["interfaceAttachment"]["port_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["interfaceAttachment"]["fixed_ips"][0]["ip_address"], "10.6.0.2");
    let l = c.nova("GET", &format!("/servers/{id}/os-interface"), None, "2.79").await;
    assert_eq!(l.body["interfaceAttachments"].as_array().unwrap().len(), 2);
    assert_eq!(
        c.nova("DELETE", &format!("/servers/{id}/os-interface/{port}"), None, "2.79").await.status,
        202
    );
    assert_eq!(c.get(&format!("/networking/v2.0/ports/{port}")).await.status, 404);
    pod.shutdown().await;
}

#[tokio::test]
async fn keypairs_server_groups_limits_and_zones() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c.nova("POST", "/os-keypairs", Some(json!({"keypair": {"name": "k1", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"}})), "2.2").await;
    assert_eq!(r.status, 201);
    assert!(r.body["keypair"]["fingerprint"].as_str().unwrap().contains(':'));
    let r = c
        .nova(
            "POST",
            "/os-keypairs",
            Some(json!({"keypair": {"name": "k1", "public_key": "ssh-rsa AAAA x"}})),
            "2.2",
        )
        .await;
    assert_eq!(r.status, 409);
    let r = c.nova("POST", "/os-keypairs", Some(json!({"keypair": {"name": "gen"}})), "2.1").await;
    assert_eq!(r.status, 200);
    assert!(r.body["keypair"]["private_key"].is_string());
    assert_eq!(
        c.nova("GET", "/os-keypairs", None, "2.2").await.body["keypairs"].as_array().unwrap().len(),
        2
    );
    assert_eq!(c.nova("DELETE", "/os-keypairs/k1", None, "2.2").await.status, 204);
    assert_eq!(c.nova("DELETE", "/os-keypairs/k1", None, "2.2").await.status, 404);

    let g = c
        .nova(
            "POST",
            "/os-server-groups",
            Some(json!({"server_group": {"name": "g", "policy": "anti-affinity"}})),
            "2.64",
        )
        .await;
    assert_eq!(g.status, 200);
    let gid = g.body["server_group"]["id"].as_str().unwrap().to_string();
    let (net, _) = c.net_with_subnet("n", "10.7.0.0/24").await;
    let image = c.image("img", b"x").await;
    let r = c
        .nova("POST", "/servers", Some(json!({"server": {"name": "vm", "imageRef": image, "flavorRef": "1", "networks": [{"uuid": net}]}, "os:scheduler_hints": {"group": gid}})), "2.79")
        .await;
    let sid = r.body["server"]["id"].as_str().unwrap();
    let g = c.nova("GET", &format!("/os-server-groups/{gid}"), None, "2.64").await;
    assert_eq!(g.body["server_group"]["members"], json!([sid]));
    let l = c.nova("GET", "/limits", None, "2.79").await;
    assert_eq!(l.body["limits"]["absolute"]["totalInstancesUsed"], 1);
    let az = c.nova("GET", "/os-availability-zone", None, "2.79").await;
    assert_eq!(az.body["availabilityZoneInfo"][0]["zoneName"], "nova");
    pod.shutdown().await;
}

#[tokio::test]
async fn boot_from_image_backed_volume_keeps_the_image_bytes() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.8.0.0/24").await;
    let image = c.image("img", b"bootable bytes").await;
    let body = json!({"server": {"name": "bfv", "flavorRef": "1", "networks": [{"uuid": net}],
        "block_device_mapping_v2": [{"boot_index": 0, "uuid": image, "source_type": "image",
            "destination_type": "volume", "volume_size": 1, "delete_on_termination": true}]}});
    let r = c.nova("POST", "/servers", Some(body), "2.79").await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap();
    let s = c.nova("GET", &format!("/servers/{id}"), None, "2.79").await;
    assert_eq!(s.body["server"]["image"], "");
    let vid = s.body["server"]["os-extended-volumes:volumes_attached"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(pod.control().volume_data(&vid).unwrap().as_ref(), b"bootable bytes");
    assert_eq!(c.nova("DELETE", &format!("/servers/{id}"), None, "2.79").await.status, 204);
    assert!(pod.control().volume_data(&vid).is_none(), "delete_on_termination removes the volume");
    pod.shutdown().await;
}
