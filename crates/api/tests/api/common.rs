//! A gateway on a free port with a fresh database, and a client for it.
//!
//! Tokens: `ADMIN` has the admin role, `MEMBER` is valid without it (both
//! in project `p1`), `OTHER` is a member of project `p2`; any other token
//! is invalid.

#![allow(dead_code)]

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tricircle_api::auth::AuthFuture;
use tricircle_api::{ApiState, Authenticator, HttpSettings};
use tricircle_common::{AuthContext, Error};
use tricircle_core::{App, SecretBox, Settings};
use tricircle_store::Store;
use tricircle_store::testing::{Backend, TestDb};

pub const ADMIN: &str = "admin-token";
pub const MEMBER: &str = "member-token";
/// A member of another project (`p2`).
pub const OTHER: &str = "other-token";
pub const PAGE_MAX: u32 = 50;
pub const ADMIN_PASSWORD: &str = "bootstrap-pw";

struct TestAuth;

impl Authenticator for TestAuth {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            let roles = match token {
                ADMIN => vec!["admin".to_string(), "member".to_string()],
                MEMBER | OTHER => vec!["member".to_string()],
                _ => return Err(Error::unauthorized("The token is not valid.")),
            };
            let project = if token == OTHER { "p2" } else { "p1" };
            Ok(AuthContext {
                user_id: format!("user-{token}"),
                user_name: token.to_string(),
                project_id: Some(project.into()),
                roles,
            })
        })
    }
}

pub struct Gateway {
    pub base: String,
    pub app: App,
    pub http: reqwest::Client,
    pub db: TestDb,
    server: tokio::task::JoinHandle<()>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Gateway {
    pub async fn start(backend: Backend) -> Option<Gateway> {
        let db = TestDb::new(backend).await?;
        Some(Self::start_on(db).await)
    }

    pub async fn start_on(db: TestDb) -> Gateway {
        let app =
            App::new(db.store.clone(), SecretBox::from_key([42; 32]), Settings::new(PAGE_MAX));
        Self::serve(db, app, Arc::new(TestAuth)).await
    }

    /// A gateway whose callers authenticate with the embedded identity
    /// service, bootstrapped with `admin` / [`ADMIN_PASSWORD`].
    pub async fn start_embedded(backend: Backend) -> Option<Gateway> {
        let db = TestDb::new(backend).await?;
        tricircle_core::identity::bootstrap::bootstrap(&db.store, ADMIN_PASSWORD).await.unwrap();
        let app =
            App::new(db.store.clone(), SecretBox::from_key([42; 32]), Settings::new(PAGE_MAX));
        let auth = Arc::new(tricircle_api::EmbeddedIdentityAuth::new(app.clone(), None));
        Some(Self::serve(db, app, auth).await)
    }

    async fn serve(db: TestDb, app: App, auth: Arc<dyn Authenticator>) -> Gateway {
        let state =
            ApiState { app: app.clone(), auth, public_url: None, region: "RegionOne".into() };
        let router = tricircle_api::router(state, &HttpSettings { max_body_bytes: 16 * 1024 });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Gateway { base: format!("http://{addr}"), app, http: reqwest::Client::new(), db, server }
    }

    pub fn store(&self) -> &Store {
        &self.db.store
    }

    /// Send a request with `token` (None: no token header) and a raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        Reply { status, headers, body }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.raw(method, path, Some(ADMIN), body.map(|b| b.to_string())).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn cleanup(self) {
        self.server.abort();
        self.db.cleanup().await;
    }
}

impl Reply {
    /// Assert the status and that the body is the Nova-style fault for it;
    /// returns the message.
    #[track_caller]
    pub fn fault(&self, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        let name = tricircle_openstack_api::fault::nova_fault_name(status);
        let fault = &self.body[name];
        assert_eq!(fault["code"], status, "fault body: {}", self.body);
        let message = fault["message"].as_str().expect("fault message").to_string();
        assert!(!message.is_empty());
        for leak in ["sqlx", "Error {", "panicked", "src/", "Some(", "::"] {
            assert!(!message.contains(leak), "internal detail in message: {message}");
        }
        message
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
}

/// Declare gateway tests that run once per backend.
#[macro_export]
macro_rules! gateway_tests {
    ($(async fn $name:ident($gw:ident: &Gateway) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($gw: &$crate::common::Gateway) $body

                #[tokio::test]
                async fn sqlite() {
                    let gw = $crate::common::Gateway::start(tricircle_store::testing::Backend::Sqlite).await.unwrap();
                    body(&gw).await;
                    gw.cleanup().await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(gw) = $crate::common::Gateway::start(tricircle_store::testing::Backend::Postgres).await else {
                        eprintln!("skipped: {} is not set", tricircle_store::testing::PG_ENV);
                        return;
                    };
                    body(&gw).await;
                    gw.cleanup().await;
                }
            }
        )*
    };
}

/// A request to the top Neutron: `path` is relative to `/networking/v2.0`.
pub async fn neutron_call(
    gw: &Gateway,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let path = format!("/networking/v2.0{path}");
    gw.raw(method, &path, Some(token), body.map(|b| b.to_string())).await
}

/// Assert the status and Neutron's error body of this type; returns the message.
#[track_caller]
pub fn neutron_error(r: &Reply, status: u16, ty: &str) -> String {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    let e = &r.body["NeutronError"];
    assert_eq!(r.body.as_object().map(|o| o.len()), Some(1), "only NeutronError: {}", r.body);
    assert_eq!(e["type"], ty, "error type: {}", r.body);
    let message = e["message"].as_str().unwrap_or_else(|| panic!("no message: {}", r.body));
    assert!(!message.is_empty());
    for leak in ["sqlx", "panicked", "src/", "::", "tricircle:"] {
        assert!(!message.contains(leak), "internal detail in message: {message}");
    }
    message.to_string()
}

/// A JSON string value, or a test failure naming it.
#[track_caller]
pub fn neutron_str(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}

/// The IDs of a Neutron list answer's `collection`.
#[track_caller]
pub fn neutron_ids(r: &Reply, collection: &str) -> Vec<String> {
    r.ok(200)[collection]
        .as_array()
        .unwrap_or_else(|| panic!("no {collection} array: {}", r.body))
        .iter()
        .map(|x| neutron_str(&x["id"]))
        .collect()
}

/// Create one Neutron object (`one` in `/{coll}`), expecting 201.
pub async fn neutron_create(
    gw: &Gateway,
    token: &str,
    one: &str,
    coll: &str,
    body: Value,
) -> Value {
    let r = neutron_call(gw, token, Method::POST, &format!("/{coll}"), Some(json!({ one: body })))
        .await;
    r.ok(201)[one].clone()
}
