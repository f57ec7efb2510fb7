//! Running scripted steps against one target and recording what came back.
//!
//! A step is one request with a name, a path template (`/servers/{server}`) and the status the
//! scenario expects. The runner expands the template from the ids it has collected, sends the
//! request, records an [`Exchange`] (shapes only) and notes a failure when the status is not the
//! expected one. The template, not the expanded path, is recorded, so two regions' exchanges
//! pair up although their ids differ. A poll repeats a request until the scenario's condition
//! holds and records only the last answer: intermediate states (BUILD, creating) come and go
//! at a speed that depends on the region, so their shapes are not comparable.

use std::collections::BTreeMap;
use std::time::Instant;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tricircle_pod_client::{Microversion, PodBody, PodRequest, ServiceType};

use crate::compare::Exchange;
use crate::shape::{body_shape, location_shape, mask_ids};
use crate::target::Target;

/// Which API a call goes to. Keystone is called directly at the auth URL: its catalog entry is
/// versioned in one region and not in another, so catalog-relative paths would not pair up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Identity,
    Service(ServiceType),
    /// The unversioned root above a versioned endpoint (`…:8774/` above `…:8774/v2.1`), where
    /// clients look for the version list when the endpoint has none; `None` is Keystone's.
    Root(Option<ServiceType>),
}

pub const COMPUTE: Api = Api::Service(ServiceType::Compute);
pub const VOLUME: Api = Api::Service(ServiceType::BlockStorage);
pub const NETWORK: Api = Api::Service(ServiceType::Network);
pub const IMAGE: Api = Api::Service(ServiceType::Image);
pub const IDENTITY: Api = Api::Identity;

/// One request, before its template is expanded.
#[derive(Clone, Debug)]
pub struct Call {
    pub api: Api,
    pub method: Method,
    pub template: String,
    pub body: Option<PodBody>,
    pub microversion: Option<Microversion>,
    pub authenticated: bool,
}

impl Call {
    pub fn new(api: Api, method: Method, template: &str) -> Self {
        Call {
            api,
            method,
            template: template.into(),
            body: None,
            microversion: None,
            authenticated: true,
        }
    }
    pub fn get(api: Api, template: &str) -> Self {
        Self::new(api, Method::GET, template)
    }
    pub fn post(api: Api, template: &str) -> Self {
        Self::new(api, Method::POST, template)
    }
    pub fn put(api: Api, template: &str) -> Self {
        Self::new(api, Method::PUT, template)
    }
    pub fn delete(api: Api, template: &str) -> Self {
        Self::new(api, Method::DELETE, template)
    }
    pub fn json(mut self, v: Value) -> Self {
        self.body = Some(PodBody::Json(v));
        self
    }
    pub fn raw(mut self, bytes: Vec<u8>, content_type: &str) -> Self {
        self.body = Some(PodBody::Raw { bytes, content_type: content_type.into() });
        self
    }
    pub fn mv(mut self, mv: Microversion) -> Self {
        self.microversion = Some(mv);
        self
    }
    /// Without a token (Keystone's token issue).
    pub fn anonymous(mut self) -> Self {
        self.authenticated = false;
        self
    }
}

/// An answer, whole.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// The string at a JSON pointer (`/server/id`).
    pub fn str_at(&self, pointer: &str) -> Option<String> {
        self.json().pointer(pointer).and_then(Value::as_str).map(str::to_string)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        text.chars().take(300).collect()
    }
}

/// The scenario cannot go on (a transport error, a missing id, a state never reached).
#[derive(Debug)]
pub struct Abort(pub String);

/// Headers clients read; recorded by shape when present.
const HEADERS: [&str; 6] = [
    "location",
    "x-openstack-request-id",
    "openstack-api-version",
    "x-openstack-nova-api-version",
    "content-type",
    "x-subject-token",
];

pub struct Runner<'t> {
    pub target: &'t Target,
    vars: BTreeMap<String, String>,
    pub exchanges: Vec<Exchange>,
    pub failures: Vec<String>,
    /// The token from the scenario's own token issue, for raw Keystone calls.
    token: Option<String>,
}

