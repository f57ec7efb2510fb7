//! Logging in to a Keystone v3 with a password, scoped to a project: what a
//! pod session does, and what the admin CLI does against the gateway. Also
//! the catalog of a token someone else holds (a caller's token forwarded to
//! a pod that shares the gateway's Keystone).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::catalog::Catalog;
use crate::error::{PodError, parse_fault, root_cause};

/// Password credentials scoped to a project, all by name.
#[derive(Clone)]
pub struct Credentials {
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

// Never print the password.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("project_name", &self.project_name)
            .finish_non_exhaustive()
    }
}

/// A project-scoped token and what came with it.
pub struct ScopedToken {
    pub value: String,
    pub expires_at: DateTime<Utc>,
    pub project_id: String,
    /// The token's user (empty when the answer did not say).
    pub user_id: String,
    pub catalog: Catalog,
}

// Never print the token itself.
impl std::fmt::Debug for ScopedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedToken")
            .field("expires_at", &self.expires_at)
            .field("project_id", &self.project_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Which project a password login is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectScope {
    /// The credentials' own `project_name` in `project_domain_name`.
    Named,
    /// A project by ID (one the user holds a role in).
    Id(String),
}

fn transport(e: reqwest::Error) -> PodError {
    if e.is_timeout() {
        PodError::Timeout(std::time::Duration::ZERO)
    } else {
        PodError::Connect(root_cause(&e))
    }
}

/// `POST {auth_url}/auth/tokens` with the password method, scoped to the
/// credentials' project.
pub async fn password_login(
    http: &reqwest::Client,
    c: &Credentials,
) -> Result<ScopedToken, PodError> {
    password_login_scoped(http, c, &ProjectScope::Named).await
}

/// `POST {auth_url}/auth/tokens` with the password method, scoped as asked.
pub async fn password_login_scoped(
    http: &reqwest::Client,
    c: &Credentials,
    scope: &ProjectScope,
) -> Result<ScopedToken, PodError> {
    let project = match scope {
        ProjectScope::Named => {
            json!({"name": c.project_name, "domain": {"name": c.project_domain_name}})
        }
        ProjectScope::Id(id) => json!({"id": id}),
    };
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password}}},
        "scope": {"project": project}
    }});
    let url = format!("{}/auth/tokens", c.auth_url.trim_end_matches('/'));
    let resp = http.post(&url).json(&body).send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(transport)?;
    if status != 201 && status != 200 {
        let (kind, message) = parse_fault(status, &bytes);
        // A Keystone that is failing or overloaded may answer later; refused
        // credentials will not.
        if status >= 500 || status == 429 {
            return Err(PodError::Service { status, kind, message, request_id: None });
        }
        return Err(PodError::Auth(format!("HTTP {status} {kind}: {message}")));
    }
    let value = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| PodError::Auth("no X-Subject-Token in the answer".into()))?
        .to_string();
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| PodError::Auth(format!("the token body is not JSON: {e}")))?;
    let token = &doc["token"];
    let expires_at = token["expires_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| PodError::Auth("the token has no valid expires_at".into()))?;
    let project_id = token["project"]["id"]
        .as_str()
        .ok_or_else(|| PodError::Auth("the token is not scoped to a project".into()))?
        .to_string();
    let catalog = Catalog {
        services: serde_json::from_value(token["catalog"].clone())
            .map_err(|e| PodError::Auth(format!("the token's catalog is malformed: {e}")))?,
    };
    let user_id = token["user"]["id"].as_str().unwrap_or_default().to_string();
    Ok(ScopedToken { value, expires_at, project_id, user_id, catalog })
}

/// `GET {auth_url}/auth/catalog` with `token`: the catalog of a token this
/// process did not obtain itself. A refused token is
/// [`PodError::TokenRefused`].
pub async fn token_catalog(
    http: &reqwest::Client,
    auth_url: &str,
    token: &str,
) -> Result<Catalog, PodError> {
    let url = format!("{}/auth/catalog", auth_url.trim_end_matches('/'));
    let resp = http
        .get(&url)
        .header("X-Auth-Token", token)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(transport)?;
    match status {
        200 => {}
        401 | 404 => {
            let (_, message) = parse_fault(status, &bytes);
            return Err(PodError::TokenRefused(format!("HTTP {status}: {message}")));
        }
        _ => {
            let (kind, message) = parse_fault(status, &bytes);
            return Err(PodError::Service { status, kind, message, request_id: None });
        }
    }
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| PodError::Protocol(format!("the catalog is not JSON: {e}")))?;
    Ok(Catalog {
        services: serde_json::from_value(doc["catalog"].clone())
            .map_err(|e| PodError::Protocol(format!("the catalog is malformed: {e}")))?,
    })
}
