//! Creating and deleting volumes (sagas, like servers): `record` (the top's
//! row), `project`, `image` (copied into the pod when the volume is made
//! from an image), `volume` (named after the top ID, routing row first).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tricircle_common::{Error, PodId, RequestContext, Result};
use tricircle_jobs::{Saga, StepError, StepFuture};
use tricircle_pod_client::{PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{NewRouting, Pod, ResourceRow, RoutingPatch, StoreError, now};

use super::VolumeFacts;
use crate::App;
use crate::pod_sessions::pod_error;

#[derive(Clone, Debug, Default)]
pub struct VolumeSpec {
    pub name: Option<String>,
    pub size: i64,
    pub description: Option<String>,
    pub availability_zone: Option<String>,
    pub image_ref: Option<String>,
    pub snapshot_id: Option<String>,
    pub metadata: Map<String, Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeCreate {
    pub top_id: String,
    pub project_id: String,
    pub user_id: String,
    pub pod_id: PodId,
    pub name: String,
    pub size: i64,
    pub description: Option<String>,
    pub image_id: Option<String>,
    pub snapshot_id: Option<String>,
    pub metadata: Map<String, Value>,
    pub bottom_image: Option<String>,
    pub bottom_snapshot: Option<String>,
    pub bottom_id: Option<String>,
}

fn store_err(e: impl std::fmt::Display) -> StepError {
    StepError::retry(format!("database: {e}"))
}

fn perr(pod: &Pod) -> impl Fn(PodError) -> StepError + '_ {
    move |e: PodError| StepError {
        retryable: e.is_retryable(),
        message: pod_error(pod, e).to_string(),
    }
}

fn session_err(e: Error) -> StepError {
    StepError { retryable: e.status() == 503, message: e.to_string() }
}

/// The pod's volume (or snapshot) named after `top_id`, if one exists.
pub(crate) async fn find_by_name(
    session: &PodSession,
    collection: &str,
    top_id: &str,
) -> std::result::Result<Option<String>, PodError> {
    let body: Value = session
        .call(&PodRequest::get(ServiceType::BlockStorage, format!("/{collection}/detail")))
        .await?
        .json()?;
    Ok(body[collection]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"].as_str() == Some(top_id))
        .and_then(|v| v["id"].as_str())
        .map(str::to_string))
}

impl VolumeCreate {
    async fn pod(&self, app: &App) -> std::result::Result<Pod, StepError> {
        app.store
            .pod_get(self.pod_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| StepError::fatal("the pod was deleted"))
    }

    pub(crate) async fn step(
        &mut self,
        app: &App,
        step: usize,
    ) -> std::result::Result<(), StepError> {
        let pod = self.pod(app).await?;
        match step {
            0 => {
                let t = now();
                let facts = VolumeFacts {
                    image_id: self.image_id.clone(),
                    snapshot_id: self.snapshot_id.clone(),
                    ..Default::default()
                };
                let row = ResourceRow {
                    id: self.top_id.clone(),
                    resource_type: "volume".into(),
                    project_id: self.project_id.clone(),
                    user_id: self.user_id.clone(),
                    pod_id: Some(pod.pod_id.to_string()),
                    name: self.name.clone(),
                    status: "creating".into(),
                    summary: serde_json::to_string(&facts).unwrap_or_default(),
                    created_at: t,
                    updated_at: t,
                };
                match app.store.resource_insert(&row).await {
                    Ok(()) | Err(StoreError::Duplicate(_)) => Ok(()),
                    Err(e) => Err(store_err(e)),
                }
            }
            1 => app
                .pod_project_session(&pod, &self.project_id)
                .await
                .map(|_| ())
                .map_err(session_err),
            2 => {
                if let Some(image) = self.image_id.clone() {
                    self.bottom_image =
                        Some(app.ensure_image_in_pod(&pod, &image, &self.project_id).await?);
                }
                if let Some(snap) = &self.snapshot_id {
                    self.bottom_snapshot = app
                        .store
                        .routing_find(snap, "snapshot", pod.pod_id)
                        .await
                        .map_err(store_err)?
                        .and_then(|r| r.bottom_id);
                }
                Ok(())
            }
            _ => {
                match app
                    .store
                    .routing_create(&NewRouting {
                        top_id: self.top_id.clone(),
                        bottom_id: None,
                        pod_id: pod.pod_id,
                        project_id: self.project_id.clone(),
                        resource_type: "volume".into(),
                    })
                    .await
                {
                    Ok(_) | Err(StoreError::Duplicate(_)) => {}
                    Err(e) => return Err(store_err(e)),
                }
                let session =
                    app.pod_project_session(&pod, &self.project_id).await.map_err(session_err)?;
                let bottom = match find_by_name(&session, "volumes", &self.top_id)
                    .await
                    .map_err(perr(&pod))?
                {
                    Some(b) => b,
                    None => {
                        let mut v = json!({"name": self.top_id, "size": self.size, "metadata": self.metadata});
                        if let Some(d) = &self.description {
                            v["description"] = json!(d);
                        }
                        if let Some(i) = &self.bottom_image {
                            v["imageRef"] = json!(i);
                        }
                        if let Some(s) = &self.bottom_snapshot {
                            v["snapshot_id"] = json!(s);
                        }
                        if !pod.pod_az_name.is_empty() {
                            v["availability_zone"] = json!(pod.pod_az_name);
                        }
                        let resp = session
                            .call(
                                &PodRequest::new(
                                    ServiceType::BlockStorage,
                                    reqwest::Method::POST,
                                    "/volumes",
                                )
                                .with_body(json!({"volume": v})),
                            )
                            .await;
                        let created: Value = match resp {
                            Ok(r) => r.json().map_err(perr(&pod))?,
                            Err(PodError::Service { status, message, .. })
                                if (400..500).contains(&status) =>
                            {
                                return Err(StepError::fatal(format!(
                                    "Region {} refused the volume: {message}",
                                    pod.region_name
                                )));
                            }
                            Err(e) => return Err(perr(&pod)(e)),
                        };
                        created["volume"]["id"].as_str().unwrap_or_default().to_string()
                    }
                };
                if let Some(r) = app
                    .store
                    .routing_find(&self.top_id, "volume", pod.pod_id)
                    .await
                    .map_err(store_err)?
                {
                    app.store
                        .routing_update(
                            r.id,
                            &RoutingPatch {
                                bottom_id: Some(Some(bottom.clone())),
                                ..Default::default()
                            },
                        )
                        .await
                        .map_err(store_err)?;
                }
                self.bottom_id = Some(bottom);
                Ok(())
            }
        }
    }

    pub(crate) async fn undo_step(
        &mut self,
        app: &App,
        step: usize,
    ) -> std::result::Result<(), StepError> {
        match step {
            0 => app.store.resource_delete(&self.top_id).await.map(|_| ()).map_err(store_err),
            3 => {
                let pod = self.pod(app).await?;
                delete_bottom(app, &pod, &self.project_id, &self.top_id, "volume").await
            }
            _ => Ok(()),
        }
    }
}

/// Delete the pod's copy of a volume or snapshot (found by routing or by
/// name; already gone is fine), then its routing.
async fn delete_bottom(
    app: &App,
    pod: &Pod,
    project_id: &str,
    top_id: &str,
    resource_type: &str,
) -> std::result::Result<(), StepError> {
    let collection = if resource_type == "snapshot" { "snapshots" } else { "volumes" };
    let session = app.pod_project_session(pod, project_id).await.map_err(session_err)?;
    let bottom = match app
        .store
        .routing_find(top_id, resource_type, pod.pod_id)
        .await
        .map_err(store_err)?
        .and_then(|r| r.bottom_id)
    {
        Some(b) => Some(b),
        None => find_by_name(&session, collection, top_id).await.map_err(perr(pod))?,
    };
    if let Some(b) = bottom {
        match session
            .call(&PodRequest::new(
                ServiceType::BlockStorage,
                reqwest::Method::DELETE,
                format!("/{collection}/{b}"),
            ))
            .await
        {
            Ok(_) | Err(PodError::Service { status: 404, .. }) => {}
            Err(PodError::Service { status, message, .. }) if (400..500).contains(&status) => {
                return Err(StepError::fatal(format!(
                    "Region {} refused: {message}",
                    pod.region_name
                )));
            }
            Err(e) => return Err(perr(pod)(e)),
        }
    }
    if let Some(r) =
        app.store.routing_find(top_id, resource_type, pod.pod_id).await.map_err(store_err)?
    {
        app.store.routing_delete(r.id).await.map_err(store_err)?;
    }
    Ok(())
}

impl Saga for VolumeCreate {
    type Ctx = App;
    const NAME: &'static str = "volume_create";
    const STEPS: &'static [&'static str] = &["record", "project", "image", "volume"];

    fn run<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.step(ctx, step))
    }

    fn undo<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.undo_step(ctx, step))
    }
}

