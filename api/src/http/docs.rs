//! Swagger UI at `/docs/`, every file served from the binary (utoipa-swagger-ui's vendored copy),
//! so the docs work offline and no third-party host can change the script that runs next to
//! the session cookie.
//!
//! Swagger UI 5's `index.html` has no inline script: it loads `swagger-initializer.js`, which
//! utoipa-swagger-ui fills with our configuration. That lets `/docs/` run under a
//! Content-Security-Policy without `'unsafe-inline'` or `'unsafe-eval'`.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
    web::Redirect,
};
use utoipa_swagger_ui::Config;

/// Where the docs are mounted; `app()` nests [`SwaggerUi`] here.
pub const DOCS_PATH: &str = "/docs";
/// The spec Swagger UI loads; the same document `spa-auth openapi` prints.
pub const SPEC_PATH: &str = "/openapi.json";

/// Only our own origin may supply scripts, styles, fonts and API calls. Images also allow
/// `data:` because Swagger UI's stylesheet draws its icons as inline SVG data URLs.
/// `frame-ancestors 'none'` repeats `X-Frame-Options: DENY` for browsers that read only CSP.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The Swagger UI configuration the initializer script carries.
fn config() -> Config<'static> {
    Config::new([SPEC_PATH])
        // Send the session cookie with "Try it out" requests, so that after logging in through
        // the UI the cookie-protected operations work as they do for the SPA.
        .with_credentials(true)
        .try_it_out_enabled(true)
        .display_operation_id(true)
        .display_request_duration(true)
        // Credentials typed into "Authorize" stay in memory only, never in localStorage.
        .persist_authorization(false)
        // The default validator badge is an image from a third-party host: it would leak the
        // spec's URL and is blocked by the CSP anyway.
        .validator_url("none")
        // The standalone layout's top bar draws the Swagger logo, an SVG with an inline
        // <style> that the CSP blocks, and an "Explore" box that loads any URL as a spec;
        // we need neither.
        .use_base_layout()
}

/// Serves Swagger UI: `/docs` redirects to `/docs/` (the bundle's relative asset URLs need the
/// slash), `/docs/` is the page and `/docs/<file>` its assets.
#[derive(Clone)]
pub struct SwaggerUi {
    config: Arc<Config<'static>>,
}

impl SwaggerUi {
    pub fn new() -> Self {
        SwaggerUi {
            config: Arc::new(config()),
        }
    }
}

impl Default for SwaggerUi {
    fn default() -> Self {
        Self::new()
    }
}

impl Endpoint for SwaggerUi {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Ok(resp);
        }
        // Nesting strips the prefix, so `/docs` and `/docs/` both arrive as `/`; only the
        // original URI tells them apart.
        if req.original_uri().path() == DOCS_PATH {
            return Ok(Redirect::permanent(format!("{DOCS_PATH}/")).into_response());
        }
        let tail = req.uri().path().trim_start_matches('/');
        let file = match utoipa_swagger_ui::serve(tail, self.config.clone()) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(StatusCode::NOT_FOUND.into_response()),
            Err(e) => {
                tracing::error!(error = %e, file = tail, "serving Swagger UI failed");
                return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
            }
        };
        // The page and its initializer change with the configuration; the bundle only with a
        // new spa-auth build, so it may be cached for a while.
        let cache =
            if tail.is_empty() || tail.ends_with(".html") || tail.ends_with("initializer.js") {
                "no-cache"
            } else {
                "public, max-age=3600"
            };
        // Every text file of the bundle is UTF-8; saying so keeps browsers from guessing.
        let content_type = match file.content_type.starts_with("text/") {
            true if !file.content_type.contains("charset") => {
                format!("{}; charset=utf-8", file.content_type)
            }
            _ => file.content_type,
        };
        let mut resp = Response::builder()
            .status(StatusCode::OK)
            .content_type(content_type)
            .header(header::CACHE_CONTROL, cache)
            .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
            .body(file.bytes.into_owned());
        if file.gzpipped {
            resp.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Ok(resp)
    }
}