impl<'t> Runner<'t> {
    pub fn new(target: &'t Target) -> Self {
        Runner {
            target,
            vars: BTreeMap::new(),
            exchanges: Vec::new(),
            failures: Vec::new(),
            token: None,
        }
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    pub fn forget(&mut self, name: &str) {
        self.vars.remove(name);
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    /// Record a failed expectation of the scenario (the run goes on).
    pub fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(format!("{}: {}", self.target.label, message()));
        }
    }

    fn expand(&self, template: &str) -> Result<String, Abort> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| Abort(format!("unclosed placeholder in {template}")))?;
            let name = &rest[open + 1..close];
            let value = self
                .vars
                .get(name)
                .ok_or_else(|| Abort(format!("{template}: no {name} (an earlier step failed)")))?;
            out.push_str(&rest[..open]);
            out.push_str(value);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Send without recording; the endpoint comes back for the Location shape.
    pub async fn send(&self, call: &Call) -> Result<(Resp, String), Abort> {
        let path = self.expand(&call.template)?;
        let t = self.target;
        let transport = |e: String| Abort(format!("{} {} {path}: {e}", t.label, call.method));
        match call.api {
            Api::Service(service) => {
                let endpoint =
                    t.session.endpoint(service).await.map_err(|e| transport(e.to_string()))?;
                let mut req = PodRequest::new(service, call.method.clone(), path.clone());
                req.body = call.body.clone();
                req.microversion = call.microversion;
                let r = t.session.send(&req).await.map_err(|e| transport(e.to_string()))?;
                Ok((Resp { status: r.status, headers: r.headers, body: r.body }, endpoint))
            }
            Api::Identity | Api::Root(_) => {
                let endpoint = match call.api {
                    Api::Root(Some(service)) => {
                        let url = t.session.endpoint(service).await;
                        unversioned(&url.map_err(|e| transport(e.to_string()))?)
                    }
                    Api::Root(None) => unversioned(&t.identity_url()),
                    _ => t.identity_url(),
                };
                let mut b = t
                    .http
                    .request(call.method.clone(), format!("{endpoint}{path}"))
                    .header("Accept", "application/json");
                if call.authenticated
                    && let Some(token) = &self.token
                {
                    b = b.header("X-Auth-Token", token);
                }
                match &call.body {
                    Some(PodBody::Json(v)) => b = b.json(v),
                    Some(PodBody::Raw { bytes, content_type }) => {
                        b = b.header("Content-Type", content_type).body(bytes.clone());
                    }
                    None => {}
                }
                let r = b.send().await.map_err(|e| transport(e.to_string()))?;
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                let body = r.bytes().await.map_err(|e| transport(e.to_string()))?.to_vec();
                Ok((Resp { status, headers, body }, endpoint))
            }
        }
    }

    fn record(&mut self, step: &str, call: &Call, resp: &Resp, endpoint: &str) {
        let mut headers = BTreeMap::new();
        for name in HEADERS {
            let Some(v) = resp.header(name) else { continue };
            let shape = match name {
                "location" => location_shape(v, endpoint),
                "content-type" => v.to_ascii_lowercase().replace("; ", ";"),
                "x-subject-token" => "present".into(),
                _ => mask_ids(v),
            };
            headers.insert(name.to_string(), shape);
        }
        self.exchanges.push(Exchange {
            step: step.into(),
            method: call.method.to_string(),
            path: call.template.clone(),
            status: resp.status,
            headers,
            body: body_shape(&resp.body),
            sample: match std::str::from_utf8(&resp.body) {
                Ok(text) => text.chars().take(4000).collect(),
                Err(_) => format!("({} bytes)", resp.body.len()),
            },
        });
    }

    /// One recorded request; a status other than `expect` is a failure of the scenario.
    pub async fn step(&mut self, step: &str, call: Call, expect: u16) -> Result<Resp, Abort> {
        let (resp, endpoint) = self.send(&call).await?;
        self.record(step, &call, &resp, &endpoint);
        if resp.status != expect {
            let msg = format!(
                "{step}: {} {} expected {expect}, got {}: {}",
                call.method,
                call.template,
                resp.status,
                resp.excerpt()
            );
            self.failures.push(format!("{}: {msg}", self.target.label));
        }
        Ok(resp)
    }

    /// A step whose answer must carry a string at `pointer` (an id to use later).
    pub async fn create(
        &mut self,
        step: &str,
        call: Call,
        expect: u16,
        var: &str,
        pointer: &str,
    ) -> Result<Resp, Abort> {
        let resp = self.step(step, call, expect).await?;
        let id = resp.str_at(pointer).ok_or_else(|| {
            Abort(format!("{}: {step} gave no {pointer}: {}", self.target.label, resp.excerpt()))
        })?;
        self.set(var, id);
        Ok(resp)
    }

    /// Repeat `call` until `until` says done (`Ok(true)`), then record the last answer under
    /// `step`. `Err` from `until` (an ERROR state) or the target's poll timeout aborts.
    pub async fn poll(
        &mut self,
        step: &str,
        call: Call,
        expect: u16,
        until: impl Fn(&Resp) -> Result<bool, String>,
    ) -> Result<Resp, Abort> {
        let started = Instant::now();
        loop {
            let (resp, endpoint) = self.send(&call).await?;
            let verdict = until(&resp);
            let timed_out = started.elapsed() > self.target.poll_timeout;
            if matches!(verdict, Ok(true)) || verdict.is_err() || timed_out {
                self.record(step, &call, &resp, &endpoint);
                if resp.status != expect {
                    self.failures.push(format!(
                        "{}: {step}: expected {expect}, got {}: {}",
                        self.target.label,
                        resp.status,
                        resp.excerpt()
                    ));
                }
                return match verdict {
                    Ok(true) => Ok(resp),
                    Err(e) => Err(Abort(format!("{}: {step}: {e}", self.target.label))),
                    Ok(false) => Err(Abort(format!(
                        "{}: {step}: not reached after {:?}; last answer {}: {}",
                        self.target.label,
                        self.target.poll_timeout,
                        resp.status,
                        resp.excerpt()
                    ))),
                };
            }
            tokio::time::sleep(self.target.poll_interval).await;
        }
    }
}

