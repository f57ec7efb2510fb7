//! Creating a server: a saga whose steps make sure everything the server
//! needs exists in the chosen pod, then create it there.
//!
//! Steps: `record` (the top's resource row, so the server is listed at once
//! as BUILD), `project` (the bottom project of the top project), `flavor`,
//! `image` (copied into the pod on first use), `keypair`, `server`. Only
//! `record` and `server` have undos that remove something: the others make
//! shared objects that later servers reuse. The bottom server is named after
//! the top ID, and its routing row is written before the pod is asked, so a
//! retry finds an earlier attempt instead of making a twin.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tricircle_common::{Error, PodId, RequestContext, Result};
use tricircle_jobs::{Journal, Progress, Saga, SagaOutcome, StepError, StepFuture, execute};
use tricircle_pod_client::{Microversion, PodError, PodRequest, ServiceType};
use tricircle_store::{NewJob, NewRouting, Pod, ResourceRow, StoreError, now};

use super::project_of;
use super::translate::{ServerFacts, metadata_key};
use crate::App;
use crate::pod_sessions::pod_error;

/// What a client asked for, already parsed.
#[derive(Clone, Debug, Default)]
pub struct ServerSpec {
    pub name: String,
    pub flavor_ref: String,
    pub image_ref: Option<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    /// `"auto"`, `"none"` or Nova's list of `{uuid|port|fixed_ip}`.
    pub networks: Option<Value>,
    pub metadata: Map<String, Value>,
    pub user_data: Option<String>,
    pub microversion: Option<Microversion>,
}

/// The saga's state, saved in the job after every step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerCreate {
    pub top_id: String,
    pub project_id: String,
    pub user_id: String,
    pub pod_id: PodId,
    pub name: String,
    pub flavor_id: String,
    pub image_id: Option<String>,
    pub key_name: Option<String>,
    pub networks: Option<Value>,
    pub metadata: Map<String, Value>,
    pub user_data: Option<String>,
    pub microversion: Option<String>,
    pub bottom_image: Option<String>,
    #[serde(default)]
    pub bottom_flavor: Option<String>,
    pub bottom_key: Option<String>,
    pub bottom_id: Option<String>,
    pub admin_pass: Option<String>,
}

fn step_err(pod: &Pod, e: PodError) -> StepError {
    let retryable = e.is_retryable();
    let err = pod_error(pod, e);
    let message = err.to_string();
    StepError { message, retryable }
}

fn store_err(e: impl std::fmt::Display) -> StepError {
    StepError::retry(format!("database: {e}"))
}

impl ServerCreate {
    async fn pod(&self, app: &App) -> Result<Pod, StepError> {
        app.store
            .pod_get(self.pod_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| StepError::fatal("the pod was deleted"))
    }

