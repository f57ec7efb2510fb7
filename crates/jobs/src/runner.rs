//! The job runner: claims due jobs by lease, runs their handler, records
//! the outcome, retries with exponential backoff and jitter.
//!
//! Several runners (threads or replicas) may share one database: the lease
//! taken by a conditional `UPDATE` decides who runs a job, and a runner that
//! dies only delays its job until the lease expires. While a handler runs,
//! the runner renews the lease every third of its length; if it cannot, it
//! stops waiting for the handler's outcome (another runner owns the job).
//!
//! Handlers must be idempotent: a job can run again after a crash between
//! the work and the record of its success.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tricircle_common::random;
use tricircle_store::{Job, JobOutcome, Store, StoreError, now};

use crate::kinds::JobKind;

/// Why a run failed.
#[derive(Clone, Debug)]
pub struct JobFailure {
    /// Shown to admins as `last_error`; must not carry credentials.
    pub message: String,
    /// Whether trying again later may help.
    pub retryable: bool,
}

impl JobFailure {
    pub fn retry(message: impl Into<String>) -> Self {
        JobFailure { message: message.into(), retryable: true }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        JobFailure { message: message.into(), retryable: false }
    }
}

pub type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobFailure>> + Send + 'a>>;

/// The code that does one kind of job.
pub trait JobHandler: Send + Sync {
    fn kind(&self) -> &'static JobKind;
    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a>;
}

#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// The process the runner belongs to; each claim holds its lease as
    /// `owner/random`, so no two claims share a holder.
    pub owner: String,
    pub lease: Duration,
    /// How long to sleep when no job is due.
    pub idle_poll: Duration,
    /// After this many attempts a retryable failure becomes final.
    pub max_attempts: i64,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How many jobs one runner works on at a time.
    pub workers: usize,
}

impl RunnerConfig {
    pub fn new(owner: impl Into<String>) -> Self {
        RunnerConfig {
            owner: owner.into(),
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_secs(1),
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            workers: 4,
        }
    }
}

/// The delay before attempt `attempts + 1`: `base × 2^(attempts−1)`, capped,
/// plus up to 20 % random jitter so retries of many jobs do not align.
pub fn backoff(config: &RunnerConfig, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay =
        config.backoff_base.saturating_mul(2u32.saturating_pow(exp)).min(config.backoff_max);
    let jitter = u64::from(u16::from_le_bytes(random::bytes::<2>())) % 1000;
    delay + delay.mul_f64(jitter as f64 / 5000.0)
}

/// Eight random hex digits, to tell one claim of a process from another.
pub fn hex8() -> String {
    random::bytes::<4>().iter().map(|b| format!("{b:02x}")).collect()
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

pub struct Runner {
    store: Store,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    config: RunnerConfig,
}

impl Runner {
    pub fn new(store: Store, config: RunnerConfig) -> Self {
        Runner { store, handlers: HashMap::new(), config }
    }

    pub fn with_handler(mut self, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(handler.kind().name, handler);
        self
    }

    /// Claim and run one due job; `None` when nothing is due. Tests call
    /// this to drain the queue deterministically.
    pub async fn run_once(&self) -> Result<Option<Job>, StoreError> {
        let at = now();
        // Each claim holds the lease under a name of its own: a worker whose
        // lease ran out (the database was away) must not keep renewing or
        // finishing a job another worker of this process took over.
        let holder = format!("{}/{}", self.config.owner, hex8());
        let Some(job) = self.store.job_claim(&holder, at, after(at, self.config.lease)).await?
        else {
            return Ok(None);
        };
        let span = tracing::info_span!("job", job_id = %job.id, job_type = %job.job_type, attempt = job.attempts);
        let outcome = tracing::Instrument::instrument(self.execute(&job), span.clone()).await;
        let Some(outcome) = outcome else {
            span.in_scope(|| {
                tracing::warn!("lost the lease while running; another runner owns the job")
            });
            self.store.job_give_up(job.id, &holder).await?;
            return Ok(Some(job));
        };
        let label = match &outcome {
            JobOutcome::Success => "success",
            JobOutcome::Retry { .. } => "retry",
            JobOutcome::Fail { .. } => "fail",
        };
        metrics::counter!("tricircle_job_runs_total", "type" => job.job_type.clone(), "outcome" => label)
            .increment(1);
        span.in_scope(|| match &outcome {
            JobOutcome::Success => tracing::info!("job succeeded"),
            JobOutcome::Retry { at, error } => {
                tracing::warn!(%error, retry_at = %at, "job failed; will retry")
            }
            JobOutcome::Fail { error } => tracing::error!(%error, "job failed for good"),
        });
        self.store.job_finish(job.id, &holder, outcome).await?;
        Ok(Some(job))
    }

    /// Run the handler while renewing the lease. `None` if the lease was lost.
    async fn execute(&self, job: &Job) -> Option<JobOutcome> {
        let Some(handler) = self.handlers.get(job.job_type.as_str()) else {
            return Some(JobOutcome::Fail {
                error: format!("no handler for job type {}", job.job_type),
            });
        };
        let run = handler.run(job);
        tokio::pin!(run);
        let mut renew = tokio::time::interval(self.config.lease / 3);
        renew.tick().await;
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                _ = renew.tick() => {
                    let until = after(now(), self.config.lease);
                    let holder = job.lease_owner.as_deref().unwrap_or_default();
                    match self.store.job_renew_lease(job.id, holder, until).await {
                        Ok(true) => {}
                        Ok(false) => return None,
                        // The database is away: keep working, the lease may still hold.
                        Err(e) => tracing::warn!(error = %e, "cannot renew the job lease"),
                    }
                }
            }
        };
        Some(match result {
            Ok(()) => JobOutcome::Success,
            Err(f) if f.retryable && job.attempts < self.config.max_attempts => JobOutcome::Retry {
                at: after(now(), backoff(&self.config, job.attempts)),
                error: f.message,
            },
            Err(f) => JobOutcome::Fail { error: f.message },
        })
    }

    /// Run jobs until `shutdown` with `workers` jobs at a time (a job that
    /// waits on a pod, or on another job, does not hold up the rest); each
    /// worker sleeps `idle_poll` when none is due.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let workers: Vec<_> = (0..this.config.workers.max(1))
            .map(|_| {
                let (runner, stop) = (this.clone(), shutdown.clone());
                tokio::spawn(async move { runner.work(stop).await })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
    }

    async fn work(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let idle = match self.run_once().await {
                Ok(Some(_)) => false,
                Ok(None) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "job runner cannot reach the database");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = RunnerConfig {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            ..RunnerConfig::new("t")
        };
        let within = |d: Duration, base: u64| {
            d >= Duration::from_secs(base) && d <= Duration::from_secs(base).mul_f64(1.2)
        };
        assert!(within(backoff(&c, 1), 2));
        assert!(within(backoff(&c, 2), 4));
        assert!(within(backoff(&c, 4), 16));
        assert!(within(backoff(&c, 20), 60), "capped");
        assert!(within(backoff(&c, i64::MAX), 60));
    }
}
