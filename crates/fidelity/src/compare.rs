//! Comparing two runs of the scenario, and the allowlist of legitimate differences.
//!
//! Steps are paired by name. A pair differs in its status, in a selected header's shape, or in
//! its body's shape (path by path, values aside). A difference is *allowed* when an entry of
//! `allowed-differences.toml` matches its step and location; every entry carries the reason
//! it is legitimate, and the report prints that reason beside it. Anything else is unexplained
//! and fails the differential test: the fix belongs in the sim pod, not in the allowlist.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::shape::{BodyShape, JsonShape, Kinds};

/// One request of the scenario and the shape of its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub step: String,
    pub method: String,
    /// The path as scripted, ids left as placeholders (`/servers/{server}`).
    pub path: String,
    pub status: u16,
    /// Selected header → its shape (`absent`, `req-{uuid}`, `{endpoint}/servers/{uuid}`, ...).
    pub headers: BTreeMap<String, String>,
    pub body: BodyShape,
    /// The start of the body as text, for a person reading a dump; never compared.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sample: String,
}

/// One way a sim pod's answer differs from the real region's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub step: String,
    /// `status`, `header content-type`, `body $.server.host`, `body`, `step`.
    pub location: String,
    pub real: String,
    pub sim: String,
}

/// Every difference between two runs, in the real run's step order.
pub fn compare(real: &[Exchange], sim: &[Exchange]) -> Vec<(String, Vec<Difference>)> {
    let sim_by_step: BTreeMap<&str, &Exchange> = sim.iter().map(|e| (e.step.as_str(), e)).collect();
    let mut out = Vec::new();
    for r in real {
        let diffs = match sim_by_step.get(r.step.as_str()) {
            Some(s) => compare_exchange(r, s),
            None => vec![diff(&r.step, "step", "ran", "missing")],
        };
        out.push((r.step.clone(), diffs));
    }
    for s in sim {
        if !real.iter().any(|r| r.step == s.step) {
            out.push((s.step.clone(), vec![diff(&s.step, "step", "missing", "ran")]));
        }
    }
    out
}

fn diff(step: &str, location: &str, real: &str, sim: &str) -> Difference {
    Difference { step: step.into(), location: location.into(), real: real.into(), sim: sim.into() }
}

/// The differences of one step.
pub fn compare_exchange(real: &Exchange, sim: &Exchange) -> Vec<Difference> {
    let step = real.step.as_str();
    let mut out = Vec::new();
    let (rl, sl) =
        (format!("{} {}", real.method, real.path), format!("{} {}", sim.method, sim.path));
    if rl != sl {
        out.push(diff(step, "request", &rl, &sl));
    }
    if real.status != sim.status {
        out.push(diff(step, "status", &real.status.to_string(), &sim.status.to_string()));
    }
    let names: std::collections::BTreeSet<&String> =
        real.headers.keys().chain(sim.headers.keys()).collect();
    for name in names {
        let r = real.headers.get(name).map_or("absent", String::as_str);
        let s = sim.headers.get(name).map_or("absent", String::as_str);
        if r != s {
            out.push(diff(step, &format!("header {name}"), r, s));
        }
    }
    match (&real.body, &sim.body) {
        (BodyShape::Json(r), BodyShape::Json(s)) => out.extend(compare_json(step, r, s)),
        (r, s) if r != s => out.push(diff(step, "body", body_kind(r), body_kind(s))),
        _ => {}
    }
    out
}

fn body_kind(b: &BodyShape) -> &'static str {
    match b {
        BodyShape::Empty => "empty",
        BodyShape::Json(_) => "json",
        BodyShape::Bytes => "bytes (not json)",
    }
}

/// Path-by-path comparison. Below a path that one side lacks, only the topmost missing path is
/// reported (a missing `server.flavor` is one difference, not eight).
fn compare_json(step: &str, real: &JsonShape, sim: &JsonShape) -> Vec<Difference> {
    let absent = Kinds::default();
    let mut out = Vec::new();
    let mut missing_roots: Vec<&str> = Vec::new();
    let paths: std::collections::BTreeSet<&String> = real.keys().chain(sim.keys()).collect();
    for path in paths {
        if missing_roots.iter().any(|root| is_below(path, root)) {
            continue;
        }
        let r = real.get(path).unwrap_or(&absent);
        let s = sim.get(path).unwrap_or(&absent);
        if r == s {
            continue;
        }
        if r.0.is_empty() || s.0.is_empty() {
            missing_roots.push(path);
        }
        let show = |k: &Kinds| if k.0.is_empty() { "absent".to_string() } else { k.to_string() };
        out.push(diff(step, &format!("body {path}"), &show(r), &show(s)));
    }
    out
}

