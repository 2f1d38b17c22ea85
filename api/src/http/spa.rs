//! Serves a built single-page app from the same origin as the API, so the SPA needs no CORS
//! and the cookie needs no `SameSite=None`.

use std::path::{Path, PathBuf};

use poem::{
    Endpoint, EndpointExt, Request, Response,
    endpoint::{BoxEndpoint, StaticFileEndpoint},
    error::ResponseError,
    http::{HeaderValue, Method, header},
};

use crate::http::{errors::ApiError, routes::is_api_path};

/// The SPA may load scripts, styles and data only from this origin and may not be framed.
/// Vite's build has no inline script, so no `'unsafe-inline'` is needed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The SPA in `dir`: its files, and `index.html` for its client-side routes. The app sends it
/// only paths that are not the API's ([`is_api_path`]), so it never answers for one.
pub fn spa(dir: PathBuf) -> BoxEndpoint<'static, Response> {
    // Canonical, so that what a request resolves to can be compared with it.
    let root = dir.canonicalize().unwrap_or(dir);
    SpaFiles { root }.boxed()
}

/// Whether a request for `path` goes to the SPA (when there is one) rather than the API.
pub fn serves(path: &str) -> bool {
    !is_api_path(path)
}

/// Vite puts content-hashed files under `/assets/`: a new build has new names, so they may be
/// cached for a year. Everything else (index.html) is revalidated on every load.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

struct SpaFiles {
    root: PathBuf,
}

/// What a request path names in the SPA directory.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    /// A file inside the directory (symlinks resolved).
    File(PathBuf),
    /// Nothing: a client route, or a missing asset.
    Missing,
    /// A dotfile, or something outside the directory: never served, never described.
    Refused,
}

/// Resolves a request path in `root` (canonical). Dot segments are refused outright, so
/// neither `..` (however encoded) nor `.env` or `.git/` is ever looked up; `/.well-known/`
/// is the one exception, being public by definition (RFC 8615: security.txt, app links,
/// which a build ships from its `public/`). Whatever the path resolves to, symlinks
/// included, must still be inside `root`.
fn resolve(root: &Path, path: &str) -> Resolved {
    let Ok(decoded) = percent_encoding::percent_decode_str(path).decode_utf8() else {
        return Resolved::Refused;
    };
    let mut candidate = root.to_path_buf();
    for (i, segment) in decoded.split('/').filter(|s| !s.is_empty()).enumerate() {
        if segment.starts_with('.') && !(i == 0 && segment == ".well-known") {
            return Resolved::Refused;
        }
        candidate.push(segment);
    }
    if candidate.is_dir() {
        candidate.push("index.html");
    }
    match candidate.canonicalize() {
        Ok(real) if !real.starts_with(root) => Resolved::Refused,
        Ok(real) if real.is_file() => Resolved::File(real),
        _ => Resolved::Missing,
    }
}

impl Endpoint for SpaFiles {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        // Files answer GET only; hyper drops the body of a HEAD answer.
        match *req.method() {
            Method::GET => {}
            Method::HEAD => req.set_method(Method::GET),
            _ => return Err(poem::error::MethodNotAllowedError.into()),
        }
        let asset = path.starts_with("/assets/");
        // A missing asset is a 404, not index.html: a stale page asking for an old bundle
        // should fail visibly rather than run HTML as JavaScript. Client-side routes
        // (`/sessions`, `/password`) are served index.html.
        let file = match resolve(&self.root, &path) {
            Resolved::File(file) => file,
            Resolved::Missing if !asset => self.root.join("index.html"),
            Resolved::Missing | Resolved::Refused => {
                return with_headers(ApiError::NotFound.as_response(), "no-store");
            }
        };
        let cache = if asset { IMMUTABLE } else { "no-cache" };
        let resp = StaticFileEndpoint::new(file).get_response(req).await;
        with_headers(resp, cache)
    }
}

fn with_headers(mut resp: Response, cache: &'static str) -> poem::Result<Response> {
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
        assert!(is_api_path("/api"));
        assert!(!is_api_path("/healthz/"));
        // Served by their own routes, and cacheable: not the API's `no-store` or fail-fast.
        assert!(!is_api_path("/openapi.json"));
        assert!(!is_api_path("/docs/"));
    }

    #[test]
    fn only_files_inside_the_directory_resolve() {
        let dir = std::env::temp_dir().join(format!("spa-resolve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).expect("temp dir");
        std::fs::create_dir_all(dir.join(".well-known")).expect("temp dir");
        for file in [
            "index.html",
            "assets/a.js",
            ".env",
            ".well-known/security.txt",
        ] {
            std::fs::write(dir.join(file), "x").expect("temp file");
        }
        let root = dir.canonicalize().expect("canonical");
        let file = |p: &str| Resolved::File(root.join(p));
        assert_eq!(resolve(&root, "/assets/a.js"), file("assets/a.js"));
        assert_eq!(resolve(&root, "/"), file("index.html"));
        assert_eq!(resolve(&root, "/sessions"), Resolved::Missing);
        assert_eq!(
            resolve(&root, "/.well-known/security.txt"),
            file(".well-known/security.txt")
        );
        for refused in [
            "/.env",
            "/..%2fx",
            "/%2e%2e/x",
            "/assets/../.env",
            "/a/.git/config",
            "/%ff",
        ] {
            assert_eq!(resolve(&root, refused), Resolved::Refused, "{refused}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
