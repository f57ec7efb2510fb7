//! The outside tools: nginx (Debian's package) as a plain reverse proxy in
//! front of a sim pod, and wrk as the load generator.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::stats::parse_wrk_duration;

/// Where a program is: `PATH`, then the sbin directories (nginx lives in
/// `/usr/sbin`, which a non-root `PATH` often lacks).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Both tools, or an error that says how to install them.
pub fn require_tools() -> anyhow::Result<(PathBuf, PathBuf)> {
    let nginx = find_program("nginx");
    let wrk = find_program("wrk");
    match (nginx, wrk) {
        (Some(n), Some(w)) => Ok((n, w)),
        (n, w) => {
            let missing: Vec<&str> = [(n.is_none(), "nginx"), (w.is_none(), "wrk")]
                .iter()
                .filter(|x| x.0)
                .map(|x| x.1)
                .collect();
            bail!(
                "`tricircle bench` needs {} on this machine; on Debian or Ubuntu: \
                 `sudo apt-get install -y {}`",
                missing.join(" and "),
                missing.join(" ")
            )
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for the tool).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// nginx running as a reverse proxy; stopped on drop.
pub struct Nginx {
    child: Option<Child>,
    pub port: u16,
    pub version: String,
    binary: PathBuf,
    config: PathBuf,
    prefix: PathBuf,
}

impl Nginx {
    /// Start nginx in `dir` proxying 127.0.0.1:PORT to `upstream` over
    /// keep-alive connections; with the settings of Debian's default
    /// `nginx.conf` where they matter (worker_processes auto, access log on).
    pub fn start(binary: &Path, dir: &Path, upstream: SocketAddr) -> anyhow::Result<Nginx> {
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("logs"))?;
        let port = free_port()?;
        let p = prefix.display();
        let conf = format!(
            "daemon off;\nworker_processes auto;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log {p}/logs/access.log;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
               fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
               keepalive_requests 1000000;\n\
               upstream pod {{ server {upstream}; keepalive 128; }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://pod;\n\
                   proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $http_host;\n\
                 }}\n  }}\n}}\n"
        );
        let config = prefix.join("nginx.conf");
        std::fs::write(&config, conf)?;
        let version = Command::new(binary)
            .arg("-v")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stderr)
                    .trim()
                    .trim_start_matches("nginx version: ")
                    .to_string()
            })
            .unwrap_or_default();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .arg("-p")
            .arg(&prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start nginx")?;
        let mut nginx =
            Nginx { child: Some(child), port, version, binary: binary.into(), config, prefix };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(c) = nginx.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                let log = std::fs::read_to_string(nginx.prefix.join("logs/error.log"))
                    .unwrap_or_default();
                bail!("nginx exited ({status}): {log}");
            }
            if Instant::now() > deadline {
                bail!("nginx did not listen on port {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nginx)
    }

    /// Stop nginx (master and workers) gracefully.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .arg("-p")
            .arg(&self.prefix)
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The master we started; its workers exit when it does.
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one wrk run measured.
#[derive(Clone, Debug, Default)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub requests: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Non-2xx answers plus socket errors.
    pub errors: u64,
}

/// `wrk -t1 -cC -dDs --latency -H "X-Auth-Token: T" URL`.
pub async fn wrk(
    binary: &Path,
    url: &str,
    token: &str,
    connections: u32,
    seconds: u64,
) -> anyhow::Result<WrkResult> {
    let out = tokio::process::Command::new(binary)
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency"])
        .args(["-H", &format!("X-Auth-Token: {token}")])
        .arg(url)
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!("wrk failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text).with_context(|| format!("cannot read wrk's output:\n{text}"))
}

/// Read wrk's `--latency` report.
pub fn parse_wrk(text: &str) -> anyhow::Result<WrkResult> {
    let mut r = WrkResult::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v, ..] => r.requests_per_sec = v.parse()?,
            ["50%", v, ..] => r.p50_us = parse_wrk_duration(v).context("50%")?,
            ["99%", v, ..] => r.p99_us = parse_wrk_duration(v).context("99%")?,
            [n, "requests", "in", ..] => r.requests = n.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", n, ..] => r.errors += n.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    if r.requests_per_sec <= 0.0 {
        bail!("no Requests/sec line");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_latency_report() {
        let text = "Running 2s test @ http://127.0.0.1:1/x\n  1 threads and 8 connections\n\
  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   412.33us  100.00us   3.00ms   90.00%\n\
    Req/Sec    19.50k     1.00k   21.00k    80.00%\n  Latency Distribution\n     50%  390.00us\n\
     75%  450.00us\n     90%  520.00us\n     99%    1.10ms\n  39000 requests in 2.00s, 30.00MB read\n\
  Socket errors: connect 0, read 1, write 0, timeout 2\n  Non-2xx or 3xx responses: 3\n\
Requests/sec:  19500.25\nTransfer/sec:     15.00MB\n";
        let r = parse_wrk(text).unwrap();
        assert_eq!(r.requests, 39000);
        assert_eq!(r.requests_per_sec, 19500.25);
        assert_eq!(r.p50_us, 390.0);
        assert_eq!(r.p99_us, 1100.0);
        assert_eq!(r.errors, 6);
        assert!(parse_wrk("garbage").is_err());
    }
}
