//! Who is calling: token validation behind a trait, and extractors that
//! handlers use to demand a caller or an admin.
//!
//! Three [`Authenticator`]s: the bootstrap admin token from the
//! configuration, the embedded Keystone's tokens, and an external
//! Keystone's tokens; handlers only ever see the extractors, so they do not
//! depend on which one runs.
//!
//! Status codes follow OpenStack (keystonemiddleware and oslo.policy): no
//! token or an invalid one is 401; a valid token without the admin role is
//! 403. (Upstream Tricircle answered 401 for a policy failure on pods and
//! 403 on routings and jobs; we use 403 for all.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use tricircle_common::{AuthContext, Error, RequestContext, RequestId, Result};
use tricircle_core::caller_token::{self, CallerToken};
use tricircle_core::identity::external::ExternalKeystone;

use crate::ApiState;
use crate::error::ApiError;

pub const TOKEN_HEADER: &str = "x-auth-token";

pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<AuthContext>> + Send + 'a>>;

/// Validates a token and says who holds it.
pub trait Authenticator: Send + Sync {
    /// `Err` with kind `Unauthorized` for an unknown or expired token.
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a>;

    /// The Keystone clients must authenticate at, when it is not the
    /// gateway's own (external-Keystone mode).
    fn external_keystone(&self) -> Option<&str> {
        None
    }
}

/// Accepts exactly one configured token, held by an admin.
pub struct BootstrapTokenAuth {
    token: String,
}

impl BootstrapTokenAuth {
    pub fn new(token: impl Into<String>) -> Self {
        BootstrapTokenAuth { token: token.into() }
    }
}

/// Compare without an early exit, so response timing does not reveal how
/// much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator for BootstrapTokenAuth {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            if constant_time_eq(token.as_bytes(), self.token.as_bytes()) {
                Ok(AuthContext {
                    user_id: "bootstrap".into(),
                    user_name: "bootstrap-admin".into(),
                    project_id: None,
                    roles: vec!["admin".into()],
                })
            } else {
                Err(Error::unauthorized("The token is not valid."))
            }
        })
    }
}

/// Tokens of the embedded identity service, plus (optionally) the
/// bootstrap admin token from the configuration.
pub struct EmbeddedIdentityAuth {
    app: tricircle_core::App,
    bootstrap: Option<BootstrapTokenAuth>,
}

impl EmbeddedIdentityAuth {
    pub fn new(app: tricircle_core::App, bootstrap_token: Option<String>) -> Self {
        EmbeddedIdentityAuth { app, bootstrap: bootstrap_token.map(BootstrapTokenAuth::new) }
    }
}

impl Authenticator for EmbeddedIdentityAuth {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            if let Some(b) = &self.bootstrap
                && let Ok(ctx) = b.authenticate(token).await
            {
                return Ok(ctx);
            }
            self.app.authenticate(token).await
        })
    }
}

/// Tokens of an external Keystone (validated there, see
/// [`tricircle_core::identity::external`]), plus (optionally) the bootstrap
/// admin token. A validated token is also recorded for the request, so that
/// calls to pods with `shared` identity can forward it.
pub struct ExternalKeystoneAuth {
    keystone: Arc<ExternalKeystone>,
    bootstrap: Option<BootstrapTokenAuth>,
}

impl ExternalKeystoneAuth {
    pub fn new(keystone: Arc<ExternalKeystone>, bootstrap_token: Option<String>) -> Self {
        ExternalKeystoneAuth { keystone, bootstrap: bootstrap_token.map(BootstrapTokenAuth::new) }
    }
}

impl Authenticator for ExternalKeystoneAuth {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            if let Some(b) = &self.bootstrap
                && let Ok(ctx) = b.authenticate(token).await
            {
                return Ok(ctx);
            }
            let v = self.keystone.validate(token).await?;
            caller_token::record(CallerToken {
                token: token.to_string(),
                user_id: v.auth.user_id.clone(),
                project_id: v.auth.project_id.clone(),
                expires_at: v.expires_at,
            });
            Ok(v.auth)
        })
    }

    fn external_keystone(&self) -> Option<&str> {
        Some(self.keystone.auth_url())
    }
}

/// Room for the caller's token during one request (the outermost layer
/// around handlers; see [`tricircle_core::caller_token`]).
pub async fn caller_scope(req: Request, next: Next) -> Response {
    caller_token::scope(next.run(req)).await
}

/// Any authenticated caller.
pub struct Caller(pub RequestContext);

/// An authenticated caller with the admin role.
pub struct Admin(pub RequestContext);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let request_id = parts.extensions.get::<RequestId>().cloned().unwrap_or_default();
        let token = parts
            .headers
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::unauthorized("Authentication required: send a token in X-Auth-Token.")
            })?;
        let auth = state.auth.authenticate(token).await?;
        Ok(Caller(RequestContext { request_id, auth }))
    }
}

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Caller(ctx) = Caller::from_request_parts(parts, state).await?;
        tricircle_core::require_admin(&ctx)?;
        Ok(Admin(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_matches_only_equal_inputs() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
