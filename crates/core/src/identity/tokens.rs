//! Issuing, validating and revoking tokens.

use tricircle_common::{AuthContext, Error, RequestContext, Result, random};
use tricircle_store::{Domain, Project, Role, TokenRecord, User, now};

use super::{IssuedToken, TokenInfo, implied, login_failed, passwords, token_hash};
use crate::App;

/// A domain, a user or a project named by ID or by name (users and
/// projects by name need their domain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameOrId {
    Id(String),
    Name { name: String, domain: Option<Box<NameOrId>> },
}

#[derive(Clone, Debug)]
pub enum Credential {
    Password { user: NameOrId, password: String },
    Token { token: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Unscoped,
    Project(NameOrId),
}

impl App {
    async fn domain_ref(&self, d: &NameOrId) -> Result<Option<Domain>> {
        Ok(match d {
            NameOrId::Id(id) => self.store.domain_get(id).await?,
            NameOrId::Name { name, .. } => self.store.domain_get_by_name(name).await?,
        })
    }

    async fn user_ref(&self, u: &NameOrId) -> Result<Option<User>> {
        Ok(match u {
            NameOrId::Id(id) => self.store.user_get(id).await?,
            NameOrId::Name { name, domain } => {
                let Some(d) = domain else {
                    return Err(Error::bad_request("A user named by name needs its domain."));
                };
                match self.domain_ref(d).await? {
                    Some(d) => self.store.user_get_by_name(&d.id, name).await?,
                    None => None,
                }
            }
        })
    }

    async fn project_ref(&self, p: &NameOrId) -> Result<Option<Project>> {
        Ok(match p {
            NameOrId::Id(id) => self.store.project_get(id).await?,
            NameOrId::Name { name, domain } => {
                let Some(d) = domain else {
                    return Err(Error::bad_request("A project named by name needs its domain."));
                };
                match self.domain_ref(d).await? {
                    Some(d) => self.store.project_get_by_name(&d.id, name).await?,
                    None => None,
                }
            }
        })
    }

