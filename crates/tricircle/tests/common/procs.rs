//! Real processes for the crash and replica tests: standalone sim pods that
//! keep their state in a file (so they outlive a gateway that is killed),
//! gateways (`up --pods 0` or `serve`) that can be killed with SIGKILL and
//! started again on the same data dir and port, `tricircle pod add`, a small
//! HTTP client holding a Keystone token, and the job log read back through
//! the admin API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{BIN, free_port_range};

/// A child process, killed on drop; its stderr goes to `log`.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
    /// The first stdout line (the readiness banner).
    pub banner: String,
}

impl Proc {
    /// Start `BIN args` and wait (60 s at most) for a stdout line starting
    /// with `ready`. Later stdout lines are drained by a thread, so the child
    /// never blocks on a full pipe.
    pub fn start(
        name: &str,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
        ready: &str,
    ) -> Result<Proc, String> {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).map_err(|e| format!("log {}: {e}", log.display()))?);
        // Only what the test sets configures the child.
        for (k, _) in std::env::vars() {
            if k.starts_with("TRICIRCLE__") || k == "TRICIRCLE_CONFIG" {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot run {BIN}: {e}"))?;
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody waits any more: keep draining.
                    continue;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with(ready) => {
                    return Ok(Proc { name: name.into(), child, log: log.into(), banner: line });
                }
                Ok(_) => continue,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{name} printed no {ready:?} within 60 s:\n{}",
                        tail(log, 30)
                    ));
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (`kill -9`): no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "---- last lines of {} ({}) ----\n{}",
                self.name,
                self.log.display(),
                self.log_tail(60)
            );
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A directory for one test's processes (data dirs, state files, logs);
/// with `TRICIRCLE_KEEP_TEST_DIRS=1` it is kept for a post-mortem.
pub enum TestDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl TestDir {
    pub fn new(prefix: &str) -> TestDir {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("tempdir");
        if std::env::var("TRICIRCLE_KEEP_TEST_DIRS").as_deref() == Ok("1") {
            let path = dir.keep();
            eprintln!("keeping {}", path.display());
            TestDir::Kept(path)
        } else {
            TestDir::Temp(dir)
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            TestDir::Temp(d) => d.path(),
            TestDir::Kept(p) => p,
        }
    }
}

/// One free port on 127.0.0.1, outside the ephemeral range.
pub fn free_port() -> u16 {
    free_port_range(1)
}

/// A standalone sim pod: region `PodN`, zone `azN`, on a free port.
pub struct SimPod {
    pub proc: Proc,
    pub region: String,
    pub az: String,
    pub port: u16,
    pub password: String,
}

impl SimPod {
    /// `tricircle sim-pod --state-file DIR/REGION.json` (realistic delays:
    /// BUILD lasts 1.5 s, so a crash finds servers mid-way).
    pub fn start(dir: &Path, region: &str, az: &str) -> SimPod {
        let password = format!("pw-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let args: Vec<String> = [
                "sim-pod",
                "--region",
                region,
                "--az",
                az,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--state-file",
                &dir.join(format!("{region}.json")).display().to_string(),
            ]
            .map(String::from)
            .to_vec();
            let env = vec![("TRICIRCLE_SIM_POD_PASSWORD".to_string(), password.clone())];
            let log = dir.join(format!("{region}.log"));
            match Proc::start(region, &args, &env, &log, "sim pod ") {
                Ok(proc) => {
                    return SimPod { proc, region: region.into(), az: az.into(), port, password };
                }
                Err(e) => last = e,
            }
        }
        panic!("sim pod {region} never started: {last}");
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The pod's own admin, to look at what the gateway made there.
    pub async fn admin(&self) -> Api {
        Api::login(&self.base(), "admin", &self.password, "admin").await
    }
}

/// Which gateway command to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `tricircle up --pods 0`: the gateway plus the demo seed (flavors,
    /// image `cirros`, project `demo`), no in-process pods.
    UpNoPods,
    /// `tricircle serve`, configured by the environment only.
    Serve,
}

/// How to (re)start one gateway: the same data dir and port every time.
#[derive(Clone, Debug)]
pub struct GatewaySpec {
    pub name: String,
    pub kind: Kind,
    pub data_dir: PathBuf,
    pub port: u16,
    /// `TRICIRCLE__...` settings (database URL, lease, poll interval).
    pub env: Vec<(String, String)>,
}

