//! Keystone v3 tokens and catalog: password and token authentication, project scope,
//! validation (`GET /v3/auth/tokens` with `X-Subject-Token`), revocation.
//!
//! Only what clients and the gateway need to authenticate and discover endpoints. The
//! catalog's URLs follow devstack: compute and volume are versioned (`/compute/v2.1`,
//! `/volume/v3`), identity, network and image are not (`/identity`, `/networking`, `/image`),
//! and every client discovers the version below them. Like Keystone, a token request without a
//! scope is scoped to the user's default project.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::op;
use crate::http::{ApiError, ApiResult, Ctx, Query, Svc, empty, json_resp, parse};
use crate::model::identity::{Identity, Token};
use crate::pod::Pod;
use crate::state::fmt;
use crate::{keystone_admin, versions};

const SVC: Svc = Svc::Identity;

pub fn router() -> Router<Pod> {
    let r = Router::new()
        .route("/", get(versions::identity_v3))
        .route("/auth/tokens", op(MethodFilter::POST, "identity.token_issue", token_issue))
        .route("/auth/tokens", op(MethodFilter::GET, "identity.token_validate", token_validate))
        .route("/auth/tokens", op(MethodFilter::HEAD, "identity.token_check", token_check))
        .route("/auth/tokens", op(MethodFilter::DELETE, "identity.token_revoke", token_revoke))
        .route("/auth/catalog", op(MethodFilter::GET, "identity.catalog_show", catalog_show))
        .route(
            "/auth/projects",
            op(MethodFilter::GET, "identity.auth_project_list", auth_projects),
        );
    keystone_admin::routes(r)
}

#[derive(Deserialize)]
struct AuthReq {
    auth: Auth,
}

#[derive(Deserialize)]
struct Auth {
    identity: IdentityReq,
    #[serde(default)]
    scope: Option<Value>,
}

#[derive(Deserialize)]
struct IdentityReq {
    methods: Vec<String>,
    password: Option<PasswordReq>,
    token: Option<TokenReq>,
}

#[derive(Deserialize)]
struct PasswordReq {
    user: UserRef,
}

#[derive(Deserialize)]
struct UserRef {
    id: Option<String>,
    name: Option<String>,
    domain: Option<NameOrId>,
    password: String,
}

#[derive(Deserialize)]
struct TokenReq {
    id: String,
}

#[derive(Deserialize, Default)]
struct NameOrId {
    id: Option<String>,
    name: Option<String>,
}

fn domain_id(id: &Identity, d: Option<&NameOrId>) -> Option<String> {
    match d {
        None => Some(crate::model::identity::DEFAULT_DOMAIN.to_string()),
        Some(NameOrId { id: Some(i), .. }) => id.domains.get(i).map(|d| d.id.clone()),
        Some(NameOrId { name: Some(n), .. }) => id.domain_by_name(n).map(|d| d.id.clone()),
        Some(_) => None,
    }
}

fn unauthorized() -> ApiError {
    ApiError::unauthorized()
}

/// Resolve the project a scope names.
fn scoped_project(id: &Identity, scope: &Value) -> ApiResult<Option<String>> {
    if scope.as_str() == Some("unscoped") {
        return Ok(None);
    }
    let Some(p) = scope.get("project") else {
        return Err(ApiError::new(SVC, 401, "Unauthorized", "Only project scope is supported."));
    };
    let p: ProjectScope = serde_json::from_value(p.clone())
        .map_err(|e| ApiError::bad_request(SVC, format!("Invalid input for field 'scope': {e}")))?;
    let found = match (&p.id, &p.name) {
        (Some(pid), _) => id.projects.get(pid),
        (None, Some(name)) => {
            let d = domain_id(id, p.domain.as_ref()).ok_or_else(unauthorized)?;
            id.project_by_name(name, &d)
        }
        _ => None,
    };
    found.map(|p| Some(p.id.clone())).ok_or_else(unauthorized)
}

