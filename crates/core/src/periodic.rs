//! The periodic pass every replica runs on a timer: refresh the cached
//! summaries, reconcile networking, audit the pods, forget old jobs. One
//! replica at a time does it (a database lock); a replica that finds it
//! taken skips its turn, so N replicas do not multiply the load on the pods.

use std::time::Duration;

use tricircle_common::Result;
use tricircle_store::{JobStatus, now};

use crate::App;

/// What one pass did, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub refreshed: usize,
    pub reconciled: usize,
    pub repairs: usize,
    pub jobs_purged: u64,
}

impl App {
    /// Publish how many jobs there are of each type and status (gauge
    /// `tricircle_jobs{type,status}`), from the database every replica shares.
    pub async fn publish_job_gauges(&self) -> Result<()> {
        let counts = self.store.job_counts().await?;
        for kind in tricircle_jobs::KINDS {
            for status in JobStatus::ALL {
                let n = counts
                    .iter()
                    .find(|(t, s, _)| t == kind.name && *s == status)
                    .map_or(0, |(_, _, n)| *n);
                metrics::gauge!("tricircle_jobs", "type" => kind.name, "status" => status.as_str())
                    .set(n as f64);
            }
        }
        Ok(())
    }

    /// Run the periodic pass unless another replica is running it (`None`).
    /// Each part's failure is logged and does not stop the others.
    pub async fn periodic_pass(&self, job_retention: Duration) -> Result<Option<PassReport>> {
        let Some(turn) = self.try_turn("periodic:pass").await? else {
            tracing::debug!("another replica is running the periodic pass");
            return Ok(None);
        };
        let mut report = PassReport::default();
        match self.refresh_summaries().await {
            Ok(n) => report.refreshed = n,
            Err(e) => tracing::warn!(error = %e, "refreshing cached summaries failed"),
        }
        match self.reconcile_networking().await {
            Ok(n) => report.reconciled = n,
            Err(e) => tracing::warn!(error = %e, "reconciling networking failed"),
        }
        match self.audit_pods().await {
            Ok(n) => report.repairs = n,
            Err(e) => tracing::warn!(error = %e, "auditing the pods failed"),
        }
        let before =
            now() - chrono::Duration::from_std(job_retention).unwrap_or(chrono::Duration::MAX);
        match self.store.job_purge_finished(before).await {
            Ok(n) => report.jobs_purged = n,
            Err(e) => tracing::warn!(error = %e, "purging finished jobs failed"),
        }
        turn.release().await;
        Ok(Some(report))
    }
}
