//! External-Keystone mode against the real Keystone and region of
//! `scripts/real-openstack`, with the unmodified `openstack` CLI.
//!
//! The gateway validates tokens at the real Keystone with its own account
//! (a fresh user with the `service` role, as keystonemiddleware users have);
//! `tricircle endpoints register` lists the gateway under its own region in
//! that Keystone's catalog; clients log in at the real Keystone and pick the
//! gateway with their region. The real RegionOne is a `shared` pod: a server
//! created through the gateway with the demo member's token lands there
//! under the demo project's own ID (checked with the real admin's CLI), with
//! no `tc-` project. Admin role enforced on the admin API, unknown and
//! revoked tokens 401, a member of another project sees nothing, and the
//! gateway's password and the tokens stay out of its debug log. Everything
//! made in the real cloud is removed at the end, also when the test fails.
//!
//! Gated on `TRICIRCLE_REAL_CLOUDS` (`.ci/run` sets it).

mod common;
mod external_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Osc, ensure_cli};
use external_support::{BIN, call, external_config, login, one_line, serve};
use serde_json::{Value, json};

/// What the test made in the real cloud, removed on drop.
struct Made {
    exe: PathBuf,
    clouds: PathBuf,
    home: PathBuf,
    region: String,
    users: Vec<String>,
    project: Option<String>,
    bottom_image: Option<String>,
}

impl Made {
    fn osc(&self, args: &[&str]) -> (bool, String) {
        Osc::new(&self.exe, &self.clouds, "real", &self.home).run_blocking(args)
    }
}

/// The gateway's log, printed when the test fails (its 500s say why there).
struct LogOnPanic(PathBuf);

impl Drop for LogOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            let lines: Vec<&str> =
                log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
            eprintln!(
                "--- gateway warnings and errors ---\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        if let Some(image) = &self.bottom_image {
            let (ok, ids) =
                self.osc(&["image", "list", "--name", image, "-f", "value", "-c", "ID"]);
            for id in ids.split_whitespace().filter(|_| ok) {
                problems
                    .extend(Some(self.osc(&["image", "delete", id])).filter(|r| !r.0).map(|r| r.1));
            }
        }
        for u in &self.users {
            problems.extend(Some(self.osc(&["user", "delete", u])).filter(|r| !r.0).map(|r| r.1));
        }
        if let Some(p) = &self.project {
            problems
                .extend(Some(self.osc(&["project", "delete", p])).filter(|r| !r.0).map(|r| r.1));
        }
        let out = Command::new(BIN)
            .args(["endpoints", "unregister", "--region", &self.region])
            .env("OS_CLIENT_CONFIG_FILE", &self.clouds)
            .env("OS_CLOUD", "real")
            .output()
            .expect("run tricircle");
        if !out.status.success() {
            problems.push(String::from_utf8_lossy(&out.stderr).to_string());
        }
        for p in problems {
            eprintln!("cleanup of the real cloud: {p}");
        }
    }
}

