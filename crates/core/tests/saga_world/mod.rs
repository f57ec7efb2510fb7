//! The gateway's sagas as scenarios for the failure and crash checks of
//! `tricircle_jobs::saga::testing`: each case makes a fresh world over sim
//! pods holding what its saga needs (through the API), builds the saga's
//! first state with the API's own plan, and pictures the world (top and
//! every pod, see [`picture`]).

pub mod picture;

use std::collections::HashMap;

use serde_json::{Value, json};
use tricircle_core::compute::server_create::ServerSpec;
use tricircle_core::compute::server_groups::ServerGroupSpec;
use tricircle_core::volumes::create::VolumeSpec;
use tricircle_core::{App, SecretBox};
use tricircle_jobs::Saga;
use tricircle_jobs::saga::testing::{Against, Scenario};

use crate::common::{self, World};
pub use picture::{Picture, picture};

/// A world and the IDs its setup made, by what they are for.
pub struct SagaWorld {
    pub w: World,
    pub ids: HashMap<&'static str, String>,
}

impl SagaWorld {
    pub fn id(&self, what: &str) -> &str {
        self.ids.get(what).unwrap_or_else(|| panic!("the setup made no {what}"))
    }
}

/// One saga of the gateway's, in a world of `PODS` sim pods.
// Test code on one thread: the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait SagaCase {
    type Saga: Saga<Ctx = App>;
    const PODS: usize;
    /// Make, through the API, what the saga needs.
    async fn setup(&self, w: &mut SagaWorld);
    /// The saga's first state, built by the API's own plan; `None` when
    /// the API would answer that there is nothing to do.
    async fn plan(&self, w: &SagaWorld) -> Option<Self::Saga>;
}

/// A [`SagaCase`] as a scenario of the checks.
pub struct InPods<C>(pub C);

impl<C: SagaCase> Scenario for InPods<C> {
    type Saga = C::Saga;
    type World = SagaWorld;
    type Picture = Picture;

    async fn world(&self) -> SagaWorld {
        let w = common::world_without_identity(C::PODS).await;
        let mut w = SagaWorld { w, ids: HashMap::new() };
        self.0.setup(&mut w).await;
        w
    }
    fn ctx<'w>(&self, w: &'w SagaWorld) -> &'w App {
        &w.w.app
    }
    async fn plan(&self, w: &SagaWorld) -> Option<C::Saga> {
        self.0.plan(w).await
    }
    async fn picture(&self, w: &SagaWorld, against: Against) -> Picture {
        picture(&w.w, against).await
    }
    /// A new process: the same database, pods and key (`common`'s),
    /// nothing in memory.
    fn restart(&self, w: &mut SagaWorld) {
        let app = &w.w.app;
        w.w.app =
            App::new(app.store().clone(), SecretBox::from_key([3; 32]), app.settings().clone());
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

/// Setups the cases share.
impl SagaWorld {
    /// `net1` (10.0.0.0/24) with a free port `port1` on it (10.0.0.10).
    /// Addresses are given wherever a port is made: the top picks free
    /// ones at random, and two worlds must compare equal.
    pub async fn network_and_port(&mut self) {
        let (net, _) = self.w.network("net1", "10.0.0.0/24").await;
        let fixed = json!([{"ip_address": "10.0.0.10"}]);
        let body = json!({"port": {"network_id": net, "name": "port1", "fixed_ips": fixed}});
        let port = self.w.app.port_create(&self.w.demo, &body).await.unwrap();
        self.ids.insert("net", net);
        self.ids.insert("port", id_of(&port));
    }

    /// A server in zone `az` on `net1` at `ip`.
    pub async fn server_on_net(&mut self, name: &'static str, az: &str, ip: &str) {
        let networks = json!([{"uuid": self.id("net"), "fixed_ip": ip}]);
        let spec = self.w.with_networks(name, az, networks);
        let id = self.w.create(spec).await.unwrap();
        self.ids.insert(name, id);
    }

    pub async fn keypair(&mut self) {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl k";
        self.w.app.keypair_create(&self.w.demo, "k1", Some(key), None).await.unwrap();
    }

    pub async fn group(&mut self, policy: &str) {
        let spec =
            ServerGroupSpec { name: "g".into(), policy: policy.into(), rules: Default::default() };
        let g = self.w.app.server_group_create(&self.w.demo, spec).await.unwrap();
        self.ids.insert("group", g.group.id);
    }

    /// A volume `name` of 1 GB in zone `az`, made from the image when `from_image`.
    pub fn volume_spec(&self, name: &str, az: &str, from_image: bool) -> VolumeSpec {
        VolumeSpec {
            name: Some(name.into()),
            size: 1,
            availability_zone: Some(az.into()),
            image_ref: from_image.then(|| self.w.image.clone()),
            ..Default::default()
        }
    }

    /// A volume made through the API and read once, so the top's cache
    /// (`creating` until a read) says what the pod says, as it soon would.
    pub async fn volume(&mut self, name: &'static str, az: &str, from_image: bool) {
        let spec = self.volume_spec(name, az, from_image);
        let id = id_of(&self.w.app.volume_create(&self.w.demo, spec).await.unwrap());
        let v = self.w.app.volume_show(&self.w.demo, &id, None).await.unwrap();
        assert_eq!(v["status"], "available", "{v}");
        self.ids.insert(name, id);
    }

    /// A server spec booting only from volumes (`block_device_mapping_v2`).
    pub fn volume_boot(&self, name: &str, mappings: Value) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            flavor_ref: "1".into(),
            block_devices: mappings.as_array().unwrap().clone(),
            ..Default::default()
        }
    }
}
