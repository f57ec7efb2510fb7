//! Domains, projects, users, roles and role assignments.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tricircle_core::identity::{ProjectSpec, UserSpec};
use tricircle_store::IdentityPatch;

use super::{KsResult, collection_links, views};
use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::url::base_url;

type C = Result<Caller, ApiError>;

fn base(state: &ApiState, headers: &HeaderMap) -> String {
    base_url(state.public_url.as_deref(), headers)
}

fn collection(key: &str, items: Vec<Value>, self_url: String) -> Json<Value> {
    Json(json!({ key: items, "links": collection_links(self_url) }))
}

#[derive(Deserialize, Default)]
pub struct NameFilter {
    name: Option<String>,
    domain_id: Option<String>,
    enabled: Option<String>,
}

// ---- domains ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainBody {
    domain: DomainFields,
}

#[derive(Deserialize)]
pub struct DomainFields {
    name: String,
    description: Option<String>,
}

pub async fn domain_list(State(s): State<ApiState>, c: C, h: HeaderMap) -> KsResult<Json<Value>> {
    let domains = s.app.domain_list(&c?.0).await?;
    let b = base(&s, &h);
    Ok(collection(
        "domains",
        domains.iter().map(|d| views::domain(&b, d)).collect(),
        format!("{b}/identity/v3/domains"),
    ))
}

pub async fn domain_show(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    let d = s.app.domain_get(&c?.0, &id).await?;
    Ok(Json(json!({"domain": views::domain(&base(&s, &h), &d)})))
}

pub async fn domain_create(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    body: Result<JsonBody<DomainBody>, ApiError>,
) -> KsResult<(StatusCode, Json<Value>)> {
    let ctx = c?.0;
    let JsonBody(b) = body?;
    let d = s.app.domain_create(&ctx, &b.domain.name, b.domain.description).await?;
    Ok((StatusCode::CREATED, Json(json!({"domain": views::domain(&base(&s, &h), &d)}))))
}

// ---- projects ----

#[derive(Deserialize)]
pub struct ProjectBody {
    project: ProjectFields,
}

