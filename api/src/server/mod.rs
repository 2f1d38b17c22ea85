//! Wiring: database, state, routes, middleware, the server and its background task.

pub mod head_timeout;
pub mod settings;

pub use settings::{ServeSettings, SettingsError};

use std::{future::Future, time::Duration};

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server,
    error::ResponseError,
    http::{HeaderValue, header},
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use poem_openapi::OpenApiService;
use sea_orm::DbErr;

use crate::{
    config::ConfigError,
    database,
    http::errors::{ApiError, ErrorBody, ErrorCode},
    http::middleware::csrf::{CrossOrigin, SiteOrigin},
    http::middleware::request_span::RequestSpan,
    http::{AccountApi, AuthApi, HealthApi, state::AppState},
    passwords::Passwords,
    services::Services,
    sessions::Sessions,
    sessions::cache::DbHealth,
    throttle::Throttle,
};

/// Requests whose headers add up to more than this get 431. Generous for real browsers
/// (cookies included), small enough that nobody parses a megabyte of headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Limits on request bodies.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("invalid configuration: {0}")]
    Settings(#[from] SettingsError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("login decoys: {0}")]
    Decoy(#[from] crate::passwords::decoy::DecoyError),
}

pub fn openapi_service() -> OpenApiService<(AuthApi, AccountApi, HealthApi), ()> {
    OpenApiService::new(
        (AuthApi, AccountApi, HealthApi),
        "spa-auth",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Server-side session authentication for single-page apps: log in with HTTP Basic, \
             then an HttpOnly session cookie authenticates every call.",
    )
}

/// The spec as `spa-auth openapi` prints it and `openapi/openapi.json` holds it.
pub fn openapi_json() -> String {
    crate::http::spec::finish(openapi_service().spec())
}

/// The whole HTTP application for a given state.
pub fn app(
    state: AppState,
    cross_origin: CrossOrigin,
    limits: BodyLimits,
    spa_dir: Option<std::path::PathBuf>,
) -> impl Endpoint<Output = Response> {
    let api = openapi_service();
    // Served from openapi_json(), so /openapi.json is byte for byte the committed spec.
    let spec = crate::http::spec::endpoint(openapi_json());
    let health = state.health.clone();
    Route::new()
        .at(crate::http::docs::SPEC_PATH, spec)
        .nest(
            crate::http::docs::DOCS_PATH,
            crate::http::docs::SwaggerUi::new(),
        )
        .nest("/", crate::http::spa::api_with_spa(api, spa_dir))
        .data(state)
        .around(move |ep, req| limit_body(ep, req, limits))
        .around(move |ep, req| fail_fast_while_db_down(ep, req, health.clone()))
        .with(cross_origin)
        // Boxed between layers: each generic middleware repeats the type it wraps in its own,
        // so unboxed the endpoint type grows exponentially and release builds hit the
        // compiler's recursion limit.
        .map_to_response()
        .boxed()
        .around(crate::http::routes::allow_header)
        .around(json_errors)
        .around(limit_headers)
        // Outermost but for the span, so that every answer carries them, refusals included.
        .around(hygiene)
        .with(RequestSpan)
}

/// While the invalidation poll sees the database down, API calls get 503 at once instead of
/// each waiting out the connection timeout; the poll, every 50 ms, notices the recovery.
async fn fail_fast_while_db_down<E: Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
    health: DbHealth,
) -> poem::Result<Response> {
    let path = req.uri().path();
    if !health.is_up() && crate::http::spa::is_api_path(path) && path != "/healthz" {
        return Ok(ApiError::Unavailable.as_response());
    }
    Ok(ep.get_response(req).await)
}

/// Reads the body up front, within a size and a time limit, so that neither a huge nor a
/// trickling body ties up a handler.
async fn limit_body<E: Endpoint>(
    ep: std::sync::Arc<E>,
    mut req: Request,
    limits: BodyLimits,
) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return Ok(ApiError::PayloadTooLarge.as_response());
    }
    if declared != Some(0) && req.method() != poem::http::Method::GET {
        let body = req.take_body();
        match tokio::time::timeout(limits.timeout, body.into_bytes_limit(limits.max_bytes)).await {
            Err(_) => return Ok(ApiError::RequestTimeout.as_response()),
            Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => {
                return Ok(ApiError::PayloadTooLarge.as_response());
            }
            Ok(Err(e)) => {
                let msg = format!("reading the body: {e}");
                return Ok(ApiError::BadRequest(msg).as_response());
            }
            Ok(Ok(bytes)) => req.set_body(bytes),
        }
    }
    Ok(ep.get_response(req).await)
}

async fn limit_headers<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return Ok(ApiError::HeadersTooLarge.as_response());
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
    let message = match (status.is_server_error(), detail.trim()) {
        (false, d) if !d.is_empty() => d.chars().take(300).collect(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut new = poem::web::Json(ErrorBody {
        code: ErrorCode::for_status(status),
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
    let is_api = crate::http::spa::is_api_path(req.uri().path());
    let mut resp = ep.get_response(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if is_api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}

/// A configured, listening service that has not started serving yet.
pub struct Application {
    acceptor: TcpAcceptor,
    metrics_acceptor: Option<TcpAcceptor>,
    state: AppState,
    cross_origin: CrossOrigin,
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
            cross_origin: CrossOrigin::new(
                &settings.trusted_origins,
                settings.public_url.as_deref().and_then(SiteOrigin::parse),
            ),
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
        let app = app(self.state, self.cross_origin, self.limits, self.spa_dir);
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
