//! Running jobs: claiming by lease, renewing, saving saga progress,
//! finishing, and the log of every attempt.
//!
//! A job is claimed with a lease (`lease_owner`, `lease_until`) taken by a
//! conditional `UPDATE`, which works the same on SQLite and PostgreSQL; a
//! replica that dies simply stops renewing and another takes the job over
//! once the lease has expired. Each claim writes a row of `job_attempts` in
//! the same transaction, renewed with the lease and closed with the outcome,
//! so who ran a job when stays visible (and checkable: two attempts of a job
//! never overlap).

use chrono::{DateTime, Utc};
use tricircle_common::JobId;

use crate::jobs::{JOB_COLUMNS, JobRow};
use crate::{Job, JobStatus, NewJob, Store, StoreResult, now, on_pool};

/// Open an attempt of job `$id` by `$owner` inside a claim's transaction
/// (a macro: the statement is the same on both backends' transactions).
/// Its start is read after the claim's write went through: that write waited
/// for the previous holder's outcome to commit (the database's lock, or the
/// one-running-job index), so the log shows the order things really ran in.
macro_rules! open_attempt {
    ($tx:ident, $id:expr, $owner:expr, $at:expr, $lease_until:expr) => {
        sqlx::query(
            "INSERT INTO job_attempts (job_id, owner, started_at, lease_until) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind($id)
        .bind($owner)
        .bind($at)
        .bind($lease_until)
        .execute(&mut *$tx)
        .await
        .map(|_| ())
    };
}

/// The condition under which a job may be claimed at time `$1`.
const CLAIMABLE: &str = "((status = 'NEW' AND next_attempt_at <= $1) \
     OR (status = 'RUNNING' AND lease_until < $1))";

/// How a run of a job ended.
#[derive(Clone, Debug)]
pub enum JobOutcome {
    Success,
    /// Failed, to be tried again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Failed for good (or out of attempts); an admin may redo it.
    Fail {
        error: String,
    },
}

/// One claim of a job, as the log keeps it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct JobAttempt {
    pub job_id: String,
    /// The runner (or API process) that held the lease.
    pub owner: String,
    pub started_at: DateTime<Utc>,
    /// The attempt's last lease: it did not run past it.
    pub lease_until: DateTime<Utc>,
    /// When it recorded its outcome; `None` if it never did (it died).
    pub finished_at: Option<DateTime<Utc>>,
    /// `SUCCESS`, `RETRY`, `FAIL`, `LEASE_LOST`, or `None` while running.
    pub outcome: Option<String>,
    pub error: Option<String>,
}

impl JobAttempt {
    /// The latest moment the attempt may have been running.
    pub fn ended_by(&self) -> DateTime<Utc> {
        self.finished_at.map_or(self.lease_until, |f| f.min(self.lease_until))
    }
}

