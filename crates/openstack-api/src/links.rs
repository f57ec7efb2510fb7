//! Paging links in the OpenStack style: `{"rel": "next", "href": ...}`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub rel: String,
    pub href: String,
}

impl Link {
    pub fn new(rel: &str, href: impl Into<String>) -> Self {
        Link { rel: rel.to_string(), href: href.into() }
    }
}

/// Append `query` pairs to `base`, percent-encoding values.
pub fn with_query(base: &str, pairs: &[(&str, String)]) -> String {
    let mut out = String::from(base);
    for (i, (k, v)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            super::with_query("/r", &[("limit", "2".into()), ("top_id", "a b&c".into())]),
            "/r?limit=2&top_id=a%20b%26c"
        );
    }
}
