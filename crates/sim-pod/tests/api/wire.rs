//! Wire details the differential test (`crates/fidelity`) found the real services to have:
//! which keys appear in which answer, and the Content-Type of empty and error answers. Each
//! was once a difference between the sim pod and a real region; these keep them fixed without
//! a real region at hand.

use serde_json::{Value, json};

use crate::common::{Client, pod};

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default()
}

#[tokio::test]
async fn content_types_of_empty_and_error_answers() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let missing = "0c6f0a54-6a41-4e3e-9d55-9f1c2b1e0d77";
    // Errors: Nova with a charset, Cinder and Glance without.
    let r = c.nova("GET", &format!("/servers/{missing}"), None, "2.79").await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (404, Some("application/json; charset=UTF-8"))
    );
    let r = c.cinder("GET", &format!("/volumes/{missing}"), None, "3.66").await;
    assert_eq!((r.status, r.header("content-type")), (404, Some("application/json")));
    let r = c.get(&format!("/image/v2/images/{missing}")).await;
    assert_eq!((r.status, r.header("content-type")), (404, Some("application/json")));

    // Empty answers: Glance says text/html even on 204, Nova application/json even on 204,
    // Neutron nothing, Cinder text/html on 202.
    let image = c.image("wire", b"data").await;
    let r = c.delete(&format!("/image/v2/images/{image}")).await;
    assert_eq!((r.status, r.header("content-type")), (204, Some("text/html; charset=UTF-8")));
    let (net, _) = c.net_with_subnet("wire", "10.9.0.0/24").await;
    let image = c.image("wire", b"data").await;
    let server = c.server("wire", &image, &net).await;
    let r = c.nova("DELETE", &format!("/servers/{server}"), None, "2.79").await;
    assert_eq!((r.status, r.header("content-type")), (204, Some("application/json")));
    let port = c.post("/networking/v2.0/ports", json!({"port": {"network_id": net}})).await;
    let r = c
        .delete(&format!("/networking/v2.0/ports/{}", port.body["port"]["id"].as_str().unwrap()))
        .await;
    assert_eq!((r.status, r.header("content-type")), (204, None));
    let v = c.cinder("POST", "/volumes", Some(json!({"volume": {"size": 1}})), "3.66").await;
    let vid = v.body["volume"]["id"].as_str().unwrap().to_string();
    let r = c.cinder("DELETE", &format!("/volumes/{vid}"), None, "3.66").await;
    assert_eq!((r.status, r.header("content-type")), (202, Some("text/html; charset=UTF-8")));
    pod.shutdown().await;
}

#[tokio::test]
async fn version_documents_and_catalog_links() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c.get("/compute/v2.1").await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-openstack-request-id").is_some_and(|v| v.starts_with("req-")));
    assert!(c.get("/compute").await.header("x-openstack-request-id").is_none());
    let r = c.get("/identity/v3/auth/catalog").await;
    assert_eq!(keys(&r.body["links"]), ["self"]);
    let r = c.get("/volume/").await;
    assert_eq!((r.status, r.header("openstack-api-version")), (300, Some("volume 3.0")));
    pod.shutdown().await;
}

#[tokio::test]
async fn neutron_views_have_the_real_keys() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let n = c.post("/networking/v2.0/networks", json!({"network": {"name": "n"}})).await;
    let net = &n.body["network"];
    assert_eq!(
        (net["qinq"].clone(), net["vlan_transparent"].clone()),
        (json!(false), json!(false))
    );
    assert!(net.get("l2_adjacency").is_none());
    // `is_default` in the create answer, afterwards only on external networks.
    assert_eq!(net["is_default"], false);
    let id = net["id"].as_str().unwrap();
    assert!(
        c.get(&format!("/networking/v2.0/networks/{id}")).await.body["network"]
            .get("is_default")
            .is_none()
    );
    let s = c
        .post(
            "/networking/v2.0/subnets",
            json!({"subnet": {"network_id": id, "cidr": "10.8.0.0/24", "ip_version": 4}}),
        )
        .await;
    assert_eq!(s.body["subnet"]["router:external"], false);
    assert!(s.body["subnet"].get("segment_id").is_none());
    let subnet = s.body["subnet"]["id"].as_str().unwrap();
    let p = c.post("/networking/v2.0/ports", json!({"port": {"network_id": id}})).await;
    assert!(p.body["port"].get("ip_allocation").is_none());
    assert!(p.body["port"].get("propagate_uplink_status").is_none());

    let r = c.post("/networking/v2.0/routers", json!({"router": {"name": "r"}})).await;
    let router = r.body["router"]["id"].as_str().unwrap();
    let add = c
        .put(
            &format!("/networking/v2.0/routers/{router}/add_router_interface"),
            json!({"subnet_id": subnet}),
        )
        .await;
    assert_eq!(add.status, 200);
    assert!(add.body.get("tenant_id").is_none() && add.body["project_id"].is_string());
    let port =
        c.get(&format!("/networking/v2.0/ports/{}", add.body["port_id"].as_str().unwrap())).await;
    assert_eq!(port.body["port"]["port_security_enabled"], false);
    pod.shutdown().await;
}

