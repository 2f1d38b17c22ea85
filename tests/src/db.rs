//! Databases for tests: a fresh SQLite file or a fresh PostgreSQL database each, so that tests
//! run in parallel without seeing each other's rows.

use std::{path::PathBuf, time::Duration};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// The PostgreSQL server tests create their databases on.
pub const DEFAULT_TEST_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database a test runs on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database created for one test. PostgreSQL databases are dropped when it is dropped.
pub struct TestDb {
    pub kind: Db,
    pub url: String,
    /// The SQLite file, for tests that look at the bytes on disk.
    pub sqlite_path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    pub async fn create(kind: Db) -> TestDb {
        match kind {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("cannot create a temporary directory");
                let path = dir.path().join("spa-auth-test.db");
                TestDb {
                    kind,
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    sqlite_path: Some(path),
                    _dir: Some(dir),
                    pg_drop: None,
                }
            }
            Db::Postgres => {
                let admin_url = test_pg();
                let admin = connect_pg_admin(&admin_url).await;
                let name = format!("spa_auth_t_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
                let _ = admin.close().await;
                TestDb {
                    kind,
                    url: with_database(&admin_url, &name),
                    sqlite_path: None,
                    _dir: None,
                    pg_drop: Some((admin_url, name)),
                }
            }
        }
    }
}

async fn connect_pg_admin(url: &str) -> DatabaseConnection {
    let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
    opts.max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    match Database::connect(opts).await {
        Ok(db) => db,
        Err(e) => panic!(
            "PostgreSQL is required for the postgres variant of every test and is not reachable \
             at {url} (set SPA_AUTH_TEST_PG to point elsewhere): {e}"
        ),
    }
}

/// The admin URL of the shared PostgreSQL server.
pub fn test_pg() -> String {
    std::env::var("SPA_AUTH_TEST_PG").unwrap_or_else(|_| DEFAULT_TEST_PG.into())
}

/// `postgres://u@h:p/old?x` with the database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort: a database left behind is dropped by tests/run-all.sh next time.
        let Some((admin_url, name)) = self.pg_drop.take() else {
            return;
        };
        // On a thread of its own: Drop cannot await, and it may run inside a runtime that
        // would refuse to block.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}
