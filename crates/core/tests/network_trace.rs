//! `App::network_trace`: the gateway reads each pod's Neutron as its admin,
//! builds the pods' dataplanes from what they really hold, and traces a
//! packet from a top port, answering in top IDs only.

mod common;

use common::{World, ctx, world};
use serde_json::{Value, json};
use tricircle_core::networking::trace::TraceSource;

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

fn port(id: &str) -> TraceSource {
    TraceSource::Port(id.to_string())
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

    let there =
        w.app.network_trace(&w.admin, &port(pa_id), ip(&pb).parse().unwrap()).await.unwrap();
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
    let back = w.app.network_trace(&w.admin, &port(pb_id), ip(&pa).parse().unwrap()).await.unwrap();
    assert!(back.reachable, "{back:?}");
    assert_eq!(back.dest_port.as_deref(), Some(pa_id));

    // An address nobody has: not reachable, and the reason names what is missing.
    let nobody = w.app.network_trace(&w.admin, &port(pa_id), "10.60.0.250".parse().unwrap()).await;
    let nobody = nobody.unwrap();
    assert!(!nobody.reachable, "{nobody:?}");
    assert_eq!(nobody.dest_port, None);
    let reason = nobody.reason.clone().unwrap();
    assert!(reason.contains("10.60.0.250") && reason.contains(&net), "{reason}");
    // Off the subnet, with no router: the missing piece is the router.
    let off =
        w.app.network_trace(&w.admin, &port(pa_id), "192.0.2.9".parse().unwrap()).await.unwrap();
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
    let lost = w.app.network_trace(&w.admin, &port(pa_id), ip(&pb).parse().unwrap()).await.unwrap();
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
    let e = w.app.network_trace(&member, &port(pa_id), to).await.unwrap_err();
    assert_eq!(e.status(), 403, "{e}");

    let e = w.app.network_trace(&w.admin, &port("no-such-port"), to).await.unwrap_err();
    assert_eq!(e.status(), 404, "{e}");
    assert!(e.external_message().contains("no-such-port"), "{e}");

    let body = json!({"port": {"network_id": net, "name": "loose"}});
    let loose = w.app.port_create(&w.demo, &body).await.unwrap();
    let loose = loose["id"].as_str().unwrap();
    let e = w.app.network_trace(&w.admin, &port(loose), to).await.unwrap_err();
    assert_eq!(e.status(), 409, "{e}");
    assert!(e.external_message().contains("not on any server"), "{e}");

    w.pods[1].control().set_down(true);
    let e = w.app.network_trace(&w.admin, &port(pa_id), to).await.unwrap_err();
    assert_eq!(e.status(), 503, "{e}");
    assert!(e.external_message().contains("Pod2"), "{e}");
}

impl World {
    /// `method path` on Pod1's Neutron as its admin: what an operator (or a
    /// future gateway feature) set up there directly.
    async fn pod1(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let pods = self.app.store().pod_list().await.unwrap();
        let pod1 = pods.iter().find(|p| p.region_name == "Pod1").unwrap();
        let req = tricircle_pod_client::PodRequest::new(
            tricircle_pod_client::ServiceType::Network,
            method,
            path.to_string(),
        )
        .with_body(body);
        let session = self.app.pod_admin_session(pod1).await.unwrap();
        session.call(&req).await.unwrap().json().unwrap()
    }

    /// The bottom ID of top `top_id`'s `kind` copy (`port` or `shadow_port`).
    async fn bottom_of(&self, kind: &str, top_id: &str) -> String {
        let r = self.routings(kind).await.into_iter().find(|r| r.top_id == top_id);
        r.and_then(|r| r.bottom_id).unwrap_or_else(|| panic!("{kind} copy of {top_id}"))
    }
}

