//! Cross-site request forgery defence without tokens, and CORS for trusted SPA origins.
//!
//! The decision follows Go's `http.CrossOriginProtection`: safe methods pass; otherwise a
//! browser's `Sec-Fetch-Site` decides (`same-origin` and `none` pass); browsers too old to send
//! it are judged by `Origin` against the request's own `Host`; a request with neither header
//! is not from a browser, so it cannot be a forged one, and passes. Trusted origins pass too.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    error::ResponseError,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
};

use crate::http::{errors::ApiError, routes};

/// An origin as browsers compare them: scheme, host and port, the port explicit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SiteOrigin {
    scheme: String,
    host: String,
    port: u16,
}

impl SiteOrigin {
    /// Parses `scheme://host[:port]`, with a trailing `/` allowed (a base URL) and nothing
    /// else after the authority. Scheme and host are compared ignoring case, and a default
    /// port is the same as none.
    pub fn parse(s: &str) -> Option<SiteOrigin> {
        let (scheme, rest) = s.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        // A path, query, fragment or user info is not part of an origin.
        if authority.contains(['/', '?', '#', '@']) {
            return None;
        }
        let (host, port) = match authority.rsplit_once(':') {
            // `[::1]` has colons of its own; a port follows the bracket.
            Some((host, port)) if !port.contains(']') => (host, Some(port)),
            _ => (authority, None),
        };
        let port = match port {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => default_port,
        };
        let bracketed = host.starts_with('[') && host.ends_with(']');
        let host_char = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
        let valid = !host.is_empty()
            && (if bracketed {
                host[1..host.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok()
            } else {
                host.chars().all(host_char)
            });
        valid.then(|| SiteOrigin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

#[derive(Clone, Default)]
pub struct CrossOrigin {
    /// Parsed, so that `https://app.example.com:443` in the settings matches the
    /// `https://app.example.com` browsers send.
    trusted: Arc<[SiteOrigin]>,
    /// Where people reach the service, when configured: then an `Origin` must be exactly
    /// this (or trusted), scheme and port included, rather than merely match `Host`.
    public: Option<SiteOrigin>,
}

impl CrossOrigin {
    /// Settings validation refuses an origin that does not parse (`ServeSettings::validate`),
    /// so none is dropped here unnoticed.
    pub fn new(trusted: &[String], public: Option<SiteOrigin>) -> Self {
        CrossOrigin {
            trusted: trusted
                .iter()
                .filter_map(|o| SiteOrigin::parse(o))
                .collect(),
            public,
        }
    }

    fn trusted_origin<'r>(&self, headers: &'r HeaderMap) -> Option<&'r str> {
        if self.trusted.is_empty() {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
        let parsed = SiteOrigin::parse(origin)?;
        self.trusted.contains(&parsed).then_some(origin)
    }

    /// Whether a request may change state.
    pub fn allows(&self, req: &Request) -> bool {
        self.allows_request(req.method(), req.uri(), req.headers())
    }

    /// [`CrossOrigin::allows`] for a request of any framework on the `http` crate: the host
    /// is `Host`, or the URI's authority (HTTP/2 carries it there).
    pub fn allows_request(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
        let host = headers
            .get(header::HOST)
            .map(|h| h.as_bytes())
            .or_else(|| uri.authority().map(|a| a.as_str().as_bytes()));
        self.allows_parts(method, headers, host)
    }

    /// Whether a request made with `method`, carrying these browser headers and addressed to
    /// `host`, may change state: the one policy, for requests spa-auth receives and for those
    /// a proxy asks it about (forward auth).
    pub fn allows_parts(&self, method: &Method, headers: &HeaderMap, host: Option<&[u8]>) -> bool {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return true;
        }
        let trusted = self.trusted_origin(headers).is_some();
        let origin = headers.get(header::ORIGIN);
        if let (Some(public), Some(origin)) = (&self.public, origin) {
            let origin = origin.to_str().ok().and_then(SiteOrigin::parse);
            return trusted || origin.as_ref() == Some(public);
        }
        match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"same-origin" | b"none") => return true,
            Some(_) => return trusted,
            None => {}
        }
        let Some(origin) = origin else {
            return true;
        };
        let origin_host = origin
            .as_bytes()
            .strip_prefix(b"https://")
            .or_else(|| origin.as_bytes().strip_prefix(b"http://"));
        // Host carries no scheme, so an http->https request looks same-origin here; browsers
        // new enough to matter send Sec-Fetch-Site, and HSTS covers the rest (as Go argues).
        // Setting the public URL closes this gap.
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
        let (cors_origin, refusal) = self.policy.admit(&req);
        let mut resp = match refusal {
            Some(refusal) => refusal,
            None => self.inner.get_response(req).await,
        };
        self.policy.finish(&mut resp, cors_origin);
        Ok(resp)
    }
}

