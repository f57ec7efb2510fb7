//! The top Neutron's quota enforcement and bulk creates over HTTP, written
//! from the real Neutron's behaviour: an admin sets, lists and resets a
//! project's limits (others get `PolicyNotAuthorized`); a create over the
//! limit is `409 OverQuota`; -1 is unlimited; a bulk create
//! (`{"networks": [...]}`) makes all its objects in order or none, and is
//! counted against the quota as a whole. No pods are involved.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{ADMIN, Gateway, MEMBER, OTHER, Reply, neutron_call as call};
use crate::gateway_tests;

async fn post(gw: &Gateway, token: &str, path: &str, body: Value) -> Reply {
    call(gw, token, Method::POST, path, Some(body)).await
}

async fn set_quota(gw: &Gateway, project: &str, quota: Value) -> Value {
    let path = format!("/quotas/{project}");
    let r = call(gw, ADMIN, Method::PUT, &path, Some(json!({"quota": quota}))).await;
    r.ok(200)["quota"].clone()
}

/// Assert Neutron's error body of this status and type; returns the message.
#[track_caller]
fn error_type(r: &Reply, status: u16, ty: &str) -> String {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    assert_eq!(r.body.as_object().map(|o| o.len()), Some(1), "only NeutronError: {}", r.body);
    let e = &r.body["NeutronError"];
    assert_eq!(e["type"], ty, "error type: {}", r.body);
    let message = e["message"].as_str().unwrap_or_else(|| panic!("no message: {}", r.body));
    for leak in ["sqlx", "panicked", "src/", "::"] {
        assert!(!message.contains(leak), "internal detail in message: {message}");
    }
    message.to_string()
}

#[track_caller]
fn over_quota(r: &Reply, resource: &str) {
    let message = error_type(r, 409, "OverQuota");
    assert_eq!(message, format!("Quota exceeded for resources: ['{resource}']."));
}

/// The IDs of `collection` the token sees.
async fn listed(gw: &Gateway, token: &str, collection: &str) -> Vec<String> {
    let r = call(gw, token, Method::GET, &format!("/{collection}"), None).await;
    let key = collection.replace('-', "_");
    r.ok(200)[&key].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().into()).collect()
}

async fn used(gw: &Gateway, project: &str, resource: &str) -> Value {
    let r = call(gw, ADMIN, Method::GET, &format!("/quotas/{project}/details"), None).await;
    r.ok(200)["quota"][resource].clone()
}

/// A member's network with one subnet: (network ID, subnet ID).
async fn net_with_subnet(gw: &Gateway, cidr: &str) -> (String, String) {
    let net = post(gw, MEMBER, "/networks", json!({"network": {"name": cidr}})).await;
    let net = net.ok(201)["network"]["id"].as_str().unwrap().to_string();
    let body = json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4}});
    let sub = post(gw, MEMBER, "/subnets", body).await;
    (net, sub.ok(201)["subnet"]["id"].as_str().unwrap().to_string())
}

