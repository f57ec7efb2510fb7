//! Flavors, keypairs, and the cached summaries of resources placed in pods.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::{Store, StoreResult, now, on_pool};

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: i64,
    pub ram_mb: i64,
    pub disk_gb: i64,
    pub ephemeral_gb: i64,
    pub swap_mb: i64,
    pub is_public: bool,
    pub description: Option<String>,
    /// JSON object of extra specs.
    pub extra_specs: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Keypair {
    pub user_id: String,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
    pub key_type: String,
    pub created_at: DateTime<Utc>,
}

/// A top resource placed in a pod, with what a listing shows of it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ResourceRow {
    pub id: String,
    pub resource_type: String,
    pub project_id: String,
    pub user_id: String,
    pub pod_id: Option<String>,
    pub name: String,
    pub status: String,
    /// JSON: the top view as last seen.
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a resource is, without its cached view: what a listing needs to
/// know which pods to ask and which of their answers are the top's.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ResourcePlace {
    pub id: String,
    pub project_id: String,
    pub pod_id: Option<String>,
    pub status: String,
    /// The pod's ID of it; `None` while it is being created there.
    pub bottom_id: Option<String>,
    /// When the top row was written (the create began).
    pub created_at: DateTime<Utc>,
}

const FLAVOR_COLUMNS: &str = "id, name, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, is_public, \
     description, extra_specs, created_at";
const RESOURCE_COLUMNS: &str =
    "id, resource_type, project_id, user_id, pod_id, name, status, summary, created_at, updated_at";

impl Store {
    // ---- flavors ----

    pub async fn flavor_create(&self, f: &Flavor) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO flavors (id, name, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, \
                 is_public, description, extra_specs, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&f.id)
            .bind(&f.name)
            .bind(f.vcpus)
            .bind(f.ram_mb)
            .bind(f.disk_gb)
            .bind(f.ephemeral_gb)
            .bind(f.swap_mb)
            .bind(f.is_public)
            .bind(&f.description)
            .bind(&f.extra_specs)
            .bind(f.created_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn flavor_get(&self, id: &str) -> StoreResult<Option<Flavor>> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {FLAVOR_COLUMNS} FROM flavors WHERE id = $1"));
        Ok(on_pool!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn flavor_list(&self) -> StoreResult<Vec<Flavor>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {FLAVOR_COLUMNS} FROM flavors ORDER BY id"));
        Ok(on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?)
    }

    pub async fn flavor_delete(&self, id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM flavors WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn flavor_access_add(&self, flavor_id: &str, project_id: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO flavor_access (flavor_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(flavor_id)
                .bind(project_id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn flavor_access_remove(
        &self,
        flavor_id: &str,
        project_id: &str,
    ) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM flavor_access WHERE flavor_id = $1 AND project_id = $2")
                .bind(flavor_id)
                .bind(project_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn flavor_access_list(&self, flavor_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT project_id FROM flavor_access WHERE flavor_id = $1 ORDER BY project_id",
            )
            .bind(flavor_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    // ---- keypairs ----

    pub async fn keypair_create(&self, k: &Keypair) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO keypairs (user_id, name, public_key, fingerprint, key_type, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&k.user_id)
            .bind(&k.name)
            .bind(&k.public_key)
            .bind(&k.fingerprint)
            .bind(&k.key_type)
            .bind(k.created_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn keypair_get(&self, user_id: &str, name: &str) -> StoreResult<Option<Keypair>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id, name, public_key, fingerprint, key_type, created_at FROM keypairs \
                 WHERE user_id = $1 AND name = $2",
            )
            .bind(user_id)
            .bind(name)
            .fetch_optional(pool)
            .await
        })?)
    }

    pub async fn keypair_list(&self, user_id: &str) -> StoreResult<Vec<Keypair>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id, name, public_key, fingerprint, key_type, created_at FROM keypairs \
                 WHERE user_id = $1 ORDER BY name",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn keypair_delete(&self, user_id: &str, name: &str) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM keypairs WHERE user_id = $1 AND name = $2")
                .bind(user_id)
                .bind(name)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    // ---- resources ----

    pub async fn resource_insert(&self, r: &ResourceRow) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO resources (id, resource_type, project_id, user_id, pod_id, name, status, \
                 summary, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&r.id)
            .bind(&r.resource_type)
            .bind(&r.project_id)
            .bind(&r.user_id)
            .bind(&r.pod_id)
            .bind(&r.name)
            .bind(&r.status)
            .bind(&r.summary)
            .bind(r.created_at)
            .bind(r.updated_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn resource_get(&self, id: &str) -> StoreResult<Option<ResourceRow>> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE id = $1"));
        Ok(on_pool!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Resources of a type, of one project or (None) every project.
    pub async fn resource_list(
        &self,
        resource_type: &str,
        project_id: Option<&str>,
    ) -> StoreResult<Vec<ResourceRow>> {
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!(
                "SELECT {RESOURCE_COLUMNS} FROM resources WHERE resource_type = "
            ));
            q.push_bind(resource_type.to_string());
            if let Some(p) = project_id {
                q.push(" AND project_id = ").push_bind(p.to_string());
            }
            q.push(" ORDER BY created_at, id");
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    /// Refresh what a listing shows; `false` when the resource is gone.
    pub async fn resource_refresh(
        &self,
        id: &str,
        name: &str,
        status: &str,
        summary: &str,
    ) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query("UPDATE resources SET name = $1, status = $2, summary = $3, updated_at = $4 WHERE id = $5")
                .bind(name)
                .bind(status)
                .bind(summary)
                .bind(now())
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn resource_delete(&self, id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM resources WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// How many resources of a type each pod holds (for the scheduler).
    pub async fn resource_count_by_pod(
        &self,
        resource_type: &str,
    ) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT pod_id, COUNT(*) FROM resources WHERE resource_type = $1 AND pod_id IS NOT NULL \
                 GROUP BY pod_id",
            )
            .bind(resource_type)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Every resource of a type (of one project, or all) with its pod and
    /// the pod's ID of it, in one query.
    pub async fn resource_places(
        &self,
        resource_type: &str,
        project_id: Option<&str>,
    ) -> StoreResult<Vec<ResourcePlace>> {
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT res.id, res.project_id, res.pod_id, res.status, rr.bottom_id, res.created_at \
                 FROM resources res LEFT JOIN resource_routings rr ON rr.top_id = res.id \
                 AND rr.resource_type = res.resource_type AND rr.pod_id = res.pod_id \
                 WHERE res.resource_type = ",
            );
            q.push_bind(resource_type.to_string());
            if let Some(p) = project_id {
                q.push(" AND res.project_id = ").push_bind(p.to_string());
            }
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    /// The rows of these IDs (those that exist), in no particular order.
    pub async fn resource_get_many(&self, ids: &[String]) -> StoreResult<Vec<ResourceRow>> {
        let mut out = Vec::with_capacity(ids.len());
        // Well under SQLite's and PostgreSQL's bind limits.
        for chunk in ids.chunks(500) {
            let rows: Vec<ResourceRow> = on_pool!(self, |pool| {
                let mut q = QueryBuilder::new(format!(
                    "SELECT {RESOURCE_COLUMNS} FROM resources WHERE id IN ("
                ));
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id.clone());
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }
}