#[tokio::test]
async fn bound_ports_name_their_mechanism_driver() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("b", "10.7.0.0/24").await;
    let image = c.image("b", b"x").await;
    let server = c.server("b", &image, &net).await;
    assert_eq!(
        c.nova("GET", &format!("/servers/{server}"), None, "2.79").await.body["server"]["status"],
        "ACTIVE"
    );
    let ports = c.get(&format!("/networking/v2.0/ports?device_id={server}")).await;
    let details = &ports.body["ports"][0]["binding:vif_details"];
    assert_eq!(details["bound_drivers"], json!({"0": "openvswitch"}), "{details}");
    // The ips list has less per address than the server view.
    let ips = c.nova("GET", &format!("/servers/{server}/ips"), None, "2.79").await;
    let addr = &ips.body["addresses"]["b"][0];
    assert_eq!(keys(addr), ["addr", "version"], "{}", ips.body);
    let shown = c.nova("GET", &format!("/servers/{server}"), None, "2.79").await;
    assert!(shown.body["server"]["addresses"]["b"][0]["OS-EXT-IPS:type"].is_string());
    pod.shutdown().await;
}

#[tokio::test]
async fn security_group_rules_alone_and_embedded() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let g =
        c.post("/networking/v2.0/security-groups", json!({"security_group": {"name": "g"}})).await;
    assert_eq!(g.status, 201);
    let rules = g.body["security_group"]["security_group_rules"].as_array().unwrap().clone();
    assert_eq!(rules.len(), 2);
    for r in &rules {
        // Rules Neutron made itself have no description; embedded rules show these two keys.
        assert_eq!(r["description"], Value::Null, "{r}");
        assert!(r["standard_attr_id"].is_u64() && r["tags"].is_array(), "{r}");
    }
    let gid = g.body["security_group"]["id"].as_str().unwrap();
    let r = c
        .post("/networking/v2.0/security-group-rules", json!({"security_group_rule": {
            "security_group_id": gid, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp"}}))
        .await;
    assert_eq!(r.status, 201);
    let rule = &r.body["security_group_rule"];
    assert_eq!(rule["description"], "");
    assert!(rule.get("tags").is_none() && rule.get("standard_attr_id").is_none(), "{rule}");
    let shown = c
        .get(&format!("/networking/v2.0/security-group-rules/{}", rule["id"].as_str().unwrap()))
        .await;
    assert!(shown.body["security_group_rule"].get("tags").is_none());
    pod.shutdown().await;
}

#[tokio::test]
async fn cinder_create_answers_lack_the_show_only_attributes() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let v = c.cinder("POST", "/volumes", Some(json!({"volume": {"size": 1}})), "3.66").await;
    assert_eq!(v.status, 202);
    let created = &v.body["volume"];
    assert!(keys(created).iter().all(|k| !k.starts_with("os-vol-")), "{created}");
    assert_eq!(
        (created["service_uuid"].clone(), created["migration_status"].clone()),
        (Value::Null, Value::Null)
    );
    assert!(created.get("migration_status").is_some());
    let vid = created["id"].as_str().unwrap();
    let shown =
        c.cinder("GET", &format!("/volumes/{vid}"), None, "3.66").await.body["volume"].clone();
    assert!(shown["os-vol-host-attr:host"].is_string() && shown["service_uuid"].is_string());
    assert!(shown["os-vol-tenant-attr:tenant_id"].is_string());
    let updated = c
        .cinder("PUT", &format!("/volumes/{vid}"), Some(json!({"volume": {"name": "n"}})), "3.66")
        .await;
    assert!(keys(&updated.body["volume"]).iter().all(|k| !k.starts_with("os-vol-")));
    assert!(updated.body["volume"]["service_uuid"].is_string());

    // A member sees the tenant attribute and the service uuid, not the migration status.
    let demo = Client::user(&pod, "demo", "demo").await;
    let d = demo.cinder("POST", "/volumes", Some(json!({"volume": {"size": 1}})), "3.66").await;
    let did = d.body["volume"]["id"].as_str().unwrap();
    let mine =
        demo.cinder("GET", &format!("/volumes/{did}"), None, "3.66").await.body["volume"].clone();
    assert!(mine["os-vol-tenant-attr:tenant_id"].is_string(), "{mine}");
    assert!(mine["service_uuid"].is_string(), "{mine}");
    assert!(mine.get("migration_status").is_none(), "{mine}");
    assert!(mine.get("os-vol-host-attr:host").is_none(), "{mine}");
    // Attached, the attachment's host is hidden from the member as well.
    let image = c.image("m", b"x").await;
    let (net, _) = demo.net_with_subnet("m", "10.6.0.0/24").await;
    let server = demo.server("m", &image, &net).await;
    let attach = json!({"volumeAttachment": {"volumeId": did}});
    let path = format!("/servers/{server}/os-volume_attachments");
    assert_eq!(demo.nova("POST", &path, Some(attach), "2.79").await.status, 200);
    let mine =
        demo.cinder("GET", &format!("/volumes/{did}"), None, "3.66").await.body["volume"].clone();
    assert_eq!(mine["status"], "in-use");
    assert_eq!(mine["attachments"][0]["host_name"], Value::Null, "{mine}");
    let theirs =
        c.cinder("GET", &format!("/volumes/{did}"), None, "3.66").await.body["volume"].clone();
    assert!(theirs["attachments"][0]["host_name"].is_string(), "{theirs}");

    let s =
        c.cinder("POST", "/snapshots", Some(json!({"snapshot": {"volume_id": vid}})), "3.66").await;
    assert_eq!(s.status, 202);
    assert!(keys(&s.body["snapshot"]).iter().all(|k| !k.starts_with("os-extended-")));
    let sid = s.body["snapshot"]["id"].as_str().unwrap();
    let shown = c.cinder("GET", &format!("/snapshots/{sid}"), None, "3.66").await;
    assert_eq!(shown.body["snapshot"]["os-extended-snapshot-attributes:progress"], "100%");
    pod.shutdown().await;
}
