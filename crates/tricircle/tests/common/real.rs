//! A real OpenStack region (`scripts/real-openstack`) registered as a pod of
//! `tricircle up`, beside its sim pods: the gate on `TRICIRCLE_REAL_CLOUDS`,
//! the registration, and the removal of what the gateway made in the real
//! region (also when a test fails), so repeated CI runs do not accumulate.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Osc, Up};

/// The real region's `clouds.yaml` from `TRICIRCLE_REAL_CLOUDS`, or `None`
/// (the test prints "skipped") when it is not set.
pub fn real_clouds() -> Option<PathBuf> {
    let Some(clouds) = std::env::var_os("TRICIRCLE_REAL_CLOUDS").map(PathBuf::from) else {
        eprintln!(
            "skipped: TRICIRCLE_REAL_CLOUDS is not set (scripts/real-openstack up sets it up)"
        );
        return None;
    };
    assert!(clouds.is_file(), "TRICIRCLE_REAL_CLOUDS={} is not a file", clouds.display());
    Some(clouds)
}

/// `tricircle up --pods N` beside a real region. The real region is
/// `RegionOne`, the default name of the gateway's own region too, and a
/// pod's region name is also where the gateway looks in that pod's catalog;
/// so the gateway's region is renamed.
pub fn up_beside_real(pods: u8) -> Up {
    Up::start_with_env(pods, &[("TRICIRCLE__IDENTITY__REGION", "Tricircle")])
}

/// `tricircle pod add --from-cloud CLOUD` of the real region for `az`, with
/// mapped identity; returns the pod as the CLI prints it.
pub fn add_real_pod(up: &Up, clouds: &Path, cloud: &str, az: &str) -> Value {
    let path = clouds.to_string_lossy().to_string();
    let out = up.admin_cli(&[
        "pod",
        "add",
        "--from-cloud",
        cloud,
        "--clouds-file",
        &path,
        "--az",
        az,
        "--identity",
        "mapped",
        "-f",
        "json",
    ]);
    assert!(out.status.success(), "pod add: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("password"),
        "pod add echoes no password"
    );
    let pod: Value = serde_json::from_slice(&out.stdout).expect("pod json");
    assert_eq!(pod["az_name"], az, "{pod}");
    assert_eq!(pod["identity"], "mapped", "{pod}");
    pod
}

/// The gateway's pod list, by AZ, until the pod answers its health check.
pub fn wait_pod_up(up: &Up, az: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = up.admin_cli(&["pod", "list", "-f", "json"]);
        assert!(out.status.success(), "pod list: {}", String::from_utf8_lossy(&out.stderr));
        let pods: Value = serde_json::from_slice(&out.stdout).expect("pod list json");
        let pod = pods.as_array().unwrap().iter().find(|p| p["az_name"] == az).cloned();
        let pod = pod.unwrap_or_else(|| panic!("no pod for {az}: {pods}"));
        if pod["health"]["status"] == "up" {
            return;
        }
        assert!(Instant::now() < deadline, "pod {az} never became healthy: {pod}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Poll a real-region list (as the real admin) until it is empty.
pub async fn real_list_empties(real: &Osc, kind: &str, project: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = real.json(&[kind, "list", "--all-projects", "--project", project]).await;
        if v == json!([]) {
            return;
        }
        assert!(Instant::now() < deadline, "{kind}s left in the real region: {v}");
    }
}

/// Removes what the gateway made in the real region: runs at the end of
/// the test and, if the test fails before, on drop. `project` is the bottom
/// project `tc-<top project>`, `image` the copied image `tc-<top image>`.
pub struct RealCleanup {
    pub exe: PathBuf,
    pub clouds: PathBuf,
    pub home: PathBuf,
    pub project: String,
    pub image: String,
    pub done: bool,
}

impl RealCleanup {
    fn osc(&self, args: &[&str]) -> (bool, String) {
        Osc::new(&self.exe, &self.clouds, "real", &self.home).run_blocking(args)
    }

    /// Returns what could not be removed.
    pub fn run(&mut self) -> Vec<String> {
        self.done = true;
        let mut problems = Vec::new();
        let (ok, text) = self.osc(&["project", "show", &self.project, "-f", "value", "-c", "id"]);
        if ok {
            let pid = text.trim().to_string();
            for kind in ["server", "volume"] {
                let (ok, text) = self.osc(&[
                    kind,
                    "list",
                    "--all-projects",
                    "--project",
                    &pid,
                    "-f",
                    "value",
                    "-c",
                    "ID",
                ]);
                if !ok {
                    problems.push(format!("{kind} list: {text}"));
                    continue;
                }
                for id in text.split_whitespace() {
                    let args: Vec<&str> = match kind {
                        "server" => vec!["server", "delete", "--force", "--wait", id],
                        _ => vec!["volume", "delete", "--force", id],
                    };
                    let (ok, text) = self.osc(&args);
                    if !ok {
                        problems.push(format!("{kind} delete {id}: {text}"));
                    }
                }
            }
            // Routers first: Neutron deletes neither a router with
            // interfaces nor an interface port, nor an interface a route
            // goes through.
            let list = ["router", "list", "--project", &pid, "-f", "value", "-c", "ID"];
            let (ok, text) = self.osc(&list);
            for router in text.split_whitespace().filter(|_| ok) {
                problems.extend(self.remove_router(router));
            }
            // What a failed run left in the bottom project (ports, shadow
            // ports too, networks with their subnets), and its security groups
            // (copies of the top's and Neutron's `default`): Keystone's project
            // delete leaves them in Neutron.
            for kind in [&["port"][..], &["network"], &["security", "group"]] {
                let list = [kind, &["list", "--project", &pid, "-f", "value", "-c", "ID"]].concat();
                let (ok, text) = self.osc(&list);
                for id in text.split_whitespace().filter(|_| ok) {
                    let (ok, text) = self.osc(&[kind, &["delete", id]].concat());
                    if !ok {
                        problems.push(format!("{} delete {id}: {text}", kind.join(" ")));
                    }
                }
            }
            let (ok, text) = self.osc(&["project", "delete", &pid]);
            if !ok {
                problems.push(format!("project delete {}: {text}", self.project));
            }
        }
        let (ok, text) =
            self.osc(&["image", "list", "--name", &self.image, "-f", "value", "-c", "ID"]);
        if ok {
            for id in text.split_whitespace() {
                let (ok, text) = self.osc(&["image", "delete", id]);
                if !ok {
                    problems.push(format!("image delete {id}: {text}"));
                }
            }
        } else {
            problems.push(format!("image list: {text}"));
        }
        problems
    }

    /// A router of the real region without its routes and interfaces, then
    /// the router; returns what failed.
    fn remove_router(&self, id: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let (ok, text) = self.osc(&["router", "set", "--no-route", id]);
        if !ok {
            problems.push(format!("router set --no-route {id}: {text}"));
        }
        let (ok, text) = self.osc(&["port", "list", "--router", id, "-f", "value", "-c", "ID"]);
        for port in text.split_whitespace().filter(|_| ok) {
            let (ok, text) = self.osc(&["router", "remove", "port", id, port]);
            if !ok {
                problems.push(format!("router remove port {id} {port}: {text}"));
            }
        }
        let (ok, text) = self.osc(&["router", "delete", id]);
        if !ok {
            problems.push(format!("router delete {id}: {text}"));
        }
        problems
    }
}

impl Drop for RealCleanup {
    fn drop(&mut self) {
        if !self.done {
            for p in self.run() {
                eprintln!("cleanup of the real region: {p}");
            }
        }
    }
}
