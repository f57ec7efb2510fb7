//! `tricircle trace` exits 2 on every error: bad usage, a gateway that does
//! not answer, and the gateway refusing the request (unknown port); from the
//! outside to an address that is no floating IP it exits 1 and says why.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tricircle");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> (Server, String) {
    let config = dir.join("tricircle.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\ndata_dir = \"./.tricircle\"\n").unwrap();
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir)
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
    (Server(child), addr)
}

fn trace(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("trace")
        .args(args)
        .current_dir(dir)
        .env("OS_ENDPOINT", endpoint)
        .env_remove("OS_TOKEN")
        .env_remove("OS_CLOUD")
        .output()
        .unwrap()
}

#[test]
fn trace_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_server, ep) = start(d);
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).to_string();

    let unknown = trace(d, &ep, &["--from-port", "no-such-port", "--to", "10.0.0.1"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("no-such-port"), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("404"), "{}", stderr(&unknown));

    let json = trace(d, &ep, &["--from-port", "p", "--to", "10.0.0.1", "-f", "json"]);
    assert_eq!(json.status.code(), Some(2), "{}", stderr(&json));
    assert!(json.stdout.is_empty(), "nothing on stdout for an error");

    let bad_ip = trace(d, &ep, &["--from-port", "p", "--to", "10.0.0.300"]);
    assert_eq!(bad_ip.status.code(), Some(2), "{}", stderr(&bad_ip));
    let missing = trace(d, &ep, &["--to", "10.0.0.1"]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    let both = trace(d, &ep, &["--from-port", "p", "--from-outside", "--to", "10.0.0.1"]);
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    assert!(stderr(&both).contains("--from-outside"), "{}", stderr(&both));

    // Nobody listening there.
    let gone = trace(d, "http://127.0.0.1:9", &["--from-port", "p", "--to", "10.0.0.1"]);
    assert_eq!(gone.status.code(), Some(2), "{}", stderr(&gone));
}

#[test]
fn trace_from_outside_to_no_floating_ip_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_server, ep) = start(d);

    let text = trace(d, &ep, &["--from-outside", "--to", "203.0.113.7"]);
    let stdout = String::from_utf8_lossy(&text.stdout).to_string();
    assert_eq!(text.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&text.stderr));
    assert!(stdout.contains("NOT reachable: no floating IP 203.0.113.7 in any region"), "{stdout}");

    let json = trace(d, &ep, &["--from-outside", "--to", "203.0.113.7", "-f", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["reachable"], false, "{v}");
    assert_eq!(v["reason"], "no floating IP 203.0.113.7 in any region", "{v}");
}
