//! The gateway's one error type.
//!
//! Every error carries an *external* message, which is safe to show to the
//! client and says what to fix, and optionally an *internal* detail, which is
//! only ever logged (with the request id). The split follows omicron's
//! `MessagePair`: a database error, a pod's 500 text or a file path must never
//! reach a client, but the operator needs them in the log.
//!
//! The HTTP status and the body shape are decided by each API surface's
//! renderer (see `tricircle-openstack-api::fault`); this type only says what
//! kind of failure happened.

use std::fmt;

/// What kind of failure an [`Error`] is; each maps to one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed: bad JSON, wrong type, unknown field, bad
    /// UUID, a limit out of range. (400)
    BadRequest,
    /// No credentials, or credentials that are not valid. (401)
    Unauthorized,
    /// Valid credentials that lack the role for this call. (403)
    Forbidden,
    /// The named object does not exist or is not visible to the caller. (404)
    NotFound,
    /// The method is not allowed on this path. (405)
    MethodNotAllowed,
    /// The request conflicts with the current state: duplicates, objects
    /// still in use, a job that is running. (409)
    Conflict,
    /// The request body is larger than the configured limit. (413)
    PayloadTooLarge,
    /// The request is well formed but a value is semantically empty or
    /// invalid (upstream Tricircle's 422 for an empty region name). (422)
    Unprocessable,
    /// A dependency (database, pod) is unavailable; retrying may help. (503)
    Unavailable,
    /// A bug or an unexpected failure; the client gets a generic message. (500)
    Internal,
}

impl ErrorKind {
    /// The HTTP status code of this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::Unprocessable => 422,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
        }
    }
}

/// An error with a client-safe message and an optional log-only detail.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    external: String,
    internal: Option<String>,
    /// The API's own name for this failure, where its error body has one
    /// (Neutron's exception type: `NetworkNotFound`, `IpAddressAlreadyAllocated`).
    type_name: Option<&'static str>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message a client sees for an internal error: nothing about the cause.
const INTERNAL_MESSAGE: &str =
    "The server encountered an unexpected error; the request id identifies it in the server log.";

impl Error {
    pub fn new(kind: ErrorKind, external: impl Into<String>) -> Self {
        Error { kind, external: external.into(), internal: None, type_name: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, message)
    }

    /// `"<Kind> <id> could not be found."`, the wording Nova and Cinder use.
    pub fn not_found(kind: &str, id: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotFound, format!("{kind} {id} could not be found."))
    }

    /// A dependency is down; `external` says which, `internal` says why.
    pub fn unavailable(external: impl Into<String>, internal: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Unavailable, external).with_internal(internal)
    }

    /// An unexpected failure: the client sees a generic message, the log gets
    /// `internal`.
    pub fn internal(internal: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Internal, INTERNAL_MESSAGE).with_internal(internal)
    }

    /// Attach a log-only detail.
    pub fn with_internal(mut self, internal: impl fmt::Display) -> Self {
        self.internal = Some(internal.to_string());
        self
    }

    /// Name the failure the way the API's error body does.
    pub fn with_type(mut self, type_name: &'static str) -> Self {
        self.type_name = Some(type_name);
        self
    }

    pub fn type_name(&self) -> Option<&'static str> {
        self.type_name
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The message that may be sent to the client.
    pub fn external_message(&self) -> &str {
        &self.external
    }

    /// The detail that may only be logged.
    pub fn internal_detail(&self) -> Option<&str> {
        self.internal.as_deref()
    }
}

// Display is what logs print: both halves, so an operator sees the cause.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.external)?;
        if let Some(internal) = &self.internal {
            write!(f, " ({internal})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {self}", self.kind)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_error_hides_its_cause_from_the_client() {
        let err = Error::internal("connection refused to 10.0.0.5:5432");
        assert_eq!(err.status(), 500);
        assert!(!err.external_message().contains("10.0.0.5"));
        assert_eq!(err.internal_detail(), Some("connection refused to 10.0.0.5:5432"));
        assert!(err.to_string().contains("10.0.0.5"), "the log line keeps the cause");
    }

    #[test]
    fn not_found_names_the_object() {
        let err = Error::not_found("Pod", "abc");
        assert_eq!(err.status(), 404);
        assert_eq!(err.external_message(), "Pod abc could not be found.");
    }
}
