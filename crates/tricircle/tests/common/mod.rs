//! Shared by the acceptance tests of the gateway: the real `tricircle up`
//! process on a free range of ports, its `clouds.yaml`, and the real
//! `openstack` CLI (python-openstackclient from `scripts/ensure-osc-venv`).
#![allow(dead_code)]

pub mod consistency;
pub mod joblog;
pub mod procs;
pub mod real;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_tricircle");

/// A running `tricircle up`, killed (with its in-process sim pods) on drop.
pub struct Up {
    child: Child,
    /// Kept open: the banner's remaining lines stay readable and a late
    /// `println!` in the child never meets a closed pipe.
    _stdout: BufReader<ChildStdout>,
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`, the gateway.
    pub base: String,
    pub port: u16,
    pub pods: u8,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- last lines of the tricircle up log ----\n{}", self.log_tail(80));
        }
    }
}

/// A base port with `n` free ports from it on, outside Linux's ephemeral
/// range (so outgoing connections of other tests do not take them).
fn free_port_range(n: u16) -> u16 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos(),
    );
    let mut seed = h.finish();
    for _ in 0..200 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let base = 20_000 + ((seed >> 33) % u64::from(12_000 - n)) as u16;
        let held: Vec<_> =
            (0..n).map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok()).collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports between 20000 and 32000");
}

impl Up {
    /// `tricircle up --pods N` in a new data dir, on free ports.
    pub fn start(pods: u8) -> Up {
        Self::start_with_env(pods, &[])
    }

    /// The same with extra environment (configuration overrides such as
    /// `TRICIRCLE__IDENTITY__REGION`).
    pub fn start_with_env(pods: u8, env: &[(&str, &str)]) -> Up {
        let mut last = String::new();
        // Another process may take a port between the check and the bind:
        // `up` then exits with "cannot listen"; try another range.
        for _ in 0..6 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port_range(u16::from(pods) + 1);
            match spawn(dir, port, pods, env) {
                Ok(up) => return up,
                Err(e) => {
                    eprintln!("tricircle up on port {port} did not start: {e}");
                    last = e;
                }
            }
        }
        panic!("tricircle up never started; last error:\n{last}");
    }

    pub fn clouds_file(&self) -> PathBuf {
        self.dir.path().join("clouds.yaml")
    }

    /// One cloud of the `clouds.yaml` that `up` wrote.
    pub fn cloud(&self, name: &str) -> Value {
        let text = std::fs::read_to_string(self.clouds_file()).expect("clouds.yaml");
        let doc: Value = serde_yaml_ng::from_str(&text).expect("clouds.yaml parses");
        let c = doc["clouds"][name].clone();
        assert!(c.is_object(), "cloud {name} missing in clouds.yaml: {text}");
        c
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// A `clouds.yaml` with each sim pod's own admin (clouds `pod1`,
    /// `pod2`, ...), to look at what the gateway made in the pods.
    pub fn sim_clouds_file(&self) -> PathBuf {
        let password = std::fs::read_to_string(self.dir.path().join("pod-password"))
            .expect("pod-password of tricircle up");
        let clouds: serde_json::Map<String, Value> = (1..=self.pods)
            .map(|i| {
                let url = format!("http://127.0.0.1:{}/identity/v3", self.port + u16::from(i));
                let cloud = serde_json::json!({
                    "auth": {"auth_url": url, "username": "admin", "password": password.trim(),
                             "project_name": "admin", "user_domain_name": "Default",
                             "project_domain_name": "Default"},
                    "region_name": format!("Pod{i}"), "identity_api_version": 3});
                (format!("pod{i}"), cloud)
            })
            .collect();
        let text = serde_yaml_ng::to_string(&serde_json::json!({"clouds": clouds})).unwrap();
        let path = self.dir.path().join("sim-clouds.yaml");
        std::fs::write(&path, text).expect("write sim-clouds.yaml");
        path
    }

    /// The `tricircle` admin CLI against this gateway as its admin (cloud `tricircle`).
    pub fn admin_cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("OS_CLIENT_CONFIG_FILE", self.clouds_file())
            .env("OS_CLOUD", "tricircle")
            .env_remove("OS_TOKEN")
            .env_remove("OS_ENDPOINT")
            .env_remove("OS_AUTH_URL")
            .output()
            .expect("run tricircle")
    }
}

fn spawn(dir: tempfile::TempDir, port: u16, pods: u8, env: &[(&str, &str)]) -> Result<Up, String> {
    let log = std::fs::File::create(dir.path().join("up.log")).expect("log file");
    let mut cmd = Command::new(BIN);
    cmd.arg("up")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--pods", &pods.to_string()])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    for (k, _) in std::env::vars() {
        if k.starts_with("TRICIRCLE__") || k == "TRICIRCLE_CONFIG" {
            cmd.env_remove(k);
        }
    }
    // Each run its own VXLAN IDs: gateways sharing a real region (or one a
    // failed run left copies in) would otherwise hand out the same ones.
    let first = 200_000 + u32::from(port % 10_000) * 100;
    cmd.env("TRICIRCLE__NETWORKING__VNI_RANGE", format!("{first}:{}", first + 99));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {BIN}: {e}"))?;
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    // Wait for the banner's first line, with a deadline.
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let r = stdout.read_line(&mut line);
        let _ = tx.send((r.map(|_| line), ()));
        stdout
    });
    let first = rx.recv_timeout(Duration::from_secs(60));
    let fail = |child: &mut Child, msg: String| {
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(dir.path().join("up.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("{msg}\n{}", tail.join("\n"))
    };
    let line = match first {
        Ok((Ok(line), ())) => line,
        Ok((Err(e), ())) => return Err(fail(&mut child, format!("reading stdout: {e}"))),
        Err(_) => return Err(fail(&mut child, "no banner within 60 s".into())),
    };
    let stdout = reader.join().expect("reader thread");
    if !line.starts_with("tricircle is up: ") {
        return Err(fail(&mut child, format!("unexpected first line {line:?}")));
    }
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_default();
    assert_eq!(base, format!("http://127.0.0.1:{port}"), "the gateway serves where it was told");
    Ok(Up { child, _stdout: stdout, dir, base: base.to_string(), port, pods })
}

/// The `openstack` executable from the cached venv, or `None` when
/// `TRICIRCLE_SKIP_PYTHON_TESTS=1`. Without python3/pip this panics, so CI
/// cannot skip these tests by accident.
pub fn ensure_cli() -> Option<PathBuf> {
    if std::env::var("TRICIRCLE_SKIP_PYTHON_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: TRICIRCLE_SKIP_PYTHON_TESTS=1");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ensure-osc-venv");
    let out = Command::new(&script).output().unwrap_or_else(|e| {
        panic!("cannot run {} ({e}); set TRICIRCLE_SKIP_PYTHON_TESTS=1 to skip", script.display())
    });
    assert!(
        out.status.success(),
        "ensure-osc-venv failed (python3/pip needed; set TRICIRCLE_SKIP_PYTHON_TESTS=1 to skip):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    Some(PathBuf::from(stdout.lines().last().expect("path printed").trim()))
}

/// The `openstack` CLI with one cloud of one `clouds.yaml`, in a clean
/// environment (its own HOME: no user config, no token cache).
#[derive(Clone)]
pub struct Osc {
    pub exe: PathBuf,
    pub clouds: PathBuf,
    pub cloud: String,
    pub home: PathBuf,
}

impl Osc {
    pub fn new(exe: &Path, clouds: &Path, cloud: &str, home: &Path) -> Osc {
        Osc {
            exe: exe.to_path_buf(),
            clouds: clouds.to_path_buf(),
            cloud: cloud.into(),
            home: home.to_path_buf(),
        }
    }

    pub fn with_cloud(&self, cloud: &str) -> Osc {
        Osc { cloud: cloud.into(), ..self.clone() }
    }

    /// Run `openstack ARGS`; returns (success, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let started = Instant::now();
        let out = tokio::process::Command::new(&self.exe)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("OS_CLIENT_CONFIG_FILE", &self.clouds)
            .env("OS_CLOUD", &self.cloud)
            .current_dir(&self.home)
            .kill_on_drop(true)
            .output()
            .await
            .expect("run openstack");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        eprintln!(
            "[{:>5.1}s] openstack --os-cloud {} {}",
            started.elapsed().as_secs_f64(),
            self.cloud,
            args.join(" ")
        );
        (out.status.success(), stdout, stderr)
    }

    /// `run`, blocking (for cleanups in `Drop`); returns (success, stdout
    /// and stderr).
    pub fn run_blocking(&self, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(&self.exe)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("OS_CLIENT_CONFIG_FILE", &self.clouds)
            .env("OS_CLOUD", &self.cloud)
            .current_dir(&self.home)
            .output()
            .expect("run openstack");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Run with `-f json` and parse; panics with the CLI's stderr on failure.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["-f", "json"]);
        let (ok, out, err) = self.run(&full).await;
        assert!(ok, "openstack {} failed:\n{err}\n{out}", args.join(" "));
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("openstack {}: bad json ({e}): {out}", args.join(" ")))
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "openstack {} failed:\n{err}\n{out}", args.join(" "));
        out
    }

    /// Run a command that must fail; returns its stderr.
    pub async fn fails(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(!ok, "openstack {} should have failed but printed:\n{out}", args.join(" "));
        err
    }

    /// Poll `openstack server show ID` until `field` is `want`.
    pub async fn wait_server(&self, id: &str, field: &str, want: &str) -> Value {
        self.wait(&["server"], id, field, want).await
    }

    /// Poll `openstack WHAT show ID` until `field` is `want` (each call
    /// takes about a second, which is the polling interval); fails early on
    /// an error status.
    pub async fn wait(&self, what: &[&str], id: &str, field: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut args = what.to_vec();
        args.extend(["show", id]);
        loop {
            let v = self.json(&args).await;
            if v[field] == want {
                return v;
            }
            let status = v["status"].as_str().unwrap_or_default().to_ascii_lowercase();
            assert!(
                !status.starts_with("error"),
                "{} {id} went to {status} waiting for {field}={want}: {v}",
                what.join(" ")
            );
            assert!(
                Instant::now() < deadline,
                "{} {id}: {field} never became {want}: {v}",
                what.join(" ")
            );
        }
    }
}

/// The IDs of a `server list -f json` output, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| s["ID"].as_str().expect("ID").to_string())
        .collect()
}

/// A server's first address on `network`, as `openstack server show -f
/// json` gives it ({"net1": ["10.0.0.5"]}); empty when it has none.
pub fn address_of(server: &Value, network: &str) -> String {
    server["addresses"][network][0].as_str().unwrap_or_default().to_string()
}

/// A check of a gateway bug this suite found and that was fixed: it must
/// stay fixed.
#[track_caller]
pub fn regression_check(ok: bool, what: &str) {
    assert!(ok, "regression: {what}");
}
