//! The control API: the in-process handle [`SimPodControl`] and the same operations over HTTP
//! under `/sim`, plus state-file persistence.
//!
//! Tests in this process use the handle; scripts and tests in other processes use HTTP. The
//! HTTP routes are not OpenStack and carry no fault layer, so they keep answering while faults
//! are injected or the pod hangs. While the pod is down its listener is closed, so HTTP can
//! only bring it back through `for_ms` (down for a while) or the separate control listener.
//!
//! | route | effect |
//! | --- | --- |
//! | `GET /sim` | region, AZ, auth URL, hosts, microversion ranges |
//! | `GET/DELETE /sim/counters` | calls received per operation / reset them |
//! | `GET/POST/DELETE /sim/faults`, `DELETE /sim/faults/{id}` | fault rules |
//! | `POST /sim/down {"down": true, "for_ms": 2000}` | refuse connections (state kept) |
//! | `POST /sim/hang {"hang": true}` | accept OpenStack requests, never answer |
//! | `POST /sim/reset {"state": false}` | clear faults, counters, down/hang (and state) |
//! | `POST /sim/advance` | complete all pending transitions (explicit mode) |
//! | `GET /sim/dataplane` | bound ports, tunnel endpoints, shadow ports, routers |
//! | `GET/PUT /sim/volumes/{id}/data` | a volume's bytes |

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::faults::FaultRule;
use crate::http::{ApiError, ApiResult, Svc, empty, json_resp, parse};
use crate::microversion::{CINDER_MAX, CINDER_MIN, NOVA_MAX, NOVA_MIN};
use crate::pod::Pod;
use crate::state::State as PodState;
use tricircle_dataplane::DataplaneView;

/// In-process control of one sim pod. Cheap to clone.
#[derive(Clone)]
pub struct SimPodControl {
    pod: Pod,
}

impl SimPodControl {
    pub(crate) fn new(pod: Pod) -> Self {
        SimPodControl { pod }
    }

    /// Add a fault rule; returns it with its id.
    pub fn add_fault(&self, rule: FaultRule) -> FaultRule {
        self.pod.faults.add(rule)
    }

    /// Remove one fault rule.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.pod.faults.remove(id)
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        self.pod.faults.clear()
    }

    pub fn faults(&self) -> Vec<FaultRule> {
        self.pod.faults.rules()
    }

    /// Latency for every OpenStack call (a `*` rule).
    pub fn set_latency(&self, latency: Duration) -> FaultRule {
        self.add_fault(FaultRule::latency("*", latency))
    }

    /// Down: the listener is closed and open connections are dropped; state is kept.
    pub fn set_down(&self, down: bool) {
        self.pod.net.down.send_replace(down);
    }

    pub fn is_down(&self) -> bool {
        *self.pod.net.down.borrow()
    }

    /// Hang: OpenStack requests are accepted and never answered (control routes still work).
    pub fn set_hang(&self, hang: bool) {
        self.pod.net.hang.send_replace(hang);
    }

    /// Calls received per operation name (`compute.server_list` → 3).
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.pod.faults.counters()
    }

    /// The query strings of the last calls of an operation (up to 64, oldest
    /// first), so a test can check what it was asked for; reset with the counters.
    pub fn queries(&self, op: &str) -> Vec<String> {
        self.pod.faults.queries(op)
    }

    pub fn reset_counters(&self) {
        self.pod.faults.reset_counters()
    }

    /// Clear faults, counters, down and hang; with `state`, also wipe every resource back to a
    /// freshly seeded region (tokens are kept so existing clients stay authenticated).
    pub fn reset(&self, state: bool) {
        self.clear_faults();
        self.reset_counters();
        self.set_down(false);
        self.set_hang(false);
        if state {
            let mut fresh = PodState::new(&self.pod.password, self.pod.seed);
            let old = self.pod.read();
            fresh.identity = old.identity.clone();
            drop(old);
            self.pod.replace_state(fresh);
        }
    }

    /// Complete every pending transition now; returns how many were applied.
    pub fn advance(&self) -> usize {
        self.pod.write().advance_all()
    }

    /// The dataplane as this pod sees it.
    pub fn dataplane(&self) -> DataplaneView {
        crate::dataplane::view_of(&self.pod)
    }

    /// A volume's bytes (None: no such volume; empty: never written).
    pub fn volume_data(&self, id: &str) -> Option<Bytes> {
        let st = self.pod.read();
        let v = st.volume.volumes.get(id)?;
        Some(v.data.as_deref().and_then(|k| st.blobs.get(k)).unwrap_or_default())
    }

    /// Replace a volume's bytes (as if a guest wrote its disk).
    pub fn set_volume_data(&self, id: &str, data: Bytes) -> bool {
        let mut st = self.pod.write();
        if !st.volume.volumes.contains_key(id) {
            return false;
        }
        let (key, _) = st.blobs.put(data);
        if let Some(v) = st.volume.volumes.get_mut(id) {
            v.data = Some(key);
        }
        st.gc_blobs();
        true
    }

    /// The whole state as JSON (what the state file holds).
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.pod.read()).unwrap_or_default()
    }
}

// ---- HTTP ----

pub fn router() -> Router<Pod> {
    Router::new()
        .route("/", get(info))
        .route("/counters", get(counters).delete(counters_reset))
        .route("/faults", get(faults_list).post(faults_add).delete(faults_clear))
        .route("/faults/{id}", delete(fault_remove))
        .route("/down", post(down))
        .route("/hang", post(hang))
        .route("/reset", post(reset))
        .route("/advance", post(advance))
        .route("/dataplane", get(dataplane))
        .route("/volumes/{id}/data", get(volume_data_get).put(volume_data_put))
}

