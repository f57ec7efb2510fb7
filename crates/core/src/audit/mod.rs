//! The periodic audit of each pod (DESIGN §5, the durable-jobs issue):
//! compare what a pod holds with the routings, repair the drift, and record
//! what the run found for admins (one `pod_audits` row per pod).
//!
//! - Networking: see [`crate::networking::audit`].
//! - Servers and volumes ([`servers`], [`volumes`]): a pod's server or
//!   volume the gateway made (named after a top ID; a server also carries
//!   the gateway's metadata key) in a project the gateway made in that pod,
//!   that no routing points at and older than the grace period, is an
//!   orphan and is deleted. A routing whose copy vanished (a GET answers
//!   404) is reported and its top resource marked ERROR (`error` for a
//!   volume): the top resource is the user's, and only the user can say
//!   whether to make it again.
//! - Port claims ([`port_claims`]): top ports claimed for a server the top
//!   does not have and no live job will create are given back once older
//!   than the grace period.
//!
//! A create in flight is never taken for an orphan: its routing exists
//! before the pod is asked (without a bottom ID: the lock), its job is live,
//! and the grace covers what starts after the audit read the routings.

mod port_claims;
mod servers;
mod volumes;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tricircle_common::{Error, ErrorKind, PodId, RequestContext, Result};
use tricircle_pod_client::{PodRequest, PodSession, ServiceType};
use tricircle_store::{
    AuditOutcome, JobFilter, JobStatus, NewPodAudit, Page, Pod, PodAuditRecord, Routing,
    RoutingFilter, now,
};

use crate::networking::audit::NetworkAudit;
use crate::{App, require_admin};

/// One thing an audit found: what kind of object, and its ID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: String,
    pub id: String,
}

impl Finding {
    pub fn new(kind: &str, id: &str) -> Finding {
        Finding { kind: kind.into(), id: id.into() }
    }
}

/// What one run found, by what became of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Findings {
    /// Pod objects no routing pointed at, deleted (by the pod's ID).
    pub orphans_deleted: Vec<Finding>,
    /// Copies the pod lost that the reconciles make again (by top ID).
    pub vanished_remade: Vec<Finding>,
    /// Servers and volumes the pod lost, shown in ERROR (by top ID; listed
    /// by every run while they stay lost).
    pub vanished_marked: Vec<Finding>,
    /// Copies the pod lost that cannot be made again: a server's port (by
    /// top ID), reported only.
    pub vanished_missing: Vec<Finding>,
    /// Top ports claimed for a server the top does not have, given back
    /// (by top port ID).
    pub ports_released: Vec<Finding>,
}

/// The last (or this) audit run of a pod.
#[derive(Clone, Debug, PartialEq)]
pub struct PodAudit {
    pub pod_id: PodId,
    pub region_name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: AuditOutcome,
    pub findings: Findings,
    /// How many changes the run made (a server still lost is listed again
    /// by each run but marked once).
    pub repairs: i64,
}

impl PodAudit {
    fn from_record(r: PodAuditRecord) -> Result<PodAudit> {
        let findings = serde_json::from_value(r.audit.findings).map_err(Error::internal)?;
        Ok(PodAudit {
            pod_id: r.audit.pod_id,
            region_name: r.region_name,
            started_at: r.audit.started_at,
            finished_at: r.audit.finished_at,
            outcome: r.audit.outcome,
            findings,
            repairs: r.audit.repairs,
        })
    }
}

/// What a run has found so far; each repair is logged and counted in
/// `tricircle_audit_repairs_total{repair,kind}`.
pub(crate) struct Tally<'a> {
    pod: &'a Pod,
    findings: Findings,
    repairs: i64,
}

fn count(repair: &'static str, kind: &str) {
    metrics::counter!("tricircle_audit_repairs_total", "repair" => repair, "kind" => kind.to_string())
        .increment(1);
}

impl<'a> Tally<'a> {
    fn new(pod: &'a Pod) -> Self {
        Tally { pod, findings: Findings::default(), repairs: 0 }
    }

    /// The networking audit logs and counts its own repairs.
    fn networking(&mut self, n: NetworkAudit) {
        self.repairs += (n.orphans_deleted.len() + n.vanished_remade.len()) as i64;
        self.findings.orphans_deleted.extend(n.orphans_deleted);
        self.findings.vanished_remade.extend(n.vanished_remade);
        self.findings.vanished_missing.extend(n.vanished_missing);
    }

