//! Cross-pod networking with a real region (DESIGN §4 "Network"): the real
//! region of `scripts/real-openstack` registered beside a sim pod of
//! `tricircle up`, driven with the real `openstack` CLI, and checked with
//! each pod's own admin (the real region's `real` cloud, the sim pod's
//! admin), not through the gateway:
//!
//! - one network, servers in both pods: each pod holds a shadow port of the
//!   other pod's server port (top address and MAC, the tunnel endpoint of
//!   the host the port is bound to, as that pod's L2 agent reports it), and
//!   `tricircle trace` gets across both ways;
//! - two networks joined by one router, a server on each, one per pod: each
//!   pod holds a copy of the router, joined to the other over the project's
//!   bridge network (a bridge port each, shadowed in the other pod) and
//!   routing the other pod's subnet to the other copy's bridge address, and
//!   `tricircle trace` gets across both ways;
//! - after the servers, router interfaces, router and networks are
//!   deleted, nothing the gateway made for them (networks, subnets, ports,
//!   shadow ports, routers, the bridge network) is left in either pod.
//!
//! The pod is registered with the real region's `real-tricircle` cloud: a
//! service user with roles admin and service, because Neutron lets only the
//! service role set `binding:profile`, which shadow ports carry.
//!
//! Gated on `TRICIRCLE_REAL_CLOUDS` (the real region's clouds.yaml); prints
//! "skipped" without it. `.ci/run` sets it. The tests take the real region
//! one at a time.

mod common;

use std::time::{Duration, Instant};

use common::real::{RealCleanup, add_real_pod, real_clouds, up_beside_real, wait_pod_up};
use common::{Osc, Up, ensure_cli};
use serde_json::{Value, json};

const REAL_AZ: &str = "az-real";
const SIM_AZ: &str = "az1";
/// `device_owner` of router interfaces, the bridge ports' copies included.
const ROUTER_INTERFACE: &str = "network:router_interface";

/// Held by each test for its whole run: two gateways registering the real
/// region at once would double the load on it, and one's cleanup could
/// take what the other still uses.
static REAL_REGION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `tricircle up` with one sim pod (`Pod1`, az1) and the real region as the
/// pod of az-real; the CLI as the top's demo user, as the real region's
/// admin and as the sim pod's admin.
struct CrossPod {
    // Fields drop in order: the gateway stops before the cleanup of a
    // failed test (or it might make copies again), which runs the CLI in
    // `_home` (so that goes after).
    up: Up,
    cleanup: RealCleanup,
    _home: tempfile::TempDir,
    demo: Osc,
    real: Osc,
    sim: Osc,
}

/// A top port as the top shows it, and where the pod holding it bound it.
#[derive(Clone, Debug)]
struct Placed {
    port_id: String,
    ip: String,
    mac: String,
    /// The pod's copy of the top network, where the port is.
    bottom_network_id: String,
    /// The compute host the pod bound its copy of the port to.
    host: String,
    /// That host's tunnel endpoint, from the pod itself.
    tunnel_ip: String,
}

impl CrossPod {
    async fn start() -> Option<CrossPod> {
        let real_clouds = real_clouds()?;
        let exe = tokio::task::spawn_blocking(ensure_cli).await.expect("ensure cli")?;
        let up = tokio::task::spawn_blocking(|| up_beside_real(1)).await.expect("up");
        let home = tempfile::tempdir().expect("home");
        let demo = Osc::new(&exe, &up.clouds_file(), "tricircle-demo", home.path());
        let real = Osc::new(&exe, &real_clouds, "real", home.path());
        let sim = Osc::new(&exe, &up.sim_clouds_file(), "pod1", home.path());
        add_real_pod(&up, &real_clouds, "real-tricircle", REAL_AZ);
        let (token, image) =
            tokio::join!(demo.json(&["token", "issue"]), demo.json(&["image", "show", "cirros"]));
        let cleanup = RealCleanup {
            exe: exe.clone(),
            clouds: real_clouds.clone(),
            home: home.path().to_path_buf(),
            project: format!("tc-{}", token["project_id"].as_str().expect("project_id")),
            image: format!("tc-{}", image["id"].as_str().expect("image id")),
            done: false,
        };
        tokio::task::block_in_place(|| wait_pod_up(&up, REAL_AZ));
        Some(CrossPod { up, cleanup, _home: home, demo, real, sim })
    }

