//! Server groups and their members (migration 0006).

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::{Store, StoreResult, now, on_pool};

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ServerGroup {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: String,
    pub policy: String,
    /// JSON object of the policy's rules.
    pub rules: String,
    pub created_at: DateTime<Utc>,
}

/// One member of a group: a top server and the pod it was placed in.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct GroupMember {
    pub group_id: String,
    pub server_id: String,
    /// The server's pod (its resource row's); None while unplaced.
    pub pod_id: Option<String>,
    /// The server's cached status.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, project_id, user_id, name, policy, rules, created_at";
const MEMBER_COLUMNS: &str = "m.group_id, m.server_id, r.pod_id, r.status, m.created_at FROM server_group_members m \
     JOIN resources r ON r.id = m.server_id";

impl Store {
    pub async fn server_group_create(&self, g: &ServerGroup) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO server_groups (id, project_id, user_id, name, policy, rules, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&g.id)
            .bind(&g.project_id)
            .bind(&g.user_id)
            .bind(&g.name)
            .bind(&g.policy)
            .bind(&g.rules)
            .bind(g.created_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn server_group_get(&self, id: &str) -> StoreResult<Option<ServerGroup>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM server_groups WHERE id = $1"));
        Ok(on_pool!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Groups of one project (or every project), oldest first, at most
    /// `limit` after skipping `offset` (Nova pages groups by offset).
    pub async fn server_group_list(
        &self,
        project_id: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<ServerGroup>> {
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM server_groups"));
            if let Some(p) = project_id {
                q.push(" WHERE project_id = ").push_bind(p.to_string());
            }
            q.push(" ORDER BY created_at, id LIMIT ")
                .push_bind(i64::from(limit))
                .push(" OFFSET ")
                .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    pub async fn server_group_count(&self, project_id: &str) -> StoreResult<i64> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM server_groups WHERE project_id = $1")
                .bind(project_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }

    /// Delete a group; its member rows go with it.
    pub async fn server_group_delete(&self, id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM server_groups WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Make a server (whose resource row exists) a member; again is fine.
    pub async fn server_group_member_add(
        &self,
        group_id: &str,
        server_id: &str,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO server_group_members (server_id, group_id, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (server_id) DO NOTHING",
            )
            .bind(server_id)
            .bind(group_id)
            .bind(now())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn server_group_member_remove(&self, server_id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM server_group_members WHERE server_id = $1")
                .bind(server_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// The members of the given groups, oldest first (then by server ID).
    pub async fn server_group_members(
        &self,
        group_ids: &[String],
    ) -> StoreResult<Vec<GroupMember>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!("SELECT {MEMBER_COLUMNS} WHERE m.group_id IN ("));
            let mut sep = q.separated(", ");
            for id in group_ids {
                sep.push_bind(id.clone());
            }
            q.push(") ORDER BY m.created_at, m.server_id");
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    /// The group a server is a member of.
    pub async fn server_group_of(&self, server_id: &str) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT group_id FROM server_group_members WHERE server_id = $1")
                .bind(server_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(g,)| g))
    }
}
