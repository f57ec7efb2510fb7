//! Running a saga inline, from an API call: the saga is recorded as a job
//! this process holds, so a crash mid-way is finished or unwound by the job
//! runner; a failure unwinds at once, so an API call either succeeds or
//! leaves nothing behind (when an undo cannot reach a pod, the runner
//! finishes it later and the resource is hidden meanwhile).

use serde_json::{Value, json};
use tricircle_common::{Error, Result};
use tricircle_jobs::{Journal, Progress, Saga, SagaOutcome, StepError, execute};
use tricircle_store::{NewJob, Pod, now};

use crate::App;

/// The status of a resource whose creation failed and is being undone; such
/// resources are not shown to clients.
pub const UNWINDING: &str = "UNWINDING";

/// The owner name an API process uses for the jobs it runs inline.
pub fn inline_owner() -> String {
    format!("api-{}", std::process::id())
}

impl App {
    /// Run a saga inline under a job this process holds; on failure unwind
    /// at once, so an API call either succeeds or leaves nothing behind
    /// (when an undo cannot reach the pod, the job runner finishes it later).
    pub(crate) async fn run_inline<S: Saga<Ctx = App> + Clone>(
        &self,
        project: &str,
        state: S,
        pod: &Pod,
    ) -> Result<S> {
        let key = serde_json::to_value(&state)
            .ok()
            .and_then(|v| v.get("top_id").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let (job, _) = self
            .store
            .job_enqueue(&NewJob {
                job_type: S::NAME.into(),
                resource_key: key.clone(),
                resource: json!({"id": key}),
                project_id: project.into(),
            })
            .await?;
        let owner = inline_owner();
        let t = now();
        let lease = t + chrono::Duration::seconds(300);
        self.store
            .job_claim_id(job.id, &owner, t, lease)
            .await?
            .ok_or_else(|| Error::internal("could not claim our own job"))?;
        let journal = Journal::Job { store: &self.store, job: job.id, owner: &owner };
        let mut progress = Progress::start(state);
        journal.save(&progress).await?;
        let outcome = execute(self, &mut progress, &journal).await?;
        let outcome = match outcome {
            SagaOutcome::Paused { error } => {
                // An API call does not wait for a pod to come back: unwind.
                progress.abandon(error.message.clone());
                let unwound = execute(self, &mut progress, &journal).await?;
                match unwound {
                    SagaOutcome::Unwound { .. } => SagaOutcome::Unwound { error },
                    other => other,
                }
            }
            other => other,
        };
        let finish = |o| self.store.job_finish(job.id, &owner, o);
        match outcome {
            SagaOutcome::Done => {
                finish(tricircle_store::JobOutcome::Success).await?;
                Ok(progress.state)
            }
            SagaOutcome::Unwound { error } => {
                finish(tricircle_store::JobOutcome::Fail { error: error.message.clone() }).await?;
                Err(step_error_to_api(error, pod))
            }
            SagaOutcome::UndoFailed { error } | SagaOutcome::Paused { error } => {
                // Hidden from clients until the runner finishes unwinding.
                if let Some(row) = self.store.resource_get(&key).await? {
                    self.store
                        .resource_refresh(&row.id, &row.name, UNWINDING, &row.summary)
                        .await?;
                }
                let at = now()
                    + chrono::Duration::from_std(self.settings.saga_retry_delay)
                        .unwrap_or_default();
                finish(tricircle_store::JobOutcome::Retry { at, error: error.message.clone() })
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
