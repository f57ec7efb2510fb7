//! Keystone's JSON shapes of domains, projects, users, roles and tokens.

use serde_json::{Value, json};
use tricircle_core::identity::TokenInfo;
use tricircle_store::{Domain, Project, Role, User};

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn domain(base: &str, d: &Domain) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
        "tags": [], "options": {},
        "links": {"self": format!("{base}/identity/v3/domains/{}", d.id)},
    })
}

pub fn project(base: &str, p: &Project) -> Value {
    json!({
        "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
        "enabled": p.enabled, "is_domain": false, "parent_id": p.domain_id, "tags": [], "options": {},
        "links": {"self": format!("{base}/identity/v3/projects/{}", p.id)},
    })
}

pub fn user(base: &str, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": null, "options": {},
        "links": {"self": format!("{base}/identity/v3/users/{}", u.id)},
    });
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    if !u.description.is_empty() {
        v["description"] = json!(u.description);
    }
    v
}

pub fn role(base: &str, r: &Role) -> Value {
    json!({
        "id": r.id, "name": r.name, "domain_id": null, "description": null, "options": {},
        "links": {"self": format!("{base}/identity/v3/roles/{}", r.id)},
    })
}

/// The body of `POST`/`GET /v3/auth/tokens`.
pub fn token(base: &str, region: &str, info: &TokenInfo, with_catalog: bool) -> Value {
    let mut t = json!({
        "methods": info.methods,
        "user": {
            "id": info.user.id, "name": info.user.name, "password_expires_at": null,
            "domain": {"id": info.user_domain.id, "name": info.user_domain.name},
        },
        "audit_ids": [info.audit_id],
        "issued_at": ts(info.issued_at),
        "expires_at": ts(info.expires_at),
    });
    if let Some((p, d)) = &info.project {
        t["project"] = json!({"id": p.id, "name": p.name, "domain": {"id": d.id, "name": d.name}});
        t["is_domain"] = json!(false);
        t["roles"] = info.roles.iter().map(|r| json!({"id": r.id, "name": r.name})).collect();
        if with_catalog {
            t["catalog"] = super::catalog(base, region);
        }
    }
    json!({ "token": t })
}
