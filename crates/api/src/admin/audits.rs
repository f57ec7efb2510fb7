//! `/admin/v1.0/audits` and `/admin/v1.0/pods/{pod_id}/audit`: the periodic
//! audit's last run per pod, and running one now (see `tricircle_core::audit`).

use axum::Json;
use axum::extract::{Path, State};
use tricircle_common::PodId;
use tricircle_core::audit::{Finding, PodAudit};
use tricircle_store::AuditOutcome;

use super::views::{
    AuditBody, AuditOutcomeView, AuditView, AuditsBody, Fault, FindingView, FindingsView,
};
use crate::ApiState;
use crate::auth::Admin;
use crate::error::ApiResult;

fn findings(list: Vec<Finding>) -> Vec<FindingView> {
    list.into_iter().map(|f| FindingView { kind: f.kind, id: f.id }).collect()
}

impl From<PodAudit> for AuditView {
    fn from(a: PodAudit) -> Self {
        let (outcome, message) = match a.outcome {
            AuditOutcome::Ok => (AuditOutcomeView::Ok, None),
            AuditOutcome::Error { message } => (AuditOutcomeView::Error, Some(message)),
        };
        let f = a.findings;
        AuditView {
            pod_id: a.pod_id.to_string(),
            region_name: a.region_name,
            started_at: a.started_at,
            finished_at: a.finished_at,
            outcome,
            message,
            repairs: a.repairs,
            findings: FindingsView {
                orphans_deleted: findings(f.orphans_deleted),
                vanished_remade: findings(f.vanished_remade),
                vanished_marked: findings(f.vanished_marked),
                vanished_missing: findings(f.vanished_missing),
                ports_released: findings(f.ports_released),
            },
        }
    }
}

/// The last audit run of every pod that has been audited.
#[utoipa::path(get, path = "/admin/v1.0/audits", tag = "audits", operation_id = "audit_list",
    security(("token" = [])),
    responses(
        (status = 200, description = "The last run per pod, ordered by region name (pods never audited are left out)", body = AuditsBody),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
    ))]
pub async fn audit_list(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
) -> ApiResult<Json<AuditsBody>> {
    let audits = state.app.audit_list(&ctx).await?;
    Ok(Json(AuditsBody { audits: audits.into_iter().map(AuditView::from).collect() }))
}

/// The last audit run of one pod.
#[utoipa::path(get, path = "/admin/v1.0/pods/{pod_id}/audit", tag = "audits", operation_id = "audit_view",
    security(("token" = [])),
    params(("pod_id" = String, Path, format = Uuid, description = "The pod's ID")),
    responses(
        (status = 200, description = "The pod's last audit run", body = AuditBody),
        (status = 400, description = "The ID is not a UUID", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such pod, the pod was never audited, or it is the top region (not audited); the message says which", body = Fault),
    ))]
pub async fn audit_view(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(pod_id): Path<String>,
) -> ApiResult<Json<AuditBody>> {
    let pod_id: PodId = pod_id.parse()?;
    Ok(Json(AuditBody { audit: state.app.audit_get(&ctx, pod_id).await?.into() }))
}

/// Audit a pod now: what the periodic audit does, with the configured grace
/// period. Answers the run; a pod that is away gives outcome `error`.
#[utoipa::path(post, path = "/admin/v1.0/pods/{pod_id}/audit", tag = "audits", operation_id = "audit_run",
    security(("token" = [])),
    params(("pod_id" = String, Path, format = Uuid, description = "The pod's ID")),
    responses(
        (status = 200, description = "The run, also recorded as the pod's last; outcome `error` says what could not be done", body = AuditBody),
        (status = 400, description = "The ID is not a UUID", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such pod", body = Fault),
        (status = 409, description = "The pod is the top region, which holds no copies to audit", body = Fault),
    ))]
pub async fn audit_run(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(pod_id): Path<String>,
) -> ApiResult<Json<AuditBody>> {
    let pod_id: PodId = pod_id.parse()?;
    Ok(Json(AuditBody { audit: state.app.audit_run(&ctx, pod_id).await?.into() }))
}
