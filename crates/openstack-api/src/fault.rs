//! Each OpenStack service's own error body.
//!
//! Clients parse these: openstackclient prints `message`, openstacksdk and
//! gophercloud look for the fault name. Getting the shape wrong turns a clear
//! error into "Unknown error".

use serde_json::{Value, json};

/// The Nova / Cinder fault name for a status, as their WSGI layer names it;
/// upstream Tricircle's admin API used the same family.
pub fn nova_fault_name(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        422 => "unprocessableEntity",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

/// `{"itemNotFound": {"code": 404, "message": "..."}}`: Nova, Cinder and the
/// Tricircle admin API.
pub fn nova_fault(status: u16, message: &str) -> Value {
    json!({ nova_fault_name(status): { "code": status, "message": message } })
}

/// The standard reason phrase of a status ("Not Found").
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// `{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}`:
/// Keystone.
pub fn keystone_error(status: u16, message: &str) -> Value {
    json!({ "error": { "code": status, "title": reason_phrase(status), "message": message } })
}

/// `{"NeutronError": {"type": "NetworkNotFound", "message": "...", "detail": ""}}`:
/// Neutron. `kind` is Neutron's exception class name.
pub fn neutron_error(kind: &str, message: &str) -> Value {
    json!({ "NeutronError": { "type": kind, "message": message, "detail": "" } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_services() {
        assert_eq!(
            nova_fault(404, "Pod x could not be found."),
            json!({"itemNotFound": {"code": 404, "message": "Pod x could not be found."}})
        );
        assert_eq!(nova_fault(500, "x")["computeFault"]["code"], 500);
        assert_eq!(keystone_error(401, "m")["error"]["title"], "Unauthorized");
        assert_eq!(
            neutron_error("NetworkNotFound", "m")["NeutronError"]["type"],
            "NetworkNotFound"
        );
    }
}
