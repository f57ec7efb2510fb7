//! The domain of the gateway: what may be done with pods, routings and jobs,
//! and the rules that keep them consistent. No HTTP types here: handlers
//! parse and render, this crate decides.
//!
//! Every operation takes the caller's [`RequestContext`] and checks what it
//! needs itself (defence in depth: the API layer has usually checked already).

use tricircle_common::{Error, RequestContext, Result};
use tricircle_store::Store;

pub mod identity;
pub mod jobs;
pub mod paging;
pub mod pod_check;
pub mod pods;
pub mod resource_types;
pub mod routings;
pub mod secrets;

pub use paging::PageRequest;
pub use secrets::SecretBox;

/// Settings the domain needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The largest page a list returns.
    pub pagination_max_limit: u32,
    pub identity: identity::IdentitySettings,
}

impl Settings {
    pub fn new(pagination_max_limit: u32) -> Self {
        Settings { pagination_max_limit, identity: identity::IdentitySettings::default() }
    }
}

/// The gateway's application layer: one per process, shared by handlers.
#[derive(Clone, Debug)]
pub struct App {
    store: Store,
    secrets: SecretBox,
    settings: Settings,
}

impl App {
    pub fn new(store: Store, secrets: SecretBox, settings: Settings) -> Self {
        App { store, secrets, settings }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Is the database reachable? (`/readyz`)
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await.map_err(Error::from)
    }
}

/// Refuse callers without the admin role.
pub fn require_admin(ctx: &RequestContext) -> Result<()> {
    if ctx.auth.is_admin() {
        Ok(())
    } else {
        Err(Error::forbidden("This operation needs the admin role."))
    }
}
