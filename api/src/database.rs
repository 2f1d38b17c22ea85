//! The database: opening the pool, migrating, and telling an outage from a refused query.

use std::time::Duration;

use clap::Args;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Opens the pool. SQLite runs in WAL mode, so readers never wait for the writer and
/// concurrent writers queue instead of failing.
///
/// `db_timeout` bounds every wait on the database, not only the wait for a pooled
/// connection: each statement on PostgreSQL (`statement_timeout`, which covers its lock waits),
/// each lock wait on SQLite (`busy_timeout`; SQLite has no statement timer, and with the file
/// on this machine only a lock held by another connection makes it wait). A stuck database,
/// a lock held by a migration or a manual `BEGIN` say, then gets the same quick 503 as an
/// unreachable one, and the next request after the lock is released goes through.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let bound = settings.db_timeout;
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.max_connections(settings.db_pool_size)
        .min_connections(1)
        .connect_timeout(bound)
        .acquire_timeout(bound)
        // A startup parameter of each PostgreSQL connection: no extra round trip.
        .statement_timeout(bound)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(bound)
                .foreign_keys(true)
        });
    Database::connect(opts).await
}

/// Runs the migrations. On PostgreSQL they run in one transaction without the statement
/// bound of [`connect`]: a migration may rewrite a large table, and an instance waiting for
/// another's migration waits as long as it takes, as it did before statements were bounded.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    // Instances started together would race to create the same tables; the first takes the
    // lock and migrates, the others wait and then find nothing to do.
    let txn = db.begin().await?;
    // `SET LOCAL` ends with the transaction: the pooled connection gets its bound back.
    txn.execute_unprepared("SET LOCAL statement_timeout = 0")
        .await?;
    txn.execute_unprepared("SELECT pg_advisory_xact_lock(7411905613)")
        .await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Whether a database error means the database cannot be reached or cannot serve right now
/// (waiting may help: 503), as opposed to a query it refused (a bug of ours: 500). Connection,
/// pool, I/O and protocol failures are outages; so are the server's own "cannot serve" answers:
/// PostgreSQL's connection (08), resources (53), shutdown (57P), system (58) and contention
/// (40001, 40P01) classes, a statement cancelled (57014: the statement bound of [`connect`] ran
/// out, or an operator cancelled it) or a lock not granted in time (55P03); and SQLite's busy
/// (a lock still held when the bound ran out), locked, out-of-memory, I/O, full and cannot-open.
pub fn is_outage(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx::Error};
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match &**sqlx {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                ["08", "53", "57P", "58", "40001", "40P01", "57014", "55P03"]
                    .iter()
                    .any(|class| code.starts_with(class))
            } else if db
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // SQLite's extended result code; its low byte is the primary one.
                let primary = db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff);
                // BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN.
                matches!(primary, Some(5 | 6 | 7 | 10 | 13 | 14))
            } else {
                false
            }
        }
        _ => false,
    }
}

/// The database URL without its password, for messages: `postgres://app:***@db/auth`. A
/// password given as a `password=` query parameter is hidden the same way.
pub fn redacted_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let query = query.map(|q| {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        format!("?{}", params.join("&"))
    });
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("{scheme}{authority}{path}{}", query.unwrap_or_default())
}

/// The file of a SQLite URL (`sqlite://spa-auth.db?mode=rwc`, `sqlite:data/a.db`), if it
/// names one (not `sqlite::memory:`).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// The database of a command run without `DATABASE_URL` or `--database-url`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://spa-auth.db?mode=rwc";

/// Where the data lives. Shared by every command that touches the database.
#[derive(Args, Clone, Debug)]
pub struct DatabaseSettings {
    /// SQLite file (`sqlite://path?mode=rwc`) or PostgreSQL (`postgres://user@host/db`).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL
    )]
    pub database_url: String,
    /// Connections in the pool of this instance.
    #[arg(long, env = "SPA_AUTH_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,
    /// How long a request waits on the database before answering 503: for a pooled
    /// connection, and then for each statement (PostgreSQL's `statement_timeout`; on SQLite,
    /// for a lock another connection holds). One setting for both, since to a client either
    /// is the same stuck database; statements of this service take milliseconds, so a bound
    /// that suits the connection wait suits them too. Migrations are not bounded.
    #[arg(long, env = "SPA_AUTH_DB_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub db_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_the_database_url_without_its_password() {
        for (url, shown) in [
            (
                "postgres://app:hunter2@db.example.com:5432/auth",
                "postgres://app:***@db.example.com:5432/auth",
            ),
            ("postgres://app@db/auth", "postgres://app@db/auth"),
            (
                "postgres://db/auth?user=app&password=hunter2&sslmode=require",
                "postgres://db/auth?user=app&password=***&sslmode=require",
            ),
            ("postgres://a:p@ss@db/x", "postgres://a:***@db/x"),
            (
                "sqlite://spa-auth.db?mode=rwc",
                "sqlite://spa-auth.db?mode=rwc",
            ),
        ] {
            assert_eq!(redacted_url(url), shown);
        }
        assert_eq!(
            sqlite_file(DEFAULT_DATABASE_URL),
            Some("spa-auth.db".into())
        );
        assert_eq!(sqlite_file("sqlite:data/a.db"), Some("data/a.db".into()));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://db/x"), None);
    }
}