/// A cloud entry of a clouds.yaml.
fn cloud(auth_url: &str, user: &str, password: &str, project: &str, region: &str) -> Value {
    json!({"auth": {"auth_url": auth_url, "username": user, "password": password, "project_name": project,
        "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": region, "identity_api_version": 3, "interface": "public"})
}

fn tricircle(clouds: &Path, cloud: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("OS_CLIENT_CONFIG_FILE", clouds)
        .env("OS_CLOUD", cloud)
        .env_remove("OS_TOKEN")
        .env_remove("OS_ENDPOINT")
        .env_remove("OS_AUTH_URL")
        .output()
        .expect("run tricircle")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_keystone_and_a_shared_real_region() {
    let Some(real_clouds) = std::env::var_os("TRICIRCLE_REAL_CLOUDS").map(PathBuf::from) else {
        eprintln!(
            "skipped: TRICIRCLE_REAL_CLOUDS is not set (scripts/real-openstack up sets it up)"
        );
        return;
    };
    let Some(exe) = tokio::task::spawn_blocking(ensure_cli).await.expect("ensure cli") else {
        return;
    };
    let doc: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&real_clouds).unwrap()).unwrap();
    let auth = |c: &str, k: &str| doc["clouds"][c]["auth"][k].as_str().unwrap().to_string();
    let auth_url = auth("real", "auth_url");
    let suffix = format!("{:08x}", rand_u32());
    let region = format!("TcGw{suffix}");
    let home = tempfile::tempdir().unwrap();
    let mut made = Made {
        exe: exe.clone(),
        clouds: real_clouds.clone(),
        home: home.path().to_path_buf(),
        region: region.clone(),
        users: Vec::new(),
        project: None,
        bottom_image: None,
    };
    let real = Osc::new(&exe, &real_clouds, "real", home.path());

    // The gateway's account: the service role in project service.
    let gw_user = format!("tc-gw-{suffix}");
    let gw_password = format!("pw-gw-SECRET-{suffix}");
    real.ok(&["user", "create", "--project", "service", "--password", &gw_password, &gw_user])
        .await;
    made.users.push(gw_user.clone());
    real.ok(&["role", "add", "--user", &gw_user, "--project", "service", "service"]).await;

    // A wrong password stops the gateway at start, naming the key.
    let dir = tempfile::tempdir().unwrap();
    let wrong = external_config(&auth_url, &gw_user, "not-it", "service", &region, 2);
    let (code, err) = serve(dir.path(), &wrong).err().expect("refused");
    assert_eq!(code, Some(2), "{err}");
    assert!(one_line(&err).contains("key `identity.external.password`"), "{err}");

    let config = external_config(&auth_url, &gw_user, &gw_password, "service", &region, 2);
    let (_gw, base) = serve(dir.path(), &config).expect("the gateway starts");
    let _log_on_failure = LogOnPanic(dir.path().join("serve.log"));

    // The gateway's endpoints in the real catalog, under its region.
    let out = tricircle(
        &real_clouds,
        "real",
        &["endpoints", "register", "--region", &region, "--url", &base, "-f", "json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let compute = format!("{base}/compute/v2.1");
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["service_type"] == "compute" && r["url"] == compute.as_str()),
        "{rows}"
    );

    // Another project with a member of its own.
    let other_project = format!("tc-ext-other-{suffix}");
    let other_user = format!("tc-ext-user-{suffix}");
    let other_password = format!("pw-other-{suffix}");
    real.ok(&["project", "create", &other_project]).await;
    made.project = Some(other_project.clone());
    real.ok(&[
        "user",
        "create",
        "--project",
        &other_project,
        "--password",
        &other_password,
        &other_user,
    ])
    .await;
    made.users.push(other_user.clone());
    real.ok(&["role", "add", "--user", &other_user, "--project", &other_project, "member"]).await;

    // Clients: the real Keystone, the gateway's region.
    let clouds = home.path().join("gw-clouds.yaml");
    let (admin_pw, demo_pw) = (auth("real", "password"), auth("real-demo", "password"));
    let gw_clouds = json!({"clouds": {
        "gw-admin": cloud(&auth_url, &auth("real", "username"), &admin_pw, &auth("real", "project_name"), &region),
        "gw-demo": cloud(&auth_url, &auth("real-demo", "username"), &demo_pw, &auth("real-demo", "project_name"), &region),
        "gw-other": cloud(&auth_url, &other_user, &other_password, &other_project, &region),
    }});
    std::fs::write(&clouds, serde_yaml_ng::to_string(&gw_clouds).unwrap()).unwrap();
    let admin = Osc::new(&exe, &clouds, "gw-admin", home.path());
    let demo = admin.with_cloud("gw-demo");
    let other = admin.with_cloud("gw-other");

    // The admin API with the real admin's token; a member is refused.
    let real_path = real_clouds.to_string_lossy().to_string();
    let out = tricircle(
        &clouds,
        "gw-admin",
        &[
            "pod",
            "add",
            "--from-cloud",
            "real",
            "--clouds-file",
            &real_path,
            "--az",
            "az-shared",
            "--identity",
            "shared",
            "-f",
            "json",
        ],
    );
    assert!(out.status.success(), "pod add: {}", String::from_utf8_lossy(&out.stderr));
    let pod: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pod["identity"], "shared", "{pod}");
    let out = tricircle(&clouds, "gw-demo", &["pod", "list"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("403"),
        "a member is no admin"
    );

    // Top flavor and image, made by the admin through the gateway.
    admin
        .ok(&[
            "flavor", "create", "--id", "ext-tiny", "--ram", "512", "--disk", "1", "--vcpus", "1",
            "ext.tiny",
        ])
        .await;
    let file = home.path().join("image.raw");
    std::fs::write(&file, b"not really a disk").unwrap();
    let image_name = format!("cirros-ext-{suffix}");
    let file_arg = file.to_string_lossy().to_string();
    let image = admin
        .json(&[
            "image",
            "create",
            "--public",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--file",
            &file_arg,
            &image_name,
        ])
        .await;
    made.bottom_image = Some(format!("tc-{}", image["id"].as_str().unwrap()));

    // The member's server lands in the real region under the member's project.
    let vm = demo
        .json(&[
            "server",
            "create",
            "--flavor",
            "ext.tiny",
            "--image",
            &image_name,
            "--availability-zone",
            "az-shared",
            "--wait",
            "vm-ext",
        ])
        .await;
    assert_eq!(vm["status"], "ACTIVE", "{vm}");
    let id = vm["id"].as_str().unwrap().to_string();
    let demo_project = real.with_cloud("real-demo").json(&["token", "issue"]).await["project_id"]
        .as_str()
        .unwrap()
        .to_string();
    let in_real = real.json(&["server", "list", "--all-projects", "--name", &id, "--long"]).await;
    assert_eq!(in_real.as_array().map(Vec::len), Some(1), "{in_real}");
    assert_eq!(
        in_real[0]["Project ID"],
        demo_project.as_str(),
        "the same project ID in the pod: {in_real}"
    );
    let tc = real.json(&["project", "list"]).await;
    assert!(
        !tc.as_array().unwrap().iter().any(|p| p["Name"] == format!("tc-{demo_project}").as_str()),
        "{tc}"
    );
    let list = demo.json(&["server", "list"]).await;
    assert!(list.as_array().unwrap().iter().any(|s| s["ID"] == id.as_str()), "{list}");
    assert_eq!(demo.json(&["server", "show", &id]).await["status"], "ACTIVE");

    // Another project's member sees nothing of it and cannot delete it.
    assert_eq!(other.json(&["server", "list"]).await, json!([]));
    let err = other.fails(&["server", "show", &id]).await;
    assert!(err.contains("No Server found") || err.contains("404"), "{err}");
    other.fails(&["server", "delete", &id]).await;

    // Tokens over plain HTTP: unknown 401; revoked 401 once the 2 s cache lets go.
    let servers = format!("{base}/compute/v2.1/servers");
    assert_eq!(call(reqwest::Method::GET, &servers, Some("gAAAAA-unknown")).await.0, 401);
    let doomed = login(
        &auth_url,
        &auth("real-demo", "username"),
        &demo_pw,
        &auth("real-demo", "project_name"),
    )
    .await;
    assert_eq!(call(reqwest::Method::GET, &servers, Some(&doomed)).await.0, 200);
    real.ok(&["token", "revoke", &doomed]).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(call(reqwest::Method::GET, &servers, Some(&doomed)).await.0, 401, "revoked");
    let (status, body) = call(reqwest::Method::GET, &format!("{base}/identity/v3"), None).await;
    assert_eq!(status, 404, "{body}");

    // Delete through the gateway: gone from the real region.
    demo.ok(&["server", "delete", "--wait", &id]).await;
    assert_eq!(demo.json(&["server", "list"]).await, json!([]));
    assert_eq!(real.json(&["server", "list", "--all-projects", "--name", &id]).await, json!([]));

    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("validating tokens at the external Keystone"), "the log is written");
    for secret in [gw_password.as_str(), admin_pw.as_str(), demo_pw.as_str(), doomed.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    drop(made);
    let (ok, _) = (real.run(&["region", "show", &region]).await.0, ());
    assert!(!ok, "the gateway's region was unregistered");
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    t.subsec_nanos() ^ std::process::id().rotate_left(16)
}
