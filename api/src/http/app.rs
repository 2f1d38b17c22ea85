//! The whole HTTP application: the API (one `OpenApi` impl per tag), the spec, Swagger UI, the
//! SPA, and the middleware around them, in the order that matters.

use std::future::Future;

use futures_util::future::Either;
use poem::{
    Endpoint, EndpointExt, Request, Response, Route,
    endpoint::{BoxEndpoint, DynEndpoint},
};
use poem_openapi::OpenApiService;

use crate::http::{
    AccountApi, AuthApi, ForwardAuthApi, HealthApi, PasskeyApi, RegistrationApi, SecondFactorApi,
    dispatch::Operations,
    docs::{DOCS_PATH, SPEC_PATH},
    middleware::{guard::Guard, limits::BodyLimits, request_span::RequestSpan},
    state::AppState,
};

/// Every tag's operations, in the order the spec lists them.
pub type Apis = (
    AuthApi,
    AccountApi,
    SecondFactorApi,
    PasskeyApi,
    RegistrationApi,
    ForwardAuthApi,
    HealthApi,
);

pub fn openapi_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(Apis::default(), "spa-auth", env!("CARGO_PKG_VERSION")).description(
        "Server-side session authentication for single-page apps: log in with HTTP Basic, \
             then an HttpOnly session cookie authenticates every call.",
    )
}

/// The spec as `spa-auth openapi` prints it, `openapi/openapi.json` holds it and
/// `/openapi.json` serves it: the same bytes, ending in a newline as a text file does.
pub fn openapi_json() -> String {
    let mut spec = crate::http::spec::finish(openapi_service().spec());
    spec.push('\n');
    spec
}

/// The whole HTTP application for a given state.
pub fn app(
    state: AppState,
    limits: BodyLimits,
    spa_dir: Option<std::path::PathBuf>,
) -> impl Endpoint<Output = Response> {
    // Served from openapi_json(), so /openapi.json is byte for byte the committed spec.
    let spec = crate::http::spec::endpoint(openapi_json());
    let routes = Top {
        spec: spec.boxed(),
        docs: Route::new()
            .nest(DOCS_PATH, crate::http::docs::SwaggerUi::new())
            .boxed(),
        api: Operations::new(Apis::default()),
        spa: spa_dir.map(crate::http::spa::spa),
    };
    with_middleware(routes, state, limits)
}

/// The spec, the docs, the SPA and the API, told apart by string comparisons. A `Route` with
/// a nest at `/` did the same with a tree lookup and a rewritten URI on every API request, for
/// a choice between four.
struct Top {
    spec: BoxEndpoint<'static, Response>,
    docs: BoxEndpoint<'static, Response>,
    api: Operations,
    /// The SPA's files, if the server serves one: every path that is not the API's.
    spa: Option<BoxEndpoint<'static, Response>>,
}

impl Endpoint for Top {
    type Output = Response;

    /// Not an `async fn`, for the reason given at `Operations::call`: the chosen branch's
    /// future is handed back as it is.
    fn call(&self, req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        let path = req.uri().path();
        let under_docs = path
            .strip_prefix(DOCS_PATH)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        let other = if path == SPEC_PATH {
            Some(&self.spec)
        } else if under_docs {
            Some(&self.docs)
        } else {
            self.spa.as_ref().filter(|_| crate::http::spa::serves(path))
        };
        match other {
            Some(other) => Either::Left(DynEndpoint::call(other.as_ref(), req)),
            None => Either::Right(self.api.call(req)),
        }
    }
}

/// spa-auth's API alone (its operations at their usual paths, no spec, docs or SPA) with the
/// same middleware as in [`app`]: what a host application nests in its own `Route`.
pub fn api(state: AppState, limits: BodyLimits) -> impl Endpoint<Output = Response> {
    with_middleware(Operations::new(Apis::default()), state, limits)
}

/// The middleware around spa-auth's endpoints, in the order that matters. Two layers, neither
/// boxed: the edge (the span, the header limit, `Allow`, JSON errors and the hygiene headers,
/// so that every answer carries them, refusals included) around the checks (see each module).
fn with_middleware<E: Endpoint + 'static>(
    routes: E,
    state: AppState,
    limits: BodyLimits,
) -> impl Endpoint<Output = Response> {
    Guard {
        inner: routes,
        state,
        limits,
    }
    .with(RequestSpan)
}
