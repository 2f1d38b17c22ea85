//! Black-box test harness for spa-auth, in the style of "Zero To Production"'s `spawn_app()`.
//!
//! Every test starts the real service ([`Application::build`] + [`Application::run_until`]) on a
//! free port, against a database of its own: a fresh SQLite file in a temporary directory or a
//! fresh PostgreSQL database. Tests talk to it over real HTTP with a `reqwest::Client` that has
//! no cookie store: they read `Set-Cookie` and send `Cookie` themselves, so they can check every
//! cookie attribute and replay stolen or stale cookies. A second database connection lets tests
//! look at what the service stored.
//!
//! [`db_test!`] runs one test body on both databases. A PostgreSQL that cannot be reached fails
//! the test; it is never skipped.

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use clap::Parser;
use entity::{session, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use sha2::{Digest, Sha256};
use spa_auth::{
    config::PasswordSettings,
    passwords::{Password, Passwords},
    server::ServeSettings,
    users::{self, NewUser},
    {http::state::AppState, server::Application},
};
use tokio::{sync::oneshot, task::JoinHandle};

pub use reqwest::{Response, StatusCode, header};

/// The PostgreSQL server tests create their databases on.
pub const DEFAULT_TEST_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const DEFAULT_COOKIE_NAME: &str = "__Host-session";
/// The default idle timeout: 14 days.
pub const FOURTEEN_DAYS: i64 = 14 * 24 * 60 * 60;

/// Which database a test runs on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

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

/// `ServeSettings` as the `serve` subcommand parses them.
#[derive(Parser, Debug)]
#[command(name = "spa-auth-test")]
struct ServeArgs {
    #[command(flatten)]
    settings: ServeSettings,
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

/// The arguments every test app gets: a free port and its own database, explicitly, so that
/// `SPA_AUTH_BIND` / `DATABASE_URL` in the environment cannot leak in.
pub fn base_args(database_url: &str) -> Vec<String> {
    vec![
        "spa-auth-test".into(),
        "--bind".into(),
        "127.0.0.1:0".into(),
        "--database-url".into(),
        database_url.into(),
    ]
}

/// Parses CLI-style arguments into `ServeSettings`, as `spa-auth serve` would.
pub fn parse_settings(args: &[String]) -> ServeSettings {
    match ServeArgs::try_parse_from(args) {
        Ok(a) => a.settings,
        Err(e) => panic!("test settings do not parse: {e}\nargs: {args:?}"),
    }
}

/// A running service and everything a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    /// A connection of the test's own to the service's database.
    pub db: DatabaseConnection,
    pub state: AppState,
    pub settings: ServeSettings,
    pub cookie_name: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    // Last: the database outlives the connections above.
    pub test_db: TestDb,
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Like [`spawn_app`], with extra or changed command-line arguments.
pub async fn spawn_app_with(db: Db, configure: impl FnOnce(&mut Vec<String>)) -> TestApp {
    let test_db = TestDb::create(db).await;
    let mut args = base_args(&test_db.url);
    configure(&mut args);
    let settings = parse_settings(&args);
    let app = match Application::build(&settings).await {
        Ok(app) => app,
        Err(e) => panic!("the service did not start: {e}"),
    };
    let port = app.port();
    assert_ne!(port, 0, "the service reports no port");
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("cannot build the HTTP client");
    // Quiet, so that a test's log buffer holds only what the service logs.
    let mut opts = sea_orm::ConnectOptions::new(test_db.url.clone());
    opts.sqlx_logging(false);
    let conn = Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("test connection to {}: {e}", test_db.url));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client,
        db: conn,
        cookie_name: settings.session.cookie_name.clone(),
        state,
        settings,
        shutdown: Some(tx),
        server: Some(server),
        test_db,
    }
}

/// Base64 of `username:password`, as an `Authorization: Basic` header carries it.
pub fn basic_credentials(username: &str, password: &str) -> String {
    STANDARD.encode(format!("{username}:{password}"))
}

/// SHA-256 of a token: what the sessions table may store instead of it.
pub fn sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// One `Set-Cookie` header, taken apart.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Attribute names as sent, with their values (`None` for flags such as `HttpOnly`).
    pub attributes: Vec<(String, Option<String>)>,
    pub raw: String,
}

