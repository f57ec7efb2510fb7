//! Security groups follow their ports into pods: a group a port uses is
//! copied into the pod where the port is made (named after the top ID, with
//! the top's rules, a remote group mapped to its own copy there), rule
//! changes at the top reach the copies, and deleting the group removes them.

mod common;

use common::{objects, world};
use serde_json::{Value, json};

fn rules_of(state: &Value, bottom_group: &str) -> Vec<Value> {
    objects(state, "network", "sg_rules")
        .into_iter()
        .filter(|r| r["security_group_id"] == bottom_group)
        .collect()
}

fn has_rule(rules: &[Value], protocol: &str, port: u64) -> bool {
    rules.iter().any(|r| {
        r["protocol"] == protocol && r["port_range_min"] == port && r["direction"] == "ingress"
    })
}

#[tokio::test]
async fn a_ports_groups_are_copied_and_kept_in_line() {
    let w = world(1).await;
    let d = &w.demo;
    let net = w.app.network_create(d, &json!({"network": {"name": "n"}})).await.unwrap();
    let net = net["id"].as_str().unwrap().to_string();
    let body = json!({"subnet": {"network_id": net, "cidr": "10.60.0.0/24", "ip_version": 4}});
    w.app.subnet_create(d, &body).await.unwrap();
    let web =
        w.app.security_group_create(d, &json!({"security_group": {"name": "web"}})).await.unwrap();
    let web = web["id"].as_str().unwrap().to_string();
    let rule = |port: u16| {
        json!({"security_group_rule": {"security_group_id": web, "direction": "ingress",
        "protocol": "tcp", "port_range_min": port, "port_range_max": port}})
    };
    let r80 = w.app.security_group_rule_create(d, &rule(80)).await.unwrap();
    let port = w
        .app
        .port_create(d, &json!({"port": {"network_id": net, "security_groups": [web]}}))
        .await
        .unwrap();
    let pid = port["id"].as_str().unwrap().to_string();
    let mut spec = w.spec("vm");
    spec.networks = Some(json!([{"port": pid}]));
    let vm = w.create(spec).await.unwrap();
    // A second server on the network: its port is in the project's default group.
    let mut spec = w.spec("vm2");
    spec.networks = Some(json!([{"uuid": net}]));
    let vm2 = w.create(spec).await.unwrap();
    // Nova's `security_groups` name the groups of the ports a server makes.
    let mut spec = w.spec("vm3");
    spec.networks = Some(json!([{"uuid": net}]));
    spec.security_groups = vec!["web".into()];
    let vm3 = w.create(spec).await.unwrap();
    let q = tricircle_core::networking::listing::ListQuery::default();
    let ports = w.app.port_list(d, &q, "u").await.unwrap();
    let p3 = ports["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["device_id"] == vm3.as_str())
        .cloned()
        .unwrap();
    assert_eq!(p3["security_groups"], json!([web]), "{p3}");
    let mut spec = w.spec("vm4");
    spec.networks = Some(json!([{"uuid": net}]));
    spec.security_groups = vec!["nope".into()];
    let e = w.create(spec).await.unwrap_err();
    assert_eq!(e.status(), 400, "{e}");
    assert!(e.external_message().contains("Security group nope not found"), "{e}");
    w.app.server_delete(d, &vm3).await.unwrap();

    let copies = w.routings("security_group").await;
    let web_copy = copies
        .iter()
        .find(|r| r.top_id == web)
        .and_then(|r| r.bottom_id.clone())
        .expect("web copied");
    let state = w.pod_state(0);
    let groups = objects(&state, "network", "security_groups");
    assert!(
        groups.iter().any(|g| g["id"] == web_copy.as_str() && g["name"] == web.as_str()),
        "{groups:?}"
    );
    assert!(has_rule(&rules_of(&state, &web_copy), "tcp", 80), "the top's rule is there");
    let bports = objects(&state, "network", "ports");
    let bport = bports.iter().find(|p| p["name"] == pid.as_str()).expect("the port's copy");
    assert_eq!(bport["security_groups"], json!([web_copy]), "{bport}");
    // The default group's copy: its remote group is its own copy.
    let default_copy = copies
        .iter()
        .find(|r| r.top_id != web)
        .and_then(|r| r.bottom_id.clone())
        .expect("default copied");
    let default_rules = rules_of(&state, &default_copy);
    assert!(
        default_rules.iter().any(|r| r["remote_group_id"] == default_copy.as_str()),
        "{default_rules:?}"
    );

    // Rules changed at the top reach the copy.
    w.app.security_group_rule_create(d, &rule(443)).await.unwrap();
    w.app.security_group_rule_delete(d, r80["id"].as_str().unwrap()).await.unwrap();
    let rules = rules_of(&w.pod_state(0), &web_copy);
    assert!(has_rule(&rules, "tcp", 443) && !has_rule(&rules, "tcp", 80), "{rules:?}");

    // The group goes (once no port uses it): its copy goes.
    w.app.server_delete(d, &vm).await.unwrap();
    w.app.server_delete(d, &vm2).await.unwrap();
    w.app.port_delete(d, &pid).await.unwrap();
    w.app.security_group_delete(d, &web).await.unwrap();
    let groups = objects(&w.pod_state(0), "network", "security_groups");
    assert!(!groups.iter().any(|g| g["id"] == web_copy.as_str()), "{groups:?}");
    assert!(w.routings("security_group").await.iter().all(|r| r.top_id != web));
}