/// Deleting a volume or snapshot: the pod's copy, then the top's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeDelete {
    pub top_id: String,
    pub project_id: String,
    pub pod_id: PodId,
    pub resource_type: String,
}

impl VolumeDelete {
    async fn step(&mut self, app: &App, step: usize) -> std::result::Result<(), StepError> {
        let pod = app
            .store
            .pod_get(self.pod_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| StepError::fatal("the pod was deleted"))?;
        match step {
            0 => {
                delete_bottom(app, &pod, &self.project_id, &self.top_id, &self.resource_type).await
            }
            _ => app.store.resource_delete(&self.top_id).await.map(|_| ()).map_err(store_err),
        }
    }
}

impl Saga for VolumeDelete {
    type Ctx = App;
    const NAME: &'static str = "volume_delete";
    const STEPS: &'static [&'static str] = &["bottom", "forget"];
    const FORWARD_ONLY: bool = true;

    fn run<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.step(ctx, step))
    }

    fn undo<'a>(&'a mut self, _ctx: &'a App, _step: usize) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

impl App {
    /// Create a volume: in the zone asked for, or next to its snapshot.
    pub async fn volume_create(&self, ctx: &RequestContext, spec: VolumeSpec) -> Result<Value> {
        let (state, pod) = self.volume_create_plan(ctx, spec).await?;
        let project = state.project_id.clone();
        let done = self.run_inline(&project, state, &pod).await?;
        Ok(json!({"id": done.top_id, "name": done.name, "size": done.size, "status": "creating",
                  "availability_zone": pod.az_name, "description": done.description, "metadata": done.metadata}))
    }

