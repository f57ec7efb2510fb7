//! Floating IPs of the top Neutron over HTTP, written from the real
//! Neutron's behaviour: the address comes from the external network's IPAM
//! through a `network:floatingip` port; association needs a router between
//! the port's subnet and the floating network; one floating IP per fixed IP;
//! lists with filters, fields and paging; what routers and ports refuse
//! while a floating IP depends on them; project isolation, admin-chosen
//! addresses and exhaustion. No pods are involved.

use std::net::Ipv4Addr;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    ADMIN, Gateway, MEMBER, OTHER, Reply, neutron_call as call, neutron_create as create,
    neutron_error as error_type, neutron_ids as ids, neutron_str as s,
};
use crate::gateway_tests;

/// An ID nothing has.
const UNKNOWN: &str = "4d3c6f8a-1b2e-4c5d-9e8f-0a1b2c3d4e5f";

async fn put(gw: &Gateway, token: &str, path: &str, body: Value) -> Reply {
    call(gw, token, Method::PUT, path, Some(body)).await
}

async fn post_fip(gw: &Gateway, token: &str, body: Value) -> Reply {
    call(gw, token, Method::POST, "/floatingips", Some(json!({ "floatingip": body }))).await
}

async fn fip(gw: &Gateway, token: &str, body: Value) -> Value {
    post_fip(gw, token, body).await.ok(201)["floatingip"].clone()
}

async fn put_fip(gw: &Gateway, token: &str, f: &Value, body: Value) -> Reply {
    put(gw, token, &format!("/floatingips/{}", s(&f["id"])), json!({ "floatingip": body })).await
}

async fn show_fip(gw: &Gateway, token: &str, f: &Value) -> Reply {
    call(gw, token, Method::GET, &format!("/floatingips/{}", s(&f["id"])), None).await
}

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
async fn external(gw: &Gateway, cidr: &str) -> (Value, Value) {
    net_with_subnet(gw, ADMIN, json!({"router:external": true}), cidr).await
}

/// A project's topology: a router with its gateway on `ext`, a network and
/// subnet on it as an interface, and a port there: (router, subnet, port).
async fn topology(gw: &Gateway, token: &str, ext: &Value, cidr: &str) -> (Value, Value, Value) {
    let r = create(
        gw,
        token,
        "router",
        "routers",
        json!({"name": "r", "external_gateway_info": {"network_id": ext["id"]}}),
    )
    .await;
    let (net, sub) = net_with_subnet(gw, token, json!({}), cidr).await;
    put(
        gw,
        token,
        &format!("/routers/{}/add_router_interface", s(&r["id"])),
        json!({"subnet_id": sub["id"]}),
    )
    .await
    .ok(200);
    let port = create(gw, token, "port", "ports", json!({"network_id": net["id"]})).await;
    (r, sub, port)
}

/// The ports holding a floating IP's address (admins only see them).
async fn address_ports(gw: &Gateway, token: &str, f: &Value) -> Vec<Value> {
    let r = call(gw, token, Method::GET, &format!("/ports?device_id={}", s(&f["id"])), None).await;
    r.ok(200)["ports"].as_array().cloned().unwrap_or_default()
}

#[track_caller]
fn in_cidr(ip: &Value, net: [u8; 3]) -> bool {
    let a: Ipv4Addr = s(ip).parse().unwrap_or_else(|_| panic!("not an IPv4 address: {ip}"));
    a.octets()[..3] == net
}

