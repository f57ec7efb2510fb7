//! Routers of the top Neutron over HTTP, written from the real Neutron's
//! behaviour: create/show/update/delete with Neutron's view, the external
//! gateway (only on an external network, with a port on it), interfaces by
//! subnet (the gateway IP) and by port, duplicates, removal, `RouterInUse`,
//! `SubnetInUse`, interface ports protected from the port API, extra routes
//! and project isolation. No pods are involved.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    ADMIN, Gateway, MEMBER, OTHER, Reply, neutron_call as call, neutron_create as create,
    neutron_error as error_type, neutron_ids as ids, neutron_str as s,
};
use crate::gateway_tests;

/// An ID nothing has.
const UNKNOWN: &str = "4d3c6f8a-1b2e-4c5d-9e8f-0a1b2c3d4e5f";

/// A network with one subnet of `cidr`: (network, subnet).
async fn net_with_subnet(gw: &Gateway, token: &str, extra: Value, cidr: &str) -> (Value, Value) {
    let mut body = json!({"name": format!("net {cidr}")});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let net = create(gw, token, "network", "networks", body).await;
    let sub = create(
        gw,
        token,
        "subnet",
        "subnets",
        json!({"network_id": net["id"], "cidr": cidr, "ip_version": 4}),
    )
    .await;
    (net, sub)
}

/// The admin's external network (and its subnet).
async fn external(gw: &Gateway) -> (Value, Value) {
    net_with_subnet(gw, ADMIN, json!({"router:external": true}), "172.24.4.0/24").await
}

async fn router(gw: &Gateway, token: &str, body: Value) -> Value {
    create(gw, token, "router", "routers", body).await
}

async fn put(gw: &Gateway, token: &str, path: &str, body: Value) -> Reply {
    call(gw, token, Method::PUT, path, Some(body)).await
}

async fn add_interface(gw: &Gateway, token: &str, router: &Value, body: Value) -> Reply {
    put(gw, token, &format!("/routers/{}/add_router_interface", s(&router["id"])), body).await
}

async fn remove_interface(gw: &Gateway, token: &str, router: &Value, body: Value) -> Reply {
    put(gw, token, &format!("/routers/{}/remove_router_interface", s(&router["id"])), body).await
}

async fn ports_of_router(gw: &Gateway, router: &Value) -> Vec<Value> {
    let r =
        call(gw, ADMIN, Method::GET, &format!("/ports?device_id={}", s(&router["id"])), None).await;
    r.ok(200)["ports"].as_array().cloned().unwrap_or_default()
}

