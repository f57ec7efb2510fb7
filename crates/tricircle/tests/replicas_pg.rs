//! Two gateway replicas on one PostgreSQL database (DESIGN §5: "several
//! gateway replicas on one PostgreSQL share the work"), with real
//! processes: `tricircle serve` twice, started at the same moment on a new
//! database and an empty data dir (migrations, identity bootstrap and the
//! secret files race), two standalone sim pods registered through one of
//! them, requests alternating between them (servers, a network, a security
//! group and its rules, so sync jobs run too; reads through the other
//! replica), then replica A is killed with SIGKILL while it runs inline
//! jobs and the survivor keeps taking requests. The survivor's runner takes
//! A's jobs over once their 5-second leases run out. Checked: every job
//! ended SUCCESS or FAIL with a reason, no two attempts of one job nor of
//! one (type, resource) overlap, A's open attempts are LEASE_LOST and the
//! job was finished by B, top and pods agree (no orphan, no twin), and both
//! replicas gave the same answers while both were up (and again after A
//! is started beside B).
//!
//! Replicas share their data dir: the secret key that seals pod
//! credentials, the bootstrap admin token and password, and the image store
//! must be the same for all of them (an image uploaded through one is
//! copied into a pod by the other).
//!
//! Runs when `TRICIRCLE_TEST_PG` names a PostgreSQL server (CI sets
//! `postgres://postgres@127.0.0.1:5432/postgres`); it creates a database of
//! its own (`tc_<uuid>`) and drops it at the end, also when it fails.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use common::consistency::check_world;
use common::joblog::{check_job_log, check_same_resource_never_overlaps, job_logs, wait_quiescent};
use common::procs::{
    Api, GatewaySpec, Kind, Seen, SimPod, TestDir, pod_add, send_counted, wait_answers,
};
use reqwest::Method;
use serde_json::{Value, json};