gateway_tests! {
    async fn create_associate_list_disassociate_delete(gw: &Gateway) {
        let (ext, ext_sub) = external(gw, "172.24.4.0/24").await;
        let (r, _sub, port) = topology(gw, MEMBER, &ext, "10.0.0.0/24").await;
        let f = fip(gw, MEMBER, json!({"floating_network_id": ext["id"]})).await;
        for (k, v) in [
            ("floating_network_id", ext["id"].clone()),
            ("router_id", Value::Null),
            ("port_id", Value::Null),
            ("fixed_ip_address", Value::Null),
            ("status", json!("DOWN")),
            ("project_id", json!("p1")),
            ("tenant_id", json!("p1")),
            ("description", json!("")),
            ("tags", json!([])),
            ("revision_number", json!(1)),
            ("port_details", Value::Null),
        ] {
            assert_eq!(f[k], v, "{k} of {f}");
        }
        for k in ["id", "created_at", "updated_at"] {
            assert!(f[k].is_string(), "{k} of {f}");
        }
        assert!(in_cidr(&f["floating_ip_address"], [172, 24, 4]), "{f}");
        assert!(f.get("dns_name").is_none() && !f.to_string().contains("tricircle:"), "{f}");
        // The address is held by a port of no project on the external network.
        let held = address_ports(gw, ADMIN, &f).await;
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0]["device_owner"], "network:floatingip");
        assert_eq!(held[0]["project_id"], "");
        assert_eq!(held[0]["network_id"], ext["id"]);
        assert_eq!(held[0]["fixed_ips"], json!([{"subnet_id": ext_sub["id"], "ip_address": f["floating_ip_address"]}]));
        // Other projects do not see it (the external network's owner, p1, does).
        assert!(address_ports(gw, OTHER, &f).await.is_empty());

        // Associate with the port: its only address, through the router.
        let fixed = port["fixed_ips"][0]["ip_address"].clone();
        let a = put_fip(gw, MEMBER, &f, json!({"port_id": port["id"]})).await;
        let a = &a.ok(200)["floatingip"];
        assert_eq!((a["port_id"].clone(), a["fixed_ip_address"].clone(), a["router_id"].clone()), (port["id"].clone(), fixed.clone(), r["id"].clone()));
        assert_eq!(a["status"], "ACTIVE");
        assert_eq!(a["revision_number"], 2);
        assert_eq!(a["floating_ip_address"], f["floating_ip_address"]);
        let d = &a["port_details"];
        assert_eq!((d["network_id"].clone(), d["mac_address"].clone(), d["device_owner"].clone()), (port["network_id"].clone(), port["mac_address"].clone(), json!("")));
        let id = s(&f["id"]);
        let shown = call(gw, MEMBER, Method::GET, &format!("/floatingips/{id}?fields=floating_ip_address&fields=status"), None).await;
        assert_eq!(shown.ok(200)["floatingip"], json!({"floating_ip_address": f["floating_ip_address"], "status": "ACTIVE"}));
        // An update without port_id keeps the association.
        let described = put_fip(gw, MEMBER, &f, json!({"description": "web"})).await;
        let described = &described.ok(200)["floatingip"];
        assert_eq!((described["description"].clone(), described["port_id"].clone()), (json!("web"), port["id"].clone()));

        // Lists: filters, fields, sort, paging.
        let spare = fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "description": "spare"})).await;
        assert_ne!(spare["floating_ip_address"], f["floating_ip_address"]);
        let sid = s(&spare["id"]);
        for (query, want) in [
            (format!("port_id={}", s(&port["id"])), vec![id.clone()]),
            ("status=DOWN".to_string(), vec![sid.clone()]),
            ("status=ACTIVE".to_string(), vec![id.clone()]),
            (format!("router_id={}", s(&r["id"])), vec![id.clone()]),
            (format!("floating_ip_address={}", s(&spare["floating_ip_address"])), vec![sid.clone()]),
            (format!("fixed_ip_address={}", s(&fixed)), vec![id.clone()]),
            (format!("floating_network_id={}", s(&ext["id"])), vec![id.clone(), sid.clone()]),
            ("description=spare".to_string(), vec![sid.clone()]),
            ("project_id=p1".to_string(), vec![id.clone(), sid.clone()]),
            ("project_id=p2".to_string(), vec![]),
            ("sort_key=description&sort_dir=asc".to_string(), vec![sid.clone(), id.clone()]),
        ] {
            let l = call(gw, MEMBER, Method::GET, &format!("/floatingips?{query}"), None).await;
            assert_eq!(ids(&l, "floatingips"), want, "{query}");
        }
        let page = call(gw, MEMBER, Method::GET, "/floatingips?limit=1", None).await;
        assert_eq!(ids(&page, "floatingips"), vec![id.clone()]);
        let next = s(&page.body["floatingips_links"][0]["href"]);
        assert!(next.contains(&format!("marker={id}")), "{next}");
        let rest = call(gw, MEMBER, Method::GET, &format!("/floatingips?limit=1&marker={id}"), None).await;
        assert_eq!(ids(&rest, "floatingips"), vec![sid.clone()]);
        let projected = call(gw, MEMBER, Method::GET, "/floatingips?fields=id&fields=router_id&status=ACTIVE", None).await;
        assert_eq!(projected.ok(200)["floatingips"], json!([{"id": id, "router_id": r["id"]}]));
        let bad = call(gw, MEMBER, Method::GET, "/floatingips?nope=1", None).await;
        error_type(&bad, 400, "HTTPBadRequest");

        // Disassociate.
        let off = put_fip(gw, MEMBER, &f, json!({"port_id": null})).await;
        let off = &off.ok(200)["floatingip"];
        for k in ["port_id", "fixed_ip_address", "router_id", "port_details"] {
            assert!(off[k].is_null(), "{k} of {off}");
        }
        assert_eq!(off["status"], "DOWN");
        assert_eq!(off["floating_ip_address"], f["floating_ip_address"], "the address stays");

        // Delete: the address goes back.
        let d = call(gw, MEMBER, Method::DELETE, &format!("/floatingips/{id}"), None).await;
        assert_eq!(d.status.as_u16(), 204, "{}", d.body);
        error_type(&show_fip(gw, MEMBER, &f).await, 404, "FloatingIPNotFound");
        assert!(address_ports(gw, ADMIN, &f).await.is_empty());
        let again = call(gw, MEMBER, Method::DELETE, &format!("/floatingips/{id}"), None).await;
        error_type(&again, 404, "FloatingIPNotFound");
        let chosen = fip(gw, ADMIN, json!({"floating_network_id": ext["id"], "floating_ip_address": f["floating_ip_address"]})).await;
        assert_eq!(chosen["floating_ip_address"], f["floating_ip_address"], "the freed address can be taken again");

        // The resource and extension lists name floating IPs.
        let res = call(gw, MEMBER, Method::GET, "", None).await;
        assert!(res.ok(200)["resources"].as_array().unwrap().iter().any(|r| r["collection"] == "floatingips" && r["name"] == "floatingip"), "{}", res.body);
        for alias in ["router", "fip-port-details"] {
            let e = call(gw, MEMBER, Method::GET, &format!("/extensions/{alias}"), None).await;
            assert_eq!(e.ok(200)["extension"]["alias"], alias);
        }
    }

    async fn refused_creates_and_associations(gw: &Gateway) {
        let (ext, _) = external(gw, "172.24.4.0/24").await;
        let (plain, _) = net_with_subnet(gw, MEMBER, json!({}), "10.9.0.0/24").await;
        let m = error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": plain["id"]})).await, 400, "BadRequest");
        assert!(m.contains(&s(&plain["id"])) && m.contains("external"), "{m}");
        error_type(&post_fip(gw, MEMBER, json!({})).await, 400, "HTTPBadRequest");
        error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": UNKNOWN})).await, 404, "NetworkNotFound");
        error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "bogus": 1})).await, 400, "HTTPBadRequest");
        error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": UNKNOWN})).await, 404, "PortNotFound");
        let (r, sub, port) = topology(gw, MEMBER, &ext, "10.0.0.0/24").await;
        let m = error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "fixed_ip_address": "10.0.0.5"})).await, 400, "BadRequest");
        assert!(m.contains("port_id"), "{m}");
        // A port whose subnet no router connects to the external network.
        let (lone_net, lone_sub) = net_with_subnet(gw, MEMBER, json!({}), "10.1.0.0/24").await;
        let lone = create(gw, MEMBER, "port", "ports", json!({"network_id": lone_net["id"]})).await;
        let m = error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": lone["id"]})).await, 404, "ExternalGatewayForFloatingIPNotFound");
        assert_eq!(m, format!("External network {} is not reachable from subnet {}.  Therefore, cannot associate Port {} with a Floating IP.", s(&ext["id"]), s(&lone_sub["id"]), s(&lone["id"])));
        // A router on that subnet without a gateway is no way out either.
        let nogw = create(gw, MEMBER, "router", "routers", json!({"name": "nogw"})).await;
        put(gw, MEMBER, &format!("/routers/{}/add_router_interface", s(&nogw["id"])), json!({"subnet_id": lone_sub["id"]})).await.ok(200);
        error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": lone["id"]})).await, 404, "ExternalGatewayForFloatingIPNotFound");
        // Nothing was left behind by the refusals.
        let listed = call(gw, MEMBER, Method::GET, "/floatingips", None).await;
        assert!(ids(&listed, "floatingips").is_empty(), "{}", listed.body);
        let on_ext = call(gw, ADMIN, Method::GET, &format!("/ports?network_id={}&device_owner=network:floatingip", s(&ext["id"])), None).await;
        assert!(ids(&on_ext, "ports").is_empty(), "{}", on_ext.body);

        // A port with two IPv4 addresses needs fixed_ip_address, one of its own.
        let two = create(gw, MEMBER, "port", "ports", json!({"network_id": port["network_id"], "fixed_ips": [{"subnet_id": sub["id"]}, {"subnet_id": sub["id"]}]})).await;
        let [a, b] = [0, 1].map(|i| two["fixed_ips"][i]["ip_address"].clone());
        let m = error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": two["id"]})).await, 400, "BadRequest");
        assert!(m.contains("multiple fixed IPv4 addresses"), "{m}");
        let m = error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": two["id"], "fixed_ip_address": "10.0.0.250"})).await, 400, "BadRequest");
        assert!(m.contains("10.0.0.250"), "{m}");
        error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": two["id"], "fixed_ip_address": "x"})).await, 400, "HTTPBadRequest");
        let fa = fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": two["id"], "fixed_ip_address": a})).await;
        assert_eq!((fa["fixed_ip_address"].clone(), fa["router_id"].clone(), fa["status"].clone()), (a.clone(), r["id"].clone(), json!("ACTIVE")));
        // One floating IP per fixed IP; the port's other address is free.
        let m = error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": two["id"], "fixed_ip_address": a})).await, 409, "FloatingIPPortAlreadyAssociated");
        assert!(m.contains(&s(&fa["id"])) && m.contains(&s(&fa["floating_ip_address"])), "{m}");
        let fb = fip(gw, MEMBER, json!({"floating_network_id": ext["id"]})).await;
        error_type(&put_fip(gw, MEMBER, &fb, json!({"port_id": two["id"], "fixed_ip_address": a})).await, 409, "FloatingIPPortAlreadyAssociated");
        let moved = put_fip(gw, MEMBER, &fb, json!({"port_id": two["id"], "fixed_ip_address": b})).await;
        assert_eq!(moved.ok(200)["floatingip"]["fixed_ip_address"], b);
        // Re-associating a floating IP with its own mapping is no conflict.
        let same = put_fip(gw, MEMBER, &fa, json!({"port_id": two["id"], "fixed_ip_address": a})).await;
        assert_eq!(same.ok(200)["floatingip"]["fixed_ip_address"], a);
        // Updates: read-only attributes, fixed_ip_address alone, unknown ports.
        for (k, v) in [("floating_ip_address", json!("172.24.4.99")), ("floating_network_id", ext["id"].clone()), ("router_id", r["id"].clone()), ("project_id", json!("p2"))] {
            let ro = put_fip(gw, MEMBER, &fb, json!({ k: v })).await;
            let m = error_type(&ro, 400, "HTTPBadRequest");
            assert!(m.contains(k), "{m}");
        }
        error_type(&put_fip(gw, MEMBER, &fb, json!({"fixed_ip_address": a})).await, 400, "BadRequest");
        error_type(&put_fip(gw, MEMBER, &fb, json!({"port_id": UNKNOWN})).await, 404, "PortNotFound");
        let unchanged = show_fip(gw, MEMBER, &fb).await;
        assert_eq!(unchanged.ok(200)["floatingip"]["fixed_ip_address"], b, "refused updates change nothing");
        error_type(&put(gw, MEMBER, &format!("/floatingips/{UNKNOWN}"), json!({"floatingip": {"port_id": null}})).await, 404, "FloatingIPNotFound");
    }

    async fn routers_and_ports_keep_what_floating_ips_need(gw: &Gateway) {
        let (ext, _) = external(gw, "172.24.4.0/24").await;
        let (r, sub, port) = topology(gw, MEMBER, &ext, "10.0.0.0/24").await;
        let rid = s(&r["id"]);
        let f = fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": port["id"]})).await;
        assert_eq!(f["router_id"], r["id"]);
        // The interface it goes through stays.
        let held = put(gw, MEMBER, &format!("/routers/{rid}/remove_router_interface"), json!({"subnet_id": sub["id"]})).await;
        let m = error_type(&held, 409, "RouterInterfaceInUseByFloatingIP");
        assert!(m.contains(&s(&sub["id"])) && m.contains(&rid), "{m}");
        // So does the gateway; SNAT may still change.
        let cleared = put(gw, MEMBER, &format!("/routers/{rid}"), json!({"router": {"external_gateway_info": null}})).await;
        let m = error_type(&cleared, 409, "RouterExternalGatewayInUseByFloatingIp");
        assert!(m.contains(&rid) && m.contains(&s(&ext["id"])), "{m}");
        let (other_ext, _) = external(gw, "172.24.8.0/24").await;
        let moved = put(gw, ADMIN, &format!("/routers/{rid}"), json!({"router": {"external_gateway_info": {"network_id": other_ext["id"]}}})).await;
        error_type(&moved, 409, "RouterExternalGatewayInUseByFloatingIp");
        let snat = put(gw, ADMIN, &format!("/routers/{rid}"), json!({"router": {"external_gateway_info": {"network_id": ext["id"], "enable_snat": false}}})).await;
        assert_eq!(snat.ok(200)["router"]["external_gateway_info"]["enable_snat"], false);
        let still = call(gw, MEMBER, Method::GET, &format!("/routers/{rid}"), None).await;
        assert_eq!(still.ok(200)["router"]["external_gateway_info"]["network_id"], ext["id"]);
        // The external network and the address's port stay too.
        error_type(&call(gw, ADMIN, Method::DELETE, &format!("/networks/{}", s(&ext["id"])), None).await, 409, "NetworkInUse");
        let held = address_ports(gw, ADMIN, &f).await;
        let m = error_type(&call(gw, ADMIN, Method::DELETE, &format!("/ports/{}", s(&held[0]["id"])), None).await, 409, "ServicePortInUse");
        assert!(m.contains("network:floatingip"), "{m}");
        // Deleting the associated port disassociates the floating IP.
        let d = call(gw, MEMBER, Method::DELETE, &format!("/ports/{}", s(&port["id"])), None).await;
        assert_eq!(d.status.as_u16(), 204, "{}", d.body);
        let after = show_fip(gw, MEMBER, &f).await;
        let after = &after.ok(200)["floatingip"];
        for k in ["port_id", "fixed_ip_address", "router_id", "port_details"] {
            assert!(after[k].is_null(), "{k} of {after}");
        }
        assert_eq!(after["status"], "DOWN");
        // Now the interface and the gateway may go; the network once the floating IP has.
        put(gw, MEMBER, &format!("/routers/{rid}/remove_router_interface"), json!({"subnet_id": sub["id"]})).await.ok(200);
        let cleared = put(gw, MEMBER, &format!("/routers/{rid}"), json!({"router": {"external_gateway_info": null}})).await;
        assert!(cleared.ok(200)["router"]["external_gateway_info"].is_null());
        error_type(&call(gw, ADMIN, Method::DELETE, &format!("/networks/{}", s(&ext["id"])), None).await, 409, "NetworkInUse");
        let d = call(gw, MEMBER, Method::DELETE, &format!("/floatingips/{}", s(&f["id"])), None).await;
        assert_eq!(d.status.as_u16(), 204, "{}", d.body);
        let gone = call(gw, ADMIN, Method::DELETE, &format!("/networks/{}", s(&ext["id"])), None).await;
        assert_eq!(gone.status.as_u16(), 204, "{}", gone.body);
    }

    async fn projects_are_isolated_admins_choose_addresses(gw: &Gateway) {
        let (ext, ext_sub) = external(gw, "172.24.4.0/24").await;
        let (_, _, port) = topology(gw, MEMBER, &ext, "10.0.0.0/24").await;
        let mine = fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "port_id": port["id"]})).await;
        let id = s(&mine["id"]);
        // OTHER: 404 on every call about p1's floating IP, and sees none.
        error_type(&show_fip(gw, OTHER, &mine).await, 404, "FloatingIPNotFound");
        error_type(&put_fip(gw, OTHER, &mine, json!({"port_id": null})).await, 404, "FloatingIPNotFound");
        error_type(&call(gw, OTHER, Method::DELETE, &format!("/floatingips/{id}"), None).await, 404, "FloatingIPNotFound");
        assert!(ids(&call(gw, OTHER, Method::GET, "/floatingips", None).await, "floatingips").is_empty());
        // Its own floating IP cannot reach p1's port, nor be made for p1.
        let theirs = fip(gw, OTHER, json!({"floating_network_id": ext["id"]})).await;
        assert_eq!(theirs["project_id"], "p2");
        error_type(&put_fip(gw, OTHER, &theirs, json!({"port_id": port["id"]})).await, 404, "PortNotFound");
        error_type(&post_fip(gw, OTHER, json!({"floating_network_id": ext["id"], "port_id": port["id"]})).await, 404, "PortNotFound");
        let forged = post_fip(gw, OTHER, json!({"floating_network_id": ext["id"], "project_id": "p1"})).await;
        assert_eq!(forged.status.as_u16(), 403, "{}", forged.body);
        // Only admins pick the address.
        error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"], "floating_ip_address": "172.24.4.77"})).await, 403, "PolicyNotAuthorized");
        let picked = fip(gw, ADMIN, json!({"floating_network_id": ext["id"], "floating_ip_address": "172.24.4.77", "project_id": "p1"})).await;
        assert_eq!((picked["floating_ip_address"].clone(), picked["project_id"].clone()), (json!("172.24.4.77"), json!("p1")));
        let by_subnet = fip(gw, ADMIN, json!({"floating_network_id": ext["id"], "subnet_id": ext_sub["id"]})).await;
        assert!(in_cidr(&by_subnet["floating_ip_address"], [172, 24, 4]), "{by_subnet}");
        error_type(&post_fip(gw, ADMIN, json!({"floating_network_id": ext["id"], "floating_ip_address": "172.24.4.77"})).await, 409, "IpAddressAlreadyAllocated");
        let outside = post_fip(gw, ADMIN, json!({"floating_network_id": ext["id"], "floating_ip_address": "192.0.2.1"})).await;
        assert_eq!(outside.status.as_u16(), 400, "{}", outside.body);
        error_type(&post_fip(gw, ADMIN, json!({"floating_network_id": ext["id"], "floating_ip_address": "nope"})).await, 400, "HTTPBadRequest");
        // p1 sees its own (also those the admin, a member of p1, made), p2 its own, the admin all.
        let p1 = call(gw, MEMBER, Method::GET, "/floatingips", None).await;
        assert_eq!(ids(&p1, "floatingips"), vec![id.clone(), s(&picked["id"]), s(&by_subnet["id"])]);
        let p2 = call(gw, OTHER, Method::GET, "/floatingips", None).await;
        assert_eq!(ids(&p2, "floatingips"), vec![s(&theirs["id"])]);
        let all = call(gw, ADMIN, Method::GET, "/floatingips", None).await;
        assert_eq!(ids(&all, "floatingips").len(), 4, "{}", all.body);
        // The admin may disassociate p1's floating IP.
        let off = put_fip(gw, ADMIN, &mine, json!({"port_id": null})).await;
        assert_eq!(off.ok(200)["floatingip"]["status"], "DOWN");
    }

    async fn an_exhausted_external_subnet_is_a_conflict(gw: &Gateway) {
        let (ext, ext_sub) = external(gw, "172.24.6.0/29").await;
        let room: u32 = ext_sub["allocation_pools"].as_array().unwrap().iter().map(|p| {
            let [a, b] = ["start", "end"].map(|k| u32::from(s(&p[k]).parse::<Ipv4Addr>().unwrap()));
            b - a + 1
        }).sum();
        assert!(room >= 2, "{ext_sub}");
        let mut made = Vec::new();
        for _ in 0..room {
            made.push(fip(gw, MEMBER, json!({"floating_network_id": ext["id"]})).await);
        }
        let mut addresses: Vec<String> = made.iter().map(|f| s(&f["floating_ip_address"])).collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), room as usize, "every address once: {addresses:?}");
        let full = post_fip(gw, MEMBER, json!({"floating_network_id": ext["id"]})).await;
        let m = error_type(&full, 409, "IpAddressGenerationFailure");
        assert!(m.contains(&s(&ext["id"])), "{m}");
        // Giving one back makes room for one.
        let d = call(gw, MEMBER, Method::DELETE, &format!("/floatingips/{}", s(&made[0]["id"])), None).await;
        assert_eq!(d.status.as_u16(), 204, "{}", d.body);
        let again = fip(gw, MEMBER, json!({"floating_network_id": ext["id"]})).await;
        assert_eq!(again["floating_ip_address"], made[0]["floating_ip_address"]);
        // An external network without a subnet has no address to give.
        let bare = create(gw, ADMIN, "network", "networks", json!({"name": "bare", "router:external": true})).await;
        let m = error_type(&post_fip(gw, MEMBER, json!({"floating_network_id": bare["id"]})).await, 400, "BadRequest");
        assert!(m.contains("IPv4 subnet"), "{m}");
    }
}
