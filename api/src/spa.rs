//! Serves a built single-page app from the same origin as the API, so the SPA needs no CORS
//! and the cookie needs no `SameSite=None`.

use std::path::PathBuf;

use poem::{
    Endpoint, EndpointExt, IntoEndpoint, Request, Response,
    endpoint::{BoxEndpoint, StaticFilesEndpoint},
    http::{HeaderValue, Method, header},
};

/// The SPA may load scripts, styles and data only from this origin and may not be framed.
/// Vite's build has no inline script, so no `'unsafe-inline'` is needed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Paths that always belong to the API, so an unknown `/api/...` is a JSON 404 and never the
/// SPA's `index.html`.
pub(crate) fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path == "/healthz"
}

/// Routes API paths to `api` and everything else to the SPA in `dir`, if one is configured.
pub fn api_with_spa<A>(api: A, dir: Option<PathBuf>) -> BoxEndpoint<'static, Response>
where
    A: IntoEndpoint,
    A::Endpoint: 'static,
{
    let api = api.into_endpoint().map_to_response().boxed();
    let Some(dir) = dir else {
        return api;
    };
    // A missing asset is a 404, not index.html: a stale page asking for an old bundle should
    // fail visibly rather than run HTML as JavaScript.
    let assets = StaticFilesEndpoint::new(&dir)
        .map_to_response()
        .around(|ep, req| with_headers(ep, req, IMMUTABLE))
        .boxed();
    let pages = StaticFilesEndpoint::new(dir)
        .index_file("index.html")
        // Client-side routes (`/sessions`, `/password`) are served index.html.
        .fallback_to_index()
        .map_to_response()
        .around(|ep, req| with_headers(ep, req, "no-cache"))
        .boxed();
    ApiOrSpa { api, assets, pages }.boxed()
}

/// Vite puts content-hashed files under `/assets/`: a new build has new names, so they may be
/// cached for a year. Everything else (index.html) is revalidated on every load.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

struct ApiOrSpa {
    api: BoxEndpoint<'static, Response>,
    assets: BoxEndpoint<'static, Response>,
    pages: BoxEndpoint<'static, Response>,
}

impl Endpoint for ApiOrSpa {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if is_api_path(req.uri().path()) {
            return self.api.call(req).await;
        }
        // The static files endpoint answers GET only; hyper drops the body of a HEAD answer.
        if req.method() == Method::HEAD {
            req.set_method(Method::GET);
        }
        if req.uri().path().starts_with("/assets/") {
            self.assets.call(req).await
        } else {
            self.pages.call(req).await
        }
    }
}

async fn with_headers<E: Endpoint<Output = Response>>(
    ep: std::sync::Arc<E>,
    req: Request,
    cache: &'static str,
) -> poem::Result<Response> {
    let mut resp = ep.get_response(req).await;
    let cache = if resp.status().is_success() {
        cache
    } else {
        "no-store"
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_never_reach_the_spa() {
        assert!(is_api_path("/api/me"));
        assert!(is_api_path("/api/nope"));
        assert!(is_api_path("/healthz"));
        assert!(!is_api_path("/apiary"));
        assert!(!is_api_path("/sessions"));
    }
}
