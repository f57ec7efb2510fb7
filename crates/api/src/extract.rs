//! Extractors that turn malformed input into a 400 with a message that says
//! what to fix, instead of axum's plain-text rejections.
//!
//! JSON bodies are parsed with `serde_path_to_error`, so a type error names
//! the field (`pod.az_name: invalid type: integer, expected a string`).
//! Query strings are parsed into structs that deny unknown keys, as
//! upstream Tricircle refused unknown filters.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tricircle_common::{Error, ErrorKind};

use crate::error::ApiError;

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(axum::http::header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !(ct.starts_with("application/json") || ct.is_empty()) {
                return Err(ApiError(Error::new(
                    ErrorKind::BadRequest,
                    "The request body must be JSON (Content-Type: application/json).",
                )));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(Error::new(ErrorKind::PayloadTooLarge, "The request body is too large."))
            } else {
                ApiError(Error::bad_request("The request body could not be read."))
            }
        })?;
        parse_json(&bytes).map(JsonBody).map_err(ApiError)
    }
}

/// Parse a JSON document, with the path of the failing field in the error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request("The request body is empty; send a JSON object."));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::bad_request("The request body must be a JSON object."));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = without_rust_names(&inner.to_string());
        let what = if inner.is_syntax() || inner.is_eof() {
            "The request body is not valid JSON"
        } else {
            "Invalid request body"
        };
        if path.is_empty() || path == "." {
            Error::bad_request(format!("{what}: {detail}."))
        } else {
            Error::bad_request(format!("{what}: {path}: {detail}."))
        }
    })?;
    de.end()
        .map_err(|_| Error::bad_request("The request body has trailing data after the JSON."))?;
    Ok(value)
}

/// serde names our Rust types in some messages ("expected struct
/// PodCreateBody"); clients should read JSON words instead.
fn without_rust_names(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = rest.find("expected ") {
        out.push_str(&rest[..pos + "expected ".len()]);
        rest = &rest[pos + "expected ".len()..];
        for (prefix, replacement) in [
            ("struct variant ", "a JSON object"),
            ("struct ", "a JSON object"),
            ("enum ", "one of the documented values"),
            ("tuple struct ", "a JSON array"),
        ] {
            if let Some(after) = rest.strip_prefix(prefix) {
                let name_len = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(after.len());
                out.push_str(replacement);
                rest = &after[name_len..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Query parameters of type `T` (which should deny unknown fields).
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| ApiError(Error::bad_request(format!("Invalid query string: {e}."))))
    }
}

/// Parse an optional integer query parameter with a clear message.
pub fn parse_int(name: &str, value: Option<&str>) -> Result<Option<i64>, Error> {
    value
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                Error::bad_request(format!(
                    "Invalid {name} '{}': it must be an integer.",
                    tricircle_common::ids::truncate_for_message(v)
                ))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        pod: Inner,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        region_name: String,
    }

    fn msg(body: &str) -> String {
        parse_json::<Outer>(body.as_bytes()).unwrap_err().external_message().to_string()
    }

    #[test]
    fn messages_name_the_field() {
        assert_eq!(
            msg(r#"{"pod": {"region_name": 3}}"#),
            "Invalid request body: pod.region_name: invalid type: integer `3`, expected a string at line 1 column 25."
        );
        assert!(msg(r#"{"pod": {}}"#).contains("missing field `region_name`"));
        assert!(msg(r#"{"pod": {"region_name": "a", "x": 1}}"#).contains("unknown field `x`"));
        assert!(msg("{").starts_with("The request body is not valid JSON"));
        assert!(
            msg("{\"pod\": {\"region_name\": \"a\"},}")
                .starts_with("The request body is not valid JSON")
        );
        assert_eq!(msg(""), "The request body is empty; send a JSON object.");
        assert!(msg(r#"{"pod": {"region_name": "a"}} x"#).contains("trailing"));
        assert_eq!(msg("[]"), "The request body must be a JSON object.");
        assert_eq!(msg("null"), "The request body must be a JSON object.");
        assert_eq!(
            msg(r#"{"pod": 1}"#),
            "Invalid request body: pod: invalid type: integer `1`, expected a JSON object at line 1 column 9."
        );
    }
}
