//! Jobs an API call runs itself, at once, instead of leaving them to the
//! runner: recorded in the database all the same, so a process that dies
//! mid-way leaves a job that another runner finishes.

use std::future::Future;

use tricircle_common::JobId;

use crate::App;

impl App {
    /// Run `work` for job `id` (held by this process) while renewing its
    /// lease every third of [`crate::Settings::job_lease`]. `None` when the
    /// lease was lost (another runner took the job over after this process
    /// stalled): the work is abandoned at its next await.
    pub(crate) async fn with_job_lease<T>(
        &self,
        id: JobId,
        holder: &str,
        work: impl Future<Output = T>,
    ) -> Option<T> {
        let lease = self.settings.job_lease;
        tokio::pin!(work);
        let mut renew = tokio::time::interval(lease / 3);
        renew.tick().await;
        loop {
            tokio::select! {
                out = &mut work => return Some(out),
                _ = renew.tick() => {
                    let until = self.lease_end();
                    match self.store.job_renew_lease(id, holder, until).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job_id = %id, "lost the lease of a job run inline");
                            if let Err(e) = self.store.job_give_up(id, holder).await {
                                tracing::debug!(job_id = %id, error = %e, "giving up not logged");
                            }
                            return None;
                        }
                        // The database is away: keep working, the lease may still hold.
                        Err(e) => tracing::warn!(job_id = %id, error = %e, "cannot renew a job lease"),
                    }
                }
            }
        }
    }

    /// A name for one claim of a job or a turn by this process: each claim
    /// holds its lease under its own, so a claim whose lease ran out cannot
    /// renew or finish what another task of this process took over, and
    /// the background release of one turn never frees the next one's lock.
    pub(crate) fn claim_holder(&self) -> String {
        format!("{}/{}", self.owner(), tricircle_jobs::runner::hex8())
    }

    /// When a lease taken now ends.
    pub(crate) fn lease_end(&self) -> chrono::DateTime<chrono::Utc> {
        crate::turns::lease_end(self.settings.job_lease)
    }
}
