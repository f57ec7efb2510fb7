//! Issue 6's acceptance flow with the real `openstack` CLI
//! (python-openstackclient 10.5) against the real `tricircle up`: servers in
//! az1, az2, az3 and without an AZ, one merged and sorted `server list`,
//! paging with `--limit`/`--marker` (no duplicate, no gap), show, rename,
//! reboot, stop/start, resize and confirm, delete with `--wait`.
//!
//! The CLI comes from `scripts/ensure-osc-venv`; without python3/pip this
//! test FAILS (set `TRICIRCLE_SKIP_PYTHON_TESTS=1` to skip it on purpose).
//! Each CLI call costs about a second of CPU, so independent calls run
//! concurrently and the number of calls is kept small.

mod common;

use std::collections::HashSet;

use common::{Osc, Up, ensure_cli, ids};
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
    let created: Vec<Value> = join_all(specs.iter().map(|(name, az)| {
        let demo = demo.clone();
        async move {
            let mut args = vec!["server", "create", "--flavor", "m1.tiny", "--image", "cirros"];
            if let Some(az) = az {
                args.extend(["--availability-zone", az]);
            }
            args.extend(["--wait", name]);
            demo.json(&args).await
        }
    }))
    .await;
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
            demo.ok(&["server", "reboot", "--wait", a]).await;
            let v = demo.json(&["server", "show", a]).await;
            assert_eq!(v["status"], "ACTIVE", "after reboot: {v}");
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
            assert_eq!(flavor_name(&v), "m1.small", "resized: {v}");
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
        let (want_name, want_flavor) = match id {
            x if x == c => ("flow-c", "m1.small"),
            x if x == d => ("flow-e", "m1.tiny"),
            x if x == a => ("flow-a", "m1.tiny"),
            x if x == b => ("flow-b", "m1.tiny"),
            other => panic!("unknown server {other}"),
        };
        assert_eq!(row["Name"], want_name, "{row}");
        assert_eq!(row["Flavor Name"], want_flavor, "{row}");
    }

    // Delete everything and wait until it is gone.
    demo.ok(&["server", "delete", "--wait", a, b, c, d]).await;
    let left = demo.json(&["server", "list"]).await;
    assert_eq!(left, serde_json::json!([]), "nothing is left: {left}");
    let err = demo.fails(&["server", "show", a]).await;
    assert!(err.contains("No Server found") || err.contains("404"), "{err}");
}
