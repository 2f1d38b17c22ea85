//! Headers every response carries.

use poem::{
    Response,
    http::{HeaderName, HeaderValue, header},
};

const X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");
const REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");
const X_FRAME_OPTIONS: HeaderName = HeaderName::from_static("x-frame-options");

/// Headers every response carries; auth answers must never be cached by anyone. Applied by
/// the edge of every request (`request_span`), refusals included.
pub fn add_hygiene_headers(resp: &mut Response, is_api: bool) {
    let h = resp.headers_mut();
    // These and the request id in one growth of the map at most, not one each time it fills.
    h.reserve(5);
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if is_api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