/// A database of this test's own, dropped when the test ends (however).
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> PgDatabase {
        let name = format!("tc_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("TRICIRCLE_TEST_PG is set but unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .expect("create the test database");
        pool.close().await;
        let (server, _) = admin_url.rsplit_once('/').expect("a database URL");
        let url = format!("{server}/{name}");
        PgDatabase { admin_url: admin_url.into(), name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // A drop cannot await: a thread of its own with its own runtime.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let pool = sqlx::PgPool::connect(&url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let done = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.ok();
                pool.close().await;
                done
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Server `i` of a batch: zones az1, az2 and none in turn; every other one
/// on the network with the group `web` (so its port and group get copies).
fn server_body(name: &str, i: usize, image: &str, net: &str) -> Value {
    let az = [Some("az1"), Some("az2"), None][i % 3];
    let mut server = json!({"name": name, "flavorRef": "1", "imageRef": image});
    if i.is_multiple_of(2) {
        server["networks"] = json!([{"uuid": net}]);
        server["security_groups"] = json!([{"name": "web"}]);
    } else {
        server["networks"] = json!("none");
    }
    if let Some(az) = az {
        server["availability_zone"] = json!(az);
    }
    json!({"server": server})
}

/// What a client compares between replicas: the servers (ID, name,
/// status, zone, addresses), sorted.
async fn server_view(api: &Api) -> Vec<Value> {
    let list = api.get("/compute/v2.1/servers/detail?all_tenants=1").await;
    let mut out: Vec<Value> = list["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| {
            json!([
                s["id"],
                s["name"],
                s["status"],
                s["OS-EXT-AZ:availability_zone"],
                s["addresses"]
            ])
        })
        .collect();
    out.sort_by_key(|v| v[0].to_string());
    out
}

/// The same reads through both replicas give the same answers.
async fn same_answers(a: &Api, b: &Api, net: &str, sg: &str) {
    let (va, vb) = (server_view(a).await, server_view(b).await);
    assert_eq!(va, vb, "the replicas list different servers");
    for path in [
        format!("/networking/v2.0/networks/{net}"),
        format!("/networking/v2.0/security-groups/{sg}"),
        "/networking/v2.0/ports?sort_key=id&sort_dir=asc".to_string(),
        "/admin/v1.0/routings?limit=1000".to_string(),
    ] {
        assert_eq!(
            a.get(&path).await,
            b.get(&path).await,
            "the replicas answer {path} differently"
        );
    }
    // A pod's health counts the calls each replica made (its own traffic):
    // the rest of the pod, and when its check last ran, must agree.
    let pods = |v: Value| -> Vec<Value> {
        let mut pods = v["pods"].as_array().cloned().unwrap_or_default();
        for p in &mut pods {
            let checked = p["health"]["checked_at"].clone();
            p["health"] = json!({"checked_at": checked});
        }
        pods
    };
    assert_eq!(
        pods(a.get("/admin/v1.0/pods").await),
        pods(b.get("/admin/v1.0/pods").await),
        "the replicas list the pods differently"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_work_and_one_takes_over_when_the_other_is_killed() {
    let Some(pg) = std::env::var("TRICIRCLE_TEST_PG").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: TRICIRCLE_TEST_PG is not set (a PostgreSQL server for the replicas)");
        return;
    };
    let started = Instant::now();
    let log = |what: &str| eprintln!("[{:>5.1}s] {what}", started.elapsed().as_secs_f64());
    let db = PgDatabase::create(&pg).await;
    let dir = TestDir::new("replicas-");
    let shared = dir.path().join("shared");
    let env = [
        ("TRICIRCLE__DATABASE__URL", db.url.as_str()),
        ("TRICIRCLE__JOBS__LEASE_SECS", "5"),
        ("TRICIRCLE__JOBS__POLL_INTERVAL_MS", "200"),
        // The periodic pass on both replicas, often: they take turns.
        ("TRICIRCLE__PODS__SYNC_INTERVAL_SECS", "5"),
    ];
    let spec_a = GatewaySpec::new("replica-a", Kind::Serve, &shared, &env);
    let spec_b = GatewaySpec::new("replica-b", Kind::Serve, &shared, &env);
    // Both at once on an empty database and data dir.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spec_a.start());
        let b = s.spawn(|| spec_b.start());
        (a.join().expect("replica a"), b.join().expect("replica b"))
    });
    let (mut replica_a, replica_b) = (a, b);
    let (pid_a, pid_b) = (format!("{}-", replica_a.pid()), format!("{}-", replica_b.pid()));
    log("both replicas up");

    let pods = [SimPod::start(dir.path(), "Pod1", "az1"), SimPod::start(dir.path(), "Pod2", "az2")];
    let token = spec_a.bootstrap_token();
    let top = Api::with_token(&spec_a.base(), &token);
    top.expect(
        Method::POST,
        "/admin/v1.0/pods",
        Some(&json!({"pod": {"region_name": "RegionOne"}})),
        201,
    )
    .await;
    for p in &pods {
        pod_add(&spec_a.base(), &token, p);
    }
    let a = Api::login(&spec_a.base(), "admin", &spec_a.admin_password(), "admin").await;
    let b = a.at(&spec_b.base());
    let mut pod_admins = Vec::new();
    for p in &pods {
        pod_admins.push((p, p.admin().await));
    }

    // The seed, spread over both: a flavor through B, an image made
    // through A and uploaded through B (one image store), a network
    // through A and a security group through B.
    let flavor =
        json!({"flavor": {"name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1, "id": "1"}});
    b.expect(Method::POST, "/compute/v2.1/flavors", Some(&flavor), 200).await;
    let image = json!({"name": "cirros", "disk_format": "raw", "container_format": "bare",
                       "visibility": "public"});
    let image = a.expect(Method::POST, "/image/v2/images", Some(&image), 201).await;
    let image_id = image["id"].as_str().unwrap().to_string();
    let upload = b
        .http
        .put(format!("{}/image/v2/images/{image_id}/file", b.base))
        .header("X-Auth-Token", &b.token)
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 65536])
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status().as_u16(), 204, "image upload through B");
    let net = json!({"network": {"name": "replica-net"}});
    let net = a.expect(Method::POST, "/networking/v2.0/networks", Some(&net), 201).await;
    let net = net["network"]["id"].as_str().unwrap().to_string();
    let subnet = json!({"subnet": {"network_id": net, "cidr": "10.30.0.0/22", "ip_version": 4}});
    a.expect(Method::POST, "/networking/v2.0/subnets", Some(&subnet), 201).await;
    let sg = json!({"security_group": {"name": "web"}});
    let sg = b.expect(Method::POST, "/networking/v2.0/security-groups", Some(&sg), 201).await;
    let sg = sg["security_group"]["id"].as_str().unwrap().to_string();
    let rule = |port: u16| {
        json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress",
               "protocol": "tcp", "port_range_min": port, "port_range_max": port}})
    };
    b.expect(Method::POST, "/networking/v2.0/security-group-rules", Some(&rule(22)), 201).await;

    // Phase 1, both up: creates alternate between the replicas; each is
    // read back through the other.
    let made = futures::future::join_all((0..12).map(|i| {
        let api = if i % 2 == 0 { a.clone() } else { b.clone() };
        let body = server_body(&format!("both-{i}"), i, &image_id, &net);
        async move { api.expect(Method::POST, "/compute/v2.1/servers", Some(&body), 202).await }
    }))
    .await;
    let first: Vec<String> =
        made.iter().map(|v| v["server"]["id"].as_str().unwrap().to_string()).collect();
    let (odd, even): (Vec<_>, Vec<_>) =
        first.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 1);
    a.wait_active(&odd.into_iter().map(|(_, id)| id).collect::<Vec<_>>()).await;
    b.wait_active(&even.into_iter().map(|(_, id)| id).collect::<Vec<_>>()).await;
    // A rule added through A reaches the copies of the group (a sync job).
    a.expect(Method::POST, "/networking/v2.0/security-group-rules", Some(&rule(80)), 201).await;
    same_answers(&a, &b, &net, &sg).await;
    log("12 servers ACTIVE through both replicas; same answers from both");

    // Phase 2: a burst at A (creates and deletes), more at B meanwhile;
    // A is killed once half of its requests are answered.
    let (at_a, at_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut sent: Vec<(String, tokio::task::JoinHandle<Seen>)> = Vec::new();
    let servers = "/compute/v2.1/servers".to_string();
    for i in 0..16 {
        let body = server_body(&format!("a-{i}"), i, &image_id, &net);
        sent.push((
            format!("create a-{i}"),
            send_counted(&a, Method::POST, servers.clone(), Some(body), &at_a),
        ));
    }
    for id in &first[..6] {
        let path = format!("/compute/v2.1/servers/{id}");
        sent.push((format!("delete {id}"), send_counted(&a, Method::DELETE, path, None, &at_a)));
    }
    for i in 0..8 {
        let body = server_body(&format!("b-{i}"), i, &image_id, &net);
        sent.push((
            format!("create b-{i}"),
            send_counted(&b, Method::POST, servers.clone(), Some(body), &at_b),
        ));
    }
    for id in &first[6..9] {
        let path = format!("/compute/v2.1/servers/{id}");
        sent.push((format!("delete {id}"), send_counted(&b, Method::DELETE, path, None, &at_b)));
    }
    wait_answers(&at_a, 11).await;
    replica_a.kill9();
    let killed = Instant::now();
    log("replica A killed");
    // The survivor keeps taking requests: more servers and a rule change.
    for i in 8..14 {
        let body = server_body(&format!("b-{i}"), i, &image_id, &net);
        sent.push((
            format!("create b-{i}"),
            send_counted(&b, Method::POST, servers.clone(), Some(body), &at_b),
        ));
    }
    b.expect(Method::POST, "/networking/v2.0/security-group-rules", Some(&rule(443)), 201).await;
    let mut seen = Vec::new();
    for (what, t) in sent {
        seen.push((what, t.await.expect("request task")));
    }
    let lost = seen.iter().filter(|(_, s)| matches!(s, Seen::Lost(_))).count();
    assert!(lost > 0, "every request to A was answered before the kill: nothing was in flight");

    let (b_ref, pods_ref) = (&b, &pod_admins);
    let (world, _) =
        wait_quiescent(&b, Duration::from_secs(90), move || check_world(b_ref, pods_ref)).await;
    log(&format!(
        "quiescent {:.1} s after the kill ({lost} requests lost)",
        killed.elapsed().as_secs_f64()
    ));

    let names: std::collections::BTreeSet<String> = server_view(&b)
        .await
        .iter()
        .map(|v| v[1].as_str().unwrap_or_default().to_string())
        .collect();
    common::consistency::check_answers_held(&seen, &world, &names);
    for id in &first[9..] {
        assert!(world.servers.contains_key(id), "server {id}, never deleted, is gone");
    }

    // The rules added through A, then B (A dead by then), reached every
    // copy of the group (security group syncs, some of them A's jobs).
    for (pod, admin) in &pod_admins {
        let copies = admin.get(&format!("/networking/v2.0/security-groups?name={sg}")).await;
        let copies = copies["security_groups"].as_array().cloned().unwrap_or_default();
        assert_eq!(copies.len(), 1, "one copy of the group in {}: {copies:?}", pod.region);
        let ports: std::collections::BTreeSet<i64> = copies[0]["security_group_rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["port_range_min"].as_i64())
            .collect();
        assert_eq!(ports, [22, 80, 443].into(), "the rules of the group's copy in {}", pod.region);
    }

    // The job log, as B keeps it.
    let logs = job_logs(&b).await;
    let by_status = check_job_log(&logs);
    check_same_resource_never_overlaps(&logs);
    for kind in
        ["server_create", "server_delete", "network_sync", "security_group_sync", "pod_check"]
    {
        assert!(logs.iter().any(|l| l.job["type"] == kind), "no {kind} job ran");
    }
    let owners: std::collections::BTreeSet<bool> =
        logs.iter().flat_map(|l| &l.attempts).map(|a| a.owner.starts_with(&pid_a)).collect();
    assert_eq!(owners.len(), 2, "both replicas ran jobs");
    let mut taken_over = 0;
    for l in &logs {
        for (i, at) in l.attempts.iter().enumerate() {
            if !at.owner.starts_with(&pid_a) || at.finished_at.is_some() {
                continue;
            }
            assert_eq!(at.outcome.as_deref(), Some("LEASE_LOST"), "job {}: {at:?}", l.job);
            let next =
                l.attempts.get(i + 1).unwrap_or_else(|| panic!("job {} not taken over", l.job));
            assert!(next.owner.starts_with(&pid_b), "job {} taken over by {}", l.job, next.owner);
            assert!(
                next.started_at > at.lease_until,
                "job {} taken before A's lease ran out",
                l.job
            );
            taken_over += 1;
        }
    }
    assert!(taken_over > 0, "the kill interrupted no job of A's: nothing was taken over");

    // A again, beside B: it starts and answers as B does.
    let _replica_a = spec_a.start();
    let a = a.at(&spec_a.base());
    same_answers(&a, &b, &net, &sg).await;
    log(&format!(
        "{} servers, jobs {by_status:?}, {taken_over} of A's jobs finished by B; A restarted beside B",
        world.servers.len()
    ));
}
