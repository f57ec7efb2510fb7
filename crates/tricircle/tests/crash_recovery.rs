//! The durable-jobs issue's crash test, with real processes: two standalone
//! `tricircle sim-pod` regions (their state in files, so they outlive the
//! gateway), registered with the real `tricircle pod add` to a gateway
//! (`tricircle up --pods 0`: flavors, image `cirros`, project `demo`) with a
//! 5-second job lease. 50 server creates (az1, az2, no zone; about half of
//! them on a top network, so port copies and shadow ports are made
//! mid-crash too) and 20 deletes of servers made before are sent at once
//! over HTTP; the gateway gets SIGKILL once half of them are answered and
//! the rest are in flight, then starts again on the same data dir and port. Within 90 s every server is ACTIVE or gone at the top
//! and in the pods, with no orphan and no twin (servers, port copies,
//! shadow ports), everything the client saw accepted happened, every job
//! ended SUCCESS or FAIL with a reason, and no job ran twice at once.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::consistency::{World, check_world};
use common::joblog::{check_job_log, check_same_resource_never_overlaps, job_logs, wait_quiescent};
use common::procs::{
    Api, GatewaySpec, Kind, Seen, SimPod, TestDir, pod_add, send_counted, wait_answers,
};
use reqwest::Method;
use serde_json::{Value, json};

const CREATES: usize = 50;
const DELETES: usize = 20;
/// Servers made before the burst: the 20 to delete and 4 left alone (they
/// must come through the crash untouched).
const EXISTING: usize = DELETES + 4;
/// Answered requests before the kill: half, so work has finished on both
/// sides of it (the kill counts answers, not time: a slow box just kills
/// later).
const KILL_AFTER: usize = 35;

