//! Every error is JSON in the Error shape, poem's own included.

use poem::{IntoResponse, Response, http::header};

use crate::http::errors::{ErrorBody, ErrorCode};

/// Every error the server sends is JSON in the Error shape, including the ones poem produces
/// itself (unknown path, wrong method, unparsable request). Only such an error's body is
/// read: every other response passes untouched, its body still streaming.
pub async fn json_error(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
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
    new
}
