//! The base URL clients used to reach us, for links in responses.

use axum::http::HeaderMap;

/// `public_url` when configured, else `http://<Host header>` when the header
/// is a plausible host, else a path-only base (links stay relative).
pub fn base_url(public_url: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_plausible_host(h));
    match host {
        Some(h) => format!("http://{h}"),
        None => String::new(),
    }
}

/// Only characters of a host name, an IP literal and a port: a Host header
/// cannot inject anything else into our links.
fn is_plausible_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_is_used_only_when_plausible() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:19999".parse().unwrap());
        assert_eq!(base_url(None, &h), "http://127.0.0.1:19999");
        assert_eq!(base_url(Some("https://gw.example/"), &h), "https://gw.example");
        h.insert("host", "evil.example/x?y".parse().unwrap());
        assert_eq!(base_url(None, &h), "");
    }
}
