//! HTTP plumbing shared by every simulated service: errors in each service's own body shape,
//! request ids, body and query parsing, and the authenticated request context.
//!
//! Clients decide what went wrong from the body shape (`itemNotFound`, `NeutronError`,
//! Keystone's `error`), so an error carries the service it is rendered for. Domain code can
//! raise an error in one service's terms and a caller in another service re-labels it (Nova
//! turning a Neutron "port in use" into its own 409) with [`ApiError::svc`].

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tricircle_openstack_api::fault;

use crate::microversion::Mv;
use crate::pod::Pod;

/// The service an answer is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Svc {
    Identity,
    Compute,
    Volume,
    Network,
    Image,
    Control,
}

/// An error answer: status, Neutron's exception type name, and the message.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub svc: Svc,
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    pub fn new(svc: Svc, status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError { svc, status, kind, message: message.into() }
    }
    pub fn bad_request(svc: Svc, message: impl Into<String>) -> Self {
        Self::new(svc, 400, "HTTPBadRequest", message)
    }
    pub fn not_found(svc: Svc, kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(svc, 404, kind, message)
    }
    pub fn conflict(svc: Svc, kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(svc, 409, kind, message)
    }
    pub fn forbidden(svc: Svc, message: impl Into<String>) -> Self {
        Self::new(svc, 403, "HTTPForbidden", message)
    }
    /// Keystonemiddleware's answer to a missing or invalid token, the same for every service.
    pub fn unauthorized() -> Self {
        Self::new(
            Svc::Identity,
            401,
            "HTTPUnauthorized",
            "The request you have made requires authentication.",
        )
    }
    /// The same error rendered for another service.
    pub fn svc(mut self, svc: Svc) -> Self {
        self.svc = svc;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        render_error(self.svc, self.status, self.kind, &self.message)
    }
}

/// The body and headers of an error in `svc`'s shape.
pub fn render_error(svc: Svc, status: u16, kind: &str, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (body, ctype) = match svc {
        Svc::Identity => (fault::keystone_error(status, message), "application/json"),
        Svc::Compute => (fault::nova_fault(status, message), "application/json; charset=UTF-8"),
        // Cinder's faults have Nova's body but no charset in the Content-Type.
        Svc::Volume => (fault::nova_fault(status, message), "application/json"),
        Svc::Network => (fault::neutron_error(kind, message), "application/json"),
        Svc::Image => (
            json!({
                "code": format!("{status} {}", fault::reason_phrase(status)),
                "title": fault::reason_phrase(status),
                "message": message,
            }),
            "application/json",
        ),
        Svc::Control => (json!({"error": message}), "application/json"),
    };
    let mut resp = (code, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if status == 429 {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if status == 401 {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Keystone uri=\"/identity\""),
        );
    }
    resp
}

/// A JSON answer.
pub fn json_resp(status: u16, value: Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut resp = (code, value.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// An empty answer (204, or 202 for Nova actions). Its Content-Type is the service's business
/// and is set by [`request_id`]'s layer (see [`label_empty`]).
pub fn empty(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT);
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = code;
    resp
}

/// The Content-Type each real service puts on an answer without a body: Nova
/// `application/json` (even on 204), Glance `text/html; charset=UTF-8` (even on 204), Cinder and
/// Keystone `text/html; charset=UTF-8` except on 204, Neutron none.
pub fn label_empty(svc: Svc, resp: &mut Response) {
    use axum::body::HttpBody as _;
    if resp.body().size_hint().exact() != Some(0)
        || resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return;
    }
    let no_content = resp.status() == StatusCode::NO_CONTENT;
    let ctype = match svc {
        Svc::Compute => "application/json",
        Svc::Image => "text/html; charset=UTF-8",
        Svc::Volume | Svc::Identity if !no_content => "text/html; charset=UTF-8",
        _ => return,
    };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
}

/// Parse a JSON body into `T`, answering a bad body with `svc`'s 400.
pub fn parse<T: DeserializeOwned>(svc: Svc, body: &Bytes) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::bad_request(svc, "The request body is missing or empty."));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request(svc, "Malformed request body"))?;
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(svc, format!("Invalid input: {e}")))
}

/// Parse a JSON object body and take the value under `key` (`{"server": {...}}`).
pub fn parse_wrapped<T: DeserializeOwned>(svc: Svc, body: &Bytes, key: &str) -> ApiResult<T> {
    let mut v: Value = parse(svc, body)?;
    let inner = v.get_mut(key).map(Value::take).ok_or_else(|| {
        ApiError::bad_request(svc, format!("Invalid input: '{key}' is a required property"))
    })?;
    serde_json::from_value(inner).map_err(|e| {
        ApiError::bad_request(svc, format!("Invalid input for field/attribute {key}: {e}"))
    })
}

/// The query string as ordered pairs; repeated keys are kept (`?id=a&id=b`).
#[derive(Clone, Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if is_true(v))
    }
}

pub fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on" | "t" | "y")
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Ok(Query(serde_urlencoded::from_str(q).unwrap_or_default()))
    }
}

/// Marks a response that must carry no `x-openstack-request-id` (Nova's, Neutron's and
/// Glance's version documents have none).
#[derive(Clone, Copy)]
pub struct NoRequestId;

/// Adds `x-openstack-request-id` (and Nova's `x-compute-request-id`) to every answer, and the
/// service's Content-Type to empty ones.
pub async fn request_id(svc: Svc, req: Request, next: Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    tracing::debug!(request_id = %id, method = %req.method(), uri = %req.uri(), "sim-pod request");
    let mut resp = next.run(req).await;
    label_empty(svc, &mut resp);
    if resp.extensions().get::<NoRequestId>().is_none()
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        if svc == Svc::Compute {
            resp.headers_mut().insert("x-compute-request-id", v.clone());
        }
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    resp
}

/// Who is calling: resolved from `X-Auth-Token` by the extractor.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub user_id: String,
    pub project_id: String,
    pub is_admin: bool,
    /// The negotiated microversion (compute and volume; 0.0 elsewhere).
    pub mv: Mv,
}

impl Ctx {
    /// Whether a resource owned by `project` is visible to this caller without admin scope.
    pub fn owns(&self, project: &str) -> bool {
        self.project_id == project
    }
}

impl FromRequestParts<Pod> for Ctx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, pod: &Pod) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let mv = parts.extensions.get::<Mv>().copied().unwrap_or_default();
        let st = pod.read();
        let mut ctx = st.identity.context(token).ok_or_else(ApiError::unauthorized)?;
        ctx.mv = mv;
        Ok(ctx)
    }
}
