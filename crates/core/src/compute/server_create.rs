//! Creating a server: a saga whose steps make sure everything the server
//! needs exists in the chosen pod, then create it there.
//!
//! Steps: `record` (the top's resource row, so the server is listed at once
//! as BUILD, and its group membership), `project` (the bottom project of
//! the top project), `flavor`, `image` (copied into the pod on first use),
//! `keypair`, `volumes` (the pod's IDs of the volumes it boots from or
//! attaches; volumes it asks to be made are made, see [`super::boot_source`]),
//! `group` (the pod's copy of its server group), `ports` (the pod's copies
//! of its top ports, see [`crate::networking::server_ports`]), `server`. `record`,
//! `volumes` and `server` have undos that remove something; `group` settles
//! a copy left half-made; the others make shared objects that later servers
//! reuse. The bottom server is named after the top ID, and its routing row
//! is written before the pod is asked, so a retry finds an earlier attempt
//! instead of making a twin.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tricircle_common::{Error, PodId, RequestContext, Result};
use tricircle_jobs::{Progress, Saga, StepError, StepFuture};
use tricircle_pod_client::{Microversion, PodError, PodRequest, ServiceType};
use tricircle_store::{NewRouting, Pod, ResourceRow, StoreError, now};

use super::boot_source::{BootDevice, DeviceKind, bottom_mappings};
pub use super::inline_saga::UNWINDING;
use super::placement::{GroupNeeds, PlacementNeeds};
use super::project_of;
pub use super::server_bottom::find_bottom_server;
pub(crate) use super::server_bottom::{delete_bottom_server, volumes_deleted_with_server};
use super::server_bottom::{session_err, step_err, store_err};
use super::server_groups::{AFFINITY, live};
use super::translate::{ServerFacts, metadata_key};
use crate::App;
use crate::networking::server_ports::ServerPort;

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
    /// Nova's `block_device_mapping_v2`, as sent.
    pub block_devices: Vec<Value>,
    /// The `group` scheduler hint: a top server group ID.
    pub group: Option<String>,
    /// Nova's `security_groups` (names or IDs) for the ports it makes.
    pub security_groups: Vec<String>,
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
    #[serde(default)]
    pub devices: Vec<BootDevice>,
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub bottom_group: Option<String>,
    /// The top ports it uses (claimed before the saga) and their pod copies.
    #[serde(default)]
    pub ports: Vec<ServerPort>,
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
        let pod = self.pod(app).await?;
        match step {
            0 => self.record(app, &pod).await,
            1 => app
                .pod_project_session(&pod, &self.project_id)
                .await
                .map(|_| ())
                .map_err(session_err),
            2 => {
                self.bottom_flavor = Some(app.ensure_flavor_in_pod(&pod, &self.flavor_id).await?);
                Ok(())
            }
            3 => {
                let Some(image) = self.image_id.clone() else { return Ok(()) };
                self.bottom_image =
                    Some(app.ensure_image_in_pod(&pod, &image, &self.project_id).await?);
                Ok(())
            }
            4 => {
                let Some(key) = self.key_name.clone() else { return Ok(()) };
                let bottom =
                    app.ensure_keypair_in_pod(&pod, &self.project_id, &self.user_id, &key).await?;
                self.bottom_key = Some(bottom);
                Ok(())
            }
            5 => {
                app.prepare_boot_devices(&mut self.devices, &pod, &self.project_id, &self.user_id)
                    .await
            }
            6 => self.group_copy(app, &pod).await,
            7 => app.materialize_ports(&pod, &self.project_id, &mut self.ports).await,
            8 => self.create_bottom_server(app, &pod).await,
            _ => Ok(()),
        }
    }

    /// `record`: the top's row (listed at once as BUILD) and membership.
    async fn record(&mut self, app: &App, pod: &Pod) -> Result<(), StepError> {
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
            group_id: self.group_id.clone(),
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
            Ok(()) | Err(StoreError::Duplicate(_)) => {}
            Err(e) => return Err(store_err(e)),
        }
        let Some(group) = &self.group_id else { return Ok(()) };
        match app.store.server_group_member_add(group, &self.top_id).await {
            Ok(()) => Ok(()),
            Err(StoreError::ForeignKey(_)) => Err(StepError::fatal(format!(
                "Conflict: server group {group} was deleted while the server was being created."
            ))),
            Err(e) => Err(store_err(e)),
        }
    }

    /// `group`: the pod's copy of the server's group. For affinity, first
    /// the late check: when members were placed at the same time in
    /// different pods, every one but the pod of the earliest member gives
    /// up (each process agrees on which is earliest), as Nova's own late
    /// affinity check does between hosts.
    async fn group_copy(&mut self, app: &App, pod: &Pod) -> Result<(), StepError> {
        let Some(group_id) = self.group_id.clone() else { return Ok(()) };
        let group = app
            .store
            .server_group_get(&group_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| {
                StepError::fatal(format!(
                    "Conflict: server group {group_id} was deleted while the server was being created."
                ))
            })?;
        if group.policy == AFFINITY {
            let members = app
                .store
                .server_group_members(std::slice::from_ref(&group_id))
                .await
                .map_err(store_err)?;
            let anchor = live(members).into_iter().find_map(|m| m.pod_id);
            if anchor.is_some_and(|a| a != pod.pod_id.to_string()) {
                return Err(StepError::fatal(format!(
                    "Conflict: server group {group_id} (affinity) got a server in another region at the same time; create this server again."
                )));
            }
        }
        self.bottom_group = Some(app.ensure_group_in_pod(pod, &group).await?);
        Ok(())
    }

    async fn create_bottom_server(&mut self, app: &App, pod: &Pod) -> Result<(), StepError> {
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
            .pod_project_session(pod, &self.project_id)
            .await
            .map_err(|e| StepError::retry(e.to_string()))?;
        // An earlier attempt may have created it: find it by its name.
        if let Some(existing) =
            find_bottom_server(&session, &self.top_id).await.map_err(|e| step_err(pod, e))?
        {
            return self.remember(app, pod, existing).await;
        }
        let mv = self
            .microversion
            .as_deref()
            .and_then(|m| m.parse().ok())
            .unwrap_or(Microversion::new(2, 37));
        let mv = session.negotiate(ServiceType::Compute, mv).await.map_err(|e| step_err(pod, e))?;
        let body = self.bottom_body(pod, mv);
        let resp = session
            .call(
                &PodRequest::new(ServiceType::Compute, reqwest::Method::POST, "/servers")
                    .with_body(body)
                    .with_microversion(mv),
            )
            .await;
        let created: Value = match resp {
            Ok(r) => r.json().map_err(|e| step_err(pod, e))?,
            Err(PodError::Service { status, message, .. }) if (400..500).contains(&status) => {
                return Err(StepError::fatal(format!(
                    "Region {} refused the server: {}",
                    pod.region_name,
                    self.with_top_ids(&message)
                )));
            }
            Err(e) => return Err(step_err(pod, e)),
        };
        self.admin_pass = created["server"]["adminPass"].as_str().map(str::to_string);
        let bottom_id = created["server"]["id"].as_str().unwrap_or_default().to_string();
        self.remember(app, pod, bottom_id).await
    }

    /// The create body the pod gets: its own IDs everywhere.
    fn bottom_body(&self, pod: &Pod, mv: Microversion) -> Value {
        let mut metadata = self.metadata.clone();
        metadata.insert(metadata_key().into(), json!(self.top_id));
        let flavor = self.bottom_flavor.clone().unwrap_or_else(|| self.flavor_id.clone());
        let mut server = json!({"name": self.top_id, "flavorRef": flavor, "metadata": metadata});
        if let Some(i) = &self.bottom_image {
            server["imageRef"] = json!(i);
        }
        if !self.devices.is_empty() {
            server["block_device_mapping_v2"] = json!(bottom_mappings(&self.devices));
        }
        if let Some(k) = &self.bottom_key {
            server["key_name"] = json!(k);
        }
        // The pod's copies of the top ports, never a network of the pod's
        // to allocate from: every address and MAC is the top's. Without
        // ports, no NIC ("auto" would pick a pod network the top does not know).
        let bottom_ports: Vec<Value> = self
            .ports
            .iter()
            .filter_map(|p| p.bottom_port.as_ref())
            .map(|b| json!({"port": b}))
            .collect();
        if !bottom_ports.is_empty() {
            server["networks"] = json!(bottom_ports);
        } else if mv >= Microversion::new(2, 37) {
            server["networks"] = json!("none");
        }
        if let Some(u) = &self.user_data {
            server["user_data"] = json!(u);
        }
        if !pod.pod_az_name.is_empty() {
            server["availability_zone"] = json!(pod.pod_az_name);
        }
        let mut body = json!({"server": server});
        if let Some(g) = &self.bottom_group {
            body["os:scheduler_hints"] = json!({"group": g});
        }
        body
    }

    /// A pod's message with the pod's IDs of this server's volumes, images
    /// and group replaced by the top's, so no pod ID reaches a client.
    fn with_top_ids(&self, message: &str) -> String {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for d in &self.devices {
            let top = match &d.kind {
                DeviceKind::Volume { volume_id } | DeviceKind::NewVolume { volume_id, .. } => {
                    volume_id.clone()
                }
                DeviceKind::LocalImage { image_id } => image_id.clone(),
                DeviceKind::Local => continue,
            };
            if let Some(b) = &d.bottom {
                pairs.push((b.clone(), top));
            }
        }
        if let (Some(b), Some(t)) = (&self.bottom_image, &self.image_id) {
            pairs.push((b.clone(), t.clone()));
        }
        if let (Some(b), Some(t)) = (&self.bottom_group, &self.group_id) {
            pairs.push((b.clone(), t.clone()));
        }
        pairs.iter().fold(message.to_string(), |m, (b, t)| m.replace(b.as_str(), t))
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
        app.refresh_top_ports(pod, &self.project_id, &self.top_id, &self.ports).await;
        if !self.ports.is_empty() {
            let networks =
                app.networks_of_server(&self.project_id, &self.top_id).await.unwrap_or_default();
            app.sync_networks_recorded(networks).await;
        }
        app.mark_boot_volumes(&self.devices, "in-use").await
    }

    async fn undo_step(&mut self, app: &App, step: usize) -> Result<(), StepError> {
        match step {
            // Its membership goes with the row; its top ports are given back.
            0 => {
                app.release_ports(&self.project_id, &self.top_id).await.map_err(store_err)?;
                app.store.resource_delete(&self.top_id).await.map_err(store_err)?;
                Ok(())
            }
            5 => {
                let pod = self.pod(app).await?;
                app.unprepare_boot_devices(&mut self.devices, &pod, &self.project_id, &self.user_id)
                    .await
            }
            6 => {
                let Some(group) = self.group_id.clone() else { return Ok(()) };
                let pod = self.pod(app).await?;
                app.settle_group_copy(&pod, &group, &self.project_id).await
            }
            7 => {
                let pod = self.pod(app).await?;
                let networks = app
                    .networks_of_server(&self.project_id, &self.top_id)
                    .await
                    .map_err(store_err)?;
                app.unmaterialize_ports(&pod, &self.project_id, &self.top_id).await?;
                // As when a server is deleted: the copies of its networks go
                // from the pod if no other port needs them, and so do the
                // shadows other pods' ports got there when it was bound.
                app.sync_networks_recorded(networks).await;
                Ok(())
            }
            8 => {
                let pod = self.pod(app).await?;
                let doomed =
                    volumes_deleted_with_server(app, &pod, &self.project_id, &self.top_id).await?;
                delete_bottom_server(app, &pod, &self.project_id, &self.top_id, &doomed).await?;
                if let Some(r) = app
                    .store
                    .routing_find(&self.top_id, "server", pod.pod_id)
                    .await
                    .map_err(store_err)?
                {
                    app.store.routing_delete(r.id).await.map_err(store_err)?;
                }
                self.bottom_id = None;
                app.mark_boot_volumes(&self.devices, "available").await
            }
            // Project, flavor, image and keypair stay: later servers reuse them.
            _ => Ok(()),
        }
    }
}

