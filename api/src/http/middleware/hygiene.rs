//! Headers every response carries.

use poem::{
    Endpoint, Request, Response,
    http::{HeaderValue, header},
};

/// Headers every response carries; auth answers must never be cached by anyone.
pub async fn hygiene<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let is_api = crate::http::routes::is_api_path(req.uri().path());
    let mut resp = ep.get_response(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if is_api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}
