//! The client for one bottom region ("pod"). It never sees top IDs: the
//! domain translates before calling it.
//!
//! A [`PodSession`] logs in to the pod's Keystone with the gateway's
//! credentials for that pod, keeps the token and renews it before it
//! expires, finds each service's endpoint in the token's catalog (by region
//! and interface), negotiates microversions from the services' version
//! documents, passes the caller's request id on, enforces a deadline per
//! call, and turns the services' error bodies into [`PodError::Service`].
//! The same code works against a real region and against a sim pod.

mod catalog;
mod error;
mod keystone;
mod microversion;
mod probe;
mod session;

pub use catalog::{Catalog, ServiceType};
pub use error::{PodError, parse_fault};
pub use keystone::{
    Credentials, ProjectScope, ScopedToken, password_login, password_login_scoped, token_catalog,
};
pub use microversion::{Microversion, VersionRange};
pub use probe::PodClient;
pub use session::{
    CallStats, ForwardedToken, PodBody, PodRequest, PodResponse, PodSession, SessionConfig,
    TokenSource,
};
