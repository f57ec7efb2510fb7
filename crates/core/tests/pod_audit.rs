//! The audit of a pod's servers, volumes and port claims, over sim pods:
//! orphans made behind the gateway's back go once older than the grace
//! period (the pod's own objects and other projects' stay, creates in
//! flight too), a server and a volume the pod lost show as ERROR and can
//! be deleted, port claims of a server that never came to be are given
//! back, and each run is recorded for admins.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{World, objects, world};
use reqwest::Method;
use serde_json::{Value, json};
use tricircle_core::audit::{Finding, PodAudit};
use tricircle_core::compute::ServerListQuery;
use tricircle_core::volumes::create::VolumeSpec;
use tricircle_pod_client::{PodRequest, PodSession, ServiceType};
use tricircle_store::{AuditOutcome, NewJob, NewRouting, Pod};

const HOUR: Duration = Duration::from_secs(3600);

async fn call(
    s: &PodSession,
    service: ServiceType,
    method: Method,
    path: &str,
    body: Value,
) -> Value {
    let mut req = PodRequest::new(service, method, path.to_string());
    if !body.is_null() {
        req = req.with_body(body);
    }
    let resp = s.call(&req).await.unwrap_or_else(|e| panic!("{path}: {e}"));
    resp.json().unwrap_or(Value::Null)
}

fn set(findings: &[Finding]) -> BTreeSet<(String, String)> {
    findings.iter().map(|f| (f.kind.clone(), f.id.clone())).collect()
}

fn pair(kind: &str, id: &str) -> (String, String) {
    (kind.to_string(), id.to_string())
}

impl World {
    async fn pod1(&self) -> Pod {
        let pods = self.app.store().pod_list().await.unwrap();
        pods.into_iter().find(|p| p.region_name == "Pod1").unwrap()
    }

    async fn bottom_of(&self, top_id: &str, kind: &str) -> String {
        self.routings(kind)
            .await
            .into_iter()
            .find(|r| r.top_id == top_id)
            .and_then(|r| r.bottom_id)
            .unwrap_or_else(|| panic!("{kind} {top_id} has a copy"))
    }