/// A trusted origin's `Access-Control-Allow-Origin`, if the request came from one.
pub type CorsOrigin = Option<HeaderValue>;

impl CrossOrigin {
    /// What the policy says before the request is handled: the trusted origin it came from,
    /// if any, and the answer in its place if the policy gives one (a CORS preflight's, or a
    /// refused cross-site request's 403).
    pub fn admit(&self, req: &Request) -> (CorsOrigin, Option<Response>) {
        let cors_origin = self
            .trusted_origin(req.headers())
            .and_then(|o| HeaderValue::from_str(o).ok());
        let preflight = req.method() == Method::OPTIONS
            && req.headers().contains_key("access-control-request-method");
        if preflight && cors_origin.is_some() {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                "access-control-allow-methods",
                routes::cors_methods().clone(),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert("access-control-max-age", HeaderValue::from_static("600"));
            (cors_origin, Some(r))
        } else if !self.allows(req) {
            tracing::info!(
                target: "audit",
                event = "csrf_rejected",
                method = %req.method(),
                path = req.uri().path()
            );
            (cors_origin, Some(ApiError::CsrfRejected.as_response()))
        } else {
            (cors_origin, None)
        }
    }

    /// What every answer gets, whoever gave it: the CORS headers for a trusted origin, and
    /// `Vary: Origin`.
    pub fn finish(&self, resp: &mut Response, cors_origin: CorsOrigin) {
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
        let p = CrossOrigin::new(&["https://app.example.com".into()], None);
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

    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        let o = |s: &str| SiteOrigin::parse(s);
        assert_eq!(
            o("https://Auth.Example.com/"),
            o("https://auth.example.com:443")
        );
        let v6 = o("http://[::1]:8080").map(|o| (o.host, o.port));
        assert_eq!(v6, Some(("[::1]".to_owned(), 8080)));
        assert_ne!(o("http://auth.example.com"), o("https://auth.example.com"));
        assert_ne!(
            o("https://auth.example.com"),
            o("https://auth.example.com:8443")
        );
        // A trusted origin written with its default port is the one browsers send without.
        let p = CrossOrigin::new(&["https://App.example.com:443/".into()], None);
        let h = |o: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::ORIGIN,
                HeaderValue::from_str(o).expect("a header value"),
            );
            h
        };
        assert!(p.trusted_origin(&h("https://app.example.com")).is_some());
        assert!(p.trusted_origin(&h("http://app.example.com")).is_none());
        for bad in [
            "auth.example.com",
            "ftp://auth.example.com",
            "https://",
            "https://auth.example.com/app",
            "https://auth.example.com?x=1",
            "https://user@auth.example.com",
            "https://auth.example.com:",
            "https://auth.example.com:99999",
            "https://auth example.com",
            "null",
        ] {
            assert_eq!(o(bad), None, "{bad}");
        }
    }

    #[test]
    fn with_a_public_url_the_origin_must_be_it_exactly() {
        let p = CrossOrigin::new(
            &["https://app.example.com".into()],
            SiteOrigin::parse("https://auth.example.com"),
        );
        let post = |h: &[(&str, &str)]| p.allows(&req(Method::POST, h));
        let host = ("host", "auth.example.com");
        assert!(post(&[host, ("origin", "https://auth.example.com")]));
        assert!(!post(&[host, ("origin", "http://auth.example.com")]));
        assert!(!post(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://auth.example.com")
        ]));
        assert!(post(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.example.com")
        ]));
        assert!(post(&[host]));
    }
}
