//! Property checks for any saga, in the spirit of omicron's saga tests:
//! a step that fails (before doing anything, or after doing its work)
//! unwinds to the world as it was; a process that dies after any step (its
//! progress saved or not) is resumed by a new one to the world a run that
//! never stopped makes.
//!
//! Everything goes through the real [`execute`]: failures are injected by
//! wrapping the saga ([`Inject`]), crashes by a journal that stops the
//! saga as a killed process would ([`Recorder`]), and a resumed run starts
//! from the saved JSON read back as `Progress<S>`, as [`super::SagaJob`]
//! does after a restart. A [`Scenario`] says how to make a fresh world, the
//! saga's first state in it (as the API builds it) and what to compare.

use std::fmt::Debug;
use std::sync::Mutex;

use futures::StreamExt;
use serde_json::Value;

use super::*;

/// Run every step twice in a row (the second run must find the first's
/// work and succeed without duplicating it), then return the state.
pub async fn run_each_step_twice<S: Saga + Clone>(
    ctx: &S::Ctx,
    mut state: S,
) -> Result<S, StepError> {
    for step in 0..S::STEPS.len() {
        state.run(ctx, step).await?;
        state.run(ctx, step).await.map_err(|e| StepError {
            message: format!("step {} is not idempotent: {}", S::STEPS[step], e.message),
            ..e
        })?;
    }
    Ok(state)
}

/// Run steps `0..=fail_at` (the last one's work done, then "failing"),
/// then unwind with every undo run twice. Returns the final state; the
/// caller checks the world is as before (nothing left in any pod).
pub async fn fail_at_step_and_unwind<S: Saga + Clone>(
    ctx: &S::Ctx,
    mut state: S,
    fail_at: usize,
) -> Result<S, StepError> {
    for step in 0..=fail_at {
        state.run(ctx, step).await?;
    }
    for step in (0..=fail_at).rev() {
        state.undo(ctx, step).await?;
        state.undo(ctx, step).await.map_err(|e| StepError {
            message: format!("undo of {} is not idempotent: {}", S::STEPS[step], e.message),
            ..e
        })?;
    }
    Ok(state)
}

/// How an injected failure strikes a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// The step fails before doing anything.
    Before,
    /// The step does its work, then fails: it half-happened, as when a
    /// pod made the object but its answer was lost.
    After,
}

pub const FAULTS: [Fault; 2] = [Fault::Before, Fault::After];

/// The saga `inner`, except that step `at` fails fatally as `fault` says;
/// undos are `inner`'s own. Its state is `inner`'s plus an `injected` key,
/// so saved progress reads back as the inner saga's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inject<S> {
    #[serde(flatten)]
    pub inner: S,
    pub injected: (usize, Fault),
}

impl<S: Saga> Saga for Inject<S> {
    type Ctx = S::Ctx;
    const NAME: &'static str = S::NAME;
    const STEPS: &'static [&'static str] = S::STEPS;

    fn run<'a>(&'a mut self, ctx: &'a Self::Ctx, step: usize) -> StepFuture<'a> {
        Box::pin(async move {
            let (at, fault) = self.injected;
            let fail =
                || StepError::fatal(format!("injected failure {fault:?} step {}", S::STEPS[step]));
            if step == at && fault == Fault::Before {
                return Err(fail());
            }
            self.inner.run(ctx, step).await?;
            if step == at {
                return Err(fail());
            }
            Ok(())
        })
    }

    fn undo<'a>(&'a mut self, ctx: &'a Self::Ctx, step: usize) -> StepFuture<'a> {
        self.inner.undo(ctx, step)
    }
}

/// Where a process dies: at the save of progress `{done, unwinding}`,
/// right after it was written (`saved`) or just before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crash {
    pub done: usize,
    pub unwinding: bool,
    pub saved: bool,
}

impl Crash {
    /// Once step `step` ran forward; unsaved, the next process runs it again.
    pub fn after_step(step: usize, saved: bool) -> Crash {
        Crash { done: step + 1, unwinding: false, saved }
    }