impl Saga for ServerCreate {
    type Ctx = App;
    const NAME: &'static str = "server_create";
    const STEPS: &'static [&'static str] =
        &["record", "project", "flavor", "image", "keypair", "volumes", "group", "ports", "server"];

    fn run<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.run_step(ctx, step))
    }

    fn undo<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.undo_step(ctx, step))
    }
}

impl App {
    /// Create a server: choose its pod, then run the saga inline (recorded as
    /// a job, so a crash mid-way is finished or unwound by the job runner).
    pub async fn server_create(
        &self,
        ctx: &RequestContext,
        spec: ServerSpec,
    ) -> Result<(Value, Option<String>)> {
        let group_names: Vec<Value> = if spec.security_groups.is_empty() {
            vec![json!({"name": "default"})]
        } else {
            spec.security_groups.iter().map(|g| json!({"name": g})).collect()
        };
        let security_groups = spec.security_groups.clone();
        let (state, pod) = self.server_create_unclaimed(ctx, spec).await?;
        let project = state.project_id.clone();
        // The job is recorded before the ports are taken, as a saga to
        // unwind from `record` (whose undo gives back every port bound to
        // the server): a process that dies before the saga starts leaves
        // that for the runner, not ports bound to a server that never was.
        let mut interrupted = Progress::start(state.clone());
        interrupted.abandon("the gateway stopped before the server's creation started");
        let begun = self.begin_inline(&project, &interrupted).await?;
        // Last, so nothing above can fail after the ports were taken; the
        // saga's `record` undo gives them back if the create fails.
        let ports = match self
            .claim_server_ports(ctx, &state.top_id, state.networks.as_ref(), &security_groups)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                self.abandon_begun(begun, &e).await;
                return Err(e);
            }
        };
        let state = ServerCreate { ports, ..state };
        let state = self.run_begun(begun, state, &pod).await?;
        let view = json!({"id": state.top_id, "OS-DCF:diskConfig": "MANUAL", "security_groups": group_names});
        Ok((view, state.admin_pass))
    }

    /// The saga's first state as [`Self::server_create`] runs it, for tests
    /// that drive the saga themselves: the request checked, the pod chosen
    /// and the top ports claimed.
    pub async fn server_create_plan(
        &self,
        ctx: &RequestContext,
        spec: ServerSpec,
    ) -> Result<(ServerCreate, Pod)> {
        let security_groups = spec.security_groups.clone();
        let (state, pod) = self.server_create_unclaimed(ctx, spec).await?;
        let ports = self
            .claim_server_ports(ctx, &state.top_id, state.networks.as_ref(), &security_groups)
            .await?;
        Ok((ServerCreate { ports, ..state }, pod))
    }

    /// The request checked and the pod chosen; no port taken yet.
    async fn server_create_unclaimed(
        &self,
        ctx: &RequestContext,
        spec: ServerSpec,
    ) -> Result<(ServerCreate, Pod)> {
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
        let mut image_id = spec
            .image_ref
            .as_deref()
            .map(|i| i.rsplit('/').next().unwrap_or_default().to_string())
            .filter(|i| !i.is_empty());
        if let Some(i) = &image_id {
            self.image_get(ctx, i)
                .await
                .map_err(|_| Error::bad_request(format!("Image {i} could not be found.")))?;
        }
        let (mut devices, data) =
            self.boot_devices(ctx, &spec.block_devices, image_id.is_some()).await?;
        // An image on local disk as the boot device is an image boot: the
        // pod gets it as imageRef (what openstackclient sends for --image).
        if let Some(i) = devices
            .iter()
            .position(|d| d.is_boot() && matches!(d.kind, DeviceKind::LocalImage { .. }))
            && let DeviceKind::LocalImage { image_id: boot_image } = devices.remove(i).kind
        {
            image_id = Some(boot_image);
        }
        if devices.iter().any(|d| d.is_boot()) {
            // Booting from a volume: the image, if any, only described it.
            image_id = None;
        }
        if image_id.is_none() && !devices.iter().any(|d| d.is_boot()) {
            return Err(Error::bad_request("Missing imageRef attribute"));
        }
        if let Some(k) = &spec.key_name {
            self.keypair_get(ctx, k)
                .await
                .map_err(|_| Error::bad_request(format!("Invalid key_name provided: {k}.")))?;
        }
        let group = match &spec.group {
            Some(g) => Some(self.server_group_for_boot(ctx, g).await?),
            None => None,
        };
        let needs = PlacementNeeds {
            az: spec.availability_zone.as_deref(),
            data_pod: data.map(|d| (d.pod, d.what)),
            group: group.as_ref().map(|(g, members)| GroupNeeds {
                id: g.id.clone(),
                policy: g.policy.clone(),
                members: members.clone(),
            }),
        };
        let pod = self.choose_pod_for(&needs).await?;
        let top_id = uuid::Uuid::new_v4().to_string();
        let state = ServerCreate {
            top_id,
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
            devices,
            group_id: group.map(|(g, _)| g.id),
            bottom_group: None,
            ports: Vec::new(),
        };
        Ok((state, pod))
    }
}