    async fn run_step(&mut self, app: &App, step: usize) -> Result<(), StepError> {
        match step {
            0 => {
                let pod = self.pod(app).await?;
                let t = now();
                let facts = ServerFacts {
                    flavor_id: self.flavor_id.clone(),
                    flavor_name: app
                        .store
                        .flavor_get(&self.flavor_id)
                        .await
                        .map_err(store_err)?
                        .map(|f| f.name)
                        .unwrap_or_default(),
                    image_id: self.image_id.clone(),
                    key_name: self.key_name.clone(),
                    view: Value::Null,
                };
                let row = ResourceRow {
                    id: self.top_id.clone(),
                    resource_type: "server".into(),
                    project_id: self.project_id.clone(),
                    user_id: self.user_id.clone(),
                    pod_id: Some(pod.pod_id.to_string()),
                    name: self.name.clone(),
                    status: "BUILD".into(),
                    summary: serde_json::to_string(&facts).unwrap_or_default(),
                    created_at: t,
                    updated_at: t,
                };
                match app.store.resource_insert(&row).await {
                    Ok(()) | Err(StoreError::Duplicate(_)) => Ok(()),
                    Err(e) => Err(store_err(e)),
                }
            }
            1 => {
                let pod = self.pod(app).await?;
                app.pod_project_session(&pod, &self.project_id)
                    .await
                    .map(|_| ())
                    .map_err(|e| StepError { retryable: e.status() == 503, message: e.to_string() })
            }
            2 => {
                let pod = self.pod(app).await?;
                self.bottom_flavor = Some(app.ensure_flavor_in_pod(&pod, &self.flavor_id).await?);
                Ok(())
            }
            3 => {
                let Some(image) = self.image_id.clone() else { return Ok(()) };
                let pod = self.pod(app).await?;
                self.bottom_image =
                    Some(app.ensure_image_in_pod(&pod, &image, &self.project_id).await?);
                Ok(())
            }
            4 => {
                let Some(key) = self.key_name.clone() else { return Ok(()) };
                let pod = self.pod(app).await?;
                let keypair = app
                    .store
                    .keypair_get(&self.user_id, &key)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| StepError::fatal(format!("Conflict: keypair {key} was deleted while the server was being created.")))?;
                let session = app
                    .pod_project_session(&pod, &self.project_id)
                    .await
                    .map_err(|e| StepError::retry(e.to_string()))?;
                let bottom_name = format!("tc-{}-{}", self.user_id, key);
                match session
                    .call(&PodRequest::get(
                        ServiceType::Compute,
                        format!("/os-keypairs/{bottom_name}"),
                    ))
                    .await
                {
                    Ok(_) => {}
                    Err(PodError::Service { status: 404, .. }) => {
                        let body = json!({"keypair": {"name": bottom_name, "public_key": keypair.public_key}});
                        match session
                            .call(
                                &PodRequest::new(
                                    ServiceType::Compute,
                                    reqwest::Method::POST,
                                    "/os-keypairs",
                                )
                                .with_body(body),
                            )
                            .await
                        {
                            Ok(_) | Err(PodError::Service { status: 409, .. }) => {}
                            Err(e) => return Err(step_err(&pod, e)),
                        }
                    }
                    Err(e) => return Err(step_err(&pod, e)),
                }
                self.bottom_key = Some(bottom_name);
                Ok(())
            }
            5 => self.create_bottom_server(app).await,
            _ => Ok(()),
        }
    }

    async fn create_bottom_server(&mut self, app: &App) -> Result<(), StepError> {
        let pod = self.pod(app).await?;
        match app
            .store
            .routing_create(&NewRouting {
                top_id: self.top_id.clone(),
                bottom_id: None,
                pod_id: pod.pod_id,
                project_id: self.project_id.clone(),
                resource_type: "server".into(),
            })
            .await
        {
            Ok(_) | Err(StoreError::Duplicate(_)) => {}
            Err(e) => return Err(store_err(e)),
        }
        let session = app
            .pod_project_session(&pod, &self.project_id)
            .await
            .map_err(|e| StepError::retry(e.to_string()))?;
        // An earlier attempt may have created it: find it by its name.
        if let Some(existing) =
            find_bottom_server(&session, &self.top_id).await.map_err(|e| step_err(&pod, e))?
        {
            return self.remember(app, &pod, existing).await;
        }
        let mv = self
            .microversion
            .as_deref()
            .and_then(|m| m.parse().ok())
            .unwrap_or(Microversion::new(2, 37));
        let mv =
            session.negotiate(ServiceType::Compute, mv).await.map_err(|e| step_err(&pod, e))?;
        let mut metadata = self.metadata.clone();
        metadata.insert(metadata_key().into(), json!(self.top_id));
        let mut server = json!({"name": self.top_id, "flavorRef": self.bottom_flavor.clone().unwrap_or_else(|| self.flavor_id.clone()), "metadata": metadata});
        if let Some(i) = &self.bottom_image {
            server["imageRef"] = json!(i);
        }
        if let Some(k) = &self.bottom_key {
            server["key_name"] = json!(k);
        }
        // Until the gateway's own networking lands, servers get no NIC:
        // "auto" (and no answer) would pick one of the pod's networks, which
        // the top knows nothing about.
        let _ = &self.networks;
        if mv >= Microversion::new(2, 37) {
            server["networks"] = json!("none");
        }
        if let Some(u) = &self.user_data {
            server["user_data"] = json!(u);
        }
        if !pod.pod_az_name.is_empty() {
            server["availability_zone"] = json!(pod.pod_az_name);
        }
        let resp = session
            .call(
                &PodRequest::new(ServiceType::Compute, reqwest::Method::POST, "/servers")
                    .with_body(json!({"server": server}))
                    .with_microversion(mv),
            )
            .await;
        let created: Value = match resp {
            Ok(r) => r.json().map_err(|e| step_err(&pod, e))?,
            Err(PodError::Service { status, message, .. }) if (400..500).contains(&status) => {
                return Err(StepError::fatal(format!(
                    "Region {} refused the server: {message}",
                    pod.region_name
                )));
            }
            Err(e) => return Err(step_err(&pod, e)),
        };
        self.admin_pass = created["server"]["adminPass"].as_str().map(str::to_string);
        let bottom_id = created["server"]["id"].as_str().unwrap_or_default().to_string();
        self.remember(app, &pod, bottom_id).await
    }

    async fn remember(&mut self, app: &App, pod: &Pod, bottom_id: String) -> Result<(), StepError> {
        if let Some(r) =
            app.store.routing_find(&self.top_id, "server", pod.pod_id).await.map_err(store_err)?
        {
            let patch = tricircle_store::RoutingPatch {
                bottom_id: Some(Some(bottom_id.clone())),
                ..Default::default()
            };
            app.store.routing_update(r.id, &patch).await.map_err(store_err)?;
        }
        self.bottom_id = Some(bottom_id);
        Ok(())
    }

    async fn undo_step(&mut self, app: &App, step: usize) -> Result<(), StepError> {
        match step {
            0 => {
                app.store.resource_delete(&self.top_id).await.map_err(store_err)?;
                Ok(())
            }
            5 => {
                let pod = self.pod(app).await?;
                delete_bottom_server(app, &pod, &self.project_id, &self.top_id).await?;
                if let Some(r) = app
                    .store
                    .routing_find(&self.top_id, "server", pod.pod_id)
                    .await
                    .map_err(store_err)?
                {
                    app.store.routing_delete(r.id).await.map_err(store_err)?;
                }
                self.bottom_id = None;
                Ok(())
            }
            // Project, flavor, image and keypair stay: later servers reuse them.
            _ => Ok(()),
        }
    }
}

