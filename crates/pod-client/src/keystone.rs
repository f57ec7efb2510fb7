//! Logging in to a Keystone v3 with a password, scoped to a project: what a
//! pod session does, and what the admin CLI does against the gateway.

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
#[derive(Debug)]
pub struct ScopedToken {
    pub value: String,
    pub expires_at: DateTime<Utc>,
    pub project_id: String,
    pub catalog: Catalog,
}

/// `POST {auth_url}/auth/tokens` with the password method.
pub async fn password_login(
    http: &reqwest::Client,
    c: &Credentials,
) -> Result<ScopedToken, PodError> {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password}}},
        "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}
    }});
    let transport = |e: reqwest::Error| {
        if e.is_timeout() {
            PodError::Timeout(std::time::Duration::ZERO)
        } else {
            PodError::Connect(root_cause(&e))
        }
    };
    let url = format!("{}/auth/tokens", c.auth_url.trim_end_matches('/'));
    let resp = http.post(&url).json(&body).send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(transport)?;
    if status != 201 && status != 200 {
        let (kind, message) = parse_fault(status, &bytes);
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
    Ok(ScopedToken { value, expires_at, project_id, catalog })
}