impl SetCookie {
    pub fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';');
        let pair = parts.next().unwrap_or_default();
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let attributes = parts
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
                None => (a.to_owned(), None),
            })
            .collect();
        SetCookie {
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attributes,
            raw: raw.to_owned(),
        }
    }

    /// The attribute's value (`Some("")` for a flag), looked up ignoring case.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    pub fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    pub fn max_age(&self) -> Option<i64> {
        self.attr("Max-Age").map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("Max-Age is not a number: {}", self.raw))
        })
    }
}

/// Every `Set-Cookie` header of a response.
pub fn set_cookies(resp: &Response) -> Vec<SetCookie> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| SetCookie::parse(v.to_str().expect("Set-Cookie is not ASCII")))
        .collect()
}

/// The body of an error response, after checking it is the JSON `{code, message}` shape.
pub async fn error_body(resp: Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.expect("cannot read the error body");
    assert!(
        content_type.starts_with("application/json"),
        "{status} answered with Content-Type {content_type:?}, not JSON: {text}"
    );
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {text}"));
    let code = json["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{status} body has no string `code`: {text}"));
    let message = json["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{status} body has no string `message`: {text}"));
    assert!(!message.is_empty(), "empty error message: {text}");
    (status, code.to_owned(), message.to_owned())
}

/// Checks a response is `status` with the JSON error `code`, and no `WWW-Authenticate`
/// (which would make browsers pop up a password dialog).
pub async fn assert_error(resp: Response, status: StatusCode, code: &str) {
    assert!(
        resp.headers().get(header::WWW_AUTHENTICATE).is_none(),
        "{} carries WWW-Authenticate: {:?}",
        resp.status(),
        resp.headers().get(header::WWW_AUTHENTICATE)
    );
    let (got_status, got_code, message) = error_body(resp).await;
    assert_eq!(
        (got_status, got_code.as_str()),
        (status, code),
        "unexpected error (message: {message})"
    );
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A `Cookie` header value carrying `token` under the configured cookie name.
    pub fn cookie_header(&self, token: &str) -> String {
        format!("{}={token}", self.cookie_name)
    }

    /// Creates an active user with a password hashed as the service is configured to.
    pub async fn create_user(&self, username: &str, password: &str) -> user::Model {
        let hash = self
            .state
            .passwords
            .hash(&Password::new(password))
            .await
            .expect("hashing failed");
        self.create_user_with_hash(username, Some(hash)).await
    }

    /// Creates an active user with the given stored hash.
    pub async fn create_user_with_hash(&self, username: &str, hash: Option<String>) -> user::Model {
        let new = NewUser {
            username: username.into(),
            email: format!("{}@example.com", username.to_lowercase()),
            first_name: "First".into(),
            last_name: "Last".into(),
        };
        users::create(&self.db, new, hash)
            .await
            .unwrap_or_else(|e| panic!("cannot create user {username}: {e}"))
    }

    /// The user as stored now.
    /// Waits as long as the `spa-auth` CLI does after changing a user directly in the
    /// database: by then every running instance has dropped what it cached about that user
    /// (`spa_auth::sessions::cache::propagation_bound`). Changes made through the HTTP API need no wait.
    pub async fn settle(&self) {
        let poll = std::time::Duration::from_millis(50);
        tokio::time::sleep(spa_auth::sessions::cache::propagation_bound(poll)).await;
    }

    pub async fn user(&self, username: &str) -> user::Model {
        users::get_by_username(&self.db, username)
            .await
            .unwrap_or_else(|e| panic!("cannot read user {username}: {e}"))
    }

    /// `POST /api/auth/login` with raw `Authorization` header bytes (or none).
    pub async fn login_raw(&self, authorization: Option<&[u8]>) -> Response {
        let mut req = self.client.post(self.url("/api/auth/login"));
        if let Some(bytes) = authorization {
            let value = header::HeaderValue::from_bytes(bytes).expect("invalid header bytes");
            req = req.header(header::AUTHORIZATION, value);
        }
        req.send().await.expect("login request failed")
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        let value = format!("Basic {}", basic_credentials(username, password));
        self.login_raw(Some(value.as_bytes())).await
    }

    /// Logs in while presenting an existing session cookie.
    pub async fn login_with_cookie(&self, username: &str, password: &str, token: &str) -> Response {
        self.client
            .post(self.url("/api/auth/login"))
            .basic_auth(username, Some(password))
            .header(header::COOKIE, self.cookie_header(token))
            .send()
            .await
            .expect("login request failed")
    }

    /// Logs in, checks it worked and returns the session token.
    pub async fn login_ok(&self, username: &str, password: &str) -> String {
        let resp = self.login(username, password).await;
        assert_eq!(resp.status(), StatusCode::OK, "login of {username} failed");
        self.session_cookie(&resp)
            .expect("a successful login sets no session cookie")
    }

    /// The session token a response sets, if any (an empty value, i.e. a clearing cookie,
    /// counts as none).
    pub fn session_cookie(&self, resp: &Response) -> Option<String> {
        set_cookies(resp)
            .into_iter()
            .rfind(|c| c.name == self.cookie_name && !c.value.is_empty())
            .map(|c| c.value)
    }

    /// The `Set-Cookie` of the session cookie, whatever its value.
    pub fn session_set_cookie(&self, resp: &Response) -> Option<SetCookie> {
        set_cookies(resp)
            .into_iter()
            .rfind(|c| c.name == self.cookie_name)
    }

    /// `GET /api/me`, with the session cookie when a token is given.
    pub async fn me(&self, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url("/api/me"));
        if let Some(t) = token {
            req = req.header(header::COOKIE, self.cookie_header(t));
        }
        req.send().await.expect("me request failed")
    }

    /// `GET /api/me` with an arbitrary `Cookie` header.
    pub async fn me_with_cookie_header(&self, cookie: &str) -> Response {
        self.client
            .get(self.url("/api/me"))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .expect("me request failed")
    }

    /// `POST /api/auth/logout`, with the session cookie when a token is given.
    pub async fn logout(&self, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url("/api/auth/logout"));
        if let Some(t) = token {
            req = req.header(header::COOKIE, self.cookie_header(t));
        }
        req.send().await.expect("logout request failed")
    }

    pub async fn healthz(&self) -> Response {
        self.client
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz request failed")
    }

    /// Every row of the sessions table.
    pub async fn sessions(&self) -> Vec<session::Model> {
        session::Entity::find()
            .all(&self.db)
            .await
            .expect("cannot read sessions")
    }

    /// The session stored for a token, looked up by its SHA-256.
    pub async fn session_for(&self, token: &str) -> Option<session::Model> {
        session::Entity::find()
            .filter(session::Column::TokenHash.eq(sha256(token)))
            .one(&self.db)
            .await
            .expect("cannot read sessions")
    }

    pub async fn sessions_of(&self, user_id: uuid::Uuid) -> Vec<session::Model> {
        session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .all(&self.db)
            .await
            .expect("cannot read sessions")
    }

    /// Everything the database holds about sessions, as text, to search for secrets: every
    /// row as PostgreSQL renders it, or for SQLite every byte of the database and its WAL.
    pub async fn raw_session_storage(&self) -> String {
        match self.test_db.kind {
            Db::Postgres => {
                let rows = self
                    .db
                    .query_all_raw(Statement::from_string(
                        self.db.get_database_backend(),
                        "SELECT s::text AS row FROM sessions s",
                    ))
                    .await
                    .expect("cannot dump sessions");
                rows.iter()
                    .map(|r| r.try_get::<String>("", "row").expect("row as text"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Db::Sqlite => {
                let path = self.test_db.sqlite_path.clone().expect("sqlite path");
                let mut bytes = std::fs::read(&path).expect("cannot read the SQLite file");
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                if let Ok(more) = std::fs::read(wal) {
                    bytes.extend(more);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
        }
    }

    /// Passwords hashed with other parameters than the service's, e.g. to store a weak hash.
    pub fn passwords_with(memory_kib: u32, iterations: u32, parallelism: u32) -> Passwords {
        Passwords::new(&PasswordSettings {
            argon2_memory_kib: memory_kib,
            argon2_iterations: iterations,
            argon2_parallelism: parallelism,
            hash_concurrency: Some(1),
            hash_queue: 4,
            decoy_refresh: Duration::from_secs(60),
        })
        .expect("argon2 parameters")
    }

    /// Resolves the shutdown future the server was started with: graceful shutdown begins.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the server task to end after [`TestApp::trigger_shutdown`].
    pub async fn wait_stopped(&mut self, within: Duration) -> std::io::Result<()> {
        let handle = self.server.take().expect("server already awaited");
        match tokio::time::timeout(within, handle).await {
            Ok(joined) => joined.expect("server task panicked"),
            Err(_) => panic!("the server did not stop within {within:?} after shutdown"),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            handle.abort();
        }
    }
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

/// Where `cargo build` puts the `spa-auth` binary of this workspace.
pub fn spa_auth_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug").join("spa-auth")
}