    /// Once the undo of `step` ran; unsaved, the next process undoes it again.
    pub fn after_undo(step: usize, saved: bool) -> Crash {
        Crash { done: step, unwinding: true, saved }
    }
}

/// A journal that keeps every saved progress and, given a [`Crash`],
/// stops the saga there as a killed process would: the save fails, so
/// [`execute`] returns at once and nothing after it runs.
#[derive(Default)]
pub struct Recorder {
    crash: Option<Crash>,
    saves: Mutex<Vec<Value>>,
}

const CRASHED: &str = "the process died here (an injected crash)";

impl Recorder {
    pub fn crashing(crash: Crash) -> Self {
        Recorder { crash: Some(crash), saves: Mutex::default() }
    }

    /// What the job row would hold now.
    pub fn last(&self) -> Option<Value> {
        self.saves.lock().unwrap_or_else(|e| e.into_inner()).last().cloned()
    }
}

impl ProgressLog for Recorder {
    fn save(&self, progress: Value) -> Result<(), StoreError> {
        let hit = self
            .crash
            .filter(|c| progress["done"] == c.done && progress["unwinding"] == c.unwinding);
        if hit.is_some_and(|c| !c.saved) {
            return Err(StoreError::State(CRASHED.into()));
        }
        self.saves.lock().unwrap_or_else(|e| e.into_inner()).push(progress);
        match hit {
            Some(_) => Err(StoreError::State(CRASHED.into())),
            None => Ok(()),
        }
    }
}

/// A saga under test and its world: how to make a fresh world, the saga's
/// first state in it, and the picture of the world the checks compare.
// Test code driven on one thread: the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Scenario {
    type Saga: Saga;
    type World;
    type Picture: PartialEq + Debug;

    /// A fresh world holding what the saga needs.
    async fn world(&self) -> Self::World;
    fn ctx<'w>(&self, world: &'w Self::World) -> &'w <Self::Saga as Saga>::Ctx;
    /// The saga's first state, built as the API builds it (it may take
    /// things, as a create claims ports); `None` when the API would have
    /// nothing to do (a delete of something already gone).
    async fn plan(&self, world: &Self::World) -> Option<Self::Saga>;
    /// The world as the checks compare it, `against` the world before the
    /// saga or after an uninterrupted run.
    async fn picture(&self, world: &Self::World, against: Against) -> Self::Picture;
    /// Forget what a process keeps in memory, as a restart would (a new
    /// process resumes the saga). By default there is nothing to forget.
    fn restart(&self, _world: &mut Self::World) {}
}

/// What a picture is compared with. Before the saga, the objects a saga
/// keeps on purpose after an unwind (shared copies later runs reuse) may
/// be left out; against an uninterrupted run nothing needs to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    Before,
    Uninterrupted,
}

type Problems = Vec<String>;

fn name<Sc: Scenario>(step: usize) -> String {
    format!("{}.{}", <Sc::Saga as Saga>::NAME, <Sc::Saga as Saga>::STEPS[step])
}

/// The lines of `a` and `b` (pretty `Debug`) that the other lacks, but
/// for lines of brackets alone.
pub fn diff(a: &impl Debug, b: &impl Debug) -> String {
    let (a, b) = (format!("{a:#?}"), format!("{b:#?}"));
    let lines = |s: &'_ str| -> Vec<String> {
        s.lines().filter(|l| l.chars().any(char::is_alphanumeric)).map(str::to_string).collect()
    };
    let mut only_b = lines(&b);
    let mut out = Vec::new();
    for l in lines(&a) {
        match only_b.iter().position(|m| *m == l) {
            Some(j) => drop(only_b.remove(j)),
            None => out.push(format!("- {}", l.trim())),
        }
    }
    out.extend(only_b.iter().map(|l| format!("+ {}", l.trim())));
    out.join("\n")
}

/// How many cases of a check run at once: each has a world of its own,
/// and a few together overlap their waits on databases and pods.
const CASES_AT_ONCE: usize = 4;

/// Run `cases` (each a future returning its problems), a few at once, and
/// gather their problems in the cases' order.
async fn all_cases<F: Future<Output = Problems>>(cases: impl Iterator<Item = F>) -> Problems {
    futures::stream::iter(cases).buffered(CASES_AT_ONCE).concat().await
}