fn is_below(path: &str, root: &str) -> bool {
    path.len() > root.len()
        && path.starts_with(root)
        && matches!(path.as_bytes()[root.len()], b'.' | b'[')
}

/// One legitimate difference.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    /// Step name pattern (`*` matches any run of characters).
    pub step: String,
    /// Location pattern (`body $.server.host*`, `header location`).
    pub location: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    #[serde(default)]
    pub allow: Vec<Allowance>,
}

impl Allowlist {
    /// Parse the TOML; every entry must give a reason.
    pub fn parse(text: &str) -> Result<Self, String> {
        let list: Allowlist = toml::from_str(text).map_err(|e| e.to_string())?;
        for (i, a) in list.allow.iter().enumerate() {
            if a.reason.trim().len() < 10 {
                return Err(format!(
                    "entry {} ({} / {}) has no real reason",
                    i + 1,
                    a.step,
                    a.location
                ));
            }
        }
        Ok(list)
    }

    /// The crate's own list.
    pub fn builtin() -> Self {
        Self::parse(include_str!("../allowed-differences.toml"))
            .expect("allowed-differences.toml is valid")
    }

    /// The index of the first entry that allows `d`.
    pub fn find(&self, d: &Difference) -> Option<usize> {
        self.allow.iter().position(|a| glob(&a.step, &d.step) && glob(&a.location, &d.location))
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The outcome of a comparison against the allowlist.
#[derive(Debug, Default)]
pub struct Report {
    pub compared: usize,
    pub identical: usize,
    /// Steps whose every difference is allowed.
    pub allowed_steps: usize,
    /// Steps with at least one unexplained difference.
    pub differing_steps: usize,
    pub allowed: Vec<(Difference, String)>,
    pub unexplained: Vec<Difference>,
    /// Allowlist entries that matched nothing (stale; delete them).
    pub unused: Vec<Allowance>,
}

impl Report {
    pub fn new(pairs: &[(String, Vec<Difference>)], allowlist: &Allowlist) -> Self {
        let mut r = Report { compared: pairs.len(), ..Report::default() };
        let mut used = vec![false; allowlist.allow.len()];
        for (_, diffs) in pairs {
            if diffs.is_empty() {
                r.identical += 1;
                continue;
            }
            let mut all_allowed = true;
            for d in diffs {
                match allowlist.find(d) {
                    Some(i) => {
                        used[i] = true;
                        r.allowed.push((d.clone(), allowlist.allow[i].reason.clone()));
                    }
                    None => {
                        all_allowed = false;
                        r.unexplained.push(d.clone());
                    }
                }
            }
            if all_allowed {
                r.allowed_steps += 1;
            } else {
                r.differing_steps += 1;
            }
        }
        r.unused =
            allowlist.allow.iter().zip(used).filter(|(_, u)| !u).map(|(a, _)| a.clone()).collect();
        r
    }

    /// The figures, the allowed differences with their reasons, and every unexplained one.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "requests compared: {}; identical: {}; differing only in allowed ways: {}; \
             with unexplained differences: {}",
            self.compared, self.identical, self.allowed_steps, self.differing_steps
        );
        let _ = writeln!(
            s,
            "differences: {} allowed, {} unexplained",
            self.allowed.len(),
            self.unexplained.len()
        );
        // Each reason once, numbered; each allowed difference points at its reason.
        let mut reasons: Vec<&str> = Vec::new();
        for (d, reason) in &self.allowed {
            let n = match reasons.iter().position(|r| r == reason) {
                Some(i) => i + 1,
                None => {
                    reasons.push(reason);
                    reasons.len()
                }
            };
            let _ = writeln!(
                s,
                "  allowed  [{}] {}: real {} / sim {} (reason {n})",
                d.step, d.location, d.real, d.sim
            );
        }
        for (i, reason) in reasons.iter().enumerate() {
            let _ = writeln!(s, "  reason {}: {reason}", i + 1);
        }
        for d in &self.unexplained {
            let _ = writeln!(
                s,
                "  DIFFERS  [{}] {}: real {} / sim {}",
                d.step, d.location, d.real, d.sim
            );
        }
        for a in &self.unused {
            let _ = writeln!(s, "  unused allowlist entry: {} / {}", a.step, a.location);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{body_shape, json_shape};
    use serde_json::json;

    fn ex(step: &str, status: u16, body: serde_json::Value) -> Exchange {
        Exchange {
            step: step.into(),
            method: "GET".into(),
            path: "/x".into(),
            status,
            headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
            body: BodyShape::Json(json_shape(&body)),
            sample: String::new(),
        }
    }

    #[test]
    fn identical_shapes_with_different_values_do_not_differ() {
        let r = ex("s", 200, json!({"a": "x", "b": [1, 2]}));
        let s = ex("s", 200, json!({"a": "y", "b": [3]}));
        assert!(compare_exchange(&r, &s).is_empty());
    }

    #[test]
    fn status_header_type_null_and_missing_keys_differ() {
        let r = ex("s", 200, json!({"o": {"a": "x", "n": "set", "sub": {"k": 1, "j": 2}}}));
        let mut s = ex("s", 201, json!({"o": {"a": 1, "n": null}, "extra": true}));
        s.headers.insert("location".into(), "{endpoint}/x/{uuid}".into());
        let d = compare_exchange(&r, &s);
        let got: Vec<(&str, &str, &str)> =
            d.iter().map(|d| (d.location.as_str(), d.real.as_str(), d.sim.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("status", "200", "201"),
                ("header location", "absent", "{endpoint}/x/{uuid}"),
                ("body $.extra", "absent", "bool"),
                ("body $.o.a", "string", "integer"),
                ("body $.o.n", "string", "null"),
                // One difference for the missing object, none for its keys.
                ("body $.o.sub", "object", "absent"),
            ]
        );
    }

    #[test]
    fn body_kinds_and_missing_steps() {
        let mut r = ex("a", 204, json!(null));
        r.body = body_shape(b"");
        let s = ex("a", 204, json!({}));
        assert_eq!(compare_exchange(&r, &s)[0].location, "body");
        let pairs = compare(
            &[r.clone(), ex("only-real", 200, json!(1))],
            &[s, ex("only-sim", 200, json!(1))],
        );
        let steps: Vec<&str> = pairs.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(steps, ["a", "only-real", "only-sim"]);
        assert_eq!(pairs[1].1[0].sim, "missing");
        assert_eq!(pairs[2].1[0].real, "missing");
    }

    #[test]
    fn globs() {
        assert!(glob("server *", "server create"));
        assert!(glob("*", ""));
        assert!(glob("body $.server.*.host", "body $.server.x.host"));
        assert!(!glob("body $.server.*.host", "body $.server.x.hosts"));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*b*c", "acb"));
        assert!(!glob("exact", "exactly"));
    }

    #[test]
    fn allowlist_needs_reasons_and_counts_steps() {
        assert!(
            Allowlist::parse("[[allow]]\nstep = \"x\"\nlocation = \"y\"\nreason = \"\"\n").is_err()
        );
        assert!(Allowlist::parse("[[allow]]\nstep = \"x\"\nlocation = \"y\"\n").is_err());
        let list = Allowlist::parse(
            "[[allow]]\nstep = \"b\"\nlocation = \"body $.x\"\nreason = \"the fake driver cannot\"\n\
             [[allow]]\nstep = \"zzz\"\nlocation = \"*\"\nreason = \"never matches anything\"\n",
        )
        .unwrap();
        let pairs = compare(
            &[ex("a", 200, json!({})), ex("b", 200, json!({"x": 1})), ex("c", 200, json!({}))],
            &[ex("a", 200, json!({})), ex("b", 200, json!({})), ex("c", 404, json!({}))],
        );
        let report = Report::new(&pairs, &list);
        assert_eq!((report.compared, report.identical), (3, 1));
        assert_eq!((report.allowed_steps, report.differing_steps), (1, 1));
        assert_eq!(report.allowed.len(), 1);
        assert_eq!(report.unexplained[0].location, "status");
        assert_eq!(report.unused.len(), 1);
        let text = report.render();
        assert!(text.contains("DIFFERS  [c] status: real 200 / sim 404"), "{text}");
        assert!(text.contains("allowed  [b] body $.x: real integer / sim absent (reason 1)"));
        assert!(text.contains("reason 1: the fake driver cannot"), "{text}");
    }

    #[test]
    fn the_builtin_allowlist_parses() {
        let list = Allowlist::builtin();
        assert!(list.allow.iter().all(|a| !a.reason.trim().is_empty()));
    }
}
