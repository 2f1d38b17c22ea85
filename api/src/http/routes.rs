//! The route table, read from the spec: every path template with its methods. It is the one
//! place that knows the API's routes, so `Allow`, the metrics route labels, which paths the SPA
//! may never answer, and the CORS methods all follow a new endpoint without being told.

use std::{collections::HashMap, sync::LazyLock};

use poem::{
    Response,
    http::{HeaderValue, StatusCode, header},
};

use crate::http::docs::{DOCS_PATH, SPEC_PATH};

/// Every route of the API lives under this prefix but `/healthz` (a load balancer's fixed
/// path), so an unknown path below it is the API's JSON 404, never the SPA's `index.html`.
const API_PREFIX: &str = "/api";

/// The metrics label of a path under [`API_PREFIX`] that no route matches.
const API_OTHER: &str = "/api/other";

/// The metrics label of everything else: the SPA's files and client routes.
const SPA: &str = "spa";

/// The spec's operation keys as HTTP names, in the order the CORS header lists them.
const METHODS: [(&str, &str); 7] = [
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("patch", "PATCH"),
    ("options", "OPTIONS"),
    ("trace", "TRACE"),
];

/// One spec path.
struct Route {
    /// `/api/auth/sessions/{id}`: also the metrics label, so ids cannot multiply the series.
    template: String,
    /// The template's segments, `None` for a `{parameter}`.
    segments: Vec<Option<String>>,
    /// As the spec lists them (its keys, in its order).
    methods: Vec<&'static str>,
    /// `methods`, and HEAD wherever GET is: poem answers HEAD there too.
    allow: HeaderValue,
}

impl Route {
    /// Walks the path's segments as it goes: this runs for every request (the span's metrics
    /// label, the hygiene headers), so it allocates nothing.
    fn matches(&self, path: &str) -> bool {
        let mut given = path.split('/');
        self.segments.iter().all(|p| match (p, given.next()) {
            (Some(fixed), Some(s)) => fixed == s,
            (None, Some(s)) => !s.is_empty(),
            (_, None) => false,
        }) && given.next().is_none()
    }
}

/// The routes, indexed: this is asked on every request (the span's metrics label, the hygiene
/// headers, `Allow`), and a walk of every template cost a twentieth of a `/healthz` request.
/// A path without parameters is found by one hash lookup; only the few templates with a
/// `{parameter}` are walked.
struct Table {
    routes: Vec<Route>,
    /// Templates without parameters, which match only themselves. Hashed with foldhash, not
    /// std's SipHash: the keys are the spec's, fixed at start, so a client's path can only be
    /// looked up, never flood the table; SipHash of the path was a visible share of a request.
    exact: HashMap<String, usize, foldhash::fast::RandomState>,
    /// The templates with a parameter.
    templated: Vec<usize>,
}

/// Built once from the compiled-in spec. Should it ever not parse, the table is empty: the
/// tests below then fail, rather than the server at start.
static ROUTES: LazyLock<Table> = LazyLock::new(|| {
    let routes = table(&crate::http::app::openapi_json());
    let (templated, fixed): (Vec<usize>, Vec<usize>) =
        (0..routes.len()).partition(|&i| routes[i].segments.iter().any(Option::is_none));
    let exact = fixed
        .into_iter()
        .map(|i| (routes[i].template.clone(), i))
        .collect();
    Table {
        routes,
        exact,
        templated,
    }
});

fn table(spec: &str) -> Vec<Route> {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
    let Some(paths) = spec["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .iter()
        .filter_map(|(path, item)| {
            let methods: Vec<&'static str> = item
                .as_object()?
                .keys()
                .filter_map(|key| METHODS.iter().find(|(k, _)| k == key).map(|(_, m)| *m))
                .collect();
            let mut allow = methods.clone();
            if allow.contains(&"GET") {
                allow.push("HEAD");
            }
            Some(Route {
                template: path.clone(),
                segments: path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect(),
                methods,
                allow: HeaderValue::from_str(&allow.join(", ")).ok()?,
            })
        })
        .collect()
}

fn route(path: &str) -> Option<&'static Route> {
    let table = &*ROUTES;
    match table.exact.get(path) {
        Some(&i) => Some(&table.routes[i]),
        None => table
            .templated
            .iter()
            .map(|&i| &table.routes[i])
            .find(|r| r.matches(path)),
    }
}

