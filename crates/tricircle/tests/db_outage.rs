//! The database goes away under a running gateway (on PostgreSQL, through
//! a TCP proxy the test cuts): every API answers 503 in its own error body
//! with a message that says what is wrong and nothing internal, the process
//! keeps running, and it serves again by itself once the database is back.
//! Runs when `TRICIRCLE_TEST_PG` names a server (CI sets it).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Up;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tricircle_store::testing::PgDatabase;

/// A TCP proxy to the database server that can be cut (open connections
/// dropped, new ones refused) and restored.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (flag, list) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                list.lock().unwrap().push(conn);
            }
        });
        Proxy { addr, up, conns, accept }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(method, path, token, None).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the gateway answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A token for the admin in `cloud`; `(status, token)`.
    async fn login(&self, cloud: &Value) -> (u16, Option<String>) {
        let auth = &cloud["auth"];
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "password": auth["password"],
                "domain": {"name": "Default"}}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}});
        let resp = self
            .http
            .post(format!("{}/identity/v3/auth/tokens", self.base))
            .json(&body)
            .send()
            .await
            .expect("the gateway answers");
        let token = resp.headers().get("x-subject-token").map(|t| t.to_str().unwrap().to_string());
        (resp.status().as_u16(), token)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_and_the_gateway_recovers_by_itself() {
    let Some(db) = PgDatabase::create().await else {
        eprintln!("skipped: {} is not set", tricircle_store::testing::PG_ENV);
        return;
    };
    let proxy = Proxy::start(db.host_port()).await;
    let url = db.url_via(&proxy.addr.to_string());
    let up = tokio::task::spawn_blocking(move || {
        Up::start_with_env(
            0,
            &[
                ("TRICIRCLE__DATABASE__URL", url.as_str()),
                ("TRICIRCLE__DATABASE__ACQUIRE_TIMEOUT_SECS", "2"),
            ],
        )
    })
    .await
    .unwrap();
    let client = Client { http: reqwest::Client::new(), base: up.base.clone() };
    let admin = up.cloud("tricircle");
    let (status, token) = client.login(&admin).await;
    assert_eq!(status, 201);
    let token = token.expect("a token");
    let get = |path: &'static str| {
        let (client, token) = (&client, token.clone());
        async move { client.call(reqwest::Method::GET, path, Some(&token)).await }
    };
    assert_eq!(get("/compute/v2.1/flavors").await.0, 200);
    assert_eq!(get("/admin/v1.0/jobs").await.0, 200);

    proxy.cut();
    // Each API's own error body, a message that says what is wrong, and
    // nothing of the database's internals.
    let checks: [(&str, &str); 5] = [
        ("/compute/v2.1/flavors", "serviceUnavailable"),
        ("/networking/v2.0/networks", "NeutronError"),
        ("/image/v2/images", ""),
        ("/admin/v1.0/jobs", "serviceUnavailable"),
        ("/identity/v3/projects", "error"),
    ];
    for (path, key) in checks {
        let started = Instant::now();
        let (status, body) = get(path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{path} answered within the pool's wait"
        );
        let text = body.to_string();
        assert!(text.contains("database is unavailable"), "{path}: {text}");
        if !key.is_empty() {
            assert!(body.get(key).is_some(), "{path}: not the service's error body: {text}");
        }
        for leak in ["sqlx", "refused", "5432", &proxy.addr.port().to_string(), "pool"] {
            assert!(!text.to_lowercase().contains(leak), "{path} leaks {leak}: {text}");
        }
    }
    assert_eq!(client.login(&admin).await.0, 503, "no new tokens either");
    let (status, _) = client.call(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(status, 503, "not ready without its database");
    let (status, _) = client.call(reqwest::Method::GET, "/healthz", None).await;
    assert_eq!(status, 200, "alive all the same");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get("/compute/v2.1/flavors").await;
        if status == 200 {
            assert!(body["flavors"].as_array().is_some_and(|f| !f.is_empty()), "{body}");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "the gateway did not recover by itself");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(client.login(&admin).await.0, 201, "tokens again");
    assert_eq!(get("/admin/v1.0/jobs").await.0, 200);
    let (status, _) = client.call(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(status, 200);
    drop(up);
    db.drop_now().await;
}
