//! Per-project quota limits (migration 0008), for any service, and the
//! usage counts the top Neutron checks them against.

use crate::{Store, StoreError, StoreResult, on_pool};

/// A limit an admin set for one resource of one project.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct QuotaLimit {
    pub project_id: String,
    pub resource: String,
    pub hard_limit: i64,
}

impl Store {
    /// Set limits of a project (insert or replace each), all at once.
    pub async fn quota_set(
        &self,
        service: &str,
        project_id: &str,
        limits: &[(String, i64)],
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (resource, limit) in limits {
                sqlx::query(
                    "INSERT INTO quotas (service, project_id, resource, hard_limit) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (service, project_id, resource) \
                     DO UPDATE SET hard_limit = excluded.hard_limit",
                )
                .bind(service)
                .bind(project_id)
                .bind(resource)
                .bind(limit)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// The limits set for one project (none: it has the defaults).
    pub async fn quota_get(&self, service: &str, project_id: &str) -> StoreResult<Vec<QuotaLimit>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT project_id, resource, hard_limit FROM quotas \
                 WHERE service = $1 AND project_id = $2 ORDER BY resource",
            )
            .bind(service)
            .bind(project_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Every limit set for a service, by project then resource.
    pub async fn quota_list(&self, service: &str) -> StoreResult<Vec<QuotaLimit>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT project_id, resource, hard_limit FROM quotas \
                 WHERE service = $1 ORDER BY project_id, resource",
            )
            .bind(service)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Forget a project's limits (back to the defaults); how many went.
    pub async fn quota_delete(&self, service: &str, project_id: &str) -> StoreResult<u64> {
        Ok(on_pool!(self, |pool| {
            sqlx::query("DELETE FROM quotas WHERE service = $1 AND project_id = $2")
                .bind(service)
                .bind(project_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    /// How many top Neutron objects of each kind a project owns.
    pub async fn net_usage(&self, project_id: &str) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT kind, COUNT(*) FROM net_objects WHERE project_id = $1 \
                 GROUP BY kind ORDER BY kind",
            )
            .bind(project_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// How many top Neutron objects of one kind a project owns.
    pub async fn net_count(&self, kind: &str, project_id: &str) -> StoreResult<i64> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM net_objects WHERE kind = $1 AND project_id = $2")
                .bind(kind)
                .bind(project_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }
}