fn ctl(pod: &Pod) -> SimPodControl {
    SimPodControl::new(pod.clone())
}

async fn info(State(pod): State<Pod>) -> Response {
    let blobs = {
        let st = pod.read();
        json!({"count": st.blobs.len(), "bytes": st.blobs.total_bytes()})
    };
    json_resp(
        200,
        json!({
            "region": pod.region,
            "availability_zone": pod.az,
            "auth_url": pod.auth_url(),
            "hosts": pod.hosts,
            "compute_microversions": {"min": NOVA_MIN.to_string(), "max": NOVA_MAX.to_string()},
            "volume_microversions": {"min": CINDER_MIN.to_string(), "max": CINDER_MAX.to_string()},
            "mode": pod.mode,
            "down": *pod.net.down.borrow(),
            "hang": *pod.net.hang.borrow(),
            "blobs": blobs,
        }),
    )
}

async fn counters(State(pod): State<Pod>) -> Response {
    json_resp(200, json!(ctl(&pod).counters()))
}

async fn counters_reset(State(pod): State<Pod>) -> Response {
    ctl(&pod).reset_counters();
    empty(204)
}

async fn faults_list(State(pod): State<Pod>) -> Response {
    json_resp(200, json!({"faults": ctl(&pod).faults()}))
}

async fn faults_add(State(pod): State<Pod>, body: Bytes) -> ApiResult {
    let rule: FaultRule = parse(Svc::Control, &body)?;
    if let Some(s) = rule.status
        && !(400..=599).contains(&s)
    {
        return Err(ApiError::bad_request(Svc::Control, "status must be 400-599"));
    }
    Ok(json_resp(201, json!({"fault": ctl(&pod).add_fault(rule)})))
}

async fn faults_clear(State(pod): State<Pod>) -> Response {
    ctl(&pod).clear_faults();
    empty(204)
}

async fn fault_remove(State(pod): State<Pod>, UrlPath(id): UrlPath<u64>) -> ApiResult {
    if ctl(&pod).remove_fault(id) {
        Ok(empty(204))
    } else {
        Err(ApiError::not_found(Svc::Control, "NotFound", format!("no fault rule {id}")))
    }
}

#[derive(Deserialize)]
struct DownReq {
    #[serde(default = "yes")]
    down: bool,
    for_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

async fn down(State(pod): State<Pod>, body: Bytes) -> ApiResult {
    let req: DownReq = if body.is_empty() {
        DownReq { down: true, for_ms: None }
    } else {
        parse(Svc::Control, &body)?
    };
    let c = ctl(&pod);
    if let Some(ms) = req.for_ms.filter(|_| req.down) {
        // Answer first, then go down, so the caller gets its 202.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.set_down(true);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            c.set_down(false);
        });
    } else if req.down {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.set_down(true);
        });
    } else {
        c.set_down(false);
    }
    Ok(json_resp(202, json!({"down": req.down, "for_ms": req.for_ms})))
}

#[derive(Deserialize)]
struct HangReq {
    #[serde(default = "yes")]
    hang: bool,
}

async fn hang(State(pod): State<Pod>, body: Bytes) -> ApiResult {
    let req: HangReq =
        if body.is_empty() { HangReq { hang: true } } else { parse(Svc::Control, &body)? };
    ctl(&pod).set_hang(req.hang);
    Ok(json_resp(200, json!({"hang": req.hang})))
}

#[derive(Deserialize, Default)]
struct ResetReq {
    #[serde(default)]
    state: bool,
}

async fn reset(State(pod): State<Pod>, body: Bytes) -> ApiResult {
    let req: ResetReq =
        if body.is_empty() { ResetReq::default() } else { parse(Svc::Control, &body)? };
    ctl(&pod).reset(req.state);
    Ok(empty(204))
}

async fn advance(State(pod): State<Pod>) -> Response {
    json_resp(200, json!({"applied": ctl(&pod).advance()}))
}

async fn dataplane(State(pod): State<Pod>) -> Response {
    json_resp(200, serde_json::to_value(ctl(&pod).dataplane()).unwrap_or_default())
}

async fn volume_data_get(State(pod): State<Pod>, UrlPath(id): UrlPath<String>) -> ApiResult {
    let data = ctl(&pod)
        .volume_data(&id)
        .ok_or_else(|| ApiError::not_found(Svc::Control, "NotFound", format!("no volume {id}")))?;
    Ok(axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        data,
    )))
}

async fn volume_data_put(
    State(pod): State<Pod>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> ApiResult {
    if ctl(&pod).set_volume_data(&id, body) {
        Ok(empty(204))
    } else {
        Err(ApiError::not_found(Svc::Control, "NotFound", format!("no volume {id}")))
    }
}

// ---- state file ----

/// Write the state atomically (temporary file, then rename).
pub async fn save_state(pod: &Pod, path: &Path) -> std::io::Result<()> {
    let bytes = pod.snapshot_json().map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Save after changes (debounced), until shutdown.
pub async fn persist_loop(pod: Pod, path: std::path::PathBuf, shutdown: CancellationToken) {
    let Some(dirty) = pod.dirty.as_ref() else { return };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = dirty.notified() => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = save_state(&pod, &path).await {
            tracing::warn!(path = %path.display(), error = %e, "sim-pod could not save state");
        }
    }
}
