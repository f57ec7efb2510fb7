//! Keystone v3 administration subset: projects, users, roles and role assignments, domains,
//! and read-only services, endpoints and regions.
//!
//! The gateway's "mapped identity" mode creates a bottom project and grants its service user a
//! role on it, so those calls exist; anything an operator would do beyond that is left out.
//! Lists carry Keystone's `links {self, previous, next}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::MethodFilter;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::op;
use crate::http::{ApiError, ApiResult, Ctx, Query, Svc, empty, json_resp, parse_wrapped};
use crate::model::identity::{Assignment, DEFAULT_DOMAIN, Project, User, keystone_id};
use crate::pod::Pod;

const SVC: Svc = Svc::Identity;
use MethodFilter as M;

pub fn routes(r: Router<Pod>) -> Router<Pod> {
    r.route("/projects", op(M::GET, "identity.project_list", project_list))
        .route("/projects", op(M::POST, "identity.project_create", project_create))
        .route("/projects/{id}", op(M::GET, "identity.project_show", project_show))
        .route("/projects/{id}", op(M::DELETE, "identity.project_delete", project_delete))
        .route("/users", op(M::GET, "identity.user_list", user_list))
        .route("/users", op(M::POST, "identity.user_create", user_create))
        .route("/users/{id}", op(M::GET, "identity.user_show", user_show))
        .route("/users/{id}", op(M::DELETE, "identity.user_delete", user_delete))
        .route("/roles", op(M::GET, "identity.role_list", role_list))
        .route("/projects/{p}/users/{u}/roles/{r}", op(M::PUT, "identity.role_grant", role_grant))
        .route("/projects/{p}/users/{u}/roles/{r}", op(M::HEAD, "identity.role_check", role_check))
        .route(
            "/projects/{p}/users/{u}/roles/{r}",
            op(M::DELETE, "identity.role_revoke", role_revoke),
        )
        .route("/role_assignments", op(M::GET, "identity.role_assignment_list", assignment_list))
        .route("/domains", op(M::GET, "identity.domain_list", domain_list))
        .route("/domains/{id}", op(M::GET, "identity.domain_show", domain_show))
        .route("/services", op(M::GET, "identity.service_list", service_list))
        .route("/endpoints", op(M::GET, "identity.endpoint_list", endpoint_list))
        .route("/regions", op(M::GET, "identity.region_list", region_list))
}

fn admin(ctx: &Ctx, action: &str) -> ApiResult<()> {
    if ctx.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            SVC,
            format!("You are not authorized to perform the requested action: identity:{action}."),
        ))
    }
}

fn list(pod: &Pod, key: &str, items: Vec<Value>) -> Response {
    json_resp(
        200,
        json!({
            key: items,
            "links": {"self": format!("{}/identity/v3/{key}", pod.base_url), "previous": null, "next": null}
        }),
    )
}

fn link(pod: &Pod, coll: &str, id: &str) -> Value {
    json!({"self": format!("{}/identity/v3/{coll}/{id}", pod.base_url)})
}

pub fn project_view(pod: &Pod, p: &Project) -> Value {
    json!({
        "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
        "enabled": p.enabled, "parent_id": p.domain_id, "is_domain": false, "tags": p.tags,
        "options": {}, "links": link(pod, "projects", &p.id),
    })
}

fn user_view(pod: &Pod, u: &User) -> Value {
    json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "default_project_id": u.default_project_id, "password_expires_at": null,
        "options": {}, "links": link(pod, "users", &u.id),
    })
}

async fn project_list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    admin(&ctx, "list_projects")?;
    let st = pod.read();
    let items = st
        .identity
        .projects
        .values()
        .filter(|p| q.get("name").is_none_or(|n| p.name == n))
        .filter(|p| q.get("domain_id").is_none_or(|d| p.domain_id == d))
        .map(|p| project_view(&pod, p))
        .collect();
    Ok(list(&pod, "projects", items))
}

#[derive(Deserialize)]
struct ProjectReq {
    name: String,
    domain_id: Option<String>,
    #[serde(default)]
    description: String,
    enabled: Option<bool>,
    #[serde(default)]
    tags: Vec<String>,
}