    fn orphan_deleted(&mut self, kind: &str, bottom_id: &str) {
        tracing::warn!(region = %self.pod.region_name, kind, bottom_id, "audit: orphan deleted (no routing points at it)");
        count("orphan_deleted", kind);
        self.repairs += 1;
        self.findings.orphans_deleted.push(Finding::new(kind, bottom_id));
    }

    /// A lost server or volume; `marked` when this run put it in ERROR.
    fn vanished_marked(&mut self, kind: &str, top_id: &str, marked: bool) {
        if marked {
            tracing::warn!(region = %self.pod.region_name, kind, top_id, "audit: the pod lost its copy; the top resource is marked ERROR");
            count("vanished_marked", kind);
            self.repairs += 1;
        }
        self.findings.vanished_marked.push(Finding::new(kind, top_id));
    }

    fn port_released(&mut self, port_id: &str, server_id: &str) {
        tracing::warn!(region = %self.pod.region_name, port_id, server_id, "audit: port claim released (its server does not exist)");
        count("port_released", "port");
        self.repairs += 1;
        self.findings.ports_released.push(Finding::new("port", port_id));
    }
}

/// What the server and volume audits read before listing the pod, so that
/// anything made meanwhile looks unknown (and too young), never vanished.
pub(crate) struct Scope {
    routings: Vec<Routing>,
    /// Pod IDs some routing of the pod points at.
    known: HashSet<String>,
    /// Top IDs whose routing has no pod ID yet: creates in flight.
    in_flight: HashSet<String>,
    /// The projects the gateway made in the pod: pod ID → top ID. Only
    /// their objects can be the gateway's orphans.
    ours: HashMap<String, String>,
    /// The resource keys (top IDs) of jobs waiting or running.
    live_jobs: HashSet<String>,
    cutoff: DateTime<Utc>,
}

impl Scope {
    /// Whether a create or delete of `top_id` may be under way.
    fn busy(&self, top_id: &str) -> bool {
        self.in_flight.contains(top_id) || self.live_jobs.contains(top_id)
    }
}

/// Whether `s` is a UUID (how the gateway names its copies).
fn is_top_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Every object of a pod's collection across projects, as the pod's admin
/// (`all_tenants`), following the pod's pages.
async fn list_all(
    admin: &PodSession,
    pod: &Pod,
    service: ServiceType,
    path: &str,
    key: &str,
) -> Result<Vec<serde_json::Value>> {
    let mut req = PodRequest::get(service, path.to_string()).with_query("all_tenants", "1");
    let mut out = Vec::new();
    loop {
        let body = crate::networking::pod_json(admin, pod, &req).await?;
        let page = body[key].as_array().cloned().unwrap_or_default();
        let links = format!("{key}_links");
        let has_next =
            body[links.as_str()].as_array().is_some_and(|l| l.iter().any(|x| x["rel"] == "next"));
        let last = page.last().and_then(|s| s["id"].as_str()).map(str::to_string);
        out.extend(page);
        match (has_next, last) {
            (true, Some(marker)) => {
                req.query.retain(|(k, _)| k != "marker");
                req.query.push(("marker".into(), marker));
            }
            _ => return Ok(out),
        }
    }
}

/// Whether the pod really has no such object (asked one by one: a list may
/// be paged or filtered by the pod's policy).
async fn vanished(
    admin: &PodSession,
    pod: &Pod,
    service: ServiceType,
    path: String,
) -> Result<bool> {
    match admin.call(&PodRequest::get(service, path)).await {
        Ok(_) => Ok(false),
        Err(tricircle_pod_client::PodError::Service { status: 404, .. }) => Ok(true),
        Err(e) => Err(crate::pod_sessions::pod_error(pod, e)),
    }
}

impl App {
    /// Whether pod object `bottom`, named after `top_id`, is now claimed
    /// by a routing: read again just before deleting it as an orphan, since
    /// a create that began after the audit read the routings has its
    /// routing (the lock, without a bottom ID yet) by now.
    async fn claimed_since(
        &self,
        pod: &Pod,
        kind: &str,
        top_id: &str,
        bottom: &str,
    ) -> Result<bool> {
        let now = self.store.routing_find(top_id, kind, pod.pod_id).await?;
        Ok(now.is_some_and(|r| r.bottom_id.as_deref().is_none_or(|b| b == bottom)))
    }

