//! A fresh, migrated database per test, on SQLite always and on PostgreSQL
//! when `TRICIRCLE_TEST_PG` holds a server URL (CI sets it): the same tests
//! run against both backends.
//!
//! Each PostgreSQL test gets its own schema, dropped when the test ends, so
//! tests run in parallel against one server without seeing each other.

use crate::{ConnectOptions, Store};

/// The environment variable naming the PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const PG_ENV: &str = "TRICIRCLE_TEST_PG";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A migrated store plus whatever must be cleaned up after it.
pub struct TestDb {
    pub store: Store,
    /// The URL and options that reach the same database (for a second
    /// process or a second store, as a replica would).
    pub url: String,
    pub options: ConnectOptions,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database on `backend`, or `None` when that backend is not
    /// configured for tests (PostgreSQL without `TRICIRCLE_TEST_PG`).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        // In memory when the machine has a tmpfs: each commit's sync to disk
        // is most of a test's time otherwise, and nothing must survive.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }
            .expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let options = ConnectOptions::default();
        let store = Store::connect(&url, &options).await.expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDb { store, url, options, _dir: Some(dir), pg_schema: None }
    }

    pub async fn postgres() -> Option<TestDb> {
        let url = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())?;
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create test schema");
        admin.close().await;
        let options = ConnectOptions { pg_schema: Some(schema.clone()), ..Default::default() };
        let store = Store::connect(&url, &options).await.expect("open PostgreSQL");
        store.migrate().await.expect("migrate PostgreSQL");
        Some(TestDb {
            store,
            url: url.clone(),
            options,
            _dir: None,
            pg_schema: Some((url, schema)),
        })
    }

    /// Drop what the test made. Call at the end of the test; a failed test
    /// leaves its PostgreSQL schema behind for inspection.
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((url, schema)) = self.pg_schema
            && let Ok(admin) = sqlx::PgPool::connect(&url).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}

/// A database of its own on the test PostgreSQL server, for tests that run
/// gateway processes on it (a schema per test cannot be handed to another
/// process through its URL). Dropped by [`PgDatabase::drop_now`].
pub struct PgDatabase {
    /// The URL of the new database.
    pub url: String,
    server: String,
    name: String,
}

impl PgDatabase {
    /// `None` when `TRICIRCLE_TEST_PG` is not set.
    pub async fn create() -> Option<PgDatabase> {
        let server = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())?;
        let name = format!("tc_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
        Some(PgDatabase { url: format!("{base}/{name}"), server, name })
    }

    /// The URL of the same database through another host and port (a
    /// proxy in front of the server).
    pub fn url_via(&self, host_port: &str) -> String {
        let rest = self.url.split_once('@').map_or("", |(_, r)| r);
        let path = rest.split_once('/').map_or("", |(_, p)| p);
        let user = self.url.split_once('@').map_or("postgres://", |(u, _)| u);
        format!("{user}@{host_port}/{path}")
    }

    /// The server's host and port, as in the URL.
    pub fn host_port(&self) -> String {
        let rest = self.url.split_once('@').map_or("", |(_, r)| r);
        rest.split_once('/').map_or(rest, |(h, _)| h).to_string()
    }

    /// Drop the database (its sessions first).
    pub async fn drop_now(self) {
        if let Ok(admin) = sqlx::PgPool::connect(&self.server).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

/// Declare async tests that run once per backend: `name::sqlite` and
/// `name::postgres` (the latter passes without doing anything, and says
/// so, when `TRICIRCLE_TEST_PG` is not set).
///
/// ```ignore
/// backend_tests! {
///     async fn pods_round_trip(store: &Store) { ... }
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($store:ident: &Store) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($store: &$crate::Store) $body

                #[tokio::test]
                async fn sqlite() {
                    let db = $crate::testing::TestDb::sqlite().await;
                    body(&db.store).await;
                    db.cleanup().await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(db) = $crate::testing::TestDb::postgres().await else {
                        eprintln!("skipped: {} is not set", $crate::testing::PG_ENV);
                        return;
                    };
                    body(&db.store).await;
                    db.cleanup().await;
                }
            }
        )*
    };
}
