//! Sessions with pods: a project mapped into a pod is remembered, so later
//! requests of that project cost neither a pod call nor a routing lookup.

use tricircle_common::{AuthContext, RequestContext, RequestId};
use tricircle_core::identity::bootstrap::bootstrap;
use tricircle_core::pods::{IdentityMode, PodCredentials, PodSpec};
use tricircle_core::{App, SecretBox, Settings};
use tricircle_sim_pod::SimPodConfig;
use tricircle_store::testing::TestDb;

#[tokio::test]
async fn a_mapped_project_is_remembered() {
    let db = TestDb::sqlite().await;
    let b = bootstrap(&db.store, "pw").await.unwrap();
    let app = App::new(db.store.clone(), SecretBox::from_key([5; 32]), Settings::new(100));
    let admin = RequestContext {
        request_id: RequestId::new(),
        auth: AuthContext {
            user_id: b.admin_user_id.clone(),
            user_name: "admin".into(),
            project_id: Some(b.admin_project_id.clone()),
            roles: vec!["admin".into()],
        },
    };
    let sim = tricircle_sim_pod::start(SimPodConfig::for_tests("Pod1")).await.unwrap();
    let spec = PodSpec {
        region_name: "Pod1".into(),
        az_name: Some("az1".into()),
        auth_url: Some(sim.auth_url()),
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
    let info = app.pod_create(&admin, spec).await.unwrap();
    let pod = db.store.pod_get(info.pod.pod_id).await.unwrap().unwrap();

    let first = app.pod_project_session(&pod, "top-project").await.unwrap();
    let routing =
        db.store.routing_find("top-project", "project", pod.pod_id).await.unwrap().unwrap();
    let bottom = routing.bottom_id.clone().unwrap();
    assert_eq!(first.project_id().await.unwrap(), bottom, "scoped to the mapped project");

    // The routing row is no longer read: even without it, the next session
    // comes from memory, with no call to the pod's Keystone.
    sim.control().reset_counters();
    db.store.routing_delete(routing.id).await.unwrap();
    let again = app.pod_project_session(&pod, "top-project").await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    let identity_calls: u64 = sim
        .control()
        .counters()
        .iter()
        .filter(|(k, _)| k.starts_with("identity."))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(identity_calls, 0);
    assert!(db.store.routing_find("top-project", "project", pod.pod_id).await.unwrap().is_none());

    // Another app (a restarted gateway) maps again and finds the same
    // bottom project by its derived name.
    let fresh = App::new(db.store.clone(), SecretBox::from_key([5; 32]), Settings::new(100));
    let s = fresh.pod_project_session(&pod, "top-project").await.unwrap();
    assert_eq!(s.project_id().await.unwrap(), bottom);
    sim.shutdown().await;
    db.cleanup().await;
}