async fn project_create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    admin(&ctx, "create_project")?;
    let req: ProjectReq = parse_wrapped(SVC, &body, "project")?;
    let domain_id = req.domain_id.unwrap_or_else(|| DEFAULT_DOMAIN.into());
    let mut st = pod.write();
    if !st.identity.domains.contains_key(&domain_id) {
        return Err(ApiError::not_found(
            SVC,
            "DomainNotFound",
            format!("Could not find domain: {domain_id}."),
        ));
    }
    if st.identity.project_by_name(&req.name, &domain_id).is_some() {
        return Err(ApiError::conflict(
            SVC,
            "Conflict",
            format!(
                "Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : {}.",
                req.name
            ),
        ));
    }
    let p = Project {
        id: keystone_id(),
        name: req.name,
        domain_id,
        description: req.description,
        enabled: req.enabled.unwrap_or(true),
        tags: req.tags,
    };
    st.identity.projects.insert(p.id.clone(), p.clone());
    Ok(json_resp(201, json!({"project": project_view(&pod, &p)})))
}

fn project_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "ProjectNotFound", format!("Could not find project: {id}."))
}

async fn project_show(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    if ctx.project_id != id {
        admin(&ctx, "get_project")?;
    }
    let st = pod.read();
    let p = st.identity.projects.get(&id).ok_or_else(|| project_nf(&id))?;
    Ok(json_resp(200, json!({"project": project_view(&pod, p)})))
}

async fn project_delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    admin(&ctx, "delete_project")?;
    let mut st = pod.write();
    st.identity.projects.remove(&id).ok_or_else(|| project_nf(&id))?;
    st.identity.assignments.retain(|a| a.project_id != id);
    st.identity.tokens.retain(|_, t| t.project_id.as_deref() != Some(&id));
    Ok(empty(204))
}

async fn user_list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    admin(&ctx, "list_users")?;
    let st = pod.read();
    let items = st
        .identity
        .users
        .values()
        .filter(|u| q.get("name").is_none_or(|n| u.name == n))
        .map(|u| user_view(&pod, u))
        .collect();
    Ok(list(&pod, "users", items))
}

#[derive(Deserialize)]
struct UserReq {
    name: String,
    domain_id: Option<String>,
    #[serde(default)]
    password: String,
    enabled: Option<bool>,
    default_project_id: Option<String>,
}

async fn user_create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    admin(&ctx, "create_user")?;
    let req: UserReq = parse_wrapped(SVC, &body, "user")?;
    let domain_id = req.domain_id.unwrap_or_else(|| DEFAULT_DOMAIN.into());
    let mut st = pod.write();
    if st.identity.user_by_name(&req.name, &domain_id).is_some() {
        return Err(ApiError::conflict(
            SVC,
            "Conflict",
            format!(
                "Conflict occurred attempting to store user - Duplicate entry found with name {} at domain ID {domain_id}.",
                req.name
            ),
        ));
    }
    let u = User {
        id: keystone_id(),
        name: req.name,
        domain_id,
        password: req.password,
        enabled: req.enabled.unwrap_or(true),
        default_project_id: req.default_project_id,
    };
    st.identity.users.insert(u.id.clone(), u.clone());
    Ok(json_resp(201, json!({"user": user_view(&pod, &u)})))
}

fn user_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "UserNotFound", format!("Could not find user: {id}."))
}

async fn user_show(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    if ctx.user_id != id {
        admin(&ctx, "get_user")?;
    }
    let st = pod.read();
    let u = st.identity.users.get(&id).ok_or_else(|| user_nf(&id))?;
    Ok(json_resp(200, json!({"user": user_view(&pod, u)})))
}

async fn user_delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    admin(&ctx, "delete_user")?;
    let mut st = pod.write();
    st.identity.users.remove(&id).ok_or_else(|| user_nf(&id))?;
    st.identity.assignments.retain(|a| a.user_id != id);
    st.identity.tokens.retain(|_, t| t.user_id != id);
    Ok(empty(204))
}

async fn role_list(State(pod): State<Pod>, _ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let items = st
        .identity
        .roles
        .values()
        .filter(|r| q.get("name").is_none_or(|n| r.name == n))
        .map(|r| {
            json!({"id": r.id, "name": r.name, "domain_id": null, "description": null,
                        "options": {}, "links": link(&pod, "roles", &r.id)})
        })
        .collect();
    Ok(list(&pod, "roles", items))
}

fn check_triple(st: &crate::state::State, p: &str, u: &str, r: &str) -> ApiResult<()> {
    if !st.identity.projects.contains_key(p) {
        return Err(project_nf(p));
    }
    if !st.identity.users.contains_key(u) {
        return Err(user_nf(u));
    }
    if !st.identity.roles.contains_key(r) {
        return Err(ApiError::not_found(SVC, "RoleNotFound", format!("Could not find role: {r}.")));
    }
    Ok(())
}

