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

/// What the body limits ask of a request, decided from its head alone.
pub enum BodyCheck {
    /// No body to read: a GET, or `Content-Length: 0`.
    Nothing,
    /// The declared length is over the limit, or (from [`read_body`]) the body broke one.
    Refuse(Response),
    /// A body may follow: [`read_body`] reads it.
    Read,
}

/// Decides from the head what the body needs. Separate from reading it so that a request
/// without a body never builds the state of a read under a timeout (kilobytes, see
/// `guard`).
pub fn check_body(req: &Request, limits: BodyLimits) -> BodyCheck {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        BodyCheck::Refuse(ApiError::PayloadTooLarge.as_response())
    } else if declared != Some(0) && req.method() != poem::http::Method::GET {
        BodyCheck::Read
    } else {
        BodyCheck::Nothing
    }
}

/// Reads the body up front, within a size and a time limit, so that neither a huge nor a
/// trickling body ties up a handler. The refusal, if the body breaks a limit.
pub async fn read_body(req: &mut Request, limits: BodyLimits) -> Option<Response> {
    let body = req.take_body();
    match tokio::time::timeout(limits.timeout, body.into_bytes_limit(limits.max_bytes)).await {
        Err(_) => Some(ApiError::RequestTimeout.as_response()),
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => {
            Some(ApiError::PayloadTooLarge.as_response())
        }
        Ok(Err(e)) => {
            let msg = format!("reading the body: {e}");
            Some(ApiError::BadRequest(msg).as_response())
        }
        Ok(Ok(bytes)) => {
            req.set_body(bytes);
            None
        }
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
