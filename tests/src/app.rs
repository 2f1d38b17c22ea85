//! Starting the real service in this process ([`Application::build`] +
//! [`Application::run_until`]) on a free port, and stopping it.

use std::{ops::Deref, process::Output, time::Duration};

use clap::Parser;
use sea_orm::{Database, DatabaseConnection};
use spa_auth::{
    http::state::AppState,
    server::{Application, ServeSettings},
};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    cli::{cli, cli_ok},
    db::{Db, TestDb},
    http::{Api, client},
};

/// Throttle limits far above what any test reaches, for tests about something else.
pub const NO_THROTTLE: [&str; 6] = [
    "--throttle-per-pair",
    "100000",
    "--throttle-per-ip",
    "100000",
    "--throttle-per-account",
    "100000",
];

/// Password hashing at a small fraction of the real cost, for tests that make many logins
/// to show something else (which requests pass, what is stored): the hash's cost is not what
/// they are about, and at full cost they spent most of their time hashing.
pub const CHEAP_HASHING: [&str; 4] = ["--argon2-memory-kib", "1024", "--argon2-iterations", "1"];

/// `ServeSettings` as the `serve` subcommand parses them.
#[derive(Parser, Debug)]
#[command(name = "spa-auth-test")]
struct ServeArgs {
    #[command(flatten)]
    settings: ServeSettings,
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

/// The `From` of the mail test apps send.
pub const TEST_MAIL_FROM: &str = "spa-auth tests <no-reply@example.com>";
/// Where the links in the mail of test apps point.
pub const TEST_PUBLIC_URL: &str = "https://auth.example.com";

/// Mail on, to `smtp_url` (an [`crate::SmtpServer`]'s, or `log`), with the sender polling
/// every 100 ms and retrying after 100 ms, doubling: what a test of delivery can wait for.
/// Add `--mail-templates DIR` for overrides.
pub fn mail_args(smtp_url: &str) -> Vec<String> {
    [
        "--smtp-url",
        smtp_url,
        "--mail-from",
        TEST_MAIL_FROM,
        "--public-url",
        TEST_PUBLIC_URL,
        "--mail-poll",
        "100ms",
        "--mail-retry-base",
        "100ms",
    ]
    .map(String::from)
    .to_vec()
}

/// Like [`spawn_app_with`], with mail on (see [`mail_args`]).
pub async fn spawn_app_with_mail(
    db: Db,
    smtp_url: &str,
    configure: impl FnOnce(&mut Vec<String>),
) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(mail_args(smtp_url));
        configure(args);
    })
    .await
}

/// Parses CLI-style arguments into `ServeSettings`, as `spa-auth serve` would.
pub fn parse_settings(args: &[String]) -> ServeSettings {
    match ServeArgs::try_parse_from(args) {
        Ok(a) => a.settings,
        Err(e) => panic!("test settings do not parse: {e}\nargs: {args:?}"),
    }
}

/// A service running on a task of this process until it is told to stop or dropped.
struct Running {
    port: u16,
    metrics_port: Option<u16>,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    async fn start(settings: &ServeSettings) -> Running {
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(e) => panic!("the service did not start: {e}"),
        };
        let port = app.port();
        assert_ne!(port, 0, "the service reports no port");
        let metrics_port = app.metrics_port();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Running {
            port,
            metrics_port,
            state,
            shutdown: Some(tx),
            server: Some(server),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            handle.abort();
        }
    }
}

/// A running service and everything a test needs to talk to it.
pub struct TestApp {
    /// How tests talk to it. [`TestApp`] derefs to it (`app.login_ok(..)`, `app.client`), so
    /// that one set of HTTP helpers serves it, a second [`Instance`] and the cluster's processes.
    pub api: Api,
    pub port: u16,
    /// A connection of the test's own to the service's database.
    pub db: DatabaseConnection,
    pub state: AppState,
    pub settings: ServeSettings,
    running: Running,
    // Last: the database outlives the connections above.
    pub test_db: TestDb,
}

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
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
    let running = Running::start(&settings).await;
    // Quiet, so that a test's log buffer holds only what the service logs.
    let mut opts = sea_orm::ConnectOptions::new(test_db.url.clone());
    opts.sqlx_logging(false);
    let conn = Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("test connection to {}: {e}", test_db.url));
    TestApp {
        api: Api::local(running.port, &settings),
        port: running.port,
        db: conn,
        state: running.state.clone(),
        settings,
        running,
        test_db,
    }
}

impl Api {
    /// The service this process runs on `port` with `settings`.
    fn local(port: u16, settings: &ServeSettings) -> Api {
        Api {
            address: format!("http://127.0.0.1:{port}"),
            client: client(Duration::from_secs(30)),
            cookie_name: settings.session.cookie_name.clone(),
        }
    }
}

impl TestApp {
    /// Runs the real `spa-auth` binary against this app's database; returns stdout, panicking
    /// unless it succeeds. The CLI returns only once every instance has seen its change.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = cli_ok(&self.on_this_db(args), None).await;
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Like [`TestApp::cli`], for commands that are meant to fail.
    pub async fn cli_output(&self, args: &[&str]) -> Output {
        cli(&self.on_this_db(args), None).await
    }

    fn on_this_db<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut args = args.to_vec();
        args.extend(["--database-url", &self.test_db.url]);
        args
    }

    /// Resolves the shutdown future the server was started with: graceful shutdown begins.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.running.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the server task to end after [`TestApp::trigger_shutdown`].
    pub async fn wait_stopped(&mut self, within: Duration) -> std::io::Result<()> {
        let handle = self.running.server.take().expect("server already awaited");
        match tokio::time::timeout(within, handle).await {
            Ok(joined) => joined.expect("server task panicked"),
            Err(_) => panic!("the server did not stop within {within:?} after shutdown"),
        }
    }
}

/// Another instance of the service on the database of `app`, with extra arguments. Like
/// [`TestApp`], it derefs to the [`Api`] that talks to it.
pub struct Instance {
    pub api: Api,
    pub port: u16,
    pub metrics_port: Option<u16>,
    pub state: AppState,
    _running: Running,
}

impl Deref for Instance {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Instance {
    pub async fn start(database_url: &str, extra: &[&str]) -> Instance {
        let mut args = base_args(database_url);
        args.extend(extra.iter().map(|s| s.to_string()));
        let settings = parse_settings(&args);
        let running = Running::start(&settings).await;
        Instance {
            api: Api::local(running.port, &settings),
            port: running.port,
            metrics_port: running.metrics_port,
            state: running.state.clone(),
            _running: running,
        }
    }
}
