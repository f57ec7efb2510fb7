//! The top Neutron at `/networking/v2.0` over HTTP, written from the real
//! Neutron API's behaviour: version and extension documents; networks,
//! subnets and ports with their default attributes; Neutron's error bodies
//! (`{"NeutronError": {"type", "message", "detail"}}`); filters, `fields`,
//! sorting and marker paging; policy (admin-only attributes); project
//! isolation; central IPAM (addresses, MACs, segmentation IDs), including
//! under concurrent port creation. No pods are involved.

use std::collections::HashSet;
use std::net::IpAddr;

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{ADMIN, Gateway, MEMBER, OTHER, Reply, neutron_str as s};
use crate::gateway_tests;

/// An ID nothing has.
const UNKNOWN: &str = "4d3c6f8a-1b2e-4c5d-9e8f-0a1b2c3d4e5f";

const PROVIDER: [&str; 3] =
    ["provider:network_type", "provider:physical_network", "provider:segmentation_id"];

impl Gateway {
    /// A request to the top Neutron: `path` is relative to `/networking/v2.0`.
    async fn neutron(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let path = format!("/networking/v2.0{path}");
        self.raw(method, &path, Some(token), body.map(|b| b.to_string())).await
    }
}

/// Assert the status and Neutron's error body; returns (type, message).
#[track_caller]
fn neutron_error(r: &Reply, status: u16) -> (String, String) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    let top = r.body.as_object().unwrap_or_else(|| panic!("error body not an object: {}", r.body));
    assert_eq!(top.len(), 1, "only NeutronError at the top: {}", r.body);
    let e = &r.body["NeutronError"];
    assert!(e.is_object(), "not a NeutronError body: {}", r.body);
    let ty = e["type"].as_str().unwrap_or_else(|| panic!("no type: {}", r.body)).to_string();
    let message =
        e["message"].as_str().unwrap_or_else(|| panic!("no message: {}", r.body)).to_string();
    assert_eq!(e["detail"], "", "detail is an empty string: {}", r.body);
    assert!(!ty.is_empty() && !message.is_empty(), "{}", r.body);
    for leak in ["sqlx", "panicked", "src/", "::"] {
        assert!(!message.contains(leak), "internal detail in message: {message}");
    }
    (ty, message)
}

/// Assert a Neutron error of this status and type; returns the message.
#[track_caller]
fn neutron_error_type(r: &Reply, status: u16, ty: &str) -> String {
    let (got, message) = neutron_error(r, status);
    assert_eq!(got, ty, "error type; message: {message}");
    message
}

#[track_caller]
fn items<'a>(r: &'a Reply, collection: &str) -> &'a Vec<Value> {
    r.ok(200)[collection].as_array().unwrap_or_else(|| panic!("no {collection} array: {}", r.body))
}

#[track_caller]
fn ids(r: &Reply, collection: &str) -> Vec<String> {
    items(r, collection).iter().map(|x| s(&x["id"])).collect()
}

#[track_caller]
fn names(r: &Reply, collection: &str) -> Vec<String> {
    items(r, collection).iter().map(|x| s(&x["name"])).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[track_caller]
fn assert_uuid(v: &Value) {
    let id = s(v);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "not a UUID: {id}");
}

#[track_caller]
fn assert_keys(v: &Value, keys: &[&str]) {
    for k in keys {
        assert!(v.get(k).is_some(), "missing {k:?} in {v}");
    }
}

/// `created_at` and `updated_at` as Neutron writes them: whole seconds, UTC,
/// `2016-03-08T20:19:41Z`.
#[track_caller]
fn assert_timestamps(v: &Value) {
    for key in ["created_at", "updated_at"] {
        let t = s(&v[key]);
        assert!(t.ends_with('Z'), "{key} {t} ends with Z");
        chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%SZ")
            .unwrap_or_else(|e| panic!("{key} {t:?} is not %Y-%m-%dT%H:%M:%SZ: {e}"));
    }
    assert!(s(&v["updated_at"]) >= s(&v["created_at"]), "{v}");
}

#[track_caller]
fn revision(v: &Value) -> i64 {
    v["revision_number"].as_i64().unwrap_or_else(|| panic!("revision_number not an integer: {v}"))
}

#[track_caller]
fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or_else(|_| panic!("not an IP address: {text:?}"))
}

#[track_caller]
fn within(addr: &str, first: &str, last: &str) -> bool {
    let a = ip(addr);
    ip(first) <= a && a <= ip(last)
}

/// The one fixed IP of a port.
#[track_caller]
fn port_ip(p: &Value) -> String {
    let fixed = p["fixed_ips"].as_array().unwrap_or_else(|| panic!("fixed_ips: {p}"));
    assert_eq!(fixed.len(), 1, "one fixed IP: {p}");
    s(&fixed[0]["ip_address"])
}

/// Neutron's generated MACs: `fa:16:3e:xx:xx:xx`, lower-case hex.
#[track_caller]
fn assert_mac(mac: &str) {
    let parts: Vec<&str> = mac.split(':').collect();
    assert_eq!(parts.len(), 6, "{mac}");
    assert_eq!(&parts[..3], ["fa", "16", "3e"], "{mac}");
    for p in parts {
        assert!(
            p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{mac}"
        );
    }
}

async fn create_network(gw: &Gateway, token: &str, body: Value) -> Value {
    let r = gw.neutron(token, Method::POST, "/networks", Some(json!({ "network": body }))).await;
    r.ok(201)["network"].clone()
}

async fn net(gw: &Gateway, token: &str, name: &str) -> String {
    s(&create_network(gw, token, json!({ "name": name })).await["id"])
}

async fn create_subnet(gw: &Gateway, token: &str, body: Value) -> Reply {
    gw.neutron(token, Method::POST, "/subnets", Some(json!({ "subnet": body }))).await
}

/// A subnet with Neutron's defaults; returns its view.
async fn subnet(gw: &Gateway, token: &str, network_id: &str, cidr: &str) -> Value {
    let version = if cidr.contains(':') { 6 } else { 4 };
    let body = json!({"network_id": network_id, "cidr": cidr, "ip_version": version});
    create_subnet(gw, token, body).await.ok(201)["subnet"].clone()
}

async fn create_port(gw: &Gateway, token: &str, body: Value) -> Reply {
    gw.neutron(token, Method::POST, "/ports", Some(json!({ "port": body }))).await
}

async fn port(gw: &Gateway, token: &str, body: Value) -> Value {
    create_port(gw, token, body).await.ok(201)["port"].clone()
}

/// GET a `rel: next` href as given (absolute, as Neutron writes them).
async fn follow(gw: &Gateway, token: &str, href: &str) -> Reply {
    let url =
        if href.starts_with("http") { href.to_string() } else { format!("{}{href}", gw.base) };
    gw.raw(Method::GET, &url, Some(token), None).await
}

/// Page through `/networks` from `first` (a path with `limit=2`) by the
/// `next` links; returns every item seen, in order.
async fn page_through(gw: &Gateway, token: &str, first: &str) -> Vec<Value> {
    let mut r = gw.neutron(token, Method::GET, first, None).await;
    let mut seen = Vec::new();
    for _ in 0..20 {
        let page = items(&r, "networks").clone();
        assert!(page.len() <= 2, "limit=2 honoured: {}", r.body);
        if page.is_empty() {
            return seen;
        }
        let last = s(&page[page.len() - 1]["id"]);
        seen.extend(page);
        let next = r.body["networks_links"]
            .as_array()
            .and_then(|links| links.iter().find(|l| l["rel"] == "next"))
            .map(|l| s(&l["href"]));
        let Some(next) = next else { return seen };
        assert!(
            next.contains(&format!("marker={last}")),
            "next link marks the last item {last}: {next}"
        );
        assert!(next.starts_with(&gw.base), "absolute next link: {next}");
        r = follow(gw, token, &next).await;
    }
    panic!("paging did not end: {seen:?}");
}

