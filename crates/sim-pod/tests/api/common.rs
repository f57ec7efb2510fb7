//! A tiny authenticated JSON client for the tests.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tricircle_sim_pod::{SimPodConfig, SimPodHandle, start};

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub async fn pod() -> SimPodHandle {
    start(SimPodConfig::for_tests("RegionOne")).await.expect("pod starts")
}

/// Issue a token for `user` on `project`.
pub async fn token(base: &str, user: &str, project: &str) -> (u16, String, Value) {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}
    }});
    let r = reqwest::Client::new()
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    let tok =
        r.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, tok, body)
}

impl Client {
    pub async fn admin(pod: &SimPodHandle) -> Client {
        Self::user(pod, "admin", "admin").await
    }

    pub async fn user(pod: &SimPodHandle, user: &str, project: &str) -> Client {
        let base = pod.base_url().to_string();
        let (status, token, _) = token(&base, user, project).await;
        assert_eq!(status, 201);
        Client { http: reqwest::Client::new(), base, token }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(m, format!("{}{path}", self.base))
            .header("x-auth-token", &self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_string());
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(if text.is_empty() {
            Value::Null
        } else {
            Value::String(text)
        });
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(body), &[]).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send("PUT", path, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None, &[]).await
    }
    /// A compute call at a given microversion.
    pub async fn nova(&self, method: &str, path: &str, body: Option<Value>, mv: &str) -> Resp {
        let hv = format!("compute {mv}");
        self.send(
            method,
            &format!("/compute/v2.1{path}"),
            body,
            &[("openstack-api-version", hv.as_str())],
        )
        .await
    }
    pub async fn cinder(&self, method: &str, path: &str, body: Option<Value>, mv: &str) -> Resp {
        let hv = format!("volume {mv}");
        self.send(
            method,
            &format!("/volume/v3{path}"),
            body,
            &[("openstack-api-version", hv.as_str())],
        )
        .await
    }

    /// network + subnet 10.0.0.0/24; returns (network id, subnet id).
    pub async fn net_with_subnet(&self, name: &str, cidr: &str) -> (String, String) {
        let n = self.post("/networking/v2.0/networks", json!({"network": {"name": name}})).await;
        assert_eq!(n.status, 201, "{:?}", n.body);
        let net = n.body["network"]["id"].as_str().unwrap().to_string();
        let s = self
            .post("/networking/v2.0/subnets", json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4, "name": format!("{name}-sub")}}))
            .await;
        assert_eq!(s.status, 201, "{:?}", s.body);
        (net, s.body["subnet"]["id"].as_str().unwrap().to_string())
    }

    /// An active image with `data`; returns its id.
    pub async fn image(&self, name: &str, data: &[u8]) -> String {
        let r = self.post("/image/v2/images", json!({"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "public"})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        let up = self
            .http
            .put(format!("{}/image/v2/images/{id}/file", self.base))
            .header("x-auth-token", &self.token)
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(up.status().as_u16(), 204);
        id
    }

    /// Boot a server on `net` from `image` at 2.79 and return its id.
    pub async fn server(&self, name: &str, image: &str, net: &str) -> String {
        let r = self
            .nova("POST", "/servers", Some(json!({"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": [{"uuid": net}]}})), "2.79")
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        r.body["server"]["id"].as_str().unwrap().to_string()
    }
}
