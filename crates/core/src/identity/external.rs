//! External-Keystone mode (DESIGN §4 "Identity"): an existing Keystone
//! issues the tokens, and the gateway validates each caller's token there
//! (`GET /v3/auth/tokens` with `X-Subject-Token`), authenticated by a token
//! of its own account, the way keystonemiddleware does for every OpenStack
//! service. The gateway's token is kept and renewed before it expires by a
//! pod-client session pointed at that Keystone.
//!
//! Validations are remembered for `token_cache_ttl` (default 10 s) in a
//! [`TokenCache`] keyed by the token's SHA-256, and never past the token's
//! own expiry: a token revoked in Keystone keeps working here at most that
//! long. Unknown tokens are not remembered (each one asks Keystone again).
//!
//! Failures: an unknown, expired or revoked token is 401; Keystone not
//! answering, failing, refusing the gateway's account or denying it the
//! right to validate tokens is 503 with a message for the client and the
//! cause in the log; never 500.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tricircle_common::{AuthContext, Error, Result};
use tricircle_pod_client::{
    Credentials, PodError, PodRequest, PodSession, ServiceType, SessionConfig,
};

use super::token_cache::TokenCache;
use super::token_hash;

/// Where the external Keystone is and how the gateway logs in to it.
#[derive(Clone, Debug)]
pub struct ExternalKeystoneSettings {
    /// The gateway's account, with `auth_url` the Keystone v3 URL.
    pub credentials: Credentials,
    /// How long a validation is remembered (zero: ask every time).
    pub token_cache_ttl: Duration,
    /// Deadline of one call to Keystone.
    pub timeout: Duration,
}

/// A caller's token as Keystone described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedToken {
    pub auth: AuthContext,
    pub expires_at: DateTime<Utc>,
}

/// The validator of external tokens; one per process.
pub struct ExternalKeystone {
    auth_url: String,
    session: PodSession,
    cache: TokenCache,
    calls: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for ExternalKeystone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalKeystone").field("auth_url", &self.auth_url).finish_non_exhaustive()
    }
}

/// The longest token accepted before asking Keystone (Fernet tokens are
/// about 200 bytes, JWS tokens under 1 KiB).
const MAX_TOKEN_LEN: usize = 8192;

fn invalid_token() -> Error {
    Error::unauthorized("The token is not valid.")
}

fn keystone_unavailable(detail: impl std::fmt::Display) -> Error {
    Error::unavailable(
        "The identity service (Keystone) cannot validate tokens right now; retry later.",
        format!("external keystone: {detail}"),
    )
}

impl ExternalKeystone {
    pub fn new(settings: ExternalKeystoneSettings) -> Result<Arc<ExternalKeystone>> {
        let auth_url = settings.credentials.auth_url.trim_end_matches('/').to_string();
        let mut config = SessionConfig::new(settings.credentials, "");
        config.timeout = settings.timeout;
        // Calls go to the Keystone we were given, not to one in a catalog.
        config.endpoint_overrides.insert("identity".into(), auth_url.clone());
        let session = PodSession::new(config).map_err(Error::internal)?;
        Ok(Arc::new(ExternalKeystone {
            auth_url,
            session,
            cache: TokenCache::new(settings.token_cache_ttl, 10_000),
            calls: Default::default(),
        }))
    }

    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// How many times Keystone was asked to validate a token (for tests and
    /// measurements).
    pub fn validations(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times the gateway's account logged in (its token is kept
    /// and renewed before it expires, or after Keystone refused it).
    pub fn logins(&self) -> u64 {
        self.session.logins()
    }

    /// Log in with the gateway's account, at start. On failure, the
    /// configuration key to blame and a one-line reason.
    pub async fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        match self.session.project_id().await {
            Ok(_) => Ok(()),
            Err(e @ (PodError::Connect(_) | PodError::Timeout(_))) => Err((
                "identity.external.auth_url",
                format!("cannot reach the Keystone at {}: {e}", self.auth_url),
            )),
            Err(PodError::Auth(why)) => Err((
                "identity.external.password",
                format!(
                    "the Keystone at {} refused the gateway's account (check username, password, \
                     project_name and the domains): {why}",
                    self.auth_url
                ),
            )),
            Err(e) => Err((
                "identity.external.auth_url",
                format!("the Keystone at {} did not answer as Keystone v3: {e}", self.auth_url),
            )),
        }
    }

