//! Durable jobs: the rows the job engine claims, runs and finishes.
//!
//! A job is claimed with a lease (`lease_owner`, `lease_until`) taken by a
//! conditional `UPDATE`, which works the same on SQLite and PostgreSQL; a
//! replica that dies simply stops renewing and another takes the job over
//! once the lease has expired. Two partial unique indexes keep at most one
//! waiting (`NEW`) and one `RUNNING` job per `(job_type, resource_key)`, so
//! duplicate requests collapse and no resource is worked on twice at once.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use tricircle_common::JobId;

use crate::{Page, Store, StoreError, StoreResult, now, on_pool};

/// Upstream Tricircle's job states, as the admin API shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    New,
    Running,
    Success,
    Fail,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] =
        [JobStatus::New, JobStatus::Running, JobStatus::Success, JobStatus::Fail];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::New => "NEW",
            JobStatus::Running => "RUNNING",
            JobStatus::Success => "SUCCESS",
            JobStatus::Fail => "FAIL",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = ();
    /// Case-insensitive, as upstream's `status` filter.
    fn from_str(s: &str) -> Result<Self, ()> {
        JobStatus::ALL.into_iter().find(|st| st.as_str().eq_ignore_ascii_case(s)).ok_or(())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub job_type: String,
    pub resource_key: String,
    pub resource: serde_json::Value,
    pub project_id: String,
    pub status: JobStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub progress: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct NewJob {
    pub job_type: String,
    pub resource_key: String,
    pub resource: serde_json::Value,
    pub project_id: String,
}

#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub job_type: Option<String>,
    pub status: Option<JobStatus>,
    pub project_id: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: String,
    job_type: String,
    resource_key: String,
    resource: String,
    project_id: String,
    status: String,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    lease_owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    progress: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> StoreResult<Job> {
        let corrupt = |what: &str| StoreError::State(format!("corrupt {what} in job {}", r.id));
        Ok(Job {
            id: r.id.parse().map_err(|_| corrupt("id"))?,
            status: r.status.parse().map_err(|_| corrupt("status"))?,
            resource: serde_json::from_str(&r.resource).map_err(|_| corrupt("resource"))?,
            progress: serde_json::from_str(&r.progress).map_err(|_| corrupt("progress"))?,
            job_type: r.job_type,
            resource_key: r.resource_key,
            project_id: r.project_id,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            lease_owner: r.lease_owner,
            lease_until: r.lease_until,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    }
}

pub(crate) const JOB_COLUMNS: &str = "id, job_type, resource_key, resource, project_id, status, attempts, \
     next_attempt_at, lease_owner, lease_until, last_error, progress, created_at, updated_at, \
     finished_at";

impl Store {
    /// Queue a job. When a `NEW` job for the same `(job_type,
    /// resource_key)` is already waiting, that job is returned instead and
    /// the flag is `false`: the waiting job will do the same work.
    pub async fn job_enqueue(&self, new: &NewJob) -> StoreResult<(Job, bool)> {
        self.job_enqueue_due(new, now()).await
    }

    /// Queue a job that is not due before `due` (an intent recorded before
    /// its work is done inline: the runner takes it only if that work did
    /// not finish). Duplicates collapse as with [`Store::job_enqueue`].
    pub async fn job_enqueue_due(
        &self,
        new: &NewJob,
        due: DateTime<Utc>,
    ) -> StoreResult<(Job, bool)> {
        let ts = now();
        let id = JobId::new();
        let inserted = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO jobs (id, job_type, resource_key, resource, project_id, status, \
                 attempts, next_attempt_at, progress, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'NEW', 0, $6, '{}', $7, $7) \
                 ON CONFLICT (job_type, resource_key) WHERE status = 'NEW' DO NOTHING",
            )
            .bind(id.to_string())
            .bind(&new.job_type)
            .bind(&new.resource_key)
            .bind(new.resource.to_string())
            .bind(&new.project_id)
            .bind(due)
            .bind(ts)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })? > 0;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE job_type = $1 AND resource_key = $2 \
             AND status = 'NEW'"
        ));
        let row: Option<JobRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(&new.job_type)
                .bind(&new.resource_key)
                .fetch_optional(pool)
                .await
        })?;
        match row {
            Some(row) => Ok((row.try_into()?, inserted)),
            // The waiting job was claimed between our insert and our read;
            // it does the work we asked for, so queue ours again behind it.
            None => Box::pin(self.job_enqueue_due(new, due)).await,
        }
    }

    pub async fn job_get(&self, id: JobId) -> StoreResult<Option<Job>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"));
        let row: Option<JobRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql).bind(id.to_string()).fetch_optional(pool).await
        })?;
        row.map(Job::try_from).transpose()
    }

    /// Jobs matching `filter`, newest first, at most `page.limit` after the
    /// marker job. A marker that does not exist yields an empty page; the
    /// caller checks it first to answer 400.
    pub async fn job_list(&self, filter: &JobFilter, page: &Page<JobId>) -> StoreResult<Vec<Job>> {
        let rows: Vec<JobRow> = on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1"));
            if let Some(v) = &filter.job_type {
                q.push(" AND job_type = ").push_bind(v.clone());
            }
            if let Some(v) = filter.status {
                q.push(" AND status = ").push_bind(v.as_str());
            }
            if let Some(v) = &filter.project_id {
                q.push(" AND project_id = ").push_bind(v.clone());
            }
            if let Some(marker) = page.marker {
                q.push(" AND seq < (SELECT seq FROM jobs WHERE id = ")
                    .push_bind(marker.to_string())
                    .push(")");
            }
            q.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(page.limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(Job::try_from).collect()
    }

    /// Run a `NEW` or `FAIL` job again as soon as possible. A failed job
    /// whose resource already has a waiting job is folded into that one
    /// (which is returned). `RUNNING` and `SUCCESS` jobs give
    /// [`StoreError::State`]; `None` means no such job.
    pub async fn job_redo(&self, id: JobId) -> StoreResult<Option<Job>> {
        let Some(job) = self.job_get(id).await? else { return Ok(None) };
        match job.status {
            JobStatus::Running => return Err(StoreError::State("the job is running".into())),
            JobStatus::Success => {
                return Err(StoreError::State("the job has already succeeded".into()));
            }
            JobStatus::New | JobStatus::Fail => {}
        }
        let ts = now();
        let updated = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET status = 'NEW', attempts = 0, next_attempt_at = $1, \
                 last_error = NULL, finished_at = NULL, lease_owner = NULL, lease_until = NULL, \
                 updated_at = $1 WHERE id = $2 AND status IN ('NEW', 'FAIL')",
            )
            .bind(ts)
            .bind(id.to_string())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match updated {
            Ok(0) => {
                // Its state changed under us (claimed or finished): report it.
                Err(StoreError::State("the job changed state; look at it again".into()))
            }
            Ok(_) => self.job_get(id).await,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                // Another NEW job for the same resource is waiting: it will do
                // this work, so this failed row is folded into it.
                on_pool!(self, |pool| {
                    sqlx::query("DELETE FROM jobs WHERE id = $1 AND status = 'FAIL'")
                        .bind(id.to_string())
                        .execute(pool)
                        .await
                        .map(|r| r.rows_affected())
                })?;
                let (waiting, _) = self
                    .job_enqueue(&NewJob {
                        job_type: job.job_type,
                        resource_key: job.resource_key,
                        resource: job.resource,
                        project_id: job.project_id,
                    })
                    .await?;
                Ok(Some(waiting))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a job that is not running. `false` when it did not exist.
    pub async fn job_delete(&self, id: JobId) -> StoreResult<bool> {
        let Some(job) = self.job_get(id).await? else { return Ok(false) };
        if job.status == JobStatus::Running {
            return Err(StoreError::State("the job is running".into()));
        }
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM jobs WHERE id = $1 AND status <> 'RUNNING'")
                .bind(id.to_string())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::State("the job started running".into()));
        }
        Ok(true)
    }

    /// The waiting or running job of `(job_type, resource_key)`, if any.
    pub async fn job_active(&self, job_type: &str, resource_key: &str) -> StoreResult<Option<Job>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE job_type = $1 AND resource_key = $2 \
             AND status IN ('NEW', 'RUNNING') ORDER BY seq LIMIT 1"
        ));
        let row: Option<JobRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql).bind(job_type).bind(resource_key).fetch_optional(pool).await
        })?;
        row.map(Job::try_from).transpose()
    }

    /// How many jobs there are of each (type, status).
    pub async fn job_counts(&self) -> StoreResult<Vec<(String, JobStatus, i64)>> {
        let rows: Vec<(String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT job_type, status, COUNT(*) FROM jobs GROUP BY job_type, status \
                 ORDER BY job_type, status",
            )
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(t, s, n)| {
                let status = s.parse().map_err(|_| StoreError::State(format!("job status {s}")))?;
                Ok((t, status, n))
            })
            .collect()
    }

    /// Delete finished jobs (`SUCCESS`, `FAIL`) that finished before `before`.
    pub async fn job_purge_finished(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM jobs WHERE status IN ('SUCCESS', 'FAIL') AND finished_at < $1")
                .bind(before)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done)
    }
}
