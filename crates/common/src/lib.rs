//! Shared vocabulary of the gateway: the one error type, typed identifiers,
//! the per-request context and the typed configuration.
//!
//! Every other crate depends on this one; it depends on nothing of ours and
//! does no I/O beyond reading the configuration file.

pub mod config;
pub mod context;
pub mod error;
pub mod ids;
pub mod random;

pub use context::{AuthContext, RequestContext};
pub use error::{Error, ErrorKind, Result};
pub use ids::{JobId, PodId, RequestId};