    async fn volume(&self, name: &str) -> String {
        let spec = VolumeSpec {
            name: Some(name.into()),
            size: 1,
            availability_zone: Some("az1".into()),
            ..Default::default()
        };
        let v = self.app.volume_create(&self.demo, spec).await.unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    /// IDs of a kind in Pod1's state, after its pending transitions.
    fn in_pod1(&self, service: &str, kind: &str) -> BTreeSet<String> {
        self.pods[0].control().advance();
        objects(&self.pod_state(0), service, kind)
            .into_iter()
            .filter_map(|o| o["id"].as_str().map(str::to_string))
            .collect()
    }
}

/// A server made in the pod behind the gateway's back, named `name`, with
/// the gateway's metadata key when `key` is given.
async fn pod_server(s: &PodSession, like: &Value, name: &str, key: Option<&str>) -> String {
    let mut metadata = json!({});
    if let Some(k) = key {
        metadata["tricircle_top_id"] = json!(k);
    }
    let body = json!({"server": {"name": name, "flavorRef": like["flavor"]["id"],
        "imageRef": like["image"]["id"], "metadata": metadata, "networks": "none"}});
    let made = call(s, ServiceType::Compute, Method::POST, "/servers", body).await;
    made["server"]["id"].as_str().unwrap().to_string()
}

async fn pod_volume(s: &PodSession, name: &str) -> String {
    let body = json!({"volume": {"name": name, "size": 1}});
    let made = call(s, ServiceType::BlockStorage, Method::POST, "/volumes", body).await;
    made["volume"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn orphans_go_after_the_grace_and_the_pods_own_objects_stay() {
    let w = world(1).await;
    let (net, _) = w.network("n1", "10.81.0.0/24").await;
    let vm = w.create(w.with_networks("vm", "az1", json!([{"uuid": net}]))).await.unwrap();
    let vol = w.volume("data").await;
    // A server whose routing and top row were lost (a bug, a restored
    // database): its pod copy is an orphan, its top port a claim of nothing.
    let lost = w.create(w.with_networks("lost", "az1", json!([{"uuid": net}]))).await.unwrap();
    let lost_port = w.port_of(&lost).await["id"].as_str().unwrap().to_string();
    let lost_port_copy = w.bottom_port(&lost_port).await;
    let lost_bottom = w.bottom_of(&lost, "server").await;
    let routing = w.routings("server").await.into_iter().find(|r| r.top_id == lost).unwrap();
    w.app.store().routing_delete(routing.id).await.unwrap();
    w.app.store().resource_delete(&lost).await.unwrap();

    // Behind the gateway's back in Pod1, in the project the gateway made for
    // the demo project: a server and a volume named like the gateway's; the
    // pod's own (other names, or no gateway key); and, in the pod's admin
    // project, a server and a volume named like the gateway's.
    let pod = w.pod1().await;
    let demo = w.app.pod_project_session(&pod, "demo-project").await.unwrap();
    let admin = w.app.pod_admin_session(&pod).await.unwrap();
    let vm_bottom = w.bottom_of(&vm, "server").await;
    let like = call(
        &demo,
        ServiceType::Compute,
        Method::GET,
        &format!("/servers/{vm_bottom}"),
        Value::Null,
    )
    .await["server"]
        .clone();
    let uuid = || uuid::Uuid::new_v4().to_string();
    let orphan_name = uuid();
    let orphan = pod_server(&demo, &like, &orphan_name, Some(&orphan_name)).await;
    let own = pod_server(&demo, &like, "ops-vm", None).await;
    let unkeyed = pod_server(&demo, &like, &uuid(), None).await;
    let foreign_name = uuid();
    let foreign = pod_server(&admin, &like, &foreign_name, Some(&foreign_name)).await;
    let orphan_vol = pod_volume(&demo, &uuid()).await;
    let own_vol = pod_volume(&demo, "ops-vol").await;
    let foreign_vol = pod_volume(&admin, &uuid()).await;

    // Younger than the grace: all stay.
    let young = w.app.audit_pod_with_grace(&pod, HOUR).await.unwrap();
    assert_eq!(young.outcome, AuditOutcome::Ok);
    assert!(young.findings.orphans_deleted.is_empty(), "{young:?}");
    assert!(young.findings.ports_released.is_empty(), "{young:?}");
    assert_eq!(young.repairs, 0);

    // Past it: the orphans go, the lost server's port with it.
    let run = w.app.audit_pod_with_grace(&pod, Duration::ZERO).await.unwrap();
    assert_eq!(run.outcome, AuditOutcome::Ok, "{run:?}");
    assert_eq!(
        set(&run.findings.orphans_deleted),
        [pair("server", &orphan), pair("server", &lost_bottom), pair("volume", &orphan_vol)].into(),
        "{run:?}"
    );
    assert_eq!(run.findings.ports_released, vec![Finding::new("port", &lost_port)]);
    assert_eq!(run.repairs, 4);
    let servers = w.in_pod1("compute", "servers");
    for gone in [&orphan, &lost_bottom] {
        assert!(!servers.contains(gone), "{gone} deleted: {servers:?}");
    }
    for stays in [&vm_bottom, &own, &unkeyed, &foreign] {
        assert!(servers.contains(stays), "{stays} stays: {servers:?}");
    }
    let volumes = w.in_pod1("volume", "volumes");
    assert!(!volumes.contains(&orphan_vol), "{volumes:?}");
    for stays in [&w.bottom_of(&vol, "volume").await, &own_vol, &foreign_vol] {
        assert!(volumes.contains(stays), "{stays} stays: {volumes:?}");
    }
    let ports = w.in_pod1("network", "ports");
    assert!(!ports.contains(&lost_port_copy), "the lost server's port copy went with it");
    assert!(w.top_ports().await.iter().all(|p| p["id"] != lost_port.as_str()));
    // The gateway's own server is untouched.
    let shown = w.app.server_show(&w.demo, &vm, None).await.unwrap();
    assert_eq!(shown["status"], "ACTIVE");

    let again = w.app.audit_pod_with_grace(&pod, Duration::ZERO).await.unwrap();
    assert_eq!(again.repairs, 0, "nothing left to repair: {again:?}");
}

#[tokio::test]
async fn a_server_and_a_volume_the_pod_lost_show_as_error_until_deleted() {
    let w = world(1).await;
    let vm = w.create(w.spec("vm")).await.unwrap();
    let vol = w.volume("data").await;
    let pod = w.pod1().await;
    let admin = w.app.pod_admin_session(&pod).await.unwrap();
    let (vm_bottom, vol_bottom) =
        (w.bottom_of(&vm, "server").await, w.bottom_of(&vol, "volume").await);
    call(
        &admin,
        ServiceType::Compute,
        Method::DELETE,
        &format!("/servers/{vm_bottom}"),
        Value::Null,
    )
    .await;
    call(
        &admin,
        ServiceType::BlockStorage,
        Method::DELETE,
        &format!("/volumes/{vol_bottom}"),
        Value::Null,
    )
    .await;
    w.pods[0].control().advance();

    // The configured grace (10 minutes) does not matter: nothing is deleted.
    let run = w.app.audit_pod(&pod).await.unwrap();
    assert_eq!(run.outcome, AuditOutcome::Ok, "{run:?}");
    assert_eq!(
        run.findings.vanished_marked,
        vec![Finding::new("server", &vm), Finding::new("volume", &vol)]
    );
    assert_eq!(run.repairs, 2);
    assert!(run.findings.orphans_deleted.is_empty());

    let shown = w.app.server_show(&w.demo, &vm, None).await.unwrap();
    assert_eq!(shown["status"], "ERROR", "{shown}");
    assert!(shown["fault"]["message"].as_str().unwrap().contains("az1"), "{shown}");
    let q = ServerListQuery { limit: 50, ..Default::default() };
    let listed = w.app.server_list(&w.demo, q).await.unwrap().servers;
    let mine: Vec<&Value> = listed.iter().filter(|s| s["id"] == vm.as_str()).collect();
    assert_eq!(mine.len(), 1, "listed once: {listed:?}");
    assert_eq!(mine[0]["status"], "ERROR");
    let v = w.app.volume_show(&w.demo, &vol, None).await.unwrap();
    assert_eq!(v["status"], "error", "{v}");
    let vols = w.app.volume_list(&w.demo, false, None).await.unwrap();
    assert!(vols.iter().any(|x| x["id"] == vol.as_str() && x["status"] == "error"), "{vols:?}");

    // Recorded for admins; members may not read it.
    let recorded: PodAudit = w.app.audit_get(&w.admin, pod.pod_id).await.unwrap();
    assert_eq!(recorded, run);
    assert_eq!(w.app.audit_list(&w.admin).await.unwrap(), vec![run.clone()]);
    assert_eq!(w.app.audit_get(&w.demo, pod.pod_id).await.unwrap_err().status(), 403);

    // Still lost on the next run: listed again, not marked again.
    let again = w.app.audit_pod(&pod).await.unwrap();
    assert_eq!(again.findings.vanished_marked, run.findings.vanished_marked);
    assert_eq!(again.repairs, 0);

    // The user deletes them; nothing is left to find.
    w.app.server_delete(&w.demo, &vm).await.unwrap();
    w.app.volume_delete(&w.demo, &vol).await.unwrap();
    let after = w.app.audit_pod(&pod).await.unwrap();
    assert_eq!(after.findings, Default::default(), "{after:?}");
}

#[tokio::test]
async fn creates_in_flight_stay_and_claims_of_no_server_are_given_back() {
    let w = world(1).await;
    let (net, _) = w.network("n1", "10.82.0.0/24").await;
    let vm = w.create(w.with_networks("vm", "az1", json!([{"uuid": net}]))).await.unwrap();
    let pod = w.pod1().await;
    let demo = w.app.pod_project_session(&pod, "demo-project").await.unwrap();
    let vm_bottom = w.bottom_of(&vm, "server").await;
    let like = call(
        &demo,
        ServiceType::Compute,
        Method::GET,
        &format!("/servers/{vm_bottom}"),
        Value::Null,
    )
    .await["server"]
        .clone();

    // A create in flight: its routing (the lock) is written, the pod has
    // made the server, the routing does not say so yet.
    let flying = uuid::Uuid::new_v4().to_string();
    let lock = NewRouting {
        top_id: flying.clone(),
        bottom_id: None,
        pod_id: pod.pod_id,
        project_id: "demo-project".into(),
        resource_type: "server".into(),
    };
    w.app.store().routing_create(&lock).await.unwrap();
    let flying_bottom = pod_server(&demo, &like, &flying, Some(&flying)).await;

    // A crash between claiming ports and recording the create: a port made
    // for the server and a port of the user's, claimed for nothing.
    let ghost = uuid::Uuid::new_v4().to_string();
    let users = w
        .app
        .port_create(&w.demo, &json!({"port": {"network_id": net, "name": "mine"}}))
        .await
        .unwrap();
    let users = users["id"].as_str().unwrap().to_string();
    let nets = json!([{"uuid": net}, {"port": users}]);
    let claimed = w.app.claim_server_ports(&w.demo, &ghost, Some(&nets), &[]).await.unwrap();
    let made = claimed[0].top_port.clone();
    // A create whose job is still waiting keeps its claim.
    let waiting = uuid::Uuid::new_v4().to_string();
    w.app.claim_server_ports(&w.demo, &waiting, Some(&json!([{"uuid": net}])), &[]).await.unwrap();
    let job = NewJob {
        job_type: "server_create".into(),
        resource_key: waiting.clone(),
        resource: json!({"id": waiting}),
        project_id: "demo-project".into(),
    };
    w.app.store().job_enqueue(&job).await.unwrap();

    let young = w.app.audit_pod_with_grace(&pod, HOUR).await.unwrap();
    assert!(young.findings.ports_released.is_empty(), "{young:?}");
    let run = w.app.audit_pod_with_grace(&pod, Duration::ZERO).await.unwrap();
    assert_eq!(run.outcome, AuditOutcome::Ok, "{run:?}");
    assert!(run.findings.orphans_deleted.is_empty(), "the create in flight stays: {run:?}");
    assert_eq!(
        set(&run.findings.ports_released),
        [pair("port", &made), pair("port", &users)].into()
    );
    assert!(w.in_pod1("compute", "servers").contains(&flying_bottom));
    let ports = w.top_ports().await;
    assert!(ports.iter().all(|p| p["id"] != made.as_str()), "made for it: deleted");
    let mine = ports.iter().find(|p| p["id"] == users.as_str()).unwrap();
    assert_eq!((mine["device_id"].as_str(), mine["device_owner"].as_str()), (Some(""), Some("")));
    assert!(ports.iter().any(|p| p["device_id"] == waiting.as_str()), "its job is waiting");
    assert!(ports.iter().any(|p| p["device_id"] == vm.as_str()), "a live server's");
}

#[tokio::test]
async fn a_pod_that_is_away_gives_an_error_outcome_saying_what_was_not_done() {
    let w = world(1).await;
    let pod = w.pod1().await;
    w.pods[0].control().set_down(true);
    let run = w.app.audit_pod(&pod).await.unwrap();
    let AuditOutcome::Error { message } = &run.outcome else { panic!("{run:?}") };
    assert!(["networking", "servers", "volumes"].iter().all(|p| message.contains(p)), "{message}");
    assert_eq!(message.matches("Region Pod1").count(), 1, "said once: {message}");
    for leak in ["http://", "127.0.0.1", "secret", "sqlx"] {
        assert!(!message.contains(leak), "nothing but the admins' message: {message}");
    }
    assert_eq!(w.app.audit_get(&w.admin, pod.pod_id).await.unwrap(), run, "recorded");
}
