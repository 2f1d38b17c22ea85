//! The service's life: settings checked, database opened and migrated, listeners bound, the
//! HTTP application served with its background tasks, and a graceful stop.

pub mod embed;
pub mod head_timeout;
pub mod settings;

pub use embed::{AuthenticateError, Authenticated, BuildError, SpaAuth};
pub use settings::{ServeSettings, SettingsError, SpaAuthSettings};

use std::{future::Future, time::Duration};

use poem::{
    Endpoint, Response, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use sea_orm::DbErr;

use crate::{database, http::app::app, http::state::AppState};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Settings(#[from] SettingsError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// The URL is shown without its password.
    #[error("cannot open the database {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        addr: std::net::SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the database of a command or of `serve`, with an error that names it (password
/// hidden). A SQLite file that did not exist is created, and said so on standard error with
/// its full path: a forgotten `DATABASE_URL` otherwise leaves an empty database in whatever
/// directory the command ran in, and a puzzled operator.
pub async fn connect(
    settings: &crate::database::DatabaseSettings,
) -> Result<sea_orm::DatabaseConnection, StartupError> {
    let url = &settings.database_url;
    let new_file = crate::database::sqlite_file(url).filter(|f| !f.exists());
    let db = database::connect(settings)
        .await
        .map_err(|source| StartupError::Connect {
            url: database::redacted_url(url),
            source,
        })?;
    if let Some(file) = new_file.filter(|f| f.exists()) {
        let path = std::fs::canonicalize(&file).unwrap_or(file);
        let why = match url.as_str() {
            database::DEFAULT_DATABASE_URL => {
                " (DATABASE_URL is not set: set it to use another database)"
            }
            _ => "",
        };
        eprintln!(
            "spa-auth: created the SQLite database {}{why}",
            path.display()
        );
    }
    Ok(db)
}

/// Binds `addr`, with an error that names it and what it was for.
async fn bind(addr: std::net::SocketAddr, what: &'static str) -> Result<TcpAcceptor, StartupError> {
    TcpListener::bind(addr)
        .into_acceptor()
        .await
        .map_err(|source| StartupError::Bind { addr, what, source })
}

/// A configured, listening service that has not started serving yet.
pub struct Application {
    acceptor: TcpAcceptor,
    metrics_acceptor: Option<TcpAcceptor>,
    spa: SpaAuth,
    spa_dir: Option<std::path::PathBuf>,
    idle_timeout: Duration,
    header_timeout: Duration,
}

impl Application {
    /// Validates the settings, connects, migrates and binds. Port 0 picks a free port.
    pub async fn build(settings: &ServeSettings) -> Result<Self, StartupError> {
        settings.validate()?;
        let db = connect(&settings.database).await?;
        let spa = SpaAuth::new(db, settings.spa_auth()).await?;
        let acceptor = bind(settings.bind, "SPA_AUTH_BIND").await?;
        let metrics_acceptor = match settings.metrics_bind {
            Some(addr) => Some(bind(addr, "SPA_AUTH_METRICS_BIND").await?),
            None => None,
        };
        Ok(Application {
            acceptor,
            metrics_acceptor,
            spa,
            spa_dir: settings.spa_dir.clone(),
            idle_timeout: settings.idle_timeout,
            header_timeout: settings.header_timeout,
        })
    }

    pub fn port(&self) -> u16 {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .unwrap_or(0)
    }

    /// Port of the metrics listener, when one is configured.
    pub fn metrics_port(&self) -> Option<u16> {
        let a = self.metrics_acceptor.as_ref()?;
        a.local_addr().first()?.as_socket_addr().map(|s| s.port())
    }

    pub fn state(&self) -> &AppState {
        self.spa.state()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to 30 s).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let background = tokio::spawn(self.spa.background());
        let metrics = self.metrics_acceptor.map(|acceptor| {
            let ep = metrics_endpoint(self.spa.state().clone());
            tokio::spawn(Server::new_with_acceptor(acceptor).run(ep))
        });
        let app = app(self.spa.state().clone(), self.spa.limits(), self.spa_dir);
        let acceptor = ReadTimeoutAcceptor {
            inner: self.acceptor,
            timeout: self.idle_timeout,
            header_timeout: self.header_timeout,
        };
        let result = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(30)))
            .await;
        background.abort();
        if let Some(m) = metrics {
            m.abort();
        }
        // The last requests' spans, still queued for the exporter (it waits, so off the
        // runtime's workers).
        let _ = tokio::task::spawn_blocking(crate::telemetry::traces::shutdown).await;
        result
    }
}

/// Closes a connection whose client sends nothing for `timeout` while the server waits to
/// read (idle keep-alives, clients that stall), or whose request head takes longer than
/// `header_timeout` however steadily it trickles (see `head_timeout`): poem 3.1 gives hyper no
/// header timer, and its own idle timeout waits for a stalled request.
struct ReadTimeoutAcceptor {
    inner: TcpAcceptor,
    timeout: Duration,
    header_timeout: Duration,
}

impl Acceptor for ReadTimeoutAcceptor {
    type Io = crate::server::head_timeout::HeadTimeout<
        std::pin::Pin<Box<tokio_io_timeout::TimeoutStream<tokio::net::TcpStream>>>,
    >;

    fn local_addr(&self) -> Vec<poem::web::LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(
        Self::Io,
        poem::web::LocalAddr,
        poem::web::RemoteAddr,
        poem::http::uri::Scheme,
    )> {
        let (stream, local, remote, scheme) = self.inner.accept().await?;
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_read_timeout(Some(self.timeout));
        let stream =
            crate::server::head_timeout::HeadTimeout::new(Box::pin(stream), self.header_timeout);
        Ok((stream, local, remote, scheme))
    }
}

fn metrics_endpoint(state: AppState) -> impl Endpoint<Output = Response> {
    Route::new().at(
        "/metrics",
        poem::endpoint::make(move |_req| {
            let state = state.clone();
            async move {
                let text = crate::telemetry::metrics::METRICS
                    .render(state.passwords.queue_depth(), state.sessions.cache().len());
                Ok::<_, poem::Error>(
                    Response::builder()
                        .content_type(crate::telemetry::metrics::CONTENT_TYPE)
                        .body(text),
                )
            }
        }),
    )
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}
