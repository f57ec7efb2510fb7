//! Shapes: what a response looks like once its values are set aside.
//!
//! Two regions never answer with the same values (ids, timestamps, addresses), but a client
//! breaks when a key is missing, a string becomes a number, or a value that is always set
//! becomes `null`. So a JSON body is reduced to a flat map from JSON paths (`$.server.id`,
//! `$.servers[].addresses`) to the set of JSON kinds seen there, and a header to a small
//! descriptor (absent, `req-{uuid}`, the Location relative to the service's endpoint). Arrays
//! contribute the union of their elements' shapes under `[]`, so a list of three servers has
//! the same shape as a list of one; an empty array is marked explicitly, because "no default
//! rules in a new security group" is a real difference.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The JSON kind at one path. Integers and floats are told apart: a strict client that reads
/// `"size": 1.0` into an integer fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    Null,
    Bool,
    Integer,
    Float,
    String,
    Object,
    Array,
    /// Only under `[]`: the array was empty (no element to take a shape from).
    Empty,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Integer => "integer",
            Kind::Float => "float",
            Kind::String => "string",
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::Empty => "empty array",
        }
    }
}

/// The kinds seen at one path, printed as `string|null`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kinds(pub BTreeSet<Kind>);

impl fmt::Display for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|k| k.name()).collect();
        f.write_str(&names.join("|"))
    }
}

/// The shape of a JSON document: path → kinds.
pub type JsonShape = BTreeMap<String, Kinds>;

/// What a response body looks like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyShape {
    /// No bytes at all.
    Empty,
    Json(JsonShape),
    /// Bytes that are not JSON (image data, an HTML error page).
    Bytes,
}

/// The shape of a body: JSON when it parses as JSON, whatever the Content-Type says (both sides
/// are judged the same way, and the Content-Type is compared on its own).
pub fn body_shape(body: &[u8]) -> BodyShape {
    if body.is_empty() {
        return BodyShape::Empty;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => BodyShape::Json(json_shape(&v)),
        Err(_) => BodyShape::Bytes,
    }
}

pub fn json_shape(v: &Value) -> JsonShape {
    let mut out = JsonShape::new();
    walk(v, "$".to_string(), &mut out);
    // Across elements of an array, an empty inner array says nothing when another element
    // shows what the inner array holds.
    for kinds in out.values_mut() {
        if kinds.0.len() > 1 {
            kinds.0.remove(&Kind::Empty);
        }
    }
    out
}

fn walk(v: &Value, path: String, out: &mut JsonShape) {
    let kind = match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Integer,
        Value::String(_) => Kind::String,
        Value::Object(_) => Kind::Object,
        Value::Array(_) => Kind::Array,
    };
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                walk(child, format!("{path}{}", key_segment(k)), out);
            }
        }
        Value::Array(items) => {
            let elem = format!("{path}[]");
            if items.is_empty() {
                out.entry(elem).or_default().0.insert(Kind::Empty);
            } else {
                for item in items {
                    walk(item, elem.clone(), out);
                }
            }
        }
        _ => {}
    }
    out.entry(path).or_default().0.insert(kind);
}

/// `.key` for plain keys, `["key"]` for anything with punctuation that would confuse a reader.
fn key_segment(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'));
    if plain { format!(".{k}") } else { format!("[{k:?}]") }
}

