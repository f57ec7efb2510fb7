//! The job log, read back through the admin API: every job with its
//! attempts, waiting until no job is left to run, and the checks the
//! durable-jobs issue asks of it (all finished, failures explained, no two
//! attempts at once).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::procs::Api;

/// A job and its attempts, from the admin API.
#[derive(Clone, Debug)]
pub struct JobLog {
    pub job: Value,
    pub attempts: Vec<Attempt>,
}

#[derive(Clone, Debug)]
pub struct Attempt {
    pub owner: String,
    pub started_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

impl Attempt {
    /// The latest moment it may have been running: when it reported, or
    /// its last lease when it never did (it died).
    pub fn end(&self) -> DateTime<Utc> {
        self.finished_at.unwrap_or(self.lease_until)
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

/// Every job with its attempts (admin API of one gateway).
pub async fn job_logs(admin: &Api) -> Vec<JobLog> {
    let jobs = admin.all("/admin/v1.0/jobs?limit=200", "jobs").await;
    let mut out = Vec::new();
    for job in jobs {
        let id = job["id"].as_str().expect("job id");
        let body = admin.get(&format!("/admin/v1.0/jobs/{id}/attempts")).await;
        let attempts = body["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .map(|a| Attempt {
                owner: a["owner"].as_str().unwrap_or_default().into(),
                started_at: time(&a["started_at"]).expect("started_at"),
                lease_until: time(&a["lease_until"]).expect("lease_until"),
                finished_at: time(&a["finished_at"]),
                outcome: a["outcome"].as_str().map(str::to_string),
            })
            .collect();
        out.push(JobLog { job, attempts });
    }
    out
}

/// Jobs not finished yet (`NEW` or `RUNNING`).
pub async fn unfinished_jobs(admin: &Api) -> Vec<Value> {
    let mut out = admin.all("/admin/v1.0/jobs?status=new&limit=200", "jobs").await;
    out.extend(admin.all("/admin/v1.0/jobs?status=running&limit=200", "jobs").await);
    out
}

/// Wait (at most `within`) until no job is `NEW` or `RUNNING` and `check`
/// passes; returns its value and how long it took. Panics with what is
/// left otherwise.
pub async fn wait_quiescent<T, F, Fut>(admin: &Api, within: Duration, mut check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        let left = unfinished_jobs(admin).await;
        let why = if left.is_empty() {
            match check().await {
                // Reads may start work (a listing that sees a server go
                // ACTIVE syncs its networks): quiet only if none started.
                Ok(v) if unfinished_jobs(admin).await.is_empty() => return (v, started.elapsed()),
                Ok(_) => "jobs started while the world was read".to_string(),
                Err(why) => why,
            }
        } else {
            let brief: Vec<String> = left
                .iter()
                .map(|j| {
                    format!("{} {} {} {}", j["type"], j["status"], j["resource"], j["last_error"])
                })
                .collect();
            format!("unfinished jobs: {brief:#?}")
        };
        assert!(started.elapsed() < within, "not quiescent after {within:?}:\n{why}");
        if started.elapsed().as_secs() / 10
            != (started.elapsed() + Duration::from_millis(500)).as_secs() / 10
        {
            eprintln!(
                "[waiting {:>3.0}s] {}",
                started.elapsed().as_secs_f64(),
                why.lines().take(6).collect::<Vec<_>>().join(" | ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Check the job log: every job finished (`SUCCESS`, or `FAIL` with a
/// reason), and no two attempts of one job overlap in time. Returns the
/// jobs by status for the report.
pub fn check_job_log(logs: &[JobLog]) -> BTreeMap<String, usize> {
    let mut by_status = BTreeMap::new();
    for l in logs {
        let status = l.job["status"].as_str().unwrap_or_default().to_string();
        *by_status.entry(status.clone()).or_insert(0) += 1;
        assert!(status == "SUCCESS" || status == "FAIL", "job not finished: {}", l.job);
        if status == "FAIL" {
            let why = l.job["last_error"].as_str().unwrap_or_default();
            assert!(!why.trim().is_empty(), "a failed job without a reason: {}", l.job);
        }
        assert!(!l.attempts.is_empty(), "a finished job without an attempt: {}", l.job);
        for pair in l.attempts.windows(2) {
            assert!(
                pair[1].started_at > pair[0].end(),
                "two attempts of job {} overlap: {:?} then {:?}",
                l.job["id"],
                pair[0],
                pair[1]
            );
        }
    }
    by_status
}

/// Two attempts of jobs of the same type on the same resource never ran
/// at once (the engine lets one job per resource and type run).
pub fn check_same_resource_never_overlaps(logs: &[JobLog]) {
    let mut by_key: BTreeMap<String, Vec<(&Value, &Attempt)>> = BTreeMap::new();
    for l in logs {
        let key = format!("{} {}", l.job["type"], l.job["resource"]);
        for a in &l.attempts {
            by_key.entry(key.clone()).or_default().push((&l.job["id"], a));
        }
    }
    for (key, mut attempts) in by_key {
        attempts.sort_by_key(|(_, a)| a.started_at);
        for pair in attempts.windows(2) {
            assert!(
                pair[1].1.started_at > pair[0].1.end(),
                "two attempts on {key} overlap: job {} {:?} and job {} {:?}",
                pair[0].0,
                pair[0].1,
                pair[1].0,
                pair[1].1
            );
        }
    }
}
