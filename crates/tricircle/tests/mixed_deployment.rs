//! Mixed deployment (issue 6): a real OpenStack region (`scripts/real-openstack`)
//! registered beside two sim pods of `tricircle up`, driven with the real
//! `openstack` CLI: servers in the real pod's AZ and in the sim pods' AZs,
//! one merged list (and pages across real and simulated pods), a volume
//! attached in the real pod (refused across pods), everything deleted, and
//! nothing left in the real region, checked with the real cloud's own admin
//! credentials. The bottom project `tc-<top project>` and the copied image
//! `tc-<top image>` are removed from the real region at the end, also when
//! the test fails, so repeated CI runs do not accumulate.
//!
//! Gated on `TRICIRCLE_REAL_CLOUDS` (the real region's clouds.yaml: the pod
//! is registered with cloud `real-tricircle`, checks use cloud `real`);
//! prints "skipped" without it. `.ci/run` sets it. The setup is shared with
//! the other real-region tests (`common::real`).

mod common;

use std::time::{Duration, Instant};

use common::real::{
    RealCleanup, add_real_pod, real_clouds, real_list_empties, up_beside_real, wait_pod_up,
};
use common::{Osc, ensure_cli, ids};
use serde_json::{Value, json};

fn rid_of(server: &Value) -> String {
    server["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_region_beside_two_sim_pods() {
    let Some(real_clouds) = real_clouds() else {
        return;
    };
    let Some(exe) = tokio::task::spawn_blocking(ensure_cli).await.expect("ensure cli") else {
        return;
    };
    let up = tokio::task::spawn_blocking(|| up_beside_real(2)).await.expect("up");
    let home = tempfile::tempdir().expect("home");
    let demo = Osc::new(&exe, &up.clouds_file(), "tricircle-demo", home.path());
    let real = Osc::new(&exe, &real_clouds, "real", home.path());

    // Register the real region as the pod of az-real, as its service user
    // (shadow ports need the service role there).
    add_real_pod(&up, &real_clouds, "real-tricircle", "az-real");

    // What the gateway will create in the real region, for the cleanup.
    let (token, image) =
        tokio::join!(demo.json(&["token", "issue"]), demo.json(&["image", "show", "cirros"]));
    let top_project = token["project_id"].as_str().expect("project_id").to_string();
    let mut cleanup = RealCleanup {
        exe: exe.clone(),
        clouds: real_clouds.clone(),
        home: home.path().to_path_buf(),
        project: format!("tc-{top_project}"),
        image: format!("tc-{}", image["id"].as_str().expect("image id")),
        done: false,
    };
    tokio::task::block_in_place(|| wait_pod_up(&up, "az-real"));

    // A top network: the real region gets its network, subnet and port.
    demo.json(&["network", "create", "mixed-net"]).await;
    let sub = demo
        .json(&[
            "subnet",
            "create",
            "--network",
            "mixed-net",
            "--subnet-range",
            "10.40.0.0/24",
            "mixed-sub",
        ])
        .await;
    assert_eq!(sub["cidr"], "10.40.0.0/24", "{sub}");

    // Servers in the real pod and in both sim pods, on the network, and a
    // volume in the real pod, all at once.
    let create = |name: &'static str, az: &'static str| {
        let demo = demo.clone();
        async move {
            demo.json(&[
                "server",
                "create",
                "--flavor",
                "m1.tiny",
                "--image",
                "cirros",
                "--availability-zone",
                az,
                "--network",
                "mixed-net",
                "--wait",
                name,
            ])
            .await
        }
    };
    let (r, s1, s2, vol) = tokio::join!(
        create("mixed-real", "az-real"),
        create("mixed-1", "az1"),
        create("mixed-2", "az2"),
        demo.json(&[
            "volume",
            "create",
            "--size",
            "1",
            "--availability-zone",
            "az-real",
            "mixed-vol"
        ]),
    );
    for (s, az) in [(&r, "az-real"), (&s1, "az1"), (&s2, "az2")] {
        assert_eq!(s["status"], "ACTIVE", "{s}");
        assert_eq!(s["OS-EXT-AZ:availability_zone"], az, "{s}");
    }
    let (rid, id1, id2) = (
        r["id"].as_str().unwrap().to_string(),
        s1["id"].as_str().unwrap().to_string(),
        s2["id"].as_str().unwrap().to_string(),
    );
    let vid = vol["id"].as_str().unwrap().to_string();
    assert_eq!(vol["availability_zone"], "az-real", "{vol}");

    // The real Neutron holds the server's port with the top's address and
    // MAC, on a network named after the top network with its VXLAN ID.
    let top_ip = r["addresses"]["mixed-net"][0].as_str().unwrap_or_default().to_string();
    assert!(top_ip.starts_with("10.40.0."), "{r}");
    let top_ports = demo.json(&["port", "list", "--server", &rid_of(&r), "--long"]).await;
    let top_mac = top_ports[0]["MAC Address"].as_str().unwrap_or_default().to_string();
    let real_ports = real.json(&["port", "list", "--project", &cleanup.project, "--long"]).await;
    let real_port = real_ports
        .as_array()
        .and_then(|a| a.iter().find(|p| p["MAC Address"] == top_mac.as_str()))
        .unwrap_or_else(|| panic!("no port with {top_mac} in the real region: {real_ports}"));
    assert!(real_port["Fixed IP Addresses"].to_string().contains(&top_ip), "{real_port}");
    let real_nets = real.json(&["network", "list", "--project", &cleanup.project, "--long"]).await;
    assert_eq!(real_nets.as_array().map(Vec::len), Some(1), "{real_nets}");

    // One merged list over the real and the simulated pods, and pages of 2
    // across them; the real region holds the server under the top ID's name.
    let real_servers =
        ["server", "list", "--all-projects", "--project", cleanup.project.as_str(), "--long"];
    let (long, page1, in_real) = tokio::join!(
        demo.json(&["server", "list", "--long"]),
        demo.json(&["server", "list", "--limit", "2"]),
        real.json(&real_servers),
    );
    let rows = long.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{long}");
    for row in rows {
        let id = row["ID"].as_str().unwrap();
        let want = if id == rid {
            "az-real"
        } else if id == id1 {
            "az1"
        } else {
            assert_eq!(id, id2);
            "az2"
        };
        assert_eq!(row["Availability Zone"], want, "{row}");
        assert_eq!(row["Status"], "ACTIVE", "{row}");
    }
    let full = ids(&long);
    let page1 = ids(&page1);
    assert_eq!(page1.len(), 2, "{page1:?}");
    let page2 = ids(&demo.json(&["server", "list", "--limit", "2", "--marker", &page1[1]]).await);
    assert_eq!([page1, page2].concat(), full, "pages of 2 over real and sim pods");
    let in_real = in_real.as_array().unwrap().clone();
    assert_eq!(in_real.len(), 1, "one server in the real region: {in_real:?}");
    assert_eq!(in_real[0]["Name"], rid.as_str(), "the bottom server is named after the top ID");
    assert_eq!(in_real[0]["Status"], "ACTIVE");

    // The volume: refused by a sim pod's server, attached to the real one.
    demo.wait(&["volume"], &vid, "status", "available").await;
    let err = demo.fails(&["server", "add", "volume", &id1, &vid]).await;
    assert!(err.contains("409") && err.contains("az-real") && err.contains("az1"), "{err}");
    demo.ok(&["server", "add", "volume", &rid, &vid]).await;
    let v = demo.wait(&["volume"], &vid, "status", "in-use").await;
    assert_eq!(v["attachments"][0]["server_id"], rid.as_str(), "{v}");
    let bottom = real
        .json(&["volume", "list", "--all-projects", "--project", &cleanup.project, "--long"])
        .await;
    assert_eq!(bottom.as_array().map(Vec::len), Some(1), "{bottom}");
    assert_eq!(bottom[0]["Status"], "in-use", "attached in the real region: {bottom}");

    // Detach, delete everything.
    demo.ok(&["server", "remove", "volume", &rid, &vid]).await;
    demo.wait(&["volume"], &vid, "status", "available").await;
    let delete_servers = ["server", "delete", "--wait", rid.as_str(), id1.as_str(), id2.as_str()];
    let delete_volume = ["volume", "delete", vid.as_str()];
    let (deleted, _) = tokio::join!(demo.run(&delete_servers), demo.ok(&delete_volume));
    assert!(deleted.0, "server delete: {}\n--- gateway log ---\n{}", deleted.2, up.log_tail(60));
    let (servers, _) = tokio::join!(demo.json(&["server", "list"]), async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while demo.json(&["volume", "list"]).await != json!([]) {
            assert!(Instant::now() < deadline, "the volume never went");
        }
    });
    assert_eq!(servers, json!([]), "{servers}");

    // Nothing is left in the real region (asked with its own credentials),
    // no port either (the network and subnet stay for the next server).
    tokio::join!(
        real_list_empties(&real, "server", &cleanup.project),
        real_list_empties(&real, "volume", &cleanup.project),
    );
    let ports = real.json(&["port", "list", "--project", &cleanup.project]).await;
    assert_eq!(ports, json!([]), "{ports}");

    // Remove the bottom project and the copied image; check they are gone.
    let problems = tokio::task::block_in_place(|| cleanup.run());
    assert!(problems.is_empty(), "cleanup of the real region: {problems:?}");
    let projects = real.json(&["project", "list"]).await;
    assert!(
        !projects.as_array().unwrap().iter().any(|p| p["Name"] == cleanup.project.as_str()),
        "{projects}"
    );
    let images = real.json(&["image", "list", "--name", &cleanup.image]).await;
    assert_eq!(images, json!([]), "{images}");
}
