//! Sagas: a multi-step change to pods as a list of idempotent steps, each
//! with an undo, whose progress is recorded in the job row after every step.
//!
//! A saga's state is one serialisable value. Steps read and update it (a
//! step that creates something in a pod records the bottom ID there), and
//! the executor saves `{state, done, unwinding}` after each step, so a
//! process that dies mid-way leaves enough behind for the next runner to
//! continue forward from the first unfinished step, or to finish unwinding.
//!
//! Idempotence is the steps' job: a step looks for the result of an
//! earlier attempt (by a name or tag derived from the top ID) before it
//! creates anything, and an undo of something already gone succeeds.
//! [`testing`] checks both properties for any saga, and that a failure
//! or a crash at any step leaves the world as it was or as a run that
//! never stopped would.

use std::future::Future;
use std::pin::Pin;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tricircle_common::JobId;
use tricircle_store::{Store, StoreError};

pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>>;

/// Why a step failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    /// For logs and `last_error`; never a credential.
    pub message: String,
    /// Whether the whole saga may be retried later (a pod was unreachable)
    /// rather than unwound for good (the pod refused the request).
    pub retryable: bool,
}

impl StepError {
    pub fn retry(message: impl Into<String>) -> Self {
        StepError { message: message.into(), retryable: true }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        StepError { message: message.into(), retryable: false }
    }
}

/// A saga: its state is `Self`; `run(i)` does step `i`, `undo(i)` reverts it.
pub trait Saga: Serialize + DeserializeOwned + Send + Sync {
    type Ctx: Send + Sync;
    /// The job type that runs it.
    const NAME: &'static str;
    /// Step names, for logs and progress.
    const STEPS: &'static [&'static str];
    /// A saga that is never undone once a step has been done (a delete):
    /// a step that fails for a while pauses it, and it goes forward when it
    /// can, instead of unwinding.
    const FORWARD_ONLY: bool = false;

    fn run<'a>(&'a mut self, ctx: &'a Self::Ctx, step: usize) -> StepFuture<'a>;
    fn undo<'a>(&'a mut self, ctx: &'a Self::Ctx, step: usize) -> StepFuture<'a>;
}

/// What is saved in the job's `progress` after each step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Progress<S> {
    pub state: S,
    /// Steps completed (forward), or still to undo (when unwinding).
    pub done: usize,
    pub unwinding: bool,
    /// The failure that started the unwinding.
    pub error: Option<String>,
}

impl<S> Progress<S> {
    pub fn start(state: S) -> Self {
        Progress { state, done: 0, unwinding: false, error: None }
    }
}

impl<S: Saga> Progress<S> {
    /// Give up going forward after the current step failed: unwind from it
    /// (included, since it may have half-happened).
    pub fn abandon(&mut self, error: impl Into<String>) {
        if !self.unwinding {
            self.done = (self.done + 1).min(S::STEPS.len());
            self.unwinding = true;
            self.error = Some(error.into());
        }
    }
}

/// How a saga ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SagaOutcome {
    /// Every step done.
    Done,
    /// A step failed and every earlier step was undone: nothing is left.
    Unwound { error: StepError },
    /// A step failed retryably: progress is saved; run it again later.
    Paused { error: StepError },
    /// An undo failed: progress is saved mid-unwind; run it again later to
    /// finish unwinding.
    UndoFailed { error: StepError },
}

/// Where progress goes: the job row held under lease by `owner`, a log of
/// one's own (tests that record each save, or stop as a killed process
/// would: [`testing::Recorder`]), or nowhere (tests of the saga logic alone).
pub enum Journal<'a> {
    Job { store: &'a Store, job: JobId, owner: &'a str },
    Log(&'a dyn ProgressLog),
    None,
}

/// Somewhere else to keep a saga's progress, as the JSON a job row would hold.
pub trait ProgressLog: Send + Sync {
    /// Keep `progress`; an error stops the saga as a database error would.
    fn save(&self, progress: serde_json::Value) -> Result<(), StoreError>;
}

