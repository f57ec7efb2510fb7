//! Managing domains, projects, users, roles and role assignments. Admins
//! manage everything; a user may read itself and change its own password.

use tricircle_common::{Error, RequestContext, Result};
use tricircle_store::{Assignment, Domain, IdentityPatch, Project, Role, StoreError, User, now};

use super::{new_id, not_found, passwords};
use crate::{App, require_admin};

const MAX_NAME: usize = 255;

fn name(field: &str, v: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(Error::bad_request(format!("{field} must not be empty.")));
    }
    if v.chars().count() > MAX_NAME {
        return Err(Error::bad_request(format!("{field} is longer than {MAX_NAME} characters.")));
    }
    Ok(v.to_string())
}

fn conflict(kind: &str, what: &str) -> impl FnOnce(StoreError) -> Error {
    let message = format!(
        "Conflict occurred attempting to store {kind} - Duplicate entry found with {what}."
    );
    move |e| match e {
        StoreError::Duplicate(_) => Error::conflict(message),
        other => other.into(),
    }
}

fn is_self_or_admin(ctx: &RequestContext, user_id: &str) -> Result<()> {
    if ctx.auth.user_id == user_id || ctx.auth.is_admin() {
        Ok(())
    } else {
        Err(Error::forbidden("You are not authorized to perform the requested action."))
    }
}

#[derive(Clone, Debug, Default)]
pub struct ProjectSpec {
    pub name: String,
    pub domain_id: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Clone, Default)]
pub struct UserSpec {
    pub name: String,
    pub domain_id: Option<String>,
    pub password: Option<String>,
    pub enabled: Option<bool>,
    pub email: Option<String>,
    pub default_project_id: Option<String>,
    pub description: Option<String>,
}

impl App {
    // ---- domains ----

    pub async fn domain_list(&self, ctx: &RequestContext) -> Result<Vec<Domain>> {
        require_admin(ctx)?;
        Ok(self.store.domain_list().await?)
    }

    pub async fn domain_get(&self, ctx: &RequestContext, id: &str) -> Result<Domain> {
        require_admin(ctx)?;
        self.store.domain_get(id).await?.ok_or_else(|| not_found("domain", id))
    }

    pub async fn domain_create(
        &self,
        ctx: &RequestContext,
        n: &str,
        description: Option<String>,
    ) -> Result<Domain> {
        require_admin(ctx)?;
        let n = name("name", n)?;
        let d = Domain {
            id: new_id(),
            name: n.clone(),
            description: description.unwrap_or_default(),
            enabled: true,
            created_at: now(),
        };
        self.store.domain_create(&d).await.map_err(conflict("domain", &format!("name {n}")))?;
        Ok(d)
    }

    // ---- projects ----

    pub async fn project_list(
        &self,
        ctx: &RequestContext,
        domain_id: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Project>> {
        require_admin(ctx)?;
        Ok(self.store.project_list(domain_id, name).await?)
    }

    pub async fn project_get(&self, ctx: &RequestContext, id: &str) -> Result<Project> {
        let member = ctx.auth.project_id.as_deref() == Some(id);
        if !member {
            require_admin(ctx)?;
        }
        self.store.project_get(id).await?.ok_or_else(|| not_found("project", id))
    }

    pub async fn project_create(&self, ctx: &RequestContext, spec: ProjectSpec) -> Result<Project> {
        require_admin(ctx)?;
        let n = name("name", &spec.name)?;
        let domain_id = spec.domain_id.unwrap_or_else(|| "default".into());
        if self.store.domain_get(&domain_id).await?.is_none() {
            return Err(Error::bad_request(format!("Domain {domain_id} does not exist.")));
        }
        let p = Project {
            id: new_id(),
            domain_id: domain_id.clone(),
            name: n.clone(),
            description: spec.description.unwrap_or_default(),
            enabled: spec.enabled.unwrap_or(true),
            created_at: now(),
        };
        self.store
            .project_create(&p)
            .await
            .map_err(conflict("project", &format!("name {n} at domain ID {domain_id}")))?;
        tracing::info!(project_id = %p.id, name = %p.name, "project created");
        Ok(p)
    }

    pub async fn project_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut patch: IdentityPatch,
    ) -> Result<Project> {
        require_admin(ctx)?;
        if let Some(n) = &patch.name {
            patch.name = Some(name("name", n)?);
        }
        patch.password_hash = None;
        let project = self
            .store
            .project_update(id, &patch)
            .await
            .map_err(conflict("project", "the same name in its domain"))?
            .ok_or_else(|| not_found("project", id))?;
        self.tokens.clear();
        Ok(project)
    }