gateway_tests! {
    async fn create_show_update_delete_with_neutrons_view(gw: &Gateway) {
        let r = router(gw, MEMBER, json!({"name": "r1", "description": "first"})).await;
        for (k, v) in [
            ("name", json!("r1")),
            ("description", json!("first")),
            ("status", json!("ACTIVE")),
            ("admin_state_up", json!(true)),
            ("external_gateway_info", Value::Null),
            ("routes", json!([])),
            ("availability_zone_hints", json!([])),
            ("availability_zones", json!([])),
            ("flavor_id", Value::Null),
            ("project_id", json!("p1")),
            ("tenant_id", json!("p1")),
            ("tags", json!([])),
            ("revision_number", json!(1)),
        ] {
            assert_eq!(r[k], v, "{k} of {r}");
        }
        for k in ["id", "created_at", "updated_at"] {
            assert!(r[k].is_string(), "{k} of {r}");
        }
        // distributed and ha are for admins (Neutron's policy).
        assert!(r.get("distributed").is_none() && r.get("ha").is_none(), "{r}");
        let id = s(&r["id"]);
        let as_admin = call(gw, ADMIN, Method::GET, &format!("/routers/{id}"), None).await;
        assert_eq!(as_admin.ok(200)["router"]["distributed"], false);
        assert_eq!(as_admin.ok(200)["router"]["ha"], false);
        assert!(as_admin.body.to_string().find("tricircle:").is_none(), "{}", as_admin.body);
        let shown = call(gw, MEMBER, Method::GET, &format!("/routers/{id}?fields=name&fields=status"), None).await;
        assert_eq!(shown.ok(200)["router"], json!({"name": "r1", "status": "ACTIVE"}));

        let u = put(gw, MEMBER, &format!("/routers/{id}"), json!({"router": {"name": "r1b", "admin_state_up": false, "description": "d"}})).await;
        let u = &u.ok(200)["router"];
        assert_eq!((u["name"].clone(), u["admin_state_up"].clone(), u["description"].clone()), (json!("r1b"), json!(false), json!("d")));
        assert_eq!(u["revision_number"], 2);
        let bad = put(gw, MEMBER, &format!("/routers/{id}"), json!({"router": {"bogus": 1}})).await;
        error_type(&bad, 400, "HTTPBadRequest");
        let bad = put(gw, MEMBER, &format!("/routers/{id}"), json!({"router": {"project_id": "p2"}})).await;
        error_type(&bad, 400, "HTTPBadRequest");
        // A member may not ask for distributed or HA routers.
        let denied = call(gw, MEMBER, Method::POST, "/routers", Some(json!({"router": {"distributed": true}}))).await;
        error_type(&denied, 403, "PolicyNotAuthorized");

        // Lists: filters, sort, paging.
        let r2 = router(gw, MEMBER, json!({"name": "r2"})).await;
        let all = call(gw, MEMBER, Method::GET, "/routers?sort_key=name&sort_dir=desc", None).await;
        assert_eq!(ids(&all, "routers"), vec![s(&r2["id"]), id.clone()]);
        let named = call(gw, MEMBER, Method::GET, "/routers?name=r2", None).await;
        assert_eq!(ids(&named, "routers"), vec![s(&r2["id"])]);
        let page = call(gw, MEMBER, Method::GET, "/routers?limit=1&sort_key=name&sort_dir=asc", None).await;
        assert_eq!(ids(&page, "routers"), vec![id.clone()]);
        assert!(page.body["routers_links"].is_array(), "{}", page.body);
        let bad_sort = call(gw, MEMBER, Method::GET, "/routers?sort_key=nope", None).await;
        assert_eq!(bad_sort.status.as_u16(), 400, "{}", bad_sort.body);

        let d = call(gw, MEMBER, Method::DELETE, &format!("/routers/{id}"), None).await;
        assert_eq!(d.status.as_u16(), 204, "{}", d.body);
        let gone = call(gw, MEMBER, Method::GET, &format!("/routers/{id}"), None).await;
        error_type(&gone, 404, "RouterNotFound");
        let again = call(gw, MEMBER, Method::DELETE, &format!("/routers/{id}"), None).await;
        error_type(&again, 404, "RouterNotFound");

        // The resource and extension lists name routers.
        let res = call(gw, MEMBER, Method::GET, "", None).await;
        assert!(res.ok(200)["resources"].as_array().unwrap().iter().any(|r| r["collection"] == "routers"), "{}", res.body);
        for alias in ["router", "extraroute", "ext-gw-mode", "router_availability_zone"] {
            let e = call(gw, MEMBER, Method::GET, &format!("/extensions/{alias}"), None).await;
            assert_eq!(e.ok(200)["extension"]["alias"], alias);
        }
        let l3 = call(gw, MEMBER, Method::GET, "/extensions/router", None).await;
        assert_eq!(l3.ok(200)["extension"]["name"], "Neutron L3 Router");
    }

    async fn gateway_only_on_an_external_network(gw: &Gateway) {
        let (ext, ext_sub) = external(gw).await;
        let (plain, _) = net_with_subnet(gw, MEMBER, json!({}), "10.0.0.0/24").await;
        let refused = call(gw, MEMBER, Method::POST, "/routers", Some(json!({"router": {"name": "x", "external_gateway_info": {"network_id": plain["id"]}}}))).await;
        let m = error_type(&refused, 400, "BadRequest");
        assert!(m.contains(&s(&plain["id"])) && m.contains("external"), "{m}");
        // Nothing was left behind.
        let none = call(gw, MEMBER, Method::GET, "/routers", None).await;
        assert!(ids(&none, "routers").is_empty(), "{}", none.body);
        let missing = call(gw, MEMBER, Method::POST, "/routers", Some(json!({"router": {"external_gateway_info": {"network_id": UNKNOWN}}}))).await;
        error_type(&missing, 404, "NetworkNotFound");
        // SNAT and fixed external addresses are for admins.
        let snat = call(gw, MEMBER, Method::POST, "/routers", Some(json!({"router": {"external_gateway_info": {"network_id": ext["id"], "enable_snat": false}}}))).await;
        error_type(&snat, 403, "PolicyNotAuthorized");

        let r = router(gw, MEMBER, json!({"name": "edge", "external_gateway_info": {"network_id": ext["id"]}})).await;
        let info = &r["external_gateway_info"];
        assert_eq!(info["network_id"], ext["id"]);
        assert_eq!(info["enable_snat"], true);
        let ips = info["external_fixed_ips"].as_array().unwrap_or_else(|| panic!("{r}"));
        assert_eq!(ips.len(), 1, "{r}");
        assert_eq!(ips[0]["subnet_id"], ext_sub["id"]);
        let ip = s(&ips[0]["ip_address"]);
        assert!(ip.starts_with("172.24.4.") && ip != "172.24.4.1", "{ip}");
        let ports = ports_of_router(gw, &r).await;
        assert_eq!(ports.len(), 1, "{ports:?}");
        assert_eq!(ports[0]["device_owner"], "network:router_gateway");
        assert_eq!(ports[0]["network_id"], ext["id"]);
        assert_eq!(ports[0]["fixed_ips"][0]["ip_address"], ip.as_str());

        // Cleared by update: the port goes.
        let id = s(&r["id"]);
        let cleared = put(gw, MEMBER, &format!("/routers/{id}"), json!({"router": {"external_gateway_info": {}}})).await;
        assert_eq!(cleared.ok(200)["router"]["external_gateway_info"], Value::Null);
        assert!(ports_of_router(gw, &r).await.is_empty());
        // Set again by update, and by the admin with SNAT off and a chosen address.
        let set = put(gw, MEMBER, &format!("/routers/{id}"), json!({"router": {"external_gateway_info": {"network_id": ext["id"]}}})).await;
        assert_eq!(set.ok(200)["router"]["external_gateway_info"]["network_id"], ext["id"]);
        let chosen = put(gw, ADMIN, &format!("/routers/{id}"), json!({"router": {"external_gateway_info": {"network_id": ext["id"], "enable_snat": false, "external_fixed_ips": [{"subnet_id": ext_sub["id"], "ip_address": "172.24.4.50"}]}}})).await;
        let g = &chosen.ok(200)["router"]["external_gateway_info"];
        assert_eq!(g["enable_snat"], false);
        assert_eq!(g["external_fixed_ips"], json!([{"subnet_id": ext_sub["id"], "ip_address": "172.24.4.50"}]));
        assert_eq!(ports_of_router(gw, &r).await.len(), 1, "the old gateway port is gone");
        // A non-external network on update: refused, the gateway unchanged.
        let refused = put(gw, MEMBER, &format!("/routers/{id}"), json!({"router": {"external_gateway_info": {"network_id": plain["id"]}}})).await;
        error_type(&refused, 400, "BadRequest");
        let still = call(gw, MEMBER, Method::GET, &format!("/routers/{id}"), None).await;
        assert_eq!(still.ok(200)["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"], "172.24.4.50");
        // The external network cannot go while the gateway holds a port.
        let busy = call(gw, ADMIN, Method::DELETE, &format!("/networks/{}", s(&ext["id"])), None).await;
        error_type(&busy, 409, "NetworkInUse");
        // The gateway port cannot be deleted through the port API either.
        let gp = s(&ports_of_router(gw, &r).await[0]["id"]);
        let refused = call(gw, ADMIN, Method::DELETE, &format!("/ports/{gp}"), None).await;
        error_type(&refused, 409, "ServicePortInUse");
        // Deleting the router takes its gateway port with it.
        let d = call(gw, MEMBER, Method::DELETE, &format!("/routers/{id}"), None).await;
        assert_eq!(d.status.as_u16(), 204, "{}", d.body);
        assert!(ports_of_router(gw, &r).await.is_empty());
        let freed = call(gw, ADMIN, Method::DELETE, &format!("/networks/{}", s(&ext["id"])), None).await;
        assert_eq!(freed.status.as_u16(), 204, "{}", freed.body);
    }

    async fn interfaces_by_subnet_and_by_port(gw: &Gateway) {
        let r = router(gw, MEMBER, json!({"name": "r"})).await;
        let rid = s(&r["id"]);
        let (net, sub) = net_with_subnet(gw, MEMBER, json!({}), "10.1.0.0/24").await;
        let added = add_interface(gw, MEMBER, &r, json!({"subnet_id": sub["id"]})).await;
        let info = added.ok(200).clone();
        assert_eq!(info["id"], rid.as_str());
        assert_eq!(info["subnet_id"], sub["id"]);
        assert_eq!(info["subnet_ids"], json!([sub["id"]]));
        assert_eq!(info["network_id"], net["id"]);
        assert_eq!(info["project_id"], "p1");
        let port_id = s(&info["port_id"]);
        let ports = ports_of_router(gw, &r).await;
        assert_eq!(ports.len(), 1, "{ports:?}");
        let p = &ports[0];
        assert_eq!(p["id"], port_id.as_str());
        assert_eq!(p["device_owner"], "network:router_interface");
        assert_eq!(p["device_id"], rid.as_str());
        assert_eq!(p["project_id"], "p1");
        assert_eq!(p["fixed_ips"], json!([{"subnet_id": sub["id"], "ip_address": "10.1.0.1"}]));
        // The member sees it too, filtered by device.
        let mine = call(gw, MEMBER, Method::GET, &format!("/ports?device_id={rid}"), None).await;
        assert_eq!(ids(&mine, "ports"), vec![port_id.clone()]);

        // The same subnet twice.
        let twice = add_interface(gw, MEMBER, &r, json!({"subnet_id": sub["id"]})).await;
        let m = error_type(&twice, 400, "BadRequest");
        assert!(m.contains(&s(&sub["id"])), "{m}");
        // Another router on the same subnet: the gateway address is taken.
        let r2 = router(gw, MEMBER, json!({"name": "r2"})).await;
        let taken = add_interface(gw, MEMBER, &r2, json!({"subnet_id": sub["id"]})).await;
        error_type(&taken, 409, "IpAddressAlreadyAllocated");
        assert!(ports_of_router(gw, &r2).await.is_empty());
        // Both or neither of subnet_id and port_id.
        let both = add_interface(gw, MEMBER, &r, json!({"subnet_id": sub["id"], "port_id": port_id})).await;
        error_type(&both, 400, "BadRequest");
        let neither = add_interface(gw, MEMBER, &r, json!({})).await;
        error_type(&neither, 400, "BadRequest");
        let unknown = add_interface(gw, MEMBER, &r, json!({"subnet_id": UNKNOWN})).await;
        error_type(&unknown, 404, "SubnetNotFound");
        // A subnet without a gateway IP.
        let net3 = create(gw, MEMBER, "network", "networks", json!({"name": "nogw"})).await;
        let nogw = create(gw, MEMBER, "subnet", "subnets", json!({"network_id": net3["id"], "cidr": "10.3.0.0/24", "ip_version": 4, "gateway_ip": null})).await;
        let refused = add_interface(gw, MEMBER, &r, json!({"subnet_id": nogw["id"]})).await;
        error_type(&refused, 400, "BadRequest");
        // An overlapping subnet of another network.
        let (_, overlapping) = net_with_subnet(gw, MEMBER, json!({}), "10.1.0.0/16").await;
        let refused = add_interface(gw, MEMBER, &r, json!({"subnet_id": overlapping["id"]})).await;
        error_type(&refused, 400, "BadRequest");

        // By port: an unbound port of the caller becomes the interface.
        let (net2, sub2) = net_with_subnet(gw, MEMBER, json!({}), "10.2.0.0/24").await;
        let port = create(gw, MEMBER, "port", "ports", json!({"network_id": net2["id"]})).await;
        let by_port = add_interface(gw, MEMBER, &r, json!({"port_id": port["id"]})).await;
        let info2 = by_port.ok(200).clone();
        assert_eq!(info2["port_id"], port["id"]);
        assert_eq!(info2["subnet_ids"], json!([sub2["id"]]));
        assert_eq!(info2["network_id"], net2["id"]);
        let shown = call(gw, MEMBER, Method::GET, &format!("/ports/{}", s(&port["id"])), None).await;
        let p = &shown.ok(200)["port"];
        assert_eq!((p["device_owner"].clone(), p["device_id"].clone()), (json!("network:router_interface"), json!(rid.as_str())));
        assert_eq!(ports_of_router(gw, &r).await.len(), 2);
        // A port already attached is refused; so is another project's port.
        let again = add_interface(gw, MEMBER, &r2, json!({"port_id": port["id"]})).await;
        error_type(&again, 409, "PortInUse");
        let (onet, _) = net_with_subnet(gw, OTHER, json!({}), "10.9.0.0/24").await;
        let theirs = create(gw, OTHER, "port", "ports", json!({"network_id": onet["id"]})).await;
        let refused = add_interface(gw, MEMBER, &r2, json!({"port_id": theirs["id"]})).await;
        error_type(&refused, 404, "PortNotFound");

        // Interface ports are not deleted through the port API.
        let direct = call(gw, MEMBER, Method::DELETE, &format!("/ports/{port_id}"), None).await;
        let m = error_type(&direct, 409, "ServicePortInUse");
        assert!(m.contains("cannot be deleted directly via the port API") && m.contains("network:router_interface"), "{m}");
        // Nor does the subnet or the network go while an interface is on it.
        let sub_busy = call(gw, MEMBER, Method::DELETE, &format!("/subnets/{}", s(&sub["id"])), None).await;
        error_type(&sub_busy, 409, "SubnetInUse");
        let net_busy = call(gw, MEMBER, Method::DELETE, &format!("/networks/{}", s(&net["id"])), None).await;
        error_type(&net_busy, 409, "NetworkInUse");
        // Nor the router.
        let in_use = call(gw, MEMBER, Method::DELETE, &format!("/routers/{rid}"), None).await;
        let m = error_type(&in_use, 409, "RouterInUse");
        assert!(m.contains(&rid), "{m}");

        // Remove by subnet and by port; absent ones are 404.
        let removed = remove_interface(gw, MEMBER, &r, json!({"subnet_id": sub["id"]})).await;
        assert_eq!(removed.ok(200)["port_id"], port_id.as_str());
        let gone = call(gw, MEMBER, Method::GET, &format!("/ports/{port_id}"), None).await;
        error_type(&gone, 404, "PortNotFound");
        let absent = remove_interface(gw, MEMBER, &r, json!({"subnet_id": sub["id"]})).await;
        error_type(&absent, 404, "RouterInterfaceNotFoundForSubnet");
        let absent = remove_interface(gw, MEMBER, &r, json!({"port_id": theirs["id"]})).await;
        error_type(&absent, 404, "RouterInterfaceNotFound");
        let removed = remove_interface(gw, MEMBER, &r, json!({"port_id": port["id"]})).await;
        assert_eq!(removed.ok(200)["subnet_ids"], json!([sub2["id"]]));
        assert!(ports_of_router(gw, &r).await.is_empty());
        // Now the subnet, the router and the other router can go; the gateway IP is free again.
        let readd = add_interface(gw, MEMBER, &r2, json!({"subnet_id": sub["id"]})).await;
        assert_eq!(readd.status.as_u16(), 200, "{}", readd.body);
        remove_interface(gw, MEMBER, &r2, json!({"subnet_id": sub["id"]})).await.ok(200);
        let sub_free = call(gw, MEMBER, Method::DELETE, &format!("/subnets/{}", s(&sub["id"])), None).await;
        assert_eq!(sub_free.status.as_u16(), 204, "{}", sub_free.body);
        let d = call(gw, MEMBER, Method::DELETE, &format!("/routers/{rid}"), None).await;
        assert_eq!(d.status.as_u16(), 204, "{}", d.body);
    }

    async fn extra_routes_need_a_connected_nexthop(gw: &Gateway) {
        let r = router(gw, MEMBER, json!({"name": "r"})).await;
        let rid = s(&r["id"]);
        let path = format!("/routers/{rid}");
        let route = json!({"destination": "192.168.0.0/24", "nexthop": "10.5.0.10"});
        // No interface yet: the next hop is not connected.
        let refused = put(gw, MEMBER, &path, json!({"router": {"routes": [route]}})).await;
        let m = error_type(&refused, 400, "InvalidRoutes");
        assert!(m.contains("the nexthop is not connected with router"), "{m}");
        let (_, sub) = net_with_subnet(gw, MEMBER, json!({}), "10.5.0.0/24").await;
        add_interface(gw, MEMBER, &r, json!({"subnet_id": sub["id"]})).await.ok(200);
        let set = put(gw, MEMBER, &path, json!({"router": {"routes": [route]}})).await;
        assert_eq!(set.ok(200)["router"]["routes"], json!([route]));
        // Malformed routes.
        for bad in [json!([{"destination": "nope", "nexthop": "10.5.0.10"}]), json!([{"destination": "10.0.0.0/8", "nexthop": "x"}]), json!("routes"), json!([{"destination": "10.0.0.0/8"}])] {
            let r = put(gw, MEMBER, &path, json!({"router": {"routes": bad}})).await;
            assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.body);
        }
        // The router's own address is no next hop.
        let own = put(gw, MEMBER, &path, json!({"router": {"routes": [{"destination": "10.8.0.0/16", "nexthop": "10.5.0.1"}]}})).await;
        error_type(&own, 400, "InvalidRoutes");
        // add_extraroutes / remove_extraroutes.
        let more = json!({"destination": "10.20.0.0/16", "nexthop": "10.5.0.20"});
        let added = put(gw, MEMBER, &format!("{path}/add_extraroutes"), json!({"router": {"routes": [more]}})).await;
        assert_eq!(added.ok(200)["router"]["routes"], json!([route, more]));
        let far = put(gw, MEMBER, &format!("{path}/add_extraroutes"), json!({"router": {"routes": [{"destination": "10.30.0.0/16", "nexthop": "10.99.0.1"}]}})).await;
        error_type(&far, 400, "InvalidRoutes");
        // The interface the routes go through stays while they do.
        let held = remove_interface(gw, MEMBER, &r, json!({"subnet_id": sub["id"]})).await;
        error_type(&held, 409, "RouterInterfaceInUseByRoute");
        let removed = put(gw, MEMBER, &format!("{path}/remove_extraroutes"), json!({"router": {"routes": [route]}})).await;
        assert_eq!(removed.ok(200)["router"]["routes"], json!([more]));
        let cleared = put(gw, MEMBER, &path, json!({"router": {"routes": []}})).await;
        assert_eq!(cleared.ok(200)["router"]["routes"], json!([]));
        remove_interface(gw, MEMBER, &r, json!({"subnet_id": sub["id"]})).await.ok(200);
        let unknown = put(gw, MEMBER, &format!("/routers/{UNKNOWN}/add_extraroutes"), json!({"router": {"routes": []}})).await;
        error_type(&unknown, 404, "RouterNotFound");
    }

    async fn other_projects_see_nothing_admin_sees_all(gw: &Gateway) {
        let mine = router(gw, MEMBER, json!({"name": "mine"})).await;
        let theirs = router(gw, OTHER, json!({"name": "theirs"})).await;
        let id = s(&mine["id"]);
        let (_, sub) = net_with_subnet(gw, MEMBER, json!({}), "10.7.0.0/24").await;
        // OTHER: 404 on every call about p1's router.
        let path = format!("/routers/{id}");
        error_type(&call(gw, OTHER, Method::GET, &path, None).await, 404, "RouterNotFound");
        error_type(&put(gw, OTHER, &path, json!({"router": {"name": "x"}})).await, 404, "RouterNotFound");
        error_type(&add_interface(gw, OTHER, &mine, json!({"subnet_id": sub["id"]})).await, 404, "RouterNotFound");
        error_type(&remove_interface(gw, OTHER, &mine, json!({"subnet_id": sub["id"]})).await, 404, "RouterNotFound");
        error_type(&put(gw, OTHER, &format!("{path}/add_extraroutes"), json!({"router": {"routes": []}})).await, 404, "RouterNotFound");
        error_type(&call(gw, OTHER, Method::DELETE, &path, None).await, 404, "RouterNotFound");
        // Nor may OTHER plug p1's subnet into its own router.
        error_type(&add_interface(gw, OTHER, &theirs, json!({"subnet_id": sub["id"]})).await, 404, "SubnetNotFound");
        // Nor create a router for p1.
        let forged = call(gw, OTHER, Method::POST, "/routers", Some(json!({"router": {"project_id": "p1"}}))).await;
        assert_eq!(forged.status.as_u16(), 403, "{}", forged.body);
        // Lists.
        let listed = call(gw, MEMBER, Method::GET, "/routers", None).await;
        assert_eq!(ids(&listed, "routers"), vec![id.clone()]);
        let listed = call(gw, OTHER, Method::GET, "/routers", None).await;
        assert_eq!(ids(&listed, "routers"), vec![s(&theirs["id"])]);
        let listed = call(gw, ADMIN, Method::GET, "/routers?sort_key=name&sort_dir=asc", None).await;
        assert_eq!(ids(&listed, "routers"), vec![id.clone(), s(&theirs["id"])]);
        // The admin works on p1's router and makes one for p2.
        add_interface(gw, ADMIN, &mine, json!({"subnet_id": sub["id"]})).await.ok(200);
        let ports = ports_of_router(gw, &mine).await;
        assert_eq!(ports[0]["project_id"], "p1", "the interface is the router's project's");
        remove_interface(gw, ADMIN, &mine, json!({"subnet_id": sub["id"]})).await.ok(200);
        let for_p2 = router(gw, ADMIN, json!({"name": "for p2", "project_id": "p2"})).await;
        assert_eq!(for_p2["project_id"], "p2");
        let seen = call(gw, OTHER, Method::GET, &format!("/routers/{}", s(&for_p2["id"])), None).await;
        assert_eq!(seen.ok(200)["router"]["name"], "for p2");
        let d = call(gw, ADMIN, Method::DELETE, &path, None).await;
        assert_eq!(d.status.as_u16(), 204, "{}", d.body);
    }
}
