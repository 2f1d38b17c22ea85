//! Limits on what a request may send: header bytes, body bytes, and the time a body may take.

use std::time::Duration;

use poem::{Endpoint, Request, Response, error::ResponseError, http::header};

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
/// trickling body ties up a handler.
pub async fn limit_body<E: Endpoint>(
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

pub async fn limit_headers<E: Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
) -> poem::Result<Response> {
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