    pub async fn project_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        require_admin(ctx)?;
        let deleted = self.store.project_delete(id).await?;
        self.tokens.clear();
        if deleted { Ok(()) } else { Err(not_found("project", id)) }
    }

    // ---- users ----

    pub async fn user_list(
        &self,
        ctx: &RequestContext,
        domain_id: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<User>> {
        require_admin(ctx)?;
        Ok(self.store.user_list(domain_id, name).await?)
    }

    pub async fn user_get(&self, ctx: &RequestContext, id: &str) -> Result<User> {
        is_self_or_admin(ctx, id)?;
        self.store.user_get(id).await?.ok_or_else(|| not_found("user", id))
    }

    pub async fn user_create(&self, ctx: &RequestContext, spec: UserSpec) -> Result<User> {
        require_admin(ctx)?;
        let n = name("name", &spec.name)?;
        let domain_id = spec.domain_id.unwrap_or_else(|| "default".into());
        if self.store.domain_get(&domain_id).await?.is_none() {
            return Err(Error::bad_request(format!("Domain {domain_id} does not exist.")));
        }
        let password_hash = spec.password.as_deref().map(passwords::hash).transpose()?;
        let u = User {
            id: new_id(),
            domain_id: domain_id.clone(),
            name: n.clone(),
            password_hash,
            enabled: spec.enabled.unwrap_or(true),
            default_project_id: spec.default_project_id,
            email: spec.email,
            description: spec.description.unwrap_or_default(),
            created_at: now(),
        };
        self.store
            .user_create(&u)
            .await
            .map_err(conflict("user", &format!("name {n} at domain ID {domain_id}")))?;
        tracing::info!(user_id = %u.id, name = %u.name, "user created");
        Ok(u)
    }

    /// Update a user; a new password or disabling revokes its tokens.
    pub async fn user_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut patch: IdentityPatch,
        password: Option<String>,
    ) -> Result<User> {
        require_admin(ctx)?;
        if let Some(n) = &patch.name {
            patch.name = Some(name("name", n)?);
        }
        patch.password_hash = password.as_deref().map(passwords::hash).transpose()?;
        let revoke = patch.password_hash.is_some() || patch.enabled == Some(false);
        let user = self
            .store
            .user_update(id, &patch)
            .await
            .map_err(conflict("user", "the same name in its domain"))?
            .ok_or_else(|| not_found("user", id))?;
        if revoke {
            self.store.token_revoke_user(id).await?;
        }
        self.tokens.clear();
        Ok(user)
    }

    /// `POST /v3/users/{id}/password`: the user changes its own password.
    pub async fn user_change_password(
        &self,
        ctx: &RequestContext,
        id: &str,
        original: &str,
        new: &str,
    ) -> Result<()> {
        if ctx.auth.user_id != id {
            return Err(Error::forbidden("You may only change your own password."));
        }
        let user = self.store.user_get(id).await?.ok_or_else(|| not_found("user", id))?;
        if !user.password_hash.as_deref().is_some_and(|h| passwords::verify(original, h)) {
            return Err(super::login_failed());
        }
        if new.is_empty() {
            return Err(Error::bad_request("The new password must not be empty."));
        }
        let patch =
            IdentityPatch { password_hash: Some(passwords::hash(new)?), ..Default::default() };
        self.store.user_update(id, &patch).await?;
        self.store.token_revoke_user(id).await?;
        self.tokens.clear();
        Ok(())
    }

    pub async fn user_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        require_admin(ctx)?;
        let deleted = self.store.user_delete(id).await?;
        self.tokens.clear();
        if deleted { Ok(()) } else { Err(not_found("user", id)) }
    }

    pub async fn user_projects(&self, ctx: &RequestContext, id: &str) -> Result<Vec<Project>> {
        is_self_or_admin(ctx, id)?;
        Ok(self.store.projects_for_user(id).await?)
    }

    // ---- roles and assignments ----

    pub async fn role_list(&self, ctx: &RequestContext) -> Result<Vec<Role>> {
        require_admin(ctx)?;
        Ok(self.store.role_list().await?)
    }

    pub async fn role_get(&self, ctx: &RequestContext, id: &str) -> Result<Role> {
        require_admin(ctx)?;
        self.store.role_get(id).await?.ok_or_else(|| not_found("role", id))
    }

    pub async fn role_create(&self, ctx: &RequestContext, n: &str) -> Result<Role> {
        require_admin(ctx)?;
        let n = name("name", n)?;
        let r = Role { id: new_id(), name: n.clone(), created_at: now() };
        self.store.role_create(&r).await.map_err(conflict("role", &format!("name {n}")))?;
        Ok(r)
    }

    pub async fn role_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        require_admin(ctx)?;
        let deleted = self.store.role_delete(id).await?;
        self.tokens.clear();
        if deleted { Ok(()) } else { Err(not_found("role", id)) }
    }

    async fn assignment_parts(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<Assignment> {
        if self.store.project_get(project_id).await?.is_none() {
            return Err(not_found("project", project_id));
        }
        if self.store.user_get(user_id).await?.is_none() {
            return Err(not_found("user", user_id));
        }
        if self.store.role_get(role_id).await?.is_none() {
            return Err(not_found("role", role_id));
        }
        Ok(Assignment {
            user_id: user_id.into(),
            project_id: project_id.into(),
            role_id: role_id.into(),
        })
    }

    pub async fn role_grant(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<()> {
        require_admin(ctx)?;
        let a = self.assignment_parts(project_id, user_id, role_id).await?;
        self.store.assignment_grant(&a).await?;
        self.tokens.clear();
        Ok(())
    }

    pub async fn role_revoke(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<()> {
        require_admin(ctx)?;
        let a = self.assignment_parts(project_id, user_id, role_id).await?;
        let revoked = self.store.assignment_revoke(&a).await?;
        self.tokens.clear();
        if revoked {
            Ok(())
        } else {
            Err(not_found(
                "grant",
                &format!("role {role_id} for user {user_id} on project {project_id}"),
            ))
        }
    }

    pub async fn role_check(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<()> {
        require_admin(ctx)?;
        let a = self.assignment_parts(project_id, user_id, role_id).await?;
        let found =
            self.store.assignment_list(Some(user_id), Some(project_id), Some(role_id)).await?;
        if found.contains(&a) { Ok(()) } else { Err(not_found("grant", role_id)) }
    }

    pub async fn user_roles_on_project(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        user_id: &str,
    ) -> Result<Vec<Role>> {
        require_admin(ctx)?;
        Ok(self.store.roles_for(user_id, project_id).await?)
    }

    pub async fn assignment_list(
        &self,
        ctx: &RequestContext,
        user_id: Option<&str>,
        project_id: Option<&str>,
        role_id: Option<&str>,
    ) -> Result<Vec<Assignment>> {
        require_admin(ctx)?;
        Ok(self.store.assignment_list(user_id, project_id, role_id).await?)
    }
}
