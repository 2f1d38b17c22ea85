//! A host application embedding spa-auth as a library ([`spa_auth::SpaAuth`]), served in this
//! process on a free port: for the library's tests and the examples' (`examples/*/tests`).

use std::{ops::Deref, time::Duration};

use poem::{
    IntoEndpoint, Server,
    listener::{Acceptor, Listener, TcpListener},
};
use sea_orm::DatabaseConnection;
use spa_auth::{SpaAuth, SpaAuthSettings};
use tokio::task::JoinHandle;

use crate::{
    cli::cli_ok,
    db::{Db, TestDb},
    http::{Api, client},
};

/// A task stopped when its owner is dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether the host runs spa-auth's background work, as it should, or forgot it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Background {
    /// `tokio::spawn(spa.background())`, as the crate documentation says.
    Run,
    /// Never started: the session cache must then stay unused.
    Forgotten,
}

/// A running host application. It derefs to the [`Api`] that talks to it: spa-auth's own
/// API is mounted in it, so `login_ok`, `me` and `logout` work as on spa-auth itself.
pub struct Host {
    pub api: Api,
    /// The host's spa-auth, as the host built it.
    pub spa: SpaAuth,
    /// The connection the host gave spa-auth.
    pub db: DatabaseConnection,
    _server: Task,
    _background: Option<Task>,
    // Last: the database outlives the connections above.
    pub test_db: TestDb,
}

impl Deref for Host {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// spa-auth's defaults, but for a cheaper password hash: tests log in often.
pub fn host_settings() -> SpaAuthSettings {
    let mut settings = SpaAuthSettings::default();
    settings.password.argon2_memory_kib = 8;
    settings.password.argon2_iterations = 1;
    settings
}

/// Builds spa-auth on a fresh database with `settings`, and serves what `app` makes of it.
pub async fn spawn_host<E>(
    db: Db,
    settings: SpaAuthSettings,
    background: Background,
    app: impl FnOnce(&SpaAuth) -> E,
) -> Host
where
    E: IntoEndpoint + Send + 'static,
    E::Endpoint: 'static,
{
    let test_db = TestDb::create(db).await;
    let conn = sea_orm::Database::connect(&test_db.url)
        .await
        .unwrap_or_else(|e| panic!("host connection to {}: {e}", test_db.url));
    let cookie_name = settings.session.cookie_name.clone();
    let spa = SpaAuth::new(conn.clone(), settings)
        .await
        .unwrap_or_else(|e| panic!("spa-auth did not build: {e}"));
    let background = (background == Background::Run).then(|| Task(tokio::spawn(spa.background())));
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("cannot listen");
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.port()))
        .expect("a local port");
    let endpoint = app(&spa);
    let server = Task(tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor).run(endpoint).await;
    }));
    Host {
        api: Api {
            address: format!("http://127.0.0.1:{port}"),
            client: client(Duration::from_secs(30)),
            cookie_name,
        },
        spa,
        db: conn,
        _server: server,
        _background: background,
        test_db,
    }
}

impl Host {
    /// Runs the real `spa-auth` binary against the host's database; returns stdout. It
    /// returns once every instance running the watcher has seen its change.
    pub async fn cli(&self, args: &[&str]) -> String {
        let mut args = args.to_vec();
        args.extend(["--database-url", &self.test_db.url]);
        let out = cli_ok(&args, None).await;
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates an active user with the host's password hashing.
    pub async fn create_user(&self, username: &str, password: &str) -> entity::user::Model {
        let passwords = &self.spa.state().passwords;
        crate::create_user_in(&self.db, passwords, username, password).await
    }
}
