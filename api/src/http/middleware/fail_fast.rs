//! While the database is known down, API calls answer 503 at once.

use poem::{Request, Response, error::ResponseError};

use crate::{http::errors::ApiError, sessions::cache::DbHealth};

/// While the invalidation poll sees the database down, API calls get 503 at once instead of
/// each waiting out the connection timeout; the poll, every 50 ms, notices the recovery. The
/// probes answer for themselves: `/livez` stays 200 (the process is alive), `/healthz` and
/// `/readyz` give their own 503 with their own reason.
pub fn refuse_while_db_down(req: &Request, health: &DbHealth) -> Option<Response> {
    let path = req.uri().path();
    let probe = matches!(path, "/healthz" | "/livez" | "/readyz");
    (!health.is_up() && !probe && crate::http::routes::is_api_path(path))
        .then(|| ApiError::Unavailable.as_response())
}
