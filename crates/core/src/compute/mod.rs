//! Compute across pods (DESIGN §4 "Compute, volume"): flavors and keypairs
//! are top objects pushed to a pod on first use; servers live in pods, with
//! a top ID for life, a routing to the pod's ID, and a cached summary.

use tricircle_common::{Error, RequestContext, Result};

pub mod boot_source;
pub mod flavors;
mod inline_saga;
mod interfaces;
pub mod keypairs;
mod page_shares;
pub mod placement;
pub(crate) mod server_bottom;
pub mod server_create;
pub mod server_group_copies;
pub mod server_groups;
pub mod server_list;
mod server_merge;
mod server_pod_page;
pub mod servers;
pub(crate) mod translate;

pub use flavors::FlavorSpec;
pub use server_list::{ServerListQuery, ServerPage};

/// The project a compute call acts in: the token's project.
pub(crate) fn project_of(ctx: &RequestContext) -> Result<&str> {
    ctx.auth
        .project_id
        .as_deref()
        .ok_or_else(|| Error::forbidden("This call needs a token scoped to a project."))
}

/// [`project_of`] for the other domain modules.
pub(crate) fn project_of_pub(ctx: &RequestContext) -> Result<&str> {
    project_of(ctx)
}
