//! Real processes for the crash and replica tests: standalone sim pods that
//! keep their state in a file (so they outlive a gateway that is killed),
//! gateways (`up --pods 0` or `serve`) that can be killed with SIGKILL and
//! started again on the same data dir and port, `tricircle pod add`, a small
//! HTTP client holding a Keystone token, and the job log read back through
//! the admin API.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
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

/// A job and its attempts, from the admin API.
#[derive(Clone, Debug)]
pub struct JobLog {
    pub job: Value,
    pub attempts: Vec<Attempt>,
}

#[derive(Clone, Debug)]
pub struct Attempt {
    pub owner: String,
    pub started_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

impl Attempt {
    /// The latest moment it may have been running: when it reported, or
    /// its last lease when it never did (it died).
    pub fn end(&self) -> DateTime<Utc> {
        self.finished_at.unwrap_or(self.lease_until)
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

/// Every job with its attempts (admin API of one gateway).
pub async fn job_logs(admin: &Api) -> Vec<JobLog> {
    let jobs = admin.all("/admin/v1.0/jobs?limit=200", "jobs").await;
    let mut out = Vec::new();
    for job in jobs {
        let id = job["id"].as_str().expect("job id");
        let body = admin.get(&format!("/admin/v1.0/jobs/{id}/attempts")).await;
        let attempts = body["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .map(|a| Attempt {
                owner: a["owner"].as_str().unwrap_or_default().into(),
                started_at: time(&a["started_at"]).expect("started_at"),
                lease_until: time(&a["lease_until"]).expect("lease_until"),
                finished_at: time(&a["finished_at"]),
                outcome: a["outcome"].as_str().map(str::to_string),
            })
            .collect();
        out.push(JobLog { job, attempts });
    }
    out
}

/// Jobs not finished yet (`NEW` or `RUNNING`).
pub async fn unfinished_jobs(admin: &Api) -> Vec<Value> {
    let mut out = admin.all("/admin/v1.0/jobs?status=new&limit=200", "jobs").await;
    out.extend(admin.all("/admin/v1.0/jobs?status=running&limit=200", "jobs").await);
    out
}

/// Wait (at most `within`) until no job is `NEW` or `RUNNING` and `check`
/// passes; returns its value and how long it took. Panics with what is
/// left otherwise.
pub async fn wait_quiescent<T, F, Fut>(admin: &Api, within: Duration, mut check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        let left = unfinished_jobs(admin).await;
        let why = if left.is_empty() {
            match check().await {
                // Reads may start work (a listing that sees a server go
                // ACTIVE syncs its networks): quiet only if none started.
                Ok(v) if unfinished_jobs(admin).await.is_empty() => return (v, started.elapsed()),
                Ok(_) => "jobs started while the world was read".to_string(),
                Err(why) => why,
            }
        } else {
            let brief: Vec<String> = left
                .iter()
                .map(|j| {
                    format!("{} {} {} {}", j["type"], j["status"], j["resource"], j["last_error"])
                })
                .collect();
            format!("unfinished jobs: {brief:#?}")
        };
        assert!(started.elapsed() < within, "not quiescent after {within:?}:\n{why}");
        if started.elapsed().as_secs() / 10
            != (started.elapsed() + Duration::from_millis(500)).as_secs() / 10
        {
            eprintln!(
                "[waiting {:>3.0}s] {}",
                started.elapsed().as_secs_f64(),
                why.lines().take(6).collect::<Vec<_>>().join(" | ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Check the job log: every job finished (`SUCCESS`, or `FAIL` with a
/// reason), and no two attempts of one job overlap in time. Returns the
/// jobs by status for the report.
pub fn check_job_log(logs: &[JobLog]) -> BTreeMap<String, usize> {
    let mut by_status = BTreeMap::new();
    for l in logs {
        let status = l.job["status"].as_str().unwrap_or_default().to_string();
        *by_status.entry(status.clone()).or_insert(0) += 1;
        assert!(status == "SUCCESS" || status == "FAIL", "job not finished: {}", l.job);
        if status == "FAIL" {
            let why = l.job["last_error"].as_str().unwrap_or_default();
            assert!(!why.trim().is_empty(), "a failed job without a reason: {}", l.job);
        }
        assert!(!l.attempts.is_empty(), "a finished job without an attempt: {}", l.job);
        for pair in l.attempts.windows(2) {
            assert!(
                pair[1].started_at > pair[0].end(),
                "two attempts of job {} overlap: {:?} then {:?}",
                l.job["id"],
                pair[0],
                pair[1]
            );
        }
    }
    by_status
}

/// Two attempts of jobs of the same type on the same resource never ran
/// at once (the engine lets one job per resource and type run).
pub fn check_same_resource_never_overlaps(logs: &[JobLog]) {
    let mut by_key: BTreeMap<String, Vec<(&Value, &Attempt)>> = BTreeMap::new();
    for l in logs {
        let key = format!("{} {}", l.job["type"], l.job["resource"]);
        for a in &l.attempts {
            by_key.entry(key.clone()).or_default().push((&l.job["id"], a));
        }
    }
    for (key, mut attempts) in by_key {
        attempts.sort_by_key(|(_, a)| a.started_at);
        for pair in attempts.windows(2) {
            assert!(
                pair[1].1.started_at > pair[0].1.end(),
                "two attempts on {key} overlap: job {} {:?} and job {} {:?}",
                pair[0].0,
                pair[0].1,
                pair[1].0,
                pair[1].1
            );
        }
    }
}
