//! The real `openstack` CLI (python-openstackclient 10.5.0) against a sim pod.
//!
//! The CLI comes from a cached virtualenv outside the repository (`scripts/ensure-osc-venv`,
//! default `~/.cache/tricircle/venv-osc`). Without python3/pip this test FAILS, so CI cannot
//! silently skip it; set `TRICIRCLE_SKIP_PYTHON_TESTS=1` to skip it on purpose. Each step is
//! one CLI process (about a second of CPU each), in the order of the acceptance list.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tricircle_sim_pod::{Delays, SimPodConfig, SimPodHandle, start};

struct Cli {
    exe: PathBuf,
    dir: PathBuf,
}

impl Cli {
    /// Run `openstack ARGS`; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(&self.exe)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("OS_CLIENT_CONFIG_FILE", self.dir.join("clouds.yaml"))
            .env("OS_CLOUD", "sim")
            .current_dir(&self.dir)
            .output()
            .await
            .expect("run openstack");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stdout, stderr)
    }

    /// Run and parse `-f json` output; panics with the CLI's stderr on failure.
    async fn json(&self, args: &[&str]) -> Value {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["-f", "json"]);
        let (ok, out, err) = self.run(&full).await;
        assert!(ok, "openstack {} failed:\n{err}\n{out}", args.join(" "));
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("openstack {}: bad json ({e}): {out}", args.join(" ")))
    }

    async fn ok(&self, args: &[&str]) {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "openstack {} failed:\n{err}\n{out}", args.join(" "));
    }

    /// Poll `openstack <what> show <id>` until its status is `want`.
    async fn wait_status(&self, what: &[&str], id: &str, want: &str) -> Value {
        let mut args: Vec<&str> = what.to_vec();
        args.extend(["show", id]);
        for _ in 0..20 {
            let v = self.json(&args).await;
            if v["status"] == want {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{} {id} never reached {want}", what.join(" "));
    }
}

/// The `openstack` executable from the cached venv (created on first use).
fn ensure_cli() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ensure-osc-venv");
    let out = std::process::Command::new(&script).output().unwrap_or_else(|e| {
        panic!("cannot run {} ({e}); set TRICIRCLE_SKIP_PYTHON_TESTS=1 to skip", script.display())
    });
    assert!(
        out.status.success(),
        "ensure-osc-venv failed (python3/pip needed; set TRICIRCLE_SKIP_PYTHON_TESTS=1 to skip):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().expect("path printed").trim())
}

async fn sim_pod() -> SimPodHandle {
    let mut cfg = SimPodConfig::for_tests("RegionOne");
    // Non-zero build and delete delays so `--wait` really polls through BUILD and deleting.
    cfg.delays = Delays {
        server_build: Duration::from_millis(700),
        server_delete: Duration::from_millis(700),
        ..Delays::zero()
    };
    start(cfg).await.expect("pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_drives_a_sim_pod() {
    if std::env::var("TRICIRCLE_SKIP_PYTHON_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: TRICIRCLE_SKIP_PYTHON_TESTS=1");
        return;
    }
    let exe = tokio::task::spawn_blocking(ensure_cli).await.expect("ensure cli");
    let pod = sim_pod().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let clouds = format!(
        "clouds:\n  sim:\n    auth:\n      auth_url: {}\n      username: admin\n      password: secret\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    identity_api_version: 3\n",
        pod.auth_url()
    );
    std::fs::write(dir.path().join("clouds.yaml"), clouds).unwrap();
    let cli = Cli { exe, dir: dir.path().to_path_buf() };

    let token = cli.json(&["token", "issue"]).await;
    assert!(token["id"].as_str().is_some_and(|t| !t.is_empty()));

    let catalog = cli.json(&["catalog", "list"]).await;
    let types: Vec<&str> =
        catalog.as_array().unwrap().iter().map(|c| c["Type"].as_str().unwrap()).collect();
    for ty in ["identity", "compute", "volumev3", "block-storage", "network", "image"] {
        assert!(types.contains(&ty), "{ty} not in {types:?}");
    }

    let flavors = cli.json(&["flavor", "list"]).await;
    assert!(flavors.as_array().unwrap().iter().any(|f| f["Name"] == "m1.tiny"));

    let payload: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path().join("cirros.img"), &payload).unwrap();
    let image = cli
        .json(&[
            "image",
            "create",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--file",
            "cirros.img",
            "--public",
            "cirros",
        ])
        .await;
    assert_eq!(image["status"], "active");
    cli.ok(&["image", "save", "--file", "saved.img", "cirros"]).await;
    assert_eq!(
        std::fs::read(dir.path().join("saved.img")).unwrap(),
        payload,
        "image save returns the uploaded bytes"
    );

    cli.json(&["network", "create", "net1"]).await;
    let subnet = cli
        .json(&["subnet", "create", "--network", "net1", "--subnet-range", "10.0.0.0/24", "sub1"])
        .await;
    assert_eq!(subnet["gateway_ip"], "10.0.0.1");
    cli.json(&["router", "create", "r1"]).await;
    cli.ok(&["router", "add", "subnet", "r1", "sub1"]).await;
    let ports = cli.json(&["port", "list", "--device-owner", "network:router_interface"]).await;
    assert_eq!(ports.as_array().unwrap().len(), 1);
    cli.json(&["security", "group", "create", "sg1"]).await;
    let rule = cli
        .json(&[
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "tcp",
            "--dst-port",
            "22",
            "sg1",
        ])
        .await;
    assert_eq!(rule["port_range_min"], 22);

    let server = cli
        .json(&[
            "server",
            "create",
            "--image",
            "cirros",
            "--flavor",
            "m1.tiny",
            "--network",
            "net1",
            "--security-group",
            "sg1",
            "--wait",
            "vm1",
        ])
        .await;
    assert_eq!(server["status"], "ACTIVE");
    let addrs = server["addresses"]["net1"].as_array().expect("an address on net1");
    let ip = addrs[0].as_str().unwrap();
    assert!(ip.starts_with("10.0.0.") && ip != "10.0.0.1", "{ip}");

    let vol = cli.json(&["volume", "create", "--size", "1", "vol1"]).await;
    let vol_id = vol["id"].as_str().unwrap().to_string();
    cli.wait_status(&["volume"], &vol_id, "available").await;
    cli.json(&["server", "add", "volume", "vm1", "vol1"]).await;
    let vol = cli.wait_status(&["volume"], &vol_id, "in-use").await;
    assert!(vol["attachments"].to_string().contains(server["id"].as_str().unwrap()));

    // Like real Cinder: `--force` at the CLI's default 3.65 drops the flag and is refused;
    // 3.66 snapshots an in-use volume.
    let (ok, _, err) =
        cli.run(&["volume", "snapshot", "create", "--volume", "vol1", "--force", "snap0"]).await;
    assert!(!ok && err.contains("in-use"), "{err}");
    let snap = cli
        .json(&[
            "--os-volume-api-version",
            "3.66",
            "volume",
            "snapshot",
            "create",
            "--volume",
            "vol1",
            "snap1",
        ])
        .await;
    cli.wait_status(&["volume", "snapshot"], snap["id"].as_str().unwrap(), "available").await;

    let backup =
        cli.json(&["volume", "backup", "create", "--force", "--name", "bk1", "vol1"]).await;
    cli.wait_status(&["volume", "backup"], backup["id"].as_str().unwrap(), "available").await;

    cli.ok(&["server", "delete", "--wait", "vm1"]).await;
    let (ok, _, _) = cli.run(&["server", "show", "vm1"]).await;
    assert!(!ok, "server is gone");
    cli.wait_status(&["volume"], &vol_id, "available").await;

    let counters = pod.control().counters();
    assert_eq!(counters.get("compute.server_create"), Some(&1));
    assert_eq!(counters.get("image.image_upload"), Some(&1));
    assert!(
        counters.get("compute.server_show").copied().unwrap_or(0) >= 2,
        "--wait polled: {counters:?}"
    );
    pod.shutdown().await;
}