#[tokio::test]
async fn north_south_through_a_gateway_and_floating_ips_in_pod1() {
    use reqwest::Method;
    let w = world(2).await;
    let net = w.net("wide", "10.62.0.0/24").await;
    let a = w.server_on("a", "az1", &net).await;
    let b = w.server_on("b", "az2", &net).await;
    let c = w.server_on("c", "az1", &net).await;
    let (pa, pb, pc) =
        (w.port_of_server(&a).await, w.port_of_server(&b).await, w.port_of_server(&c).await);
    let id = |p: &Value| p["id"].as_str().unwrap().to_string();
    let (pa_id, pb_id, pc_id) = (id(&pa), id(&pb), id(&pc));

    // Pod1: an external network, a router on the copy of `wide` with its
    // gateway there, and floating IPs for a (its copy) and b (its shadow).
    let ext = w
        .pod1(
            Method::POST,
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true}}),
        )
        .await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"subnet": {"network_id": ext, "cidr": "172.24.4.0/24", "ip_version": 4}});
    w.pod1(Method::POST, "/v2.0/subnets", body).await;
    let body = json!({"router": {"name": "edge", "external_gateway_info": {"network_id": ext}}});
    let router = w.pod1(Method::POST, "/v2.0/routers", body).await["router"].clone();
    let router_id = router["id"].as_str().unwrap().to_string();
    let gw_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    let a_bottom = w.bottom_of("port", &pa_id).await;
    let a_port = w.pod1(Method::GET, &format!("/v2.0/ports/{a_bottom}"), Value::Null).await;
    let subnet = a_port["port"]["fixed_ips"][0]["subnet_id"].clone();
    let body = json!({"subnet_id": subnet});
    w.pod1(Method::PUT, &format!("/v2.0/routers/{router_id}/add_router_interface"), body).await;
    let mut fips = Vec::new();
    for port in [a_bottom, w.bottom_of("shadow_port", &pb_id).await] {
        let body = json!({"floatingip": {"floating_network_id": ext, "port_id": port}});
        let f = w.pod1(Method::POST, "/v2.0/floatingips", body).await;
        fips.push(f["floatingip"]["floating_ip_address"].as_str().unwrap().to_string());
    }
    let bottoms = w.bottom_ids().await;
    let no_leak = |r: &tricircle_core::networking::trace::TraceReport| {
        let text = format!("{r:?}");
        for b in bottoms.iter().chain([&router_id, &ext]) {
            assert!(!text.contains(b.as_str()), "bottom ID {b} leaked: {text}");
        }
    };
    let trace = |from: TraceSource, to: &str| {
        let to = to.parse().unwrap();
        let w = &w;
        async move { w.app.network_trace(&w.admin, &from, to).await.unwrap() }
    };

    // From the outside to a's floating IP: Pod1's router, then a.
    let to_a = trace(TraceSource::Outside, &fips[0]).await;
    assert!(to_a.reachable, "{to_a:?}");
    assert_eq!(to_a.dest_port.as_deref(), Some(pa_id.as_str()));
    assert_eq!(to_a.dest_region.as_deref(), Some("Pod1"));
    let first = format!("Pod1: floating IP {} on router (pod-local) -> {}", fips[0], ip(&pa));
    assert_eq!(to_a.hops[0], first, "{to_a:?}");
    no_leak(&to_a);
    // To b's: through its shadow in Pod1, over the tunnel, to Pod2.
    let to_b = trace(TraceSource::Outside, &fips[1]).await;
    assert!(to_b.reachable, "{to_b:?}");
    assert_eq!(to_b.dest_port.as_deref(), Some(pb_id.as_str()));
    assert_eq!(to_b.dest_region.as_deref(), Some("Pod2"));
    assert!(to_b.hops.iter().any(|h| h.contains("shadow port")), "{to_b:?}");
    no_leak(&to_b);
    let none = trace(TraceSource::Outside, "172.24.4.250").await;
    assert!(!none.reachable);
    assert_eq!(none.reason.as_deref(), Some("no floating IP 172.24.4.250 in any region"));

    // Out: a leaves with its floating IP, c (none) with SNAT to the gateway.
    let out_a = trace(port(&pa_id), "8.8.8.8").await;
    assert!(out_a.reachable, "{out_a:?}");
    assert_eq!((out_a.dest_port.as_deref(), out_a.dest_region.as_deref()), (None, None));
    let last = out_a.hops.last().unwrap();
    assert!(last.ends_with(&format!("-> outside (floating IP {})", fips[0])), "{out_a:?}");
    no_leak(&out_a);
    let out_c = trace(port(&pc_id), "8.8.8.8").await;
    assert!(out_c.reachable, "{out_c:?}");
    let last = out_c.hops.last().unwrap();
    assert!(last.ends_with(&format!("-> outside (SNAT to {gw_ip})")), "{out_c:?}");
    // SNAT off on the router: c is stuck, a still gets out.
    let body =
        json!({"router": {"external_gateway_info": {"network_id": ext, "enable_snat": false}}});
    w.pod1(Method::PUT, &format!("/v2.0/routers/{router_id}"), body).await;
    let stuck = trace(port(&pc_id), "8.8.8.8").await;
    assert!(!stuck.reachable, "{stuck:?}");
    let reason = stuck.reason.clone().unwrap();
    assert!(reason.contains("SNAT disabled") && reason.contains(&ip(&pc)), "{reason}");
    no_leak(&stuck);
    assert!(trace(port(&pa_id), "8.8.8.8").await.reachable);

    let member = ctx("u1", w.demo.auth.project_id.as_deref().unwrap(), &["member"]);
    let e = w.app.network_trace(&member, &TraceSource::Outside, "8.8.8.8".parse().unwrap()).await;
    assert_eq!(e.unwrap_err().status(), 403);
}
