//! Server groups as Nova 34 answers them (checked against the real region,
//! see docs/fidelity.md): bodies and validation by microversion, paging,
//! the boot hint, members placed by policy between the pod's two hosts, and
//! the boot volume that must be bootable.

use serde_json::{Value, json};

use crate::common::{Client, pod};

async fn group(c: &Client, body: Value, mv: &str) -> (u16, Value) {
    let r = c.nova("POST", "/os-server-groups", Some(json!({"server_group": body})), mv).await;
    (r.status, r.body)
}

fn message(body: &Value) -> &str {
    body["badRequest"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn bodies_and_validation_follow_the_microversion() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (s, b) = group(&c, json!({"name": "old", "policies": ["affinity"]}), "2.1").await;
    assert_eq!(s, 200);
    assert_eq!(b["server_group"]["policies"], json!(["affinity"]));
    assert_eq!(b["server_group"]["metadata"], json!({}));
    assert!(b["server_group"].get("project_id").is_none(), "owner fields from 2.13");
    let (s, b) = group(&c, json!({"name": "soft", "policies": ["soft-affinity"]}), "2.14").await;
    assert_eq!(s, 400, "soft policies from 2.15: {b}");
    assert!(message(&b).contains("soft-affinity"));
    assert_eq!(
        group(&c, json!({"name": "soft", "policies": ["soft-affinity"]}), "2.15").await.0,
        200
    );
    for bad in [
        json!({"name": "g", "policies": []}),
        json!({"name": "g", "policies": ["affinity", "anti-affinity"]}),
        json!({"name": "g", "policies": "affinity"}),
        json!({"policies": ["affinity"]}),
        json!({"name": " g", "policies": ["affinity"]}),
        json!({"name": "g", "policies": ["affinity"], "extra": 1}),
    ] {
        assert_eq!(group(&c, bad.clone(), "2.1").await.0, 400, "{bad}");
    }
    let (s, b) = group(
        &c,
        json!({"name": "new", "policy": "anti-affinity", "rules": {"max_server_per_host": "2"}}),
        "2.64",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["server_group"]["rules"], json!({"max_server_per_host": 2}));
    assert!(b["server_group"]["project_id"].is_string());
    let (s, b) = group(
        &c,
        json!({"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}),
        "2.64",
    )
    .await;
    assert_eq!((s, message(&b)), (400, "Only anti-affinity policy supports rules."));
    for bad in [
        json!({"name": "g", "policies": ["affinity"]}),
        json!({"name": "g", "policy": "bogus"}),
        json!({"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}),
        json!({"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "x"}}),
        json!({"name": "g", "policy": "anti-affinity", "rules": {"other": 1}}),
    ] {
        assert_eq!(group(&c, bad.clone(), "2.64").await.0, 400, "{bad}");
    }
    // Oldest first, limit and offset; junk parameters refused from 2.75.
    let list = |q: &'static str, mv: &'static str| {
        let c = &c;
        async move { c.nova("GET", &format!("/os-server-groups{q}"), None, mv).await }
    };
    let names = |r: &crate::common::Resp| -> Vec<String> {
        r.body["server_groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&list("", "2.64").await), ["old", "soft", "new"]);
    assert_eq!(names(&list("?limit=1&offset=1", "2.64").await), ["soft"]);
    assert_eq!(names(&list("?limit=0", "2.64").await).len(), 3);
    assert_eq!(list("?limit=-1", "2.64").await.status, 400);
    assert_eq!(list("?foo=1", "2.74").await.status, 200);
    assert_eq!(list("?foo=1", "2.75").await.status, 400);
    pod.shutdown().await;
}

#[tokio::test]
async fn members_are_placed_by_policy_between_hosts() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let image = c.image("img", b"x").await;
    let boot = |name: &str, g: &str| {
        json!({"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": "none"},
               "os:scheduler_hints": {"group": g}})
    };
    let id_of = |b: &Value| b["server_group"]["id"].as_str().unwrap().to_string();
    let show = |id: String| {
        let c = &c;
        async move {
            c.nova("GET", &format!("/servers/{id}"), None, "2.79").await.body["server"].clone()
        }
    };
    // The hint must name a group that exists (400, not 404).
    let none = "00000000-0000-0000-0000-000000000000";
    let r = c.nova("POST", "/servers", Some(boot("x", none)), "2.79").await;
    assert_eq!(
        (r.status, message(&r.body)),
        (400, format!("Instance group {none} could not be found.").as_str())
    );
    assert_eq!(c.nova("POST", "/servers", Some(boot("x", "nope")), "2.79").await.status, 400);
    // Affinity: one host for all; anti-affinity: one per host, then ERROR.
    let aff = id_of(&group(&c, json!({"name": "a", "policy": "affinity"}), "2.64").await.1);
    let anti = id_of(&group(&c, json!({"name": "b", "policy": "anti-affinity"}), "2.64").await.1);
    let two = id_of(
        &group(
            &c,
            json!({"name": "c", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}),
            "2.64",
        )
        .await
        .1,
    );
    let mut hosts = std::collections::HashMap::<&str, Vec<Value>>::new();
    for (g, n) in [(&aff, 3), (&anti, 3), (&two, 5)] {
        for i in 0..n {
            let r = c.nova("POST", "/servers", Some(boot(&format!("{g}-{i}"), g)), "2.79").await;
            assert_eq!(r.status, 202, "{}", r.body);
            let s = show(r.body["server"]["id"].as_str().unwrap().to_string()).await;
            hosts.entry(g.as_str()).or_default().push(s);
        }
    }
    let placed = |g: &str| -> Vec<String> {
        hosts[g]
            .iter()
            .map(|s| s["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let a = placed(&aff);
    assert!(a.iter().all(|h| h == &a[0] && !h.is_empty()), "affinity: {a:?}");
    let b = placed(&anti);
    assert!(b[0] != b[1] && !b[0].is_empty() && !b[1].is_empty(), "anti-affinity: {b:?}");
    assert_eq!(hosts[anti.as_str()][2]["status"], "ERROR", "no third host");
    assert_eq!(
        hosts[anti.as_str()][2]["fault"]["message"],
        "No valid host was found. There are not enough hosts available."
    );
    let statuses: Vec<&str> =
        hosts[two.as_str()].iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["ACTIVE", "ACTIVE", "ACTIVE", "ACTIVE", "ERROR"],
        "two per host on two hosts"
    );
    // The server names its group (2.71+); the group lists the failed member too, as Nova does.
    assert_eq!(hosts[aff.as_str()][0]["server_groups"], json!([aff]));
    let g = c.nova("GET", &format!("/os-server-groups/{anti}"), None, "2.64").await;
    assert_eq!(g.body["server_group"]["members"].as_array().unwrap().len(), 3);
    pod.shutdown().await;
}

#[tokio::test]
async fn a_boot_volume_must_be_bootable() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c.cinder("POST", "/volumes", Some(json!({"volume": {"size": 1}})), "3.0").await;
    let vol = r.body["volume"]["id"].as_str().unwrap().to_string();
    let boot = json!({"server": {"name": "bfv", "flavorRef": "1", "networks": "none",
        "block_device_mapping_v2": [{"boot_index": 0, "uuid": vol, "source_type": "volume",
        "destination_type": "volume", "delete_on_termination": true}]}});
    let r = c.nova("POST", "/servers", Some(boot.clone()), "2.79").await;
    assert_eq!(
        (r.status, message(&r.body)),
        (400, format!("Block Device {vol} is not bootable.").as_str())
    );
    let set = json!({"os-set_bootable": {"bootable": true}});
    assert_eq!(
        c.cinder("POST", &format!("/volumes/{vol}/action"), Some(set), "3.0").await.status,
        200
    );
    let r = c.nova("POST", "/servers", Some(boot), "2.79").await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap();
    let s = c.nova("GET", &format!("/servers/{id}"), None, "2.79").await.body;
    assert_eq!(s["server"]["image"], "");
    assert_eq!(
        s["server"]["os-extended-volumes:volumes_attached"],
        json!([{"id": vol, "delete_on_termination": true}])
    );
    assert_eq!(c.nova("DELETE", &format!("/servers/{id}"), None, "2.79").await.status, 204);
    assert_eq!(
        c.cinder("GET", &format!("/volumes/{vol}"), None, "3.0").await.status,
        404,
        "deleted with it"
    );
    pod.shutdown().await;
}
