//! The embedded identity service: a Keystone v3 subset backed by the
//! gateway's database (DESIGN §4 "Identity").
//!
//! Tokens are random 256-bit strings; the database keeps only their SHA-256,
//! so a copy of it holds no usable token. A token is scoped to a project or
//! unscoped, expires after the configured time, and is revoked on logout,
//! on user deletion, disabling or password change. Roles imply others as in
//! Keystone's bootstrap: `admin` ⇒ `member` ⇒ `reader`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tricircle_common::{AuthContext, Error};
use tricircle_store::{Domain, Project, Role, User};

mod admin;
pub mod bootstrap;
pub mod external;
pub mod passwords;
pub mod token_cache;
mod tokens;

pub use admin::{ProjectSpec, UserSpec};
pub use tokens::{Credential, NameOrId, Scope};

/// Identity settings from the configuration.
#[derive(Clone, Debug)]
pub struct IdentitySettings {
    pub token_ttl: Duration,
    /// How long a validated token is remembered (zero: validate every
    /// request against the database); see [`token_cache`].
    pub token_cache_ttl: Duration,
    /// The external Keystone's URL in external-Keystone mode ([`external`]);
    /// `None` with the embedded identity. Pods with `shared` identity need it.
    pub external_auth_url: Option<String>,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            token_ttl: Duration::from_secs(3600),
            token_cache_ttl: Duration::from_secs(10),
            external_auth_url: None,
        }
    }
}

/// Everything a token stands for, as validation returns it.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub user: User,
    pub user_domain: Domain,
    pub project: Option<(Project, Domain)>,
    /// Assigned roles plus the roles they imply.
    pub roles: Vec<Role>,
    pub methods: Vec<String>,
    pub audit_id: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl TokenInfo {
    pub fn auth_context(&self) -> AuthContext {
        AuthContext {
            user_id: self.user.id.clone(),
            user_name: self.user.name.clone(),
            project_id: self.project.as_ref().map(|(p, _)| p.id.clone()),
            roles: self.roles.iter().map(|r| r.name.clone()).collect(),
        }
    }
}

/// A new token: the secret (shown once, in `X-Subject-Token`) and what it
/// stands for.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub info: TokenInfo,
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    tricircle_common::random::to_hex(&Sha256::digest(token.as_bytes()))
}

/// Roles implied by the given ones (Keystone bootstrap's chain).
fn implied(name: &str) -> &'static [&'static str] {
    match name {
        "admin" => &["member", "reader"],
        "member" => &["reader"],
        _ => &[],
    }
}

/// The error Keystone answers for any failed login, whatever the reason.
pub(crate) fn login_failed() -> Error {
    Error::unauthorized("The request you have made requires authentication.")
}

pub(crate) fn not_found(kind: &str, id: &str) -> Error {
    Error::new(
        tricircle_common::ErrorKind::NotFound,
        format!("Could not find {kind}: {}.", tricircle_common::ids::truncate_for_message(id)),
    )
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
