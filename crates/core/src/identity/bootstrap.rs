//! A new identity store gets what `keystone-manage bootstrap` makes: the
//! `Default` domain (ID `default`), the roles `admin`, `member`, `reader`
//! and `service`, the projects `admin` and `service`, and an `admin` user
//! with the admin role on the `admin` project. Idempotent: existing objects
//! are kept, and the admin's password is only set when the user is created.

use tricircle_common::Result;
use tricircle_store::{Assignment, Domain, Project, Role, Store, StoreError, User, now};

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
        let domain = Domain {
            id: "default".into(),
            name: "Default".into(),
            description: "The default domain".into(),
            enabled: true,
            created_at: now(),
        };
        created_or_raced(store.domain_create(&domain).await)?;
    }
    let mut roles = Vec::new();
    for name in ["admin", "member", "reader", "service"] {
        let role = match store.role_get_by_name(name).await? {
            Some(r) => r,
            None => {
                let r = Role { id: new_id(), name: name.into(), created_at: now() };
                if created_or_raced(store.role_create(&r).await)? {
                    r
                } else {
                    store.role_get_by_name(name).await?.ok_or_else(|| vanished("role", name))?
                }
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
                if created_or_raced(store.project_create(&p).await)? {
                    p
                } else {
                    store
                        .project_get_by_name("default", name)
                        .await?
                        .ok_or_else(|| vanished("project", name))?
                }
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
            if created_or_raced(store.user_create(&u).await)? {
                (u, true)
            } else {
                let u = store
                    .user_get_by_name("default", "admin")
                    .await?
                    .ok_or_else(|| vanished("user", "admin"))?;
                (u, false)
            }
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

/// Whether a create made the object (`false`: another gateway replica
/// bootstrapping the same database at the same moment made it first, and
/// theirs is used, so replicas can start together).
fn created_or_raced(result: std::result::Result<(), StoreError>) -> Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(StoreError::Duplicate(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn vanished(kind: &str, name: &str) -> tricircle_common::Error {
    tricircle_common::Error::internal(format!(
        "bootstrap: {kind} {name} was created and then deleted"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replicas started together bootstrap one database at once: every
    /// one of them succeeds and they agree on the admin.
    #[tokio::test]
    async fn concurrent_bootstraps_agree() {
        let db = tricircle_store::testing::TestDb::sqlite().await;
        let runs = futures::future::join_all((0..4).map(|_| bootstrap(&db.store, "pw"))).await;
        let done: Vec<Bootstrapped> = runs.into_iter().map(|r| r.expect("bootstrap")).collect();
        assert!(done.iter().all(|b| b.admin_user_id == done[0].admin_user_id));
        assert!(done.iter().all(|b| b.admin_project_id == done[0].admin_project_id));
        assert_eq!(done.iter().filter(|b| b.created_admin).count(), 1, "one made the admin");
        db.cleanup().await;
    }
}