    /// The top rows of `kind` (server, volume) routed to `pod` whose copy
    /// the pod no longer has: not in `listed`, confirmed with a GET 404 at
    /// `{collection}/{bottom}`, and still routed and the top's after that
    /// (a delete that finished meanwhile took its routing and row).
    async fn lost_rows(
        &self,
        pod: &Pod,
        admin: &PodSession,
        scope: &Scope,
        (kind, service, collection): (&str, ServiceType, &str),
        listed: &[serde_json::Value],
    ) -> Result<Vec<tricircle_store::ResourceRow>> {
        let ids: HashSet<&str> = listed.iter().filter_map(|o| o["id"].as_str()).collect();
        let mut lost = Vec::new();
        for r in scope.routings.iter().filter(|r| r.resource_type == kind) {
            let Some(b) = &r.bottom_id else { continue };
            if ids.contains(b.as_str()) || scope.busy(&r.top_id) {
                continue;
            }
            if !vanished(admin, pod, service, format!("/{collection}/{b}")).await? {
                continue;
            }
            if self.store.routing_find(&r.top_id, kind, pod.pod_id).await?.is_none() {
                continue;
            }
            if let Some(row) =
                self.store.resource_get(&r.top_id).await?.filter(|x| x.resource_type == kind)
            {
                lost.push(row);
            }
        }
        Ok(lost)
    }
}

/// The admins' message for a part of the audit that failed: the error's
/// own message, or, for an unexpected error, where to look.
fn admin_message(e: &Error) -> String {
    if e.kind() == ErrorKind::Internal {
        "an unexpected error; the gateway's log has the cause".into()
    } else {
        e.external_message().to_string()
    }
}

impl App {
    /// Audit one pod with the configured grace period and record the run.
    pub async fn audit_pod(&self, pod: &Pod) -> Result<PodAudit> {
        self.audit_pod_with_grace(pod, self.settings.audit_grace).await
    }

    /// Audit one pod: its networking, servers, volumes and the port claims
    /// of servers that do not exist; objects younger than `grace` are left
    /// alone. A part that cannot be done (the pod is away) does not stop the
    /// others; the run is recorded with outcome `error` and what failed.
    pub async fn audit_pod_with_grace(
        &self,
        pod: &Pod,
        grace: std::time::Duration,
    ) -> Result<PodAudit> {
        // The periodic audit and an admin's take turns on one pod, on every
        // replica.
        let _turn = self.turn(&format!("audit:{}", pod.pod_id)).await?;
        let started_at = now();
        let mut tally = Tally::new(pod);
        let mut failed: Vec<(&str, Error)> = Vec::new();
        match self.audit_pod_networking(pod, grace).await {
            Ok(n) => tally.networking(n),
            Err(e) => failed.push(("networking", e)),
        }
        match self.audit_scope(pod, grace).await {
            Ok(scope) => {
                match self.pod_admin_session(pod).await {
                    Ok(admin) => {
                        if let Err(e) = self.audit_servers(pod, &admin, &scope, &mut tally).await {
                            failed.push(("servers", e));
                        }
                        if let Err(e) = self.audit_volumes(pod, &admin, &scope, &mut tally).await {
                            failed.push(("volumes", e));
                        }
                    }
                    Err(e) => failed.push(("servers and volumes", e)),
                }
                if let Err(e) = self.release_leaked_claims(pod, &scope, &mut tally).await {
                    failed.push(("port claims", e));
                }
            }
            Err(e) => failed.push(("servers, volumes and port claims", e)),
        }
        for (part, e) in &failed {
            tracing::warn!(region = %pod.region_name, part, error = %e, "audit: part of the pod's audit not done");
        }
        let outcome = if failed.is_empty() {
            AuditOutcome::Ok
        } else {
            // The parts that failed the same way share one message (a pod
            // that is away fails them all).
            let mut by_message: Vec<(String, Vec<&str>)> = Vec::new();
            for (part, e) in &failed {
                let m = admin_message(e);
                match by_message.iter_mut().find(|(x, _)| *x == m) {
                    Some((_, parts)) => parts.push(part),
                    None => by_message.push((m, vec![part])),
                }
            }
            let message: Vec<String> =
                by_message.iter().map(|(m, parts)| format!("{}: {m}", parts.join(", "))).collect();
            AuditOutcome::Error { message: message.join("; ") }
        };
        let audit = PodAudit {
            pod_id: pod.pod_id,
            region_name: pod.region_name.clone(),
            started_at,
            finished_at: now(),
            outcome,
            findings: tally.findings,
            repairs: tally.repairs,
        };
        let row = NewPodAudit {
            pod_id: audit.pod_id,
            started_at: audit.started_at,
            finished_at: audit.finished_at,
            outcome: audit.outcome.clone(),
            findings: serde_json::to_value(&audit.findings).map_err(Error::internal)?,
            repairs: audit.repairs,
        };
        if !self.store.pod_audit_record(&row).await? {
            tracing::info!(region = %pod.region_name, "audit: the pod was deleted meanwhile; run not recorded");
        }
        Ok(audit)
    }