    /// The admin CLI of the pod of `az`.
    fn pod(&self, az: &str) -> &Osc {
        if az == REAL_AZ { &self.real } else { &self.sim }
    }

    /// A top network with one subnet; returns the network's ID.
    async fn network(&self, name: &str, cidr: &str) -> String {
        let net = self.demo.json(&["network", "create", name]).await;
        let sub_name = format!("{name}-sub");
        let sub = self
            .demo
            .json(&["subnet", "create", "--network", name, "--subnet-range", cidr, &sub_name])
            .await;
        assert_eq!(sub["cidr"], cidr, "{sub}");
        net["id"].as_str().expect("network id").to_string()
    }

    /// Servers booted at once, each `(name, az, network)`; all ACTIVE in their AZ.
    async fn boot(&self, servers: &[(&str, &str, &str)]) -> Vec<Value> {
        let boots = servers.iter().map(|(name, az, net)| async move {
            let s = self
                .demo
                .json(&[
                    "server",
                    "create",
                    "--flavor",
                    "m1.tiny",
                    "--image",
                    "cirros",
                    "--availability-zone",
                    az,
                    "--network",
                    net,
                    "--wait",
                    name,
                ])
                .await;
            assert_eq!(s["status"], "ACTIVE", "{s}");
            assert_eq!(s["OS-EXT-AZ:availability_zone"], *az, "{s}");
            s
        });
        futures::future::join_all(boots).await
    }

    /// The server's one top port, and where the pod of `az` bound its copy
    /// (found by name: the pod's copy is named after the top port's ID).
    async fn placed(&self, server: &Value, az: &str, network: &str) -> Placed {
        let id = server["id"].as_str().expect("server id");
        let ip = server["addresses"][network][0].as_str().unwrap_or_default().to_string();
        let ports = self.demo.json(&["port", "list", "--server", id, "--long"]).await;
        assert_eq!(ports.as_array().map(Vec::len), Some(1), "{ports}");
        let port_id = ports[0]["ID"].as_str().unwrap().to_string();
        let mac = ports[0]["MAC Address"].as_str().unwrap().to_string();
        let copy = self.pod(az).json(&["port", "show", &port_id]).await;
        assert_eq!(copy["mac_address"], mac.as_str(), "the pod's copy keeps the MAC: {copy}");
        assert!(copy["fixed_ips"].to_string().contains(&ip), "and the address: {copy}");
        let host = copy["binding_host_id"].as_str().unwrap_or_default().to_string();
        assert!(!host.is_empty(), "the pod bound the server's port: {copy}");
        let tunnel_ip = self.tunnel_ip(az, &host).await;
        let bottom_network_id = copy["network_id"].as_str().unwrap().to_string();
        Placed { port_id, ip, mac, bottom_network_id, host, tunnel_ip }
    }

