//! Who is calling and which request this is, passed from the API layer to
//! the domain so that it can authorize and log without seeing HTTP types.

use crate::RequestId;

/// The authenticated caller, however the token was validated (bootstrap
/// token today, embedded or external Keystone later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthContext {
    pub user_id: String,
    pub user_name: String,
    /// The project the token is scoped to, if any.
    pub project_id: Option<String>,
    pub roles: Vec<String>,
}

impl AuthContext {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }
}

/// Everything the domain needs to know about the request it serves.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: RequestId,
    pub auth: AuthContext,
}