    /// What [`Self::volume_create`] runs: the request checked and the pod
    /// chosen; the saga's first state and its pod.
    pub async fn volume_create_plan(
        &self,
        ctx: &RequestContext,
        spec: VolumeSpec,
    ) -> Result<(VolumeCreate, Pod)> {
        let project = crate::compute::project_of_pub(ctx)?.to_string();
        let image_id = spec.image_ref.filter(|i| !i.is_empty());
        if let Some(i) = &image_id {
            self.image_get(ctx, i).await.map_err(|_| {
                Error::bad_request(format!(
                    "Invalid image identifier or unable to access requested image {i}."
                ))
            })?;
        }
        let snapshot = match &spec.snapshot_id {
            Some(s) => Some(
                self.placed(ctx, s, "snapshot")
                    .await?
                    .ok_or_else(|| Error::not_found("Snapshot", s))?,
            ),
            None => None,
        };
        if spec.size < 1 && snapshot.is_none() {
            return Err(Error::bad_request(format!(
                "Invalid input received: Volume size '{}' must be an integer and greater than 0.",
                spec.size
            )));
        }
        let pod = match &snapshot {
            Some((_, pod)) => pod.clone(),
            None => self.choose_pod(spec.availability_zone.as_deref()).await?,
        };
        let state = VolumeCreate {
            top_id: uuid::Uuid::new_v4().to_string(),
            project_id: project.clone(),
            user_id: ctx.auth.user_id.clone(),
            pod_id: pod.pod_id,
            name: spec.name.unwrap_or_default(),
            size: spec.size.max(1),
            description: spec.description,
            image_id,
            snapshot_id: spec.snapshot_id,
            metadata: spec.metadata,
            bottom_image: None,
            bottom_snapshot: None,
            bottom_id: None,
        };
        Ok((state, pod))
    }
}
