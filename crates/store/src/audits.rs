//! The last audit of each pod: one row per pod, replaced by each run and
//! deleted with the pod (the foreign key cascades). What the findings hold
//! is the domain's business; the store keeps them as a JSON object.

use chrono::{DateTime, Utc};
use tricircle_common::PodId;

use crate::{Store, StoreError, StoreResult, on_pool};

/// How an audit run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    /// It went over everything it meant to.
    Ok,
    /// It could not finish; the message is for admins (no credential, no
    /// database detail).
    Error { message: String },
}

/// One audit run of a pod, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPodAudit {
    pub pod_id: PodId,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: AuditOutcome,
    /// A JSON object.
    pub findings: serde_json::Value,
    pub repairs: i64,
}

/// The last audit run of a pod, as read, with the pod's region name.
#[derive(Clone, Debug, PartialEq)]
pub struct PodAuditRecord {
    pub region_name: String,
    pub audit: NewPodAudit,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    pod_id: String,
    region_name: String,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    outcome: String,
    message: Option<String>,
    findings: String,
    repairs: i64,
}

impl TryFrom<AuditRow> for PodAuditRecord {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> StoreResult<PodAuditRecord> {
        let corrupt = |what: &str| {
            StoreError::State(format!("corrupt {what} in the audit of pod {}", r.pod_id))
        };
        let outcome = match r.outcome.as_str() {
            "ok" => AuditOutcome::Ok,
            "error" => AuditOutcome::Error { message: r.message.clone().unwrap_or_default() },
            _ => return Err(corrupt("outcome")),
        };
        Ok(PodAuditRecord {
            region_name: r.region_name,
            audit: NewPodAudit {
                pod_id: r.pod_id.parse().map_err(|_| corrupt("pod_id"))?,
                started_at: r.started_at,
                finished_at: r.finished_at,
                outcome,
                findings: serde_json::from_str(&r.findings).map_err(|_| corrupt("findings"))?,
                repairs: r.repairs,
            },
        })
    }
}

const AUDIT_SELECT: &str = "SELECT a.pod_id, p.region_name, a.started_at, a.finished_at, \
     a.outcome, a.message, a.findings, a.repairs FROM pod_audits a JOIN pods p ON p.pod_id = a.pod_id";

impl Store {
    /// Record a pod's audit run in place of the previous one. `false` when
    /// the pod was deleted meanwhile (nothing is recorded).
    pub async fn pod_audit_record(&self, a: &NewPodAudit) -> StoreResult<bool> {
        let (outcome, message) = match &a.outcome {
            AuditOutcome::Ok => ("ok", None),
            AuditOutcome::Error { message } => ("error", Some(message.as_str())),
        };
        let findings = a.findings.to_string();
        let written = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO pod_audits (pod_id, started_at, finished_at, outcome, message, \
                 findings, repairs) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (pod_id) DO UPDATE SET started_at = excluded.started_at, \
                 finished_at = excluded.finished_at, outcome = excluded.outcome, \
                 message = excluded.message, findings = excluded.findings, \
                 repairs = excluded.repairs",
            )
            .bind(a.pod_id.to_string())
            .bind(a.started_at)
            .bind(a.finished_at)
            .bind(outcome)
            .bind(message)
            .bind(&findings)
            .bind(a.repairs)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match written {
            Ok(n) => Ok(n > 0),
            Err(e) => match StoreError::from(e) {
                StoreError::ForeignKey(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// The last audit run of a pod, if it was ever audited.
    pub async fn pod_audit_get(&self, pod_id: PodId) -> StoreResult<Option<PodAuditRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("{AUDIT_SELECT} WHERE a.pod_id = $1"));
        let row: Option<AuditRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql).bind(pod_id.to_string()).fetch_optional(pool).await
        })?;
        row.map(PodAuditRecord::try_from).transpose()
    }

    /// The last audit run of every pod that has one, ordered by region name.
    pub async fn pod_audit_list(&self) -> StoreResult<Vec<PodAuditRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("{AUDIT_SELECT} ORDER BY p.region_name"));
        let rows: Vec<AuditRow> = on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        rows.into_iter().map(PodAuditRecord::try_from).collect()
    }
}
