//! While the database is known down, API calls answer 503 at once.

use poem::{Endpoint, Request, Response, error::ResponseError};

use crate::{http::errors::ApiError, sessions::cache::DbHealth};

/// While the invalidation poll sees the database down, API calls get 503 at once instead of
/// each waiting out the connection timeout; the poll, every 50 ms, notices the recovery.
pub async fn fail_fast_while_db_down<E: Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
    health: DbHealth,
) -> poem::Result<Response> {
    let path = req.uri().path();
    if !health.is_up() && crate::http::routes::is_api_path(path) && path != "/healthz" {
        return Ok(ApiError::Unavailable.as_response());
    }
    Ok(ep.get_response(req).await)
}
