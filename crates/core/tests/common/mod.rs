//! A gateway domain over N sim pods (regions Pod1..PodN serving az1..azN),
//! a public flavor `1` and a public image with bytes, and a member of
//! project `demo-project`; shared by the compute tests of groups and of
//! booting from volumes.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use tricircle_common::{AuthContext, RequestContext, RequestId};
use tricircle_core::compute::FlavorSpec;
use tricircle_core::compute::server_create::ServerSpec;
use tricircle_core::identity::bootstrap::bootstrap;
use tricircle_core::images::ImageSpec;
use tricircle_core::pods::{IdentityMode, PodCredentials, PodSpec};
use tricircle_core::{App, SecretBox, Settings};
use tricircle_sim_pod::{SimPodConfig, SimPodHandle};
use tricircle_store::testing::TestDb;
use tricircle_store::{Page, Routing};

pub struct World {
    pub app: App,
    pub pods: Vec<SimPodHandle>,
    pub admin: RequestContext,
    pub demo: RequestContext,
    pub image: String,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

pub fn ctx(user: &str, project: &str, roles: &[&str]) -> RequestContext {
    RequestContext {
        request_id: RequestId::new(),
        auth: AuthContext {
            user_id: user.into(),
            user_name: user.into(),
            project_id: Some(project.into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        },
    }
}

pub async fn world(n: usize) -> World {
    let db = TestDb::sqlite().await;
    let b = bootstrap(&db.store, "pw").await.unwrap();
    let admin = ctx(&b.admin_user_id, &b.admin_project_id, &["admin", "member"]);
    world_in(db, admin, n).await
}

/// [`world`] without the gateway's own identity service bootstrapped, for
/// tests that never log in at the top and make many worlds: its password
/// hash is half the time a world takes. The admin is only a context.
pub async fn world_without_identity(n: usize) -> World {
    let admin = ctx("admin-user", "admin-project", &["admin", "member"]);
    world_in(TestDb::sqlite().await, admin, n).await
}

async fn world_in(db: TestDb, admin: RequestContext, n: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(1000);
    settings.image_dir = dir.path().join("images");
    settings.pod_timeout = Duration::from_secs(2);
    settings.list_deadline = Duration::from_millis(800);
    settings.saga_retry_delay = Duration::ZERO;
    let app = App::new(db.store.clone(), SecretBox::from_key([3; 32]), settings);
    let mut pods = Vec::new();
    for i in 1..=n {
        let pod =
            tricircle_sim_pod::start(SimPodConfig::for_tests(&format!("Pod{i}"))).await.unwrap();
        let spec = PodSpec {
            region_name: format!("Pod{i}"),
            az_name: Some(format!("az{i}")),
            auth_url: Some(pod.auth_url()),
            identity: Some(IdentityMode::Mapped),
            credentials: Some(PodCredentials {
                username: "admin".into(),
                password: "secret".into(),
                project_name: "admin".into(),
                user_domain_name: "Default".into(),
                project_domain_name: "Default".into(),
            }),
            ..Default::default()
        };
        app.pod_create(&admin, spec).await.unwrap();
        pods.push(pod);
    }
    let flavor = FlavorSpec {
        id: Some("1".into()),
        name: "m1.tiny".into(),
        vcpus: 1,
        ram_mb: 512,
        disk_gb: 1,
        is_public: true,
        ..Default::default()
    };
    app.flavor_create(&admin, flavor).await.unwrap();
    let spec = ImageSpec {
        name: Some("cirros".into()),
        visibility: Some("public".into()),
        disk_format: Some("raw".into()),
        container_format: Some("bare".into()),
        ..Default::default()
    };
    let image = app.image_create(&admin, spec).await.unwrap();
    let data = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"tiny image bytes",
    ))]);
    app.image_upload(&admin, &image.id, data).await.unwrap();
    let demo = ctx("demo-user", "demo-project", &["member"]);
    World { app, pods, admin, demo, image: image.id, _db: db, _dir: dir }
}

impl World {
    /// A spec booting the image, no AZ.
    pub fn spec(&self, name: &str) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            flavor_ref: "1".into(),
            image_ref: Some(self.image.clone()),
            ..Default::default()
        }
    }

    pub async fn create(&self, spec: ServerSpec) -> Result<String, tricircle_common::Error> {
        self.app
            .server_create(&self.demo, spec)
            .await
            .map(|(v, _)| v["id"].as_str().unwrap().to_string())
    }

    /// The index of the pod (0-based) a top server lives in, from its view.
    pub async fn pod_of(&self, server: &str) -> usize {
        let v = self.app.server_show(&self.demo, server, None).await.unwrap();
        let az = v["OS-EXT-AZ:availability_zone"].as_str().unwrap().to_string();
        az.trim_start_matches("az").parse::<usize>().unwrap() - 1
    }

    pub async fn routings(&self, resource_type: &str) -> Vec<Routing> {
        let all = self
            .app
            .store()
            .routing_list(&Default::default(), &Page { limit: 1000, marker: None })
            .await
            .unwrap();
        all.into_iter().filter(|r| r.resource_type == resource_type).collect()
    }

    /// A sim pod's whole state, as JSON.
    pub fn pod_state(&self, i: usize) -> Value {
        self.pods[i].control().state_json()
    }
}

/// The objects of a kind in a sim pod's state (`compute.servers`, ...), by ID.
pub fn objects(state: &Value, service: &str, kind: &str) -> Vec<Value> {
    state[service][kind].as_object().map(|m| m.values().cloned().collect()).unwrap_or_default()
}

/// Networks and servers on them, for the networking tests.
impl World {
    /// A network with one subnet in the demo project: (network, subnet).
    pub async fn network(&self, name: &str, cidr: &str) -> (String, String) {
        let n = self
            .app
            .network_create(&self.demo, &serde_json::json!({"network": {"name": name}}))
            .await
            .unwrap();
        let n = n["id"].as_str().unwrap().to_string();
        let body = serde_json::json!({"subnet": {"network_id": n, "cidr": cidr, "ip_version": 4}});
        let s = self.app.subnet_create(&self.demo, &body).await.unwrap();
        (n, s["id"].as_str().unwrap().to_string())
    }

    pub fn with_networks(&self, name: &str, az: &str, networks: Value) -> ServerSpec {
        let mut spec = self.spec(name);
        spec.availability_zone = Some(az.into());
        spec.networks = Some(networks);
        spec
    }

    /// The demo project's top ports.
    pub async fn top_ports(&self) -> Vec<Value> {
        let q = tricircle_core::networking::listing::ListQuery::default();
        let body = self.app.port_list(&self.demo, &q, "u").await.unwrap();
        body["ports"].as_array().unwrap().clone()
    }

    /// The pod's ID of a top port's copy (its real one, not a shadow).
    pub async fn bottom_port(&self, top_port: &str) -> String {
        let r = self.routings("port").await;
        r.into_iter().find(|r| r.top_id == top_port).and_then(|r| r.bottom_id).expect("a copy")
    }

    /// What the pods' dataplanes say about a packet from a pod's port.
    pub fn trace(&self, from: &str, to: &str) -> tricircle_sim_pod::Reachability {
        let views: Vec<_> = self.pods.iter().map(|p| p.control().dataplane()).collect();
        tricircle_sim_pod::trace(&views, from, to.parse().unwrap())
    }

    /// The top port of a demo server.
    pub async fn port_of(&self, server: &str) -> Value {
        self.top_ports().await.into_iter().find(|p| p["device_id"] == server).expect("its port")
    }
}