gateway_tests! {
    async fn version_and_extension_documents(gw: &Gateway) {
        // The version list is public, as Neutron's `/` is.
        let v = gw.raw(Method::GET, "/networking", None, None).await;
        let versions = v.ok(200)["versions"].as_array().unwrap_or_else(|| panic!("{}", v.body)).clone();
        let current = versions.iter().find(|e| e["id"] == "v2.0").unwrap_or_else(|| panic!("no v2.0: {}", v.body));
        assert_eq!(current["status"], "CURRENT", "{current}");
        let links = current["links"].as_array().unwrap_or_else(|| panic!("links: {current}"));
        let own = links.iter().find(|l| l["rel"] == "self").unwrap_or_else(|| panic!("no self link: {current}"));
        assert_eq!(s(&own["href"]).trim_end_matches('/'), format!("{}/networking/v2.0", gw.base));

        let r = gw.raw(Method::GET, "/networking/v2.0", Some(MEMBER), None).await;
        let resources = r.ok(200)["resources"].as_array().unwrap_or_else(|| panic!("{}", r.body)).clone();
        for (name, collection) in [("network", "networks"), ("subnet", "subnets"), ("port", "ports")] {
            let res = resources.iter().find(|x| x["collection"] == collection).unwrap_or_else(|| panic!("no {collection}: {}", r.body));
            assert_eq!(res["name"], name, "{res}");
            let links = res["links"].as_array().unwrap_or_else(|| panic!("links: {res}"));
            let own = links.iter().find(|l| l["rel"] == "self").unwrap_or_else(|| panic!("no self link: {res}"));
            assert!(s(&own["href"]).ends_with(&format!("/networking/v2.0/{collection}")), "{res}");
        }

        let r = gw.neutron(MEMBER, Method::GET, "/extensions", None).await;
        let exts = items(&r, "extensions").clone();
        for e in &exts {
            assert_keys(e, &["alias", "name", "description", "updated", "links"]);
            assert!(e["links"].is_array(), "{e}");
        }
        let aliases: HashSet<String> = exts.iter().map(|e| s(&e["alias"])).collect();
        for alias in ["provider", "external-net", "binding", "standard-attr-description", "allowed-address-pairs", "port-security", "availability_zone"] {
            assert!(aliases.contains(alias), "extension {alias} missing from {aliases:?}");
        }
        let one = gw.neutron(MEMBER, Method::GET, "/extensions/provider", None).await;
        assert_eq!(one.ok(200)["extension"]["alias"], "provider", "{}", one.body);
        let none = gw.neutron(MEMBER, Method::GET, "/extensions/no-such-extension", None).await;
        neutron_error(&none, 404);
    }

    async fn network_create_show_update_delete(gw: &Gateway) {
        let r = gw.neutron(MEMBER, Method::POST, "/networks", Some(json!({"network": {"name": "n1"}}))).await;
        let n = r.ok(201)["network"].clone();
        let ct = r.headers.get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(ct.starts_with("application/json"), "content-type {ct}");
        assert_uuid(&n["id"]);
        assert_eq!(n["name"], "n1");
        assert_eq!(n["admin_state_up"], true);
        assert_eq!(n["status"], "ACTIVE");
        assert_eq!(n["subnets"], json!([]));
        assert_eq!(n["shared"], false);
        assert_eq!(n["router:external"], false);
        assert_eq!(n["mtu"], 1450, "vxlan MTU: {n}");
        assert_eq!(n["availability_zone_hints"], json!([]));
        assert!(n["availability_zones"].is_array(), "{n}");
        assert_eq!(n["port_security_enabled"], true);
        assert_eq!((n["project_id"].as_str(), n["tenant_id"].as_str()), (Some("p1"), Some("p1")));
        assert_eq!(n["description"], "");
        assert_eq!(n["tags"], json!([]));
        assert_timestamps(&n);
        let rev = revision(&n);
        for k in PROVIDER {
            assert!(n.get(k).is_none(), "a member does not see {k}: {n}");
        }
        let id = s(&n["id"]);
        let shown = gw.neutron(MEMBER, Method::GET, &format!("/networks/{id}"), None).await;
        // Neutron's create answer carries `is_default` even for a network
        // that is not external; show does not (the sim pod's fidelity run).
        let mut created = n.clone();
        created.as_object_mut().unwrap().remove("is_default");
        assert_eq!(shown.ok(200)["network"], created, "show returns what create returned");

        let r = gw.neutron(MEMBER, Method::PUT, &format!("/networks/{id}"), Some(json!({"network": {"name": "n2"}}))).await;
        let updated = r.ok(200)["network"].clone();
        assert_eq!(updated["name"], "n2");
        assert_eq!(updated["id"], n["id"]);
        assert!(revision(&updated) > rev, "revision_number increased: {rev} then {updated}");
        assert_timestamps(&updated);
        let shown = gw.neutron(MEMBER, Method::GET, &format!("/networks/{id}"), None).await;
        assert_eq!(shown.ok(200)["network"]["name"], "n2");

        // Bad bodies: 400, nothing created or changed.
        for bad in ["not json", "{\"net\": {\"name\": \"x\"}}", "{\"network\": \"x\"}", "{\"network\": {\"name\": \"x\", \"bogus\": 1}}", "{\"network\": {\"name\": \"x\", \"admin_state_up\": \"maybe\"}}"] {
            let r = gw.raw(Method::POST, "/networking/v2.0/networks", Some(MEMBER), Some(bad.to_string())).await;
            neutron_error(&r, 400);
        }
        let r = gw.raw(Method::PUT, &format!("/networking/v2.0/networks/{id}"), Some(MEMBER), Some("not json".to_string())).await;
        neutron_error(&r, 400);
        let listed = gw.neutron(MEMBER, Method::GET, "/networks", None).await;
        assert_eq!(names(&listed, "networks"), ["n2"]);

        // Unknown networks.
        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{UNKNOWN}"), None).await;
        let msg = neutron_error_type(&r, 404, "NetworkNotFound");
        assert_eq!(msg, format!("Network {UNKNOWN} could not be found."));
        let r = gw.neutron(MEMBER, Method::PUT, &format!("/networks/{UNKNOWN}"), Some(json!({"network": {"name": "x"}}))).await;
        neutron_error_type(&r, 404, "NetworkNotFound");

        // No token, no network.
        let r = gw.raw(Method::GET, "/networking/v2.0/networks", None, None).await;
        assert_eq!(r.status.as_u16(), 401, "{}", r.body);

        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/networks/{id}"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        assert!(r.body.is_null(), "no body on 204: {}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{id}"), None).await;
        let msg = neutron_error_type(&r, 404, "NetworkNotFound");
        assert_eq!(msg, format!("Network {id} could not be found."));
        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/networks/{id}"), None).await;
        neutron_error_type(&r, 404, "NetworkNotFound");
    }

    async fn provider_attributes_are_admin_only_and_allocated_centrally(gw: &Gateway) {
        let a = create_network(gw, ADMIN, json!({"name": "a"})).await;
        let b = create_network(gw, ADMIN, json!({"name": "b"})).await;
        for x in [&a, &b] {
            assert_eq!(x["provider:network_type"], "vxlan", "{x}");
            assert_eq!(x.get("provider:physical_network"), Some(&Value::Null), "{x}");
            assert!(x["provider:segmentation_id"].as_u64().is_some_and(|v| v > 0), "{x}");
            assert_eq!(x["mtu"], 1450, "{x}");
        }
        let (sa, sb) = (a["provider:segmentation_id"].as_u64().unwrap(), b["provider:segmentation_id"].as_u64().unwrap());
        assert_ne!(sa, sb, "two networks, two VNIs");
        let shown = gw.neutron(ADMIN, Method::GET, &format!("/networks/{}", s(&a["id"])), None).await;
        assert_eq!(shown.ok(200)["network"]["provider:segmentation_id"], sa);

        // A member of the same project sees the networks, not the provider keys.
        let shown = gw.neutron(MEMBER, Method::GET, &format!("/networks/{}", s(&a["id"])), None).await;
        let seen = shown.ok(200)["network"].clone();
        for k in PROVIDER {
            assert!(seen.get(k).is_none(), "member sees {k}: {seen}");
        }
        let listed = gw.neutron(MEMBER, Method::GET, "/networks", None).await;
        assert_eq!(items(&listed, "networks").len(), 2);
        for x in items(&listed, "networks") {
            for k in PROVIDER {
                assert!(x.get(k).is_none(), "member lists {k}: {x}");
            }
        }

        // An admin may ask for a free VNI, not for one in use.
        let free = (4242u64..).find(|v| *v != sa && *v != sb).unwrap();
        let c = create_network(gw, ADMIN, json!({"name": "c", "provider:network_type": "vxlan", "provider:segmentation_id": free})).await;
        assert_eq!((c["provider:network_type"].as_str(), c["provider:segmentation_id"].as_u64()), (Some("vxlan"), Some(free)), "{c}");
        for taken in [sa, free] {
            let body = json!({"network": {"name": "dup", "provider:network_type": "vxlan", "provider:segmentation_id": taken}});
            let r = gw.neutron(ADMIN, Method::POST, "/networks", Some(body)).await;
            neutron_error_type(&r, 409, "TunnelIdInUse");
        }

        // A member may not set admin-only attributes (but may state their defaults).
        for extra in [json!({"shared": true}), json!({"router:external": true}), json!({"provider:network_type": "vxlan"}), json!({"provider:segmentation_id": 77}), json!({"provider:physical_network": "physnet1"})] {
            let mut body = json!({"name": "refused"});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let r = gw.neutron(MEMBER, Method::POST, "/networks", Some(json!({"network": body}))).await;
            neutron_error_type(&r, 403, "PolicyNotAuthorized");
        }
        let plain = create_network(gw, MEMBER, json!({"name": "plain", "shared": false, "router:external": false})).await;
        assert_eq!((plain["shared"].clone(), plain["router:external"].clone()), (json!(false), json!(false)));
        let r = gw.neutron(MEMBER, Method::PUT, &format!("/networks/{}", s(&plain["id"])), Some(json!({"network": {"shared": true}}))).await;
        neutron_error_type(&r, 403, "PolicyNotAuthorized");

        let all = gw.neutron(ADMIN, Method::GET, "/networks", None).await;
        assert_eq!(sorted(names(&all, "networks")), ["a", "b", "c", "plain"], "refused requests created nothing");
        let segs: Vec<_> = items(&all, "networks").iter().map(|x| x["provider:segmentation_id"].clone()).collect();
        let distinct: HashSet<String> = segs.iter().map(|v| v.to_string()).collect();
        assert_eq!(distinct.len(), 4, "every network its own VNI: {segs:?}");
    }

    async fn network_list_filters_fields_and_sorting(gw: &Gateway) {
        for name in ["b", "a", "c"] {
            net(gw, MEMBER, name).await;
        }
        let all = gw.neutron(MEMBER, Method::GET, "/networks", None).await;
        assert_eq!(sorted(names(&all, "networks")), ["a", "b", "c"]);
        assert!(all.body.get("networks_links").is_none(), "no links without a limit: {}", all.body);

        let r = gw.neutron(MEMBER, Method::GET, "/networks?name=a", None).await;
        assert_eq!(names(&r, "networks"), ["a"]);
        let r = gw.neutron(MEMBER, Method::GET, "/networks?name=a&name=c", None).await;
        assert_eq!(sorted(names(&r, "networks")), ["a", "c"]);
        let r = gw.neutron(MEMBER, Method::GET, "/networks?name=zzz", None).await;
        assert!(items(&r, "networks").is_empty(), "{}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, "/networks?shared=false", None).await;
        assert_eq!(items(&r, "networks").len(), 3, "{}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, "/networks?shared=true", None).await;
        assert!(items(&r, "networks").is_empty(), "{}", r.body);

        let r = gw.neutron(MEMBER, Method::GET, "/networks?fields=id&fields=name", None).await;
        assert_eq!(items(&r, "networks").len(), 3);
        for x in items(&r, "networks") {
            let keys = sorted(x.as_object().unwrap().keys().cloned().collect());
            assert_eq!(keys, ["id", "name"], "{x}");
        }
        let id = &ids(&all, "networks")[0];
        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{id}?fields=name"), None).await;
        let keys: Vec<String> = r.ok(200)["network"].as_object().unwrap_or_else(|| panic!("{}", r.body)).keys().cloned().collect();
        assert_eq!(keys, ["name"], "{}", r.body);

        let r = gw.neutron(MEMBER, Method::GET, "/networks?sort_key=name&sort_dir=asc", None).await;
        assert_eq!(names(&r, "networks"), ["a", "b", "c"]);
        let r = gw.neutron(MEMBER, Method::GET, "/networks?sort_key=name&sort_dir=desc", None).await;
        assert_eq!(names(&r, "networks"), ["c", "b", "a"]);
    }

    async fn network_list_pages_by_next_links(gw: &Gateway) {
        let mut created = HashSet::new();
        for name in ["n3", "n0", "n4", "n1", "n2"] {
            created.insert(net(gw, MEMBER, name).await);
        }
        let first = gw.neutron(MEMBER, Method::GET, "/networks?limit=2", None).await;
        let page = items(&first, "networks").clone();
        assert_eq!(page.len(), 2, "{}", first.body);
        let links = first.body["networks_links"].as_array().unwrap_or_else(|| panic!("networks_links: {}", first.body));
        let next = links.iter().find(|l| l["rel"] == "next").unwrap_or_else(|| panic!("no next link: {}", first.body));
        assert!(s(&next["href"]).contains(&format!("marker={}", s(&page[1]["id"]))), "{next}");

        let seen = page_through(gw, MEMBER, "/networks?limit=2").await;
        let seen_ids: Vec<String> = seen.iter().map(|x| s(&x["id"])).collect();
        let unique: HashSet<String> = seen_ids.iter().cloned().collect();
        assert_eq!(unique.len(), seen_ids.len(), "no duplicates: {seen_ids:?}");
        assert_eq!(unique, created, "no gaps");

        let seen = page_through(gw, MEMBER, "/networks?limit=2&sort_key=name&sort_dir=asc").await;
        let got: Vec<String> = seen.iter().map(|x| s(&x["name"])).collect();
        assert_eq!(got, ["n0", "n1", "n2", "n3", "n4"]);
        let seen = page_through(gw, MEMBER, "/networks?limit=2&sort_key=name&sort_dir=desc").await;
        let got: Vec<String> = seen.iter().map(|x| s(&x["name"])).collect();
        assert_eq!(got, ["n4", "n3", "n2", "n1", "n0"]);
    }

    async fn networks_are_isolated_by_project(gw: &Gateway) {
        let mine = net(gw, MEMBER, "mine").await;
        let theirs = net(gw, OTHER, "theirs").await;
        let shared = create_network(gw, ADMIN, json!({"name": "shared", "shared": true})).await;
        assert_eq!(shared["shared"], true);
        let shared = s(&shared["id"]);

        let r = gw.neutron(OTHER, Method::GET, "/networks", None).await;
        assert_eq!(sorted(ids(&r, "networks")), sorted(vec![theirs.clone(), shared.clone()]), "{}", r.body);
        let r = gw.neutron(OTHER, Method::GET, &format!("/networks/{shared}"), None).await;
        assert_eq!(r.ok(200)["network"]["shared"], true);
        let r = gw.neutron(OTHER, Method::GET, &format!("/networks/{mine}"), None).await;
        let msg = neutron_error_type(&r, 404, "NetworkNotFound");
        assert_eq!(msg, format!("Network {mine} could not be found."));
        let r = gw.neutron(OTHER, Method::PUT, &format!("/networks/{mine}"), Some(json!({"network": {"name": "stolen"}}))).await;
        neutron_error_type(&r, 404, "NetworkNotFound");
        let r = gw.neutron(OTHER, Method::DELETE, &format!("/networks/{mine}"), None).await;
        neutron_error_type(&r, 404, "NetworkNotFound");
        let r = gw.neutron(OTHER, Method::GET, &format!("/networks?id={mine}"), None).await;
        assert!(items(&r, "networks").is_empty(), "{}", r.body);

        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{mine}"), None).await;
        assert_eq!(r.ok(200)["network"]["name"], "mine", "untouched");
        let r = gw.neutron(MEMBER, Method::GET, "/networks", None).await;
        assert_eq!(sorted(ids(&r, "networks")), sorted(vec![mine.clone(), shared.clone()]));
        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{theirs}"), None).await;
        neutron_error_type(&r, 404, "NetworkNotFound");

        let r = gw.neutron(ADMIN, Method::GET, "/networks", None).await;
        assert_eq!(sorted(ids(&r, "networks")), sorted(vec![mine, theirs.clone(), shared]));
        let r = gw.neutron(ADMIN, Method::GET, &format!("/networks/{theirs}"), None).await;
        assert_eq!(r.ok(200)["network"]["project_id"], "p2");
    }

    async fn subnet_defaults_and_the_network_view(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let body = json!({"subnet": {"network_id": n, "cidr": "10.0.0.0/24", "ip_version": 4}});
        let r = gw.neutron(MEMBER, Method::POST, "/subnets", Some(body)).await;
        let sn = r.ok(201)["subnet"].clone();
        assert_uuid(&sn["id"]);
        assert_eq!(sn["network_id"], n.as_str());
        assert_eq!(sn["cidr"], "10.0.0.0/24");
        assert_eq!(sn["ip_version"], 4);
        assert_eq!(sn["gateway_ip"], "10.0.0.1");
        assert_eq!(sn["allocation_pools"], json!([{"start": "10.0.0.2", "end": "10.0.0.254"}]));
        assert_eq!(sn["dns_nameservers"], json!([]));
        assert_eq!(sn["host_routes"], json!([]));
        assert_eq!(sn["enable_dhcp"], true);
        assert_eq!((sn["name"].as_str(), sn["description"].as_str()), (Some(""), Some("")));
        assert_eq!((sn["project_id"].as_str(), sn["tenant_id"].as_str()), (Some("p1"), Some("p1")));
        for k in ["subnetpool_id", "ipv6_ra_mode", "ipv6_address_mode"] {
            assert_eq!(sn.get(k), Some(&Value::Null), "{k} null: {sn}");
        }
        assert_eq!(sn["tags"], json!([]));
        assert_timestamps(&sn);
        let rev = revision(&sn);
        let id = s(&sn["id"]);

        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{n}"), None).await;
        assert_eq!(r.ok(200)["network"]["subnets"], json!([id]));
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets/{id}"), None).await;
        assert_eq!(r.ok(200)["subnet"], sn, "show returns what create returned");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets?network_id={n}"), None).await;
        assert_eq!(ids(&r, "subnets"), std::slice::from_ref(&id));
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets?network_id={UNKNOWN}"), None).await;
        assert!(items(&r, "subnets").is_empty(), "{}", r.body);

        let r = gw.neutron(MEMBER, Method::PUT, &format!("/subnets/{id}"), Some(json!({"subnet": {"name": "s1"}}))).await;
        let updated = r.ok(200)["subnet"].clone();
        assert_eq!(updated["name"], "s1");
        assert_eq!(updated["cidr"], "10.0.0.0/24");
        assert!(revision(&updated) > rev, "revision_number increased: {rev} then {updated}");

        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/subnets/{id}"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets/{id}"), None).await;
        let msg = neutron_error_type(&r, 404, "SubnetNotFound");
        assert_eq!(msg, format!("Subnet {id} could not be found."));
        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{n}"), None).await;
        assert_eq!(r.ok(200)["network"]["subnets"], json!([]));
    }

    async fn subnet_gateway_pools_and_ipv6(gw: &Gateway) {
        // Explicit gateway and pools are kept; ports get addresses from the pool.
        let n = net(gw, MEMBER, "explicit").await;
        let body = json!({"network_id": n, "cidr": "10.3.0.0/24", "ip_version": 4, "gateway_ip": "10.3.0.254",
            "allocation_pools": [{"start": "10.3.0.10", "end": "10.3.0.20"}]});
        let sn = create_subnet(gw, MEMBER, body).await.ok(201)["subnet"].clone();
        assert_eq!(sn["gateway_ip"], "10.3.0.254");
        assert_eq!(sn["allocation_pools"], json!([{"start": "10.3.0.10", "end": "10.3.0.20"}]));
        let p = port(gw, MEMBER, json!({"network_id": n})).await;
        assert!(within(&port_ip(&p), "10.3.0.10", "10.3.0.20"), "{p}");
        assert_eq!(p["fixed_ips"][0]["subnet_id"], sn["id"]);

        // No gateway: the pool covers every host address.
        let n = net(gw, MEMBER, "gatewayless").await;
        let body = json!({"network_id": n, "cidr": "10.4.0.0/24", "ip_version": 4, "gateway_ip": null});
        let sn = create_subnet(gw, MEMBER, body).await.ok(201)["subnet"].clone();
        assert_eq!(sn.get("gateway_ip"), Some(&Value::Null), "{sn}");
        assert_eq!(sn["allocation_pools"], json!([{"start": "10.4.0.1", "end": "10.4.0.254"}]));
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets/{}", s(&sn["id"])), None).await;
        assert_eq!(r.ok(200)["subnet"].get("gateway_ip"), Some(&Value::Null));

        // IPv6.
        let n = net(gw, MEMBER, "v6").await;
        let sn = subnet(gw, MEMBER, &n, "fd00::/64").await;
        assert_eq!(sn["ip_version"], 6);
        assert_eq!(sn["cidr"], "fd00::/64");
        assert_eq!(sn["gateway_ip"], "fd00::1");
        assert_eq!(sn["allocation_pools"], json!([{"start": "fd00::2", "end": "fd00::ffff:ffff:ffff:ffff"}]));
        assert_eq!((sn.get("ipv6_ra_mode"), sn.get("ipv6_address_mode")), (Some(&Value::Null), Some(&Value::Null)));
        let p = port(gw, MEMBER, json!({"network_id": n})).await;
        let addr = port_ip(&p);
        assert!(within(&addr, "fd00::2", "fd00::ffff:ffff:ffff:ffff"), "{p}");
        assert!(ip(&addr).is_ipv6(), "{p}");
    }

    async fn subnet_errors(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let mut bad = Vec::new();
        for cidr in ["10.0.0.0/33", "nonsense"] {
            bad.push(json!({"network_id": n, "cidr": cidr, "ip_version": 4}));
        }
        // The network or broadcast address cannot be the gateway.
        for gateway in ["10.0.0.0", "10.0.0.255"] {
            bad.push(json!({"network_id": n, "cidr": "10.0.0.0/24", "ip_version": 4, "gateway_ip": gateway}));
        }
        bad.push(json!({"network_id": n, "cidr": "10.0.0.0/24", "ip_version": 6}));
        bad.push(json!({"network_id": n, "ip_version": 4}));
        bad.push(json!({"network_id": n, "cidr": "10.0.0.0/24", "ip_version": 4, "allocation_pools": [{"start": "10.0.1.2", "end": "10.0.1.9"}]}));
        for body in bad {
            let r = create_subnet(gw, MEMBER, body.clone()).await;
            let (ty, msg) = neutron_error(&r, 400);
            eprintln!("{body} -> {ty}: {msg}");
        }
        let r = gw.raw(Method::POST, "/networking/v2.0/subnets", Some(MEMBER), Some("{\"subnet\": ".to_string())).await;
        neutron_error(&r, 400);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets?network_id={n}"), None).await;
        assert!(items(&r, "subnets").is_empty(), "refused subnets were not created: {}", r.body);

        let r = create_subnet(gw, MEMBER, json!({"network_id": UNKNOWN, "cidr": "10.0.0.0/24", "ip_version": 4})).await;
        let msg = neutron_error_type(&r, 404, "NetworkNotFound");
        assert_eq!(msg, format!("Network {UNKNOWN} could not be found."));
        let r = create_subnet(gw, OTHER, json!({"network_id": n, "cidr": "10.0.0.0/24", "ip_version": 4})).await;
        neutron_error(&r, 404);

        // Overlap: refused within a network, allowed across networks and projects.
        subnet(gw, MEMBER, &n, "10.0.0.0/24").await;
        let r = create_subnet(gw, MEMBER, json!({"network_id": n, "cidr": "10.0.0.128/25", "ip_version": 4})).await;
        neutron_error(&r, 400);
        let r = create_subnet(gw, MEMBER, json!({"network_id": n, "cidr": "10.0.0.0/24", "ip_version": 4})).await;
        neutron_error(&r, 400);
        let n2 = net(gw, MEMBER, "n2").await;
        assert_eq!(subnet(gw, MEMBER, &n2, "10.0.0.0/24").await["cidr"], "10.0.0.0/24");
        let n3 = net(gw, OTHER, "n3").await;
        assert_eq!(subnet(gw, OTHER, &n3, "10.0.0.0/24").await["cidr"], "10.0.0.0/24");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets?network_id={n}"), None).await;
        assert_eq!(items(&r, "subnets").len(), 1, "{}", r.body);
    }

    async fn subnet_in_use_until_its_port_is_deleted(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let sn = s(&subnet(gw, MEMBER, &n, "10.0.0.0/24").await["id"]);
        let p = port(gw, MEMBER, json!({"network_id": n})).await;
        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/subnets/{sn}"), None).await;
        neutron_error_type(&r, 409, "SubnetInUse");
        gw.neutron(MEMBER, Method::GET, &format!("/subnets/{sn}"), None).await.ok(200);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{}", s(&p["id"])), None).await;
        assert_eq!(r.ok(200)["port"]["fixed_ips"], p["fixed_ips"], "the port keeps its address");

        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/ports/{}", s(&p["id"])), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/subnets/{sn}"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets/{sn}"), None).await;
        neutron_error_type(&r, 404, "SubnetNotFound");
    }

    async fn port_defaults(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let sn = s(&subnet(gw, MEMBER, &n, "10.0.0.0/24").await["id"]);
        let r = gw.neutron(MEMBER, Method::POST, "/ports", Some(json!({"port": {"network_id": n}}))).await;
        let p = r.ok(201)["port"].clone();
        assert_uuid(&p["id"]);
        assert_eq!(p["network_id"], n.as_str());
        assert_eq!(p["name"], "");
        assert_eq!(p["admin_state_up"], true);
        assert_mac(&s(&p["mac_address"]));
        let fixed = p["fixed_ips"].as_array().unwrap_or_else(|| panic!("{p}"));
        assert_eq!(fixed.len(), 1, "{p}");
        assert_eq!(fixed[0]["subnet_id"], sn.as_str());
        assert!(within(&s(&fixed[0]["ip_address"]), "10.0.0.2", "10.0.0.254"), "address in the pool: {p}");
        assert_eq!((p["device_id"].as_str(), p["device_owner"].as_str()), (Some(""), Some("")));
        assert_eq!(p["status"], "DOWN");
        assert_eq!(p["binding:vnic_type"], "normal");
        assert_eq!(p["allowed_address_pairs"], json!([]));
        assert_eq!(p["port_security_enabled"], true);
        assert!(p["security_groups"].is_array(), "{p}");
        assert_eq!((p["project_id"].as_str(), p["tenant_id"].as_str()), (Some("p1"), Some("p1")));
        assert_eq!(p["description"], "");
        assert_eq!(p["tags"], json!([]));
        assert_timestamps(&p);
        revision(&p);
        let id = s(&p["id"]);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{id}"), None).await;
        assert_eq!(r.ok(200)["port"], p, "show returns what create returned");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{UNKNOWN}"), None).await;
        let msg = neutron_error_type(&r, 404, "PortNotFound");
        assert_eq!(msg, format!("Port {UNKNOWN} could not be found."));
        let r = create_port(gw, MEMBER, json!({"network_id": UNKNOWN})).await;
        neutron_error_type(&r, 404, "NetworkNotFound");
        let r = gw.raw(Method::POST, "/networking/v2.0/ports", Some(MEMBER), Some("{\"prt\": {}}".to_string())).await;
        neutron_error(&r, 400);
    }

    async fn port_binding_details_are_admin_only(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        subnet(gw, MEMBER, &n, "10.0.0.0/24").await;
        let p = port(gw, ADMIN, json!({"network_id": n})).await;
        assert_eq!(p["binding:host_id"], "", "{p}");
        assert_eq!(p["binding:vif_type"], "unbound", "{p}");
        assert_eq!(p["binding:vnic_type"], "normal", "{p}");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{}", s(&p["id"])), None).await;
        let seen = r.ok(200)["port"].clone();
        assert_eq!(seen["binding:vnic_type"], "normal", "{seen}");
        for k in ["binding:host_id", "binding:vif_type"] {
            assert!(seen.get(k).is_none(), "a member does not see {k}: {seen}");
        }
    }

    async fn port_addresses_and_macs(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let sn = s(&subnet(gw, MEMBER, &n, "10.0.0.0/24").await["id"]);
        let mut ports = Vec::new();
        ports.push(port(gw, MEMBER, json!({"network_id": n})).await);
        ports.push(port(gw, MEMBER, json!({"network_id": n})).await);

        let fifty = port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
        assert_eq!(fifty["fixed_ips"], json!([{"subnet_id": sn, "ip_address": "10.0.0.50"}]));
        ports.push(fifty.clone());
        let r = create_port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
        neutron_error_type(&r, 409, "IpAddressAlreadyAllocated");
        let r = create_port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"subnet_id": sn, "ip_address": "10.9.9.9"}]})).await;
        neutron_error_type(&r, 400, "InvalidIpForSubnet");

        let by_subnet = port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"subnet_id": sn}]})).await;
        assert_eq!(by_subnet["fixed_ips"][0]["subnet_id"], sn.as_str());
        ports.push(by_subnet);

        let taken = s(&ports[0]["mac_address"]);
        let r = create_port(gw, MEMBER, json!({"network_id": n, "mac_address": taken})).await;
        neutron_error_type(&r, 409, "MacAddressInUse");
        let chosen = port(gw, MEMBER, json!({"network_id": n, "mac_address": "fa:16:3e:00:00:01"})).await;
        assert_eq!(chosen["mac_address"], "fa:16:3e:00:00:01");
        ports.push(chosen);

        let addrs: Vec<String> = ports.iter().map(port_ip).collect();
        let macs: Vec<String> = ports.iter().map(|p| s(&p["mac_address"])).collect();
        assert_eq!(addrs.iter().collect::<HashSet<_>>().len(), ports.len(), "distinct addresses: {addrs:?}");
        assert_eq!(macs.iter().collect::<HashSet<_>>().len(), ports.len(), "distinct MACs: {macs:?}");
        for a in &addrs {
            assert!(within(a, "10.0.0.2", "10.0.0.254"), "{a} in the pool");
        }
        for m in &macs {
            assert_mac(m);
        }
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={n}"), None).await;
        assert_eq!(items(&r, "ports").len(), ports.len(), "refused ports were not created: {}", r.body);

        // Deleting a port frees its address.
        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/ports/{}", s(&fifty["id"])), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{}", s(&fifty["id"])), None).await;
        neutron_error_type(&r, 404, "PortNotFound");
        let again = port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
        assert_eq!(port_ip(&again), "10.0.0.50");
        assert_ne!(again["id"], fifty["id"]);
    }

    async fn small_subnet_runs_out_of_addresses(gw: &Gateway) {
        let n = net(gw, MEMBER, "small").await;
        let sn = subnet(gw, MEMBER, &n, "10.1.0.0/29").await;
        assert_eq!(sn["allocation_pools"], json!([{"start": "10.1.0.2", "end": "10.1.0.6"}]));
        let mut ports = Vec::new();
        for _ in 0..5 {
            ports.push(port(gw, MEMBER, json!({"network_id": n})).await);
        }
        let addrs: HashSet<String> = ports.iter().map(port_ip).collect();
        let pool: HashSet<String> = (2..=6).map(|i| format!("10.1.0.{i}")).collect();
        assert_eq!(addrs, pool);
        let r = create_port(gw, MEMBER, json!({"network_id": n})).await;
        neutron_error_type(&r, 409, "IpAddressGenerationFailure");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={n}"), None).await;
        assert_eq!(items(&r, "ports").len(), 5, "{}", r.body);

        let freed = port_ip(&ports[2]);
        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/ports/{}", s(&ports[2]["id"])), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let p = port(gw, MEMBER, json!({"network_id": n})).await;
        assert_eq!(port_ip(&p), freed, "the only free address");
    }

    async fn port_update_and_filters(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        subnet(gw, MEMBER, &n, "10.0.0.0/24").await;
        let elsewhere = net(gw, MEMBER, "elsewhere").await;
        subnet(gw, MEMBER, &elsewhere, "10.8.0.0/24").await;
        let a = port(gw, MEMBER, json!({"network_id": n})).await;
        let b = port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
        let c = port(gw, MEMBER, json!({"network_id": elsewhere})).await;
        let (a_id, b_id) = (s(&a["id"]), s(&b["id"]));

        let body = json!({"port": {"name": "p", "device_id": "d", "device_owner": "compute:nova"}});
        let r = gw.neutron(MEMBER, Method::PUT, &format!("/ports/{a_id}"), Some(body)).await;
        let updated = r.ok(200)["port"].clone();
        assert_eq!((updated["name"].as_str(), updated["device_id"].as_str(), updated["device_owner"].as_str()), (Some("p"), Some("d"), Some("compute:nova")), "{updated}");
        assert_eq!(updated["fixed_ips"], a["fixed_ips"], "the address stays");
        assert_eq!(updated["mac_address"], a["mac_address"]);
        assert!(revision(&updated) > revision(&a), "revision_number increased: {a} then {updated}");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{a_id}"), None).await;
        assert_eq!(r.ok(200)["port"]["device_id"], "d");
        let r = gw.neutron(MEMBER, Method::PUT, &format!("/ports/{UNKNOWN}"), Some(json!({"port": {"name": "x"}}))).await;
        neutron_error_type(&r, 404, "PortNotFound");

        let r = gw.neutron(MEMBER, Method::GET, "/ports", None).await;
        assert_eq!(items(&r, "ports").len(), 3);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={n}"), None).await;
        assert_eq!(sorted(ids(&r, "ports")), sorted(vec![a_id.clone(), b_id.clone()]));
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={elsewhere}"), None).await;
        assert_eq!(ids(&r, "ports"), [s(&c["id"])]);
        let r = gw.neutron(MEMBER, Method::GET, "/ports?device_id=d", None).await;
        assert_eq!(ids(&r, "ports"), std::slice::from_ref(&a_id));
        let r = gw.neutron(MEMBER, Method::GET, "/ports?device_owner=compute%3Anova", None).await;
        assert_eq!(ids(&r, "ports"), std::slice::from_ref(&a_id));
        // Neutron's fixed_ips filter, as clients send it (the inner '=' encoded).
        let r = gw.neutron(MEMBER, Method::GET, "/ports?fixed_ips=ip_address%3D10.0.0.50", None).await;
        assert_eq!(ids(&r, "ports"), std::slice::from_ref(&b_id), "{}", r.body);
        let unused = (100..200).map(|i| format!("10.0.0.{i}")).find(|x| *x != port_ip(&a)).unwrap();
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?fixed_ips=ip_address%3D{unused}"), None).await;
        assert!(items(&r, "ports").is_empty(), "{}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, "/ports?fields=id&fields=mac_address", None).await;
        for x in items(&r, "ports") {
            assert_eq!(sorted(x.as_object().unwrap().keys().cloned().collect()), ["id", "mac_address"], "{x}");
        }
    }

    async fn network_in_use_until_its_ports_are_deleted(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let sn = s(&subnet(gw, MEMBER, &n, "10.0.0.0/24").await["id"]);
        let p = port(gw, MEMBER, json!({"network_id": n})).await;
        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/networks/{n}"), None).await;
        neutron_error_type(&r, 409, "NetworkInUse");
        gw.neutron(MEMBER, Method::GET, &format!("/networks/{n}"), None).await.ok(200);
        gw.neutron(MEMBER, Method::GET, &format!("/subnets/{sn}"), None).await.ok(200);
        gw.neutron(MEMBER, Method::GET, &format!("/ports/{}", s(&p["id"])), None).await.ok(200);

        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/ports/{}", s(&p["id"])), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/networks/{n}"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{n}"), None).await;
        neutron_error_type(&r, 404, "NetworkNotFound");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets/{sn}"), None).await;
        neutron_error_type(&r, 404, "SubnetNotFound");
        let r = gw.neutron(MEMBER, Method::GET, "/subnets", None).await;
        assert!(items(&r, "subnets").is_empty(), "the subnet went with its network: {}", r.body);
    }

    async fn ports_are_isolated_by_project(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        subnet(gw, MEMBER, &n, "10.0.0.0/24").await;
        let p = port(gw, MEMBER, json!({"network_id": n})).await;
        let id = s(&p["id"]);

        let r = gw.neutron(OTHER, Method::GET, "/ports", None).await;
        assert!(items(&r, "ports").is_empty(), "{}", r.body);
        let r = gw.neutron(OTHER, Method::GET, &format!("/ports?network_id={n}"), None).await;
        assert!(items(&r, "ports").is_empty(), "{}", r.body);
        let r = gw.neutron(OTHER, Method::GET, &format!("/ports/{id}"), None).await;
        let msg = neutron_error_type(&r, 404, "PortNotFound");
        assert_eq!(msg, format!("Port {id} could not be found."));
        let r = gw.neutron(OTHER, Method::PUT, &format!("/ports/{id}"), Some(json!({"port": {"name": "stolen"}}))).await;
        neutron_error_type(&r, 404, "PortNotFound");
        let r = gw.neutron(OTHER, Method::DELETE, &format!("/ports/{id}"), None).await;
        neutron_error_type(&r, 404, "PortNotFound");
        let r = create_port(gw, OTHER, json!({"network_id": n})).await;
        neutron_error_type(&r, 404, "NetworkNotFound");
        let r = gw.neutron(OTHER, Method::GET, "/subnets", None).await;
        assert!(items(&r, "subnets").is_empty(), "{}", r.body);

        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{id}"), None).await;
        assert_eq!(r.ok(200)["port"]["name"], "", "untouched");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={n}"), None).await;
        assert_eq!(ids(&r, "ports"), std::slice::from_ref(&id));

        // On a shared network another project may plug a port of its own.
        let shared = s(&create_network(gw, ADMIN, json!({"name": "shared", "shared": true})).await["id"]);
        subnet(gw, ADMIN, &shared, "10.5.0.0/24").await;
        let theirs = port(gw, OTHER, json!({"network_id": shared})).await;
        assert_eq!(theirs["project_id"], "p2");
        assert!(within(&port_ip(&theirs), "10.5.0.2", "10.5.0.254"), "{theirs}");
        let r = gw.neutron(OTHER, Method::GET, &format!("/subnets?network_id={shared}"), None).await;
        assert_eq!(items(&r, "subnets").len(), 1, "a shared network's subnets are visible: {}", r.body);
        let r = gw.neutron(OTHER, Method::GET, "/ports", None).await;
        assert_eq!(ids(&r, "ports"), [s(&theirs["id"])]);
        let r = gw.neutron(ADMIN, Method::GET, "/ports", None).await;
        assert_eq!(sorted(ids(&r, "ports")), sorted(vec![id, s(&theirs["id"])]));
    }

    async fn network_owner_sees_other_projects_ports_on_its_network(gw: &Gateway) {
        // Neutron scopes a member's port queries to "own ports, or ports on
        // networks the project owns" (admin_owner_or_network_owner).
        let shared = s(&create_network(gw, ADMIN, json!({"name": "shared", "shared": true})).await["id"]);
        assert_eq!(gw.neutron(MEMBER, Method::GET, &format!("/networks/{shared}"), None).await.ok(200)["network"]["project_id"], "p1");
        subnet(gw, ADMIN, &shared, "10.5.0.0/24").await;
        let theirs = port(gw, OTHER, json!({"network_id": shared})).await;
        let id = s(&theirs["id"]);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{id}"), None).await;
        assert_eq!(r.ok(200)["port"]["project_id"], "p2", "{}", r.body);
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={shared}"), None).await;
        assert_eq!(ids(&r, "ports"), [id]);
    }

    async fn concurrent_ports_get_distinct_addresses(gw: &Gateway) {
        let n = net(gw, MEMBER, "busy").await;
        let sn = s(&subnet(gw, MEMBER, &n, "10.2.0.0/26").await["id"]);
        let replies = join_all((0..40).map(|i| {
            let body = json!({"port": {"network_id": n, "name": format!("p{i}")}});
            gw.neutron(MEMBER, Method::POST, "/ports", Some(body))
        }))
        .await;
        let mut addrs = HashSet::new();
        let mut macs = HashSet::new();
        for r in &replies {
            let p = &r.ok(201)["port"];
            assert_eq!(p["fixed_ips"][0]["subnet_id"], sn.as_str(), "{p}");
            let a = port_ip(p);
            assert!(within(&a, "10.2.0.2", "10.2.0.62"), "{a} in the pool");
            addrs.insert(a);
            macs.insert(s(&p["mac_address"]));
        }
        assert_eq!(addrs.len(), 40, "distinct addresses: {addrs:?}");
        assert_eq!(macs.len(), 40, "distinct MACs: {macs:?}");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={n}"), None).await;
        let listed: HashSet<String> = items(&r, "ports").iter().map(port_ip).collect();
        assert_eq!(listed, addrs, "the list agrees with the replies");
    }
}