impl Journal<'_> {
    /// Record `p` (also before the first step, so a crash at once leaves a
    /// resumable job).
    pub async fn save<S: Serialize>(&self, p: &Progress<S>) -> Result<(), StoreError> {
        let value = || {
            serde_json::to_value(p)
                .map_err(|e| StoreError::State(format!("saga state does not serialise: {e}")))
        };
        match self {
            Journal::Job { store, job, owner } => {
                if !store.job_save_progress(*job, owner, &value()?).await? {
                    return Err(StoreError::State("the job's lease was lost".into()));
                }
            }
            Journal::Log(log) => log.save(value()?)?,
            Journal::None => {}
        }
        Ok(())
    }
}

/// Run (or resume) a saga from `progress`, saving after every step.
///
/// A retryable step failure pauses the saga (progress kept, earlier steps
/// kept) so a later attempt continues forward; a fatal one unwinds. A
/// database error while saving stops at once and is returned: the saved
/// progress is still consistent, so a later run resumes safely.
pub async fn execute<S: Saga>(
    ctx: &S::Ctx,
    progress: &mut Progress<S>,
    journal: &Journal<'_>,
) -> Result<SagaOutcome, StoreError> {
    if !progress.unwinding {
        while progress.done < S::STEPS.len() {
            let step = progress.done;
            match progress.state.run(ctx, step).await {
                Ok(()) => {
                    progress.done += 1;
                    journal.save(progress).await?;
                }
                Err(e) if e.retryable => {
                    tracing::warn!(saga = S::NAME, step = S::STEPS[step], error = %e.message, "saga step failed; will retry");
                    journal.save(progress).await?;
                    return Ok(SagaOutcome::Paused { error: e });
                }
                Err(e) => {
                    tracing::warn!(saga = S::NAME, step = S::STEPS[step], error = %e.message, "saga step failed; unwinding");
                    progress.abandon(e.message.clone());
                    journal.save(progress).await?;
                    break;
                }
            }
        }
        if !progress.unwinding {
            return Ok(SagaOutcome::Done);
        }
    }
    while progress.done > 0 {
        let step = progress.done - 1;
        if let Err(e) = progress.state.undo(ctx, step).await {
            tracing::error!(saga = S::NAME, step = S::STEPS[step], error = %e.message, "saga undo failed");
            journal.save(progress).await?;
            return Ok(SagaOutcome::UndoFailed { error: e });
        }
        progress.done = step;
        journal.save(progress).await?;
    }
    let message = progress.error.clone().unwrap_or_default();
    Ok(SagaOutcome::Unwound { error: StepError::fatal(message) })
}

/// A job handler that resumes sagas of type `S` from their saved progress
/// (after a crash, a lost lease, or a pod that was down during an undo).
pub struct SagaJob<S: Saga> {
    ctx: std::sync::Arc<S::Ctx>,
    store: Store,
    kind: &'static crate::JobKind,
}

impl<S: Saga> SagaJob<S> {
    pub fn new(
        ctx: std::sync::Arc<S::Ctx>,
        store: Store,
        kind: &'static crate::JobKind,
    ) -> std::sync::Arc<Self> {
        std::sync::Arc::new(SagaJob { ctx, store, kind })
    }
}

impl<S: Saga + 'static> crate::JobHandler for SagaJob<S>
where
    S::Ctx: 'static,
{
    fn kind(&self) -> &'static crate::JobKind {
        self.kind
    }

    fn run<'a>(&'a self, job: &'a tricircle_store::Job) -> crate::JobFuture<'a> {
        Box::pin(async move {
            let Ok(mut progress) = serde_json::from_value::<Progress<S>>(job.progress.clone())
            else {
                return Err(crate::JobFailure::fatal(
                    "the saga's progress is missing or unreadable",
                ));
            };
            let owner = job.lease_owner.clone().unwrap_or_default();
            let journal = Journal::Job { store: &self.store, job: job.id, owner: &owner };
            match execute(&*self.ctx, &mut progress, &journal).await {
                Ok(SagaOutcome::Done) => Ok(()),
                Ok(SagaOutcome::Unwound { error }) => {
                    Err(crate::JobFailure::fatal(format!("unwound: {}", error.message)))
                }
                Ok(SagaOutcome::Paused { error } | SagaOutcome::UndoFailed { error }) => {
                    Err(crate::JobFailure::retry(error.message))
                }
                Err(e) => Err(crate::JobFailure::retry(format!("database: {e}"))),
            }
        })
    }
}

pub mod testing;
