//! Errors of calls to a pod, and the services' error bodies parsed into them.
//!
//! Messages describe the failure in our words, or quote the pod's own
//! message for a 4xx (which is about the request we made); they never carry
//! credentials or tokens.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("the pod did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect to the pod: {0}")]
    Connect(String),
    /// The pod answered with an error status.
    #[error("the pod answered HTTP {status} {kind}: {message}")]
    Service {
        status: u16,
        /// The fault name (`itemNotFound`), Neutron's exception type
        /// (`NetworkNotFound`), or the status title.
        kind: String,
        message: String,
        /// The pod's `x-openstack-request-id`, to find the call in its logs.
        request_id: Option<String>,
    },
    /// The pod's Keystone refused our credentials or gave no usable token.
    #[error("cannot log in to the pod: {0}")]
    Auth(String),
    /// The pod's Keystone refused a token the gateway forwarded on a
    /// caller's behalf (expired or revoked since the gateway validated it).
    #[error("the pod refused the caller's token: {0}")]
    TokenRefused(String),
    #[error("the pod's catalog has no {interface} {service} endpoint in region {region}")]
    NoEndpoint { service: String, region: String, interface: String },
    #[error("the pod's {service} supports microversions {min} to {max}, not {requested}")]
    Microversion { service: String, requested: String, min: String, max: String },
    #[error("the pod's answer is not what the API promises: {0}")]
    Protocol(String),
    #[error("the pod answered HTTP {status}")]
    Status { status: u16 },
    #[error("the pod's answer is not an identity version document")]
    NotIdentity,
}

impl PodError {
    /// The HTTP status of a service error.
    pub fn status(&self) -> Option<u16> {
        match self {
            PodError::Service { status, .. } | PodError::Status { status } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may help (timeouts, refused connections,
    /// 5xx, 429, and 409s that mean "busy").
    pub fn is_retryable(&self) -> bool {
        match self {
            PodError::Timeout(_) | PodError::Connect(_) => true,
            PodError::Service { status, .. } | PodError::Status { status } => {
                *status >= 500 || *status == 429
            }
            _ => false,
        }
    }
}

/// The fault name and message of an OpenStack error body: Nova and Cinder
/// `{"itemNotFound": {"code", "message"}}`, Neutron `{"NeutronError":
/// {"type", "message", "detail"}}`, Keystone `{"error": {"code", "title",
/// "message"}}`, Glance's flat `{"code", "title", "message"}`, or a text or
/// HTML body.
pub fn parse_fault(status: u16, body: &[u8]) -> (String, String) {
    let title = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
        .to_string();
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) {
        let text = |v: &Value| v.as_str().map(str::to_string);
        if let Some(n) = obj.get("NeutronError") {
            let kind = n.get("type").and_then(text).unwrap_or(title);
            let message = n.get("message").and_then(text).unwrap_or_default();
            return (kind, message);
        }
        if let Some(e) = obj.get("error").filter(|e| e.is_object()) {
            let kind = e.get("title").and_then(text).unwrap_or(title);
            let message = e.get("message").and_then(text).unwrap_or_default();
            return (kind, message);
        }
        if let Some(message) = obj.get("message").and_then(text) {
            let kind = obj.get("title").and_then(text).unwrap_or(title);
            return (kind, message);
        }
        if obj.len() == 1
            && let Some((name, inner)) = obj.iter().next()
            && let Some(message) = inner.get("message").and_then(text)
        {
            return (name.clone(), message);
        }
    }
    (title, plain_text(body))
}

/// A short plain-text rendering of a text or HTML body.
fn plain_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut joined = words.join(" ");
    if joined.chars().count() > 300 {
        joined = joined.chars().take(300).collect::<String>() + "...";
    }
    joined
}

pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::parse_fault;

    #[test]
    fn every_service_body_shape() {
        let nova =
            br#"{"itemNotFound": {"code": 404, "message": "Instance x could not be found."}}"#;
        assert_eq!(
            parse_fault(404, nova),
            ("itemNotFound".into(), "Instance x could not be found.".into())
        );
        let neutron = br#"{"NeutronError": {"type": "NetworkNotFound", "message": "Network n could not be found.", "detail": ""}}"#;
        assert_eq!(
            parse_fault(404, neutron),
            ("NetworkNotFound".into(), "Network n could not be found.".into())
        );
        let keystone = br#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#;
        assert_eq!(parse_fault(401, keystone).0, "Unauthorized");
        let glance =
            br#"{"code": "404", "title": "Not Found", "message": "No image found with ID i"}"#;
        assert_eq!(
            parse_fault(404, glance),
            ("Not Found".into(), "No image found with ID i".into())
        );
        let html = b"<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1>No image</body></html>";
        assert_eq!(parse_fault(404, html).0, "Not Found");
        assert!(parse_fault(404, html).1.contains("No image"));
        assert_eq!(parse_fault(503, b"").0, "Service Unavailable");
    }
}
