//! The job engine as the domain uses it: syncs recorded as jobs and finished
//! by the runner when a pod was away, sagas an API call runs inline kept
//! out of the runners' hands while their lease is renewed, and turns that
//! keep two replicas on one database out of each other's way.

mod common;

use std::time::Duration;

use common::world;
use serde_json::json;
use tricircle_core::sync_jobs::SyncJob;
use tricircle_core::{App, SecretBox, Settings};
use tricircle_jobs::{Runner, RunnerConfig, kinds};
use tricircle_store::testing::TestDb;
use tricircle_store::{Job, JobFilter, JobStatus, Page, Store, backend_tests};

async fn jobs_of(app: &App, job_type: &str) -> Vec<Job> {
    let filter = JobFilter { job_type: Some(job_type.into()), ..Default::default() };
    app.store().job_list(&filter, &Page { limit: 100, marker: None }).await.unwrap()
}

fn runner(app: &App) -> Runner {
    let mut r = Runner::new(app.store().clone(), RunnerConfig::new("test-runner"));
    for kind in kinds::SYNC_KINDS {
        r = r.with_handler(SyncJob::new(app.clone(), kind));
    }
    r
}

#[tokio::test]
async fn a_sync_is_recorded_and_a_pod_that_was_away_is_caught_up_by_the_runner() {
    let w = world(2).await;
    let (net, _) = w.network("n1", "10.0.0.0/24").await;
    // A port of the user's own, so it stays (unbound) when its server goes.
    let port = w.app.port_create(&w.demo, &json!({"port": {"network_id": net}})).await.unwrap();
    let port = port["id"].as_str().unwrap().to_string();
    let a = w.create(w.with_networks("a", "az1", json!([{"port": port}]))).await.unwrap();
    w.create(w.with_networks("b", "az2", json!([{"uuid": net}]))).await.unwrap();
    let synced = jobs_of(&w.app, "network_sync").await;
    assert!(!synced.is_empty(), "each boot asked for its network's sync");
    for job in &synced {
        assert_eq!((job.status, job.resource_key.as_str()), (JobStatus::Success, net.as_str()));
        let log = w.app.store().job_attempts(job.id).await.unwrap();
        assert_eq!(log.len(), 1, "done once, inline");
        assert!(log[0].owner.starts_with(&format!("{}/", w.app.owner())), "this process: {log:?}");
    }
    let shadows = |i: usize| {
        common::objects(&w.pod_state(i), "network", "ports")
            .into_iter()
            .filter(|p| p["device_owner"] == "compute:shadow")
            .count()
    };
    assert_eq!(shadows(1), 1, "a's shadow in Pod2");

    // Pod2 is away while a is deleted: its shadow cannot go yet.
    w.pods[1].control().set_down(true);
    w.app.server_delete(&w.demo, &a).await.unwrap();
    let waiting: Vec<Job> = jobs_of(&w.app, "network_sync")
        .await
        .into_iter()
        .filter(|j| j.status == JobStatus::New)
        .collect();
    assert_eq!(waiting.len(), 1, "the failed sync is left to the runner");
    assert!(waiting[0].last_error.as_deref().unwrap_or_default().contains("Pod2"), "{waiting:?}");
    assert_eq!(shadows(1), 1, "not gone yet");

    w.pods[1].control().set_down(false);
    let runner = runner(&w.app);
    while runner.run_once().await.unwrap().is_some() {}
    let done = w.app.store().job_get(waiting[0].id).await.unwrap().unwrap();
    assert_eq!((done.status, done.attempts), (JobStatus::Success, 2));
    assert_eq!(shadows(1), 0, "the runner removed the stale shadow");
}

#[tokio::test]
async fn an_inline_saga_keeps_its_lease_while_a_slow_pod_works() {
    let w = world(1).await;
    // A lease of 3 s, renewed every second, while the pod takes 4 s.
    let mut settings = w.app.settings().clone();
    settings.job_lease = Duration::from_secs(3);
    settings.pod_timeout = Duration::from_secs(10);
    let app = App::new(w.app.store().clone(), SecretBox::from_key([3; 32]), settings);
    w.pods[0].control().add_fault(tricircle_sim_pod::FaultRule {
        count: Some(1),
        ..tricircle_sim_pod::FaultRule::latency("compute.server_create", Duration::from_secs(4))
    });
    let create = {
        let (app, spec, demo) = (app.clone(), w.spec("slow"), w.demo.clone());
        tokio::spawn(async move { app.server_create(&demo, spec).await })
    };
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Past the first lease: a runner would take the job if it were not renewed.
    let other = runner(&w.app);
    while let Some(job) = other.run_once().await.unwrap() {
        assert_ne!(job.job_type, "server_create", "taken from the API call: {job:?}");
    }
    let (view, _) = create.await.unwrap().unwrap();
    let job = jobs_of(&app, "server_create").await.pop().unwrap();
    assert_eq!(job.resource_key, view["id"].as_str().unwrap());
    let log = app.store().job_attempts(job.id).await.unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].owner.starts_with(&format!("{}/", app.owner())), "this process: {log:?}");
    assert_eq!(log[0].outcome.as_deref(), Some("SUCCESS"));
    assert!(
        log[0].lease_until - log[0].started_at > chrono::Duration::seconds(3),
        "renewed past the first lease: {log:?}"
    );
}

