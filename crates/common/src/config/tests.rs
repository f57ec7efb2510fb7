//! Loading, overriding and validating the configuration.

use super::*;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, text).unwrap();
    Config::load_from(Some(&path), env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .map_err(|e| ConfigError { message: e.message.replace(&path.display().to_string(), "T") })
}

#[test]
fn defaults_without_a_file() {
    let c = Config::load_from(None, Vec::new()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:19999");
    assert_eq!(c.database_url(), "sqlite://./.tricircle/tricircle.db");
    assert_eq!(c.api.pagination_max_limit, 1000);
    assert_eq!(c.pods.request_timeout_secs, 30);
    assert_eq!(c.log.format, LogFormat::Human);
}

#[test]
fn file_values_and_env_overrides() {
    let c = load(
        "listen = \"0.0.0.0:8080\"\n[database]\nurl = \"sqlite://x.db\"\n[log]\nformat = \"json\"\n",
        &[
            ("TRICIRCLE__DATABASE__URL", "postgres://postgres@127.0.0.1/db"),
            ("TRICIRCLE__API__PAGINATION_MAX_LIMIT", "50"),
            ("TRICIRCLE_TEST_PG", "ignored: single underscore"),
        ],
    )
    .unwrap();
    assert_eq!(c.listen.port(), 8080);
    assert_eq!(c.database_url(), "postgres://postgres@127.0.0.1/db");
    assert_eq!(c.api.pagination_max_limit, 50);
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn errors_name_the_key_in_one_line() {
    let e = load("[database]\nmax_connections = \"lots\"\n", &[]).unwrap_err();
    assert_eq!(
        e.message,
        "config file T: key `database.max_connections`: 'lots' is not a valid number: invalid digit found in string"
    );
    let e = load("[api]\npagination_max_limit = 0\n", &[]).unwrap_err();
    assert_eq!(e.message, "config file T: key `api.pagination_max_limit`: must be at least 1");
    let e = load("", &[("TRICIRCLE__LOG__FORMAT", "xml")]).unwrap_err();
    assert!(
        e.message.starts_with(
            "environment variable TRICIRCLE__LOG__FORMAT: key `log.format`: unknown variant `xml`"
        ),
        "{}",
        e.message
    );
    let e = load("[databse]\nurl = \"x\"\n", &[]).unwrap_err();
    assert!(e.message.contains("unknown field `databse`"), "{}", e.message);
    let e = load("listen = \"nope\"\n", &[]).unwrap_err();
    assert!(e.message.starts_with("config file T: key `listen`: "), "{}", e.message);
    let e = load("listen = \n", &[]).unwrap_err();
    assert!(e.message.starts_with("config file T: line 1: "), "{}", e.message);
    assert!(!e.message.contains('\n'), "parser messages are folded into one line");
    let e = load("[database]\nurl = \"mysql://x\"\n", &[]).unwrap_err();
    assert!(e.message.contains("key `database.url`: must start with"), "{}", e.message);
}

#[test]
fn external_identity_needs_its_keystone_and_account() {
    let e = load("[identity]\nmode = \"external\"\n", &[]).unwrap_err();
    assert_eq!(
        e.message,
        "config file T: key `identity.external.auth_url`: is required when identity.mode is \"external\""
    );
    let e = load("", &[("TRICIRCLE__IDENTITY__MODE", "external")]).unwrap_err();
    assert!(e.message.contains("key `identity.external.auth_url`"), "{}", e.message);
    let base =
        "[identity]\nmode = \"external\"\n[identity.external]\nauth_url = \"http://ks:5000/v3\"\n";
    let e = load(base, &[]).unwrap_err();
    assert!(
        e.message.ends_with(
            "key `identity.external.username`: is required when identity.mode is \"external\""
        ),
        "{}",
        e.message
    );
    let e = load(&format!("{base}username = \"gw\"\n"), &[]).unwrap_err();
    assert!(e.message.contains("key `identity.external.password`"), "{}", e.message);
    let e = load(
        &format!("{base}username = \"gw\"\n"),
        &[("TRICIRCLE__IDENTITY__EXTERNAL__PASSWORD", "")],
    )
    .unwrap_err();
    assert!(
        e.message.starts_with("environment variable TRICIRCLE__IDENTITY__EXTERNAL__PASSWORD: key `identity.external.password`"),
        "{}",
        e.message
    );
    let e =
        load("[identity]\nmode = \"external\"\n[identity.external]\nauth_url = \"ks:5000\"\n", &[])
            .unwrap_err();
    assert!(e.message.contains("must start with http://"), "{}", e.message);
    let c = load(
        &format!("{base}username = \"gw\"\n"),
        &[("TRICIRCLE__IDENTITY__EXTERNAL__PASSWORD", "s3cret-value")],
    )
    .unwrap();
    assert_eq!(c.identity.mode, IdentityMode::External);
    assert_eq!(c.identity.external.project_name, "service");
    assert_eq!(c.identity.external.token_cache_secs, 10);
    assert!(!format!("{c:?}").contains("s3cret-value"), "Debug hides the password");
    // Embedded mode ignores the external section's gaps.
    assert!(load("[identity.external]\nusername = \"gw\"\n", &[]).is_ok());
}

#[test]
fn missing_file_is_reported() {
    let e = Config::load_from(Some(Path::new("/nonexistent/t.toml")), Vec::new()).unwrap_err();
    assert!(e.message.starts_with("config file /nonexistent/t.toml: cannot read"), "{}", e.message);
}
