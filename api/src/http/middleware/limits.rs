//! Limits on what a request may send: header bytes, body bytes, and the time a body may take.

use std::time::Duration;

use poem::{Request, Response, error::ResponseError, http::header};

use crate::http::errors::ApiError;

/// Requests whose headers add up to more than this get 431. Generous for real browsers
/// (cookies included), small enough that nobody parses a megabyte of headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Limits on request bodies.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// Reads the body up front, within a size and a time limit, so that neither a huge nor a
/// trickling body ties up a handler. The refusal, if the body breaks a limit.
pub async fn limit_body(req: &mut Request, limits: BodyLimits) -> Option<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return Some(ApiError::PayloadTooLarge.as_response());
    }
    if declared != Some(0) && req.method() != poem::http::Method::GET {
        let body = req.take_body();
        match tokio::time::timeout(limits.timeout, body.into_bytes_limit(limits.max_bytes)).await {
            Err(_) => return Some(ApiError::RequestTimeout.as_response()),
            Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => {
                return Some(ApiError::PayloadTooLarge.as_response());
            }
            Ok(Err(e)) => {
                let msg = format!("reading the body: {e}");
                return Some(ApiError::BadRequest(msg).as_response());
            }
            Ok(Ok(bytes)) => req.set_body(bytes),
        }
    }
    None
}

/// Whether [`limit_body`] would have nothing to do: no body declared, on a GET or with
/// `Content-Length: 0`. Such a request skips it (and the state of its read).
pub fn nothing_to_limit(req: &Request) -> bool {
    match req.headers().get(header::CONTENT_LENGTH) {
        Some(v) => v.as_bytes() == b"0",
        None => req.method() == poem::http::Method::GET,
    }
}

/// Whether the request's headers add up to more than [`MAX_HEADER_BYTES`]: then it is
/// answered 431 by the edge of every request (`request_span`).
pub fn headers_too_large(req: &Request) -> bool {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    size > MAX_HEADER_BYTES
}
