//! Resource routings: where the bottom copy of a top resource lives.
//!
//! A row `(top_id, resource_type, pod_id) → bottom_id` is the source of truth
//! for "where is it". It is written with `bottom_id = NULL` before the pod
//! call (the row is the lock that stops a twin) and filled in after it.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use tricircle_common::PodId;

use crate::{Page, Store, StoreError, StoreResult, now, on_pool};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    pub id: i64,
    pub top_id: String,
    pub bottom_id: Option<String>,
    pub pod_id: PodId,
    pub project_id: String,
    pub resource_type: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewRouting {
    pub top_id: String,
    pub bottom_id: Option<String>,
    pub pod_id: PodId,
    pub project_id: String,
    pub resource_type: String,
}

/// Fields to change; `None` leaves a field as it is. `bottom_id:
/// Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct RoutingPatch {
    pub top_id: Option<String>,
    pub bottom_id: Option<Option<String>>,
    pub pod_id: Option<PodId>,
    pub project_id: Option<String>,
    pub resource_type: Option<String>,
}

/// Equality filters for listing; all given filters must match.
#[derive(Clone, Debug, Default)]
pub struct RoutingFilter {
    pub id: Option<i64>,
    pub top_id: Option<String>,
    pub bottom_id: Option<String>,
    pub pod_id: Option<PodId>,
    pub project_id: Option<String>,
    pub resource_type: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RoutingRow {
    id: i64,
    top_id: String,
    bottom_id: Option<String>,
    pod_id: String,
    project_id: String,
    resource_type: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<RoutingRow> for Routing {
    type Error = StoreError;
    fn try_from(r: RoutingRow) -> StoreResult<Routing> {
        Ok(Routing {
            id: r.id,
            top_id: r.top_id,
            bottom_id: r.bottom_id,
            pod_id: r
                .pod_id
                .parse()
                .map_err(|_| StoreError::State(format!("corrupt pod_id {:?}", r.pod_id)))?,
            project_id: r.project_id,
            resource_type: r.resource_type,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const ROUTING_COLUMNS: &str =
    "id, top_id, bottom_id, pod_id, project_id, resource_type, created_at, updated_at";

impl Store {
    /// Insert a routing. A duplicate `(top_id, resource_type, pod_id)` fails
    /// with [`StoreError::Duplicate`], an unknown pod with
    /// [`StoreError::ForeignKey`].
    pub async fn routing_create(&self, new: &NewRouting) -> StoreResult<Routing> {
        let ts = now();
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO resource_routings \
             (top_id, bottom_id, pod_id, project_id, resource_type, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ROUTING_COLUMNS}"
        ));
        let row: RoutingRow = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(&new.top_id)
                .bind(&new.bottom_id)
                .bind(new.pod_id.to_string())
                .bind(&new.project_id)
                .bind(&new.resource_type)
                .bind(ts)
                .bind(ts)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    pub async fn routing_get(&self, id: i64) -> StoreResult<Option<Routing>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ROUTING_COLUMNS} FROM resource_routings WHERE id = $1"
        ));
        let row: Option<RoutingRow> =
            on_pool!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        row.map(Routing::try_from).transpose()
    }

    /// Routings matching `filter`, newest first (id descending, as upstream
    /// Tricircle lists them), at most `page.limit` after the marker id.
    pub async fn routing_list(
        &self,
        filter: &RoutingFilter,
        page: &Page<i64>,
    ) -> StoreResult<Vec<Routing>> {
        let rows: Vec<RoutingRow> = on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!(
                "SELECT {ROUTING_COLUMNS} FROM resource_routings WHERE 1 = 1"
            ));
            if let Some(v) = filter.id {
                q.push(" AND id = ").push_bind(v);
            }
            if let Some(v) = &filter.top_id {
                q.push(" AND top_id = ").push_bind(v.clone());
            }
            if let Some(v) = &filter.bottom_id {
                q.push(" AND bottom_id = ").push_bind(v.clone());
            }
            if let Some(v) = filter.pod_id {
                q.push(" AND pod_id = ").push_bind(v.to_string());
            }
            if let Some(v) = &filter.project_id {
                q.push(" AND project_id = ").push_bind(v.clone());
            }
            if let Some(v) = &filter.resource_type {
                q.push(" AND resource_type = ").push_bind(v.clone());
            }
            if let Some(marker) = page.marker {
                q.push(" AND id < ").push_bind(marker);
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(Routing::try_from).collect()
    }

    /// Apply `patch`; `None` when the routing does not exist.
    pub async fn routing_update(
        &self,
        id: i64,
        patch: &RoutingPatch,
    ) -> StoreResult<Option<Routing>> {
        let ts = now();
        let row: Option<RoutingRow> = on_pool!(self, |pool| {
            let mut q = QueryBuilder::new("UPDATE resource_routings SET updated_at = ");
            q.push_bind(ts);
            if let Some(v) = &patch.top_id {
                q.push(", top_id = ").push_bind(v.clone());
            }
            if let Some(v) = &patch.bottom_id {
                q.push(", bottom_id = ").push_bind(v.clone());
            }
            if let Some(v) = patch.pod_id {
                q.push(", pod_id = ").push_bind(v.to_string());
            }
            if let Some(v) = &patch.project_id {
                q.push(", project_id = ").push_bind(v.clone());
            }
            if let Some(v) = &patch.resource_type {
                q.push(", resource_type = ").push_bind(v.clone());
            }
            q.push(" WHERE id = ").push_bind(id);
            q.push(format!(" RETURNING {ROUTING_COLUMNS}"));
            q.build_query_as().fetch_optional(pool).await
        })?;
        row.map(Routing::try_from).transpose()
    }

    /// The routing of a top resource in a pod.
    pub async fn routing_find(
        &self,
        top_id: &str,
        resource_type: &str,
        pod_id: PodId,
    ) -> StoreResult<Option<Routing>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ROUTING_COLUMNS} FROM resource_routings WHERE top_id = $1 AND resource_type = $2 AND pod_id = $3"
        ));
        let row: Option<RoutingRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(top_id)
                .bind(resource_type)
                .bind(pod_id.to_string())
                .fetch_optional(pool)
                .await
        })?;
        row.map(Routing::try_from).transpose()
    }

    /// The routing of a pod's resource, by its bottom ID.
    pub async fn routing_find_by_bottom(
        &self,
        bottom_id: &str,
        resource_type: &str,
        pod_id: PodId,
    ) -> StoreResult<Option<Routing>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ROUTING_COLUMNS} FROM resource_routings WHERE bottom_id = $1 AND resource_type = $2 AND pod_id = $3"
        ));
        let row: Option<RoutingRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(bottom_id)
                .bind(resource_type)
                .bind(pod_id.to_string())
                .fetch_optional(pool)
                .await
        })?;
        row.map(Routing::try_from).transpose()
    }

    /// Every routing of a top resource (one per pod it is in).
    pub async fn routing_list_for_top(
        &self,
        top_id: &str,
        resource_type: &str,
    ) -> StoreResult<Vec<Routing>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ROUTING_COLUMNS} FROM resource_routings WHERE top_id = $1 AND resource_type = $2 ORDER BY id"
        ));
        let rows: Vec<RoutingRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(top_id)
            .bind(resource_type)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(Routing::try_from).collect()
    }

    /// The routings of a type in a pod, for translating bottom IDs back.
    pub async fn routing_list_in_pod(
        &self,
        resource_type: &str,
        pod_id: PodId,
    ) -> StoreResult<Vec<Routing>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ROUTING_COLUMNS} FROM resource_routings WHERE resource_type = $1 AND pod_id = $2 ORDER BY id"
        ));
        let rows: Vec<RoutingRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql).bind(resource_type).bind(pod_id.to_string()).fetch_all(pool).await
        })?;
        rows.into_iter().map(Routing::try_from).collect()
    }

    /// Delete a routing; `false` when it did not exist.
    pub async fn routing_delete(&self, id: i64) -> StoreResult<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM resource_routings WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }
}