gateway_tests! {
    async fn a_member_hits_the_limit_an_admin_set(gw: &Gateway) {
        let q = set_quota(gw, "p1", json!({"network": 2, "router": 1})).await;
        assert_eq!((q["network"].as_i64(), q["router"].as_i64()), (Some(2), Some(1)));
        assert_eq!(q["port"], 500, "what was not set keeps its default: {q}");
        let r = call(gw, MEMBER, Method::GET, "/quotas/p1", None).await;
        assert_eq!(r.ok(200)["quota"], q, "show reflects what was set");

        for name in ["a", "b"] {
            post(gw, MEMBER, "/networks", json!({"network": {"name": name}})).await.ok(201);
        }
        let r = post(gw, MEMBER, "/networks", json!({"network": {"name": "c"}})).await;
        over_quota(&r, "network");
        assert_eq!(listed(gw, MEMBER, "networks").await.len(), 2, "nothing made over quota");
        assert_eq!(used(gw, "p1", "network").await, json!({"limit": 2, "used": 2, "reserved": 0}));
        // Another project's limit is its own.
        for name in ["x", "y", "z"] {
            post(gw, OTHER, "/networks", json!({"network": {"name": name}})).await.ok(201);
        }
        // An admin creating for p1 is held to p1's quota too.
        let r = post(gw, ADMIN, "/networks", json!({"network": {"name": "c", "project_id": "p1"}})).await;
        over_quota(&r, "network");

        post(gw, MEMBER, "/routers", json!({"router": {"name": "r1"}})).await.ok(201);
        over_quota(&post(gw, MEMBER, "/routers", json!({"router": {"name": "r2"}})).await, "router");

        // -1 is unlimited.
        set_quota(gw, "p1", json!({"network": -1})).await;
        post(gw, MEMBER, "/networks", json!({"network": {"name": "c"}})).await.ok(201);
        assert_eq!(used(gw, "p1", "network").await, json!({"limit": -1, "used": 3, "reserved": 0}));
    }

    async fn only_an_admin_changes_quotas(gw: &Gateway) {
        for (method, body) in [(Method::PUT, Some(json!({"quota": {"network": 50}}))), (Method::DELETE, None)] {
            let r = call(gw, MEMBER, method, "/quotas/p1", body).await;
            error_type(&r, 403, "PolicyNotAuthorized");
        }
        assert_eq!(used(gw, "p1", "network").await["limit"], 100, "unchanged");
        // Values Neutron refuses, each saying which resource.
        for (quota, says) in [
            (json!({"networks": 5}), "networks"),
            (json!({"network": "many"}), "network"),
            (json!({"network": 2.5}), "network"),
            (json!({"port": -2}), "port"),
            (json!({"port": 4_294_967_296_i64}), "port"),
        ] {
            let r = call(gw, ADMIN, Method::PUT, "/quotas/p1", Some(json!({"quota": quota}))).await;
            let message = error_type(&r, 400, "HTTPBadRequest");
            assert!(message.contains(says), "{quota}: {message}");
        }
        let r = call(gw, ADMIN, Method::PUT, "/quotas/p1", Some(json!({"network": 5}))).await;
        error_type(&r, 400, "HTTPBadRequest");
        // Text that is an integer is one (Neutron converts it).
        assert_eq!(set_quota(gw, "p1", json!({"subnet": "7"})).await["subnet"], 7);
        // openstacksdk names the project in the body too: the URL's only.
        assert_eq!(set_quota(gw, "p1", json!({"router": 3, "tenant_id": "p1"})).await["router"], 3);
        let body = json!({"quota": {"router": 4, "tenant_id": "p2"}});
        let r = call(gw, ADMIN, Method::PUT, "/quotas/p1", Some(body)).await;
        assert!(error_type(&r, 400, "HTTPBadRequest").contains("tenant_id"));

        // A limit below what is used needs "force".
        for name in ["a", "b"] {
            post(gw, MEMBER, "/networks", json!({"network": {"name": name}})).await.ok(201);
        }
        let r = call(gw, ADMIN, Method::PUT, "/quotas/p1", Some(json!({"quota": {"network": 1}}))).await;
        let message = error_type(&r, 400, "HTTPBadRequest");
        assert!(message.contains("network") && message.contains("used 2"), "{message}");
        assert_eq!(set_quota(gw, "p1", json!({"network": 1, "force": true})).await["network"], 1);

        // The list: projects whose quotas differ, with all their limits.
        set_quota(gw, "p2", json!({"port": 9})).await;
        let r = call(gw, ADMIN, Method::GET, "/quotas", None).await;
        let quotas = r.ok(200)["quotas"].as_array().unwrap().clone();
        let projects: Vec<&str> = quotas.iter().map(|q| q["project_id"].as_str().unwrap()).collect();
        assert_eq!(projects, ["p1", "p2"]);
        assert_eq!((quotas[0]["network"].as_i64(), quotas[0]["subnet"].as_i64()), (Some(1), Some(7)));
        assert_eq!((quotas[0]["tenant_id"].as_str(), quotas[0]["port"].as_i64()), (Some("p1"), Some(500)));
        assert_eq!((quotas[1]["port"].as_i64(), quotas[1]["network"].as_i64()), (Some(9), Some(100)));
        // A member sees no other project's.
        let r = call(gw, MEMBER, Method::GET, "/quotas", None).await;
        let mine: Vec<Value> = r.ok(200)["quotas"].as_array().unwrap().clone();
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0]["project_id"], "p1");

        // Defaults stay the defaults.
        let r = call(gw, MEMBER, Method::GET, "/quotas/p1/default", None).await;
        assert_eq!(r.ok(200)["quota"]["network"], 100);
        let r = call(gw, MEMBER, Method::GET, "/quotas/p2/default", None).await;
        error_type(&r, 403, "PolicyNotAuthorized");
        let r = call(gw, OTHER, Method::GET, "/quotas/project", None).await;
        assert_eq!(r.ok(200), &json!({"project": {"project_id": "p2"}}));

        // Reset: the defaults again, and out of the list.
        let r = call(gw, ADMIN, Method::DELETE, "/quotas/p1", None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = call(gw, MEMBER, Method::GET, "/quotas/p1", None).await;
        let q = &r.ok(200)["quota"];
        assert_eq!((q["network"].as_i64(), q["subnet"].as_i64()), (Some(100), Some(100)));
        let r = call(gw, ADMIN, Method::GET, "/quotas", None).await;
        let left: Vec<Value> = r.ok(200)["quotas"].as_array().unwrap().clone();
        assert_eq!(left.iter().map(|q| q["project_id"].clone()).collect::<Vec<_>>(), [json!("p2")]);
        post(gw, MEMBER, "/networks", json!({"network": {"name": "c"}})).await.ok(201);
    }

    async fn every_kind_is_counted(gw: &Gateway) {
        set_quota(gw, "p1", json!({"subnet": 1, "port": 2, "security_group": 2})).await;
        let (net, sub) = net_with_subnet(gw, "10.0.0.0/24").await;
        let body = json!({"subnet": {"network_id": net, "cidr": "10.0.1.0/24", "ip_version": 4}});
        over_quota(&post(gw, MEMBER, "/subnets", body).await, "subnet");

        for _ in 0..2 {
            post(gw, MEMBER, "/ports", json!({"port": {"network_id": net}})).await.ok(201);
        }
        over_quota(&post(gw, MEMBER, "/ports", json!({"port": {"network_id": net}})).await, "port");
        assert_eq!(used(gw, "p1", "port").await["used"], 2);

        // The first port made the project's default group: it counts.
        assert_eq!(used(gw, "p1", "security_group").await["used"], 1);
        let r = post(gw, MEMBER, "/security-groups", json!({"security_group": {"name": "web"}})).await;
        let web = r.ok(201)["security_group"]["id"].as_str().unwrap().to_string();
        let r = post(gw, MEMBER, "/security-groups", json!({"security_group": {"name": "db"}})).await;
        over_quota(&r, "security_group");

        // Rules: the default group's four and web's two egress rules count.
        let rules = used(gw, "p1", "security_group_rule").await["used"].as_i64().unwrap();
        assert_eq!(rules, 6);
        set_quota(gw, "p1", json!({"security_group_rule": rules + 1})).await;
        let rule = |port: u16| json!({"security_group_rule": {"security_group_id": web, "direction": "ingress",
            "protocol": "tcp", "port_range_min": port, "port_range_max": port}});
        post(gw, MEMBER, "/security-group-rules", rule(22)).await.ok(201);
        over_quota(&post(gw, MEMBER, "/security-group-rules", rule(80)).await, "security_group_rule");

        // A router's interface port is made past the check, as Neutron's L3
        // plugin makes it, but it is the project's and counts.
        let r = post(gw, MEMBER, "/routers", json!({"router": {"name": "r"}})).await;
        let router = r.ok(201)["router"]["id"].as_str().unwrap().to_string();
        let path = format!("/routers/{router}/add_router_interface");
        call(gw, MEMBER, Method::PUT, &path, Some(json!({"subnet_id": sub}))).await.ok(200);
        assert_eq!(used(gw, "p1", "port").await["used"], 3);
    }

    async fn bulk_networks_are_made_in_order(gw: &Gateway) {
        let body = json!({"networks": [{"name": "a"}, {"name": "b", "admin_state_up": false}, {"network": {"name": "c"}}]});
        let r = post(gw, MEMBER, "/networks", body).await;
        let made = r.ok(201)["networks"].as_array().unwrap().clone();
        let names: Vec<&str> = made.iter().map(|n| n["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!((made[0]["admin_state_up"].as_bool(), made[1]["admin_state_up"].as_bool()), (Some(true), Some(false)));
        assert!(made.iter().all(|n| n["project_id"] == "p1" && n["status"] == "ACTIVE"), "{made:?}");
        let ids: HashSet<String> = made.iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(listed(gw, MEMBER, "networks").await.into_iter().collect::<HashSet<_>>(), ids);
        let segments: HashSet<i64> =
            made.iter().filter_map(|n| n["provider:segmentation_id"].as_i64()).collect();
        assert!(segments.is_empty(), "provider attributes are the admin's: {made:?}");

        // Subnets and rules in bulk, too.
        let net = made[0]["id"].clone();
        let body = json!({"subnets": [
            {"network_id": net, "cidr": "10.1.0.0/24", "ip_version": 4},
            {"network_id": net, "cidr": "10.1.1.0/24", "ip_version": 4}]});
        let r = post(gw, MEMBER, "/subnets", body).await;
        let cidrs: Vec<Value> = r.ok(201)["subnets"].as_array().unwrap().iter().map(|s| s["cidr"].clone()).collect();
        assert_eq!(cidrs, [json!("10.1.0.0/24"), json!("10.1.1.0/24")]);
        let r = post(gw, MEMBER, "/security-groups", json!({"security_group": {"name": "web"}})).await;
        let web = r.ok(201)["security_group"]["id"].clone();
        let rule = |port: u16| json!({"security_group_id": web, "direction": "ingress", "protocol": "tcp",
            "port_range_min": port, "port_range_max": port});
        let r = post(gw, MEMBER, "/security-group-rules", json!({"security_group_rules": [rule(22), rule(443)]})).await;
        let rules = r.ok(201)["security_group_rules"].as_array().unwrap().clone();
        assert_eq!(rules.iter().map(|r| r["port_range_min"].as_i64().unwrap()).collect::<Vec<_>>(), [22, 443]);

        let r = post(gw, MEMBER, "/networks", json!({"networks": []})).await;
        error_type(&r, 400, "HTTPBadRequest");
        let r = post(gw, MEMBER, "/networks", json!({"networks": {"name": "x"}})).await;
        error_type(&r, 400, "HTTPBadRequest");
    }

    async fn a_failing_bulk_leaves_nothing(gw: &Gateway) {
        let body = json!({"networks": [{"name": "a"}, {"name": "b"}, {"name": "c", "mtu": "huge"}]});
        let r = post(gw, MEMBER, "/networks", body).await;
        let message = error_type(&r, 400, "HTTPBadRequest");
        assert!(message.contains("mtu"), "the failing one's error: {message}");
        assert!(listed(gw, MEMBER, "networks").await.is_empty(), "the first two are gone again");
        assert_eq!(used(gw, "p1", "network").await["used"], 0);

        // Ports: the third asks the address the first took; the first two go
        // again and free their addresses.
        let (net, sub) = net_with_subnet(gw, "10.2.0.0/24").await;
        let fixed = json!([{"subnet_id": sub, "ip_address": "10.2.0.50"}]);
        let body = json!({"ports": [{"network_id": net, "fixed_ips": fixed}, {"network_id": net},
            {"network_id": net, "fixed_ips": fixed}]});
        let r = post(gw, MEMBER, "/ports", body).await;
        error_type(&r, 409, "IpAddressAlreadyAllocated");
        assert!(listed(gw, MEMBER, "ports").await.is_empty());
        let r = post(gw, MEMBER, "/ports", json!({"port": {"network_id": net, "fixed_ips": fixed}})).await;
        assert_eq!(r.ok(201)["port"]["fixed_ips"][0]["ip_address"], "10.2.0.50", "the address is free again");
        // Another project's network: refused, nothing made.
        let body = json!({"ports": [{"network_id": net}, {"network_id": net}]});
        error_type(&post(gw, OTHER, "/ports", body).await, 404, "NetworkNotFound");
        assert_eq!(used(gw, "p1", "port").await["used"], 1);
    }

    async fn bulk_ports_get_distinct_addresses(gw: &Gateway) {
        let (net, sub) = net_with_subnet(gw, "10.3.0.0/29").await;
        let body = json!({"ports": [{"network_id": net, "name": "p0"}, {"network_id": net, "name": "p1"},
            {"port": {"network_id": net, "name": "p2"}}]});
        let r = post(gw, MEMBER, "/ports", body).await;
        let ports = r.ok(201)["ports"].as_array().unwrap().clone();
        assert_eq!(ports.iter().map(|p| p["name"].as_str().unwrap()).collect::<Vec<_>>(), ["p0", "p1", "p2"]);
        let ips: HashSet<&str> = ports.iter().map(|p| {
            assert_eq!(p["fixed_ips"][0]["subnet_id"], sub.as_str());
            p["fixed_ips"][0]["ip_address"].as_str().unwrap()
        }).collect();
        let macs: HashSet<&str> = ports.iter().map(|p| p["mac_address"].as_str().unwrap()).collect();
        assert_eq!((ips.len(), macs.len()), (3, 3), "{ports:?}");
        // A /29 has five addresses for ports: three more cannot be had,
        // and the two that could are not kept either.
        let body = json!({"ports": [{"network_id": net}, {"network_id": net}, {"network_id": net}]});
        let r = post(gw, MEMBER, "/ports", body).await;
        error_type(&r, 409, "IpAddressGenerationFailure");
        assert_eq!(listed(gw, MEMBER, "ports").await.len(), 3);
    }

    async fn a_bulk_over_quota_is_refused_whole(gw: &Gateway) {
        set_quota(gw, "p1", json!({"network": 3})).await;
        post(gw, MEMBER, "/networks", json!({"network": {"name": "first"}})).await.ok(201);
        let body = json!({"networks": [{"name": "a"}, {"name": "b"}, {"name": "c"}]});
        over_quota(&post(gw, MEMBER, "/networks", body).await, "network");
        assert_eq!(listed(gw, MEMBER, "networks").await.len(), 1, "none of the batch was made");
        let body = json!({"networks": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(post(gw, MEMBER, "/networks", body).await.ok(201)["networks"].as_array().unwrap().len(), 2);
        assert_eq!(used(gw, "p1", "network").await["used"], 3);
        // An admin's batch for two projects counts each against its own.
        set_quota(gw, "p2", json!({"port": 1})).await;
        // (The network is another project's: p1 is at its network limit.)
        let body = json!({"network": {"name": "s", "shared": true, "project_id": "p3"}});
        let shared = post(gw, ADMIN, "/networks", body).await;
        let shared = shared.ok(201)["network"]["id"].clone();
        let body = json!({"ports": [{"network_id": shared, "project_id": "p2"}, {"network_id": shared, "project_id": "p1"},
            {"network_id": shared, "project_id": "p2"}]});
        over_quota(&post(gw, ADMIN, "/ports", body).await, "port");
        let body = json!({"ports": [{"network_id": shared, "project_id": "p2"}, {"network_id": shared, "project_id": "p1"}]});
        post(gw, ADMIN, "/ports", body).await.ok(201);
        assert_eq!((used(gw, "p1", "port").await["used"].as_i64(), used(gw, "p2", "port").await["used"].as_i64()), (Some(1), Some(1)));
    }
}