async fn role_grant(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((p, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    admin(&ctx, "create_grant")?;
    let mut st = pod.write();
    check_triple(&st, &p, &u, &r)?;
    let a = Assignment { user_id: u, project_id: p, role_id: r };
    if !st.identity.assignments.contains(&a) {
        st.identity.assignments.push(a);
    }
    Ok(empty(204))
}

async fn role_check(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((p, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    admin(&ctx, "check_grant")?;
    let st = pod.read();
    check_triple(&st, &p, &u, &r)?;
    let a = Assignment { user_id: u, project_id: p, role_id: r.clone() };
    if st.identity.assignments.contains(&a) {
        Ok(empty(204))
    } else {
        Err(ApiError::not_found(
            SVC,
            "RoleAssignmentNotFound",
            format!("Could not find role assignment with role: {r}."),
        ))
    }
}

async fn role_revoke(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((p, u, r)): Path<(String, String, String)>,
) -> ApiResult {
    admin(&ctx, "revoke_grant")?;
    let mut st = pod.write();
    check_triple(&st, &p, &u, &r)?;
    st.identity.assignments.retain(|a| !(a.user_id == u && a.project_id == p && a.role_id == r));
    Ok(empty(204))
}

async fn assignment_list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    admin(&ctx, "list_role_assignments")?;
    let st = pod.read();
    let items = st
        .identity
        .assignments
        .iter()
        .filter(|a| q.get("user.id").is_none_or(|u| a.user_id == u))
        .filter(|a| q.get("scope.project.id").is_none_or(|p| a.project_id == p))
        .filter(|a| q.get("role.id").is_none_or(|r| a.role_id == r))
        .map(|a| {
            json!({
                "role": {"id": a.role_id}, "user": {"id": a.user_id},
                "scope": {"project": {"id": a.project_id}},
                "links": {"assignment": format!("{}/identity/v3/projects/{}/users/{}/roles/{}",
                    pod.base_url, a.project_id, a.user_id, a.role_id)}
            })
        })
        .collect();
    Ok(list(&pod, "role_assignments", items))
}

async fn domain_list(State(pod): State<Pod>, _ctx: Ctx) -> ApiResult {
    let st = pod.read();
    let items = st.identity.domains.values().map(|d| domain_view(&pod, d)).collect();
    Ok(list(&pod, "domains", items))
}

fn domain_view(pod: &Pod, d: &crate::model::identity::Domain) -> Value {
    json!({"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
           "tags": [], "options": {}, "links": link(pod, "domains", &d.id)})
}

async fn domain_show(State(pod): State<Pod>, _ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let d = st.identity.domains.get(&id).ok_or_else(|| {
        ApiError::not_found(SVC, "DomainNotFound", format!("Could not find domain: {id}."))
    })?;
    Ok(json_resp(200, json!({"domain": domain_view(&pod, d)})))
}

async fn service_list(State(pod): State<Pod>, _ctx: Ctx) -> ApiResult {
    let st = pod.read();
    let items = st
        .identity
        .catalog
        .iter()
        .map(|c| {
            json!({"id": c.id, "type": c.service_type, "name": c.name, "enabled": true,
                        "description": null, "links": link(&pod, "services", &c.id)})
        })
        .collect();
    Ok(list(&pod, "services", items))
}

async fn endpoint_list(State(pod): State<Pod>, _ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let mut items = Vec::new();
    for c in &st.identity.catalog {
        if q.get("service_id").is_some_and(|s| s != c.id) {
            continue;
        }
        for (iface, eid) in ["public", "internal", "admin"].iter().zip(c.endpoint_ids.iter()) {
            if q.get("interface").is_some_and(|i| i != *iface) {
                continue;
            }
            items.push(json!({
                "id": eid, "interface": iface, "region_id": pod.region, "region": pod.region,
                "service_id": c.id, "url": format!("{}{}", pod.base_url, c.path), "enabled": true,
                "links": link(&pod, "endpoints", eid)
            }));
        }
    }
    Ok(list(&pod, "endpoints", items))
}

async fn region_list(State(pod): State<Pod>, _ctx: Ctx) -> ApiResult {
    let items = vec![json!({"id": pod.region, "description": "", "parent_region_id": null,
                            "links": link(&pod, "regions", &pod.region)})];
    Ok(list(&pod, "regions", items))
}
