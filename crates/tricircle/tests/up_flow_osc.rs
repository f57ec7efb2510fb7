//! Issue 6's acceptance flow with the real `openstack` CLI
//! (python-openstackclient 10.5) against the real `tricircle up`: servers in
//! az1, az2, az3 and without an AZ, one merged and sorted `server list`,
//! paging with `--limit`/`--marker` (no duplicate, no gap), show, rename,
//! a volume attached (and refused with 409 across pods), reboot,
//! stop/start, resize and confirm, detach, delete with `--wait`.
//!
//! The CLI comes from `scripts/ensure-osc-venv`; without python3/pip this
//! test FAILS (set `TRICIRCLE_SKIP_PYTHON_TESTS=1` to skip it on purpose).
//! Each CLI call costs about a second of CPU, so independent calls run
//! concurrently and the number of calls is kept small.

mod common;

use std::collections::HashSet;

use common::{Osc, Up, ensure_cli, ids, regression_check};
use futures::future::join_all;
use serde_json::Value;

/// Page through `server list` with `--limit`, following `--marker`.
async fn pages(cli: &Osc, limit: usize) -> Vec<Vec<String>> {
    let limit_s = limit.to_string();
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut args = vec!["server", "list", "--limit", &limit_s];
        if let Some(m) = &marker {
            args.extend(["--marker", m.as_str()]);
        }
        let page = ids(&cli.json(&args).await);
        assert!(page.len() <= limit, "a page of {} with --limit {limit}: {page:?}", page.len());
        let full = page.len() == limit;
        marker = page.last().cloned();
        out.push(page);
        if !full {
            return out;
        }
        assert!(out.len() < 10, "paging does not end: {out:?}");
    }
}

