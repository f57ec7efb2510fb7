//! A logged-in session with one pod.
//!
//! The token is shared by all calls and renewed when it is within
//! `renew_before` of its expiry; renewal is single-flight (one login while
//! concurrent callers wait for it). A 401 from a service means the pod
//! revoked or forgot the token: the session logs in again once and retries
//! the call once.
//!
//! A session may also carry a token it did not obtain (a caller's, forwarded
//! to a pod that shares the gateway's Keystone, see [`TokenSource`]): it
//! fetches that token's catalog once and uses the token until it expires; it
//! cannot renew it, so a refusal is [`PodError::TokenRefused`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::catalog::ServiceType;
use crate::error::{PodError, parse_fault, root_cause};
use crate::keystone::{
    Credentials, ProjectScope, ScopedToken, password_login_scoped, token_catalog,
};
use crate::microversion::{Microversion, VersionRange};

#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub credentials: Credentials,
    /// The pod's region name in its catalog.
    pub region: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// Deadline of one HTTP call.
    pub timeout: Duration,
    /// Renew the token when it expires sooner than this.
    pub renew_before: Duration,
    /// Service type → URL, used instead of the catalog.
    pub endpoint_overrides: BTreeMap<String, String>,
    /// Where the session's token comes from.
    pub token_source: TokenSource,
}

/// How a session gets its token.
#[derive(Clone, Debug)]
pub enum TokenSource {
    /// A password login with the credentials, scoped to their own project.
    Password,
    /// A password login with the credentials, scoped to this project ID
    /// (one the credentials' user holds a role in).
    PasswordInProject(String),
    /// A token obtained by someone else, used as it is. Only
    /// `credentials.auth_url` is used (to read the token's catalog).
    Forwarded(ForwardedToken),
}

/// A caller's token, validated by the gateway, to be passed on to a pod.
#[derive(Clone)]
pub struct ForwardedToken {
    pub value: String,
    pub project_id: String,
    pub user_id: String,
    pub expires_at: chrono::DateTime<Utc>,
}

// Never print the token itself.
impl std::fmt::Debug for ForwardedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardedToken")
            .field("project_id", &self.project_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Self {
        SessionConfig {
            credentials,
            region: region.into(),
            interface: "public".into(),
            timeout: Duration::from_secs(30),
            renew_before: Duration::from_secs(300),
            endpoint_overrides: BTreeMap::new(),
            token_source: TokenSource::Password,
        }
    }

    /// A session that passes `token` on to the pod whose Keystone is at
    /// `auth_url`. It cannot renew the token, so it uses it to the end.
    pub fn forwarded(auth_url: String, region: impl Into<String>, token: ForwardedToken) -> Self {
        let credentials = Credentials {
            auth_url,
            username: String::new(),
            password: String::new(),
            project_name: String::new(),
            user_domain_name: String::new(),
            project_domain_name: String::new(),
        };
        SessionConfig {
            renew_before: Duration::ZERO,
            token_source: TokenSource::Forwarded(token),
            ..SessionConfig::new(credentials, region)
        }
    }
}

type Token = ScopedToken;

/// One call to a service of the pod.
#[derive(Clone)]
pub struct PodRequest {
    pub service: ServiceType,
    pub method: Method,
    /// Relative to the service's endpoint, e.g. `/servers/detail`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<PodBody>,
    /// The microversion to send (already negotiated).
    pub microversion: Option<Microversion>,
    /// The top request's id, passed on so the pod's logs can be joined to ours.
    pub request_id: Option<String>,
    /// More headers (such as Keystone's `X-Subject-Token`); their values
    /// may be secrets, so `Debug` prints only the names.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for PodRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("PodRequest")
            .field("service", &self.service)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("microversion", &self.microversion)
            .field("request_id", &self.request_id)
            .field("header_names", &header_names)
            .finish_non_exhaustive()
    }
}

impl PodRequest {
    pub fn new(service: ServiceType, method: Method, path: impl Into<String>) -> Self {
        PodRequest {
            service,
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            microversion: None,
            request_id: None,
            headers: Vec::new(),
        }
    }