#[derive(Deserialize)]
struct ProjectScope {
    id: Option<String>,
    name: Option<String>,
    domain: Option<NameOrId>,
}

async fn token_issue(State(pod): State<Pod>, q: Query, body: Bytes) -> ApiResult {
    let req: AuthReq = parse(SVC, &body)?;
    let mut st = pod.write();
    let ident = &st.identity;
    let a = &req.auth.identity;
    let (user_id, methods, expires, inherited_project) = if a
        .methods
        .iter()
        .any(|m| m == "password")
    {
        let p = a.password.as_ref().ok_or_else(|| {
            ApiError::bad_request(SVC, "Invalid input for field 'identity': 'password' is missing")
        })?;
        let user = match (&p.user.id, &p.user.name) {
            (Some(uid), _) => ident.users.get(uid),
            (None, Some(name)) => {
                let d = domain_id(ident, p.user.domain.as_ref()).ok_or_else(unauthorized)?;
                ident.user_by_name(name, &d)
            }
            _ => None,
        };
        let user =
            user.filter(|u| u.enabled && u.password == p.user.password).ok_or_else(unauthorized)?;
        (user.id.clone(), vec!["password".to_string()], None, None)
    } else if a.methods.iter().any(|m| m == "token") {
        let t = a.token.as_ref().ok_or_else(|| {
            ApiError::bad_request(SVC, "Invalid input for field 'identity': 'token' is missing")
        })?;
        let old = ident.token(&t.id).ok_or_else(unauthorized)?;
        let mut methods = old.methods.clone();
        if !methods.iter().any(|m| m == "token") {
            methods.push("token".into());
        }
        (old.user_id.clone(), methods, Some(old.expires_at), old.project_id.clone())
    } else {
        return Err(ApiError::new(
            SVC,
            401,
            "Unauthorized",
            "Attempted to authenticate with an unsupported method.",
        ));
    };
    let project_id = match &req.auth.scope {
        Some(scope) => scoped_project(ident, scope)?,
        None => inherited_project
            .or_else(|| ident.users.get(&user_id).and_then(|u| u.default_project_id.clone())),
    };
    if let Some(pid) = &project_id
        && ident.roles_on(&user_id, pid).is_empty()
    {
        return Err(ApiError::new(
            SVC,
            401,
            "Unauthorized",
            format!("User {user_id} has no access to project {pid}"),
        ));
    }
    let (tid, token) = st.identity.issue(&user_id, project_id.as_deref(), methods, expires);
    let body = token_body(&pod, &st.identity, &token, !q.flag("nocatalog"));
    drop(st);
    let mut r = json_resp(201, body);
    if let Ok(v) = HeaderValue::from_str(&tid) {
        r.headers_mut().insert("x-subject-token", v);
    }
    Ok(r)
}

/// The token document Keystone returns on issue and validation.
pub fn token_body(pod: &Pod, id: &Identity, t: &Token, with_catalog: bool) -> Value {
    let user = id.users.get(&t.user_id);
    let domain_of = |did: &str| {
        let name = id.domains.get(did).map(|d| d.name.clone()).unwrap_or_default();
        json!({"id": did, "name": name})
    };
    let mut tok = json!({
        "methods": t.methods,
        "user": {
            "domain": domain_of(user.map(|u| u.domain_id.as_str()).unwrap_or("default")),
            "id": t.user_id,
            "name": user.map(|u| u.name.clone()).unwrap_or_default(),
            "password_expires_at": null,
        },
        "audit_ids": [t.audit_id],
        "expires_at": fmt::keystone(&t.expires_at),
        "issued_at": fmt::keystone(&t.issued_at),
    });
    if let Some(p) = t.project_id.as_deref().and_then(|p| id.projects.get(p)) {
        tok["project"] = json!({"domain": domain_of(&p.domain_id), "id": p.id, "name": p.name});
        tok["is_domain"] = json!(false);
        tok["roles"] = json!(
            t.role_ids
                .iter()
                .filter_map(|r| id.roles.get(r))
                .map(|r| json!({"id": r.id, "name": r.name}))
                .collect::<Vec<_>>()
        );
        if with_catalog {
            tok["catalog"] = catalog(pod, id);
        }
    }
    json!({ "token": tok })
}

