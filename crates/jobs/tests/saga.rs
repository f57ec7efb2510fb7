//! The saga executor: forward, unwinding at every step, pausing on a
//! retryable failure, resuming from the progress saved in the job row, and
//! finishing an interrupted unwind.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use tricircle_jobs::saga::testing;
use tricircle_jobs::{Journal, Progress, Saga, SagaOutcome, StepError, StepFuture, execute};
use tricircle_store::{NewJob, Store, backend_tests, now};

/// A stand-in for pods: named things that steps create and undos delete.
#[derive(Default)]
struct World {
    things: Mutex<BTreeSet<String>>,
    creates: Mutex<HashMap<String, usize>>,
    /// Make the create of this thing fail (retryably or not), `n` times.
    fail_create: Mutex<Option<(String, bool, usize)>>,
    fail_delete: Mutex<Option<String>>,
}

impl World {
    fn create(&self, name: &str) -> Result<(), StepError> {
        let mut f = self.fail_create.lock().unwrap();
        if let Some((n, retryable, left)) = f.as_mut()
            && n == name
            && *left > 0
        {
            *left -= 1;
            // Half-done: the thing exists, the caller is told it failed.
            self.things.lock().unwrap().insert(name.to_string());
            return Err(StepError {
                message: format!("cannot create {name}"),
                retryable: *retryable,
            });
        }
        // Idempotent: a second create finds the first.
        if self.things.lock().unwrap().insert(name.to_string()) {
            *self.creates.lock().unwrap().entry(name.to_string()).or_default() += 1;
        }
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), StepError> {
        let mut f = self.fail_delete.lock().unwrap();
        if f.as_deref() == Some(name) {
            f.take();
            return Err(StepError::retry(format!("cannot delete {name}")));
        }
        self.things.lock().unwrap().remove(name);
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Build {
    top_id: String,
    made: Vec<String>,
}

impl Build {
    fn new(top_id: &str) -> Self {
        Build { top_id: top_id.into(), made: Vec::new() }
    }
    fn name(&self, step: usize) -> String {
        format!("{}-{}", self.top_id, Self::STEPS[step])
    }
}

impl Saga for Build {
    type Ctx = World;
    const NAME: &'static str = "build";
    const STEPS: &'static [&'static str] = &["network", "port", "server"];

    fn run<'a>(&'a mut self, ctx: &'a World, step: usize) -> StepFuture<'a> {
        Box::pin(async move {
            let name = self.name(step);
            ctx.create(&name)?;
            if !self.made.contains(&name) {
                self.made.push(name);
            }
            Ok(())
        })
    }

    fn undo<'a>(&'a mut self, ctx: &'a World, step: usize) -> StepFuture<'a> {
        Box::pin(async move {
            let name = self.name(step);
            ctx.delete(&name)?;
            self.made.retain(|m| m != &name);
            Ok(())
        })
    }
}

fn things(w: &World) -> Vec<String> {
    w.things.lock().unwrap().iter().cloned().collect()
}

#[tokio::test]
async fn forward_and_unwind_at_every_step() {
    let w = World::default();
    let mut p = Progress::start(Build::new("s1"));
    assert_eq!(execute(&w, &mut p, &Journal::None).await.unwrap(), SagaOutcome::Done);
    assert_eq!(things(&w), ["s1-network", "s1-port", "s1-server"]);

    for (i, step) in Build::STEPS.iter().enumerate() {
        let w = World::default();
        *w.fail_create.lock().unwrap() = Some((format!("s2-{step}"), false, 1));
        let mut p = Progress::start(Build::new("s2"));
        let outcome = execute(&w, &mut p, &Journal::None).await.unwrap();
        assert!(matches!(outcome, SagaOutcome::Unwound { .. }), "step {i}: {outcome:?}");
        assert!(things(&w).is_empty(), "failing at {step} leaves nothing: {:?}", things(&w));
        assert_eq!((p.done, p.unwinding), (0, true));
    }
}

#[tokio::test]
async fn steps_are_idempotent_and_unwind_cleanly() {
    let w = World::default();
    let s = testing::run_each_step_twice(&w, Build::new("t")).await.unwrap();
    assert_eq!(s.made.len(), 3);
    assert!(w.creates.lock().unwrap().values().all(|&n| n == 1), "no twins");
    for fail_at in 0..Build::STEPS.len() {
        let w = World::default();
        testing::fail_at_step_and_unwind(&w, Build::new("u"), fail_at).await.unwrap();
        assert!(things(&w).is_empty(), "fail at {fail_at}");
    }
}

async fn job(store: &Store) -> tricircle_store::Job {
    store
        .job_enqueue(&NewJob {
            job_type: "build".into(),
            resource_key: "s".into(),
            resource: serde_json::json!({}),
            project_id: "p".into(),
        })
        .await
        .unwrap();
    let t = now();
    store.job_claim("r1", t, t + Duration::seconds(60)).await.unwrap().unwrap()
}

backend_tests! {
    async fn a_paused_saga_resumes_from_the_saved_progress(store: &Store) {
        let j = job(store).await;
        let journal = Journal::Job { store, job: j.id, owner: "r1" };
        let w = World::default();
        *w.fail_create.lock().unwrap() = Some(("s-server".into(), true, 1));
        let mut p = Progress::start(Build::new("s"));
        let outcome = execute(&w, &mut p, &journal).await.unwrap();
        assert!(matches!(outcome, SagaOutcome::Paused { ref error } if error.retryable), "{outcome:?}");

        // A new process reads the progress back and carries on.
        let saved = store.job_get(j.id).await.unwrap().unwrap().progress;
        let mut resumed: Progress<Build> = serde_json::from_value(saved).unwrap();
        assert_eq!((resumed.done, resumed.unwinding), (2, false));
        assert_eq!(resumed.state.made, ["s-network", "s-port"]);
        assert_eq!(execute(&w, &mut resumed, &journal).await.unwrap(), SagaOutcome::Done);
        assert_eq!(things(&w).len(), 3);
        assert!(w.creates.lock().unwrap().values().all(|&n| n <= 1), "the earlier steps were not redone");
        let done: Progress<Build> = serde_json::from_value(store.job_get(j.id).await.unwrap().unwrap().progress).unwrap();
        assert_eq!(done.done, 3);
    }

    async fn an_interrupted_unwind_finishes_later(store: &Store) {
        let j = job(store).await;
        let journal = Journal::Job { store, job: j.id, owner: "r1" };
        let w = World::default();
        *w.fail_create.lock().unwrap() = Some(("s-server".into(), false, 1));
        *w.fail_delete.lock().unwrap() = Some("s-port".into());
        let mut p = Progress::start(Build::new("s"));
        let outcome = execute(&w, &mut p, &journal).await.unwrap();
        assert!(matches!(outcome, SagaOutcome::UndoFailed { .. }), "{outcome:?}");
        assert_eq!(things(&w), ["s-network", "s-port"], "server undone, port undo failed");
        let saved: Progress<Build> = serde_json::from_value(store.job_get(j.id).await.unwrap().unwrap().progress).unwrap();
        assert_eq!((saved.done, saved.unwinding), (2, true));
        let mut resumed = saved;
        let outcome = execute(&w, &mut resumed, &journal).await.unwrap();
        assert!(matches!(outcome, SagaOutcome::Unwound { ref error } if error.message == "cannot create s-server"), "{outcome:?}");
        assert!(things(&w).is_empty());
    }

    async fn a_lost_lease_stops_the_saga(store: &Store) {
        let j = job(store).await;
        let w = World::default();
        let journal = Journal::Job { store, job: j.id, owner: "someone-else" };
        let mut p = Progress::start(Build::new("s"));
        let err = execute(&w, &mut p, &journal).await.unwrap_err();
        assert!(err.to_string().contains("lease"), "{err}");
        assert_eq!(p.done, 1, "stopped right after the first step could not be recorded");
    }
}