    pub fn get(service: ServiceType, path: impl Into<String>) -> Self {
        Self::new(service, Method::GET, path)
    }

    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(PodBody::Json(body));
        self
    }

    /// A body that is not plain JSON: image data, a JSON patch.
    pub fn with_raw_body(mut self, bytes: Vec<u8>, content_type: &str) -> Self {
        self.body = Some(PodBody::Raw { bytes, content_type: content_type.to_string() });
        self
    }

    pub fn with_query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_string(), value.into()));
        self
    }

    pub fn with_microversion(mut self, mv: Microversion) -> Self {
        self.microversion = Some(mv);
        self
    }

    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

#[derive(Clone, Debug)]
pub enum PodBody {
    Json(Value),
    Raw { bytes: Vec<u8>, content_type: String },
}

#[derive(Clone, Debug)]
pub struct PodResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The pod's own request id.
    pub request_id: Option<String>,
}

impl PodResponse {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PodError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| PodError::Protocol(format!("invalid JSON from the pod: {e}")))
    }
}

pub struct PodSession {
    http: reqwest::Client,
    config: SessionConfig,
    token: Mutex<Option<Arc<Token>>>,
    versions: Mutex<HashMap<ServiceType, Option<VersionRange>>>,
    logins: std::sync::atomic::AtomicU64,
    stats: std::sync::Mutex<CallStats>,
}

/// Counts of a session's calls, for the admin view of a pod's health.
/// Failures are calls the pod did not answer, or answered 5xx or 429.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallStats {
    pub calls: u64,
    pub failures: u64,
    pub latency_ms_total: f64,
    pub last_success_at: Option<chrono::DateTime<Utc>>,
    pub last_failure_at: Option<chrono::DateTime<Utc>>,
}

impl CallStats {
    /// Add another session's counts (several sessions talk to one pod).
    pub fn merge(&mut self, o: &CallStats) {
        self.calls += o.calls;
        self.failures += o.failures;
        self.latency_ms_total += o.latency_ms_total;
        self.last_success_at = self.last_success_at.max(o.last_success_at);
        self.last_failure_at = self.last_failure_at.max(o.last_failure_at);
    }
}

/// `http://h/volume/v3` → `http://h/volume/`; `http://h:8776/v3/` → `http://h:8776/`.
fn unversioned(endpoint: &str) -> Option<String> {
    let trimmed = endpoint.trim_end_matches('/');
    let (root, last) = trimmed.rsplit_once('/')?;
    let is_version =
        last.starts_with('v') && last[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
    (is_version && root.contains("://")).then(|| format!("{root}/"))
}

fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers.get("x-openstack-request-id").and_then(|v| v.to_str().ok()).map(str::to_string)
}

