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
        })
    }
}

const POD_COLUMNS: &str = "pod_id, region_name, az_name, pod_az_name, dc_name, auth_url, \
     identity_mode, endpoints, credentials, created_at, updated_at";

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
