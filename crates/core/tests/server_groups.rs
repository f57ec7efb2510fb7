//! Server groups across sim pods through the domain layer: CRUD, quotas
//! and project isolation; affinity keeping every member in one pod and
//! anti-affinity spreading them; a zone that conflicts with an affinity
//! group; the pod's copy of a group (made on first use, named after the
//! top ID, the bottom server booted with it); a pod failing while it makes
//! the copy (nothing left half-made); deleting a group deletes its copies.

mod common;

use std::collections::HashSet;

use common::{World, ctx, objects, world};
use serde_json::{Map, Value, json};
use tricircle_core::compute::server_groups::ServerGroupSpec;
use tricircle_sim_pod::FaultRule;

fn spec(name: &str, policy: &str) -> ServerGroupSpec {
    ServerGroupSpec { name: name.into(), policy: policy.into(), rules: Map::new() }
}

impl World {
    async fn group(&self, policy: &str) -> String {
        self.app.server_group_create(&self.demo, spec("g", policy)).await.unwrap().group.id
    }

    async fn member(&self, name: &str, group: &str, az: Option<&str>) -> Result<String, u16> {
        let mut s = self.spec(name);
        s.group = Some(group.into());
        s.availability_zone = az.map(str::to_string);
        self.create(s).await.map_err(|e| e.status())
    }

    /// The bottom groups of pod `i`, as (name, members) pairs.
    fn bottom_groups(&self, i: usize) -> Vec<(String, Vec<String>)> {
        objects(&self.pod_state(i), "compute", "server_groups")
            .into_iter()
            .map(|g| {
                let members = g["members"].as_array().unwrap().iter();
                let members = members.map(|m| m.as_str().unwrap().to_string()).collect();
                (g["name"].as_str().unwrap().to_string(), members)
            })
            .collect()
    }

