//! Microversions: parsing `X.Y`, reading a service's range from its version
//! document, and choosing the version to send.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion {
    pub major: u32,
    pub minor: u32,
}

impl Microversion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Microversion { major, minor }
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Microversion {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (a, b) = s.trim().trim_start_matches('v').split_once('.').ok_or(())?;
        Ok(Microversion { major: a.parse().map_err(|_| ())?, minor: b.parse().map_err(|_| ())? })
    }
}

/// The microversions a service supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRange {
    pub min: Microversion,
    pub max: Microversion,
}

impl VersionRange {
    /// Read the range from a version document: `{"version": {...}}` (Nova at
    /// its versioned root) or `{"versions": [...]}` (Cinder, Nova's root),
    /// taking the entry whose major matches `major`. `None` when the service
    /// does not advertise microversions (an empty `version` field).
    pub fn from_document(doc: &Value, major: u32) -> Option<VersionRange> {
        let entries: Vec<&Value> = match (doc.get("version"), doc.get("versions")) {
            (Some(v), _) if v.is_object() => vec![v],
            (_, Some(Value::Array(vs))) => vs.iter().collect(),
            _ => return None,
        };
        entries.into_iter().find_map(|e| {
            let max: Microversion = e.get("version")?.as_str()?.parse().ok()?;
            let min: Microversion = e.get("min_version")?.as_str()?.parse().ok()?;
            (max.major == major).then_some(VersionRange { min, max })
        })
    }

    /// The version to send for a wish: the wish when supported, the
    /// service's maximum when the wish is newer, `None` when older than the
    /// minimum.
    pub fn choose(&self, wanted: Microversion) -> Option<Microversion> {
        if wanted < self.min { None } else { Some(wanted.min(self.max)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_documents_and_chooses() {
        let nova = json!({"version": {"id": "v2.1", "version": "2.96", "min_version": "2.1"}});
        let r = VersionRange::from_document(&nova, 2).unwrap();
        assert_eq!((r.min, r.max), (Microversion::new(2, 1), Microversion::new(2, 96)));
        assert_eq!(r.choose(Microversion::new(2, 79)), Some(Microversion::new(2, 79)));
        assert_eq!(r.choose(Microversion::new(2, 100)), Some(Microversion::new(2, 96)));
        assert_eq!(r.choose(Microversion::new(2, 0)), None);
        let cinder = json!({"versions": [{"id": "v3.0", "version": "3.71", "min_version": "3.0"}]});
        assert_eq!(VersionRange::from_document(&cinder, 3).unwrap().max, Microversion::new(3, 71));
        let neutron = json!({"version": {"id": "v2.0", "version": "", "min_version": ""}});
        assert_eq!(VersionRange::from_document(&neutron, 2), None);
        assert!("2.1x".parse::<Microversion>().is_err());
        assert_eq!("v3.14".parse::<Microversion>(), Ok(Microversion::new(3, 14)));
    }
}