fn flavor_name(server: &Value) -> String {
    let f = &server["flavor"];
    f["original_name"].as_str().or(f["name"].as_str()).unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_drives_tricircle_up() {
    let Some(exe) = tokio::task::spawn_blocking(ensure_cli).await.expect("ensure cli") else {
        return;
    };
    let up = tokio::task::spawn_blocking(|| Up::start(3)).await.expect("up");
    let home = tempfile::tempdir().expect("home");
    let demo = Osc::new(&exe, &up.clouds_file(), "tricircle-demo", home.path());

    // Four servers at once: az3, az1, none (the scheduler's choice), az2.
    let specs = [
        ("flow-a", Some("az3")),
        ("flow-b", Some("az1")),
        ("flow-c", None),
        ("flow-d", Some("az2")),
    ];
    let creates = join_all(specs.iter().map(|(name, az)| {
        let demo = demo.clone();
        async move {
            let mut args = vec!["server", "create", "--flavor", "m1.tiny", "--image", "cirros"];
            if let Some(az) = az {
                args.extend(["--availability-zone", az]);
            }
            args.extend(["--wait", name]);
            demo.json(&args).await
        }
    }));
    // A volume in az3, beside flow-a, made while the servers build.
    let (created, volume) = tokio::join!(
        creates,
        demo.json(&["volume", "create", "--size", "1", "--availability-zone", "az3", "flow-vol"])
    );
    let vol = volume["id"].as_str().expect("volume id").to_string();
    assert_eq!(volume["availability_zone"], "az3", "{volume}");
    let image_id =
        demo.json(&["image", "show", "cirros"]).await["id"].as_str().unwrap().to_string();
    let mut id_of = std::collections::HashMap::new();
    for ((name, az), s) in specs.iter().zip(&created) {
        assert_eq!(s["name"], *name, "{s}");
        assert_eq!(s["status"], "ACTIVE", "{name}: {s}");
        let got_az = s["OS-EXT-AZ:availability_zone"].as_str().unwrap_or_default();
        match az {
            Some(az) => assert_eq!(got_az, *az, "{name} landed in the wrong AZ"),
            None => assert!(["az1", "az2", "az3"].contains(&got_az), "{name}: AZ {got_az:?}"),
        }
        assert_eq!(flavor_name(s), "m1.tiny", "{name}: {s}");
        assert!(
            s["image"].as_str().is_some_and(|i| i.contains(&image_id)),
            "{name}: {}",
            s["image"]
        );
        id_of.insert(*name, s["id"].as_str().expect("id").to_string());
    }
    let all: HashSet<&String> = id_of.values().collect();
    assert_eq!(all.len(), 4, "four distinct IDs: {id_of:?}");

    // One merged list, newest first (Nova's default sort: created_at desc),
    // the top ID breaking ties; and the same order through --limit/--marker
    // pages of 2 and of 3 (page boundaries fall between pods).
    let (full, by2, by3, named) = tokio::join!(
        demo.json(&["server", "list"]),
        pages(&demo, 2),
        pages(&demo, 3),
        demo.json(&["server", "list", "--name", "flow-d"]),
    );
    let full = ids(&full);
    assert_eq!(full.iter().collect::<HashSet<_>>(), all, "server list shows exactly the four");
    let mut expected: Vec<(&str, &str)> = created
        .iter()
        .map(|s| (s["created"].as_str().unwrap(), s["id"].as_str().unwrap()))
        .collect();
    expected.sort_by(|a, b| b.0.cmp(a.0).then(a.1.cmp(b.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id.to_string()).collect();
    assert_eq!(full, expected, "server list is sorted by created desc, then ID");
    for (size, got) in [(2, by2), (3, by3)] {
        let flat: Vec<String> = got.iter().flatten().cloned().collect();
        assert_eq!(flat, full, "pages of {size} ({got:?}) are the full list, no gap, no duplicate");
        assert_eq!(got.len(), 4 / size + 1, "pages of {size}: {got:?}");
    }
    assert_eq!(ids(&named), vec![id_of["flow-d"].clone()], "--name filters before the merge");

    // Show by name (the CLI resolves it through a filtered list).
    let shown = demo.json(&["server", "show", "flow-a"]).await;
    assert_eq!(shown["id"].as_str(), Some(id_of["flow-a"].as_str()));
    assert_eq!(shown["OS-EXT-AZ:availability_zone"], "az3");
    assert_eq!(shown["status"], "ACTIVE");

    // Actions, each routed to its own pod, at the same time.
    let (a, b, c, d) = (&id_of["flow-a"], &id_of["flow-b"], &id_of["flow-c"], &id_of["flow-d"]);
    tokio::join!(
        async {
            // The volume (az3) cannot go to flow-d (az2): a clear 409 naming both;
            // it attaches to flow-a (az3); then flow-a reboots with it.
            demo.wait(&["volume"], &vol, "status", "available").await;
            let err = demo.fails(&["server", "add", "volume", d, &vol]).await;
            assert!(err.contains("409"), "cross-pod attach: {err}");
            assert!(err.contains("az3") && err.contains("az2"), "names both zones: {err}");
            demo.ok(&["server", "add", "volume", a, &vol]).await;
            let v = demo.json(&["volume", "show", &vol]).await;
            assert_eq!(v["status"], "in-use", "{v}");
            let att = &v["attachments"][0];
            assert_eq!(att["server_id"].as_str(), Some(a.as_str()), "{v}");
            let device = att["device"].as_str().unwrap_or_default().to_string();
            assert!(device.starts_with("/dev/"), "{v}");
            demo.ok(&["server", "reboot", "--wait", a]).await;
            let v = demo.json(&["server", "show", a]).await;
            assert_eq!(v["status"], "ACTIVE", "after reboot: {v}");
            let attached = v["volumes_attached"].as_array().cloned().unwrap_or_default();
            assert_eq!(attached.len(), 1, "server show lists one volume: {v}");
            regression_check(
                attached[0]["id"].as_str() == Some(vol.as_str()),
                &format!(
                    "volumes_attached shows {} instead of the top ID {vol}",
                    attached[0]["id"]
                ),
            );
        },
        async {
            demo.ok(&["server", "stop", b]).await;
            let v = demo.wait_server(b, "status", "SHUTOFF").await;
            assert_eq!(v["OS-EXT-STS:power_state"], 4, "stopped: {v}");
            demo.ok(&["server", "start", b]).await;
            demo.wait_server(b, "status", "ACTIVE").await;
        },
        async {
            demo.ok(&["server", "resize", "--flavor", "m1.small", "--wait", c]).await;
            let v = demo.json(&["server", "show", c]).await;
            assert_eq!(v["status"], "VERIFY_RESIZE", "after resize --wait: {v}");
            demo.ok(&["server", "resize", "confirm", c]).await;
            let v = demo.wait_server(c, "status", "ACTIVE").await;
            assert_eq!(
                (v["flavor"]["ram"].as_u64(), v["flavor"]["disk"].as_u64()),
                (Some(2048), Some(20)),
                "resized: {v}"
            );
            regression_check(
                flavor_name(&v) == "m1.small",
                &format!("after resize + confirm the flavor is still named {:?}", flavor_name(&v)),
            );
        },
        async {
            demo.ok(&["server", "set", "--name", "flow-e", d]).await;
        },
    );
    let long = demo.json(&["server", "list", "--long"]).await;
    let rows = long.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{long}");
    for row in rows {
        let id = row["ID"].as_str().unwrap();
        assert_eq!(row["Status"], "ACTIVE", "{row}");
        let (want_name, want_az, want_flavor) = match id {
            x if x == c => {
                ("flow-c", created[2]["OS-EXT-AZ:availability_zone"].as_str().unwrap(), "m1.small")
            }
            x if x == d => ("flow-e", "az2", "m1.tiny"),
            x if x == a => ("flow-a", "az3", "m1.tiny"),
            x if x == b => ("flow-b", "az1", "m1.tiny"),
            other => panic!("unknown server {other}"),
        };
        assert_eq!(row["Name"], want_name, "{row}");
        assert_eq!(row["Availability Zone"], want_az, "{row}");
        if id == c {
            regression_check(
                row["Flavor"] == want_flavor,
                &format!("server list shows the resized server's flavor as {}", row["Flavor"]),
            );
        } else {
            assert_eq!(row["Flavor"], want_flavor, "{row}");
        }
    }

    // Detach, then delete everything and wait until it is gone.
    demo.ok(&["server", "remove", "volume", a, &vol]).await;
    let v = demo.wait(&["volume"], &vol, "status", "available").await;
    assert_eq!(v["attachments"], serde_json::json!([]), "{v}");
    let delete_servers = ["server", "delete", "--wait", a, b, c, d];
    let delete_volume = ["volume", "delete", vol.as_str()];
    tokio::join!(demo.ok(&delete_servers), demo.ok(&delete_volume));
    let (left, vols) = tokio::join!(demo.json(&["server", "list"]), async {
        // Cinder deletes asynchronously: poll the list until it is empty.
        for _ in 0..20 {
            let v = demo.json(&["volume", "list"]).await;
            if v == serde_json::json!([]) {
                return v;
            }
        }
        demo.json(&["volume", "list"]).await
    });
    assert_eq!(left, serde_json::json!([]), "no server is left: {left}");
    assert_eq!(vols, serde_json::json!([]), "no volume is left: {vols}");
    let err = demo.fails(&["server", "show", a]).await;
    assert!(err.contains("No Server found") || err.contains("404"), "{err}");
}
