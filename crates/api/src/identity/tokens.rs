//! Version documents and `/v3/auth/*`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tricircle_common::Error;
use tricircle_core::identity::{Credential, NameOrId, Scope};

use super::{KeystoneError, KsResult, bad_request, collection_links, views};
use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::url::base_url;

const UPDATED: &str = "2026-11-25T00:00:00Z";

fn version_entry(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": format!("{base}/identity/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /identity`: 300 Multiple Choices, as Keystone answers at its root.
pub async fn versions(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let base = base_url(state.public_url.as_deref(), &headers);
    let mut resp = (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [version_entry(&base)]}})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/identity/v3/")) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

pub async fn version(State(state): State<ApiState>, headers: HeaderMap) -> Json<Value> {
    let base = base_url(state.public_url.as_deref(), &headers);
    Json(json!({"version": version_entry(&base)}))
}

#[derive(Deserialize)]
pub struct AuthBody {
    auth: AuthSection,
}

#[derive(Deserialize)]
struct AuthSection {
    identity: IdentitySection,
    #[serde(default)]
    scope: Option<Value>,
}

#[derive(Deserialize)]
struct IdentitySection {
    methods: Vec<String>,
    password: Option<PasswordSection>,
    token: Option<TokenSection>,
}

#[derive(Deserialize)]
struct PasswordSection {
    user: UserSection,
}

#[derive(Deserialize)]
struct UserSection {
    id: Option<String>,
    name: Option<String>,
    domain: Option<RefSection>,
    password: String,
}

#[derive(Deserialize)]
struct RefSection {
    id: Option<String>,
    name: Option<String>,
    domain: Option<Box<RefSection>>,
}

#[derive(Deserialize)]
struct TokenSection {
    id: String,
}

fn name_or_id(r: &RefSection, what: &str) -> KsResult<NameOrId> {
    match (&r.id, &r.name) {
        (Some(id), _) => Ok(NameOrId::Id(id.clone())),
        (None, Some(name)) => Ok(NameOrId::Name {
            name: name.clone(),
            domain: r.domain.as_deref().map(|d| name_or_id(d, "domain")).transpose()?.map(Box::new),
        }),
        (None, None) => Err(bad_request(format!("{what} needs an id or a name."))),
    }
}

fn credential(identity: IdentitySection) -> KsResult<Credential> {
    match identity.methods.first().map(String::as_str) {
        Some("password") => {
            let u = identity
                .password
                .ok_or_else(|| bad_request("The password method needs identity.password."))?
                .user;
            let user = match (u.id, u.name) {
                (Some(id), _) => NameOrId::Id(id),
                (None, Some(name)) => NameOrId::Name {
                    name,
                    domain: u
                        .domain
                        .as_ref()
                        .map(|d| name_or_id(d, "user.domain"))
                        .transpose()?
                        .map(Box::new),
                },
                (None, None) => {
                    return Err(bad_request("identity.password.user needs an id or a name."));
                }
            };
            Ok(Credential::Password { user, password: u.password })
        }
        Some("token") => {
            let t = identity
                .token
                .ok_or_else(|| bad_request("The token method needs identity.token."))?;
            Ok(Credential::Token { token: t.id })
        }
        Some(other) => Err(KeystoneError(Error::unauthorized(format!(
            "Authentication method {} is not supported.",
            tricircle_common::ids::truncate_for_message(other)
        )))),
        None => Err(bad_request("identity.methods must name a method.")),
    }
}

fn scope(scope: Option<Value>) -> KsResult<Scope> {
    let Some(scope) = scope else { return Ok(Scope::Unscoped) };
    if scope == json!("unscoped") {
        return Ok(Scope::Unscoped);
    }
    if let Some(project) = scope.get("project") {
        let r: RefSection = serde_json::from_value(project.clone())
            .map_err(|e| bad_request(format!("Invalid scope.project: {e}.")))?;
        return Ok(Scope::Project(name_or_id(&r, "scope.project")?));
    }
    Err(bad_request(
        "Only project scope is supported (scope.project with an id, or a name and its domain).",
    ))
}

#[derive(Deserialize, Default)]
pub struct CatalogQuery {
    nocatalog: Option<String>,
    allow_expired: Option<String>,
}

/// `POST /v3/auth/tokens`: log in.
pub async fn issue(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: Result<QueryParams<CatalogQuery>, ApiError>,
    body: Result<JsonBody<AuthBody>, ApiError>,
) -> KsResult<Response> {
    let QueryParams(q) = query?;
    let JsonBody(body) = body?;
    let credential = credential(body.auth.identity)?;
    let scope = scope(body.auth.scope)?;
    let issued = state.app.token_issue(credential, scope).await?;
    let base = base_url(state.public_url.as_deref(), &headers);
    let view = views::token(&base, &state.region, &issued.info, q.nocatalog.is_none());
    let mut resp = (StatusCode::CREATED, Json(view)).into_response();
    let token =
        HeaderValue::from_str(&issued.token).map_err(|e| KeystoneError(Error::internal(e)))?;
    resp.headers_mut().insert("x-subject-token", token);
    Ok(resp)
}

fn subject(headers: &HeaderMap) -> KsResult<String> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| bad_request("X-Subject-Token is required."))
}

/// Any caller may validate its own token; validating others' needs admin.
async fn validated(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
) -> KsResult<(String, tricircle_core::identity::TokenInfo)> {
    let subject = subject(headers)?;
    let info = state.app.token_validate(&subject).await?;
    if info.user.id != caller.0.auth.user_id && !caller.0.auth.is_admin() {
        return Err(KeystoneError(Error::forbidden(
            "You are not authorized to perform the requested action: identity:validate_token.",
        )));
    }
    Ok((subject, info))
}

/// `GET /v3/auth/tokens`: what `X-Subject-Token` stands for.
pub async fn validate(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    query: Result<QueryParams<CatalogQuery>, ApiError>,
) -> KsResult<Response> {
    let caller = caller?;
    let QueryParams(q) = query?;
    let _ = q.allow_expired;
    let (subject, info) = validated(&state, &caller, &headers).await?;
    let base = base_url(state.public_url.as_deref(), &headers);
    let mut resp =
        Json(views::token(&base, &state.region, &info, q.nocatalog.is_none())).into_response();
    if let Ok(v) = HeaderValue::from_str(&subject) {
        resp.headers_mut().insert("x-subject-token", v);
    }
    Ok(resp)
}

/// `HEAD /v3/auth/tokens`: 200 when valid.
pub async fn check(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
) -> KsResult<StatusCode> {
    validated(&state, &caller?, &headers).await?;
    Ok(StatusCode::OK)
}

/// `DELETE /v3/auth/tokens`: log out.
pub async fn revoke(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
) -> KsResult<StatusCode> {
    let caller = caller?;
    state.app.token_revoke(&caller.0, &subject(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn auth_projects(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
) -> KsResult<Json<Value>> {
    let caller = caller?;
    let base = base_url(state.public_url.as_deref(), &headers);
    let projects = state.app.auth_projects(&caller.0).await?;
    Ok(Json(json!({
        "projects": projects.iter().map(|p| views::project(&base, p)).collect::<Vec<_>>(),
        "links": collection_links(format!("{base}/identity/v3/auth/projects")),
    })))
}

pub async fn auth_catalog(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
) -> KsResult<Json<Value>> {
    let caller = caller?;
    if caller.0.auth.project_id.is_none() {
        return Err(KeystoneError(Error::forbidden("An unscoped token has no catalog.")));
    }
    let base = base_url(state.public_url.as_deref(), &headers);
    Ok(Json(json!({
        "catalog": super::catalog(&base, &state.region),
        "links": collection_links(format!("{base}/identity/v3/auth/catalog")),
    })))
}