/// Replace every UUID (with or without dashes) by `{uuid}`/`{hex32}`, so that header values
/// can be compared by shape.
pub fn mask_ids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_hexdigit();
        if boundary && is_uuid_at(b, i) {
            out.push_str("{uuid}");
            i += 36;
        } else if boundary && is_hex32_at(b, i) {
            out.push_str("{hex32}");
            i += 32;
        } else {
            // Copy one whole UTF-8 character.
            let ch = s[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_uuid_at(b: &[u8], i: usize) -> bool {
    if b.len() < i + 36 || b.get(i + 36).is_some_and(u8::is_ascii_hexdigit) {
        return false;
    }
    b[i..i + 36].iter().enumerate().all(|(j, c)| {
        if matches!(j, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() }
    })
}

fn is_hex32_at(b: &[u8], i: usize) -> bool {
    b.len() >= i + 32
        && !b.get(i + 32).is_some_and(u8::is_ascii_hexdigit)
        && b[i..i + 32].iter().all(u8::is_ascii_hexdigit)
}

/// The shape of a `Location` header: relative to the service's endpoint when it lies below it,
/// with ids masked.
pub fn location_shape(value: &str, endpoint: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    let rest = match value.strip_prefix(endpoint) {
        Some(rest) => format!("{{endpoint}}{rest}"),
        None if value.starts_with("http://") || value.starts_with("https://") => {
            format!("{{other host}}{}", url_path(value))
        }
        None => value.to_string(),
    };
    mask_ids(&rest)
}

fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds(shape: &JsonShape, path: &str) -> String {
        shape.get(path).map(ToString::to_string).unwrap_or_else(|| "absent".into())
    }

    #[test]
    fn paths_and_kinds_recursively() {
        let s = json_shape(&json!({"server": {"id": "x", "size": 1, "ratio": 1.0, "ok": true,
            "host": null, "meta": {}, "a.b": 1}}));
        assert_eq!(kinds(&s, "$"), "object");
        assert_eq!(kinds(&s, "$.server.id"), "string");
        assert_eq!(kinds(&s, "$.server.size"), "integer");
        assert_eq!(kinds(&s, "$.server.ratio"), "float");
        assert_eq!(kinds(&s, "$.server.ok"), "bool");
        assert_eq!(kinds(&s, "$.server.host"), "null");
        assert_eq!(kinds(&s, "$.server.meta"), "object");
        assert_eq!(kinds(&s, "$.server[\"a.b\"]"), "integer");
    }

    #[test]
    fn arrays_are_the_union_of_their_elements() {
        let s = json_shape(&json!({"l": [{"a": 1, "n": null}, {"b": "x", "n": "y"}]}));
        assert_eq!(kinds(&s, "$.l"), "array");
        assert_eq!(kinds(&s, "$.l[]"), "object");
        assert_eq!(kinds(&s, "$.l[].a"), "integer");
        assert_eq!(kinds(&s, "$.l[].b"), "string");
        assert_eq!(kinds(&s, "$.l[].n"), "null|string");
        // Three elements or one: the same shape.
        assert_eq!(json_shape(&json!([1, 2, 3])), json_shape(&json!([7])));
    }

    #[test]
    fn empty_arrays_are_marked_unless_a_sibling_shows_the_elements() {
        let s = json_shape(&json!({"rules": []}));
        assert_eq!(kinds(&s, "$.rules[]"), "empty array");
        assert_ne!(s, json_shape(&json!({"rules": [{"id": "x"}]})));
        let s = json_shape(&json!({"sgs": [{"rules": []}, {"rules": [{"id": "x"}]}]}));
        assert_eq!(kinds(&s, "$.sgs[].rules[]"), "object");
    }

    #[test]
    fn bodies_that_are_not_json() {
        assert_eq!(body_shape(b""), BodyShape::Empty);
        assert_eq!(body_shape(b"\x00\x01binary"), BodyShape::Bytes);
        assert!(matches!(body_shape(b"{\"a\": 1}"), BodyShape::Json(_)));
    }

    #[test]
    fn ids_are_masked_in_headers() {
        assert_eq!(mask_ids("req-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"), "req-{uuid}");
        assert_eq!(
            mask_ids("/v3/projects/0123456789abcdef0123456789abcdef"),
            "/v3/projects/{hex32}"
        );
        // Longer hex runs are not ids.
        assert_eq!(
            mask_ids("0123456789abcdef0123456789abcdef0"),
            "0123456789abcdef0123456789abcdef0"
        );
        assert_eq!(mask_ids("compute 2.79"), "compute 2.79");
    }

    #[test]
    fn locations_are_relative_to_the_endpoint() {
        let id = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
        assert_eq!(
            location_shape(
                &format!("http://127.0.0.1:8774/v2.1/servers/{id}"),
                "http://127.0.0.1:8774/v2.1/"
            ),
            "{endpoint}/servers/{uuid}"
        );
        assert_eq!(
            location_shape(
                &format!("http://10.0.0.1/compute/v2.1/servers/{id}"),
                "http://127.0.0.1:8774/v2.1"
            ),
            "{other host}/compute/v2.1/servers/{uuid}"
        );
        assert_eq!(location_shape("/v3/", "http://x/identity"), "/v3/");
    }
}