    /// The tunnel endpoint of a pod's host, as the pod knows it: the real
    /// region's Open vSwitch agent of that host, the sim pod's host list.
    async fn tunnel_ip(&self, az: &str, host: &str) -> String {
        if az == REAL_AZ {
            let agents = self.real.json(&["network", "agent", "list", "--host", host]).await;
            let ovs = agents
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["Agent Type"] == "Open vSwitch agent")
                .unwrap_or_else(|| panic!("no Open vSwitch agent on {host}: {agents}"));
            assert_eq!(ovs["Alive"], true, "{ovs}");
            let id = ovs["ID"].as_str().unwrap();
            let agent = self.real.json(&["network", "agent", "show", id]).await;
            agent["configuration"]["tunneling_ip"].as_str().expect("tunneling_ip").to_string()
        } else {
            let url = format!("http://127.0.0.1:{}/sim", self.up.port + 1);
            let info: Value =
                reqwest::get(&url).await.expect("GET /sim").json().await.expect("/sim json");
            let h = info["hosts"].as_array().unwrap().iter().find(|h| h["name"] == host);
            let h = h.unwrap_or_else(|| panic!("{host} is no host of the sim pod: {info}"));
            h["tunnel_ip"].as_str().unwrap().to_string()
        }
    }

    /// The shadow port of `port` in the pod of `az` (polled: shadows are
    /// made in the background once servers are ACTIVE); it must be on
    /// `network` (that pod's copy), carry the top port's address and MAC and
    /// point at its host's tunnel endpoint.
    async fn shadow_of(&self, port: &Placed, az: &str, network: &str) -> Value {
        let osc = self.pod(az);
        let name = format!("shadow-{}", port.port_id);
        let deadline = Instant::now() + Duration::from_secs(30);
        let id = loop {
            let found = osc.json(&["port", "list", "--name", &name]).await;
            if let Some(id) = found[0]["ID"].as_str() {
                break id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no shadow of {} ({} on {}) in {az}\n--- gateway log ---\n{}",
                port.port_id,
                port.ip,
                port.host,
                self.up.log_tail(40)
            );
        };
        let shadow = osc.json(&["port", "show", &id]).await;
        assert_eq!(shadow["device_owner"], "compute:shadow", "{shadow}");
        assert_eq!(shadow["network_id"], network, "on the pod's copy of the network: {shadow}");
        assert_eq!(shadow["mac_address"], port.mac.as_str(), "{shadow}");
        let ips: Vec<&str> = shadow["fixed_ips"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["ip_address"].as_str())
            .collect();
        assert_eq!(ips, [port.ip.as_str()], "{shadow}");
        assert_eq!(shadow["binding_profile"]["type"], "shadow", "{shadow}");
        assert_eq!(
            shadow["binding_profile"]["tunnel_ip"],
            port.tunnel_ip.as_str(),
            "the shadow points at the tunnel endpoint of {}: {shadow}",
            port.host
        );
        shadow
    }

    /// `tricircle trace --from-port FROM --to IP` (the real binary) until it
    /// exits 0, within a deadline; returns its verdict.
    fn trace_reaches(&self, from: &Placed, to: &Placed) -> Value {
        let args = ["trace", "--from-port", &from.port_id, "--to", &to.ip, "-f", "json"];
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut out = self.up.admin_cli(&args);
        while out.status.code() != Some(0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(300));
            out = self.up.admin_cli(&args);
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "trace {} -> {}: {stdout}{}",
            from.ip,
            to.ip,
            String::from_utf8_lossy(&out.stderr)
        );
        let verdict: Value = serde_json::from_str(&stdout).expect("trace json");
        assert_eq!(verdict["reachable"], true, "{verdict}");
        assert_eq!(verdict["dest_port"], to.port_id.as_str(), "{verdict}");
        verdict
    }

    /// A port of the pod of `az` as [`Placed`] (`port` as `port show`
    /// prints it; its name is the top port's ID, as for every copy).
    async fn placed_copy(&self, az: &str, port: &Value) -> Placed {
        let host = port["binding_host_id"].as_str().unwrap_or_default().to_string();
        assert!(!host.is_empty(), "the gateway bound the port to a host: {port}");
        Placed {
            port_id: port["name"].as_str().unwrap().to_string(),
            ip: ips_of(port)[0].clone(),
            mac: port["mac_address"].as_str().unwrap().to_string(),
            bottom_network_id: port["network_id"].as_str().unwrap().to_string(),
            tunnel_ip: self.tunnel_ip(az, &host).await,
            host,
        }
    }

    /// The copy of the top router `router` in the pod of `az` (named after
    /// its ID), polled until it has an interface on `network` (the pod's
    /// copy of one of the router's networks), one on the project's bridge
    /// network, and a route to `remote` (a subnet only the other pod holds).
    async fn joined_copy(&self, az: &str, router: &str, network: &str, remote: &str) -> Joined {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let last = match self.copy_now(az, router, network, remote).await {
                Ok(joined) => return joined,
                Err(seen) => seen,
            };
            assert!(
                Instant::now() < deadline,
                "the copy of router {router} in {az} is not joined: {last}\n--- gateway log ---\n{}",
                self.up.log_tail(40)
            );
        }
    }

    /// One look at [`Self::joined_copy`]; what was seen when not joined yet.
    async fn copy_now(
        &self,
        az: &str,
        router: &str,
        network: &str,
        remote: &str,
    ) -> Result<Joined, Value> {
        let osc = self.pod(az);
        let found = osc.json(&["router", "list", "--name", router]).await;
        let Some(id) = found[0]["ID"].as_str() else { return Err(found) };
        let copy = osc.json(&["router", "show", id]).await;
        let ports = osc.json(&["port", "list", "--router", id]).await;
        let (mut local, mut bridge) = (None, None);
        for p in ports.as_array().unwrap() {
            let port = osc.json(&["port", "show", p["ID"].as_str().unwrap()]).await;
            if port["network_id"] == network {
                local = Some(port);
            } else if ips_of(&port).iter().any(|ip| in_bridge_cidr(ip)) {
                bridge = Some(port);
            }
        }
        let routes = copy["routes"].as_array().cloned().unwrap_or_default();
        let (Some(local), Some(bridge)) = (local, bridge) else {
            return Err(json!({"router": copy, "ports": ports}));
        };
        if !routes.iter().any(|r| r["destination"] == remote) {
            return Err(copy);
        }
        for port in [&local, &bridge] {
            assert_eq!(port["device_owner"], ROUTER_INTERFACE, "{port}");
        }
        let bridge_ip = ips_of(&bridge).into_iter().find(|ip| in_bridge_cidr(ip)).unwrap();
        Ok(Joined { routes, bridge, bridge_ip })
    }

    /// Nothing of `made` is left in the pod of `az`.
    async fn nothing_left(&self, az: &str, made: &Made) {
        for (kind, name) in &made.0 {
            let left = self.pod(az).json(&[kind, "list", "--name", name]).await;
            assert_eq!(left, json!([]), "{kind} {name} left in {az}");
        }
    }
}