    /// The pod's server IDs of the top servers `ids` in pod `i`.
    fn bottom_servers(&self, i: usize, ids: &[String]) -> HashSet<String> {
        objects(&self.pod_state(i), "compute", "servers")
            .into_iter()
            .filter(|s| ids.iter().any(|id| s["name"] == id.as_str()))
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn groups_are_checked_paged_and_kept_to_their_project() {
    let w = world(1).await;
    let app = &w.app;
    let bad = |name: &str, policy: &str, rules: Value| ServerGroupSpec {
        name: name.into(),
        policy: policy.into(),
        rules: rules.as_object().unwrap().clone(),
    };
    for (s, why) in [
        (bad("g", "closest", json!({})), "unknown policy"),
        (bad(" g", "affinity", json!({})), "leading space"),
        (bad("g", "affinity", json!({"max_server_per_host": 2})), "rules on affinity"),
        (bad("g", "anti-affinity", json!({"max_server_per_host": 0})), "zero per host"),
    ] {
        let err = app.server_group_create(&w.demo, s).await.unwrap_err();
        assert_eq!(err.status(), 400, "{why}: {err:?}");
    }
    let rules = bad("spread", "anti-affinity", json!({"max_server_per_host": "2"}));
    let made = app.server_group_create(&w.demo, rules).await.unwrap();
    assert_eq!(made.rules(), json!({"max_server_per_host": 2}).as_object().unwrap().clone());
    assert_eq!(
        (made.group.project_id.as_str(), made.group.user_id.as_str()),
        ("demo-project", "demo-user")
    );
    let mut ids = vec![made.group.id.clone()];
    for i in 1..10 {
        ids.push(
            app.server_group_create(&w.demo, spec(&format!("g{i}"), "affinity"))
                .await
                .unwrap()
                .group
                .id,
        );
    }
    let err = app.server_group_create(&w.demo, spec("eleventh", "affinity")).await.unwrap_err();
    assert_eq!(
        (err.status(), err.external_message()),
        (403, "Quota exceeded, too many server groups.")
    );
    assert_eq!(app.server_group_count(&w.demo).await.unwrap(), 10);
    // Paging by offset, oldest first, the same order as a whole list.
    let all: Vec<String> = app
        .server_group_list(&w.demo, false, 100, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.group.id)
        .collect();
    assert_eq!(all, ids);
    let page: Vec<String> = app
        .server_group_list(&w.demo, false, 3, 4)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.group.id)
        .collect();
    assert_eq!(page, ids[4..7]);
    // Project B sees none of them and cannot touch them; "all projects" from
    // a member is ignored; admin sees them with it.
    let other = ctx("u2", "other-project", &["member"]);
    assert!(app.server_group_list(&other, true, 100, 0).await.unwrap().is_empty());
    assert_eq!(app.server_group_get(&other, &ids[0]).await.unwrap_err().status(), 404);
    assert_eq!(app.server_group_delete(&other, &ids[0]).await.unwrap_err().status(), 404);
    let mut hinted = w.spec("sneaky");
    hinted.group = Some(ids[1].clone());
    let err = app.server_create(&other, hinted).await.unwrap_err();
    assert_eq!(err.status(), 400, "another project's group cannot be found: {err:?}");
    assert_eq!(app.server_group_count(&other).await.unwrap(), 0);
    assert_eq!(app.server_group_list(&w.admin, true, 100, 0).await.unwrap().len(), 10);
    assert!(app.server_group_list(&w.admin, false, 100, 0).await.unwrap().is_empty());
    // The owner still has it, then deletes it.
    assert_eq!(app.server_group_get(&w.demo, &ids[0]).await.unwrap().group.name, "spread");
    app.server_group_delete(&w.demo, &ids[0]).await.unwrap();
    assert_eq!(app.server_group_get(&w.demo, &ids[0]).await.unwrap_err().status(), 404);
    assert_eq!(app.server_group_count(&w.demo).await.unwrap(), 9);
}

#[tokio::test]
async fn affinity_keeps_every_member_in_the_first_members_pod() {
    let w = world(3).await;
    // Load Pod1 and Pod2 so the scheduler alone would choose Pod3 next, then
    // Pod3 would fill up and others follow.
    w.create(w.spec("load-1")).await.unwrap();
    w.create(w.spec("load-2")).await.unwrap();
    let g = w.group("affinity").await;
    let mut members = Vec::new();
    for i in 0..4 {
        members.push(w.member(&format!("aff-{i}"), &g, None).await.unwrap());
    }
    let mut pods = HashSet::new();
    for m in &members {
        pods.insert(w.pod_of(m).await);
    }
    assert_eq!(pods.len(), 1, "every member in one pod: {pods:?}");
    let pod = *pods.iter().next().unwrap();
    // The top lists the members; the pod holds one copy of the group,
    // named after the top ID, whose members are exactly the bottom servers.
    let shown = w.app.server_group_get(&w.demo, &g).await.unwrap();
    assert_eq!(shown.members, members);
    let copies = w.bottom_groups(pod);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0].0, g);
    let bottom_members: HashSet<String> = copies[0].1.iter().cloned().collect();
    assert_eq!(bottom_members, w.bottom_servers(pod, &members));
    for other in (0..3).filter(|i| *i != pod) {
        assert!(w.bottom_groups(other).is_empty(), "no copy in pod {other}");
    }
    let routings = w.routings("server_group").await;
    assert_eq!(routings.len(), 1);
    assert!(routings[0].bottom_id.is_some());
    // The server view names the top group (compute 2.71+), not the pod's copy.
    let mv = "2.96".parse().ok();
    let v = w.app.server_show(&w.demo, &members[0], mv).await.unwrap();
    assert_eq!(v["server_groups"], json!([g]), "{v}");
    // A zone that is not the group's: 400 naming both, nothing made.
    let other_az = format!("az{}", (pod + 1) % 3 + 1);
    let mut s = w.spec("elsewhere");
    s.group = Some(g.clone());
    s.availability_zone = Some(other_az.clone());
    let err = w.create(s).await.unwrap_err();
    assert_eq!(err.status(), 400, "{err:?}");
    let msg = err.external_message();
    assert!(msg.contains(&format!("az{}", pod + 1)) && msg.contains(&other_az), "{msg}");
    assert_eq!(w.app.server_group_get(&w.demo, &g).await.unwrap().members.len(), 4);
    // Its own zone is fine.
    assert!(w.member("same", &g, Some(&format!("az{}", pod + 1))).await.is_ok());
    // Once every member is gone the group may start anywhere again.
    for m in w.app.server_group_get(&w.demo, &g).await.unwrap().members {
        w.app.server_delete(&w.demo, &m).await.unwrap();
    }
    assert!(w.app.server_group_get(&w.demo, &g).await.unwrap().members.is_empty());
}