impl PodSession {
    pub fn new(config: SessionConfig) -> Result<Self, PodError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| PodError::Connect(e.to_string()))?;
        Ok(PodSession {
            http,
            config,
            token: Mutex::new(None),
            versions: Mutex::new(HashMap::new()),
            logins: std::sync::atomic::AtomicU64::new(0),
            stats: Default::default(),
        })
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// How many times this session has logged in (for tests and metrics).
    pub fn logins(&self) -> u64 {
        self.logins.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn transport_error(&self, e: reqwest::Error) -> PodError {
        if e.is_timeout() {
            PodError::Timeout(self.config.timeout)
        } else {
            PodError::Connect(root_cause(&e))
        }
    }

    /// The current token, logging in when there is none or it is about to
    /// expire.
    async fn token(&self) -> Result<Arc<Token>, PodError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            let margin = chrono::Duration::from_std(self.config.renew_before).unwrap_or_default();
            if t.expires_at - margin > Utc::now() {
                return Ok(t.clone());
            }
        }
        let fresh = Arc::new(self.login().await?);
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forget `stale` (if it is still the current token).
    async fn invalidate(&self, stale: &Arc<Token>) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| Arc::ptr_eq(t, stale)) {
            *slot = None;
        }
    }

    async fn login(&self) -> Result<Token, PodError> {
        self.logins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let credentials = &self.config.credentials;
        let token = match &self.config.token_source {
            TokenSource::Password => {
                password_login_scoped(&self.http, credentials, &ProjectScope::Named).await
            }
            TokenSource::PasswordInProject(id) => {
                password_login_scoped(&self.http, credentials, &ProjectScope::Id(id.clone())).await
            }
            TokenSource::Forwarded(t) => self.adopt(t).await,
        }
        .map_err(|e| match e {
            PodError::Timeout(_) => PodError::Timeout(self.config.timeout),
            other => other,
        })?;
        tracing::debug!(region = %self.config.region, expires_at = %token.expires_at, "logged in to the pod");
        Ok(token)
    }

    /// A forwarded token with its catalog, while it has not expired.
    async fn adopt(&self, t: &ForwardedToken) -> Result<Token, PodError> {
        if t.expires_at <= Utc::now() {
            return Err(PodError::TokenRefused("the token has expired".into()));
        }
        let catalog =
            token_catalog(&self.http, &self.config.credentials.auth_url, &t.value).await?;
        Ok(ScopedToken {
            value: t.value.clone(),
            expires_at: t.expires_at,
            project_id: t.project_id.clone(),
            user_id: t.user_id.clone(),
            catalog,
        })
    }

    /// The project the session's token is scoped to in the pod.
    pub async fn project_id(&self) -> Result<String, PodError> {
        Ok(self.token().await?.project_id.clone())
    }

    /// The user the session's token belongs to (empty when the pod's
    /// Keystone did not say).
    pub async fn user_id(&self) -> Result<String, PodError> {
        Ok(self.token().await?.user_id.clone())
    }

    /// The endpoint of `service`: the override, else the catalog's.
    pub async fn endpoint(&self, service: ServiceType) -> Result<String, PodError> {
        let token = self.token().await?;
        self.endpoint_in(&token, service)
    }

    fn endpoint_in(&self, token: &Token, service: ServiceType) -> Result<String, PodError> {
        if let Some(url) = self.config.endpoint_overrides.get(service.name()) {
            return Ok(url.trim_end_matches('/').to_string());
        }
        token
            .catalog
            .endpoint(service, &self.config.region, &self.config.interface)
            .map(|u| u.trim_end_matches('/').to_string())
            .ok_or_else(|| PodError::NoEndpoint {
                service: service.name().into(),
                region: self.config.region.clone(),
                interface: self.config.interface.clone(),
            })
    }

    /// The microversion range of `service`, read once from its version
    /// document at the endpoint; `None` for services without microversions.
    pub async fn version_range(
        &self,
        service: ServiceType,
    ) -> Result<Option<VersionRange>, PodError> {
        if let Some(r) = self.versions.lock().await.get(&service) {
            return Ok(*r);
        }
        let Some(_) = service.microversion_name() else { return Ok(None) };
        let token = self.token().await?;
        let endpoint = self.endpoint_in(&token, service)?;
        // Like keystoneauth: the versioned endpoint first (Nova answers it
        // without a token, Cinder only with one), then the service's root.
        let mut doc = self.version_document(&endpoint, &token.value).await;
        if doc.is_err()
            && let Some(root) = unversioned(&endpoint)
        {
            doc = self.version_document(&root, &token.value).await;
        }
        let doc = doc?;
        let major = if service == ServiceType::BlockStorage { 3 } else { 2 };
        let range = VersionRange::from_document(&doc, major);
        self.versions.lock().await.insert(service, range);
        Ok(range)
    }

    async fn version_document(&self, url: &str, token: &str) -> Result<Value, PodError> {
        let resp = self
            .http
            .get(url)
            .header("X-Auth-Token", token)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if !(200..=300).contains(&status) {
            let (kind, message) = parse_fault(status, &bytes);
            return Err(PodError::Service { status, kind, message, request_id: None });
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| PodError::Protocol(format!("{url} is not a version document")))
    }

    /// The microversion to send for `wanted`: `wanted` or the pod's maximum,
    /// whichever is older; an error when the pod's minimum is newer.
    pub async fn negotiate(
        &self,
        service: ServiceType,
        wanted: Microversion,
    ) -> Result<Microversion, PodError> {
        let Some(range) = self.version_range(service).await? else {
            return Err(PodError::Protocol(format!("{} has no microversions", service.name())));
        };
        range.choose(wanted).ok_or_else(|| PodError::Microversion {
            service: service.name().into(),
            requested: wanted.to_string(),
            min: range.min.to_string(),
            max: range.max.to_string(),
        })
    }

    /// Make one call; on 401 log in again and retry once. Error statuses
    /// become [`PodError::Service`].
    pub async fn call(&self, req: &PodRequest) -> Result<PodResponse, PodError> {
        let resp = self.send(req).await?;
        if resp.status >= 400 {
            let (kind, message) = parse_fault(resp.status, &resp.body);
            return Err(PodError::Service {
                status: resp.status,
                kind,
                message,
                request_id: resp.request_id,
            });
        }
        Ok(resp)
    }

    /// Like [`PodSession::call`], but any status comes back as a response
    /// (for callers that relay or compare the pod's own error bodies).
    pub async fn send(&self, req: &PodRequest) -> Result<PodResponse, PodError> {
        let started = std::time::Instant::now();
        let result = self.send_unrecorded(req).await;
        let failed = match &result {
            Ok(r) => r.status >= 500 || r.status == 429,
            Err(_) => true,
        };
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.calls += 1;
        stats.latency_ms_total += started.elapsed().as_secs_f64() * 1000.0;
        if failed {
            stats.failures += 1;
            stats.last_failure_at = Some(Utc::now());
        } else {
            stats.last_success_at = Some(Utc::now());
        }
        drop(stats);
        result
    }

    /// What this session's calls have seen so far.
    pub fn stats(&self) -> CallStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn send_unrecorded(&self, req: &PodRequest) -> Result<PodResponse, PodError> {
        let mut token = self.token().await?;
        let endpoint = self.endpoint_in(&token, req.service)?;
        // Keystone is catalogued versioned (`.../v3`) by real regions and
        // unversioned (`/identity`) by devstack-style ones; callers write
        // paths relative to v3.
        let url = if req.service == ServiceType::Identity && !endpoint.ends_with("/v3") {
            format!("{endpoint}/v3{}", req.path)
        } else {
            format!("{endpoint}{}", req.path)
        };
        for attempt in 0..2 {
            let mut builder = self
                .http
                .request(req.method.clone(), &url)
                .header("X-Auth-Token", &token.value)
                .header("Accept", "application/json");
            if !req.query.is_empty() {
                builder = builder.query(&req.query);
            }
            match &req.body {
                Some(PodBody::Json(v)) => builder = builder.json(v),
                Some(PodBody::Raw { bytes, content_type }) => {
                    builder = builder.header("Content-Type", content_type).body(bytes.clone());
                }
                None => {}
            }
            if let Some(id) = &req.request_id {
                builder = builder.header("X-OpenStack-Request-ID", id);
            }
            for (name, value) in &req.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            if let (Some(mv), Some(name)) = (req.microversion, req.service.microversion_name()) {
                builder = builder.header("OpenStack-API-Version", format!("{name} {mv}"));
                if req.service == ServiceType::Compute {
                    builder = builder.header("X-OpenStack-Nova-API-Version", mv.to_string());
                }
            }
            let resp = builder.send().await.map_err(|e| self.transport_error(e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(|e| self.transport_error(e))?.to_vec();
            let request_id = request_id_of(&headers);
            if status == 401 && attempt == 0 {
                tracing::info!(region = %self.config.region, "the pod refused our token; logging in again");
                self.invalidate(&token).await;
                token = self.token().await?;
                continue;
            }
            return Ok(PodResponse { status, headers, body, request_id });
        }
        unreachable!("the loop returns on its second attempt")
    }
}

#[cfg(test)]
mod tests {
    use super::unversioned;

    #[test]
    fn unversioned_roots() {
        assert_eq!(unversioned("http://h/volume/v3").as_deref(), Some("http://h/volume/"));
        assert_eq!(unversioned("http://h:8776/v3/").as_deref(), Some("http://h:8776/"));
        assert_eq!(unversioned("http://h:8774/v2.1").as_deref(), Some("http://h:8774/"));
        assert_eq!(unversioned("http://h/networking"), None);
        assert_eq!(unversioned("http://h"), None);
    }
}
