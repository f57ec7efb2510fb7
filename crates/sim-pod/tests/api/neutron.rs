//! Tests of the Neutron API: IPAM, routers, security groups, floating IPs, list semantics.

use serde_json::json;

use crate::common::{Client, pod};

#[tokio::test]
async fn ipam_defaults_requested_addresses_conflicts_and_exhaustion() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, sub) = c.net_with_subnet("n", "10.0.0.0/24").await;
    let s = c.get(&format!("/networking/v2.0/subnets/{sub}")).await;
    assert_eq!(s.body["subnet"]["gateway_ip"], "10.0.0.1");
    assert_eq!(
        s.body["subnet"]["allocation_pools"],
        json!([{"start": "10.0.0.2", "end": "10.0.0.254"}])
    );
    let p = c.post("/networking/v2.0/ports", json!({"port": {"network_id": net}})).await;
    assert_eq!(p.status, 201);
    assert_eq!(p.body["port"]["fixed_ips"][0]["ip_address"], "10.0.0.2");
    assert!(p.body["port"]["mac_address"].as_str().unwrap().starts_with("fa:16:3e:"));
    let p = c
        .post(
            "/networking/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.10"}]}}),
        )
        .await;
    assert_eq!(p.body["port"]["fixed_ips"][0]["ip_address"], "10.0.0.10");
    let dup = c
        .post(
            "/networking/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.10"}]}}),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["NeutronError"]["type"], "IpAddressAlreadyAllocated");
    // A /30 has two usable addresses: the gateway and one port.
    let (small, _) = c.net_with_subnet("small", "192.168.9.0/30").await;
    assert_eq!(
        c.post("/networking/v2.0/ports", json!({"port": {"network_id": small}})).await.status,
        201
    );
    let full = c.post("/networking/v2.0/ports", json!({"port": {"network_id": small}})).await;
    assert_eq!(full.status, 409);
    assert_eq!(full.body["NeutronError"]["type"], "IpAddressGenerationFailure");
    // Overlapping subnet on the same network is refused; on another network it is fine.
    let o = c
        .post(
            "/networking/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.0.0.128/25", "ip_version": 4}}),
        )
        .await;
    assert_eq!(o.status, 400);
    c.net_with_subnet("other", "10.0.0.0/24").await;
    // Deleting a subnet with allocations is a conflict.
    let d = c.delete(&format!("/networking/v2.0/subnets/{sub}")).await;
    assert_eq!(d.status, 409);
    assert_eq!(d.body["NeutronError"]["type"], "SubnetInUse");
    pod.shutdown().await;
}

#[tokio::test]
async fn provider_attributes_are_kept_and_collisions_refused() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let body = json!({"network": {"name": "stretched", "provider:network_type": "vxlan", "provider:segmentation_id": 4242}});
    let r = c.post("/networking/v2.0/networks", body.clone()).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["network"]["provider:segmentation_id"], 4242);
    assert_eq!(r.body["network"]["mtu"], 1450);
    let r = c.post("/networking/v2.0/networks", body).await;
    assert_eq!(r.status, 409);
    let ext = c.post("/networking/v2.0/networks", json!({"network": {"name": "public", "router:external": true, "provider:network_type": "flat", "provider:physical_network": "public"}})).await;
    assert_eq!(ext.status, 201);
    assert_eq!(ext.body["network"]["router:external"], true);
    // Non-admins may not set provider attributes and do not see them.
    let demo = Client::user(&pod, "demo", "demo").await;
    let r = demo
        .post("/networking/v2.0/networks", json!({"network": {"provider:network_type": "vxlan"}}))
        .await;
    assert_eq!(r.status, 403);
    let r = demo.post("/networking/v2.0/networks", json!({"network": {"name": "mine"}})).await;
    assert_eq!(r.status, 201);
    assert!(r.body["network"].get("provider:segmentation_id").is_none());
    // The external network is visible to the demo project; admin's private one is not.
    let l = demo.get("/networking/v2.0/networks").await;
    let names: Vec<&str> = l.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["public", "mine"]);
    pod.shutdown().await;
}

