//! The simulated region's data, one submodule per service.
//!
//! Plain serde structs with no HTTP in them: the state file is these structs as JSON, and the
//! API views are rendered from them per microversion by the service modules.

pub mod compute;
pub mod identity;
pub mod image;
pub mod network;
pub mod volume;