    /// Who holds `token`: from the cache when validated within the TTL,
    /// else from Keystone.
    pub async fn validate(&self, token: &str) -> Result<ValidatedToken> {
        // A token that cannot travel in a header is not one Keystone issued.
        if token.is_empty()
            || token.len() > MAX_TOKEN_LEN
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid_token());
        }
        let hash = token_hash(token);
        let now = Utc::now();
        if let Some((auth, expires_at)) = self.cache.get_with_expiry(&hash, now) {
            return Ok(ValidatedToken { auth, expires_at });
        }
        let generation = self.cache.generation();
        let validated = self.ask_keystone(token).await?;
        self.cache.insert(hash, validated.auth.clone(), validated.expires_at, generation);
        Ok(validated)
    }

    async fn ask_keystone(&self, token: &str) -> Result<ValidatedToken> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let req = PodRequest::get(ServiceType::Identity, "/auth/tokens")
            .with_query("nocatalog", "1")
            .with_header("X-Subject-Token", token);
        let resp = self.session.send(&req).await.map_err(|e| match e {
            PodError::Auth(why) => {
                keystone_unavailable(format!("it refused the gateway's account: {why}"))
            }
            other => keystone_unavailable(other),
        })?;
        match resp.status {
            200 => {}
            // Keystone's answer for unknown, expired and revoked tokens.
            400 | 404 => return Err(invalid_token()),
            // The session logged in again and was still refused.
            401 => return Err(keystone_unavailable("it refused the gateway's own token")),
            403 => {
                return Err(keystone_unavailable(
                    "the gateway's account may not validate tokens: give it the service (or \
                     admin) role",
                ));
            }
            s => return Err(keystone_unavailable(format!("it answered HTTP {s}"))),
        }
        let body: Value = resp.json().map_err(keystone_unavailable)?;
        let validated = token_of(&body["token"])
            .ok_or_else(|| keystone_unavailable("its token body lacks the user or expires_at"))?;
        if validated.expires_at <= Utc::now() {
            return Err(invalid_token());
        }
        tracing::debug!(
            user_id = %validated.auth.user_id,
            project_id = validated.auth.project_id.as_deref().unwrap_or("-"),
            "validated a token at the external Keystone"
        );
        Ok(validated)
    }
}

/// Keystone's token body as the gateway's caller: user, project scope (none
/// for unscoped, domain or system tokens) and role names (Keystone already
/// includes implied roles: admin brings member and reader).
fn token_of(t: &Value) -> Option<ValidatedToken> {
    let user_id = t["user"]["id"].as_str()?.to_string();
    let user_name = t["user"]["name"].as_str().unwrap_or_default().to_string();
    let expires_at =
        DateTime::parse_from_rfc3339(t["expires_at"].as_str()?).ok()?.with_timezone(&Utc);
    let project_id = t["project"]["id"].as_str().map(str::to_string);
    let roles = t["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["name"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Some(ValidatedToken { auth: AuthContext { user_id, user_name, project_id, roles }, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystone_token_bodies() {
        let t = serde_json::json!({
            "user": {"id": "u1", "name": "demo", "domain": {"id": "default"}},
            "project": {"id": "p1", "name": "demo"},
            "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
            "expires_at": "2030-01-02T03:04:05.000000Z",
        });
        let v = token_of(&t).unwrap();
        assert_eq!(v.auth.user_id, "u1");
        assert_eq!(v.auth.project_id.as_deref(), Some("p1"));
        assert_eq!(v.auth.roles, ["member", "reader"]);
        assert!(!v.auth.is_admin());
        assert_eq!(v.expires_at.to_rfc3339(), "2030-01-02T03:04:05+00:00");
        // A system-scoped admin token: no project, admin.
        let sys = serde_json::json!({
            "user": {"id": "a", "name": "admin"}, "system": {"all": true},
            "roles": [{"name": "admin"}], "expires_at": "2030-01-02T03:04:05Z",
        });
        let v = token_of(&sys).unwrap();
        assert!(v.auth.project_id.is_none() && v.auth.is_admin());
        assert!(token_of(&serde_json::json!({"user": {"id": "u"}})).is_none(), "no expiry");
    }
}
