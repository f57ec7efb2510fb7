//! Fault injection and call counters, applied per OpenStack operation.
//!
//! Every OpenStack route is registered with an operation name (`compute.server_list`,
//! `network.port_create`), see [`op`]. The layer around each route counts the call, waits while
//! the pod "hangs", then applies the first matching fault rule: latency first, then (with the
//! rule's probability) an error answer in the service's own body shape, because a gateway must
//! handle a Nova `computeFault` or a `NeutronError` exactly as a real pod would send them.
//! Control routes (`/sim/...`) have no operation name and are never faulted.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::handler::Handler;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::{Deserialize, Serialize};

use crate::http::{Svc, render_error};
use crate::pod::Pod;

/// One fault rule, as posted to `POST /sim/faults`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Assigned by the pod.
    #[serde(default)]
    pub id: u64,
    /// An operation name (`compute.server_create`), a service wildcard (`compute.*`) or `*`.
    #[serde(default = "star")]
    pub operation: String,
    /// Added before the answer (also before an injected error).
    #[serde(default)]
    pub latency_ms: u64,
    /// Status of the injected error (500, 503, 409, 429, ...); none means latency only.
    #[serde(default)]
    pub status: Option<u16>,
    /// Probability that a matching call gets the error, 0.0–1.0.
    #[serde(default = "one")]
    pub rate: f64,
    /// How many more times the rule may fire; none means forever.
    #[serde(default)]
    pub count: Option<u64>,
    /// Message of the injected error.
    #[serde(default)]
    pub message: Option<String>,
}

fn star() -> String {
    "*".into()
}
fn one() -> f64 {
    1.0
}

impl FaultRule {
    /// An error rule for `operation`.
    pub fn error(operation: &str, status: u16) -> Self {
        FaultRule {
            id: 0,
            operation: operation.into(),
            latency_ms: 0,
            status: Some(status),
            rate: 1.0,
            count: None,
            message: None,
        }
    }
    /// A latency-only rule for `operation`.
    pub fn latency(operation: &str, latency: Duration) -> Self {
        FaultRule {
            latency_ms: latency.as_millis() as u64,
            status: None,
            ..Self::error(operation, 0)
        }
    }

    fn matches(&self, op: &str) -> bool {
        self.operation == "*"
            || self.operation == op
            || self.operation.strip_suffix('*').is_some_and(|prefix| op.starts_with(prefix))
    }
}

/// How many query strings are kept per operation.
const QUERIES_KEPT: usize = 64;

/// Fault rules, counters and a small PRNG for error rates.
#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    counters: Mutex<BTreeMap<&'static str, u64>>,
    /// The query strings of the last calls per operation (for tests that
    /// check what a caller asked for, not only how often).
    queries: Mutex<BTreeMap<&'static str, std::collections::VecDeque<String>>>,
    next_id: AtomicU64,
    rng: AtomicU64,
}

/// What to do with one call.
#[derive(Debug, Default)]
pub struct Decision {
    pub latency: Duration,
    pub error: Option<(u16, String)>,
}