async fn uninterrupted<Sc: Scenario>(sc: &Sc) -> Result<Sc::Picture, String> {
    let world = sc.world().await;
    let state = sc.plan(&world).await.ok_or("nothing to do in a fresh world")?;
    let mut progress = Progress::start(state);
    match execute(sc.ctx(&world), &mut progress, &Journal::None).await {
        Ok(SagaOutcome::Done) => Ok(sc.picture(&world, Against::Uninterrupted).await),
        other => Err(format!("an uninterrupted run ended {other:?}")),
    }
}

/// Every step, with every [`Fault`].
fn steps_and_faults<Sc: Scenario>() -> impl Iterator<Item = (usize, Fault)> {
    (0..<Sc::Saga as Saga>::STEPS.len()).flat_map(|at| FAULTS.map(|f| (at, f)))
}

/// For every step and every [`Fault`]: in a fresh world, the saga fails
/// there and unwinds; the world is then as before the saga.
pub async fn failures_unwind_to_before<Sc: Scenario>(sc: &Sc) -> Problems {
    all_cases(steps_and_faults::<Sc>().map(|(at, fault)| async move {
        let case = format!("{} failing {fault:?}", name::<Sc>(at));
        let world = sc.world().await;
        let before = sc.picture(&world, Against::Before).await;
        let Some(inner) = sc.plan(&world).await else {
            return vec![format!("{case}: nothing to do")];
        };
        let mut problems = Problems::new();
        let mut progress = Progress::start(Inject { inner, injected: (at, fault) });
        match execute(sc.ctx(&world), &mut progress, &Journal::None).await {
            Ok(SagaOutcome::Unwound { .. }) => {}
            other => problems.push(format!("{case}: ended {other:?}, not unwound")),
        }
        let after = sc.picture(&world, Against::Before).await;
        if after != before {
            problems.push(format!("{case} left a trace:\n{}", diff(&before, &after)));
        }
        problems
    }))
    .await
}

/// For sagas that are not undone (deletes: once a pod was asked, only
/// going forward is consistent): for every step and [`Fault`], the saga
/// fails there, then the caller retries (the API's plan again, if it
/// still has something to do); the world is then as after a run that
/// never failed, so a failed attempt leaves nothing a retry would not clear.
pub async fn failures_then_retry_reach_uninterrupted<Sc: Scenario>(sc: &Sc) -> Problems {
    let reference = match uninterrupted(sc).await {
        Ok(p) => p,
        Err(e) => return vec![e],
    };
    let reference = &reference;
    all_cases(steps_and_faults::<Sc>().map(|(at, fault)| async move {
        let case = format!("{} failing {fault:?}, then retried", name::<Sc>(at));
        let world = sc.world().await;
        let Some(inner) = sc.plan(&world).await else {
            return vec![format!("{case}: nothing to do")];
        };
        let mut progress = Progress::start(Inject { inner, injected: (at, fault) });
        if let Err(e) = execute(sc.ctx(&world), &mut progress, &Journal::None).await {
            return vec![format!("{case}: {e}")];
        }
        let mut problems = Problems::new();
        if let Some(again) = sc.plan(&world).await {
            let mut progress = Progress::start(again);
            match execute(sc.ctx(&world), &mut progress, &Journal::None).await {
                Ok(SagaOutcome::Done) => {}
                other => problems.push(format!("{case}: the retry ended {other:?}")),
            }
        }
        let after = sc.picture(&world, Against::Uninterrupted).await;
        if after != *reference {
            let d = diff(reference, &after);
            problems.push(format!("{case} differs from a run that never failed:\n{d}"));
        }
        problems
    }))
    .await
}