/// Ask the pod to delete the copy of server `top_id` (found by its routing,
/// else by name); one already gone is fine.
pub(crate) async fn delete_bottom_server(
    app: &App,
    pod: &Pod,
    project_id: &str,
    top_id: &str,
) -> Result<(), StepError> {
    let session = app
        .pod_project_session(pod, project_id)
        .await
        .map_err(|e| StepError { retryable: e.status() == 503, message: e.to_string() })?;
    let bottom = match app
        .store
        .routing_find(top_id, "server", pod.pod_id)
        .await
        .map_err(store_err)?
        .and_then(|r| r.bottom_id)
    {
        Some(b) => Some(b),
        None => find_bottom_server(&session, top_id).await.map_err(|e| step_err(pod, e))?,
    };
    if let Some(b) = bottom {
        let req =
            PodRequest::new(ServiceType::Compute, reqwest::Method::DELETE, format!("/servers/{b}"));
        match session.call(&req).await {
            Ok(_) | Err(PodError::Service { status: 404, .. }) => {}
            Err(e) => return Err(step_err(pod, e)),
        }
    }
    Ok(())
}

/// The bottom server named after `top_id`, if one exists.
pub async fn find_bottom_server(
    session: &tricircle_pod_client::PodSession,
    top_id: &str,
) -> Result<Option<String>, PodError> {
    let found: Value = session
        .call(
            &PodRequest::get(ServiceType::Compute, "/servers")
                .with_query("name", format!("^{top_id}$")),
        )
        .await?
        .json()?;
    Ok(found["servers"]
        .as_array()
        .and_then(|s| s.first())
        .and_then(|s| s["id"].as_str())
        .map(str::to_string))
}

impl Saga for ServerCreate {
    type Ctx = App;
    const NAME: &'static str = "server_create";
    const STEPS: &'static [&'static str] =
        &["record", "project", "flavor", "image", "keypair", "server"];

    fn run<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.run_step(ctx, step))
    }

    fn undo<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.undo_step(ctx, step))
    }
}

/// The status of a resource whose creation failed and is being undone; such
/// resources are not shown to clients.
pub const UNWINDING: &str = "UNWINDING";

/// The owner name an API process uses for the jobs it runs inline.
pub fn inline_owner() -> String {
    format!("api-{}", std::process::id())
}