fn create_body(name: &str, i: usize, image: &str, net: &str) -> Value {
    let az = [Some("az1"), Some("az2"), None][i % 3];
    let networks =
        if i % 3 == 1 || i.is_multiple_of(5) { json!([{"uuid": net}]) } else { json!("none") };
    let mut server = json!({"name": name, "flavorRef": "1", "imageRef": image,
                            "networks": networks});
    if let Some(az) = az {
        server["availability_zone"] = json!(az);
    }
    json!({"server": server})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_burst_leaves_no_orphan_no_twin_and_no_stuck_job() {
    let started = Instant::now();
    let dir = TestDir::new("crash-");
    let pods = [SimPod::start(dir.path(), "Pod1", "az1"), SimPod::start(dir.path(), "Pod2", "az2")];
    let gw = GatewaySpec::new(
        "gateway",
        Kind::UpNoPods,
        &dir.path().join("gw"),
        &[("TRICIRCLE__JOBS__LEASE_SECS", "5"), ("TRICIRCLE__JOBS__POLL_INTERVAL_MS", "200")],
    );
    let mut gateway = gw.start();
    let base = gw.base();
    for p in &pods {
        pod_add(&base, &gw.bootstrap_token(), p);
    }
    let demo_pw =
        std::fs::read_to_string(gw.data_dir.join("demo-password")).expect("demo password");
    let demo = Api::login(&base, "demo", demo_pw.trim(), "demo").await;
    let admin = Api::login(&base, "admin", &gw.admin_password(), "admin").await;
    let mut pod_admins = Vec::new();
    for p in &pods {
        pod_admins.push((p, p.admin().await));
    }

    let images = demo.get("/image/v2/images?name=cirros").await;
    let image = images["images"][0]["id"].as_str().expect("the seeded cirros image").to_string();
    let net = demo
        .expect(
            Method::POST,
            "/networking/v2.0/networks",
            Some(&json!({"network": {"name": "crash-net"}})),
            201,
        )
        .await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let subnet = json!({"subnet": {"network_id": net, "cidr": "10.20.0.0/22", "ip_version": 4}});
    demo.expect(Method::POST, "/networking/v2.0/subnets", Some(&subnet), 201).await;

    // The servers to delete (and a few to leave alone), ACTIVE first.
    let made = futures::future::join_all((0..EXISTING).map(|i| {
        let (demo, body) = (demo.clone(), create_body(&format!("old-{i}"), i, &image, &net));
        async move { demo.expect(Method::POST, "/compute/v2.1/servers", Some(&body), 202).await }
    }))
    .await;
    let existing: Vec<String> =
        made.iter().map(|v| v["server"]["id"].as_str().unwrap().to_string()).collect();
    demo.wait_active(&existing).await;
    eprintln!(
        "[{:>5.1}s] {EXISTING} servers ACTIVE; the burst starts",
        started.elapsed().as_secs_f64()
    );

    // The burst: every request at once; each remembers what it saw.
    let answered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..CREATES {
        let body = create_body(&format!("crash-{i}"), i, &image, &net);
        let task = send_counted(
            &demo,
            Method::POST,
            "/compute/v2.1/servers".into(),
            Some(body),
            &answered,
        );
        tasks.push((format!("create crash-{i}"), task));
    }
    for id in existing.iter().take(DELETES) {
        let path = format!("/compute/v2.1/servers/{id}");
        tasks.push((
            format!("delete {id}"),
            send_counted(&demo, Method::DELETE, path, None, &answered),
        ));
    }
    wait_answers(&answered, KILL_AFTER).await;
    let old_pid = gateway.pid();
    gateway.kill9();
    let at_kill = answered.load(Ordering::SeqCst);
    eprintln!("[{:>5.1}s] kill -9 after {at_kill} answers", started.elapsed().as_secs_f64());
    let mut seen = Vec::new();
    for (what, t) in tasks {
        seen.push((what, t.await.expect("request task")));
    }
    let lost = seen.iter().filter(|(_, s)| matches!(s, Seen::Lost(_))).count();
    assert!(lost > 0, "every request was answered before the kill: nothing was in flight");
    if let Some((what, Seen::Lost(why))) = seen.iter().find(|(_, s)| matches!(s, Seen::Lost(_))) {
        eprintln!("{lost} requests lost, e.g. {what}: {why}");
    }

    // The same data dir and port: the runner takes over the dead process's
    // jobs once their 5-second leases have run out.
    let _gateway = gw.start();
    let admin = admin.at(&base);
    let (admin_ref, pods_ref) = (&admin, &pod_admins);
    let (world, quiet): (World, _) =
        wait_quiescent(&admin, Duration::from_secs(90), move || check_world(admin_ref, pods_ref))
            .await;
    eprintln!(
        "[{:>5.1}s] quiescent {:.1} s after the restart ({lost} of {} requests lost in the crash)",
        started.elapsed().as_secs_f64(),
        quiet.as_secs_f64(),
        CREATES + DELETES,
    );

    // What the client was told happened, happened.
    let names: BTreeSet<String> = {
        let all = admin.get("/compute/v2.1/servers?all_tenants=1").await;
        let mut names = BTreeSet::new();
        for s in all["servers"].as_array().unwrap() {
            let name = s["name"].as_str().unwrap().to_string();
            assert!(
                names.insert(name.clone()),
                "two top servers named {name}: one request, one server"
            );
        }
        names
    };
    common::consistency::check_answers_held(&seen, &world, &names);
    for id in &existing[DELETES..] {
        assert!(world.servers.contains_key(id), "server {id}, never deleted, is gone");
    }

    // The job log: all finished, failures explained, no overlap; the dead
    // process's attempts were closed by the takeover, and the servers the
    // top keeps are those whose create succeeded.
    let logs = job_logs(&admin).await;
    let by_status = check_job_log(&logs);
    check_same_resource_never_overlaps(&logs);
    let dead = format!("{old_pid}-");
    let orphaned: Vec<_> = logs
        .iter()
        .flat_map(|l| l.attempts.iter().map(move |a| (l, a)))
        .filter(|(_, a)| a.owner.starts_with(&dead) && a.finished_at.is_none())
        .collect();
    assert!(!orphaned.is_empty(), "the kill interrupted no job: nothing was tested");
    for (l, a) in &orphaned {
        assert_eq!(a.outcome.as_deref(), Some("LEASE_LOST"), "job {}: {a:?}", l.job);
        assert!(
            l.attempts.last().is_some_and(|last| !last.owner.starts_with(&dead)),
            "job {} was not finished by the new process",
            l.job
        );
    }
    let succeeded = |kind: &str, id: &str| {
        logs.iter().any(|l| {
            l.job["type"] == kind && l.job["resource"]["id"] == id && l.job["status"] == "SUCCESS"
        })
    };
    for l in logs.iter().filter(|l| l.job["type"] == "server_create") {
        let id = l.job["resource"]["id"].as_str().unwrap_or_default();
        let kept = world.servers.contains_key(id);
        let should = succeeded("server_create", id) && !succeeded("server_delete", id);
        assert_eq!(kept, should, "server {id} kept={kept}; its jobs say otherwise: {}", l.job);
    }
    let burst = names.iter().filter(|n| n.starts_with("crash-")).count();
    eprintln!(
        "[{:>5.1}s] {} servers at the top ({burst} from the burst), jobs {by_status:?}, {} attempts cut by the kill",
        started.elapsed().as_secs_f64(),
        world.servers.len(),
        orphaned.len()
    );
}