#[tokio::test]
async fn routers_interfaces_gateway_and_routes() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (_, sub) = c.net_with_subnet("n", "10.10.0.0/24").await;
    let (ext, _) = {
        let r = c
            .post(
                "/networking/v2.0/networks",
                json!({"network": {"name": "public", "router:external": true}}),
            )
            .await;
        let id = r.body["network"]["id"].as_str().unwrap().to_string();
        let s = c
            .post(
                "/networking/v2.0/subnets",
                json!({"subnet": {"network_id": id, "cidr": "172.24.4.0/24", "ip_version": 4}}),
            )
            .await;
        (id, s.body["subnet"]["id"].as_str().unwrap().to_string())
    };
    let r = c
        .post(
            "/networking/v2.0/routers",
            json!({"router": {"name": "r1", "external_gateway_info": {"network_id": ext}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let rid = r.body["router"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.body["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        "172.24.4.2"
    );
    let i = c
        .put(
            &format!("/networking/v2.0/routers/{rid}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(i.status, 200);
    assert_eq!(i.body["id"], rid.as_str());
    assert_eq!(i.body["subnet_ids"], json!([sub]));
    let port = i.body["port_id"].as_str().unwrap().to_string();
    let p = c.get(&format!("/networking/v2.0/ports/{port}")).await;
    assert_eq!(p.body["port"]["device_owner"], "network:router_interface");
    assert_eq!(p.body["port"]["fixed_ips"][0]["ip_address"], "10.10.0.1");
    let again = c
        .put(
            &format!("/networking/v2.0/routers/{rid}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(again.status, 400);
    // Routes need a connected next hop.
    let bad = c.put(&format!("/networking/v2.0/routers/{rid}"), json!({"router": {"routes": [{"destination": "10.99.0.0/24", "nexthop": "10.50.0.1"}]}})).await;
    assert_eq!(bad.status, 400);
    let ok = c.put(&format!("/networking/v2.0/routers/{rid}/add_extraroutes"), json!({"router": {"routes": [{"destination": "10.99.0.0/24", "nexthop": "10.10.0.5"}]}})).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body["router"]["routes"],
        json!([{"destination": "10.99.0.0/24", "nexthop": "10.10.0.5"}])
    );
    // An interface used by a route cannot go; a router with interfaces cannot be deleted.
    assert_eq!(
        c.put(
            &format!("/networking/v2.0/routers/{rid}/remove_router_interface"),
            json!({"subnet_id": sub})
        )
        .await
        .status,
        409
    );
    assert_eq!(c.delete(&format!("/networking/v2.0/routers/{rid}")).await.status, 409);
    c.put(
        &format!("/networking/v2.0/routers/{rid}/remove_extraroutes"),
        json!({"router": {"routes": [{"destination": "10.99.0.0/24", "nexthop": "10.10.0.5"}]}}),
    )
    .await;
    let rm = c
        .put(
            &format!("/networking/v2.0/routers/{rid}/remove_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(rm.status, 200);
    assert_eq!(rm.body["port_id"], port.as_str());
    assert_eq!(c.delete(&format!("/networking/v2.0/routers/{rid}")).await.status, 204);
    pod.shutdown().await;
}

#[tokio::test]
async fn floating_ip_needs_a_router_path_to_the_external_network() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, sub) = c.net_with_subnet("n", "10.20.0.0/24").await;
    let ext = c
        .post(
            "/networking/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true}}),
        )
        .await;
    let ext = ext.body["network"]["id"].as_str().unwrap().to_string();
    c.post(
        "/networking/v2.0/subnets",
        json!({"subnet": {"network_id": ext, "cidr": "172.24.5.0/24", "ip_version": 4}}),
    )
    .await;
    let port = c.post("/networking/v2.0/ports", json!({"port": {"network_id": net}})).await;
    let port = port.body["port"]["id"].as_str().unwrap().to_string();
    let r = c
        .post(
            "/networking/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext, "port_id": port}}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["NeutronError"]["type"], "ExternalGatewayForFloatingIPNotFound");
    let router = c
        .post(
            "/networking/v2.0/routers",
            json!({"router": {"name": "r", "external_gateway_info": {"network_id": ext}}}),
        )
        .await;
    let rid = router.body["router"]["id"].as_str().unwrap().to_string();
    c.put(
        &format!("/networking/v2.0/routers/{rid}/add_router_interface"),
        json!({"subnet_id": sub}),
    )
    .await;
    let r = c
        .post(
            "/networking/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext, "port_id": port}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["floatingip"]["fixed_ip_address"], "10.20.0.2");
    assert_eq!(r.body["floatingip"]["router_id"], rid.as_str());
    assert_eq!(r.body["floatingip"]["status"], "ACTIVE");
    let fid = r.body["floatingip"]["id"].as_str().unwrap().to_string();
    let u = c
        .put(
            &format!("/networking/v2.0/floatingips/{fid}"),
            json!({"floatingip": {"port_id": null}}),
        )
        .await;
    assert_eq!(u.body["floatingip"]["port_id"], json!(null));
    assert_eq!(c.delete(&format!("/networking/v2.0/floatingips/{fid}")).await.status, 204);
    pod.shutdown().await;
}

#[tokio::test]
async fn security_groups_default_group_rules_and_duplicates() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let l = c.get("/networking/v2.0/security-groups").await;
    let groups = l.body["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "default");
    assert_eq!(groups[0]["security_group_rules"].as_array().unwrap().len(), 4);
    let g = c
        .post("/networking/v2.0/security-groups", json!({"security_group": {"name": "web"}}))
        .await;
    assert_eq!(g.status, 201);
    assert_eq!(g.body["security_group"]["security_group_rules"].as_array().unwrap().len(), 2);
    let gid = g.body["security_group"]["id"].as_str().unwrap().to_string();
    let rule = json!({"security_group_rule": {"security_group_id": gid, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}});
    let r = c.post("/networking/v2.0/security-group-rules", rule.clone()).await;
    assert_eq!(r.status, 201);
    let rid = r.body["security_group_rule"]["id"].as_str().unwrap().to_string();
    let d = c.post("/networking/v2.0/security-group-rules", rule).await;
    assert_eq!(d.status, 409);
    assert!(d.body["NeutronError"]["message"].as_str().unwrap().contains(&rid));
    assert_eq!(c.delete(&format!("/networking/v2.0/security-group-rules/{rid}")).await.status, 204);
    assert_eq!(
        c.post("/networking/v2.0/security-groups", json!({"security_group": {"name": "default"}}))
            .await
            .status,
        409
    );
    assert_eq!(c.delete(&format!("/networking/v2.0/security-groups/{gid}")).await.status, 204);
    pod.shutdown().await;
}

#[tokio::test]
async fn lists_filter_project_fields_and_page_only_when_asked() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    for n in ["a", "b", "c"] {
        c.post("/networking/v2.0/networks", json!({"network": {"name": n}})).await;
    }
    let l = c.get("/networking/v2.0/networks").await;
    assert_eq!(l.body["networks"].as_array().unwrap().len(), 3);
    assert!(l.body.get("networks_links").is_none());
    let l = c.get("/networking/v2.0/networks?name=b&name=c&fields=name&fields=id").await;
    let items = l.body["networks"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_object().unwrap().len(), 2);
    let l = c.get("/networking/v2.0/networks?limit=2&sort_key=name&sort_dir=desc").await;
    assert_eq!(l.body["networks"][0]["name"], "c");
    assert_eq!(l.body["networks_links"][0]["rel"], "next");
    let ext = c.get("/networking/v2.0/extensions").await;
    let aliases: Vec<&str> = ext.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    for a in ["router", "external-net", "binding", "provider", "security-group", "extraroute"] {
        assert!(aliases.contains(&a), "{a}");
    }
    pod.shutdown().await;
}

#[tokio::test]
async fn shadow_port_with_binding_profile_is_active_and_network_in_use_blocks_delete() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.30.0.0/24").await;
    let r = c
        .post("/networking/v2.0/ports", json!({"port": {"network_id": net, "name": "shadow_port_x", "device_owner": "compute:shadow",
            "binding:host_id": "pod2-host1", "binding:profile": {"tunnel_ip": "10.99.1.1"}, "mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"ip_address": "10.30.0.50"}]}}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["port"]["status"], "ACTIVE");
    assert_eq!(r.body["port"]["binding:profile"]["tunnel_ip"], "10.99.1.1");
    let d = c.delete(&format!("/networking/v2.0/networks/{net}")).await;
    assert_eq!(d.status, 409);
    assert_eq!(d.body["NeutronError"]["type"], "NetworkInUse");
    pod.shutdown().await;
}

#[tokio::test]
async fn agents_report_host_tunnel_endpoints_and_quotas_answer() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let agents = c.get("/networking/v2.0/agents?agent_type=Open%20vSwitch%20agent").await;
    let agents = agents.body["agents"].as_array().unwrap().clone();
    let hosts = pod.control().dataplane().hosts;
    assert_eq!(agents.len(), hosts.len());
    for h in &hosts {
        let a = agents.iter().find(|a| a["host"] == h.name.as_str()).unwrap();
        assert_eq!(a["configurations"]["tunneling_ip"], h.tunnel_ip.to_string());
    }
    let demo = Client::user(&pod, "demo", "demo").await;
    assert_eq!(demo.get("/networking/v2.0/agents").await.status, 403);
    let az = c.get("/networking/v2.0/availability_zones").await;
    assert_eq!(az.body["availability_zones"][0]["name"], "nova");
    c.post("/networking/v2.0/networks", json!({"network": {"name": "x"}})).await;
    let project = c.get("/identity/v3/auth/projects").await.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let q = c.get(&format!("/networking/v2.0/quotas/{project}/details")).await;
    assert_eq!(q.body["quota"]["network"]["used"], 1);
    let q = c.nova("GET", &format!("/os-quota-sets/{project}"), None, "2.79").await;
    assert_eq!(q.body["quota_set"]["instances"], 10);
    assert!(q.body["quota_set"].get("floating_ips").is_none(), "gone from 2.36");
    let q = c.cinder("GET", &format!("/os-quota-sets/{project}?usage=true"), None, "3.0").await;
    assert_eq!(q.body["quota_set"]["volumes"]["in_use"], 0);
    assert_eq!(
        demo.nova("GET", &format!("/os-quota-sets/{project}"), None, "2.79").await.status,
        403
    );
    pod.shutdown().await;
}