/// `url` without its last segment when that is a version (`/v2.1`, `/v3`), with a trailing
/// slash as keystoneauth asks for it; `url` itself otherwise.
pub fn unversioned(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((root, last))
            if root.contains("://")
                && last.len() > 1
                && last.starts_with('v')
                && last[1..].chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            format!("{root}/")
        }
        _ => trimmed.to_string(),
    }
}

/// A poll condition: the string at `pointer` equals `want`; one of `fatal` aborts.
pub fn state_is(
    pointer: &'static str,
    want: &'static str,
    fatal: &'static [&'static str],
) -> impl Fn(&Resp) -> Result<bool, String> {
    move |r| {
        let got = r.str_at(pointer);
        match got.as_deref() {
            Some(s) if s == want => Ok(true),
            Some(s) if fatal.contains(&s) => Err(format!("{pointer} became {s}")),
            _ => Ok(false),
        }
    }
}

/// A poll condition: the resource is gone (404).
pub fn gone(r: &Resp) -> Result<bool, String> {
    Ok(r.status == 404)
}

#[cfg(test)]
mod tests {
    use super::unversioned;

    #[test]
    fn roots_above_versioned_endpoints() {
        assert_eq!(unversioned("http://h:8774/v2.1"), "http://h:8774/");
        assert_eq!(unversioned("http://h/volume/v3/"), "http://h/volume/");
        assert_eq!(unversioned("http://h:5000/v3"), "http://h:5000/");
        assert_eq!(unversioned("http://h/networking"), "http://h/networking");
        assert_eq!(unversioned("http://h:9292"), "http://h:9292");
    }
}