/// The addresses of a port as `port show` prints it.
fn ips_of(port: &Value) -> Vec<String> {
    let ips = port["fixed_ips"].as_array().into_iter().flatten();
    ips.filter_map(|f| f["ip_address"].as_str()).map(str::to_string).collect()
}

/// Whether an address is in the gateway's bridge CIDR (the default
/// `networking.bridge_cidr`, 100.64.0.0/16).
fn in_bridge_cidr(ip: &str) -> bool {
    ip.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.octets()[..2] == [100, 64])
}

/// A router's copy in one pod, joined to its copies in other pods.
struct Joined {
    routes: Vec<Value>,
    /// The copy's interface on its pod's copy of the bridge network.
    bridge: Value,
    bridge_ip: String,
}

/// What the gateway makes in a pod for top objects, by the names it gives
/// them there: a copy is named after the top ID, a port's shadow
/// `shadow-<top port ID>`.
#[derive(Default)]
struct Made(Vec<(&'static str, String)>);

impl Made {
    fn network(mut self, id: &str) -> Made {
        self.0.push(("network", id.into()));
        self
    }

    fn subnet(mut self, id: &str) -> Made {
        self.0.push(("subnet", id.into()));
        self
    }

    fn router(mut self, id: &str) -> Made {
        self.0.push(("router", id.into()));
        self
    }

    /// The port's copy and its shadow.
    fn port(mut self, id: &str) -> Made {
        self.0.push(("port", id.into()));
        self.0.push(("port", format!("shadow-{id}")));
        self
    }
}

/// Scenario 1 and 6 of the cross-pod networking plan: one network, a
/// server in the real region and one in the sim pod reach each other
/// through shadow ports; deleting the servers and the network leaves
/// nothing behind in either pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_of_a_real_and_a_sim_pod_reach_each_other_on_one_network() {
    let _one_at_a_time = REAL_REGION.lock().await;
    let Some(mut t) = CrossPod::start().await else {
        return;
    };
    let net_id = t.network("l2-net", "10.41.0.0/24").await;
    let servers = t.boot(&[("l2-real", REAL_AZ, "l2-net"), ("l2-sim", SIM_AZ, "l2-net")]).await;
    let (real_port, sim_port) = tokio::join!(
        t.placed(&servers[0], REAL_AZ, "l2-net"),
        t.placed(&servers[1], SIM_AZ, "l2-net")
    );
    assert_ne!(real_port.tunnel_ip, sim_port.tunnel_ip, "{real_port:?} {sim_port:?}");

    // Each pod holds a shadow of the other's server port, on its own copy
    // of the network.
    tokio::join!(
        t.shadow_of(&sim_port, REAL_AZ, &real_port.bottom_network_id),
        t.shadow_of(&real_port, SIM_AZ, &sim_port.bottom_network_id)
    );

    // The gateway's trace, from the pods' own state, gets across both ways.
    let there = tokio::task::block_in_place(|| t.trace_reaches(&sim_port, &real_port));
    let back = tokio::task::block_in_place(|| t.trace_reaches(&real_port, &sim_port));
    for (verdict, tunnel) in [(&there, &real_port.tunnel_ip), (&back, &sim_port.tunnel_ip)] {
        assert!(verdict["hops"].to_string().contains(tunnel.as_str()), "{verdict}");
    }
    assert_eq!(there["dest_region"], "RegionOne", "{there}");
    assert_eq!(back["dest_region"], "Pod1", "{back}");

    // Scenario 6: servers, then the network (with its subnet) deleted at the
    // top; the pods keep nothing of them.
    let subnet = t.demo.json(&["subnet", "show", "l2-net-sub"]).await;
    let subnet_id = subnet["id"].as_str().unwrap().to_string();
    let ids: Vec<&str> = servers.iter().map(|s| s["id"].as_str().unwrap()).collect();
    t.demo.ok(&[&["server", "delete", "--wait"][..], &ids].concat()).await;
    t.demo.ok(&["network", "delete", &net_id]).await;
    assert_eq!(t.demo.json(&["network", "list", "--name", "l2-net"]).await, json!([]));
    let made = Made::default()
        .network(&net_id)
        .subnet(&subnet_id)
        .port(&real_port.port_id)
        .port(&sim_port.port_id);
    tokio::join!(t.nothing_left(REAL_AZ, &made), t.nothing_left(SIM_AZ, &made));
    // And the real region's bottom project holds no network, subnet or port.
    let project = t.cleanup.project.clone();
    for kind in ["network", "subnet", "port", "router"] {
        let left = t.real.json(&[kind, "list", "--project", &project]).await;
        assert_eq!(left, json!([]), "{kind}s left in {project}");
    }

    let problems = tokio::task::block_in_place(|| t.cleanup.run());
    assert!(problems.is_empty(), "cleanup of the real region: {problems:?}");
}

/// Scenario 2 and 6 of the cross-pod networking plan: two networks joined
/// by one router, a server on the first in the real region and one on the
/// second in the sim pod. Each pod gets a copy of the router, joined over
/// the project's bridge network and routing the other pod's subnet to the
/// other copy; the servers reach each other. Deleting the servers, the
/// router's interfaces, the router and the networks leaves nothing behind
/// in either pod, the bridge network included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_of_a_real_and_a_sim_pod_reach_each_other_through_one_router() {
    let _one_at_a_time = REAL_REGION.lock().await;
    let Some(mut t) = CrossPod::start().await else {
        return;
    };
    let (cidr1, cidr2) = ("10.91.1.0/24", "10.91.2.0/24");
    let (net1, net2) = tokio::join!(t.network("l3-net1", cidr1), t.network("l3-net2", cidr2));
    let router = t.demo.json(&["router", "create", "l3-router"]).await;
    let router_id = router["id"].as_str().expect("router id").to_string();
    for subnet in ["l3-net1-sub", "l3-net2-sub"] {
        t.demo.ok(&["router", "add", "subnet", &router_id, subnet]).await;
    }
    let interfaces = t.demo.json(&["port", "list", "--router", &router_id]).await;
    assert_eq!(interfaces.as_array().map(Vec::len), Some(2), "{interfaces}");
    let servers = t.boot(&[("l3-real", REAL_AZ, "l3-net1"), ("l3-sim", SIM_AZ, "l3-net2")]).await;
    let (real_port, sim_port) = tokio::join!(
        t.placed(&servers[0], REAL_AZ, "l3-net1"),
        t.placed(&servers[1], SIM_AZ, "l3-net2")
    );

    // Each pod's copy of the router: on the pod's copy of its own network
    // and on the bridge network, routing the other pod's subnet to the
    // other copy's bridge address.
    let (real, sim) = tokio::join!(
        t.joined_copy(REAL_AZ, &router_id, &real_port.bottom_network_id, cidr2),
        t.joined_copy(SIM_AZ, &router_id, &sim_port.bottom_network_id, cidr1)
    );
    assert!(
        real.routes.contains(&json!({"destination": cidr2, "nexthop": sim.bridge_ip})),
        "the real copy routes {cidr2} to the sim copy ({}): {:?}",
        sim.bridge_ip,
        real.routes
    );
    assert!(
        sim.routes.contains(&json!({"destination": cidr1, "nexthop": real.bridge_ip})),
        "the sim copy routes {cidr1} to the real copy ({}): {:?}",
        real.bridge_ip,
        sim.routes
    );
    assert_ne!(real.bridge_ip, sim.bridge_ip);

    // Each pod holds a shadow of the other copy's bridge port, on its own
    // copy of the bridge network, pointing at the other pod's network host.
    let (real_bridge, sim_bridge) =
        tokio::join!(t.placed_copy(REAL_AZ, &real.bridge), t.placed_copy(SIM_AZ, &sim.bridge));
    assert_ne!(real_bridge.port_id, sim_bridge.port_id, "a top bridge port per pod");
    tokio::join!(
        t.shadow_of(&sim_bridge, REAL_AZ, &real_bridge.bottom_network_id),
        t.shadow_of(&real_bridge, SIM_AZ, &sim_bridge.bottom_network_id)
    );

    // The gateway's trace gets across both ways, by those routes.
    let there = tokio::task::block_in_place(|| t.trace_reaches(&sim_port, &real_port));
    let back = tokio::task::block_in_place(|| t.trace_reaches(&real_port, &sim_port));
    let hops = |v: &Value| v["hops"].to_string();
    assert!(hops(&there).contains(&format!("route {cidr1} via {}", real.bridge_ip)), "{there}");
    assert!(hops(&back).contains(&format!("route {cidr2} via {}", sim.bridge_ip)), "{back}");
    assert_eq!(there["dest_region"], "RegionOne", "{there}");
    assert_eq!(back["dest_region"], "Pod1", "{back}");

    // Scenario 6: servers, the router's interfaces, the router, then the
    // networks deleted at the top; the pods keep nothing of them.
    let mut made = Made::default()
        .network(&net1)
        .network(&net2)
        .port(&real_port.port_id)
        .port(&sim_port.port_id)
        .router(&router_id)
        // The bridge ports, and the bridge network's copies (named after
        // the top bridge network, which the project does not see).
        .port(&real_bridge.port_id)
        .port(&sim_bridge.port_id);
    let real_net = ["network", "show", &real_bridge.bottom_network_id];
    let sim_net = ["network", "show", &sim_bridge.bottom_network_id];
    let (real_net, sim_net) = tokio::join!(t.real.json(&real_net), t.sim.json(&sim_net));
    assert_eq!(real_net["name"], sim_net["name"], "copies of one top bridge network");
    made = made.network(real_net["name"].as_str().expect("bridge network name"));
    for subnet in ["l3-net1-sub", "l3-net2-sub"] {
        let s = t.demo.json(&["subnet", "show", subnet]).await;
        made = made.subnet(s["id"].as_str().unwrap());
    }
    for iface in interfaces.as_array().unwrap() {
        made = made.port(iface["ID"].as_str().unwrap());
    }
    let ids: Vec<&str> = servers.iter().map(|s| s["id"].as_str().unwrap()).collect();
    t.demo.ok(&[&["server", "delete", "--wait"][..], &ids].concat()).await;
    for subnet in ["l3-net1-sub", "l3-net2-sub"] {
        t.demo.ok(&["router", "remove", "subnet", &router_id, subnet]).await;
    }
    t.demo.ok(&["router", "delete", &router_id]).await;
    t.demo.ok(&["network", "delete", &net1, &net2]).await;
    assert_eq!(t.demo.json(&["router", "list", "--name", "l3-router"]).await, json!([]));
    tokio::join!(t.nothing_left(REAL_AZ, &made), t.nothing_left(SIM_AZ, &made));
    let project = t.cleanup.project.clone();
    for kind in ["network", "subnet", "port", "router"] {
        let left = t.real.json(&[kind, "list", "--project", &project]).await;
        assert_eq!(left, json!([]), "{kind}s left in {project}");
    }

    let problems = tokio::task::block_in_place(|| t.cleanup.run());
    assert!(problems.is_empty(), "cleanup of the real region: {problems:?}");
}
