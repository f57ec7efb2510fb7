//! `/compute/v2.1/os-server-groups` over HTTP: Nova's bodies by
//! microversion, its error bodies, paging, project isolation, `/limits`;
//! and server create with the `group` hint and with block device mappings
//! (boot from volume) against a sim pod.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{ADMIN, Gateway, MEMBER, OTHER, Reply};
use crate::gateway_tests;

impl Gateway {
    async fn nova(
        &self,
        token: &str,
        method: Method,
        path: &str,
        mv: &str,
        body: Option<Value>,
    ) -> Reply {
        let url = format!("{}/compute/v2.1{path}", self.base);
        let mut req = self
            .http
            .request(method, url)
            .header("X-Auth-Token", token)
            .header("OpenStack-API-Version", format!("compute {mv}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        Reply { status, headers, body }
    }
}

fn ids(r: &Reply) -> Vec<String> {
    r.body["server_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect()
}

gateway_tests! {
    async fn groups_speak_novas_microversions(gw: &Gateway) {
        let old = json!({"server_group": {"name": "web", "policies": ["anti-affinity"]}});
        let r = gw.nova(MEMBER, Method::POST, "/os-server-groups", "2.1", Some(old)).await;
        let g = r.ok(200)["server_group"].clone();
        assert_eq!(g["policies"], json!(["anti-affinity"]));
        assert_eq!((g["metadata"].clone(), g["members"].clone()), (json!({}), json!([])));
        assert!(g.get("project_id").is_none() && g.get("policy").is_none(), "{g}");
        let id = g["id"].as_str().unwrap().to_string();
        let shown = gw.nova(MEMBER, Method::GET, &format!("/os-server-groups/{id}"), "2.13", None).await;
        assert_eq!(shown.ok(200)["server_group"]["project_id"], "p1");
        let shown = gw.nova(MEMBER, Method::GET, &format!("/os-server-groups/{id}"), "2.64", None).await;
        let g = &shown.ok(200)["server_group"];
        assert_eq!((g["policy"].as_str(), g["rules"].clone(), g.get("policies")), (Some("anti-affinity"), json!({}), None));
        assert_eq!(g["user_id"], "user-member-token");
        let new = json!({"server_group": {"name": "db", "policy": "anti-affinity", "rules": {"max_server_per_host": 3}}});
        let r = gw.nova(MEMBER, Method::POST, "/os-server-groups", "2.64", Some(new)).await;
        assert_eq!(r.ok(200)["server_group"]["rules"], json!({"max_server_per_host": 3}));
        // Nova's 400 bodies, with a message saying what to fix.
        for (mv, body, hint) in [
            ("2.64", json!({"server_group": {"name": "x", "policies": ["affinity"]}}), "policy"),
            ("2.1", json!({"server_group": {"name": "x", "policies": ["soft-affinity"]}}), "soft-affinity"),
            ("2.64", json!({"server_group": {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 1}}}), "anti-affinity"),
            ("2.64", json!({"server_group": {"name": "x", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}}), "max_server_per_host"),
            ("2.64", json!({"server_group": {"name": "x", "policy": "nearby"}}), "nearby"),
            ("2.64", json!({"server_group": {"policy": "affinity"}}), "name"),
            ("2.64", json!({"group": {}}), "server_group"),
        ] {
            let msg = gw.nova(MEMBER, Method::POST, "/os-server-groups", mv, Some(body.clone())).await.fault(400);
            assert!(msg.contains(hint), "{body}: {msg}");
        }
        // Paging and its checks.
        let all = gw.nova(MEMBER, Method::GET, "/os-server-groups", "2.64", None).await;
        assert_eq!(ids(&all).len(), 2);
        let page = gw.nova(MEMBER, Method::GET, "/os-server-groups?limit=1&offset=1", "2.64", None).await;
        assert_eq!(ids(&page), ids(&all)[1..]);
        gw.nova(MEMBER, Method::GET, "/os-server-groups?offset=-1", "2.64", None).await.fault(400);
        gw.nova(MEMBER, Method::GET, "/os-server-groups?sort=name", "2.75", None).await.fault(400);
        gw.nova(MEMBER, Method::GET, "/os-server-groups?sort=name", "2.74", None).await.ok(200);
        // Limits count the caller's project's groups.
        let limits = gw.nova(MEMBER, Method::GET, "/limits", "2.64", None).await;
        let abs = &limits.ok(200)["limits"]["absolute"];
        assert_eq!((abs["totalServerGroupsUsed"].as_i64(), abs["maxServerGroups"].as_i64()), (Some(2), Some(10)));
        // Another project: nothing seen, nothing touched, "not found".
        let theirs = json!({"server_group": {"name": "theirs", "policy": "affinity"}});
        let r = gw.nova(OTHER, Method::POST, "/os-server-groups", "2.64", Some(theirs)).await;
        let theirs = r.ok(200)["server_group"]["id"].as_str().unwrap().to_string();
        let listed = gw.nova(OTHER, Method::GET, "/os-server-groups?all_projects=True", "2.64", None).await;
        assert_eq!(ids(&listed), std::slice::from_ref(&theirs), "a member's all_projects is ignored");
        let msg = gw.nova(OTHER, Method::GET, &format!("/os-server-groups/{id}"), "2.64", None).await.fault(404);
        assert_eq!(msg, format!("Instance group {id} could not be found."));
        gw.nova(OTHER, Method::DELETE, &format!("/os-server-groups/{id}"), "2.64", None).await.fault(404);
        let limits = gw.nova(OTHER, Method::GET, "/limits", "2.64", None).await;
        assert_eq!(limits.ok(200)["limits"]["absolute"]["totalServerGroupsUsed"], 1);
        let everyone = gw.nova(ADMIN, Method::GET, "/os-server-groups?all_projects=1", "2.64", None).await;
        assert_eq!(ids(&everyone).len(), 3);
        assert!(ids(&everyone).contains(&theirs));
        // The owner's group is intact; the owner deletes it.
        gw.nova(MEMBER, Method::GET, &format!("/os-server-groups/{id}"), "2.64", None).await.ok(200);
        let r = gw.nova(MEMBER, Method::DELETE, &format!("/os-server-groups/{id}"), "2.64", None).await;
        assert_eq!(r.status.as_u16(), 204);
        gw.nova(MEMBER, Method::GET, &format!("/os-server-groups/{id}"), "2.64", None).await.fault(404);
    }
}

/// A sim pod registered as Pod1/az1 and a flavor `1`.
async fn with_pod(gw: &Gateway) -> tricircle_sim_pod::SimPodHandle {
    let sim =
        tricircle_sim_pod::start(tricircle_sim_pod::SimPodConfig::for_tests("Pod1")).await.unwrap();
    let body = json!({"pod": {"region_name": "Pod1", "az_name": "az1", "auth_url": sim.auth_url(), "identity": "mapped",
        "credentials": {"username": "admin", "password": "secret", "project_name": "admin"}}});
    gw.call(Method::POST, "/admin/v1.0/pods", Some(body)).await.ok(201);
    let flavor =
        json!({"flavor": {"id": "1", "name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1}});
    let r = gw.nova(ADMIN, Method::POST, "/flavors", "2.64", Some(flavor)).await;
    assert!(r.status.is_success(), "{}", r.body);
    sim
}

#[tokio::test]
async fn servers_take_the_group_hint_and_boot_from_volumes() {
    let gw = Gateway::start(tricircle_store::testing::Backend::Sqlite).await.unwrap();
    let sim = with_pod(&gw).await;
    // A bootable volume in az1.
    let v = gw
        .raw(
            Method::POST,
            "/volume/v3/volumes",
            Some(MEMBER),
            Some(json!({"volume": {"size": 1, "name": "root"}}).to_string()),
        )
        .await;
    let vol = v.ok(202)["volume"]["id"].as_str().unwrap().to_string();
    let set = json!({"os-set_bootable": {"bootable": true}}).to_string();
    let r = gw
        .raw(Method::POST, &format!("/volume/v3/volumes/{vol}/action"), Some(MEMBER), Some(set))
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let g = gw
        .nova(
            MEMBER,
            Method::POST,
            "/os-server-groups",
            "2.64",
            Some(json!({"server_group": {"name": "g", "policy": "affinity"}})),
        )
        .await;
    let g = g.ok(200)["server_group"]["id"].as_str().unwrap().to_string();
    let bfv = |hints: Value, az: Option<&str>| {
        let mut server = json!({"name": "bfv", "flavorRef": "1", "networks": "none",
            "block_device_mapping_v2": [{"boot_index": 0, "uuid": vol, "source_type": "volume", "destination_type": "volume"}]});
        if let Some(az) = az {
            server["availability_zone"] = json!(az);
        }
        json!({"server": server, "os:scheduler_hints": hints})
    };
    // Hints the gateway refuses, in Nova's 400 body.
    let msg = gw
        .nova(MEMBER, Method::POST, "/servers", "2.64", Some(bfv(json!({"group": "nope"}), None)))
        .await
        .fault(400);
    assert!(msg.contains("group"), "{msg}");
    let none = "00000000-0000-0000-0000-000000000000";
    let msg = gw
        .nova(MEMBER, Method::POST, "/servers", "2.64", Some(bfv(json!({"group": none}), None)))
        .await
        .fault(400);
    assert_eq!(msg, format!("Instance group {none} could not be found."));
    let msg = gw
        .nova(
            MEMBER,
            Method::POST,
            "/servers",
            "2.64",
            Some(bfv(json!({"same_host": [none]}), None)),
        )
        .await
        .fault(400);
    assert!(msg.contains("same_host"), "{msg}");
    // Another project can use neither the group nor the volume.
    let msg = gw
        .nova(OTHER, Method::POST, "/servers", "2.64", Some(bfv(json!({"group": g}), None)))
        .await
        .fault(400);
    assert!(msg.contains(&vol) || msg.contains(&g), "{msg}");
    // An unknown zone, and malformed mappings.
    gw.nova(MEMBER, Method::POST, "/servers", "2.64", Some(bfv(json!({}), Some("az9"))))
        .await
        .fault(400);
    let bad = json!({"server": {"name": "x", "flavorRef": "1", "block_device_mapping_v2": {"uuid": vol}}});
    gw.nova(MEMBER, Method::POST, "/servers", "2.64", Some(bad)).await.fault(400);
    let bad = json!({"server": {"name": "x", "flavorRef": "1", "block_device_mapping_v2": [{"boot_index": 0, "uuid": vol, "source_type": "tape"}]}});
    let msg = gw.nova(MEMBER, Method::POST, "/servers", "2.64", Some(bad)).await.fault(400);
    assert!(msg.contains("source_type"), "{msg}");
    // Booted from the volume, in the group.
    let r = gw
        .nova(MEMBER, Method::POST, "/servers", "2.64", Some(bfv(json!({"group": g}), None)))
        .await;
    let server = r.ok(202)["server"]["id"].as_str().unwrap().to_string();
    let shown = gw.nova(MEMBER, Method::GET, &format!("/servers/{server}"), "2.96", None).await;
    let s = &shown.ok(200)["server"];
    assert_eq!(s["server_groups"], json!([g]), "{s}");
    assert_eq!(s["os-extended-volumes:volumes_attached"][0]["id"], vol.as_str(), "{s}");
    let group = gw.nova(MEMBER, Method::GET, &format!("/os-server-groups/{g}"), "2.64", None).await;
    assert_eq!(group.ok(200)["server_group"]["members"], json!([server]));
    let v = gw.raw(Method::GET, &format!("/volume/v3/volumes/{vol}"), Some(MEMBER), None).await;
    assert_eq!(v.ok(200)["volume"]["status"], "in-use");
    // The same volume again: the pod's refusal, with the top's IDs only.
    let r = gw.nova(MEMBER, Method::POST, "/servers", "2.64", Some(bfv(json!({}), None))).await;
    let msg = r.fault(400);
    assert!(msg.contains(&vol) && msg.contains("in-use"), "{msg}");
    let pod_state = sim.control().state_json();
    for b in pod_state["volume"]["volumes"].as_object().unwrap().keys() {
        assert!(!msg.contains(b.as_str()), "a pod ID leaked: {msg}");
    }
    sim.shutdown().await;
    gw.cleanup().await;
}
