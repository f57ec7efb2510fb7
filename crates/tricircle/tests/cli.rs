//! The README's walk-through, as a newcomer runs it: the real `tricircle`
//! binary serving on a free port, then the admin commands against it.
//! Also: configuration errors exit 2 with one line naming the key, and
//! neither the bootstrap token nor a pod password reaches the log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tricircle");

struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, config: &Path) -> Server {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "debug")
        .env_remove("TRICIRCLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Server { child, endpoint: addr }
}

fn tricircle(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("OS_ENDPOINT", endpoint)
        .env_remove("OS_TOKEN")
        .env_remove("OS_CLOUD")
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tricircle.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:0\"\ndata_dir = \"./.tricircle\"\n").unwrap();
    path
}

#[test]
fn newcomer_walkthrough() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = start(d, &write_config(d));
    let ep = server.endpoint.as_str();

    let out = tricircle(d, ep, &["pod", "add", "--region", "RegionOne"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tricircle(
        d,
        ep,
        &[
            "pod",
            "add",
            "--region",
            "Pod1",
            "--az",
            "az1",
            "--auth-url",
            "http://127.0.0.1:5000/v3",
            "--username",
            "svc",
            "--password",
            "pw-SECRET-cli",
            "--project-name",
            "service",
            "-f",
            "json",
        ],
    );
    let pod = json_of(&out);
    assert_eq!(
        (pod["region_name"].as_str(), pod["has_credentials"].as_bool()),
        (Some("Pod1"), Some(true))
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pw-SECRET-cli"));

    let pods = json_of(&tricircle(d, ep, &["pod", "list", "-f", "json"]));
    let regions: Vec<_> =
        pods.as_array().unwrap().iter().map(|p| p["region_name"].as_str().unwrap()).collect();
    assert_eq!(regions, ["Pod1", "RegionOne"]);
    let table = tricircle(d, ep, &["pod", "list"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("| Region") && text.contains("| Pod1") && text.contains("| Health"),
        "{text}"
    );

    let id = pod["pod_id"].as_str().unwrap();
    assert_eq!(json_of(&tricircle(d, ep, &["pod", "show", id, "-f", "json"]))["pod_id"], id);
    assert!(
        json_of(&tricircle(d, ep, &["routing", "list", "-f", "json"]))
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(json_of(&tricircle(d, ep, &["routing", "list", "--pod", id, "-f", "json"])).is_array());
    let jobs = json_of(&tricircle(d, ep, &["job", "list", "-f", "json"]));
    assert!(jobs.is_array());
    let schemas = json_of(&tricircle(d, ep, &["job", "schemas", "-f", "json"]));
    assert!(schemas.as_array().unwrap().iter().any(|s| s["type"] == "pod_check"));

    // Refusals print the gateway's message and exit 1.
    let dup = tricircle(d, ep, &["pod", "add", "--region", "Pod1", "--az", "az2"]);
    assert_eq!(dup.status.code(), Some(1));
    let err = String::from_utf8_lossy(&dup.stderr);
    assert!(err.contains("A pod with region_name Pod1 already exists. (HTTP 409)"), "{err}");
    let missing = tricircle(d, ep, &["pod", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("must be a UUID"));
    // A wrong token is refused.
    let bad = Command::new(BIN)
        .args(["pod", "list"])
        .current_dir(d)
        .env("OS_ENDPOINT", ep)
        .env("OS_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("(HTTP 401)"));

    assert_eq!(tricircle(d, ep, &["pod", "delete", id]).status.code(), Some(0));
    drop(server);

    // Secrets never reach the log, even at debug level.
    let log = std::fs::read_to_string(d.join("serve.log")).unwrap();
    let token = std::fs::read_to_string(d.join(".tricircle/admin-token")).unwrap();
    assert!(log.contains("pod registered"), "the log is being written:\n{log}");
    assert!(!log.contains("pw-SECRET-cli"), "password in the log");
    assert!(!log.contains(token.trim()), "token in the log");
    assert!(log.contains("req-"), "log lines carry request ids");
}

#[test]
fn clouds_yaml_and_restart_keep_state() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = write_config(d);
    let server = start(d, &config);
    let token = std::fs::read_to_string(d.join(".tricircle/admin-token")).unwrap();
    std::fs::write(
        d.join("clouds.yaml"),
        format!(
            "clouds:\n  gw:\n    auth_type: token_endpoint\n    auth:\n      endpoint: {}\n      token: {}\n",
            server.endpoint,
            token.trim()
        ),
    )
    .unwrap();
    // From another directory (no token file there), through --os-cloud.
    let elsewhere = tempfile::tempdir().unwrap();
    let via_cloud = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(elsewhere.path())
            .env("OS_CLIENT_CONFIG_FILE", d.join("clouds.yaml"))
            .env("OS_CLOUD", "gw")
            .env_remove("OS_ENDPOINT")
            .env_remove("OS_TOKEN")
            .output()
            .unwrap()
    };
    assert!(via_cloud(&["pod", "add", "--region", "Pod1", "--az", "az1"]).status.success());
    // Connection options go before the command too, as with `openstack`
    // (what `tricircle up` prints): `tricircle --os-cloud gw pod list`.
    let before = Command::new(BIN)
        .args(["--os-cloud", "gw", "-f", "json", "pod", "list"])
        .current_dir(elsewhere.path())
        .env("OS_CLIENT_CONFIG_FILE", d.join("clouds.yaml"))
        .env_remove("OS_CLOUD")
        .env_remove("OS_ENDPOINT")
        .env_remove("OS_TOKEN")
        .output()
        .unwrap();
    assert!(before.status.success(), "{}", String::from_utf8_lossy(&before.stderr));
    assert_eq!(json_of(&before)[0]["region_name"], "Pod1");
    let no_token = Command::new(BIN)
        .args(["pod", "list"])
        .current_dir(elsewhere.path())
        .env_remove("OS_CLOUD")
        .env_remove("OS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(no_token.status.code(), Some(2), "no credentials is a usage error");
    drop(server);

    // Same data dir, same token, same pods.
    let server = start(d, &config);
    let pods = json_of(&tricircle(d, &server.endpoint, &["pod", "list", "-f", "json"]));
    assert_eq!(pods[0]["region_name"], "Pod1");
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        ("[database]\nmax_connections = \"many\"\n", "key `database.max_connections`"),
        ("[api]\npagination_max_limit = 0\n", "key `api.pagination_max_limit`: must be at least 1"),
        ("listen = \"nowhere\"\n", "key `listen`"),
        ("[logging]\nformat = \"json\"\n", "unknown field `logging`"),
    ];
    for (text, expected) in cases {
        let path = d.join("bad.toml");
        std::fs::write(&path, text).unwrap();
        for sub in [&["serve", "--config"][..], &["db", "migrate", "--config"][..]] {
            let out = Command::new(BIN).args(sub).arg(&path).current_dir(d).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{text}");
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(err.contains(expected), "{err}");
        }
    }
    let out = Command::new(BIN)
        .args(["serve"])
        .current_dir(d)
        .env("TRICIRCLE__LOG__FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TRICIRCLE__LOG__FORMAT"));
}

#[test]
fn db_migrate_creates_the_database_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = Command::new(BIN)
        .args(["db", "migrate"])
        .current_dir(d)
        .env_remove("TRICIRCLE_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sqlite database is up to date");
    assert!(d.join(".tricircle/tricircle.db").exists());
    assert!(d.join(".tricircle/secret.key").exists());
    // Idempotent.
    assert!(
        Command::new(BIN).args(["db", "migrate"]).current_dir(d).output().unwrap().status.success()
    );
}

#[test]
fn password_login_finds_the_admin_api_in_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = start(d, &write_config(d));
    let password = std::fs::read_to_string(d.join(".tricircle/admin-password")).unwrap();
    let password = password.trim();
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |pw: &str, args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(elsewhere.path())
            .env("OS_AUTH_URL", format!("{}/identity/v3", server.endpoint))
            .env("OS_USERNAME", "admin")
            .env("OS_PASSWORD", pw)
            .env("OS_PROJECT_NAME", "admin")
            .env_remove("OS_ENDPOINT")
            .env_remove("OS_TOKEN")
            .env_remove("OS_CLOUD")
            .output()
            .unwrap()
    };
    let out = run(password, &["pod", "add", "--region", "Pod1", "--az", "az1", "-f", "json"]);
    assert_eq!(json_of(&out)["region_name"], "Pod1");
    let bad = run("wrong", &["pod", "list"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("cannot log in") && err.contains("401"), "{err}");
    assert!(!err.contains("wrong"), "the password is not echoed: {err}");

    // The same through a clouds.yaml password entry, as openstackclient reads it.
    std::fs::write(
        d.join("clouds.yaml"),
        format!(
            "clouds:\n  tc:\n    auth:\n      auth_url: {}/identity/v3\n      username: admin\n      password: {password}\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n",
            server.endpoint
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["pod", "list", "-f", "json"])
        .current_dir(elsewhere.path())
        .env("OS_CLIENT_CONFIG_FILE", d.join("clouds.yaml"))
        .env("OS_CLOUD", "tc")
        .env_remove("OS_AUTH_URL")
        .env_remove("OS_ENDPOINT")
        .env_remove("OS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(json_of(&out)[0]["region_name"], "Pod1");
    let log = std::fs::read_to_string(d.join("serve.log")).unwrap();
    assert!(!log.contains(password), "the admin password is not logged");
}

/// Poll `pod show` until the pod's health is `up` (the pod_check job ran).
fn wait_healthy(d: &Path, endpoint: &str, pod_id: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = json_of(&tricircle(d, endpoint, &["pod", "show", pod_id, "-f", "json"]));
        if last["health"]["status"] == "up" {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("pod never became healthy: {last}");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_sim_pod_process_registers_as_a_healthy_pod() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut sim = Command::new(BIN)
        .args([
            "sim-pod",
            "--region",
            "PodX",
            "--az",
            "az1",
            "--listen",
            "127.0.0.1:0",
            "--zero-delays",
        ])
        .env("TRICIRCLE_SIM_POD_PASSWORD", "pod-pw-123")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(sim.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let auth_url = first.split("auth URL ").nth(1).unwrap().trim().to_string();
    let mut second = String::new();
    out.read_line(&mut second).unwrap();
    assert!(
        second.contains("user admin, project admin, domain Default, password pod-pw-123"),
        "{second}"
    );
    let _sim = KillOnDrop(sim);

    let server = start(d, &write_config(d));
    let pod = json_of(&tricircle(
        d,
        &server.endpoint,
        &[
            "pod",
            "add",
            "--region",
            "PodX",
            "--az",
            "az1",
            "--auth-url",
            &auth_url,
            "--username",
            "admin",
            "--password",
            "pod-pw-123",
            "--project-name",
            "admin",
            "--identity",
            "mapped",
            "-f",
            "json",
        ],
    ));
    let healthy = wait_healthy(d, &server.endpoint, pod["pod_id"].as_str().unwrap());
    assert!(healthy["health"]["latency_ms"].as_i64().unwrap() >= 0);
}

/// The gated suite: register the real region of `scripts/real-openstack`
/// from its clouds.yaml (`TRICIRCLE_REAL_CLOUDS`) and see it healthy.
#[test]
fn a_real_region_registers_from_its_clouds_yaml() {
    let Ok(clouds) = std::env::var("TRICIRCLE_REAL_CLOUDS") else {
        eprintln!("skipped: TRICIRCLE_REAL_CLOUDS is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = start(d, &write_config(d));
    let pod = json_of(&tricircle(
        d,
        &server.endpoint,
        &[
            "pod",
            "add",
            "--from-cloud",
            "real",
            "--clouds-file",
            &clouds,
            "--az",
            "az-real",
            "--identity",
            "mapped",
            "-f",
            "json",
        ],
    ));
    assert_eq!(pod["region_name"], "RegionOne");
    assert_eq!(pod["has_credentials"], true);
    wait_healthy(d, &server.endpoint, pod["pod_id"].as_str().unwrap());
    let table = tricircle(d, &server.endpoint, &["pod", "list"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.lines().any(|l| l.contains("RegionOne") && l.contains("| up")), "{text}");
}

#[test]
fn audit_commands_show_the_periodic_run_and_run_one_now() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut sim = Command::new(BIN)
        .args([
            "sim-pod",
            "--region",
            "PodA",
            "--az",
            "az1",
            "--listen",
            "127.0.0.1:0",
            "--zero-delays",
        ])
        .env("TRICIRCLE_SIM_POD_PASSWORD", "pod-pw-456")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kept open to the end: the sim pod goes on printing.
    let mut out = BufReader::new(sim.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let auth_url = first.split("auth URL ").nth(1).unwrap().trim().to_string();
    let _sim = KillOnDrop(sim);
    // The periodic sync (and audit) every second.
    let config = d.join("tricircle.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\ndata_dir = \"./.tricircle\"\n[pods]\nsync_interval_secs = 1\n",
    )
    .unwrap();
    let server = start(d, &config);
    let ep = server.endpoint.as_str();
    let top = json_of(&tricircle(d, ep, &["pod", "add", "--region", "RegionOne", "-f", "json"]));
    let top = top["pod_id"].as_str().unwrap().to_string();
    let pod = json_of(&tricircle(
        d,
        ep,
        &[
            "pod",
            "add",
            "--region",
            "PodA",
            "--az",
            "az1",
            "--auth-url",
            &auth_url,
            "--username",
            "admin",
            "--password",
            "pod-pw-456",
            "--project-name",
            "admin",
            "--identity",
            "mapped",
            "-f",
            "json",
        ],
    ));
    let pod = pod["pod_id"].as_str().unwrap().to_string();

    // The periodic audit records a run of the pod (never of the top region).
    let mut listed = Value::Null;
    for _ in 0..100 {
        listed = json_of(&tricircle(d, ep, &["audit", "list", "-f", "json"]));
        if !listed.as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let runs = listed.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{listed}");
    assert_eq!(
        (runs[0]["pod_id"].as_str(), runs[0]["outcome"].as_str()),
        (Some(pod.as_str()), Some("ok")),
        "{listed}"
    );
    let table = String::from_utf8(tricircle(d, ep, &["audit", "list"]).stdout).unwrap();
    assert!(
        table.contains("| Findings") && table.contains("| PodA") && table.contains("| none"),
        "{table}"
    );

    // A run now: nothing to find in an empty pod.
    let run = json_of(&tricircle(d, ep, &["audit", "run", &pod, "-f", "json"]));
    assert_eq!((run["region_name"].as_str(), run["outcome"].as_str()), (Some("PodA"), Some("ok")));
    assert_eq!(run["repairs"], 0);
    for list in [
        "orphans_deleted",
        "vanished_remade",
        "vanished_marked",
        "vanished_missing",
        "ports_released",
    ] {
        assert_eq!(run["findings"][list], serde_json::json!([]), "{list}: {run}");
    }
    let shown = json_of(&tricircle(d, ep, &["audit", "show", &pod, "-f", "json"]));
    assert!(shown["finished_at"].as_str() >= run["finished_at"].as_str(), "the last run: {shown}");
    let table = String::from_utf8(tricircle(d, ep, &["audit", "show", &pod]).stdout).unwrap();
    assert!(
        table.contains("| outcome")
            && table.contains("| ok")
            && table.contains("| orphans_deleted"),
        "{table}"
    );

    // The top region is not audited: its refusals print the gateway's message, exit 1.
    let refused = tricircle(d, ep, &["audit", "run", &top]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("top region") && err.contains("(HTTP 409)"), "{err}");
    let unknown = tricircle(d, ep, &["audit", "show", "7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("(HTTP 404)"));
    drop(server);
    let log = std::fs::read_to_string(d.join("serve.log")).unwrap();
    assert!(!log.contains("pod-pw-456"), "the pod password is not logged");
}
