//! The edge of every request: its span (or, where only the text log would read the span, a
//! label: `telemetry::request_label`), its id, its metrics and log line, and what every
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

use futures_util::future::Either;
use poem::{
    Endpoint, Middleware, Request, Response,
    error::ResponseError,
    http::{HeaderName, HeaderValue},
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    http::{
        errors::ApiError,
        middleware::{
            hygiene::add_hygiene_headers, json_errors::json_error, limits::headers_too_large,
        },
        routes::{PathInfo, add_allow_header},
    },
    telemetry::{
        metrics::METRICS,
        request_label::{self, Label},
        traces,
    },
};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest `X-Request-Id` kept from a client: room for a UUID, a W3C trace id or a
/// proxy's own format, not for a client to fill the log lines.
pub const MAX_REQUEST_ID: usize = 64;

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
        let request_id = RequestId::of(&req);
        // The label, not the path: a client's path must not become a metrics series.
        let path = PathInfo::of(req.uri().path());
        let method = req.method().clone();
        // A reference count, not a copy: the log line needs the path after the request is
        // handed on.
        let uri = req.uri().clone();
        let traced = traces::enabled();
        // The id for the events inside: each log line then carries it once, and the outcome is
        // one event with every other field rather than fields recorded into the span one by
        // one. In a span, or (where nothing but the text line reads it) a label: see
        // `telemetry::request_label`. Neither when the filter would switch the span off.
        let span = (request_label::in_span() || traced).then(|| {
            let span = tracing::info_span!("request", request_id = request_id.as_str());
            if traced {
                traces::start_request(
                    &span,
                    &opentelemetry_http::HeaderExtractor(req.headers()),
                    method.as_str(),
                    path.label,
                    uri.path(),
                );
            }
            span
        });
        let label = (span.is_none() && tracing::span_enabled!(tracing::Level::INFO))
            .then(|| Label::new(request_id.as_str()));
        let id_header = request_id.header_value();
        let started = Instant::now();
        // Everything up to the log line inside the span or under the label (moved in, not
        // cloned, and entered once per poll rather than again for the line).
        let handled = async move {
            let mut resp = if headers_too_large(&req) {
                ApiError::HeadersTooLarge.as_response()
            } else {
                let mut resp = self.0.get_response(req).await;
                add_allow_header(&mut resp, &path);
                json_error(resp).await
            };
            add_hygiene_headers(&mut resp, path.is_api);
            let status = resp.status().as_u16();
            let took = started.elapsed();
            METRICS.request(method.as_str(), path.label, status, took);
            if traced {
                traces::end_request(&tracing::Span::current(), status);
            }
            let latency_ms = took.as_secs_f64() * 1000.0;
            if status >= 500 {
                tracing::warn!(
                    method = method.as_str(),
                    path = uri.path(),
                    status,
                    latency_ms,
                    "request failed"
                );
            } else {
                tracing::info!(
                    method = method.as_str(),
                    path = uri.path(),
                    status,
                    latency_ms,
                    "request finished"
                );
            }
            if let Some(v) = id_header {
                resp.headers_mut().insert(X_REQUEST_ID, v);
            }
            resp
        };
        let resp = match span {
            Some(span) => Either::Left(handled.instrument(span)),
            None => Either::Right(request_label::labelled(label, handled)),
        }
        .await;
        Ok(resp)
    }
}

/// A request's id: the client's (or its proxy's) `X-Request-Id` when that is 1 to
/// [`MAX_REQUEST_ID`] visible ASCII characters, so one id follows a request through every
/// service's logs; otherwise a fresh random UUID. Nothing but visible ASCII reaches a log line
/// this way: no control character, space or quote-breaking byte a client could forge lines
/// with. Held inline: no allocation for a request that brings its own.
pub struct RequestId {
    /// The client's header, sent back as it came (a reference count, not a copy).
    incoming: Option<HeaderValue>,
    len: u8,
    bytes: [u8; MAX_REQUEST_ID],
}

impl RequestId {
    pub fn of(req: &Request) -> RequestId {
        match req.headers().get(X_REQUEST_ID) {
            Some(v) if is_acceptable(v.as_bytes()) => {
                let mut bytes = [0; MAX_REQUEST_ID];
                bytes[..v.len()].copy_from_slice(v.as_bytes());
                RequestId {
                    incoming: Some(v.clone()),
                    len: v.len() as u8,
                    bytes,
                }
            }
            _ => {
                let mut bytes = [0; MAX_REQUEST_ID];
                next_request_id()
                    .hyphenated()
                    .encode_lower(&mut bytes[..uuid::fmt::Hyphenated::LENGTH]);
                RequestId {
                    incoming: None,
                    len: uuid::fmt::Hyphenated::LENGTH as u8,
                    bytes,
                }
            }
        }
    }

    pub fn as_str(&self) -> &str {
        // Visible ASCII either way, so always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    fn header_value(&self) -> Option<HeaderValue> {
        match &self.incoming {
            Some(v) => Some(v.clone()),
            None => HeaderValue::from_str(self.as_str()).ok(),
        }
    }
}

fn is_acceptable(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
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

    #[test]
    fn only_short_visible_ascii_ids_are_acceptable() {
        assert!(is_acceptable(b"a"));
        assert!(is_acceptable(&[b'x'; MAX_REQUEST_ID]));
        assert!(is_acceptable(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_acceptable(b""));
        assert!(!is_acceptable(&[b'x'; MAX_REQUEST_ID + 1]));
        assert!(!is_acceptable(b"two words"));
        assert!(!is_acceptable(b"tab\there"));
        assert!(!is_acceptable("caf\u{e9}".as_bytes()));
    }
}
