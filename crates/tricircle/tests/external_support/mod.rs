//! Shared by the external-Keystone tests: `tricircle serve` with a
//! configuration, a `tricircle sim-pod` whose Keystone stands in for an
//! external one, plain HTTP calls and logins.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_tricircle");

/// A child process killed on drop.
pub struct Proc {
    child: Child,
    /// Kept open: a later `println!` in the child never meets a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tricircle sim-pod` on a free port: its Keystone stands in for an
/// external one (users admin and demo, password `pw-sim-SECRET`).
pub fn sim_keystone() -> (Proc, String) {
    let mut child = Command::new(BIN)
        .args(["sim-pod", "--region", "KeystoneRegion", "--listen", "127.0.0.1:0", "--zero-delays"])
        .env("TRICIRCLE_SIM_POD_PASSWORD", SIM_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let url = line
        .split("auth URL ")
        .nth(1)
        .map(|u| u.trim().to_string())
        .unwrap_or_else(|| panic!("unexpected sim-pod banner: {line:?}"));
    (Proc { child, _stdout: stdout }, url)
}

pub const SIM_PASSWORD: &str = "pw-sim-SECRET";

/// The `[identity]` part of a configuration for external mode.
pub fn external_config(
    auth_url: &str,
    user: &str,
    password: &str,
    project: &str,
    region: &str,
    cache_secs: u64,
) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"./data\"\n[identity]\nmode = \"external\"\nregion = \"{region}\"\n\
         [identity.external]\nauth_url = \"{auth_url}\"\nusername = \"{user}\"\npassword = \"{password}\"\n\
         project_name = \"{project}\"\ntoken_cache_secs = {cache_secs}\n"
    )
}

/// Start `tricircle serve` with `config` in `dir` (debug log in
/// `dir/serve.log`); `Err((exit status, stderr))` when it does not start.
pub fn serve(dir: &Path, config: &str) -> Result<(Proc, String), (Option<i32>, String)> {
    let path = dir.join("tricircle.toml");
    std::fs::write(&path, config).unwrap();
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"])
        .arg(&path)
        .current_dir(dir)
        .env("RUST_LOG", "debug")
        .env_remove("TRICIRCLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(log);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TRICIRCLE__")) {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    if line.is_empty() {
        let status = child.wait().unwrap();
        let stderr = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        return Err((status.code(), stderr));
    }
    let base = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Ok((Proc { child, _stdout: stdout }, base))
}

/// `(status, body)` of one request with an optional token.
pub async fn call(method: reqwest::Method, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.header("X-Auth-Token", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A password login at a Keystone v3: the token.
pub async fn login(auth_url: &str, user: &str, password: &str, project: &str) -> String {
    let c = tricircle_pod_client::Credentials {
        auth_url: auth_url.into(),
        username: user.into(),
        password: password.into(),
        project_name: project.into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
    };
    tricircle_pod_client::password_login(&reqwest::Client::new(), &c).await.unwrap().value
}

pub fn one_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    lines[0].to_string()
}