#[tokio::test]
async fn anti_affinity_spreads_members_over_pods_and_hosts() {
    let w = world(3).await;
    let g = w.group("anti-affinity").await;
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(w.member(&format!("spread-{i}"), &g, None).await.unwrap());
    }
    let mut pods = HashSet::new();
    for m in &members {
        pods.insert(w.pod_of(m).await);
    }
    assert_eq!(pods.len(), 3, "one member per pod");
    // A fourth and fifth share a pod with earlier ones; the pod's copy of
    // the group keeps them on different hosts there.
    let four = w.member("spread-3", &g, Some("az1")).await.unwrap();
    members.push(four);
    let state = w.pod_state(0);
    let hosts: Vec<String> = objects(&state, "compute", "servers")
        .into_iter()
        .filter(|s| members.iter().any(|m| s["name"] == m.as_str()))
        .map(|s| s["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts.len(), 2, "two members in Pod1: {hosts:?}");
    assert_ne!(hosts[0], hosts[1], "on two hosts");
    assert_eq!(w.bottom_groups(0).len(), 1, "one copy per pod");
    // Pod1 has two hosts: a third member there cannot be placed by the pod.
    let five = w.member("spread-4", &g, Some("az1")).await.unwrap();
    let v = w.app.server_show(&w.demo, &five, None).await.unwrap();
    assert_eq!(v["status"], "ERROR", "the pod found no valid host: {v}");
}

#[tokio::test]
async fn a_pod_failing_to_make_the_group_copy_leaves_nothing() {
    let w = world(1).await;
    let g = w.group("anti-affinity").await;
    for status in [500, 400] {
        w.pods[0].control().add_fault(FaultRule {
            count: Some(1),
            ..FaultRule::error("compute.server_group_create", status)
        });
        let err = w.member("doomed", &g, None).await.unwrap_err();
        assert!(matches!(err, 503 | 400), "{status}: {err}");
        assert!(w.app.store().resource_list("server", None).await.unwrap().is_empty());
        assert!(w.routings("server_group").await.is_empty(), "{status}: no half-made routing");
        assert!(w.routings("server").await.is_empty());
        assert!(w.app.server_group_get(&w.demo, &g).await.unwrap().members.is_empty());
        assert!(w.bottom_groups(0).is_empty());
        assert!(objects(&w.pod_state(0), "compute", "servers").is_empty());
    }
    // The pod answering again: the copy is made on this first use.
    let s = w.member("fine", &g, None).await.unwrap();
    assert_eq!(
        w.bottom_groups(0),
        vec![(g.clone(), w.bottom_servers(0, &[s]).into_iter().collect())]
    );
}

#[tokio::test]
async fn deleting_a_group_deletes_its_copy_in_every_pod() {
    let w = world(2).await;
    let g = w.group("soft-anti-affinity").await;
    let a = w.member("a", &g, None).await.unwrap();
    let b = w.member("b", &g, None).await.unwrap();
    assert_ne!(w.pod_of(&a).await, w.pod_of(&b).await, "soft anti-affinity spreads too");
    assert_eq!(w.routings("server_group").await.len(), 2);
    // A pod that does not answer: 503 naming it; the group stays.
    w.pods[1].control().set_down(true);
    let err = w.app.server_group_delete(&w.demo, &g).await.unwrap_err();
    assert_eq!(err.status(), 503, "{err:?}");
    assert!(err.external_message().contains("Pod2"), "{}", err.external_message());
    assert!(w.app.server_group_get(&w.demo, &g).await.is_ok());
    w.pods[1].control().set_down(false);
    while tokio::net::TcpStream::connect(w.pods[1].addr()).await.is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    w.app.server_group_delete(&w.demo, &g).await.unwrap();
    assert!(w.routings("server_group").await.is_empty());
    assert!(w.bottom_groups(0).is_empty() && w.bottom_groups(1).is_empty());
    // The servers stay, out of any group.
    for s in [&a, &b] {
        let v = w.app.server_show(&w.demo, s, "2.96".parse().ok()).await.unwrap();
        assert_eq!(v["status"], "ACTIVE");
    }
}
