//! Black-box test harness for spa-auth, in the style of "Zero To Production"'s `spawn_app()`,
//! shared by every Rust test of the workspace (integration, domain and cluster), so that each
//! helper exists once.
//!
//! Every black-box test starts the real service on a free port, against a database of its own: a fresh
//! SQLite file in a temporary directory or a fresh PostgreSQL database ([`db`]). It runs in the
//! test's process ([`app`]: [`spawn_app`], [`Instance`]) or as the real binary ([`mod@cli`]).
//! Tests talk to it over real HTTP with a `reqwest::Client` that has no cookie store ([`http`]:
//! [`Api`]): they read `Set-Cookie` and send `Cookie` themselves, so they can check every cookie
//! attribute and replay stolen or stale cookies. A second database connection lets tests look
//! at what the service stored ([`data`]).
//!
//! The domain tests (`tests/domain`) start no service: they take a [`TestDb`], [`db_test!`] and
//! the user helpers of [`data`].
//!
//! [`db_test!`] runs one test body on both databases. A PostgreSQL that cannot be reached fails
//! the test; it is never skipped.

pub mod accounts;
pub mod app;
pub mod cli;
pub mod data;
pub mod db;
pub mod host;
pub mod http;
pub mod passkey;
pub mod second_factor;
pub mod smtp;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

pub use app::{
    CHEAP_HASHING, Instance, NO_THROTTLE, TEST_MAIL_FROM, TEST_PUBLIC_URL, TestApp, base_args,
    mail_args, parse_settings, spawn_app, spawn_app_with, spawn_app_with_mail,
};
pub use cli::{
    announced_port, cli, cli_at_a_terminal, cli_in, cli_in_with, cli_ok, command, spa_auth_binary,
};
pub use data::{create_user_in, create_user_with_hash_in, open_session_in};
pub use db::{DEFAULT_TEST_PG, Db, TestDb, test_pg, with_database};
pub use host::{Background, Host, host_settings, spawn_host};
pub use http::{
    Api, SetCookie, assert_error, assert_hygiene, client, count_guesses, error_body, header_str,
    set_cookies,
};
pub use passkey::{PASSKEY_ARGS, SoftPasskey, TEST_RP_ID};
pub use reqwest::{Response, StatusCode, header};
pub use second_factor::{Authenticator, TEST_SECRET_KEY, TOTP_ARGS};
pub use smtp::{Mail, SmtpServer};
pub use spa_auth::http::extractors::DEFAULT_COOKIE_NAME;

/// The default idle timeout: 14 days.
pub const FOURTEEN_DAYS: i64 = 14 * 24 * 60 * 60;

/// Runs one async test body on both databases: `db_test!(async fn name(db) { ... })` expands
/// to a module `name` with the tests `sqlite` and `postgres`; the body gets `db: Db` and
/// usually starts with `let app = spawn_app(db).await;`.
#[macro_export]
macro_rules! db_test {
    ($(#[$meta:meta])* async fn $name:ident($db:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($db: $crate::Db) $body

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body($crate::Db::Sqlite).await
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                body($crate::Db::Postgres).await
            }
        }
    };
}

/// Base64 of `username:password`, as an `Authorization: Basic` header carries it.
pub fn basic_credentials(username: &str, password: &str) -> String {
    STANDARD.encode(format!("{username}:{password}"))
}

/// SHA-256 of a token: what the sessions table may store instead of it.
pub fn sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A log sink tests can read back: an `Arc<Mutex<Vec<u8>>>` behind a `MakeWriter`.
#[derive(Clone, Default)]
pub struct LogBuffer(pub Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer poisoned")).into_owned()
    }

    /// A `MakeWriter` (any `Fn() -> impl Write` is one) appending to this buffer.
    pub fn make_writer(&self) -> impl Fn() -> LogBuffer + Send + Sync + 'static {
        let this = self.clone();
        move || this.clone()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("log buffer poisoned")
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `body` on a runtime of its own with the service's log, at TRACE and as JSON, going to
/// a buffer; returns the body's result and the log. The subscriber is global to the process:
/// nextest runs every test in a process of its own.
pub fn with_trace_logs<T>(body: impl std::future::Future<Output = T>) -> (T, String) {
    // SAFETY: set before the runtime and any other thread of this test process exist; nothing
    // reads the environment concurrently.
    unsafe { std::env::set_var("RUST_LOG", "trace") };
    let logs = LogBuffer::default();
    spa_auth::telemetry::init(
        spa_auth::telemetry::LogFormat::Json,
        logs.make_writer(),
        false,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build a runtime");
    let out = rt.block_on(body);
    drop(rt);
    (out, logs.contents())
}
