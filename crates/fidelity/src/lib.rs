//! Fidelity of the sim pod, in numbers: one scripted scenario runs against a real OpenStack
//! region and against a sim pod, and every answer is compared by shape.
//!
//! The sim pod stands in for real regions in fast tests, benchmarks and the demo, so whatever
//! is built on it is only as true as it is faithful. Comparing values would be meaningless (ids,
//! times, addresses all differ), so the comparison sets values aside and looks at what clients
//! depend on: the status code, the body's keys and JSON kinds recursively (with `null` told
//! apart from a value), and the headers clients read (`Location`, `x-openstack-request-id`,
//! `OpenStack-API-Version`, `Content-Type`). Differences that are legitimate (something the
//! real region's fake drivers cannot produce) are listed with their reason in
//! `allowed-differences.toml`; anything else is a bug in the sim pod.
//!
//! - [`scenario`]: the script and its own checks.
//! - [`runner`]: sending steps and recording [`Exchange`]s.
//! - [`shape`]: bodies and headers reduced to shapes.
//! - [`compare`]: pairing steps, the allowlist and the report.
//! - [`target`]: a region reached by password login, from a `clouds.yaml` or a sim pod.

pub mod compare;
pub mod runner;
pub mod scenario;
pub mod shape;
pub mod target;

pub use compare::{Allowlist, Difference, Exchange, Report, compare};
pub use scenario::{Run, run};
pub use target::Target;
