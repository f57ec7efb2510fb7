//! Durable jobs as the admin API manages them: inspect, redo, delete.

use tricircle_common::{Error, JobId, RequestContext, Result};
use tricircle_jobs::{JobKind, KINDS};
use tricircle_store::{Job, JobAttempt, JobFilter, JobStatus, Page, StoreError};

use crate::paging::PageRequest;
use crate::{App, require_admin};

#[derive(Clone, Debug)]
pub struct JobPage {
    pub items: Vec<Job>,
    pub next_marker: Option<JobId>,
}

/// Parse the admin API's `status` filter (case-insensitive, as upstream).
pub fn parse_status(s: &str) -> Result<JobStatus> {
    s.parse().map_err(|_| {
        Error::bad_request(format!(
            "Invalid status '{}': use one of new, running, success, fail.",
            tricircle_common::ids::truncate_for_message(s)
        ))
    })
}

impl App {
    pub async fn job_list(
        &self,
        ctx: &RequestContext,
        filter: JobFilter,
        page: PageRequest<JobId>,
    ) -> Result<JobPage> {
        require_admin(ctx)?;
        if let Some(marker) = page.marker
            && self.store.job_get(marker).await?.is_none()
        {
            return Err(Error::bad_request(format!("Marker job {marker} could not be found.")));
        }
        let items =
            self.store.job_list(&filter, &Page { limit: page.limit, marker: page.marker }).await?;
        let next_marker =
            if items.len() == page.limit as usize { items.last().map(|j| j.id) } else { None };
        Ok(JobPage { items, next_marker })
    }

    pub async fn job_get(&self, ctx: &RequestContext, id: JobId) -> Result<Job> {
        require_admin(ctx)?;
        self.store.job_get(id).await?.ok_or_else(|| Error::not_found("Job", id))
    }

    /// Who ran a job when, oldest attempt first.
    pub async fn job_attempts(&self, ctx: &RequestContext, id: JobId) -> Result<Vec<JobAttempt>> {
        self.job_get(ctx, id).await?;
        Ok(self.store.job_attempts(id).await?)
    }

    /// Run a new or failed job again now; returns the job that will run.
    pub async fn job_redo(&self, ctx: &RequestContext, id: JobId) -> Result<Job> {
        require_admin(ctx)?;
        match self.store.job_redo(id).await {
            Ok(Some(job)) => {
                tracing::info!(job_id = %id, now_job = %job.id, "job redone");
                Ok(job)
            }
            Ok(None) => Err(Error::not_found("Job", id)),
            Err(StoreError::State(why)) => {
                Err(Error::conflict(format!("Job {id} cannot be redone: {why}.")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn job_delete(&self, ctx: &RequestContext, id: JobId) -> Result<()> {
        require_admin(ctx)?;
        match self.store.job_delete(id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::not_found("Job", id)),
            Err(StoreError::State(why)) => Err(Error::conflict(format!(
                "Job {id} cannot be deleted: {why}; wait for it to finish."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub fn job_schemas(&self, ctx: &RequestContext) -> Result<&'static [JobKind]> {
        require_admin(ctx)?;
        Ok(KINDS)
    }
}