#[tokio::test]
async fn an_image_copy_that_died_half_way_does_not_block_later_boots() {
    let w = world(1).await;
    // What a process killed while copying the image into Pod1 used to leave:
    // a routing without the pod's ID, which later boots waited on for good.
    let pod = w.app.store().pod_list().await.unwrap().into_iter().find(|p| !p.is_top()).unwrap();
    w.app
        .store()
        .routing_create(&tricircle_store::NewRouting {
            top_id: w.image.clone(),
            bottom_id: None,
            pod_id: pod.pod_id,
            project_id: "demo-project".into(),
            resource_type: "image".into(),
        })
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let a = w.create(w.spec("after-the-crash")).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "not stuck behind a dead lock");
    let shown = w.app.server_show(&w.demo, &a, None).await.unwrap();
    assert_ne!(shown["status"], "ERROR");
    let images = common::objects(&w.pod_state(0), "image", "images");
    assert_eq!(images.len(), 1, "one copy: {images:?}");
    let routed = w.routings("image").await;
    assert_eq!(routed.len(), 1);
    assert!(routed[0].bottom_id.is_some(), "the stale row now says where the copy is");
}

#[tokio::test]
async fn a_delete_during_the_create_waits_for_it_and_leaves_nothing() {
    let w = world(1).await;
    let mut settings = w.app.settings().clone();
    settings.pod_timeout = Duration::from_secs(10);
    let app = App::new(w.app.store().clone(), SecretBox::from_key([3; 32]), settings);
    w.pods[0].control().add_fault(tricircle_sim_pod::FaultRule {
        count: Some(1),
        ..tricircle_sim_pod::FaultRule::latency("compute.server_create", Duration::from_secs(2))
    });
    let create = {
        let (app, spec, demo) = (app.clone(), w.spec("doomed"), w.demo.clone());
        tokio::spawn(async move { app.server_create(&demo, spec).await })
    };
    // The server is listed (BUILD) as soon as its saga recorded it.
    let id = loop {
        let rows = app.store().resource_list("server", Some("demo-project")).await.unwrap();
        if let Some(r) = rows.into_iter().find(|r| r.name == "doomed") {
            break r.id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    app.server_delete(&w.demo, &id).await.unwrap();
    assert!(create.await.unwrap().is_ok(), "the create finished before the delete ran");
    assert!(app.store().resource_get(&id).await.unwrap().is_none(), "gone at the top");
    let left: Vec<_> = common::objects(&w.pod_state(0), "compute", "servers")
        .into_iter()
        .filter(|s| s["name"] == id.as_str())
        .collect();
    assert!(left.is_empty(), "no server left in the pod: {left:?}");
}

/// Two gateway processes on one database, as `tricircle serve` twice would be.
fn replicas(store: &Store) -> (App, App) {
    let mut settings = Settings::new(100);
    settings.job_lease = Duration::from_secs(3);
    let make = || App::new(store.clone(), SecretBox::from_key([7; 32]), settings.clone());
    (make(), make())
}

backend_tests! {
    async fn turns_keep_replicas_apart(store: &Store) {
        let (a, b) = replicas(store);
        assert_ne!(a.owner(), b.owner());
        let held = a.turn("router:r1").await.unwrap();
        assert!(b.try_turn("router:r1").await.unwrap().is_none(), "a holds it");
        assert!(b.try_turn("router:r2").await.unwrap().is_some(), "another object is free");
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.turn("router:r1").await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "b waits for a");
        drop(held);
        tokio::time::timeout(Duration::from_secs(2), waiter).await.unwrap().unwrap().unwrap();
        // A holder that died (no renewals) lets go after its lease.
        let t = tricircle_store::now();
        let lease = t + chrono::Duration::seconds(3);
        assert!(store.lock_acquire("periodic:pass", "dead-replica", t, lease).await.unwrap());
        assert!(b.try_turn("periodic:pass").await.unwrap().is_none());
        let started = tokio::time::Instant::now();
        let taken = b.turn("periodic:pass").await.unwrap();
        drop(taken);
        assert!(started.elapsed() < Duration::from_secs(8), "within about one lease");
    }

    async fn one_replica_at_a_time_runs_the_periodic_pass(store: &Store) {
        let (a, b) = replicas(store);
        let retention = Duration::from_secs(3600);
        let (ra, rb) = tokio::join!(a.periodic_pass(retention), b.periodic_pass(retention));
        // Both may run, one after the other, but never at once: at least one did.
        assert!(ra.unwrap().is_some() || rb.unwrap().is_some());
        // Held by a, b skips (it does not wait).
        let _held = a.turn("periodic:pass").await.unwrap();
        assert!(b.periodic_pass(retention).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn turns_hold_across_one_process_database_pool() {
    // Two turns of one App on one name queue in the process, never both held.
    let db = TestDb::sqlite().await;
    let (a, _) = replicas(&db.store);
    let first = a.turn("router:x").await.unwrap();
    let second = {
        let a = a.clone();
        tokio::spawn(async move { a.turn("router:x").await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!second.is_finished());
    drop(first);
    tokio::time::timeout(Duration::from_secs(2), second).await.unwrap().unwrap().unwrap();
}
