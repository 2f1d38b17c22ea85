//! The edge of every request: its span, its id, its metrics and log line, and what every
//! answer gets on the way out (the header limit, `Allow` on a 405, JSON errors, the hygiene
//! headers).
//!
//! One endpoint rather than one middleware each: they all need the path's route, found here
//! once, and each layer of its own cost a reference count, a future and a walk of the route
//! table per request. The order is the one they had as layers, outermost first: span, hygiene,
//! header limit, JSON errors, `Allow`.
//!
//! Only the method, path, status, latency and request id are recorded: never headers, cookies,
//! query strings or bodies, which is where passwords and tokens travel.

use std::{
    cell::Cell,
    hash::{BuildHasher, RandomState},
    time::Instant,
};

use poem::{
    Endpoint, Middleware, Request, Response,
    error::ResponseError,
    http::{HeaderName, HeaderValue},
};
use tracing::{Instrument, field::Empty};
use uuid::Uuid;

use crate::{
    http::{
        errors::ApiError,
        middleware::{
            hygiene::add_hygiene_headers, json_errors::json_error, limits::headers_too_large,
        },
        routes::{PathInfo, add_allow_header},
    },
    telemetry::metrics::METRICS,
};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
        let request_id = next_request_id();
        // The label, not the path: a client's path must not become a metrics series.
        let path = PathInfo::of(req.uri().path());
        let method = req.method().clone();
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = req.uri().path(),
            request_id = %request_id,
            status = Empty,
            latency_ms = Empty,
        );
        let started = Instant::now();
        let mut resp = async {
            if headers_too_large(&req) {
                return ApiError::HeadersTooLarge.as_response();
            }
            let mut resp = self.0.get_response(req).await;
            add_allow_header(&mut resp, &path);
            json_error(resp).await
        }
        .instrument(span.clone())
        .await;
        add_hygiene_headers(&mut resp, path.is_api);
        let status = resp.status().as_u16();
        let took = started.elapsed();
        METRICS.request(method.as_str(), path.label, status, took);
        span.record("status", status);
        span.record("latency_ms", took.as_secs_f64() * 1000.0);
        span.in_scope(|| {
            if status >= 500 {
                tracing::warn!("request failed");
            } else {
                tracing::info!("request finished");
            }
        });
        let mut id = [0; uuid::fmt::Hyphenated::LENGTH];
        let id = request_id.hyphenated().encode_lower(&mut id);
        if let Ok(v) = HeaderValue::from_str(id) {
            resp.headers_mut().insert(X_REQUEST_ID, v);
        }
        Ok(resp)
    }
}

/// A random (version 4) UUID for a request, without a `getrandom` system call per request as
/// `Uuid::new_v4` makes: a per-thread counter through SipHash under a random per-thread key
/// (std's `RandomState`, seeded from the OS). A keyed PRF of a counter: ids never repeat but
/// by a 2^-122 chance, and without the key the next one cannot be told from the last ones,
/// nor the count of requests read from them. They correlate an answer with its log lines and
/// grant nothing, so that is all they need.
fn next_request_id() -> Uuid {
    thread_local! {
        static IDS: (RandomState, Cell<u64>) = (RandomState::new(), Cell::new(0));
    }
    IDS.with(|(key, counter)| {
        let n = counter.get();
        counter.set(n.wrapping_add(1));
        let high = u128::from(key.hash_one((n, 0u8)));
        let low = u128::from(key.hash_one((n, 1u8)));
        uuid::Builder::from_random_bytes(((high << 64) | low).to_be_bytes()).into_uuid()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn request_ids_are_random_uuids_that_do_not_repeat() {
        let ids: HashSet<Uuid> = (0..10_000).map(|_| next_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        let other_thread = std::thread::spawn(next_request_id)
            .join()
            .expect("the thread ends");
        assert!(!ids.contains(&other_thread));
    }
}
