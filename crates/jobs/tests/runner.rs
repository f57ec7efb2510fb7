//! The runner against a real database (SQLite and PostgreSQL): outcomes,
//! retries, and two runners sharing one queue without running a job twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tricircle_jobs::{JobFailure, JobFuture, JobHandler, JobKind, Runner, RunnerConfig};
use tricircle_store::{Job, JobStatus, NewJob, Store, backend_tests};

static KIND: JobKind = JobKind { name: "test_job", resource_fields: &["key"], description: "test" };

/// Fails the first `failures[key]` runs of each key (fatally if the key
/// starts with "fatal"), then succeeds; counts runs per key.
#[derive(Default)]
struct Scripted {
    failures: HashMap<String, usize>,
    runs: Mutex<HashMap<String, usize>>,
}

impl JobHandler for Scripted {
    fn kind(&self) -> &'static JobKind {
        &KIND
    }
    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a> {
        Box::pin(async move {
            let key = job.resource_key.clone();
            let n = {
                let mut runs = self.runs.lock().unwrap();
                let n = runs.entry(key.clone()).or_default();
                *n += 1;
                *n
            };
            // Give a second runner the chance to interleave.
            tokio::time::sleep(Duration::from_millis(2)).await;
            if n <= self.failures.get(&key).copied().unwrap_or(0) {
                if key.starts_with("fatal") {
                    return Err(JobFailure::fatal(format!("{key} cannot work")));
                }
                return Err(JobFailure::retry(format!("{key} failed run {n}")));
            }
            Ok(())
        })
    }
}

fn config(owner: &str) -> RunnerConfig {
    RunnerConfig {
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(40),
        max_attempts: 3,
        ..RunnerConfig::new(owner)
    }
}

async fn enqueue(store: &Store, ty: &str, key: &str) -> Job {
    store
        .job_enqueue(&NewJob {
            job_type: ty.into(),
            resource_key: key.into(),
            resource: json!({"key": key}),
            project_id: "p".into(),
        })
        .await
        .unwrap()
        .0
}

backend_tests! {
    async fn outcomes_and_retries(store: &Store) {
        let handler = Arc::new(Scripted {
            failures: HashMap::from([("flaky".into(), 1), ("broken".into(), 99), ("fatal-1".into(), 1)]),
            ..Default::default()
        });
        let runner = Runner::new(store.clone(), config("r1")).with_handler(handler.clone());
        let ok = enqueue(store, "test_job", "ok").await;
        let flaky = enqueue(store, "test_job", "flaky").await;
        let broken = enqueue(store, "test_job", "broken").await;
        let fatal = enqueue(store, "test_job", "fatal-1").await;
        let orphan = enqueue(store, "no_such_type", "x").await;

        // Drain, waiting out the backoff, until nothing is due for a while.
        let mut idle = 0;
        while idle < 10 {
            match runner.run_once().await.unwrap() {
                Some(_) => idle = 0,
                None => {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        let get = |id| async move { store.job_get(id).await.unwrap().unwrap() };
        assert_eq!(get(ok.id).await.status, JobStatus::Success);
        let f = get(flaky.id).await;
        assert_eq!((f.status, f.attempts), (JobStatus::Success, 2), "one retry, then success");
        let b = get(broken.id).await;
        assert_eq!((b.status, b.attempts), (JobStatus::Fail, 3), "gives up after max_attempts");
        assert_eq!(b.last_error.as_deref(), Some("broken failed run 3"));
        let t = get(fatal.id).await;
        assert_eq!((t.status, t.attempts), (JobStatus::Fail, 1), "no retry of a fatal failure");
        let o = get(orphan.id).await;
        assert_eq!(o.status, JobStatus::Fail);
        assert!(o.last_error.unwrap().contains("no handler"));
        assert_eq!(handler.runs.lock().unwrap()["broken"], 3);
    }

    async fn retry_waits_for_its_backoff(store: &Store) {
        let handler = Arc::new(Scripted { failures: HashMap::from([("k".into(), 1)]), ..Default::default() });
        let slow = RunnerConfig { backoff_base: Duration::from_secs(30), backoff_max: Duration::from_secs(30), ..config("r1") };
        let runner = Runner::new(store.clone(), slow).with_handler(handler);
        let job = enqueue(store, "test_job", "k").await;
        assert!(runner.run_once().await.unwrap().is_some());
        let after = store.job_get(job.id).await.unwrap().unwrap();
        assert_eq!(after.status, JobStatus::New);
        assert!(after.next_attempt_at > tricircle_store::now() + chrono::Duration::seconds(25));
        assert!(runner.run_once().await.unwrap().is_none(), "not due yet");
    }
}

/// Two runners, each with its own connection pool (as two replicas would
/// have), drain one queue: every job runs exactly once.
async fn two_runners_share_the_queue(db: tricircle_store::testing::TestDb) {
    let second = Store::connect(&db.url, &db.options).await.unwrap();
    let handler = Arc::new(Scripted::default());
    let r1 = Arc::new(Runner::new(db.store.clone(), config("r1")).with_handler(handler.clone()));
    let r2 = Arc::new(Runner::new(second.clone(), config("r2")).with_handler(handler.clone()));
    for i in 0..30 {
        enqueue(&db.store, "test_job", &format!("k{i}")).await;
    }
    let drain = |r: Arc<Runner>| {
        tokio::spawn(async move {
            let mut n = 0;
            while r.run_once().await.unwrap().is_some() {
                n += 1;
            }
            n
        })
    };
    let (a, b) = (drain(r1), drain(r2));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a + b, 30);
    let runs = handler.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 30);
    assert!(runs.values().all(|&n| n == 1), "no job ran twice: {runs:?}");
    second.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_share_the_queue_sqlite() {
    two_runners_share_the_queue(tricircle_store::testing::TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_share_the_queue_postgres() {
    let Some(db) = tricircle_store::testing::TestDb::postgres().await else { return };
    two_runners_share_the_queue(db).await;
}

/// Blocks its `slow` job until released; other jobs succeed at once.
struct Gate {
    release: tokio::sync::Notify,
    done: Mutex<Vec<String>>,
}

static GATED: JobKind = JobKind { name: "gated", resource_fields: &["key"], description: "test" };

impl JobHandler for Gate {
    fn kind(&self) -> &'static JobKind {
        &GATED
    }
    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a> {
        Box::pin(async move {
            if job.resource_key == "slow" {
                self.release.notified().await;
            }
            self.done.lock().unwrap().push(job.resource_key.clone());
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_job_does_not_hold_up_the_others() {
    let db = tricircle_store::testing::TestDb::sqlite().await;
    let gate = Arc::new(Gate { release: tokio::sync::Notify::new(), done: Mutex::default() });
    let cfg = RunnerConfig { idle_poll: Duration::from_millis(20), workers: 3, ..config("r") };
    let runner = Runner::new(db.store.clone(), cfg).with_handler(gate.clone());
    enqueue(&db.store, "gated", "slow").await;
    for i in 0..5 {
        enqueue(&db.store, "gated", &format!("k{i}")).await;
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(runner.run(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gate.done.lock().unwrap().len() < 5 {
        assert!(tokio::time::Instant::now() < deadline, "the others waited for the slow one");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!gate.done.lock().unwrap().contains(&"slow".to_string()));
    gate.release.notify_one();
    while gate.done.lock().unwrap().len() < 6 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    running.await.unwrap();
    db.cleanup().await;
}
