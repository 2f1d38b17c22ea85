//! One span per request. Only the method, path, status, latency and request id are recorded:
//! never headers, cookies, query strings or bodies, which is where passwords and tokens travel.

use std::time::Instant;

use poem::{Endpoint, Middleware, Request, Response, http::HeaderValue};
use tracing::{Instrument, field::Empty};

use crate::{http::routes::metrics_label, telemetry::metrics::METRICS};

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
        // The label, not the path: a client's path must not become a metrics series.
        let (method, route) = (req.method().clone(), metrics_label(req.uri().path()));
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
        METRICS.request(method.as_str(), route, status, took);
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
