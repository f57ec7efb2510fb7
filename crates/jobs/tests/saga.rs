//! The saga executor: forward, unwinding at every step, pausing on a
//! retryable failure, resuming from the progress saved in the job row, and
//! finishing an interrupted unwind; the failure and crash checks of
//! `saga::testing` pass a sound saga and catch a broken undo and a step
//! that makes a twin when it runs again.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use tricircle_jobs::saga::testing::{self, Against, Scenario};
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
    #[serde(default)]
    flaw: Option<Flaw>,
}

/// A deliberate bug, for the checks to catch.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
enum Flaw {
    /// The undo of this step leaves what the step made.
    UndoForgets(usize),
    /// This step makes a new thing each time it runs, without looking for
    /// an earlier attempt's.
    Twins(usize),
}

impl Build {
    fn new(top_id: &str) -> Self {
        Build { top_id: top_id.into(), made: Vec::new(), flaw: None }
    }
    fn flawed(flaw: Flaw) -> Self {
        Build { flaw: Some(flaw), ..Build::new("s") }
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
            let mut name = self.name(step);
            if self.flaw == Some(Flaw::Twins(step)) {
                let n = things(ctx).iter().filter(|t| t.starts_with(&name)).count();
                name = format!("{name}#{n}");
            }
            ctx.create(&name)?;
            if !self.made.contains(&name) {
                self.made.push(name);
            }
            Ok(())
        })
    }

    fn undo<'a>(&'a mut self, ctx: &'a World, step: usize) -> StepFuture<'a> {
        Box::pin(async move {
            if self.flaw == Some(Flaw::UndoForgets(step)) {
                return Ok(());
            }
            // By name: a create that failed half-way made it all the same.
            let name = self.name(step);
            ctx.delete(&name)?;
            for twin in self.made.iter().filter(|m| m.starts_with(&format!("{name}#"))) {
                ctx.delete(twin)?;
            }
            self.made.retain(|m| !m.starts_with(&name));
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

/// A fresh toy world per run; the picture is the things that exist.
struct Toy(Build);

impl Scenario for Toy {
    type Saga = Build;
    type World = World;
    type Picture = Vec<String>;

    async fn world(&self) -> World {
        World::default()
    }
    fn ctx<'w>(&self, world: &'w World) -> &'w World {
        world
    }
    async fn plan(&self, _: &World) -> Option<Build> {
        Some(self.0.clone())
    }
    async fn picture(&self, world: &World, _: Against) -> Vec<String> {
        things(world)
    }
}

/// The cases a check reported, without their details.
fn cases(problems: &[String]) -> Vec<&str> {
    problems.iter().map(|p| p.split([':', '\n']).next().unwrap_or_default()).collect()
}

#[tokio::test]
async fn the_checks_pass_a_sound_saga() {
    let toy = Toy(Build::new("s"));
    assert_eq!(testing::failures_unwind_to_before(&toy).await, Vec::<String>::new());
    assert_eq!(testing::unwind_crashes_resume_to_before(&toy).await, Vec::<String>::new());
    assert_eq!(testing::crashes_resume_to_uninterrupted(&toy).await, Vec::<String>::new());
    assert_eq!(testing::failures_then_retry_reach_uninterrupted(&toy).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_checks_catch_an_undo_that_leaves_something() {
    let toy = Toy(Build::flawed(Flaw::UndoForgets(1)));
    let problems = testing::failures_unwind_to_before(&toy).await;
    // Failing before the port step made anything leaves nothing to forget.
    assert_eq!(
        cases(&problems),
        [
            "build.port failing After left a trace",
            "build.server failing Before left a trace",
            "build.server failing After left a trace"
        ]
    );
    assert!(problems.iter().all(|p| p.ends_with("+ \"s-port\",")), "{problems:#?}");
    let problems = testing::unwind_crashes_resume_to_before(&toy).await;
    assert_eq!(problems.len(), 7, "whenever it crashes: {problems:#?}");
    // Going forward never calls an undo.
    assert!(testing::crashes_resume_to_uninterrupted(&toy).await.is_empty());
}

#[tokio::test]
async fn the_checks_catch_a_step_that_makes_a_twin_when_run_again() {
    let toy = Toy(Build::flawed(Flaw::Twins(1)));
    let problems = testing::crashes_resume_to_uninterrupted(&toy).await;
    // Only a crash before the port's progress was saved runs it again.
    assert_eq!(
        cases(&problems),
        ["crash after build.port before its save differs from an uninterrupted run"]
    );
    assert!(problems[0].ends_with("+ \"s-port#1\","), "{problems:#?}");
    assert!(testing::failures_unwind_to_before(&toy).await.is_empty());
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
