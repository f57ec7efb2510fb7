//! Registered pods: one row per OpenStack region behind the gateway.

use chrono::{DateTime, Utc};
use tricircle_common::PodId;

use crate::{Store, StoreError, StoreResult, now, on_pool};

/// A pod as stored. `credentials` is sealed by the domain before it gets
/// here; the store never sees a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub pod_id: PodId,
    pub region_name: String,
    pub az_name: String,
    pub pod_az_name: String,
    pub dc_name: String,
    pub auth_url: Option<String>,
    pub identity_mode: String,
    /// JSON object text: service type → endpoint URL.
    pub endpoints: String,
    pub credentials: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub health: PodHealth,
}

/// The last check of a pod's identity endpoint; all `None` before the first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodHealth {
    pub checked_at: Option<DateTime<Utc>>,
    pub ok: Option<bool>,
    pub latency_ms: Option<i64>,
    /// Why the check failed (our own message; never a credential).
    pub error: Option<String>,
}

impl Pod {
    /// The top region is the pod with no availability zone.
    pub fn is_top(&self) -> bool {
        self.az_name.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct NewPod {
    /// Chosen by the caller, so it can bind sealed credentials to the pod.
    pub pod_id: PodId,
    pub region_name: String,
    pub az_name: String,
    pub pod_az_name: String,
    pub dc_name: String,
    pub auth_url: Option<String>,
    pub identity_mode: String,
    pub endpoints: String,
    pub credentials: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
struct PodRow {
    pod_id: String,
    region_name: String,
    az_name: String,
    pod_az_name: String,
    dc_name: String,
    auth_url: Option<String>,
    identity_mode: String,
    endpoints: String,
    credentials: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_check_at: Option<DateTime<Utc>>,
    last_check_ok: Option<bool>,
    last_check_latency_ms: Option<i64>,
    last_check_error: Option<String>,
}

impl TryFrom<PodRow> for Pod {
    type Error = StoreError;
    fn try_from(r: PodRow) -> StoreResult<Pod> {
        Ok(Pod {
            pod_id: r
                .pod_id
                .parse()
                .map_err(|_| StoreError::State(format!("corrupt pod_id {:?}", r.pod_id)))?,
            region_name: r.region_name,
            az_name: r.az_name,
            pod_az_name: r.pod_az_name,
            dc_name: r.dc_name,
            auth_url: r.auth_url,
            identity_mode: r.identity_mode,
            endpoints: r.endpoints,
            credentials: r.credentials,
            created_at: r.created_at,
            updated_at: r.updated_at,
            health: PodHealth {
                checked_at: r.last_check_at,
                ok: r.last_check_ok,
                latency_ms: r.last_check_latency_ms,
                error: r.last_check_error,
            },
        })
    }
}

const POD_COLUMNS: &str = "pod_id, region_name, az_name, pod_az_name, dc_name, auth_url, \
     identity_mode, endpoints, credentials, created_at, updated_at, last_check_at, last_check_ok, \
     last_check_latency_ms, last_check_error";

impl Store {
    /// Insert a pod. A duplicate region or a second top region fails with
    /// [`StoreError::Duplicate`].
    pub async fn pod_create(&self, new: &NewPod) -> StoreResult<Pod> {
        let ts = now();
        let pod = Pod {
            pod_id: new.pod_id,
            region_name: new.region_name.clone(),
            az_name: new.az_name.clone(),
            pod_az_name: new.pod_az_name.clone(),
            dc_name: new.dc_name.clone(),
            auth_url: new.auth_url.clone(),
            identity_mode: new.identity_mode.clone(),
            endpoints: new.endpoints.clone(),
            credentials: new.credentials.clone(),
            created_at: ts,
            updated_at: ts,
            health: PodHealth::default(),
        };
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO pods (pod_id, region_name, az_name, pod_az_name, dc_name, auth_url, \
                 identity_mode, endpoints, credentials, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(pod.pod_id.to_string())
            .bind(&pod.region_name)
            .bind(&pod.az_name)
            .bind(&pod.pod_az_name)
            .bind(&pod.dc_name)
            .bind(&pod.auth_url)
            .bind(&pod.identity_mode)
            .bind(&pod.endpoints)
            .bind(&pod.credentials)
            .bind(pod.created_at)
            .bind(pod.updated_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(pod)
    }

    /// Every pod, ordered by region name.
    pub async fn pod_list(&self) -> StoreResult<Vec<Pod>> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {POD_COLUMNS} FROM pods ORDER BY region_name"));
        let rows: Vec<PodRow> = on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        rows.into_iter().map(Pod::try_from).collect()
    }

    pub async fn pod_get(&self, pod_id: PodId) -> StoreResult<Option<Pod>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {POD_COLUMNS} FROM pods WHERE pod_id = $1"));
        let row: Option<PodRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql).bind(pod_id.to_string()).fetch_optional(pool).await
        })?;
        row.map(Pod::try_from).transpose()
    }

    pub async fn pod_get_by_region(&self, region_name: &str) -> StoreResult<Option<Pod>> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {POD_COLUMNS} FROM pods WHERE region_name = $1"));
        let row: Option<PodRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql).bind(region_name).fetch_optional(pool).await
        })?;
        row.map(Pod::try_from).transpose()
    }

    /// The top region, if one is registered.
    pub async fn pod_get_top(&self) -> StoreResult<Option<Pod>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {POD_COLUMNS} FROM pods WHERE az_name = ''"));
        let row: Option<PodRow> =
            on_pool!(self, |pool| sqlx::query_as(sql).fetch_optional(pool).await)?;
        row.map(Pod::try_from).transpose()
    }

    /// Record the outcome of a check of the pod; `false` if the pod is gone.
    pub async fn pod_record_health(&self, pod_id: PodId, health: &PodHealth) -> StoreResult<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE pods SET last_check_at = $1, last_check_ok = $2, \
                 last_check_latency_ms = $3, last_check_error = $4 WHERE pod_id = $5",
            )
            .bind(health.checked_at)
            .bind(health.ok)
            .bind(health.latency_ms)
            .bind(&health.error)
            .bind(pod_id.to_string())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Delete a pod that no routing references. Returns `false` when the pod
    /// does not exist; [`StoreError::State`] when routings still point at it
    /// (the message gives their number).
    pub async fn pod_delete(&self, pod_id: PodId) -> StoreResult<bool> {
        let id = pod_id.to_string();
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let (in_use,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM resource_routings WHERE pod_id = $1")
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?;
            if in_use > 0 {
                return Err(StoreError::State(format!("{in_use} resource routing(s)")));
            }
            let deleted = sqlx::query("DELETE FROM pods WHERE pod_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(deleted > 0)
        })
    }
}