    /// The roles of `user` on `project`, with the roles they imply.
    async fn effective_roles(&self, user_id: &str, project_id: &str) -> Result<Vec<Role>> {
        let mut roles = self.store.roles_for(user_id, project_id).await?;
        let mut extra = Vec::new();
        for r in &roles {
            for name in implied(&r.name) {
                if !roles.iter().chain(&extra).any(|x: &Role| x.name == *name)
                    && let Some(role) = self.store.role_get_by_name(name).await?
                {
                    extra.push(role);
                }
            }
        }
        roles.extend(extra);
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    /// Assemble what a token stands for, checking that every part is still
    /// enabled and that the user still holds a role on the project.
    async fn token_info(&self, rec: &TokenRecord) -> Result<Option<TokenInfo>> {
        let Some(user) = self.store.user_get(&rec.user_id).await? else { return Ok(None) };
        let Some(user_domain) = self.store.domain_get(&user.domain_id).await? else {
            return Ok(None);
        };
        if !user.enabled || !user_domain.enabled {
            return Ok(None);
        }
        let (project, roles) = match &rec.project_id {
            Some(pid) => {
                let Some(p) = self.store.project_get(pid).await? else { return Ok(None) };
                let Some(pd) = self.store.domain_get(&p.domain_id).await? else { return Ok(None) };
                let roles = self.effective_roles(&user.id, &p.id).await?;
                if !p.enabled || !pd.enabled || roles.is_empty() {
                    return Ok(None);
                }
                (Some((p, pd)), roles)
            }
            None => (None, Vec::new()),
        };
        Ok(Some(TokenInfo {
            user,
            user_domain,
            project,
            roles,
            methods: rec.methods.split(',').map(str::to_string).collect(),
            audit_id: rec.audit_id.clone(),
            issued_at: rec.issued_at,
            expires_at: rec.expires_at,
        }))
    }

    /// Log in (`POST /v3/auth/tokens`).
    pub async fn token_issue(&self, credential: Credential, scope: Scope) -> Result<IssuedToken> {
        let (user, method, expires_at) = match credential {
            Credential::Password { user, password } => {
                let found = self.user_ref(&user).await?;
                let Some(u) = found else {
                    passwords::verify_nothing(&password);
                    return Err(login_failed());
                };
                let ok =
                    u.password_hash.as_deref().is_some_and(|h| passwords::verify(&password, h));
                if !ok || !u.enabled {
                    return Err(login_failed());
                }
                let ttl = chrono::Duration::from_std(self.settings.identity.token_ttl)
                    .map_err(Error::internal)?;
                // Counted from now: the (deliberately slow) hash check is behind us.
                (u, "password", now() + ttl)
            }
            Credential::Token { token } => {
                let info = self.token_validate(&token).await.map_err(|_| login_failed())?;
                // A rescoped token keeps the expiry of the one it came from.
                (info.user, "token", info.expires_at)
            }
        };
        let project_id = match scope {
            Scope::Unscoped => None,
            Scope::Project(p) => {
                let project = self.project_ref(&p).await?.ok_or_else(login_failed)?;
                Some(project.id)
            }
        };
        let token = random::token_hex();
        let issued_at = now();
        let rec = TokenRecord {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            project_id,
            methods: method.to_string(),
            audit_id: random::to_hex(&random::bytes::<12>()),
            issued_at,
            expires_at,
            revoked: false,
        };
        // Checks roles and enabled flags before anything is stored.
        let info = self.token_info(&rec).await?.ok_or_else(login_failed)?;
        self.store.token_insert(&rec).await?;
        tracing::info!(user_id = %user.id, project_id = ?rec.project_id, audit_id = %rec.audit_id, "token issued");
        Ok(IssuedToken { token, info })
    }

    /// What a token stands for; 404 when it is unknown, expired or revoked
    /// (Keystone's answer to `GET /v3/auth/tokens`).
    pub async fn token_validate(&self, token: &str) -> Result<TokenInfo> {
        self.token_validate_hash(&token_hash(token)).await
    }

    async fn token_validate_hash(&self, hash: &str) -> Result<TokenInfo> {
        let missing = || super::not_found("token", "the subject token");
        let rec = self.store.token_get(hash).await?.ok_or_else(missing)?;
        if rec.revoked || rec.expires_at <= now() {
            return Err(missing());
        }
        self.token_info(&rec).await?.ok_or_else(missing)
    }

    /// The caller behind an `X-Auth-Token`; 401 when it is not valid.
    /// Tokens validated in the last `token_cache_ttl` are answered from the
    /// token cache (explicit validation, `token_validate`, always reads the
    /// database).
    pub async fn authenticate(&self, token: &str) -> Result<AuthContext> {
        let hash = token_hash(token);
        if let Some(auth) = self.tokens.get(&hash, now()) {
            return Ok(auth);
        }
        let generation = self.tokens.generation();
        match self.token_validate_hash(&hash).await {
            Ok(info) => {
                let auth = info.auth_context();
                self.tokens.insert(hash, auth.clone(), info.expires_at, generation);
                Ok(auth)
            }
            Err(e) if e.status() == 404 => Err(Error::unauthorized("The token is not valid.")),
            Err(e) => Err(e),
        }
    }

    /// Log out (`DELETE /v3/auth/tokens`): a caller may revoke its own
    /// tokens; an admin any token.
    pub async fn token_revoke(&self, ctx: &RequestContext, subject: &str) -> Result<()> {
        let info = self.token_validate(subject).await?;
        if info.user.id != ctx.auth.user_id && !ctx.auth.is_admin() {
            return Err(Error::forbidden("You may only revoke your own tokens."));
        }
        let hash = token_hash(subject);
        self.store.token_revoke(&hash).await?;
        self.tokens.remove(&hash);
        tracing::info!(audit_id = %info.audit_id, "token revoked");
        Ok(())
    }

    /// Projects the caller can scope a token to (`GET /v3/auth/projects`).
    pub async fn auth_projects(&self, ctx: &RequestContext) -> Result<Vec<Project>> {
        let projects = self.store.projects_for_user(&ctx.auth.user_id).await?;
        Ok(projects.into_iter().filter(|p| p.enabled).collect())
    }
}
