//! Typed identifiers, so a pod ID cannot be passed where a job ID is wanted.
//!
//! IDs are UUIDs on the wire in their hyphenated lowercase form, as OpenStack
//! prints them. Parsing accepts any form `uuid` accepts and normalises it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_kind {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random ID.
            pub fn new() -> Self {
                $name(Uuid::new_v4())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// What kind of ID this is, for error messages.
            pub const LABEL: &'static str = $label;
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                $name(u)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name).map_err(|_| {
                    crate::Error::bad_request(format!(
                        "Invalid {} '{}': it must be a UUID.",
                        $label,
                        truncate_for_message(s)
                    ))
                })
            }
        }
    };
}

uuid_kind!(
    /// A registered pod (one bottom OpenStack region, or the top region).
    PodId,
    "pod ID"
);
uuid_kind!(
    /// A durable job.
    JobId,
    "job ID"
);

/// Cut user input that is echoed in an error message to a readable length.
pub fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}...")
    }
}

/// The `x-openstack-request-id` of one API request: `req-` followed by a UUID,
/// the form oslo.middleware generates and clients print.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub fn new() -> Self {
        RequestId(format!("req-{}", Uuid::new_v4()))
    }

    /// Accept a request id sent by the client only if it has the standard
    /// form, so nothing unbounded or odd reaches our logs and the pods.
    pub fn parse(s: &str) -> Option<Self> {
        let uuid = s.strip_prefix("req-")?;
        let parsed = Uuid::try_parse(uuid).ok()?;
        Some(RequestId(format!("req-{}", parsed.hyphenated())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_id_round_trips_and_rejects_garbage() {
        let id = PodId::new();
        assert_eq!(id.to_string().parse::<PodId>().unwrap(), id);
        let err = "not-a-uuid".parse::<PodId>().unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.external_message(), "Invalid pod ID 'not-a-uuid': it must be a UUID.");
    }

    #[test]
    fn request_id_accepts_only_the_standard_form() {
        let good = "req-3f1c2a9e-8e33-4f7e-9a51-6c1d2b7f0a11";
        assert_eq!(RequestId::parse(good).unwrap().as_str(), good);
        assert!(RequestId::parse("3f1c2a9e-8e33-4f7e-9a51-6c1d2b7f0a11").is_none());
        assert!(RequestId::parse("req-<script>").is_none());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::new().as_str().starts_with("req-"));
    }

    #[test]
    fn long_input_is_truncated_in_messages() {
        let long = "x".repeat(500);
        assert_eq!(truncate_for_message(&long).len(), 67);
    }
}
