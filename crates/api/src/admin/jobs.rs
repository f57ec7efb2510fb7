//! `/admin/v1.0/jobs`: inspect, redo and delete durable jobs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use tricircle_common::JobId;
use tricircle_core::PageRequest;
use tricircle_core::jobs::parse_status;
use tricircle_core::paging::page_limit;
use tricircle_openstack_api::links::with_query;
use tricircle_store::{Job, JobFilter, JobStatus};
use utoipa::IntoParams;

use super::PREFIX;
use super::views::{
    Fault, JobAttemptView, JobAttemptsBody, JobBody, JobSchemaView, JobSchemasBody, JobStatusView,
    JobView, JobsBody, LinkView,
};
use crate::ApiState;
use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::{QueryParams, parse_int};
use crate::url::base_url;

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            id: j.id.to_string(),
            project_id: j.project_id,
            job_type: j.job_type,
            status: match j.status {
                JobStatus::New => JobStatusView::New,
                JobStatus::Running => JobStatusView::Running,
                JobStatus::Success => JobStatusView::Success,
                JobStatus::Fail => JobStatusView::Fail,
            },
            resource: j.resource,
            timestamp: j.created_at,
            attempts: j.attempts,
            next_attempt_at: j.next_attempt_at,
            last_error: j.last_error,
            created_at: j.created_at,
            updated_at: j.updated_at,
            finished_at: j.finished_at,
        }
    }
}

/// Filters and paging. Unknown parameters are refused.
#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobListQuery {
    /// A job type (see `/admin/v1.0/jobs/schemas`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    job_type: Option<String>,
    /// `new`, `running`, `success` or `fail` (any case).
    status: Option<String>,
    project_id: Option<String>,
    /// Page size; 0 or absent means the configured maximum, larger values are clamped.
    #[param(value_type = Option<i64>, minimum = 0)]
    limit: Option<String>,
    /// The id of the last job of the previous page.
    #[param(format = Uuid)]
    marker: Option<String>,
}

async fn list(
    state: ApiState,
    ctx: tricircle_common::RequestContext,
    headers: HeaderMap,
    q: JobListQuery,
    path: &str,
) -> ApiResult<Json<JobsBody>> {
    let filter = JobFilter {
        job_type: q.job_type.clone(),
        status: q.status.as_deref().map(parse_status).transpose()?,
        project_id: q.project_id.clone(),
    };
    let limit = page_limit(
        parse_int("limit", q.limit.as_deref())?,
        state.app.settings().pagination_max_limit,
    )?;
    let marker = q.marker.as_deref().map(str::parse::<JobId>).transpose()?;
    let page = state.app.job_list(&ctx, filter, PageRequest { limit, marker }).await?;
    let jobs_links = page.next_marker.map(|m| {
        let mut pairs = vec![("limit", limit.to_string()), ("marker", m.to_string())];
        for (k, v) in [("type", &q.job_type), ("status", &q.status), ("project_id", &q.project_id)]
        {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        let base = base_url(state.public_url.as_deref(), &headers);
        vec![LinkView::new("next", with_query(&format!("{base}{PREFIX}{path}"), &pairs))]
    });
    Ok(Json(JobsBody { jobs: page.items.into_iter().map(JobView::from).collect(), jobs_links }))
}

/// List jobs, newest first, with filters and `limit`/`marker` paging.
#[utoipa::path(get, path = "/admin/v1.0/jobs", tag = "jobs", operation_id = "job_list",
    security(("token" = [])),
    params(JobListQuery),
    responses(
        (status = 200, description = "A page of jobs; `jobs_links` has a next link when the page is full", body = JobsBody),
        (status = 400, description = "Unknown filter, bad status, limit or marker", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
    ))]
pub async fn job_list(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    headers: HeaderMap,
    QueryParams(q): QueryParams<JobListQuery>,
) -> ApiResult<Json<JobsBody>> {
    list(state, ctx, headers, q, "/jobs").await
}