    /// Audit every bottom pod (the periodic loop). Returns how many repairs.
    pub async fn audit_pods(&self) -> Result<usize> {
        let mut repairs = 0;
        for pod in self.store.pod_list().await? {
            if pod.is_top() {
                continue;
            }
            match self.audit_pod(&pod).await {
                Ok(a) => repairs += a.repairs as usize,
                Err(e) => {
                    tracing::warn!(region = %pod.region_name, error = %e, "audit of the pod not recorded")
                }
            }
        }
        Ok(repairs)
    }

    async fn audit_scope(&self, pod: &Pod, grace: std::time::Duration) -> Result<Scope> {
        let filter = RoutingFilter { pod_id: Some(pod.pod_id), ..Default::default() };
        let routings =
            self.store.routing_list(&filter, &Page { limit: 1_000_000, marker: None }).await?;
        let mut live_jobs = HashSet::new();
        for status in [JobStatus::New, JobStatus::Running] {
            let f = JobFilter { status: Some(status), ..Default::default() };
            let jobs = self.store.job_list(&f, &Page { limit: u32::MAX, marker: None }).await?;
            live_jobs.extend(jobs.into_iter().map(|j| j.resource_key));
        }
        let known = routings.iter().filter_map(|r| r.bottom_id.clone()).collect();
        let in_flight =
            routings.iter().filter(|r| r.bottom_id.is_none()).map(|r| r.top_id.clone()).collect();
        let ours = routings
            .iter()
            .filter(|r| r.resource_type == "project")
            .filter_map(|r| r.bottom_id.clone().map(|b| (b, r.top_id.clone())))
            .collect();
        let cutoff = Utc::now() - chrono::Duration::from_std(grace).unwrap_or_default();
        Ok(Scope { routings, known, in_flight, ours, live_jobs, cutoff })
    }

    /// The last audit run of every pod that has one, by region name (admin).
    pub async fn audit_list(&self, ctx: &RequestContext) -> Result<Vec<PodAudit>> {
        require_admin(ctx)?;
        self.store.pod_audit_list().await?.into_iter().map(PodAudit::from_record).collect()
    }

    /// The last audit run of a pod (admin).
    pub async fn audit_get(&self, ctx: &RequestContext, pod_id: PodId) -> Result<PodAudit> {
        require_admin(ctx)?;
        let pod = self.audited_pod(pod_id).await?;
        if pod.is_top() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "Pod {pod_id} is the top region ({}); only bottom pods are audited.",
                    pod.region_name
                ),
            ));
        }
        match self.store.pod_audit_get(pod_id).await? {
            Some(r) => PodAudit::from_record(r),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "Pod {pod_id} (region {}) has not been audited yet: the periodic audit runs every \
                 pods.sync_interval_secs, or run one now.",
                    pod.region_name
                ),
            )),
        }
    }

    /// Audit a pod now and answer the run (admin).
    pub async fn audit_run(&self, ctx: &RequestContext, pod_id: PodId) -> Result<PodAudit> {
        require_admin(ctx)?;
        let pod = self.audited_pod(pod_id).await?;
        if pod.is_top() {
            return Err(Error::conflict(format!(
                "Pod {pod_id} is the top region ({}): it holds no copies to audit.",
                pod.region_name
            )));
        }
        self.audit_pod(&pod).await
    }

    async fn audited_pod(&self, pod_id: PodId) -> Result<Pod> {
        self.store.pod_get(pod_id).await?.ok_or_else(|| Error::not_found("Pod", pod_id))
    }
}