/// Where a reply differs from Neutron's error (this status, this type if
/// given, a NeutronError body): a line saying so, for tests that try many
/// requests and report every difference at once.
fn deviation(what: &str, r: &Reply, status: u16, ty: Option<&str>) -> Option<String> {
    let got_ty = r.body["NeutronError"]["type"].as_str();
    let ok = r.status.as_u16() == status
        && got_ty.is_some()
        && r.body["NeutronError"]["message"].as_str().is_some_and(|m| !m.is_empty())
        && ty.is_none_or(|t| got_ty == Some(t));
    (!ok).then(|| {
        let want = ty.map(|t| format!("{status} {t}")).unwrap_or_else(|| status.to_string());
        format!("{what}: want {want}, got {} {}", r.status.as_u16(), r.body)
    })
}

#[track_caller]
fn assert_no_deviations(found: Vec<String>) {
    assert!(found.is_empty(), "{} deviation(s):\n{}", found.len(), found.join("\n"));
}

// Beyond the basics: Neutron's refusals of bad list parameters, read-only
// attributes and conflicting pools; what a delete gives back.
gateway_tests! {
    async fn list_parameter_errors(gw: &Gateway) {
        for name in ["a", "b", "c"] {
            net(gw, MEMBER, name).await;
        }
        let r = gw.neutron(MEMBER, Method::GET, "/networks?limit=0", None).await;
        assert_eq!(items(&r, "networks").len(), 3, "{}", r.body);
        assert!(r.body.get("networks_links").is_none(), "limit=0 is no limit: {}", r.body);
        // Neutron: "Limit must be an integer 0 or greater"; get_sorts:
        // unknown keys, unknown directions and unpaired keys/directions.
        let mut found = Vec::new();
        for q in ["limit=-1", "limit=abc", "sort_key=bogus&sort_dir=asc", "sort_key=name&sort_dir=sideways", "sort_key=name"] {
            let r = gw.neutron(MEMBER, Method::GET, &format!("/networks?{q}"), None).await;
            found.extend(deviation(&format!("GET /networks?{q}"), &r, 400, None));
        }
        assert_no_deviations(found);
    }

    async fn unknown_filters_are_refused(gw: &Gateway) {
        // Neutron validates filters (filter_validation, on by default):
        // "['bogus'] is invalid attribute for filtering".
        net(gw, MEMBER, "n").await;
        let mut found = Vec::new();
        for path in ["/networks?bogus=1", "/subnets?bogus=1", "/ports?bogus=1"] {
            let r = gw.neutron(MEMBER, Method::GET, path, None).await;
            found.extend(deviation(&format!("GET {path}"), &r, 400, None));
        }
        assert_no_deviations(found);
    }

    async fn read_only_attributes_and_bad_values_are_refused(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let other = net(gw, MEMBER, "other").await;
        let sn = s(&subnet(gw, MEMBER, &n, "10.0.0.0/24").await["id"]);
        let p = s(&port(gw, MEMBER, json!({"network_id": n})).await["id"]);
        let long = "x".repeat(256);
        let foreign = s(&subnet(gw, MEMBER, &other, "10.7.0.0/24").await["id"]);
        let cases = [
            (Method::PUT, format!("/networks/{n}"), json!({"network": {"id": UNKNOWN}})),
            (Method::PUT, format!("/networks/{n}"), json!({"network": {"tenant_id": "p2"}})),
            (Method::PUT, format!("/networks/{n}"), json!({"network": {"project_id": "p2"}})),
            (Method::PUT, format!("/networks/{n}"), json!({"network": {"status": "DOWN"}})),
            (Method::PUT, format!("/subnets/{sn}"), json!({"subnet": {"cidr": "10.9.0.0/24"}})),
            (Method::PUT, format!("/subnets/{sn}"), json!({"subnet": {"network_id": other}})),
            (Method::PUT, format!("/subnets/{sn}"), json!({"subnet": {"ip_version": 6}})),
            (Method::PUT, format!("/ports/{p}"), json!({"port": {"network_id": other}})),
            (Method::POST, "/networks".to_string(), json!({"network": {"name": long}})),
            (Method::POST, "/ports".to_string(), json!({"port": {"name": "no network"}})),
            // A subnet of another network is no place for this network's port.
            (Method::POST, "/ports".to_string(), json!({"port": {"network_id": n, "fixed_ips": [{"subnet_id": foreign}]}})),
        ];
        let mut found = Vec::new();
        for (method, path, body) in cases {
            let r = gw.neutron(MEMBER, method.clone(), &path, Some(body.clone())).await;
            found.extend(deviation(&format!("{method} {path} {body}"), &r, 400, None));
        }
        // Unchanged.
        let r = gw.neutron(MEMBER, Method::GET, &format!("/networks/{n}"), None).await;
        let v = &r.ok(200)["network"];
        if (v["id"].as_str(), v["project_id"].as_str(), v["status"].as_str()) != (Some(n.as_str()), Some("p1"), Some("ACTIVE")) {
            found.push(format!("network changed: {v}"));
        }
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets/{sn}"), None).await;
        let v = &r.ok(200)["subnet"];
        if (v["cidr"].as_str(), v["network_id"].as_str(), v["ip_version"].as_i64()) != (Some("10.0.0.0/24"), Some(n.as_str()), Some(4)) {
            found.push(format!("subnet changed: {v}"));
        }
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={n}"), None).await;
        if ids(&r, "ports") != [p.clone()] || r.body["ports"][0]["network_id"] != n.as_str() {
            found.push(format!("ports changed: {}", r.body));
        }
        assert_no_deviations(found);
        // Stated values are kept.
        let down = create_network(gw, MEMBER, json!({"name": "down", "admin_state_up": false, "description": "d"})).await;
        assert_eq!((down["admin_state_up"].clone(), down["description"].clone()), (json!(false), json!("d")));
    }

    async fn allocation_pool_conflicts(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let base = json!({"network_id": n, "cidr": "10.0.0.0/24", "ip_version": 4});
        let with = |extra: Value| {
            let mut b = base.clone();
            b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            b
        };
        // Neutron's exceptions: GatewayConflictWithAllocationPools and
        // OverlappingAllocationPools are conflicts (409); InvalidAllocationPool
        // and OutOfBoundsAllocationPool are bad requests (400).
        let cases = [
            (json!({"gateway_ip": "10.0.0.1", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.20"}]}), 409, "GatewayConflictWithAllocationPools"),
            (json!({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}, {"start": "10.0.0.15", "end": "10.0.0.30"}]}), 409, "OverlappingAllocationPools"),
            (json!({"allocation_pools": [{"start": "10.0.0.30", "end": "10.0.0.20"}]}), 400, "InvalidAllocationPool"),
            (json!({"allocation_pools": [{"start": "10.0.1.2", "end": "10.0.1.9"}]}), 400, "OutOfBoundsAllocationPool"),
        ];
        let mut found = Vec::new();
        for (extra, status, ty) in cases {
            let r = create_subnet(gw, MEMBER, with(extra.clone())).await;
            found.extend(deviation(&format!("POST /subnets with {extra}"), &r, status, Some(ty)));
        }
        let r = gw.neutron(MEMBER, Method::GET, &format!("/subnets?network_id={n}"), None).await;
        if !items(&r, "subnets").is_empty() {
            found.push(format!("refused subnets were created: {}", r.body));
        }
        assert_no_deviations(found);
        // Two pools, both used.
        let sn = create_subnet(gw, MEMBER, with(json!({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.10"}, {"start": "10.0.0.20", "end": "10.0.0.20"}]}))).await.ok(201)["subnet"].clone();
        assert_eq!(sn["allocation_pools"].as_array().map(Vec::len), Some(2), "{sn}");
        let a = port_ip(&port(gw, MEMBER, json!({"network_id": n})).await);
        let b = port_ip(&port(gw, MEMBER, json!({"network_id": n})).await);
        assert_eq!(sorted(vec![a, b]), ["10.0.0.10", "10.0.0.20"]);
        let r = create_port(gw, MEMBER, json!({"network_id": n})).await;
        neutron_error_type(&r, 409, "IpAddressGenerationFailure");
    }

    async fn deletes_release_segments_addresses_and_macs(gw: &Gateway) {
        // A VNI is free again once its network is gone.
        let first = create_network(gw, ADMIN, json!({"name": "first"})).await;
        let vni = first["provider:segmentation_id"].as_u64().unwrap_or_else(|| panic!("{first}"));
        let r = gw.neutron(ADMIN, Method::DELETE, &format!("/networks/{}", s(&first["id"])), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let again = create_network(gw, ADMIN, json!({"name": "again", "provider:network_type": "vxlan", "provider:segmentation_id": vni})).await;
        assert_eq!(again["provider:segmentation_id"], vni);

        // A deleted port's MAC may be asked for again.
        let n = net(gw, MEMBER, "n").await;
        subnet(gw, MEMBER, &n, "10.0.0.0/24").await;
        let p = port(gw, MEMBER, json!({"network_id": n})).await;
        let mac = s(&p["mac_address"]);
        let r = gw.neutron(MEMBER, Method::DELETE, &format!("/ports/{}", s(&p["id"])), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let back = port(gw, MEMBER, json!({"network_id": n, "mac_address": mac})).await;
        assert_eq!(back["mac_address"], mac.as_str());
    }

    async fn macs_are_unique_per_network(gw: &Gateway) {
        // Neutron's ports table is unique on (network_id, mac_address): the
        // same MAC on another network is allowed, on the same one it is not.
        let n = net(gw, MEMBER, "n").await;
        subnet(gw, MEMBER, &n, "10.0.0.0/24").await;
        let m = net(gw, MEMBER, "m").await;
        subnet(gw, MEMBER, &m, "10.0.0.0/24").await;
        let p = port(gw, MEMBER, json!({"network_id": n})).await;
        let mac = s(&p["mac_address"]);
        let r = create_port(gw, MEMBER, json!({"network_id": n, "mac_address": mac})).await;
        neutron_error_type(&r, 409, "MacAddressInUse");
        let twin = port(gw, MEMBER, json!({"network_id": m, "mac_address": mac})).await;
        assert_eq!(twin["mac_address"], mac.as_str());
    }

    async fn port_fixed_ips_update_moves_the_address(gw: &Gateway) {
        let n = net(gw, MEMBER, "n").await;
        let sn = s(&subnet(gw, MEMBER, &n, "10.0.0.0/24").await["id"]);
        let p = port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
        let id = s(&p["id"]);
        let r = gw.neutron(MEMBER, Method::PUT, &format!("/ports/{id}"), Some(json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.60"}]}}))).await;
        assert_eq!(r.ok(200)["port"]["fixed_ips"], json!([{"subnet_id": sn, "ip_address": "10.0.0.60"}]));
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports/{id}"), None).await;
        assert_eq!(port_ip(&r.ok(200)["port"]), "10.0.0.60");
        let r = create_port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.60"}]})).await;
        neutron_error_type(&r, 409, "IpAddressAlreadyAllocated");
        let freed = port(gw, MEMBER, json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.50"}]})).await;
        assert_eq!(port_ip(&freed), "10.0.0.50");
        // An address taken by another port cannot be moved to.
        let r = gw.neutron(MEMBER, Method::PUT, &format!("/ports/{id}"), Some(json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.50"}]}}))).await;
        neutron_error_type(&r, 409, "IpAddressAlreadyAllocated");
        let r = gw.neutron(MEMBER, Method::GET, &format!("/ports?network_id={n}"), None).await;
        assert_eq!(items(&r, "ports").len(), 2, "{}", r.body);
    }

    async fn project_filters_and_tokens(gw: &Gateway) {
        let mine = net(gw, MEMBER, "mine").await;
        let theirs = net(gw, OTHER, "theirs").await;
        for key in ["project_id", "tenant_id"] {
            let r = gw.neutron(ADMIN, Method::GET, &format!("/networks?{key}=p2"), None).await;
            assert_eq!(ids(&r, "networks"), std::slice::from_ref(&theirs), "admin filters by {key}");
            let r = gw.neutron(ADMIN, Method::GET, &format!("/networks?{key}=p1"), None).await;
            assert_eq!(ids(&r, "networks"), std::slice::from_ref(&mine), "admin filters by {key}");
            let r = gw.neutron(MEMBER, Method::GET, &format!("/networks?{key}=p2"), None).await;
            assert!(items(&r, "networks").is_empty(), "a member's filter does not widen its view: {}", r.body);
        }
        // Everything under /v2.0 needs a valid token (Neutron's paste
        // pipeline puts authtoken before /v2.0); only `/` is public.
        let mut found = Vec::new();
        for path in ["/networking/v2.0", "/networking/v2.0/extensions", "/networking/v2.0/networks", "/networking/v2.0/subnets", "/networking/v2.0/ports"] {
            for token in [None, Some("wrong")] {
                let r = gw.raw(Method::GET, path, token, None).await;
                if r.status.as_u16() != 401 {
                    found.push(format!("GET {path} with token {token:?}: want 401, got {} {}", r.status.as_u16(), r.body));
                }
            }
        }
        let r = gw.raw(Method::POST, "/networking/v2.0/networks", None, Some(json!({"network": {"name": "anon"}}).to_string())).await;
        if r.status.as_u16() != 401 {
            found.push(format!("POST /networks without a token: want 401, got {} {}", r.status.as_u16(), r.body));
        }
        let r = gw.neutron(ADMIN, Method::GET, "/networks?name=anon", None).await;
        assert!(items(&r, "networks").is_empty(), "{}", r.body);
        assert_no_deviations(found);
    }

}
