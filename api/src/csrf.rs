//! Cross-site request forgery defence without tokens, and CORS for trusted SPA origins.
//!
//! The decision follows Go's `http.CrossOriginProtection`: safe methods pass; otherwise a
//! browser's `Sec-Fetch-Site` decides (`same-origin` and `none` pass); browsers too old to send
//! it are judged by `Origin` against the request's own `Host`; a request with neither header
//! is not from a browser, so it cannot be a forged one, and passes. Trusted origins pass too.

use std::{collections::HashSet, sync::Arc};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    error::ResponseError,
    http::{HeaderValue, Method, StatusCode, header},
};

use crate::errors::ApiError;

#[derive(Clone, Default)]
pub struct CrossOrigin {
    trusted: Arc<HashSet<String>>,
}

impl CrossOrigin {
    pub fn new(trusted: &[String]) -> Self {
        CrossOrigin {
            trusted: Arc::new(trusted.iter().map(|o| o.to_ascii_lowercase()).collect()),
        }
    }

    fn trusted_origin<'r>(&self, req: &'r Request) -> Option<&'r str> {
        let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
        self.trusted
            .contains(&origin.to_ascii_lowercase())
            .then_some(origin)
    }

    /// Whether a request may change state.
    pub fn allows(&self, req: &Request) -> bool {
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return true;
        }
        let trusted = self.trusted_origin(req).is_some();
        match req.headers().get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"same-origin" | b"none") => return true,
            Some(_) => return trusted,
            None => {}
        }
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return true;
        };
        let host = req
            .headers()
            .get(header::HOST)
            .map(|h| h.as_bytes())
            .or_else(|| req.uri().authority().map(|a| a.as_str().as_bytes()));
        let origin_host = origin
            .as_bytes()
            .strip_prefix(b"https://")
            .or_else(|| origin.as_bytes().strip_prefix(b"http://"));
        // Host carries no scheme, so an http->https request looks same-origin here; browsers
        // new enough to matter send Sec-Fetch-Site, and HSTS covers the rest (as Go argues).
        match (origin_host, host) {
            (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => true,
            _ => trusted,
        }
    }
}

impl<E: Endpoint> Middleware<E> for CrossOrigin {
    type Output = CrossOriginEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        CrossOriginEndpoint {
            inner: ep,
            policy: self.clone(),
        }
    }
}

pub struct CrossOriginEndpoint<E> {
    inner: E,
    policy: CrossOrigin,
}

impl<E: Endpoint> Endpoint for CrossOriginEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let cors_origin = self
            .policy
            .trusted_origin(&req)
            .and_then(|o| HeaderValue::from_str(o).ok());
        let preflight = req.method() == Method::OPTIONS
            && req.headers().contains_key("access-control-request-method");
        let mut resp = if preflight && cors_origin.is_some() {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("GET, POST, DELETE"),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert("access-control-max-age", HeaderValue::from_static("600"));
            r
        } else if !self.policy.allows(&req) {
            tracing::info!(
                target: "audit",
                event = "csrf_rejected",
                method = %req.method(),
                path = req.uri().path()
            );
            ApiError::CsrfRejected.as_response()
        } else {
            self.inner.get_response(req).await
        };
        let h = resp.headers_mut();
        if let Some(origin) = cors_origin {
            // Exactly the caller's origin, never `*`: browsers refuse `*` with credentials.
            h.insert("access-control-allow-origin", origin);
            h.insert(
                "access-control-allow-credentials",
                HeaderValue::from_static("true"),
            );
            h.insert(
                "access-control-expose-headers",
                HeaderValue::from_static("retry-after, x-request-id"),
            );
        }
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().method(method).uri_str("/api/auth/login");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.finish()
    }

    #[test]
    fn go_style_decisions() {
        let p = CrossOrigin::new(&["https://app.example.com".into()]);
        let host = ("host", "auth.example.com");
        assert!(p.allows(&req(Method::GET, &[("sec-fetch-site", "cross-site")])));
        assert!(p.allows(&req(Method::POST, &[("sec-fetch-site", "same-origin")])));
        assert!(p.allows(&req(Method::POST, &[("sec-fetch-site", "none")])));
        assert!(!p.allows(&req(Method::POST, &[("sec-fetch-site", "same-site")])));
        assert!(!p.allows(&req(Method::DELETE, &[("sec-fetch-site", "cross-site")])));
        assert!(p.allows(&req(Method::POST, &[])));
        assert!(p.allows(&req(
            Method::POST,
            &[host, ("origin", "https://auth.example.com")]
        )));
        assert!(!p.allows(&req(
            Method::POST,
            &[host, ("origin", "https://evil.example")]
        )));
        assert!(!p.allows(&req(Method::POST, &[host, ("origin", "null")])));
        assert!(p.allows(&req(
            Method::POST,
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://app.example.com")
            ]
        )));
    }
}