#[derive(Deserialize, Default)]
pub struct ProjectFields {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

pub async fn project_list(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    q: Result<QueryParams<NameFilter>, ApiError>,
) -> KsResult<Json<Value>> {
    let ctx = c?.0;
    let QueryParams(q) = q?;
    let mut projects = s.app.project_list(&ctx, q.domain_id.as_deref(), q.name.as_deref()).await?;
    if let Some(e) = &q.enabled {
        let want = !matches!(e.to_ascii_lowercase().as_str(), "false" | "0" | "no");
        projects.retain(|p| p.enabled == want);
    }
    let b = base(&s, &h);
    Ok(collection(
        "projects",
        projects.iter().map(|p| views::project(&b, p)).collect(),
        format!("{b}/identity/v3/projects"),
    ))
}

pub async fn project_show(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    let p = s.app.project_get(&c?.0, &id).await?;
    Ok(Json(json!({"project": views::project(&base(&s, &h), &p)})))
}

pub async fn project_create(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    body: Result<JsonBody<ProjectBody>, ApiError>,
) -> KsResult<(StatusCode, Json<Value>)> {
    let ctx = c?.0;
    let JsonBody(b) = body?;
    let p = b.project;
    let spec = ProjectSpec {
        name: p.name.ok_or_else(|| super::bad_request("project.name is required."))?,
        domain_id: p.domain_id,
        description: p.description,
        enabled: p.enabled,
    };
    let project = s.app.project_create(&ctx, spec).await?;
    Ok((StatusCode::CREATED, Json(json!({"project": views::project(&base(&s, &h), &project)}))))
}

pub async fn project_update(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Result<JsonBody<ProjectBody>, ApiError>,
) -> KsResult<Json<Value>> {
    let ctx = c?.0;
    let JsonBody(b) = body?;
    let patch = IdentityPatch {
        name: b.project.name,
        description: b.project.description,
        enabled: b.project.enabled,
        ..Default::default()
    };
    let p = s.app.project_update(&ctx, &id, patch).await?;
    Ok(Json(json!({"project": views::project(&base(&s, &h), &p)})))
}

pub async fn project_delete(
    State(s): State<ApiState>,
    c: C,
    Path(id): Path<String>,
) -> KsResult<StatusCode> {
    s.app.project_delete(&c?.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- users ----

#[derive(Deserialize)]
pub struct UserBody {
    user: UserFields,
}

#[derive(Deserialize, Default)]
pub struct UserFields {
    name: Option<String>,
    domain_id: Option<String>,
    password: Option<String>,
    enabled: Option<bool>,
    email: Option<String>,
    default_project_id: Option<String>,
    description: Option<String>,
}

pub async fn user_list(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    q: Result<QueryParams<NameFilter>, ApiError>,
) -> KsResult<Json<Value>> {
    let ctx = c?.0;
    let QueryParams(q) = q?;
    let users = s.app.user_list(&ctx, q.domain_id.as_deref(), q.name.as_deref()).await?;
    let b = base(&s, &h);
    Ok(collection(
        "users",
        users.iter().map(|u| views::user(&b, u)).collect(),
        format!("{b}/identity/v3/users"),
    ))
}

pub async fn user_show(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    let u = s.app.user_get(&c?.0, &id).await?;
    Ok(Json(json!({"user": views::user(&base(&s, &h), &u)})))
}

pub async fn user_create(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    body: Result<JsonBody<UserBody>, ApiError>,
) -> KsResult<(StatusCode, Json<Value>)> {
    let ctx = c?.0;
    let JsonBody(b) = body?;
    let u = b.user;
    let spec = UserSpec {
        name: u.name.ok_or_else(|| super::bad_request("user.name is required."))?,
        domain_id: u.domain_id,
        password: u.password,
        enabled: u.enabled,
        email: u.email,
        default_project_id: u.default_project_id,
        description: u.description,
    };
    let user = s.app.user_create(&ctx, spec).await?;
    Ok((StatusCode::CREATED, Json(json!({"user": views::user(&base(&s, &h), &user)}))))
}

pub async fn user_update(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Result<JsonBody<UserBody>, ApiError>,
) -> KsResult<Json<Value>> {
    let ctx = c?.0;
    let JsonBody(b) = body?;
    let u = b.user;
    let patch = IdentityPatch {
        name: u.name,
        description: u.description,
        enabled: u.enabled,
        email: u.email.map(Some),
        default_project_id: u.default_project_id.map(Some),
        ..Default::default()
    };
    let user = s.app.user_update(&ctx, &id, patch, u.password).await?;
    Ok(Json(json!({"user": views::user(&base(&s, &h), &user)})))
}

pub async fn user_delete(
    State(s): State<ApiState>,
    c: C,
    Path(id): Path<String>,
) -> KsResult<StatusCode> {
    s.app.user_delete(&c?.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct PasswordBody {
    user: PasswordFields,
}

#[derive(Deserialize)]
pub struct PasswordFields {
    original_password: String,
    password: String,
}

pub async fn user_password(
    State(s): State<ApiState>,
    c: C,
    Path(id): Path<String>,
    body: Result<JsonBody<PasswordBody>, ApiError>,
) -> KsResult<StatusCode> {
    let ctx = c?.0;
    let JsonBody(b) = body?;
    s.app.user_change_password(&ctx, &id, &b.user.original_password, &b.user.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn user_projects(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    let projects = s.app.user_projects(&c?.0, &id).await?;
    let b = base(&s, &h);
    Ok(collection(
        "projects",
        projects.iter().map(|p| views::project(&b, p)).collect(),
        format!("{b}/identity/v3/users/{id}/projects"),
    ))
}

// ---- roles ----

#[derive(Deserialize)]
pub struct RoleBody {
    role: RoleFields,
}

#[derive(Deserialize)]
pub struct RoleFields {
    name: String,
}

pub async fn role_list(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    q: Result<QueryParams<NameFilter>, ApiError>,
) -> KsResult<Json<Value>> {
    let ctx = c?.0;
    let QueryParams(q) = q?;
    let mut roles = s.app.role_list(&ctx).await?;
    if let Some(n) = &q.name {
        roles.retain(|r| &r.name == n);
    }
    let b = base(&s, &h);
    Ok(collection(
        "roles",
        roles.iter().map(|r| views::role(&b, r)).collect(),
        format!("{b}/identity/v3/roles"),
    ))
}

pub async fn role_show(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path(id): Path<String>,
) -> KsResult<Json<Value>> {
    let r = s.app.role_get(&c?.0, &id).await?;
    Ok(Json(json!({"role": views::role(&base(&s, &h), &r)})))
}

pub async fn role_create(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    body: Result<JsonBody<RoleBody>, ApiError>,
) -> KsResult<(StatusCode, Json<Value>)> {
    let ctx = c?.0;
    let JsonBody(b) = body?;
    let r = s.app.role_create(&ctx, &b.role.name).await?;
    Ok((StatusCode::CREATED, Json(json!({"role": views::role(&base(&s, &h), &r)}))))
}

pub async fn role_delete(
    State(s): State<ApiState>,
    c: C,
    Path(id): Path<String>,
) -> KsResult<StatusCode> {
    s.app.role_delete(&c?.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- assignments ----

pub async fn grant(
    State(s): State<ApiState>,
    c: C,
    Path((p, u, r)): Path<(String, String, String)>,
) -> KsResult<StatusCode> {
    s.app.role_grant(&c?.0, &p, &u, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn grant_check(
    State(s): State<ApiState>,
    c: C,
    Path((p, u, r)): Path<(String, String, String)>,
) -> KsResult<StatusCode> {
    s.app.role_check(&c?.0, &p, &u, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn ungrant(
    State(s): State<ApiState>,
    c: C,
    Path((p, u, r)): Path<(String, String, String)>,
) -> KsResult<StatusCode> {
    s.app.role_revoke(&c?.0, &p, &u, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn grant_list(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    Path((p, u)): Path<(String, String)>,
) -> KsResult<Json<Value>> {
    let roles = s.app.user_roles_on_project(&c?.0, &p, &u).await?;
    let b = base(&s, &h);
    Ok(collection(
        "roles",
        roles.iter().map(|r| views::role(&b, r)).collect(),
        format!("{b}/identity/v3/projects/{p}/users/{u}/roles"),
    ))
}

#[derive(Deserialize, Default)]
pub struct AssignmentQuery {
    #[serde(rename = "user.id")]
    user_id: Option<String>,
    #[serde(rename = "scope.project.id")]
    project_id: Option<String>,
    #[serde(rename = "role.id")]
    role_id: Option<String>,
    effective: Option<String>,
    include_names: Option<String>,
}

pub async fn assignment_list(
    State(s): State<ApiState>,
    c: C,
    h: HeaderMap,
    q: Result<QueryParams<AssignmentQuery>, ApiError>,
) -> KsResult<Json<Value>> {
    let ctx = c?.0;
    let QueryParams(q) = q?;
    let _ = (&q.effective, &q.include_names);
    let list = s
        .app
        .assignment_list(&ctx, q.user_id.as_deref(), q.project_id.as_deref(), q.role_id.as_deref())
        .await?;
    let b = base(&s, &h);
    let items = list
        .iter()
        .map(|a| {
            json!({
                "role": {"id": a.role_id},
                "user": {"id": a.user_id},
                "scope": {"project": {"id": a.project_id}},
                "links": {"assignment": format!("{b}/identity/v3/projects/{}/users/{}/roles/{}", a.project_id, a.user_id, a.role_id)},
            })
        })
        .collect();
    Ok(collection("role_assignments", items, format!("{b}/identity/v3/role_assignments")))
}
