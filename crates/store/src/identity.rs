//! Embedded identity: domains, projects, users, roles, role assignments on
//! projects, and tokens. Tokens are stored as a SHA-256 hash chosen by the
//! caller, never in clear.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::{Store, StoreResult, on_pool};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Project {
    pub id: String,
    pub domain_id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub domain_id: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    pub email: Option<String>,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

// The hash stays out of logs too.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("domain_id", &self.domain_id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Assignment {
    pub user_id: String,
    pub project_id: String,
    pub role_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRecord {
    pub token_hash: String,
    pub user_id: String,
    pub project_id: Option<String>,
    /// Comma-separated authentication methods (`password`, `token`).
    pub methods: String,
    pub audit_id: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// Changes to a named object; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct IdentityPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// Users only.
    pub password_hash: Option<String>,
    pub email: Option<Option<String>>,
    pub default_project_id: Option<Option<String>>,
}

const USER_COLUMNS: &str = "id, domain_id, name, password_hash, enabled, default_project_id, \
     email, description, created_at";

impl Store {
    // ---- domains ----

    pub async fn domain_create(&self, d: &Domain) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO domains (id, name, description, enabled, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.description)
            .bind(d.enabled)
            .bind(d.created_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn domain_get(&self, id: &str) -> StoreResult<Option<Domain>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, description, enabled, created_at FROM domains WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?)
    }

    pub async fn domain_get_by_name(&self, name: &str) -> StoreResult<Option<Domain>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, description, enabled, created_at FROM domains WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await
        })?)
    }

    pub async fn domain_list(&self) -> StoreResult<Vec<Domain>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, description, enabled, created_at FROM domains ORDER BY name",
            )
            .fetch_all(pool)
            .await
        })?)
    }

    // ---- projects ----

    pub async fn project_create(&self, p: &Project) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO projects (id, domain_id, name, description, enabled, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&p.id)
            .bind(&p.domain_id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(p.enabled)
            .bind(p.created_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn project_get(&self, id: &str) -> StoreResult<Option<Project>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, domain_id, name, description, enabled, created_at FROM projects \
                 WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?)
    }

    pub async fn project_get_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> StoreResult<Option<Project>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, domain_id, name, description, enabled, created_at FROM projects \
                 WHERE domain_id = $1 AND name = $2",
            )
            .bind(domain_id)
            .bind(name)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Projects, optionally of one domain and/or with one name, by name.
    pub async fn project_list(
        &self,
        domain_id: Option<&str>,
        name: Option<&str>,
    ) -> StoreResult<Vec<Project>> {
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT id, domain_id, name, description, enabled, created_at FROM projects WHERE 1 = 1",
            );
            if let Some(d) = domain_id {
                q.push(" AND domain_id = ").push_bind(d.to_string());
            }
            if let Some(n) = name {
                q.push(" AND name = ").push_bind(n.to_string());
            }
            q.push(" ORDER BY name, id");
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    pub async fn project_update(
        &self,
        id: &str,
        patch: &IdentityPatch,
    ) -> StoreResult<Option<Project>> {
        self.named_update("projects", id, patch).await?;
        self.project_get(id).await
    }

    pub async fn project_delete(&self, id: &str) -> StoreResult<bool> {
        self.delete_by_id("DELETE FROM projects WHERE id = $1", id).await
    }

    // ---- users ----

    pub async fn user_create(&self, u: &User) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO users (id, domain_id, name, password_hash, enabled, \
                 default_project_id, email, description, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&u.id)
            .bind(&u.domain_id)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(u.enabled)
            .bind(&u.default_project_id)
            .bind(&u.email)
            .bind(&u.description)
            .bind(u.created_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn user_get(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));
        Ok(on_pool!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn user_get_by_name(&self, domain_id: &str, name: &str) -> StoreResult<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE domain_id = $1 AND name = $2"
        ));
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(sql).bind(domain_id).bind(name).fetch_optional(pool).await
        })?)
    }

    pub async fn user_list(
        &self,
        domain_id: Option<&str>,
        name: Option<&str>,
    ) -> StoreResult<Vec<User>> {
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1"));
            if let Some(d) = domain_id {
                q.push(" AND domain_id = ").push_bind(d.to_string());
            }
            if let Some(n) = name {
                q.push(" AND name = ").push_bind(n.to_string());
            }
            q.push(" ORDER BY name, id");
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    pub async fn user_update(&self, id: &str, patch: &IdentityPatch) -> StoreResult<Option<User>> {
        self.named_update("users", id, patch).await?;
        self.user_get(id).await
    }

    pub async fn user_delete(&self, id: &str) -> StoreResult<bool> {
        self.delete_by_id("DELETE FROM users WHERE id = $1", id).await
    }

    // ---- roles and assignments ----

    pub async fn role_create(&self, r: &Role) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO roles (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&r.id)
                .bind(&r.name)
                .bind(r.created_at)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn role_get(&self, id: &str) -> StoreResult<Option<Role>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, created_at FROM roles WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?)
    }

    pub async fn role_get_by_name(&self, name: &str) -> StoreResult<Option<Role>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, created_at FROM roles WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
        })?)
    }

    pub async fn role_list(&self) -> StoreResult<Vec<Role>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, created_at FROM roles ORDER BY name")
                .fetch_all(pool)
                .await
        })?)
    }

    pub async fn role_delete(&self, id: &str) -> StoreResult<bool> {
        self.delete_by_id("DELETE FROM roles WHERE id = $1", id).await
    }

    /// Grant a role; granting it again is not an error.
    pub async fn assignment_grant(&self, a: &Assignment) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO role_assignments (user_id, project_id, role_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&a.user_id)
            .bind(&a.project_id)
            .bind(&a.role_id)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn assignment_revoke(&self, a: &Assignment) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM role_assignments WHERE user_id = $1 AND project_id = $2 AND role_id = $3",
            )
            .bind(&a.user_id)
            .bind(&a.project_id)
            .bind(&a.role_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn assignment_list(
        &self,
        user_id: Option<&str>,
        project_id: Option<&str>,
        role_id: Option<&str>,
    ) -> StoreResult<Vec<Assignment>> {
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT user_id, project_id, role_id FROM role_assignments WHERE 1 = 1",
            );
            if let Some(v) = user_id {
                q.push(" AND user_id = ").push_bind(v.to_string());
            }
            if let Some(v) = project_id {
                q.push(" AND project_id = ").push_bind(v.to_string());
            }
            if let Some(v) = role_id {
                q.push(" AND role_id = ").push_bind(v.to_string());
            }
            q.push(" ORDER BY user_id, project_id, role_id");
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    /// The roles `user_id` holds on `project_id`.
    pub async fn roles_for(&self, user_id: &str, project_id: &str) -> StoreResult<Vec<Role>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.id, r.name, r.created_at FROM roles r \
                 JOIN role_assignments a ON a.role_id = r.id \
                 WHERE a.user_id = $1 AND a.project_id = $2 ORDER BY r.name",
            )
            .bind(user_id)
            .bind(project_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// The projects on which `user_id` holds any role.
    pub async fn projects_for_user(&self, user_id: &str) -> StoreResult<Vec<Project>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT DISTINCT p.id, p.domain_id, p.name, p.description, p.enabled, p.created_at \
                 FROM projects p JOIN role_assignments a ON a.project_id = p.id \
                 WHERE a.user_id = $1 ORDER BY p.name",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
        })?)
    }

    // ---- tokens ----

    pub async fn token_insert(&self, t: &TokenRecord) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO tokens (token_hash, user_id, project_id, methods, audit_id, issued_at, \
                 expires_at, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&t.token_hash)
            .bind(&t.user_id)
            .bind(&t.project_id)
            .bind(&t.methods)
            .bind(&t.audit_id)
            .bind(t.issued_at)
            .bind(t.expires_at)
            .bind(t.revoked)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn token_get(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT token_hash, user_id, project_id, methods, audit_id, issued_at, expires_at, \
                 revoked FROM tokens WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
        })?)
    }

    pub async fn token_revoke(&self, token_hash: &str) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE tokens SET revoked = TRUE WHERE token_hash = $1 AND revoked = FALSE",
            )
            .bind(token_hash)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Revoke every token of a user (password change, disable).
    pub async fn token_revoke_user(&self, user_id: &str) -> StoreResult<u64> {
        Ok(on_pool!(self, |pool| {
            sqlx::query("UPDATE tokens SET revoked = TRUE WHERE user_id = $1 AND revoked = FALSE")
                .bind(user_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    /// Delete tokens that expired before `before`.
    pub async fn token_purge_expired(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(on_pool!(self, |pool| {
            sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    // ---- shared helpers ----

    async fn named_update(
        &self,
        table: &'static str,
        id: &str,
        patch: &IdentityPatch,
    ) -> StoreResult<u64> {
        let is_user = table == "users";
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!("UPDATE {table} SET id = id"));
            if let Some(v) = &patch.name {
                q.push(", name = ").push_bind(v.clone());
            }
            if let Some(v) = &patch.description {
                q.push(", description = ").push_bind(v.clone());
            }
            if let Some(v) = patch.enabled {
                q.push(", enabled = ").push_bind(v);
            }
            if is_user {
                if let Some(v) = &patch.password_hash {
                    q.push(", password_hash = ").push_bind(v.clone());
                }
                if let Some(v) = &patch.email {
                    q.push(", email = ").push_bind(v.clone());
                }
                if let Some(v) = &patch.default_project_id {
                    q.push(", default_project_id = ").push_bind(v.clone());
                }
            }
            q.push(" WHERE id = ").push_bind(id.to_string());
            q.build().execute(pool).await.map(|r| r.rows_affected())
        })?)
    }

    async fn delete_by_id(&self, sql: &'static str, id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query(sql).bind(id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}
