//! Servers across sim pods through the domain layer: placement, the merged
//! and paged listing (a property), a pod that is down, failure injection in
//! the create saga, and one image copy per pod under concurrent boots.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use tricircle_common::{AuthContext, RequestContext, RequestId};
use tricircle_core::compute::server_create::ServerSpec;
use tricircle_core::compute::{FlavorSpec, ServerListQuery};
use tricircle_core::identity::bootstrap::bootstrap;
use tricircle_core::images::ImageSpec;
use tricircle_core::pods::{IdentityMode, PodCredentials, PodSpec};
use tricircle_core::{App, SecretBox, Settings};
use tricircle_sim_pod::{FaultRule, SimPodConfig, SimPodHandle};
use tricircle_store::testing::TestDb;

struct World {
    app: App,
    pods: Vec<SimPodHandle>,
    demo: RequestContext,
    image: String,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

fn ctx(user: &str, project: &str, roles: &[&str]) -> RequestContext {
    RequestContext {
        request_id: RequestId::new(),
        auth: AuthContext {
            user_id: user.into(),
            user_name: user.into(),
            project_id: Some(project.into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        },
    }
}

async fn world(n: usize) -> World {
    let db = TestDb::sqlite().await;
    let b = bootstrap(&db.store, "pw").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(1000);
    settings.image_dir = dir.path().join("images");
    settings.pod_timeout = Duration::from_secs(2);
    settings.list_deadline = Duration::from_millis(800);
    settings.saga_retry_delay = Duration::ZERO;
    let app = App::new(db.store.clone(), SecretBox::from_key([3; 32]), settings);
    let admin = ctx(&b.admin_user_id, &b.admin_project_id, &["admin", "member"]);
    let mut pods = Vec::new();
    for i in 1..=n {
        let pod =
            tricircle_sim_pod::start(SimPodConfig::for_tests(&format!("Pod{i}"))).await.unwrap();
        let spec = PodSpec {
            region_name: format!("Pod{i}"),
            az_name: Some(format!("az{i}")),
            auth_url: Some(pod.auth_url()),
            identity: Some(IdentityMode::Mapped),
            credentials: Some(PodCredentials {
                username: "admin".into(),
                password: "secret".into(),
                project_name: "admin".into(),
                user_domain_name: "Default".into(),
                project_domain_name: "Default".into(),
            }),
            ..Default::default()
        };
        app.pod_create(&admin, spec).await.unwrap();
        pods.push(pod);
    }
    app.flavor_create(
        &admin,
        FlavorSpec {
            id: Some("1".into()),
            name: "m1.tiny".into(),
            vcpus: 1,
            ram_mb: 512,
            disk_gb: 1,
            is_public: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let image = app
        .image_create(
            &admin,
            ImageSpec {
                name: Some("cirros".into()),
                visibility: Some("public".into()),
                disk_format: Some("raw".into()),
                container_format: Some("bare".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let data = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"tiny image bytes",
    ))]);
    app.image_upload(&admin, &image.id, data).await.unwrap();
    let demo = ctx("demo-user", "demo-project", &["member"]);
    World { app, pods, demo, image: image.id, _db: db, _dir: dir }
}

impl World {
    async fn create(
        &self,
        name: &str,
        az: Option<&str>,
    ) -> Result<String, tricircle_common::Error> {
        let spec = ServerSpec {
            name: name.into(),
            flavor_ref: "1".into(),
            image_ref: Some(self.image.clone()),
            availability_zone: az.map(str::to_string),
            ..Default::default()
        };
        self.app
            .server_create(&self.demo, spec)
            .await
            .map(|(v, _)| v["id"].as_str().unwrap().to_string())
    }

    async fn list(
        &self,
        sort: Vec<(String, bool)>,
        limit: u32,
        marker: Option<String>,
    ) -> tricircle_core::compute::ServerPage {
        let q = ServerListQuery { sort, limit, marker, ..Default::default() };
        self.app.server_list(&self.demo, q).await.unwrap()
    }
}

fn ids(views: &[Value]) -> Vec<String> {
    views.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn placement_listing_and_one_call_per_pod() {
    let w = world(3).await;
    let a = w.create("a", Some("az1")).await.unwrap();
    let b = w.create("b", Some("az2")).await.unwrap();
    let c = w.create("c", None).await.unwrap();
    let page = w.list(vec![("name".into(), true)], 1000, None).await;
    assert_eq!(ids(&page.servers), [a.clone(), b.clone(), c.clone()]);
    let zones: Vec<_> =
        page.servers.iter().map(|v| v["OS-EXT-AZ:availability_zone"].as_str().unwrap()).collect();
    assert_eq!(zones[..2], ["az1", "az2"]);
    assert_eq!(zones[2], "az3", "no AZ: the least loaded pod");
    assert!(
        page.servers.iter().all(|v| v["status"] == "ACTIVE" && v["tenant_id"] == "demo-project")
    );
    // One bottom list per pod per page.
    for p in &w.pods {
        p.control().reset_counters();
    }
    w.list(vec![], 2, None).await;
    for p in &w.pods {
        let calls = p.control().counters().get("compute.server_list_detail").copied().unwrap_or(0);
        assert_eq!(calls, 1, "region {}", p.region());
    }
    // Another project sees none of them.
    let other = ctx("u2", "other-project", &["member"]);
    let q = ServerListQuery { limit: 100, ..Default::default() };
    assert!(w.app.server_list(&other, q).await.unwrap().servers.is_empty());
    assert_eq!(w.app.server_show(&other, &a, None).await.unwrap_err().status(), 404);
    assert_eq!(w.app.server_delete(&other, &a).await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn paging_returns_the_sorted_union_without_gaps() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let w = world(3).await;
    let azs = [Some("az1"), Some("az2"), Some("az3"), None];
    let names = [
        "kilo", "alpha", "mike", "alpha", "bravo", "zulu", "echo", "delta", "alpha", "golf",
        "hotel",
    ];
    for (i, n) in names.iter().enumerate() {
        w.create(n, azs[(i * 7 + 3) % azs.len()]).await.unwrap();
    }
    let keys = ["name", "created", "id", "OS-EXT-AZ:availability_zone"];
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 24,
        failure_persistence: None,
        ..Default::default()
    });
    let strategy = (0..keys.len(), any::<bool>(), 0..keys.len(), any::<bool>(), 1u32..6);
    let cases: Vec<_> =
        (0..24).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect();
    for (k1, a1, k2, a2, limit) in cases {
        let sort = vec![(keys[k1].to_string(), a1), (keys[k2].to_string(), a2)];
        let full = w.list(sort.clone(), 1000, None).await.servers;
        assert_eq!(full.len(), names.len());
        let mut paged = Vec::new();
        let mut marker = None;
        loop {
            let page = w.list(sort.clone(), limit, marker.clone()).await;
            assert!(page.servers.len() <= limit as usize);
            paged.extend(ids(&page.servers));
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        assert_eq!(paged, ids(&full), "sort {sort:?} limit {limit}");
        assert_eq!(paged.iter().collect::<HashSet<_>>().len(), paged.len());
        // The order is the requested one, the top ID breaking ties.
        for pair in full.windows(2) {
            let mut ord = std::cmp::Ordering::Equal;
            for (key, asc) in &sort {
                let (x, y) = (pair[0][key.as_str()].to_string(), pair[1][key.as_str()].to_string());
                let o = if *asc { x.cmp(&y) } else { y.cmp(&x) };
                if o != std::cmp::Ordering::Equal {
                    ord = o;
                    break;
                }
            }
            if ord == std::cmp::Ordering::Equal {
                ord = pair[0]["id"].as_str().cmp(&pair[1]["id"].as_str());
            }
            assert_eq!(ord, std::cmp::Ordering::Less, "sort {sort:?}: out of order");
        }
    }
}

#[tokio::test]
async fn a_pod_that_is_down() {
    let w = world(2).await;
    let a = w.create("a", Some("az1")).await.unwrap();
    let b = w.create("b", Some("az2")).await.unwrap();
    w.pods[1].control().set_down(true);
    let started = std::time::Instant::now();
    let page = w.list(vec![("name".into(), true)], 100, None).await;
    assert!(started.elapsed() < Duration::from_secs(3), "answered within the deadline");
    assert!(page.partial);
    assert_eq!(ids(&page.servers), [a.clone(), b.clone()]);
    assert_eq!(page.servers[0]["status"], "ACTIVE");
    assert_eq!(page.servers[1]["status"], "UNKNOWN");
    assert_eq!(w.app.server_show(&w.demo, &b, None).await.unwrap()["status"], "UNKNOWN");
    // The admin view counts what the gateway saw of each pod.
    let pods = w.app.store().pod_list().await.unwrap();
    let stats = |region: &str| {
        let id = pods.iter().find(|p| p.region_name == region).unwrap().pod_id;
        let app = w.app.clone();
        async move { app.pod_call_stats(id).await }
    };
    let (up, down) = (stats("Pod1").await, stats("Pod2").await);
    assert!(up.calls > 0 && up.failures == 0, "{up:?}");
    assert!(down.failures >= 2 && down.last_failure_at > down.last_success_at, "{down:?}");
    // Creating there: a clear 503 naming the zone, and nothing left behind.
    let err = w.create("c", Some("az2")).await.unwrap_err();
    assert_eq!(err.status(), 503);
    assert!(err.external_message().contains("az2"), "{}", err.external_message());
    assert_eq!(w.list(vec![], 100, None).await.servers.len(), 2, "the failed server is not shown");
    w.pods[1].control().set_down(false);
    // The pod binds its listener again in the background: wait for it.
    while tokio::net::TcpStream::connect(w.pods[1].addr()).await.is_err() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!w.list(vec![], 100, None).await.partial);
    // The runner finishes the unwind once the pod answers: nothing is left.
    let runner =
        tricircle_jobs::Runner::new(w.app.store().clone(), tricircle_jobs::RunnerConfig::new("t"))
            .with_handler(tricircle_jobs::saga::SagaJob::<
            tricircle_core::compute::server_create::ServerCreate,
        >::new(
            std::sync::Arc::new(w.app.clone()),
            w.app.store().clone(),
            &tricircle_jobs::kinds::SERVER_CREATE,
        ));
    while runner.run_once().await.unwrap().is_some() {}
    let rows = w.app.store().resource_list("server", Some("demo-project")).await.unwrap();
    assert_eq!(rows.len(), 2, "no half-created server at the top");
    let routings = w
        .app
        .store()
        .routing_list(&Default::default(), &tricircle_store::Page { limit: 100, marker: None })
        .await
        .unwrap();
    assert_eq!(routings.iter().filter(|r| r.resource_type == "server").count(), 2);
}

#[tokio::test]
async fn a_failed_create_unwinds_everywhere() {
    let w = world(1).await;
    w.create("warm", Some("az1")).await.unwrap();
    for status in [500, 400] {
        w.pods[0].control().add_fault(FaultRule {
            count: Some(1),
            ..FaultRule::error("compute.server_create", status)
        });
        let err = w.create("doomed", Some("az1")).await.unwrap_err();
        assert!(matches!(err.status(), 503 | 400), "{status}: {err:?}");
        let rows = w.app.store().resource_list("server", Some("demo-project")).await.unwrap();
        assert_eq!(rows.len(), 1, "{status}: only the first server remains at the top");
        let routings = w
            .app
            .store()
            .routing_list(&Default::default(), &tricircle_store::Page { limit: 100, marker: None })
            .await
            .unwrap();
        assert_eq!(
            routings.iter().filter(|r| r.resource_type == "server").count(),
            1,
            "{status}: no routing left"
        );
        let state = w.pods[0].control().state_json().to_string();
        assert!(!state.contains("doomed"), "the top name never reaches the pod");
    }
    assert_eq!(w.list(vec![], 10, None).await.servers.len(), 1);
}

#[tokio::test]
async fn concurrent_boots_copy_the_image_once() {
    let w = world(1).await;
    let (x, y, z) = tokio::join!(
        w.create("x", Some("az1")),
        w.create("y", Some("az1")),
        w.create("z", Some("az1"))
    );
    x.unwrap();
    y.unwrap();
    z.unwrap();
    let counters = w.pods[0].control().counters();
    assert_eq!(counters.get("image.image_create").copied(), Some(1), "{counters:?}");
    assert_eq!(counters.get("image.image_upload").copied(), Some(1), "{counters:?}");
}

#[tokio::test]
async fn the_periodic_refresh_keeps_the_cache_current() {
    let w = world(1).await;
    let a = w.create("a", Some("az1")).await.unwrap();
    w.list(vec![], 10, None).await;
    let cached = |id: String| {
        let app = w.app.clone();
        async move { app.store().resource_get(&id).await.unwrap().unwrap().status }
    };
    assert_eq!(cached(a.clone()).await, "ACTIVE");
    w.app.server_action(&w.demo, &a, &serde_json::json!({"os-stop": null}), None).await.unwrap();
    assert_eq!(cached(a.clone()).await, "ACTIVE", "nothing read it since");
    assert_eq!(w.app.refresh_summaries().await.unwrap(), 1);
    assert_eq!(cached(a.clone()).await, "SHUTOFF");
    // With the pod down, what the cache says is what a listing shows.
    w.pods[0].control().set_down(true);
    let page = w.list(vec![], 10, None).await;
    assert_eq!(page.servers[0]["status"], "UNKNOWN");
    assert_eq!(cached(a).await, "SHUTOFF", "a failed read does not overwrite the cache");
}

#[tokio::test]
async fn metadata_is_forwarded_and_the_gateways_key_hidden() {
    let w = world(1).await;
    let a = w.create("a", Some("az1")).await.unwrap();
    let put = serde_json::json!({"metadata": {"color": "blue"}});
    let (_, out) = w
        .app
        .server_subresource(&w.demo, &a, reqwest::Method::PUT, "metadata", Some(put), None)
        .await
        .unwrap();
    assert_eq!(
        out["metadata"],
        serde_json::json!({"color": "blue"}),
        "the gateway's key is not shown"
    );
    let (_, out) = w
        .app
        .server_subresource(&w.demo, &a, reqwest::Method::GET, "metadata", None, None)
        .await
        .unwrap();
    assert_eq!(out["metadata"], serde_json::json!({"color": "blue"}));
    let err = w
        .app
        .server_subresource(
            &w.demo,
            &a,
            reqwest::Method::DELETE,
            "metadata/tricircle_top_id",
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    // Replacing all metadata kept the key the gateway finds its server by.
    let show = w.app.server_show(&w.demo, &a, None).await.unwrap();
    assert_eq!(show["metadata"], serde_json::json!({"color": "blue"}));
    let other = ctx("u2", "other-project", &["member"]);
    let err = w
        .app
        .server_subresource(&other, &a, reqwest::Method::GET, "metadata", None, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 404);
}

#[tokio::test]
async fn a_snapshot_made_in_one_pod_boots_in_another() {
    let w = world(2).await;
    let a = w.create("a", Some("az1")).await.unwrap();
    let (status, out) = w
        .app
        .server_action(&w.demo, &a, &serde_json::json!({"createImage": {"name": "snap"}}), None)
        .await
        .unwrap();
    assert_eq!(status, 202);
    let snap = out["image_id"].as_str().unwrap().to_string();
    let mut image = w.app.image_get(&w.demo, &snap).await.unwrap();
    for _ in 0..50 {
        if image.status == "active" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        image = w.app.image_get(&w.demo, &snap).await.unwrap();
    }
    assert_eq!(
        (image.status.as_str(), image.visibility.as_str(), image.owner.as_str()),
        ("active", "private", "demo-project")
    );
    assert!(image.checksum.is_some());
    // Another project does not see the snapshot.
    assert_eq!(
        w.app
            .image_get(&ctx("u2", "other-project", &["member"]), &snap)
            .await
            .unwrap_err()
            .status(),
        404
    );
    // Boot it in the other pod: its bytes travel through the gateway.
    let spec = ServerSpec {
        name: "b".into(),
        flavor_ref: "1".into(),
        image_ref: Some(snap.clone()),
        availability_zone: Some("az2".into()),
        ..Default::default()
    };
    let (b, _) = w.app.server_create(&w.demo, spec).await.unwrap();
    let shown = w.app.server_show(&w.demo, b["id"].as_str().unwrap(), None).await.unwrap();
    assert_eq!(shown["OS-EXT-AZ:availability_zone"], "az2");
    assert_eq!(shown["image"]["id"], snap.as_str());
    let (img, file) = w.app.image_download(&w.demo, &snap).await.unwrap();
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut file.unwrap(), &mut bytes).await.unwrap();
    let md5: String = {
        use md5::Digest;
        md5::Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(Some(md5), img.checksum, "the bytes are the snapshot's");
}

#[tokio::test]
async fn pods_cut_within_a_second_still_page_without_gaps() {
    let w = world(3).await;
    // More servers per pod than a small page asks of it, most created in
    // the same second: the sim pod orders a second by its own clock, the
    // top by the top ID, so every cut pod holds back its last second.
    let mut all = Vec::new();
    for i in 0..36 {
        all.push(w.create(&format!("s{i}"), Some(["az1", "az2", "az3"][i % 3])).await.unwrap());
    }
    let sorts: [Vec<(String, bool)>; 4] = [
        vec![],
        vec![("created".into(), true)],
        vec![("id".into(), false)],
        vec![("created".into(), false), ("id".into(), false)],
    ];
    for sort in sorts {
        let full = w.list(sort.clone(), 1000, None).await.servers;
        let mut want = all.clone();
        want.sort_by(|a, b| {
            let (va, vb) =
                (full.iter().find(|v| v["id"] == *a), full.iter().find(|v| v["id"] == *b));
            let key = |v: Option<&Value>, f: &str| v.unwrap()[f].as_str().unwrap().to_string();
            let mut ord = std::cmp::Ordering::Equal;
            let effective =
                if sort.is_empty() { vec![("created".to_string(), false)] } else { sort.clone() };
            for (f, asc) in &effective {
                let o = key(va, f).cmp(&key(vb, f));
                ord = ord.then(if *asc { o } else { o.reverse() });
            }
            ord.then(a.cmp(b))
        });
        assert_eq!(ids(&full), want, "sort {sort:?}: the whole list in the top's order");
        for limit in [1, 5, 13] {
            let (mut paged, mut marker) = (Vec::new(), None);
            loop {
                let page = w.list(sort.clone(), limit, marker.clone()).await;
                assert!(page.servers.len() <= limit as usize);
                paged.extend(ids(&page.servers));
                match page.next_marker {
                    Some(m) => marker = Some(m),
                    None => break,
                }
            }
            assert_eq!(paged, want, "sort {sort:?} limit {limit}: no gap, no duplicate");
        }
    }
    // Each pod is asked first for its expected share of the page (at most
    // the page) plus a little (8), sorted its way, not for everything it
    // holds (12). (Pods cut within the page's second are asked again: they
    // hold it back.)
    for p in &w.pods {
        p.control().reset_counters();
    }
    let page = w.list(vec![], 2, None).await;
    assert_eq!(page.servers.len(), 2);
    let mut shares = 0;
    for p in &w.pods {
        let asked = p.control().queries("compute.server_list_detail");
        assert!(!asked.is_empty(), "region {}", p.region());
        let first = &asked[0];
        let limit: u32 = first
            .strip_prefix("limit=")
            .and_then(|rest| rest.split('&').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("region {}: {first}", p.region()));
        assert!((8..=10).contains(&limit), "region {}: {first}", p.region());
        shares += limit - 8;
        assert!(
            first.contains("sort_key=created_at") && first.contains("sort_key=display_name"),
            "{first}"
        );
    }
    assert!(shares >= 2, "the pods' shares make up at least the page");
    // Sorting by the name (the top's) asks each pod once for all.
    for p in &w.pods {
        p.control().reset_counters();
    }
    w.list(vec![("name".into(), true)], 2, None).await;
    for p in &w.pods {
        assert_eq!(p.control().queries("compute.server_list_detail").len(), 1);
    }
    // A pod that is down: its servers from the cache as UNKNOWN, in order.
    w.pods[2].control().set_down(true);
    let page = w.list(vec![], 1000, None).await;
    assert!(page.partial);
    let full = ids(&page.servers);
    let mut sorted_want = all.clone();
    sorted_want.sort();
    let mut got = full.clone();
    got.sort();
    assert_eq!(got, sorted_want, "every server still listed");
    let unknown = page.servers.iter().filter(|v| v["status"] == "UNKNOWN").count();
    assert_eq!(unknown, 12, "the down pod's third");
}
