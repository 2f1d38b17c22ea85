//! Logging: one span per request, text or JSON lines. Only the method, path, status, latency
//! and request id are recorded: never headers, cookies, query strings or bodies, which is
//! where passwords and tokens travel.

pub mod metrics;

use std::time::Instant;

use poem::{Endpoint, Middleware, Request, Response, http::HeaderValue};
use tracing::{Instrument, field::Empty};
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

use crate::{config::LogFormat, telemetry::metrics::METRICS};

const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

/// Installs the global subscriber writing to `writer`. `RUST_LOG` overrides the filter.
pub fn init<W>(format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // A second init (tests start several apps in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Wraps each request in a span and logs its outcome.
pub struct RequestSpan;

impl<E: Endpoint> Middleware<E> for RequestSpan {
    type Output = RequestSpanEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestSpanEndpoint(ep)
    }
}

pub struct RequestSpanEndpoint<E>(E);

impl<E: Endpoint> Endpoint for RequestSpanEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = req.uri().path(),
            request_id = %request_id,
            status = Empty,
            latency_ms = Empty,
        );
        let started = Instant::now();
        let mut resp = self.0.get_response(req).instrument(span.clone()).await;
        let status = resp.status().as_u16();
        let took = started.elapsed();
        METRICS.request(&method, &path, status, took);
        span.record("status", status);
        span.record("latency_ms", took.as_secs_f64() * 1000.0);
        span.in_scope(|| {
            if status >= 500 {
                tracing::warn!("request failed");
            } else {
                tracing::info!("request finished");
            }
        });
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        Ok(resp)
    }
}