impl GatewaySpec {
    pub fn new(name: &str, kind: Kind, data_dir: &Path, env: &[(&str, &str)]) -> GatewaySpec {
        GatewaySpec {
            name: name.into(),
            kind,
            data_dir: data_dir.into(),
            port: free_port(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Start it (again); the log of each start is kept apart.
    pub fn start(&self) -> Proc {
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let listen = format!("127.0.0.1:{}", self.port);
        let (args, ready): (Vec<String>, &str) = match self.kind {
            Kind::UpNoPods => (
                ["up", "--pods", "0", "--listen", &listen, "--data-dir"]
                    .map(String::from)
                    .into_iter()
                    .chain([self.data_dir.display().to_string()])
                    .collect(),
                "tricircle is up: ",
            ),
            Kind::Serve => (vec!["serve".into()], "tricircle gateway listening on "),
        };
        let mut env = self.env.clone();
        env.push(("TRICIRCLE__LISTEN".into(), listen.clone()));
        env.push(("TRICIRCLE__DATA_DIR".into(), self.data_dir.display().to_string()));
        // Each run its own VXLAN IDs (pods outlive gateways in these tests).
        let first = 300_000 + u32::from(self.port % 10_000) * 100;
        env.push(("TRICIRCLE__NETWORKING__VNI_RANGE".into(), format!("{first}:{}", first + 99)));
        let mut n = 0;
        let log = loop {
            let log = self.data_dir.join(format!("{}.{n}.log", self.name));
            if !log.exists() {
                break log;
            }
            n += 1;
        };
        // A port just released by a killed process can be bound again at
        // once on Linux (SO_REUSEADDR), so a restart keeps its address.
        Proc::start(&self.name, &args, &env, &log, ready).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The bootstrap admin token in the data dir (shared by replicas).
    pub fn bootstrap_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin-token"))
            .expect("admin-token in the data dir")
            .trim()
            .to_string()
    }

    pub fn admin_password(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin-password"))
            .expect("admin-password in the data dir")
            .trim()
            .to_string()
    }
}

/// `tricircle pod add` for a sim pod, through the gateway at `base`.
pub fn pod_add(base: &str, token: &str, pod: &SimPod) {
    let out = Command::new(BIN)
        .args(["pod", "add", "--region", &pod.region, "--az", &pod.az, "--identity", "mapped"])
        .args(["--auth-url", &format!("{}/identity/v3", pod.base())])
        .args(["--username", "admin", "--password", &pod.password, "--project-name", "admin"])
        .args(["-f", "json"])
        .env("OS_ENDPOINT", base)
        .env("OS_TOKEN", token)
        .env_remove("OS_CLOUD")
        .env_remove("OS_AUTH_URL")
        .output()
        .expect("run tricircle pod add");
    assert!(
        out.status.success(),
        "pod add {} failed: {}",
        pod.region,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An OpenStack HTTP API at `base` with one token.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client")
    }

    pub fn with_token(base: &str, token: &str) -> Api {
        Api { http: Self::client(), base: base.into(), token: token.into() }
    }

    /// A project-scoped Keystone token for `user` (domain Default).
    pub async fn login(base: &str, user: &str, password: &str, project: &str) -> Api {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let http = Self::client();
        let resp = http
            .post(format!("{base}/identity/v3/auth/tokens"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("login at {base}: {e}"));
        assert_eq!(resp.status().as_u16(), 201, "login of {user} at {base}");
        let token = resp.headers()["x-subject-token"].to_str().unwrap().to_string();
        Api { http, base: base.into(), token }
    }

    /// The same token at another gateway (a replica).
    pub fn at(&self, base: &str) -> Api {
        Api { base: base.into(), ..self.clone() }
    }

    /// One request; the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self
            .http
            .request(method, url)
            .header("X-Auth-Token", &self.token)
            .header("OpenStack-API-Version", "compute 2.37");
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// GET that must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        match self.call(Method::GET, path, None).await {
            Ok((200, v)) => v,
            other => panic!("GET {}{path}: {other:?}", self.base),
        }
    }

    /// A request that must answer `want`.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        want: u16,
    ) -> Value {
        match self.call(method.clone(), path, body).await {
            Ok((s, v)) if s == want => v,
            other => panic!("{method} {}{path}: wanted {want}, got {other:?}", self.base),
        }
    }

    /// Poll each server (60 s at most) until it is ACTIVE; fails on any
    /// other status but BUILD.
    pub async fn wait_active(&self, ids: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for id in ids {
            loop {
                let v = self.get(&format!("/compute/v2.1/servers/{id}")).await;
                match v["server"]["status"].as_str() {
                    Some("ACTIVE") => break,
                    Some("BUILD") if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    other => panic!("server {id} is {other:?} instead of ACTIVE"),
                }
            }
        }
    }

    /// Every item of a paged list, following `{key}_links` next links.
    pub async fn all(&self, path: &str, key: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(p) = next.take() {
            let page = self.get(&p).await;
            out.extend(page[key].as_array().cloned().unwrap_or_default());
            next = page[format!("{key}_links")]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["rel"] == "next"))
                .and_then(|l| l["href"].as_str())
                .map(str::to_string);
        }
        out
    }
}

/// What a client saw of one request.
#[derive(Clone, Debug)]
pub enum Seen {
    /// The gateway answered: status and body.
    Answered(u16, Value),
    /// No answer (the connection died with the gateway).
    Lost(String),
}

/// Send one request in its own task; `answered` counts the answers, so a
/// test can act (kill a process) once enough have come back.
pub fn send_counted(
    api: &Api,
    method: Method,
    path: String,
    body: Option<Value>,
    answered: &Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Seen> {
    let (api, answered) = (api.clone(), answered.clone());
    tokio::spawn(async move {
        match api.call(method, &path, body.as_ref()).await {
            Ok((status, v)) => {
                answered.fetch_add(1, Ordering::SeqCst);
                Seen::Answered(status, v)
            }
            Err(e) => Seen::Lost(e.to_string()),
        }
    })
}

/// Wait (60 s at most) until `answered` reaches `n`.
pub async fn wait_answers(answered: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "fewer than {n} answers in 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