impl Store {
    /// Claim the job that has waited longest among those runnable at `at`
    /// (new and due, or running with an expired lease), leasing it to
    /// `owner` until `lease_until`.
    pub async fn job_claim(
        &self,
        owner: &str,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Job>> {
        // Jobs waiting behind a running job of the same resource are left
        // out, so eight of them cannot hide every other due job.
        let select = sqlx::AssertSqlSafe(format!(
            "SELECT id FROM jobs WHERE {CLAIMABLE} AND NOT EXISTS (SELECT 1 FROM jobs r \
             WHERE r.job_type = jobs.job_type AND r.resource_key = jobs.resource_key \
             AND r.status = 'RUNNING' AND r.id <> jobs.id AND r.lease_until >= $1) \
             ORDER BY next_attempt_at, seq LIMIT 8"
        ));
        let candidates: Vec<(String,)> =
            on_pool!(self, |pool| sqlx::query_as(select).bind(at).fetch_all(pool).await)?;
        for (id,) in candidates {
            match self.claim_row(&id, CLAIMABLE, owner, at, lease_until).await {
                Ok(Some(row)) => return Ok(Some(row.try_into()?)),
                // Someone else claimed it first.
                Ok(None) => continue,
                // Another job for the same resource is running: this one waits.
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Claim one particular new job (an API call running it inline). `None`
    /// when it is not new any more (a runner took it first) or another job
    /// for the same resource is running (it has to wait its turn).
    pub async fn job_claim_id(
        &self,
        id: JobId,
        owner: &str,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Job>> {
        match self.claim_row(&id.to_string(), "status = 'NEW'", owner, at, lease_until).await {
            Ok(row) => row.map(Job::try_from).transpose(),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Take over the running job of `(job_type, resource_key)` whose lease
    /// ran out at `at` (its holder died): a request that must wait for that
    /// job does its work instead of waiting for a runner to notice.
    pub async fn job_claim_stale(
        &self,
        job_type: &str,
        resource_key: &str,
        owner: &str,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Job>> {
        let stale: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id FROM jobs WHERE job_type = $1 AND resource_key = $2 \
                 AND status = 'RUNNING' AND lease_until < $3",
            )
            .bind(job_type)
            .bind(resource_key)
            .bind(at)
            .fetch_optional(pool)
            .await
        })?;
        let Some((id,)) = stale else { return Ok(None) };
        match self.claim_row(&id, CLAIMABLE, owner, at, lease_until).await {
            Ok(row) => row.map(Job::try_from).transpose(),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Lease job `id` to `owner` if `condition` holds, and open its attempt;
    /// an earlier attempt that never reported is closed as `LEASE_LOST`.
    async fn claim_row(
        &self,
        id: &str,
        condition: &str,
        owner: &str,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<JobRow>, sqlx::Error> {
        let update = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'RUNNING', lease_owner = $2, lease_until = $3, \
             attempts = attempts + 1, updated_at = $1 WHERE id = $4 AND {condition} \
             RETURNING {JOB_COLUMNS}"
        ));
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let row: Option<JobRow> = sqlx::query_as(update)
                .bind(at)
                .bind(owner)
                .bind(lease_until)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if row.is_some() {
                sqlx::query(
                    "UPDATE job_attempts SET outcome = 'LEASE_LOST' \
                     WHERE job_id = $1 AND outcome IS NULL",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                open_attempt!(tx, id, owner, now().max(at), lease_until)?;
            }
            tx.commit().await?;
            Ok(row)
        })
    }

    /// Record a new job as already running for `owner` (an API call that
    /// runs it inline at once, so no runner can take it first), with its
    /// `progress` written in the same statement: a saga's starting point, so
    /// a process that dies right after recording the job leaves one the
    /// runner can resume (or unwind) rather than one with nothing to go on.
    /// `None` when another job for the same resource is running.
    pub async fn job_start(
        &self,
        new: &NewJob,
        owner: &str,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        progress: &serde_json::Value,
    ) -> StoreResult<Option<Job>> {
        let id = JobId::new();
        let inserted: Result<(), sqlx::Error> = on_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO jobs (id, job_type, resource_key, resource, project_id, status, \
                 attempts, next_attempt_at, lease_owner, lease_until, progress, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, 'RUNNING', 1, $6, $7, $8, $9, $6, $6)",
            )
            .bind(id.to_string())
            .bind(&new.job_type)
            .bind(&new.resource_key)
            .bind(new.resource.to_string())
            .bind(&new.project_id)
            .bind(at)
            .bind(owner)
            .bind(lease_until)
            .bind(progress.to_string())
            .execute(&mut *tx)
            .await?;
            open_attempt!(tx, id.to_string(), owner, now().max(at), lease_until)?;
            tx.commit().await
        }
        .await);
        match inserted {
            Ok(()) => self.job_get(id).await,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Extend the lease of a job `owner` still holds; `false` if it lost it.
    pub async fn job_renew_lease(
        &self,
        id: JobId,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 \
                 AND status = 'RUNNING'",
            )
            .bind(lease_until)
            .bind(id.to_string())
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                sqlx::query(
                    "UPDATE job_attempts SET lease_until = $1 WHERE job_id = $2 AND owner = $3 \
                     AND outcome IS NULL",
                )
                .bind(lease_until)
                .bind(id.to_string())
                .bind(owner)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await.map(|_| n)
        })?;
        Ok(done > 0)
    }

    /// Record that `owner` stopped working on a job it no longer holds (its
    /// lease was lost), so the log shows when it stopped.
    pub async fn job_give_up(&self, id: JobId, owner: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE job_attempts SET outcome = 'LEASE_LOST', finished_at = $1 \
                 WHERE job_id = $2 AND owner = $3 AND outcome IS NULL",
            )
            .bind(now())
            .bind(id.to_string())
            .bind(owner)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Record the saga progress of a job `owner` holds.
    pub async fn job_save_progress(
        &self,
        id: JobId,
        owner: &str,
        progress: &serde_json::Value,
    ) -> StoreResult<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET progress = $1, updated_at = $2 WHERE id = $3 \
                 AND lease_owner = $4 AND status = 'RUNNING'",
            )
            .bind(progress.to_string())
            .bind(now())
            .bind(id.to_string())
            .bind(owner)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Finish a job `owner` holds. `Ok(false)` if the lease was lost (another
    /// replica took the job over; its outcome wins).
    pub async fn job_finish(
        &self,
        id: JobId,
        owner: &str,
        outcome: JobOutcome,
    ) -> StoreResult<bool> {
        let ts = now();
        let (status, next_attempt_at, error) = match &outcome {
            JobOutcome::Success => (JobStatus::Success, ts, None),
            JobOutcome::Retry { at, error } => (JobStatus::New, *at, Some(error.as_str())),
            JobOutcome::Fail { error } => (JobStatus::Fail, ts, Some(error.as_str())),
        };
        let update = |status: JobStatus| FinishUpdate {
            id,
            owner,
            status,
            next_attempt_at,
            error,
            finished_at: (status != JobStatus::New).then_some(ts),
            ts,
        };
        let done = match self.finish_update(update(status)).await {
            // A newer request for the same resource is already waiting and
            // will redo the work; this attempt is recorded as failed.
            Err(sqlx::Error::Database(db))
                if db.is_unique_violation() && status == JobStatus::New =>
            {
                self.finish_update(update(JobStatus::Fail)).await?
            }
            other => other?,
        };
        Ok(done > 0)
    }

    async fn finish_update(&self, u: FinishUpdate<'_>) -> Result<u64, sqlx::Error> {
        let attempt_outcome = match u.status {
            JobStatus::New => "RETRY",
            other => other.as_str(),
        };
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE jobs SET status = $1, next_attempt_at = $2, last_error = $3, \
                 finished_at = $4, lease_owner = NULL, lease_until = NULL, updated_at = $5 \
                 WHERE id = $6 AND lease_owner = $7 AND status = 'RUNNING'",
            )
            .bind(u.status.as_str())
            .bind(u.next_attempt_at)
            .bind(u.error)
            .bind(u.finished_at)
            .bind(u.ts)
            .bind(u.id.to_string())
            .bind(u.owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                sqlx::query(
                    "UPDATE job_attempts SET outcome = $1, error = $2, finished_at = $3 \
                     WHERE job_id = $4 AND owner = $5 AND outcome IS NULL",
                )
                .bind(attempt_outcome)
                .bind(u.error)
                .bind(u.ts)
                .bind(u.id.to_string())
                .bind(u.owner)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await.map(|_| n)
        })
    }

    /// Every attempt of a job, oldest first.
    pub async fn job_attempts(&self, id: JobId) -> StoreResult<Vec<JobAttempt>> {
        let rows = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT job_id, owner, started_at, lease_until, finished_at, outcome, error \
                 FROM job_attempts WHERE job_id = $1 ORDER BY seq",
            )
            .bind(id.to_string())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Take the named lock for `owner` until `lease_until`, if it is free,
    /// expired at `at`, or already `owner`'s (then it is renewed).
    pub async fn lock_acquire(
        &self,
        name: &str,
        owner: &str,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO locks (name, owner, lease_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, \
                 lease_until = excluded.lease_until \
                 WHERE locks.lease_until < $4 OR locks.owner = excluded.owner",
            )
            .bind(name)
            .bind(owner)
            .bind(lease_until)
            .bind(at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Let go of a lock `owner` holds (a no-op when it lost it).
    pub async fn lock_release(&self, name: &str, owner: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM locks WHERE name = $1 AND owner = $2")
                .bind(name)
                .bind(owner)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

struct FinishUpdate<'a> {
    id: JobId,
    owner: &'a str,
    status: JobStatus,
    next_attempt_at: DateTime<Utc>,
    error: Option<&'a str>,
    finished_at: Option<DateTime<Utc>>,
    ts: DateTime<Utc>,
}
