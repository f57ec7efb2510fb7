//! OpenStack wire shapes shared by the gateway's APIs and the simulated pod:
//! each service's error body, version documents and paging links. No I/O.

pub mod fault;
pub mod links;