/// The same list as `/jobs` (upstream Tricircle's detail alias).
#[utoipa::path(get, path = "/admin/v1.0/jobs/detail", tag = "jobs", operation_id = "job_list_detail",
    security(("token" = [])),
    params(JobListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobsBody),
        (status = 400, description = "Unknown filter, bad status, limit or marker", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
    ))]
pub async fn job_list_detail(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    headers: HeaderMap,
    QueryParams(q): QueryParams<JobListQuery>,
) -> ApiResult<Json<JobsBody>> {
    list(state, ctx, headers, q, "/jobs/detail").await
}

/// The job types and the fields of their `resource`.
#[utoipa::path(get, path = "/admin/v1.0/jobs/schemas", tag = "jobs", operation_id = "job_schemas",
    security(("token" = [])),
    responses(
        (status = 200, description = "Every job type", body = JobSchemasBody),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
    ))]
pub async fn job_schemas(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
) -> ApiResult<Json<JobSchemasBody>> {
    let kinds = state.app.job_schemas(&ctx)?;
    Ok(Json(JobSchemasBody {
        schemas: kinds
            .iter()
            .map(|k| JobSchemaView {
                job_type: k.name.into(),
                resource: k.resource_fields.iter().map(|f| f.to_string()).collect(),
                description: k.description.into(),
            })
            .collect(),
    }))
}

/// Show one job.
#[utoipa::path(get, path = "/admin/v1.0/jobs/{job_id}", tag = "jobs", operation_id = "job_view",
    security(("token" = [])),
    params(("job_id" = String, Path, format = Uuid, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = JobBody),
        (status = 400, description = "The id is not a UUID", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such job", body = Fault),
    ))]
pub async fn job_view(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<JobBody>> {
    let job = state.app.job_get(&ctx, id.parse()?).await?;
    Ok(Json(JobBody { job: job.into() }))
}

/// Every attempt of a job, oldest first: who held its lease, from when
/// until when, and how it ended.
#[utoipa::path(get, path = "/admin/v1.0/jobs/{job_id}/attempts", tag = "jobs",
    operation_id = "job_attempts",
    security(("token" = [])),
    params(("job_id" = String, Path, format = Uuid, description = "The job's id")),
    responses(
        (status = 200, description = "The job's attempts", body = JobAttemptsBody),
        (status = 400, description = "The id is not a UUID", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such job", body = Fault),
    ))]
pub async fn job_attempts(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<JobAttemptsBody>> {
    let attempts = state.app.job_attempts(&ctx, id.parse()?).await?;
    Ok(Json(JobAttemptsBody {
        attempts: attempts
            .into_iter()
            .map(|a| JobAttemptView {
                owner: a.owner,
                started_at: a.started_at,
                lease_until: a.lease_until,
                finished_at: a.finished_at,
                outcome: a.outcome,
                error: a.error,
            })
            .collect(),
    }))
}

/// Redo a new or failed job now. Returns the job that will run (a failed
/// job whose resource already has a waiting job is folded into that one).
#[utoipa::path(put, path = "/admin/v1.0/jobs/{job_id}", tag = "jobs", operation_id = "job_redo",
    security(("token" = [])),
    params(("job_id" = String, Path, format = Uuid, description = "The job's id")),
    responses(
        (status = 200, description = "The job, queued to run now", body = JobBody),
        (status = 400, description = "The id is not a UUID", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such job", body = Fault),
        (status = 409, description = "The job is running or has succeeded", body = Fault),
    ))]
pub async fn job_redo(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<JobBody>> {
    let job = state.app.job_redo(&ctx, id.parse()?).await?;
    Ok(Json(JobBody { job: job.into() }))
}

/// Delete a job that is not running.
#[utoipa::path(delete, path = "/admin/v1.0/jobs/{job_id}", tag = "jobs", operation_id = "job_delete",
    security(("token" = [])),
    params(("job_id" = String, Path, format = Uuid, description = "The job's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such job", body = Fault),
        (status = 409, description = "The job is running", body = Fault),
    ))]
pub async fn job_delete(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.app.job_delete(&ctx, id.parse()?).await?;
    Ok(StatusCode::NO_CONTENT)
}