/// The service catalog of this region.
pub fn catalog(pod: &Pod, id: &Identity) -> Value {
    let entries: Vec<Value> = id
        .catalog
        .iter()
        .map(|c| {
            let url = format!("{}{}", pod.base_url, c.path);
            let endpoints: Vec<Value> = ["public", "internal", "admin"]
                .iter()
                .zip(c.endpoint_ids.iter())
                .map(|(iface, eid)| {
                    json!({
                        "id": eid, "interface": iface, "region_id": pod.region,
                        "url": url, "region": pod.region
                    })
                })
                .collect();
            json!({"endpoints": endpoints, "id": c.id, "type": c.service_type, "name": c.name})
        })
        .collect();
    Value::Array(entries)
}

fn subject(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError::not_found(SVC, "TokenNotFound", "Could not find token: ."))
}

fn caller(pod: &Pod, headers: &HeaderMap) -> ApiResult<()> {
    let tok = headers.get("x-auth-token").and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    pod.read().identity.token(tok).map(|_| ()).ok_or_else(unauthorized)
}

async fn token_validate(State(pod): State<Pod>, q: Query, headers: HeaderMap) -> ApiResult {
    caller(&pod, &headers)?;
    let sub = subject(&headers)?;
    let st = pod.read();
    let t = st.identity.token(&sub).ok_or_else(|| {
        ApiError::not_found(SVC, "TokenNotFound", format!("Could not find token: {sub}."))
    })?;
    let body = token_body(&pod, &st.identity, t, !q.flag("nocatalog"));
    let mut r = json_resp(200, body);
    if let Ok(v) = HeaderValue::from_str(&sub) {
        r.headers_mut().insert("x-subject-token", v);
    }
    Ok(r)
}

async fn token_check(State(pod): State<Pod>, headers: HeaderMap) -> ApiResult {
    caller(&pod, &headers)?;
    let sub = subject(&headers)?;
    if pod.read().identity.token(&sub).is_some() {
        Ok(StatusCode::OK.into_response())
    } else {
        Ok(StatusCode::NOT_FOUND.into_response())
    }
}

async fn token_revoke(State(pod): State<Pod>, headers: HeaderMap) -> ApiResult {
    caller(&pod, &headers)?;
    let sub = subject(&headers)?;
    match pod.write().identity.tokens.remove(&sub) {
        Some(_) => Ok(empty(204)),
        None => {
            Err(ApiError::not_found(SVC, "TokenNotFound", format!("Could not find token: {sub}.")))
        }
    }
}

async fn catalog_show(State(pod): State<Pod>, _ctx: Ctx) -> Response {
    let st = pod.read();
    json_resp(
        200,
        json!({
            "catalog": catalog(&pod, &st.identity),
            // Unlike the lists, Keystone's catalog has only a self link.
            "links": {"self": format!("{}/identity/v3/auth/catalog", pod.base_url)}
        }),
    )
}

async fn auth_projects(State(pod): State<Pod>, headers: HeaderMap) -> ApiResult {
    let tok = headers.get("x-auth-token").and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    let st = pod.read();
    let t = st.identity.token(tok).ok_or_else(unauthorized)?;
    let projects: Vec<Value> = st
        .identity
        .projects
        .values()
        .filter(|p| !st.identity.roles_on(&t.user_id, &p.id).is_empty())
        .map(|p| keystone_admin::project_view(&pod, p))
        .collect();
    Ok(json_resp(
        200,
        json!({
            "projects": projects,
            "links": {"self": format!("{}/identity/v3/auth/projects", pod.base_url), "previous": null, "next": null}
        }),
    ))
}