impl Faults {
    pub fn add(&self, mut rule: FaultRule) -> FaultRule {
        rule.id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        rule.rate = rule.rate.clamp(0.0, 1.0);
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).push(rule.clone());
        rule
    }
    pub fn remove(&self, id: u64) -> bool {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let before = rules.len();
        rules.retain(|r| r.id != id);
        rules.len() != before
    }
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn count(&self, op: &'static str, query: Option<&str>) {
        *self.counters.lock().unwrap_or_else(|e| e.into_inner()).entry(op).or_default() += 1;
        let mut queries = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        let recent = queries.entry(op).or_default();
        if recent.len() == QUERIES_KEPT {
            recent.pop_front();
        }
        recent.push_back(query.unwrap_or_default().to_string());
    }
    pub fn queries(&self, op: &str) -> Vec<String> {
        let q = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        q.get(op).map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        c.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
    pub fn reset_counters(&self) {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.queries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// A uniform number in [0, 1) (xorshift; seeded from a random UUID on first use).
    fn random(&self) -> f64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        if x == 0 {
            x = (uuid::Uuid::new_v4().as_u128() as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decide the fate of one call of `op`: the first matching rule wins.
    pub fn decide(&self, op: &str) -> Decision {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let Some(idx) = rules.iter().position(|r| r.matches(op) && r.count != Some(0)) else {
            return Decision::default();
        };
        let roll = self.random();
        let rule = &mut rules[idx];
        let mut d = Decision { latency: Duration::from_millis(rule.latency_ms), error: None };
        if let Some(status) = rule.status
            && roll < rule.rate
        {
            let msg = rule.message.clone().unwrap_or_else(|| default_message(status));
            d.error = Some((status, msg));
        }
        if (d.error.is_some() || rule.status.is_none())
            && let Some(c) = rule.count.as_mut()
        {
            *c -= 1;
        }
        rules.retain(|r| r.count != Some(0));
        d
    }
}

fn default_message(status: u16) -> String {
    match status {
        409 => "Injected conflict (sim-pod fault injection).".into(),
        429 => "Injected rate limit (sim-pod fault injection).".into(),
        _ => format!("Injected fault {status} (sim-pod fault injection)."),
    }
}

/// The service an operation name belongs to.
pub fn svc_of(op: &str) -> Svc {
    match op.split('.').next().unwrap_or("") {
        "identity" => Svc::Identity,
        "compute" => Svc::Compute,
        "volume" => Svc::Volume,
        "network" => Svc::Network,
        "image" => Svc::Image,
        _ => Svc::Control,
    }
}

fn neutron_kind(status: u16) -> &'static str {
    match status {
        409 => "Conflict",
        429 => "OverQuota",
        503 => "ServiceUnavailable",
        _ => "HTTPInternalServerError",
    }
}

/// The per-operation layer: count, hang, latency, injected error.
pub async fn apply(op: &'static str, req: Request, next: Next) -> Response {
    let Some(pod) = req.extensions().get::<Pod>().cloned() else {
        return next.run(req).await;
    };
    pod.faults.count(op, req.uri().query());
    let mut hang = pod.net.hang.subscribe();
    // Wait (possibly forever) while the pod hangs; the client sees an accepted request with
    // no answer.
    let _ = hang.wait_for(|h| !*h).await;
    let d = pod.faults.decide(op);
    if !d.latency.is_zero() {
        tokio::time::sleep(d.latency).await;
    }
    if let Some((status, msg)) = d.error {
        tracing::debug!(op, status, "sim-pod injected fault");
        return render_error(svc_of(op), status, neutron_kind(status), &msg);
    }
    next.run(req).await
}

/// A route for `method` named `op`: the handler wrapped in the fault layer.
pub fn op<H, T>(method: MethodFilter, op: &'static str, handler: H) -> MethodRouter<Pod>
where
    H: Handler<T, Pod>,
    T: 'static,
{
    on(method, handler)
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| apply(op, req, next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_and_counts_down() {
        let f = Faults::default();
        f.add(FaultRule { count: Some(1), ..FaultRule::error("compute.server_list", 503) });
        f.add(FaultRule::error("compute.*", 409));
        assert_eq!(f.decide("compute.server_list").error.unwrap().0, 503);
        assert_eq!(f.decide("compute.server_list").error.unwrap().0, 409);
        assert!(f.decide("network.port_list").error.is_none());
        assert_eq!(f.rules().len(), 1);
    }

    #[test]
    fn rate_zero_never_fires_and_rate_one_always_does() {
        let f = Faults::default();
        f.add(FaultRule { rate: 0.0, ..FaultRule::error("*", 500) });
        assert!((0..100).all(|_| f.decide("image.image_list").error.is_none()));
        f.clear();
        f.add(FaultRule { rate: 0.5, ..FaultRule::error("*", 500) });
        let hits = (0..1000).filter(|_| f.decide("image.image_list").error.is_some()).count();
        assert!((350..650).contains(&hits), "{hits}");
    }
}
