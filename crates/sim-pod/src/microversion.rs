//! Microversion negotiation for Nova and Cinder.
//!
//! Both services read `OpenStack-API-Version: <service> X.Y` (Nova also its legacy
//! `X-OpenStack-Nova-API-Version: X.Y`), default to the minimum when none is sent, map
//! `latest` to the maximum, and answer a version outside their range with 406 while still
//! echoing the requested version. The negotiated version travels to handlers as an [`Mv`]
//! request extension; the answer always echoes it with a `Vary` header.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::http::{ApiError, Svc};

/// A microversion `major.minor`, ordered numerically (2.10 > 2.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mv(pub u16, pub u16);

impl Mv {
    pub fn parse(s: &str) -> Option<Mv> {
        let (a, b) = s.trim().split_once('.')?;
        Some(Mv(a.parse().ok()?, b.parse().ok()?))
    }
    /// Whether this version is at least `major.minor`.
    pub fn ge(self, major: u16, minor: u16) -> bool {
        self >= Mv(major, minor)
    }
}

impl std::fmt::Display for Mv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Oldest and newest compute microversion the sim pod implements.
pub const NOVA_MIN: Mv = Mv(2, 1);
/// Newest compute microversion: response shapes follow Nova up to 2.96
/// (`pinned_availability_zone`).
pub const NOVA_MAX: Mv = Mv(2, 96);
pub const CINDER_MIN: Mv = Mv(3, 0);
/// Newest volume microversion, as Cinder 29 advertises.
pub const CINDER_MAX: Mv = Mv(3, 71);

/// What the client asked for.
enum Asked {
    None,
    Latest,
    Version(Mv),
    Garbage(String),
}

fn asked(req: &Request, service: &str, legacy: Option<&str>) -> (Asked, String) {
    let h = req.headers();
    let mut raw = None;
    for v in h.get_all("openstack-api-version").iter().filter_map(|v| v.to_str().ok()) {
        for part in v.split(',') {
            let mut it = part.split_whitespace();
            if it.next().is_some_and(|s| s.eq_ignore_ascii_case(service))
                && let Some(ver) = it.next()
            {
                raw = Some(ver.to_string());
            }
        }
    }
    if raw.is_none()
        && let Some(l) = legacy
    {
        raw = h.get(l).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string());
    }
    match raw {
        None => (Asked::None, String::new()),
        Some(r) if r.eq_ignore_ascii_case("latest") => (Asked::Latest, r),
        Some(r) => match Mv::parse(&r) {
            Some(mv) => (Asked::Version(mv), r),
            None => (Asked::Garbage(r.clone()), r),
        },
    }
}

/// Negotiation for one service.
#[derive(Clone, Copy)]
pub struct Negotiator {
    pub svc: Svc,
    pub service: &'static str,
    pub legacy: Option<&'static str>,
    pub min: Mv,
    pub max: Mv,
}

pub const NOVA: Negotiator = Negotiator {
    svc: Svc::Compute,
    service: "compute",
    legacy: Some("x-openstack-nova-api-version"),
    min: NOVA_MIN,
    max: NOVA_MAX,
};

pub const CINDER: Negotiator = Negotiator {
    svc: Svc::Volume,
    service: "volume",
    legacy: None,
    min: CINDER_MIN,
    max: CINDER_MAX,
};

/// Middleware: negotiate, 406 when out of range, echo the version on every answer.
pub async fn negotiate(n: Negotiator, mut req: Request, next: Next) -> Response {
    let (asked, raw) = asked(&req, n.service, n.legacy);
    let mv = match asked {
        Asked::None => Ok(n.min),
        Asked::Latest => Ok(n.max),
        Asked::Version(mv) if mv >= n.min && mv <= n.max => Ok(mv),
        Asked::Version(_) => Err((
            406,
            format!(
                "Version {raw} is not supported by the API. Minimum is {} and maximum is {}.",
                n.min, n.max
            ),
        )),
        Asked::Garbage(r) => Err((
            400,
            format!(
                "API Version String {r} is of invalid format. Must be of format MajorNum.MinorNum."
            ),
        )),
    };
    let (mut resp, echoed) = match mv {
        Ok(mv) => {
            req.extensions_mut().insert(mv);
            (next.run(req).await, mv.to_string())
        }
        Err((status, msg)) => {
            let kind = if status == 406 { "VersionNotFoundForAPIMethod" } else { "HTTPBadRequest" };
            let r = axum::response::IntoResponse::into_response(ApiError::new(
                n.svc, status, kind, msg,
            ));
            (r, raw)
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{} {echoed}", n.service)) {
        h.insert("openstack-api-version", v);
    }
    if let Some(l) = n.legacy
        && let Ok(v) = HeaderValue::from_str(&echoed)
    {
        h.insert(l, v);
    }
    let vary = match n.legacy {
        Some(_) => "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
        None => "OpenStack-API-Version",
    };
    h.insert("vary", HeaderValue::from_static(vary));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically() {
        assert!(Mv::parse("2.10").unwrap() > Mv::parse("2.9").unwrap());
        assert_eq!(Mv::parse("2.79"), Some(Mv(2, 79)));
        assert_eq!(Mv::parse("x.1"), None);
        assert!(Mv(2, 79).ge(2, 47));
        assert!(!Mv(2, 1).ge(2, 47));
    }
}
