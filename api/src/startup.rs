//! Wiring: database, state, routes, middleware, the server and its background task.

use std::{future::Future, time::Duration};

use migration::{Migrator, MigratorTrait};
use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server,
    http::{HeaderValue, StatusCode, header},
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use poem_openapi::OpenApiService;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::{
    config::{ConfigError, DatabaseSettings, ServeSettings},
    errors::{ApiError, ErrorBody},
    http::{AuthApi, HealthApi},
    passwords::Passwords,
    sessions::Sessions,
    telemetry::RequestSpan,
};

/// Requests whose headers add up to more than this get 431. Generous for real browsers
/// (cookies included), small enough that nobody parses a megabyte of headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub sessions: Sessions,
    pub passwords: Passwords,
    pub trust_proxy: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the pool. SQLite runs in WAL mode with a busy timeout, so readers never wait for
/// the writer and concurrent writers queue instead of failing.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.max_connections(settings.db_pool_size)
        .min_connections(1)
        .connect_timeout(settings.db_timeout)
        .acquire_timeout(settings.db_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    Database::connect(opts).await
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

pub fn openapi_service() -> OpenApiService<(AuthApi, HealthApi), ()> {
    OpenApiService::new((AuthApi, HealthApi), "spa-auth", env!("CARGO_PKG_VERSION"))
        .description(
            "Server-side session authentication for single-page apps: log in with HTTP Basic, \
             then an HttpOnly session cookie authenticates every call.",
        )
}

/// The spec as `spa-auth openapi` prints it and `openapi/openapi.json` holds it.
pub fn openapi_json() -> String {
    openapi_service().spec()
}

/// The whole HTTP application for a given state.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = openapi_service();
    let spec = api.spec_endpoint();
    Route::new()
        .at("/openapi.json", spec)
        .nest("/", api)
        .data(state)
        .around(hygiene)
        .around(json_errors)
        .around(limit_headers)
        .with(RequestSpan)
}

async fn limit_headers<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return Ok(ApiError::HeadersTooLarge.into_response_json());
    }
    Ok(ep.get_response(req).await)
}

/// Every error the server sends is JSON in the Error shape, including the ones poem produces
/// itself (unknown path, wrong method, unparsable request).
async fn json_errors<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let resp = ep.get_response(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let detail = body.into_string().await.unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "not_authenticated",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = match (status.is_server_error(), detail.trim()) {
        (false, d) if !d.is_empty() => d.chars().take(300).collect(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut new = poem::web::Json(ErrorBody {
        code: code.into(),
        message,
    })
    .with_status(status)
    .into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(new)
}

/// Headers every response carries; auth answers must never be cached by anyone.
async fn hygiene<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let is_api = req.uri().path().starts_with("/api/");
    let mut resp = ep.get_response(req).await;
    let h = resp.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if is_api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}

impl ApiError {
    pub fn into_response_json(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// A configured, listening service that has not started serving yet.
pub struct Application {
    acceptor: TcpAcceptor,
    state: AppState,
    purge_interval: Duration,
}

impl Application {
    /// Validates the settings, connects, migrates and binds. Port 0 picks a free port.
    pub async fn build(settings: &ServeSettings) -> Result<Self, StartupError> {
        settings.validate()?;
        let db = connect(&settings.database).await?;
        migrate(&db).await?;
        let state = AppState {
            sessions: Sessions::new(db.clone(), settings.session.clone()),
            passwords: Passwords::new(&settings.password)?,
            trust_proxy: settings.trust_proxy,
            db,
        };
        let acceptor = TcpListener::bind(settings.bind).into_acceptor().await?;
        Ok(Application {
            acceptor,
            state,
            purge_interval: settings.purge_interval,
        })
    }

    pub fn port(&self) -> u16 {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to 30 s).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_loop(self.state.sessions.clone(), self.purge_interval));
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app(self.state), shutdown, Some(Duration::from_secs(30)))
            .await;
        purge.abort();
        result
    }
}

async fn purge_loop(sessions: Sessions, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sessions.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "purged expired sessions"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
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
