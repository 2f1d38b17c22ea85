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

/// A database for one test alone: a new SQLite file, or a PostgreSQL database of the pool
/// (see [`claim_pooled_database`]), empty but for the migrations.
pub struct TestDb {
    pub kind: Db,
    pub url: String,
    /// The SQLite file, for tests that look at the bytes on disk.
    pub sqlite_path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
    /// The connection that holds this test's claim on a pooled PostgreSQL database: the claim
    /// ends when it closes, with the test's process at the latest.
    _claim: Option<DatabaseConnection>,
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
                    _claim: None,
                }
            }
            Db::Postgres => {
                let admin_url = test_pg();
                let (claim, name) = claim_pooled_database(&admin_url).await;
                TestDb {
                    kind,
                    url: with_database(&admin_url, &name),
                    sqlite_path: None,
                    _dir: None,
                    _claim: Some(claim),
                }
            }
        }
    }
}

/// A PostgreSQL database of its own for a test: an idle one from the pool, emptied, or a new
/// one copied from the migrated template.
///
/// Why a pool: PostgreSQL takes about half a second to create a database and a whole second to
/// drop one (a checkpoint each), which was most of every PostgreSQL test's time; emptying a
/// database takes a few milliseconds. Pooled databases are `spa_auth_p_<migrations>_<n>`; a
/// test claims one with a session advisory lock on a connection it keeps (so two tests never
/// share one, and a killed test's claim ends with its process), and empties it on the way in.
async fn claim_pooled_database(admin_url: &str) -> (DatabaseConnection, String) {
    let admin = connect_pg_admin(admin_url).await;
    let template = migrated_template(&admin, admin_url).await;
    let prefix = template.replacen("spa_auth_tpl_", "spa_auth_p_", 1);
    for n in 0.. {
        let name = format!("{prefix}_{n}");
        let claimed = admin
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_try_advisory_lock(hashtext($1)) AS claimed",
                [name.clone().into()],
            ))
            .await
            .expect("cannot take a pool lock")
            .and_then(|row| row.try_get::<bool>("", "claimed").ok())
            .unwrap_or(false);
        if !claimed {
            continue;
        }
        if database_exists(&admin, &name).await {
            // An outage a test made (tests/integration/healthz.rs) ends with that test.
            admin
                .execute_unprepared(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
                .await
                .unwrap_or_else(|e| panic!("cannot open database {name}: {e}"));
            // Connections a finished test left behind would see the next test's rows.
            admin
                .execute_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    [name.clone().into()],
                ))
                .await
                .expect("cannot end old connections to a pooled database");
            if empty_pooled(admin_url, &name).await {
                return (admin, name);
            }
            // Its tables were changed by a test (a fault injected): start it afresh.
            admin
                .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                .await
                .unwrap_or_else(|e| panic!("cannot drop database {name}: {e}"));
        }
        admin
            .execute_unprepared(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        return (admin, name);
    }
    unreachable!("the pool is unbounded")
}

/// The tables of a migrated database, by name, and its triggers (a test may add one to make
/// the database refuse a write): the template records them in a table of its own,
/// `spa_auth_tables`, which each copy keeps.
const TABLES_QUERY: &str = "SELECT concat_ws(';', \
     (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
      WHERE schemaname = 'public' AND tablename <> 'spa_auth_tables'), \
     (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal)) \
     AS tables";

/// Empties every table of a pooled database but the migrations' own, if it still has the
/// template's tables; false if a test changed them.
async fn empty_pooled(admin_url: &str, name: &str) -> bool {
    let db = Database::connect(with_database(admin_url, name))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to pooled database {name}: {e}"));
    let tables: String = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            TABLES_QUERY,
        ))
        .await
        .expect("cannot list the tables")
        .and_then(|row| row.try_get::<String>("", "tables").ok())
        .unwrap_or_default();
    let expected: Option<String> = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT tables FROM spa_auth_tables",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get::<String>("", "tables").ok());
    let intact = expected.is_some_and(|e| e == tables);
    if intact {
        // DELETE, not TRUNCATE: a truncated table gets new files, which costs ten times as
        // long on these few rows. With foreign keys off for the transaction, in any order.
        let table_names = tables.split(';').next().unwrap_or_default();
        let deletes: String = table_names
            .split(',')
            .filter(|t| *t != "seaql_migrations")
            .map(|t| format!("DELETE FROM \"{t}\"; "))
            .collect();
        db.execute_unprepared(&format!(
            "BEGIN; SET LOCAL session_replication_role = replica; {deletes}COMMIT;"
        ))
        .await
        .unwrap_or_else(|e| panic!("cannot empty pooled database {name}: {e}"));
    }
    let _ = db.close().await;
    intact
}

/// A database with today's migrations applied, to copy: PostgreSQL copies one in a fraction
/// of the time the migrations take, which were most of each PostgreSQL test's set-up. The
/// service still runs its migrations at start (and finds nothing to do), so its start-up path
/// is tested as before. Named after the migrations' source, so that a changed migration gets a
/// template of its own; kept between runs (`tests/run-all.sh` drops those of other migrations).
async fn migrated_template(admin: &DatabaseConnection, admin_url: &str) -> String {
    let name = format!("spa_auth_tpl_{}", migrations_fingerprint());
    if database_exists(admin, &name).await {
        return name;
    }
    // One builder at a time across the test processes; the others wait and then find it. A
    // session lock: it goes with the connection if this process dies.
    admin
        .execute_unprepared("SELECT pg_advisory_lock(7411905614)")
        .await
        .expect("cannot take the template lock");
    if !database_exists(admin, &name).await {
        // Built under another name and renamed when complete: a half-migrated template is
        // never copied. A build left by a killed run matches `spa_auth_t_%` and is dropped.
        let building = format!("spa_auth_t_build_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{building}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {building}: {e}"));
        let db = Database::connect(with_database(admin_url, &building))
            .await
            .expect("cannot connect to the template being built");
        spa_auth::database::migrate(&db)
            .await
            .expect("cannot migrate the template");
        // What a pooled copy must still have to be reused (see `empty_pooled`).
        db.execute_unprepared(&format!("CREATE TABLE spa_auth_tables AS {TABLES_QUERY}"))
            .await
            .expect("cannot record the template's tables");
        // A template cannot be copied while anyone is connected to it.
        db.close().await.expect("cannot close the template");
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
            ))
            .await
            .unwrap_or_else(|e| panic!("cannot publish template {name}: {e}"));
    }
    admin
        .execute_unprepared("SELECT pg_advisory_unlock(7411905614)")
        .await
        .expect("cannot release the template lock");
    name
}

async fn database_exists(admin: &DatabaseConnection, name: &str) -> bool {
    admin
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .expect("cannot list databases")
        .is_some()
}

/// A hash of the migrations' source files.
fn migrations_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migration/src");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(
            file.file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or_default(),
        );
        hash.update(std::fs::read(&file).expect("cannot read a migration"));
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
