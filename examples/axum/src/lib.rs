//! An axum service that protects its routes with spa-auth, through an extractor built on the
//! framework-neutral [`SpaAuth::authenticate`]. Users log in through spa-auth itself
//! (`spa-auth serve` on the same database, behind the same origin); this service only reads
//! the session cookie, and sees a revocation on the very next request.

use axum::{
    Json, Router,
    extract::{FromRef, FromRequestParts},
    http::{header::SET_COOKIE, request::Parts},
    response::{AppendHeaders, IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use spa_auth::{ApiError, Authenticated, SpaAuth};

/// A request with a live session: an extractor, so a handler that takes it is protected.
/// Without one it answers 401 with spa-auth's JSON error body and clears the dead cookie; an
/// unsafe method from another site is refused first, 403 `csrf_rejected`, by spa-auth's policy.
pub struct LoggedIn(pub Authenticated);

impl<S> FromRequestParts<S> for LoggedIn
where
    SpaAuth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let spa = SpaAuth::from_ref(state);
        if !spa.cross_site_allowed(&parts.method, &parts.uri, &parts.headers) {
            return Err(error(ApiError::CsrfRejected).into_response());
        }
        let refusal = match spa.authenticate(&parts.headers).await {
            Ok(Some(found)) => return Ok(LoggedIn(found)),
            Ok(None) => {
                let clear = [(SET_COOKIE, spa.clear_cookie())];
                return Err((clear, error(ApiError::NotAuthenticated)).into_response());
            }
            Err(e) if e.is_outage() => ApiError::Unavailable,
            Err(e) => ApiError::Internal(e.to_string()),
        };
        Err(error(refusal).into_response())
    }
}

/// spa-auth's error body, with its status (axum and poem share the `http` crate's types).
fn error(e: ApiError) -> impl IntoResponse {
    (e.status(), Json(e.body()))
}

/// Who is calling, as spa-auth stores them now.
async fn whoami(LoggedIn(found): LoggedIn) -> impl IntoResponse {
    let user = &found.current.user;
    let body = json!({ "id": user.id, "username": user.username, "roles": user.roles.0 });
    // The session slid its idle deadline: the browser's cookie must live as long.
    (
        AppendHeaders(found.set_cookie.map(|c| (SET_COOKIE, c))),
        Json(body),
    )
}

/// The service: `GET /api/whoami`, for logged-in users only; `POST` too, as an unsafe method
/// a forged cross-site form could send.
pub fn app(spa: SpaAuth) -> Router {
    Router::new()
        .route("/api/whoami", get(whoami).post(whoami))
        .with_state(spa)
}
