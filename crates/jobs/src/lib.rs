//! The job engine: which kinds of durable job exist, how a job's resource
//! becomes the key that collapses duplicates, and the runner that executes
//! them.
//!
//! A job kind names the fields of its resource in order; the fields joined by
//! `#` form the resource key (upstream Tricircle's `resource_id`), so two
//! requests for the same work on the same resource become one job.

pub mod kinds;
pub mod runner;
pub mod saga;

pub use kinds::{JobKind, KINDS, resource_key};
pub use runner::{JobFailure, JobFuture, JobHandler, Runner, RunnerConfig};
pub use saga::{Journal, Progress, ProgressLog, Saga, SagaOutcome, StepError, StepFuture, execute};
