//! `App::network_trace`: the gateway reads each pod's Neutron as its admin,
//! builds the pods' dataplanes from what they really hold, and traces a
//! packet from a top port, answering in top IDs only.

mod common;

use common::{World, ctx, world};
use serde_json::{Value, json};

impl World {
    async fn net(&self, name: &str, cidr: &str) -> String {
        let n =
            self.app.network_create(&self.demo, &json!({"network": {"name": name}})).await.unwrap();
        let n = n["id"].as_str().unwrap().to_string();
        let body = json!({"subnet": {"network_id": n, "cidr": cidr, "ip_version": 4}});
        self.app.subnet_create(&self.demo, &body).await.unwrap();
        n
    }

    async fn server_on(&self, name: &str, az: &str, net: &str) -> String {
        let mut spec = self.spec(name);
        spec.availability_zone = Some(az.into());
        spec.networks = Some(json!([{"uuid": net}]));
        self.create(spec).await.unwrap()
    }

    async fn port_of_server(&self, server: &str) -> Value {
        let q = tricircle_core::networking::listing::ListQuery::default();
        let body = self.app.port_list(&self.demo, &q, "u").await.unwrap();
        body["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["device_id"] == server)
            .cloned()
            .expect("its port")
    }

    async fn bottom_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for kind in ["network", "subnet", "port", "shadow_port"] {
            out.extend(self.routings(kind).await.into_iter().filter_map(|r| r.bottom_id));
        }
        out
    }
}

fn ip(p: &Value) -> String {
    p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_trace_between_two_pods_follows_the_shadow_ports_in_top_ids() {
    let w = world(2).await;
    let net = w.net("wide", "10.60.0.0/24").await;
    let a = w.server_on("a", "az1", &net).await;
    let b = w.server_on("b", "az2", &net).await;
    let (pa, pb) = (w.port_of_server(&a).await, w.port_of_server(&b).await);
    let (pa_id, pb_id) = (pa["id"].as_str().unwrap(), pb["id"].as_str().unwrap());
    let bottoms = w.bottom_ids().await;
    assert!(bottoms.len() >= 6, "copies and shadows in both pods: {bottoms:?}");

    let there = w.app.network_trace(&w.admin, pa_id, ip(&pb).parse().unwrap()).await.unwrap();
    assert!(there.reachable, "{there:?}");
    assert_eq!(there.reason, None);
    assert_eq!(there.dest_port.as_deref(), Some(pb_id), "{there:?}");
    assert_eq!(there.dest_region.as_deref(), Some("Pod2"));
    assert!(there.hops.first().unwrap().starts_with(&format!("Pod1: port {pa_id}")), "{there:?}");
    assert!(there.hops.iter().any(|h| h.contains("shadow port")), "{there:?}");
    assert!(there.hops.last().unwrap().starts_with(&format!("Pod2: port {pb_id}")), "{there:?}");
    let text = format!("{there:?}");
    for b in &bottoms {
        assert!(!text.contains(b.as_str()), "bottom ID {b} leaked: {text}");
    }

    // And back.
    let back = w.app.network_trace(&w.admin, pb_id, ip(&pa).parse().unwrap()).await.unwrap();
    assert!(back.reachable, "{back:?}");
    assert_eq!(back.dest_port.as_deref(), Some(pa_id));

    // An address nobody has: not reachable, and the reason names what is missing.
    let nobody = w.app.network_trace(&w.admin, pa_id, "10.60.0.250".parse().unwrap()).await;
    let nobody = nobody.unwrap();
    assert!(!nobody.reachable, "{nobody:?}");
    assert_eq!(nobody.dest_port, None);
    let reason = nobody.reason.clone().unwrap();
    assert!(reason.contains("10.60.0.250") && reason.contains(&net), "{reason}");
    // Off the subnet, with no router: the missing piece is the router.
    let off = w.app.network_trace(&w.admin, pa_id, "192.0.2.9".parse().unwrap()).await.unwrap();
    assert!(!off.reachable);
    assert!(off.reason.unwrap().contains("no router"));
    let text = format!("{nobody:?}");
    for b in &bottoms {
        assert!(!text.contains(b.as_str()), "bottom ID {b} leaked: {text}");
    }

    // The shadow of b in Pod1 gone: Pod1 no longer knows where b is.
    let shadow = w
        .routings("shadow_port")
        .await
        .into_iter()
        .find(|r| r.top_id == pb_id)
        .and_then(|r| r.bottom_id)
        .expect("b's shadow in Pod1");
    let st = w.pods[0].control();
    assert!(st.dataplane().ports.iter().any(|p| p.id == shadow));
    let admin = tricircle_pod_client::PodRequest::new(
        tricircle_pod_client::ServiceType::Network,
        reqwest::Method::DELETE,
        format!("/v2.0/ports/{shadow}"),
    );
    let pods = w.app.store().pod_list().await.unwrap();
    let pod1 = pods.iter().find(|p| p.region_name == "Pod1").unwrap();
    w.app.pod_admin_session(pod1).await.unwrap().call(&admin).await.unwrap();
    let lost = w.app.network_trace(&w.admin, pa_id, ip(&pb).parse().unwrap()).await.unwrap();
    assert!(!lost.reachable, "{lost:?}");
    assert!(lost.reason.as_deref().unwrap().contains("no shadow port"), "{lost:?}");
}

#[tokio::test]
async fn a_trace_needs_the_admin_role_a_known_port_with_a_copy_and_answering_pods() {
    let w = world(2).await;
    let net = w.net("n", "10.61.0.0/24").await;
    let a = w.server_on("a", "az1", &net).await;
    w.server_on("b", "az2", &net).await;
    let pa = w.port_of_server(&a).await;
    let pa_id = pa["id"].as_str().unwrap();
    let to = "10.61.0.9".parse().unwrap();

    let member = ctx("u1", w.demo.auth.project_id.as_deref().unwrap(), &["member"]);
    let e = w.app.network_trace(&member, pa_id, to).await.unwrap_err();
    assert_eq!(e.status(), 403, "{e}");

    let e = w.app.network_trace(&w.admin, "no-such-port", to).await.unwrap_err();
    assert_eq!(e.status(), 404, "{e}");
    assert!(e.external_message().contains("no-such-port"), "{e}");

    let body = json!({"port": {"network_id": net, "name": "loose"}});
    let loose = w.app.port_create(&w.demo, &body).await.unwrap();
    let loose = loose["id"].as_str().unwrap();
    let e = w.app.network_trace(&w.admin, loose, to).await.unwrap_err();
    assert_eq!(e.status(), 409, "{e}");
    assert!(e.external_message().contains("not on any server"), "{e}");

    w.pods[1].control().set_down(true);
    let e = w.app.network_trace(&w.admin, pa_id, to).await.unwrap_err();
    assert_eq!(e.status(), 503, "{e}");
    assert!(e.external_message().contains("Pod2"), "{e}");
}
