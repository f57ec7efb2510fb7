//! A copy in a pod is made once, however many ask for it at the same time:
//! servers booted together in one pod, on a network and with a security
//! group the pod has no copy of yet, share one copy of each (a pod accepts
//! two security groups of one name, so a second maker made a twin).

mod common;

use common::{objects, world};
use serde_json::json;

#[tokio::test]
async fn servers_booted_at_once_share_one_copy_of_their_network_and_group() {
    let w = world(1).await;
    let (net, _) = w.network("n", "10.61.0.0/24").await;
    let web =
        w.app.security_group_create(&w.demo, &json!({"security_group": {"name": "web"}})).await;
    let web = web.unwrap()["id"].as_str().unwrap().to_string();
    // A slow group create in the pod: the window in which a second maker
    // finds no copy by name and makes its own.
    w.pods[0].control().add_fault(tricircle_sim_pod::FaultRule::latency(
        "network.security_group_create",
        std::time::Duration::from_millis(300),
    ));
    let boots = (0..6).map(|i| {
        let mut spec = w.with_networks(&format!("vm{i}"), "az1", json!([{"uuid": net}]));
        spec.security_groups = vec!["web".into()];
        w.create(spec)
    });
    for made in futures::future::join_all(boots).await {
        made.expect("server create");
    }
    let state = w.pod_state(0);
    let named = |kind: &str, name: &str| {
        objects(&state, "network", kind).iter().filter(|o| o["name"] == name).count()
    };
    assert_eq!(named("security_groups", &web), 1, "one copy of the group");
    assert_eq!(named("networks", &net), 1, "one copy of the network");
}
