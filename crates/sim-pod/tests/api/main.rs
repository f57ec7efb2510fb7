//! Black-box tests of the sim pod's HTTP APIs with a plain HTTP client.
//!
//! One test binary (one link step) with a module per service, as omicron does; each test
//! starts its own pod on a free port with zero delays.

mod common;

mod cinder;
mod control;
mod errors;
mod glance;
mod keystone;
mod neutron;
mod nova;
mod server_groups;
mod wire;
