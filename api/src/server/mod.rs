//! The service's life: settings checked, database opened and migrated, listeners bound, the
//! HTTP application served with its background tasks, and a graceful stop.

pub mod head_timeout;
pub mod settings;

pub use settings::{ServeSettings, SettingsError};

use std::{future::Future, time::Duration};

use poem::{
    Endpoint, Response, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use sea_orm::DbErr;

use crate::{
    database,
    http::{
        app::app,
        middleware::{
            csrf::{CrossOrigin, SiteOrigin},
            limits::BodyLimits,
        },
        state::AppState,
    },
    passwords::Passwords,
    services::Services,
    sessions::Sessions,
    sessions::cache::DbHealth,
    throttle::Throttle,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::passwords::SettingsError),
    #[error("invalid configuration: {0}")]
    Settings(#[from] SettingsError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("login decoys: {0}")]
    Decoy(#[from] crate::passwords::decoy::DecoyError),
}

/// A configured, listening service that has not started serving yet.
pub struct Application {
    acceptor: TcpAcceptor,
    metrics_acceptor: Option<TcpAcceptor>,
    state: AppState,
    limits: BodyLimits,
    spa_dir: Option<std::path::PathBuf>,
    purge_interval: Duration,
    invalidation_poll: Duration,
    idle_timeout: Duration,
    header_timeout: Duration,
    decoy_refresh: Duration,
}

impl Application {
    /// Validates the settings, connects, migrates and binds. Port 0 picks a free port.
    pub async fn build(settings: &ServeSettings) -> Result<Self, StartupError> {
        settings.validate()?;
        let db = database::connect(&settings.database).await?;
        database::migrate(&db).await?;
        let services = Services {
            sessions: Sessions::new(db.clone(), settings.session.clone()),
            passwords: Passwords::new(&settings.password)?,
            throttle: Throttle::new(db.clone(), settings.throttle.clone()),
            db,
        };
        let state = AppState {
            services,
            health: DbHealth::new(true),
            trust_proxy: settings.trust_proxy,
            cross_origin: CrossOrigin::new(
                &settings.trusted_origins,
                settings.public_url.as_deref().and_then(SiteOrigin::parse),
            ),
        };
        state.passwords.decoys().load(&state.db).await?;
        let acceptor = TcpListener::bind(settings.bind).into_acceptor().await?;
        let metrics_acceptor = match settings.metrics_bind {
            Some(addr) => Some(TcpListener::bind(addr).into_acceptor().await?),
            None => None,
        };
        Ok(Application {
            acceptor,
            metrics_acceptor,
            state,
            limits: BodyLimits {
                max_bytes: settings.max_body_bytes,
                timeout: settings.body_timeout,
            },
            spa_dir: settings.spa_dir.clone(),
            purge_interval: settings.purge_interval,
            invalidation_poll: settings.session.invalidation_poll,
            idle_timeout: settings.idle_timeout,
            header_timeout: settings.header_timeout,
            decoy_refresh: settings.password.decoy_refresh,
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
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to 30 s).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_loop(self.state.clone(), self.purge_interval));
        let watcher = tokio::spawn(crate::sessions::cache::watch(
            self.state.db.clone(),
            self.state.sessions.cache().clone(),
            self.state.health.clone(),
            self.invalidation_poll,
        ));
        let decoys = tokio::spawn(crate::passwords::decoy::refresh_loop(
            self.state.db.clone(),
            self.state.passwords.clone(),
            self.decoy_refresh,
        ));
        let metrics = self.metrics_acceptor.map(|acceptor| {
            let ep = metrics_endpoint(self.state.clone());
            tokio::spawn(Server::new_with_acceptor(acceptor).run(ep))
        });
        let app = app(self.state, self.limits, self.spa_dir);
        let acceptor = ReadTimeoutAcceptor {
            inner: self.acceptor,
            timeout: self.idle_timeout,
            header_timeout: self.header_timeout,
        };
        let result = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(30)))
            .await;
        purge.abort();
        watcher.abort();
        decoys.abort();
        if let Some(m) = metrics {
            m.abort();
        }
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
                        .content_type("text/plain; version=0.0.4")
                        .body(text),
                )
            }
        }),
    )
}

async fn purge_loop(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.sessions.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "purged expired sessions"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
        if let Err(e) = state.throttle.purge().await {
            tracing::warn!(error = %e, "purging login counters failed");
        }
    }
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
