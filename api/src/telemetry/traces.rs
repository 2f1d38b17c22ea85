//! OpenTelemetry traces over OTLP/HTTP (protobuf), on when `SPA_AUTH_OTLP_ENDPOINT` is set: a
//! span per request (the child of the caller's when it sends a W3C `traceparent`), one for
//! each password hash and one for each database statement (SeaORM's own), sent in batches
//! to `<endpoint>/v1/traces` by a thread of the SDK's.
//!
//! Unset, nothing of this runs: no layer is installed, the hashing and database spans are
//! below the log filter's level (so their call sites are switched off), and a request asks
//! [`enabled`] once, a load of a static.

use std::{future::Future, pin::Pin, sync::OnceLock, time::Duration};

use opentelemetry::{propagation::TextMapPropagator, trace::TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The variable naming the collector's OTLP/HTTP base URL (`http://collector:4318`).
pub const ENDPOINT_VAR: &str = "SPA_AUTH_OTLP_ENDPOINT";

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error("{ENDPOINT_VAR} {0:?} is not an http:// or https:// URL")]
    Endpoint(String),
    #[error("cannot set up the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("cannot start the OTLP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the OTLP client panicked while starting")]
    ClientPanicked,
}

/// Whether spans are exported.
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// The tracer for `endpoint`, kept for [`shutdown`]. Called once, at start.
pub(super) fn tracer(endpoint: &str) -> Result<opentelemetry_sdk::trace::Tracer, TracesError> {
    let base = endpoint.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(TracesError::Endpoint(endpoint.to_owned()));
    }
    // Built on a thread of its own: the blocking client starts (and checks for) a runtime of
    // its own, which must not happen inside the server's.
    let client = std::thread::spawn(|| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
    })
    .join()
    .map_err(|_| TracesError::ClientPanicked)??;
    let client = Blocking(client);
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/traces"))
        .with_http_client(client)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("spa-auth").build())
        .build();
    let tracer = provider.tracer("spa-auth");
    let _ = PROVIDER.set(provider);
    Ok(tracer)
}

/// Sends what is still queued. Called when the server stops: spans of its last requests
/// would otherwise be lost with the process.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// Makes `span` (a request's) the child of the caller's span when the request's `headers` carry a
/// valid W3C `traceparent` (and `tracestate`), and gives it the HTTP attributes. Only when
/// [`enabled`].
pub fn start_request(
    span: &tracing::Span,
    headers: &dyn opentelemetry::propagation::Extractor,
    method: &str,
    route: &'static str,
    path: &str,
) {
    let parent = TraceContextPropagator::new().extract(headers);
    let _ = span.set_parent(parent);
    span.set_attribute("http.request.method", method.to_owned());
    span.set_attribute("http.route", route);
    span.set_attribute("url.path", path.to_owned());
}

/// Records the answer's status on a request's span. Only when [`enabled`].
pub fn end_request(span: &tracing::Span, status: u16) {
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_status(opentelemetry::trace::Status::error("server error"));
    }
}

/// reqwest's blocking client: the SDK exports from a thread of its own, outside any async
/// runtime, and waits for each export there.
#[derive(Debug)]
struct Blocking(reqwest::blocking::Client);

impl HttpClient for Blocking {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            let request = reqwest::blocking::Request::try_from(request)?;
            let response = self.0.execute(request)?;
            let mut answer = Response::builder().status(response.status().as_u16());
            if let Some(headers) = answer.headers_mut() {
                headers.extend(
                    response
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
            let body = response.bytes()?;
            Ok(answer.body(body)?)
        })
    }
}
