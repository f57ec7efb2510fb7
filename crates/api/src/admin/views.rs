//! The admin API's wire shapes (request and response bodies), with their
//! OpenAPI schemas. Credentials appear only in the create request, never in
//! a response.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LinkView {
    pub rel: String,
    pub href: String,
}

impl LinkView {
    pub fn new(rel: &str, href: String) -> Self {
        LinkView { rel: rel.into(), href }
    }
}

/// One entry of an OpenStack error body.
#[derive(Serialize, ToSchema)]
pub struct FaultView {
    pub code: u16,
    pub message: String,
}

/// An error: one key naming the fault (`badRequest`, `itemNotFound`,
/// `conflictingRequest`, ...) holding its code and a message saying what to fix.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"itemNotFound": {"code": 404, "message": "Pod 3f1c... could not be found."}}))]
pub struct Fault(pub BTreeMap<String, FaultView>);

// ---- pods ----

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IdentityModeView {
    /// The pod shares the gateway's Keystone; user tokens are forwarded.
    Shared,
    /// The gateway logs in with its own credentials and maps projects.
    Mapped,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    pub username: String,
    pub password: String,
    pub project_name: String,
    /// Default: `Default`.
    pub user_domain_name: Option<String>,
    /// Default: `Default`.
    pub project_domain_name: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PodCreate {
    /// The pod's Keystone region name; unique.
    pub region_name: String,
    /// The availability zone the pod serves; empty or absent marks the top region.
    pub az_name: Option<String>,
    /// The availability zone to use inside the pod when creating there.
    pub pod_az_name: Option<String>,
    /// Free text: the data centre.
    pub dc_name: Option<String>,
    /// The pod's Keystone v3 URL.
    pub auth_url: Option<String>,
    pub identity: Option<IdentityModeView>,
    /// Service type → endpoint URL, overriding the pod's catalog.
    pub endpoints: Option<BTreeMap<String, String>>,
    /// Service credentials for the pod; sealed at rest, never returned.
    pub credentials: Option<CredentialsInput>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PodCreateBody {
    pub pod: PodCreate,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct PodView {
    #[schema(format = Uuid)]
    pub pod_id: String,
    pub region_name: String,
    pub az_name: String,
    pub pod_az_name: String,
    pub dc_name: String,
    pub auth_url: Option<String>,
    pub identity: IdentityModeView,
    pub endpoints: BTreeMap<String, String>,
    /// Whether service credentials are stored (they are never shown).
    pub has_credentials: bool,
    pub health: PodHealthView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PodStatusView {
    /// The last check reached the pod's identity endpoint.
    Up,
    /// The last check failed; `error` says why.
    Down,
    /// Not checked yet, or nothing to check (no `auth_url`).
    Unknown,
}

/// The last check of the pod (its identity endpoint and a login), and what
/// this gateway process has seen of its calls to the pod since it started.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct PodHealthView {
    pub status: PodStatusView,
    pub checked_at: Option<DateTime<Utc>>,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    /// Calls made to the pod.
    pub calls: u64,
    /// Calls the pod did not answer, or answered 5xx or 429.
    pub failures: u64,
    /// failures / calls (0 when there were no calls).
    pub error_rate: f64,
    pub mean_latency_ms: Option<f64>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PodBody {
    pub pod: PodView,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PodsBody {
    pub pods: Vec<PodView>,
}

// ---- routings ----

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct RoutingView {
    pub id: i64,
    pub top_id: String,
    pub bottom_id: Option<String>,
    #[schema(format = Uuid)]
    pub pod_id: String,
    pub project_id: String,
    pub resource_type: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RoutingBody {
    pub routing: RoutingView,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RoutingsBody {
    pub routings: Vec<RoutingView>,
    /// A `next` link when the page is full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routings_links: Option<Vec<LinkView>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingCreate {
    pub top_id: String,
    /// Absent or null while the bottom resource is being created.
    pub bottom_id: Option<String>,
    #[schema(format = Uuid)]
    pub pod_id: String,
    pub project_id: String,
    pub resource_type: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingCreateBody {
    pub routing: RoutingCreate,
}

#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RoutingUpdate {
    pub top_id: Option<String>,
    /// null clears it.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>, nullable)]
    pub bottom_id: Option<Option<String>>,
    #[schema(format = Uuid)]
    pub pod_id: Option<String>,
    pub project_id: Option<String>,
    pub resource_type: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingUpdateBody {
    pub routing: RoutingUpdate,
}

/// Tell "absent" (outer `None`) from "null" (`Some(None)`).
fn present_or_null<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

// ---- jobs ----

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatusView {
    New,
    Running,
    Success,
    Fail,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct JobView {
    #[schema(format = Uuid)]
    pub id: String,
    pub project_id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: JobStatusView,
    /// The job's resource fields (see `GET /admin/v1.0/jobs/schemas`).
    #[schema(value_type = Object)]
    pub resource: serde_json::Value,
    /// When the job was requested (upstream Tricircle's field).
    pub timestamp: DateTime<Utc>,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobBody {
    pub job: JobView,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobsBody {
    pub jobs: Vec<JobView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_links: Option<Vec<LinkView>>,
}

/// One claim of a job by a runner or an API process.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct JobAttemptView {
    /// The process that held the job's lease.
    pub owner: String,
    pub started_at: DateTime<Utc>,
    /// Its last lease: the attempt did not run past it.
    pub lease_until: DateTime<Utc>,
    /// When it recorded its outcome; null if it never did (it died).
    pub finished_at: Option<DateTime<Utc>>,
    /// `SUCCESS`, `RETRY`, `FAIL`, `LEASE_LOST`, or null while it runs.
    pub outcome: Option<String>,
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobAttemptsBody {
    pub attempts: Vec<JobAttemptView>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobSchemaView {
    #[serde(rename = "type")]
    pub job_type: String,
    pub resource: Vec<String>,
    pub description: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobSchemasBody {
    pub schemas: Vec<JobSchemaView>,
}

/// What the pods' dataplanes say about a packet from a top port, or from the
/// outside, to an IP.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TraceView {
    /// Whether the packet arrives.
    pub reachable: bool,
    /// What it went through, in order (`Pod1: port <top ID> on host1`,
    /// `Pod1: shadow port <top ID> -> tunnel 10.0.0.12`, `Pod2: router ...`,
    /// `Pod2: router <ID> gateway 172.24.4.5 -> outside (SNAT to 172.24.4.5)`,
    /// `Pod2: floating IP 172.24.4.9 on router <ID> -> 10.0.0.5`).
    pub hops: Vec<String>,
    /// Why it stopped, when it did not arrive: the missing piece.
    pub reason: Option<String>,
    /// The top port owning the destination IP (null when it does not arrive,
    /// leaves for the outside world, or the owner is a pod's own port).
    pub dest_port: Option<String>,
    /// The region of the port owning the destination IP (null when it does
    /// not arrive or leaves for the outside world).
    pub dest_region: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TraceBody {
    pub trace: TraceView,
}

// ---- audits ----

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcomeView {
    /// The run went over everything.
    Ok,
    /// Part of the run could not be done (the pod is away); `message` says which and why.
    Error,
}

/// One object an audit found.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct FindingView {
    /// `server`, `volume`, `port`, `network`, `subnet`, `router`, `shadow_port`, `floatingip`.
    pub kind: String,
    pub id: String,
}

/// What a run found, by what became of it.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct FindingsView {
    /// Pod objects the gateway made that no routing points at, older than
    /// the grace period: deleted (the pod's IDs).
    pub orphans_deleted: Vec<FindingView>,
    /// Copies the pod lost that the gateway makes again (top IDs).
    pub vanished_remade: Vec<FindingView>,
    /// Servers and volumes the pod lost: shown to their users in ERROR
    /// (`error` for volumes), listed by every run while they stay lost (top IDs).
    pub vanished_marked: Vec<FindingView>,
    /// Copies the pod lost that cannot be made again (a server's port): reported only (top IDs).
    pub vanished_missing: Vec<FindingView>,
    /// Top ports claimed for a server that does not exist: given back (top IDs).
    pub ports_released: Vec<FindingView>,
}

/// The last (or this) audit run of a pod.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct AuditView {
    #[schema(format = Uuid)]
    pub pod_id: String,
    pub region_name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: AuditOutcomeView,
    /// Why the run could not finish (outcome `error`); null otherwise.
    pub message: Option<String>,
    /// How many changes the run made (a server still lost is listed again but marked once).
    pub repairs: i64,
    pub findings: FindingsView,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditBody {
    pub audit: AuditView,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditsBody {
    /// One per pod that was audited, ordered by region name.
    pub audits: Vec<AuditView>,
}
