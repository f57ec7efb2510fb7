//! Keystone's data: domains, projects, users, roles, assignments, the catalog and tokens.
//!
//! Tokens are opaque random strings kept in the state (and in the state file), so a gateway
//! that cached a token keeps working across a restart of the pod, as with Keystone's Fernet
//! keys. Roles are copied into the token at issue time; that is what Keystone validates too.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::http::Ctx;
use crate::microversion::Mv;

pub const DEFAULT_DOMAIN: &str = "default";
/// Token lifetime, as Keystone's default `[token] expiration`.
pub const TOKEN_HOURS: i64 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub password: String,
    pub enabled: bool,
    pub default_project_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub user_id: String,
    pub project_id: String,
    pub role_id: String,
}

/// One service in the catalog; the URL is built from the pod's base URL at render time so a
/// restarted pod on another port still advertises itself correctly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub id: String,
    pub service_type: String,
    pub name: String,
    /// Path below the base URL (`/compute/v2.1`).
    pub path: String,
    /// Endpoint ids for the public, internal and admin interfaces.
    pub endpoint_ids: [String; 3],
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Token {
    pub user_id: String,
    pub project_id: Option<String>,
    pub role_ids: Vec<String>,
    pub methods: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub audit_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Identity {
    pub domains: BTreeMap<String, Domain>,
    pub projects: BTreeMap<String, Project>,
    pub users: BTreeMap<String, User>,
    pub roles: BTreeMap<String, Role>,
    pub assignments: Vec<Assignment>,
    pub catalog: Vec<CatalogEntry>,
    pub tokens: HashMap<String, Token>,
}

pub fn keystone_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Identity {
    /// A fresh Keystone as `keystone-manage bootstrap` plus devstack leave it: domain
    /// Default, roles admin/member/reader/service, projects admin, demo and service, users
    /// admin (admin on admin) and demo (member on demo), and the catalog.
    pub fn bootstrap(password: &str) -> Self {
        let mut id = Identity::default();
        id.domains.insert(
            DEFAULT_DOMAIN.into(),
            Domain {
                id: DEFAULT_DOMAIN.into(),
                name: "Default".into(),
                description: "The default domain".into(),
                enabled: true,
            },
        );
        let mut role_ids = BTreeMap::new();
        for name in ["admin", "member", "reader", "service"] {
            let rid = keystone_id();
            id.roles.insert(rid.clone(), Role { id: rid.clone(), name: name.into() });
            role_ids.insert(name, rid);
        }
        for (project, user, role) in [
            ("admin", Some("admin"), "admin"),
            ("demo", Some("demo"), "member"),
            ("service", None, ""),
        ] {
            let pid = keystone_id();
            id.projects.insert(
                pid.clone(),
                Project {
                    id: pid.clone(),
                    name: project.into(),
                    domain_id: DEFAULT_DOMAIN.into(),
                    description: String::new(),
                    enabled: true,
                    tags: Vec::new(),
                },
            );
            if let Some(user) = user {
                let uid = keystone_id();
                id.users.insert(
                    uid.clone(),
                    User {
                        id: uid.clone(),
                        name: user.into(),
                        domain_id: DEFAULT_DOMAIN.into(),
                        password: password.into(),
                        enabled: true,
                        default_project_id: Some(pid.clone()),
                    },
                );
                id.assignments.push(Assignment {
                    user_id: uid.clone(),
                    project_id: pid.clone(),
                    role_id: role_ids[role].clone(),
                });
                // Implied roles as Keystone reports them: admin ⊃ member ⊃ reader.
                let implied: &[&str] =
                    if role == "admin" { &["member", "reader"] } else { &["reader"] };
                for r in implied {
                    id.assignments.push(Assignment {
                        user_id: uid.clone(),
                        project_id: pid.clone(),
                        role_id: role_ids[r].clone(),
                    });
                }
            }
        }
        for (ty, name, path) in [
            ("identity", "keystone", "/identity"),
            ("compute", "nova", "/compute/v2.1"),
            ("volumev3", "cinderv3", "/volume/v3"),
            ("block-storage", "cinder", "/volume/v3"),
            ("network", "neutron", "/networking"),
            ("image", "glance", "/image"),
        ] {
            id.catalog.push(CatalogEntry {
                id: keystone_id(),
                service_type: ty.into(),
                name: name.into(),
                path: path.into(),
                endpoint_ids: [keystone_id(), keystone_id(), keystone_id()],
            });
        }
        id
    }

    pub fn project_by_name(&self, name: &str, domain_id: &str) -> Option<&Project> {
        self.projects.values().find(|p| p.name == name && p.domain_id == domain_id)
    }

    pub fn user_by_name(&self, name: &str, domain_id: &str) -> Option<&User> {
        self.users.values().find(|u| u.name == name && u.domain_id == domain_id)
    }

    pub fn domain_by_name(&self, name: &str) -> Option<&Domain> {
        self.domains.values().find(|d| d.name == name)
    }

    /// Role ids `user` holds on `project`.
    pub fn roles_on(&self, user_id: &str, project_id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .assignments
            .iter()
            .filter(|a| a.user_id == user_id && a.project_id == project_id)
            .map(|a| a.role_id.clone())
            .collect();
        v.dedup();
        v
    }

    /// Issue a token; drops expired tokens on the way so the map stays small.
    pub fn issue(
        &mut self,
        user_id: &str,
        project_id: Option<&str>,
        methods: Vec<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> (String, Token) {
        let now = Utc::now();
        self.tokens.retain(|_, t| t.expires_at > now);
        let role_ids = project_id.map(|p| self.roles_on(user_id, p)).unwrap_or_default();
        let token = Token {
            user_id: user_id.into(),
            project_id: project_id.map(str::to_string),
            role_ids,
            methods,
            issued_at: now,
            expires_at: expires_at.unwrap_or(now + Duration::hours(TOKEN_HOURS)),
            audit_id: keystone_id()[..22].to_string(),
        };
        let id = format!("gAAAAA{}{}", keystone_id(), keystone_id());
        self.tokens.insert(id.clone(), token.clone());
        (id, token)
    }

    /// A live token.
    pub fn token(&self, id: &str) -> Option<&Token> {
        self.tokens.get(id).filter(|t| t.expires_at > Utc::now())
    }

    /// The request context of a project-scoped token, if valid.
    pub fn context(&self, token: &str) -> Option<Ctx> {
        let t = self.token(token)?;
        let project = self.projects.get(t.project_id.as_deref()?)?;
        let user = self.users.get(&t.user_id)?;
        let roles: Vec<String> =
            t.role_ids.iter().filter_map(|r| self.roles.get(r)).map(|r| r.name.clone()).collect();
        Some(Ctx {
            user_id: user.id.clone(),
            project_id: project.id.clone(),
            is_admin: roles.iter().any(|r| r == "admin"),
            mv: Mv::default(),
        })
    }
}
