//! Running a saga inline, from an API call: the saga is recorded as a job
//! this process holds, so a crash mid-way is finished or unwound by the job
//! runner; a failure unwinds at once, so an API call either succeeds or
//! leaves nothing behind (when an undo cannot reach a pod, the runner
//! finishes it later and the resource is hidden meanwhile).

use serde_json::{Value, json};
use tricircle_common::{Error, Result};
use tricircle_jobs::{Journal, Progress, Saga, SagaOutcome, StepError, execute};
use tricircle_store::{NewJob, Pod, StoreError, now};

use crate::App;

/// The status of a resource whose creation failed and is being undone; such
/// resources are not shown to clients.
pub const UNWINDING: &str = "UNWINDING";

/// How long an API call waits for another operation on the same resource
/// (a second delete of one server) before answering 409.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A saga's job recorded as running in this process, its work not started
/// yet (see [`App::begin_inline`]).
pub(crate) struct BegunJob {
    job: tricircle_store::Job,
    key: String,
}

impl App {
    /// Record `new` as running in this process with `progress` as its
    /// saga's progress, waiting (up to [`BUSY_WAIT`]) while another job on
    /// the same resource runs.
    async fn start_inline_job(
        &self,
        new: &NewJob,
        progress: &Value,
    ) -> Result<tricircle_store::Job> {
        let deadline = tokio::time::Instant::now() + BUSY_WAIT;
        let holder = self.claim_holder();
        loop {
            if let Some(job) =
                self.store.job_start(new, &holder, now(), self.lease_end(), progress).await?
            {
                return Ok(job);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::conflict(format!(
                    "Another operation on {} is still running; retry when it has finished.",
                    new.resource_key
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Record the job of a saga about to run inline, with `progress` as
    /// what the runner finds if this process dies before the saga saves its
    /// own: [`Progress::start`] to go forward, or an abandoned start to
    /// unwind what the caller does before [`App::run_begun`] (a server
    /// create takes its ports in between; `record`'s undo gives them back).
    pub(crate) async fn begin_inline<S: Saga>(
        &self,
        project: &str,
        progress: &Progress<S>,
    ) -> Result<BegunJob> {
        let key = serde_json::to_value(&progress.state)
            .ok()
            .and_then(|v| v.get("top_id").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let new = NewJob {
            job_type: S::NAME.into(),
            resource_key: key.clone(),
            resource: json!({"id": key}),
            project_id: project.into(),
        };
        let progress = serde_json::to_value(progress)
            .map_err(|e| Error::internal(format!("saga state does not serialise: {e}")))?;
        let job = self.start_inline_job(&new, &progress).await?;
        Ok(BegunJob { job, key })
    }

    /// The caller of [`App::begin_inline`] gave up before the saga ran (the
    /// request was refused): the job ends as failed, with the reason.
    pub(crate) async fn abandon_begun(&self, begun: BegunJob, why: &Error) {
        let outcome = tricircle_store::JobOutcome::Fail { error: format!("refused: {why}") };
        let holder = begun.job.lease_owner.clone().unwrap_or_default();
        if let Err(e) = self.store.job_finish(begun.job.id, &holder, outcome).await {
            tracing::warn!(job_id = %begun.job.id, error = %e, "a refused request's job stays for the runner to unwind");
        }
    }

    /// Run a saga inline under a job this process holds; on failure unwind
    /// at once, so an API call either succeeds or leaves nothing behind
    /// (when an undo cannot reach the pod, the job runner finishes it later).
    pub(crate) async fn run_inline<S: Saga<Ctx = App> + Clone>(
        &self,
        project: &str,
        state: S,
        pod: &Pod,
    ) -> Result<S> {
        let begun = self.begin_inline(project, &Progress::start(state.clone())).await?;
        self.run_begun(begun, state, pod).await
    }

    /// Run a saga from its start under the job [`App::begin_inline`] recorded.
    pub(crate) async fn run_begun<S: Saga<Ctx = App> + Clone>(
        &self,
        begun: BegunJob,
        state: S,
        pod: &Pod,
    ) -> Result<S> {
        let BegunJob { job, key } = begun;
        let owner = job.lease_owner.clone().unwrap_or_default();
        let journal = Journal::Job { store: &self.store, job: job.id, owner: &owner };
        let mut progress = Progress::start(state);
        // Progress not saved because the lease went to another runner (this
        // process stalled past it): that runner finishes the job.
        let lost = |e: StoreError| match e {
            StoreError::State(why) => Error::unavailable(IN_BACKGROUND, why),
            other => other.into(),
        };
        let run = async {
            riding(|| journal.save(&progress)).await.map_err(lost)?;
            let outcome = execute_riding(self, &mut progress, &journal).await.map_err(lost)?;
            Ok::<_, Error>(match outcome {
                // A delete that has begun is not undone: going forward is
                // left to the runner (the region is asked, or asked again,
                // when it answers), and the call is accepted.
                SagaOutcome::Paused { error } if S::FORWARD_ONLY && progress.done > 0 => {
                    SagaOutcome::Paused { error }
                }
                SagaOutcome::Paused { error } => {
                    // An API call does not wait for a pod to come back: unwind.
                    progress.abandon(error.message.clone());
                    match execute_riding(self, &mut progress, &journal).await.map_err(lost)? {
                        SagaOutcome::Unwound { .. } => SagaOutcome::Unwound { error },
                        other => other,
                    }
                }
                other => other,
            })
        };
        let Some(outcome) = self.with_job_lease(job.id, &owner, run).await else {
            return Err(Error::unavailable(
                IN_BACKGROUND,
                format!("lost the lease of job {}", job.id),
            ));
        };
        let outcome = outcome?;
        let who = owner.as_str();
        let finish = |o: tricircle_store::JobOutcome| {
            riding(move || self.store.job_finish(job.id, who, o.clone()))
        };
        let retry_at =
            now() + chrono::Duration::from_std(self.settings.saga_retry_delay).unwrap_or_default();
        match outcome {
            SagaOutcome::Done => {
                finish(tricircle_store::JobOutcome::Success).await?;
                Ok(progress.state)
            }
            SagaOutcome::Unwound { error } => {
                finish(tricircle_store::JobOutcome::Fail { error: error.message.clone() }).await?;
                Err(step_error_to_api(error, pod))
            }
            SagaOutcome::Paused { error } if S::FORWARD_ONLY => {
                tracing::warn!(job_id = %job.id, error = %error.message, "accepted; the job runner finishes it when the region answers");
                finish(tricircle_store::JobOutcome::Retry { at: retry_at, error: error.message })
                    .await?;
                Ok(progress.state)
            }
            SagaOutcome::UndoFailed { error } | SagaOutcome::Paused { error } => {
                // Hidden from clients until the runner finishes unwinding.
                if let Some(row) = self.store.resource_get(&key).await? {
                    self.store
                        .resource_refresh(&row.id, &row.name, UNWINDING, &row.summary)
                        .await?;
                }
                let error_message = error.message.clone();
                finish(tricircle_store::JobOutcome::Retry { at: retry_at, error: error_message })
                    .await?;
                Err(Error::unavailable(
                    format!(
                        "Availability zone {} is unavailable: region {} is not answering; the partial work will be cleaned up when it answers again.",
                        pod.az_name, pod.region_name
                    ),
                    error.message,
                ))
            }
        }
    }
}

/// The answer when another runner took the job over from this request.
const IN_BACKGROUND: &str =
    "The request is taking longer than expected; the gateway finishes it in the background.";

/// How long to wait before trying the database again mid-saga, and how
/// many times: each failure already waited the pool's acquire timeout, so
/// this rides out about that many of them.
const HICCUP_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);
const HICCUP_TRIES: usize = 8;

/// `op` again while the database has no connection to give (a pool that ran
/// dry under a burst). Once a saga's job is recorded, giving up answers 503
/// for work the runner then finishes anyway (a server the client was told
/// was not made appears a lease later): carrying on gives the answer that
/// will hold. A lost lease is no hiccup: it ends the attempt at once.
async fn riding<T, F, Fut>(mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut tries = 0;
    loop {
        match op().await {
            Err(StoreError::Unavailable(e)) if tries < HICCUP_TRIES => {
                tries += 1;
                tracing::warn!(error = %e, "the database is unavailable mid-saga; trying again");
                tokio::time::sleep(HICCUP_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// [`execute`], carried on from where it stopped while the database is
/// unavailable (see [`riding`]): every step is idempotent and the progress
/// in memory is at or ahead of the saved one, so going on is safe.
async fn execute_riding<S: Saga<Ctx = App>>(
    app: &App,
    progress: &mut Progress<S>,
    journal: &Journal<'_>,
) -> Result<SagaOutcome, StoreError> {
    let mut tries = 0;
    loop {
        match execute(app, progress, journal).await {
            Err(StoreError::Unavailable(e)) if tries < HICCUP_TRIES => {
                tries += 1;
                tracing::warn!(saga = S::NAME, error = %e, "the database is unavailable mid-saga; going on from where it stopped");
                tokio::time::sleep(HICCUP_PAUSE).await;
            }
            other => return other,
        }
    }
}

fn step_error_to_api(e: StepError, pod: &Pod) -> Error {
    if e.retryable {
        Error::unavailable(
            format!(
                "Availability zone {} is unavailable: region {} is not answering; retry later.",
                pod.az_name, pod.region_name
            ),
            e.message,
        )
    } else if let Some(why) = e.message.strip_prefix("Conflict: ") {
        Error::conflict(why)
    } else if e.message.starts_with("Region ") {
        Error::bad_request(e.message)
    } else {
        Error::internal(e.message)
    }
}
