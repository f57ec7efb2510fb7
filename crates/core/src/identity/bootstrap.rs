//! A new identity store gets what `keystone-manage bootstrap` makes: the
//! `Default` domain (ID `default`), the roles `admin`, `member`, `reader`
//! and `service`, the projects `admin` and `service`, and an `admin` user
//! with the admin role on the `admin` project. Idempotent: existing objects
//! are kept, and the admin's password is only set when the user is created.

use tricircle_common::Result;
use tricircle_store::{Assignment, Domain, Project, Role, Store, User, now};

use super::{new_id, passwords};

/// What bootstrap found or made.
#[derive(Clone, Debug)]
pub struct Bootstrapped {
    pub admin_user_id: String,
    pub admin_project_id: String,
    /// Whether the admin user was created now (its password just set).
    pub created_admin: bool,
}

pub async fn bootstrap(store: &Store, admin_password: &str) -> Result<Bootstrapped> {
    if store.domain_get("default").await?.is_none() {
        store
            .domain_create(&Domain {
                id: "default".into(),
                name: "Default".into(),
                description: "The default domain".into(),
                enabled: true,
                created_at: now(),
            })
            .await?;
    }
    let mut roles = Vec::new();
    for name in ["admin", "member", "reader", "service"] {
        let role = match store.role_get_by_name(name).await? {
            Some(r) => r,
            None => {
                let r = Role { id: new_id(), name: name.into(), created_at: now() };
                store.role_create(&r).await?;
                r
            }
        };
        roles.push(role);
    }
    let mut projects = Vec::new();
    for name in ["admin", "service"] {
        let p = match store.project_get_by_name("default", name).await? {
            Some(p) => p,
            None => {
                let p = Project {
                    id: new_id(),
                    domain_id: "default".into(),
                    name: name.into(),
                    description: format!("Bootstrap project {name}"),
                    enabled: true,
                    created_at: now(),
                };
                store.project_create(&p).await?;
                p
            }
        };
        projects.push(p);
    }
    let (admin, created_admin) = match store.user_get_by_name("default", "admin").await? {
        Some(u) => (u, false),
        None => {
            let u = User {
                id: new_id(),
                domain_id: "default".into(),
                name: "admin".into(),
                password_hash: Some(passwords::hash(admin_password)?),
                enabled: true,
                default_project_id: Some(projects[0].id.clone()),
                email: None,
                description: "Bootstrap administrator".into(),
                created_at: now(),
            };
            store.user_create(&u).await?;
            (u, true)
        }
    };
    store
        .assignment_grant(&Assignment {
            user_id: admin.id.clone(),
            project_id: projects[0].id.clone(),
            role_id: roles[0].id.clone(),
        })
        .await?;
    Ok(Bootstrapped {
        admin_user_id: admin.id,
        admin_project_id: projects[0].id.clone(),
        created_admin,
    })
}
