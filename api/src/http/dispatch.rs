//! Which operation a request is for. The operations are poem-openapi's, as its derive builds
//! them (extractors, security schemes, responses); only the lookup in front of them is ours.
//!
//! Why not poem-openapi's own endpoint: it puts every operation in a poem `Route` of
//! `RouteMethod`s, behind a cookie-jar layer and a query-string layer, each a boxed future of
//! its own, and the tree lookup records the matched pattern in the request and the response.
//! On a cached `/api/me` that machinery cost more than the operation. Here a path without a
//! parameter (every hot one) is one hash lookup and a method comparison, straight to the
//! operation. Anything else (a path with a `{parameter}`, an unknown path or method, HEAD)
//! goes to that same `Route` as before, so 404s, 405s, `Path` parameters and HEAD answer as
//! they always did.
//!
//! What the skipped layers did, and why nothing misses it: the query string is parsed for the
//! operations that declare a query parameter (and only for those); the cookie jar is not read
//! by any operation (the session extractor reads the `Cookie` header itself, see
//! `extractors`), and the matched pattern is not read either (metrics label paths from the
//! spec, see `routes`).

use std::{collections::HashMap, future::Future, sync::Arc};

use poem::{
    Endpoint, EndpointExt, Request, Response, Route, RouteMethod,
    endpoint::{BoxEndpoint, DynEndpoint},
    http::Method,
};
use poem_openapi::{__private::UrlQuery, OpenApi, registry::MetaParamIn};

/// An operation, shared by the fast table and the fallback `Route`.
type Operation = Arc<dyn DynEndpoint<Output = Response>>;

/// The operations of `T`, looked up as described in the module's documentation.
pub struct Operations {
    /// Paths without a parameter: their methods and operations. Hashed with foldhash, as the
    /// route table is (see `routes`).
    exact: HashMap<String, Vec<Exact>, foldhash::fast::RandomState>,
    /// Every operation in poem's `Route`, as poem-openapi routes them. Boxed: its future is
    /// large, and inline it would be copied into every request's future, fast path or not.
    routed: BoxEndpoint<'static>,
}

struct Exact {
    method: Method,
    operation: Operation,
    /// Whether it declares a query parameter: poem-openapi's `Query` extractor reads the
    /// parsed query string from the request and fails without it.
    query: bool,
}

impl Operations {
    pub fn new<T: OpenApi>(api: T) -> Self {
        let mut with_query: Vec<(String, Method)> = Vec::new();
        for meta in T::meta() {
            for path in meta.paths {
                for op in path.operations {
                    if op.params.iter().any(|p| p.in_type == MetaParamIn::Query) {
                        with_query.push((path.path.clone(), op.method.clone()));
                    }
                }
            }
        }
        let mut table = HashMap::new();
        api.add_routes(&mut table);
        let mut exact: HashMap<String, Vec<Exact>, _> = HashMap::default();
        let mut routed = Route::new();
        for (path, methods) in table {
            let mut route_method = RouteMethod::new();
            for (method, endpoint) in methods {
                let operation: Operation = Arc::from(endpoint);
                // poem-openapi's templates are `:name`, and a `*` would be a wildcard.
                if !path.contains([':', '*', '{']) {
                    let query = with_query.iter().any(|(p, m)| *p == path && *m == method);
                    exact.entry(path.clone()).or_default().push(Exact {
                        method: method.clone(),
                        operation: operation.clone(),
                        query,
                    });
                }
                route_method = route_method.method(method, operation);
            }
            routed = routed.at(path, route_method);
        }
        Operations {
            exact,
            routed: routed.boxed(),
        }
    }

    /// Whether a request takes the fast path.
    pub fn is_exact(&self, method: &Method, path: &str) -> bool {
        self.find(method, path).is_some()
    }

    fn find(&self, method: &Method, path: &str) -> Option<&Exact> {
        self.exact.get(path)?.iter().find(|e| e.method == *method)
    }

    /// The query layer poem-openapi puts around every operation, for the ones the fast path
    /// calls that need it.
    fn with_query(mut req: Request) -> Request {
        // No query string (a proxy's forward-auth call, nearly always): nothing to parse.
        let query: Vec<(String, String)> = match req.uri().query() {
            None | Some("") => Vec::new(),
            Some(_) => req.params().unwrap_or_default(),
        };
        req.extensions_mut().insert(UrlQuery(query));
        req
    }
}

impl Endpoint for Operations {
    type Output = Response;

    /// Not an `async fn`: that would be a future of its own, holding the request (half a
    /// kilobyte) beside the operation's, and every level of that is copied into the box each
    /// request's future is. This hands back the operation's boxed future itself.
    fn call(&self, req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        match self.find(req.method(), req.uri().path()) {
            Some(exact) if exact.query => {
                DynEndpoint::call(exact.operation.as_ref(), Self::with_query(req))
            }
            Some(exact) => DynEndpoint::call(exact.operation.as_ref(), req),
            None => DynEndpoint::call(self.routed.as_ref(), Self::with_query(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::app::Apis;

    #[test]
    fn the_hot_operations_take_the_fast_path_and_templated_ones_the_route() {
        let ops = Operations::new(Apis::default());
        for (method, path) in [
            (Method::GET, "/healthz"),
            (Method::GET, "/api/me"),
            (Method::GET, "/api/auth/verify"),
            (Method::POST, "/api/auth/login"),
            (Method::POST, "/api/auth/logout"),
        ] {
            assert!(ops.is_exact(&method, path), "{method} {path}");
        }
        assert!(!ops.is_exact(&Method::DELETE, "/api/me"));
        assert!(!ops.is_exact(&Method::HEAD, "/api/me"));
        assert!(!ops.is_exact(&Method::GET, "/api/me/"));
        assert!(!ops.is_exact(&Method::DELETE, "/api/auth/sessions/:id"));
    }
}