impl App {
    /// Create a server: choose its pod, then run the saga inline (recorded as
    /// a job, so a crash mid-way is finished or unwound by the job runner).
    pub async fn server_create(
        &self,
        ctx: &RequestContext,
        spec: ServerSpec,
    ) -> Result<(Value, Option<String>)> {
        let project = project_of(ctx)?.to_string();
        let name = spec.name.trim().to_string();
        if name.is_empty() || name.len() > 255 {
            return Err(Error::bad_request(
                "Invalid input for field/attribute name: it must have 1 to 255 characters.",
            ));
        }
        let flavor_id = spec.flavor_ref.rsplit('/').next().unwrap_or_default().to_string();
        self.flavor_get(ctx, &flavor_id)
            .await
            .map_err(|_| Error::bad_request(format!("Flavor {flavor_id} could not be found.")))?;
        let image_id = spec
            .image_ref
            .as_deref()
            .map(|i| i.rsplit('/').next().unwrap_or_default().to_string())
            .filter(|i| !i.is_empty());
        if let Some(i) = &image_id {
            self.image_get(ctx, i)
                .await
                .map_err(|_| Error::bad_request(format!("Image {i} could not be found.")))?;
        } else {
            return Err(Error::bad_request(
                "Missing imageRef attribute: booting from a volume needs block_device_mapping_v2 (not supported yet).",
            ));
        }
        match &spec.networks {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "auto" || s == "none" => {}
            Some(_) => {
                return Err(Error::bad_request(
                    "Networks by ID or port are not supported yet: the gateway's networking is not there; use networks \"none\" or \"auto\" (no NIC).",
                ));
            }
        }
        if let Some(k) = &spec.key_name {
            self.keypair_get(ctx, k)
                .await
                .map_err(|_| Error::bad_request(format!("Invalid key_name provided: {k}.")))?;
        }
        let pod = self.choose_pod(spec.availability_zone.as_deref()).await?;
        let state = ServerCreate {
            top_id: uuid::Uuid::new_v4().to_string(),
            project_id: project.clone(),
            user_id: ctx.auth.user_id.clone(),
            pod_id: pod.pod_id,
            name,
            flavor_id,
            image_id,
            key_name: spec.key_name,
            networks: spec.networks,
            metadata: spec.metadata,
            user_data: spec.user_data,
            microversion: spec.microversion.map(|m| m.to_string()),
            bottom_image: None,
            bottom_flavor: None,
            bottom_key: None,
            bottom_id: None,
            admin_pass: None,
        };
        let state = self.run_inline(&project, state, &pod).await?;
        let view = json!({"id": state.top_id, "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}]});
        Ok((view, state.admin_pass))
    }

    /// Run a saga inline under a job this process holds; on failure unwind
    /// at once, so an API call either succeeds or leaves nothing behind
    /// (when an undo cannot reach the pod, the job runner finishes it later).
    pub(crate) async fn run_inline<S: Saga<Ctx = App> + Clone>(
        &self,
        project: &str,
        state: S,
        pod: &Pod,
    ) -> Result<S> {
        let key = serde_json::to_value(&state)
            .ok()
            .and_then(|v| v.get("top_id").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let (job, _) = self
            .store
            .job_enqueue(&NewJob {
                job_type: S::NAME.into(),
                resource_key: key.clone(),
                resource: json!({"id": key}),
                project_id: project.into(),
            })
            .await?;
        let owner = inline_owner();
        let t = now();
        let lease = t + chrono::Duration::seconds(300);
        self.store
            .job_claim_id(job.id, &owner, t, lease)
            .await?
            .ok_or_else(|| Error::internal("could not claim our own job"))?;
        let journal = Journal::Job { store: &self.store, job: job.id, owner: &owner };
        let mut progress = Progress::start(state);
        journal.save(&progress).await?;
        let outcome = execute(self, &mut progress, &journal).await?;
        let outcome = match outcome {
            SagaOutcome::Paused { error } => {
                // An API call does not wait for a pod to come back: unwind.
                progress.abandon(error.message.clone());
                let unwound = execute(self, &mut progress, &journal).await?;
                match unwound {
                    SagaOutcome::Unwound { .. } => SagaOutcome::Unwound { error },
                    other => other,
                }
            }
            other => other,
        };
        let finish = |o| self.store.job_finish(job.id, &owner, o);
        match outcome {
            SagaOutcome::Done => {
                finish(tricircle_store::JobOutcome::Success).await?;
                Ok(progress.state)
            }
            SagaOutcome::Unwound { error } => {
                finish(tricircle_store::JobOutcome::Fail { error: error.message.clone() }).await?;
                Err(step_error_to_api(error, pod))
            }
            SagaOutcome::UndoFailed { error } | SagaOutcome::Paused { error } => {
                // Hidden from clients until the runner finishes unwinding.
                if let Some(row) = self.store.resource_get(&key).await? {
                    self.store
                        .resource_refresh(&row.id, &row.name, UNWINDING, &row.summary)
                        .await?;
                }
                let at = now()
                    + chrono::Duration::from_std(self.settings.saga_retry_delay)
                        .unwrap_or_default();
                finish(tricircle_store::JobOutcome::Retry { at, error: error.message.clone() })
                    .await?;
                Err(Error::unavailable(
                    format!(
                        "Availability zone {} is unavailable: region {} is not answering; the partial work will be cleaned up when it answers again.",
                        pod.az_name, pod.region_name
                    ),
                    error.message,
                ))
            }
        }
    }
}

fn step_error_to_api(e: StepError, pod: &Pod) -> Error {
    if e.retryable {
        Error::unavailable(
            format!(
                "Availability zone {} is unavailable: region {} is not answering; retry later.",
                pod.az_name, pod.region_name
            ),
            e.message,
        )
    } else if let Some(why) = e.message.strip_prefix("Conflict: ") {
        Error::conflict(why)
    } else if e.message.starts_with("Region ") {
        Error::bad_request(e.message)
    } else {
        Error::internal(e.message)
    }
}