/// Run the saga in `world` until `crash`, then resume it as a new process
/// would: a restarted context and the saved progress read back.
async fn crash_and_resume<Sc: Scenario>(
    sc: &Sc,
    world: &mut Sc::World,
    state: Progress<impl Saga<Ctx = <Sc::Saga as Saga>::Ctx>>,
    crash: Crash,
) -> Result<SagaOutcome, String> {
    let recorder = Recorder::crashing(crash);
    let journal = Journal::Log(&recorder);
    let mut progress = state;
    let first = async {
        journal.save(&progress).await?;
        execute(sc.ctx(world), &mut progress, &journal).await
    };
    match first.await {
        Err(StoreError::State(m)) if m == CRASHED => {}
        other => return Err(format!("the crash did not happen: the run ended {other:?}")),
    }
    sc.restart(world);
    let saved = recorder.last().ok_or("nothing was saved")?;
    let mut resumed: Progress<Sc::Saga> = serde_json::from_value(saved)
        .map_err(|e| format!("the saved progress does not read back: {e}"))?;
    execute(sc.ctx(world), &mut resumed, &Journal::None).await.map_err(|e| e.to_string())
}

/// For every step: in a fresh world, the process dies right after the
/// step (its progress saved, or not: then the step runs again); a new
/// process resumes, and the world is then as after an uninterrupted run.
pub async fn crashes_resume_to_uninterrupted<Sc: Scenario>(sc: &Sc) -> Problems {
    let reference = match uninterrupted(sc).await {
        Ok(p) => p,
        Err(e) => return vec![e],
    };
    let reference = &reference;
    let crashes = (0..<Sc::Saga as Saga>::STEPS.len()).flat_map(|s| [(s, true), (s, false)]);
    all_cases(crashes.map(|(step, saved)| async move {
        let unsaved = if saved { "" } else { " before its save" };
        let case = format!("crash after {}{unsaved}", name::<Sc>(step));
        let mut world = sc.world().await;
        let Some(state) = sc.plan(&world).await else {
            return vec![format!("{case}: nothing to do")];
        };
        let mut problems = Problems::new();
        let crash = Crash::after_step(step, saved);
        match crash_and_resume(sc, &mut world, Progress::start(state), crash).await {
            Ok(SagaOutcome::Done) => {}
            other => problems.push(format!("{case}: the resumed run ended {other:?}")),
        }
        let after = sc.picture(&world, Against::Uninterrupted).await;
        if after != *reference {
            let d = diff(reference, &after);
            problems.push(format!("{case} differs from an uninterrupted run:\n{d}"));
        }
        problems
    }))
    .await
}

/// For every undo: in a fresh world, the last step fails after its work
/// (so every undo has something to do), the process dies right after that
/// undo (saved or not: then it runs again) or right after the failure was
/// recorded; a new process finishes unwinding, and the world is then as
/// before the saga.
pub async fn unwind_crashes_resume_to_before<Sc: Scenario>(sc: &Sc) -> Problems {
    let n = <Sc::Saga as Saga>::STEPS.len();
    let abandoned = (Crash { done: n, unwinding: true, saved: true }, "the failure".to_string());
    let undos = (0..n).rev().flat_map(|s| {
        let undo = format!("the undo of {}", name::<Sc>(s));
        [
            (Crash::after_undo(s, true), undo.clone()),
            (Crash::after_undo(s, false), format!("{undo} before its save")),
        ]
    });
    all_cases(std::iter::once(abandoned).chain(undos).map(|(crash, when)| async move {
        let case = format!("failing at the last step, crash after {when}");
        let mut world = sc.world().await;
        let before = sc.picture(&world, Against::Before).await;
        let Some(inner) = sc.plan(&world).await else {
            return vec![format!("{case}: nothing to do")];
        };
        let mut problems = Problems::new();
        let state = Progress::start(Inject { inner, injected: (n - 1, Fault::After) });
        match crash_and_resume(sc, &mut world, state, crash).await {
            Ok(SagaOutcome::Unwound { .. }) => {}
            other => problems.push(format!("{case}: the resumed run ended {other:?}")),
        }
        let after = sc.picture(&world, Against::Before).await;
        if after != before {
            problems.push(format!("{case} left a trace:\n{}", diff(&before, &after)));
        }
        problems
    }))
    .await
}

/// Fail with every problem found, one paragraph each.
#[track_caller]
pub fn assert_none(what: &str, problems: Problems) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}