fn under_api_prefix(path: &str) -> bool {
    path.strip_prefix(API_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Paths that always belong to the API: its routes and anything under [`API_PREFIX`]. So an
/// unknown `/api/...` is a JSON 404 and never the SPA's `index.html`, and a new top-level
/// route is the API's as soon as it is in the spec.
pub(crate) fn is_api_path(path: &str) -> bool {
    route(path).is_some() || under_api_prefix(path)
}

/// The metrics label of a request path: its route's template, or one of four fixed labels.
/// Only labels the code names, never a client's path: the metrics' series stay bounded.
pub fn metrics_label(path: &str) -> &'static str {
    PathInfo::of(path).label
}

/// What the middleware needs to know of a request's path, from one walk of the table: the
/// edge of every request (`request_span`) asks all three, so it asks once.
#[derive(Clone, Copy)]
pub(crate) struct PathInfo {
    /// See [`metrics_label`].
    pub label: &'static str,
    /// See [`is_api_path`].
    pub is_api: bool,
    /// The `Allow` of the path's route, when it is one of the API's.
    pub allow: Option<&'static HeaderValue>,
}

impl PathInfo {
    pub fn of(path: &str) -> PathInfo {
        let route = route(path);
        let under_api = under_api_prefix(path);
        let label = if let Some(route) = route {
            &route.template
        } else if under_api {
            API_OTHER
        } else if path == SPEC_PATH {
            SPEC_PATH
        } else if path.starts_with(DOCS_PATH) {
            DOCS_PATH
        } else {
            SPA
        };
        PathInfo {
            label,
            is_api: route.is_some() || under_api,
            allow: route.map(|r| &r.allow),
        }
    }
}

/// The methods a trusted origin's preflight is told: every method the spec uses, in the
/// order of [`METHODS`]. Not OPTIONS, which a preflight itself is and never asks for.
pub fn cors_methods() -> &'static HeaderValue {
    static CORS: LazyLock<HeaderValue> = LazyLock::new(|| {
        let used: Vec<&str> = METHODS
            .iter()
            .map(|(_, m)| *m)
            .filter(|m| ROUTES.routes.iter().any(|r| r.methods.contains(m)))
            .collect();
        HeaderValue::from_str(&used.join(", ")).unwrap_or(HeaderValue::from_static(""))
    });
    &CORS
}

/// Adds `Allow` to a 405 that lacks it, for the API's own paths. RFC 9110 requires it, and
/// poem's router leaves it out.
pub(crate) fn add_allow_header(resp: &mut Response, path: &PathInfo) {
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(header::ALLOW)
        && let Some(allow) = path.allow
    {
        resp.headers_mut().insert(header::ALLOW, allow.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn spec_paths() -> serde_json::Map<String, serde_json::Value> {
        let spec: serde_json::Value =
            serde_json::from_str(&crate::http::app::openapi_json()).expect("spec is JSON");
        spec["paths"].as_object().expect("spec has paths").clone()
    }

    fn allowed(path: &str) -> Option<&str> {
        route(path).map(|r| r.allow.to_str().unwrap_or_default())
    }

    #[test]
    fn methods_come_from_the_spec() {
        assert_eq!(allowed("/api/auth/login"), Some("POST"));
        assert_eq!(allowed("/api/me"), Some("GET, HEAD"));
        assert_eq!(allowed("/api/auth/sessions"), Some("DELETE, GET, HEAD"));
        assert!(allowed("/nowhere").is_none());
    }

    #[test]
    fn every_spec_path_is_its_own_label() {
        let paths = spec_paths();
        assert_eq!(paths.len(), ROUTES.routes.len());
        for path in paths.keys() {
            assert_eq!(metrics_label(path), path);
            assert!(is_api_path(path), "{path}");
        }
    }

    #[test]
    fn requests_get_their_route_or_a_fixed_label() {
        let id = "/api/auth/sessions/00000000-0000-0000-0000-000000000000";
        assert_eq!(metrics_label(id), "/api/auth/sessions/{id}");
        for (path, label) in [
            ("/api/x", "/api/other"),
            ("/api", "/api/other"),
            ("/api/auth/sessions/", "/api/other"),
            ("/api/auth/sessions/a/b", "/api/other"),
            ("/healthz", "/healthz"),
            ("/openapi.json", "/openapi.json"),
            ("/docs", "/docs"),
            ("/docs/index.css", "/docs"),
            ("/", "spa"),
            ("/sessions", "spa"),
            ("/apiary", "spa"),
        ] {
            assert_eq!(metrics_label(path), label, "{path}");
        }
    }

    #[test]
    fn cors_methods_are_the_specs() {
        let from_spec: BTreeSet<String> = spec_paths()
            .values()
            .filter_map(|item| item.as_object())
            .flat_map(|ops| ops.keys().map(|k| k.to_uppercase()))
            .collect();
        let cors: BTreeSet<String> = cors_methods()
            .to_str()
            .unwrap_or_default()
            .split(", ")
            .map(str::to_owned)
            .collect();
        assert_eq!(cors, from_spec);
        assert_eq!(cors_methods(), "GET, POST, DELETE, PATCH");
    }
}
