//! Black-box tests of the HTTP surface: a real server on a free port, a
//! real HTTP client, a fresh database per test (SQLite, and PostgreSQL when
//! `TRICIRCLE_TEST_PG` is set). One test binary, one module per area.

mod audits;
mod common;
mod cross_cutting;
mod floating_ips;
mod fuzz;
mod identity;
mod jobs;
mod network_quotas_bulk;
mod network_zones_quotas;
mod networking;
mod openapi;
mod pod_health;
mod pods;
mod routers;
mod routings;
mod security_groups;
mod server_groups;
mod trace;
mod unauthorized;
