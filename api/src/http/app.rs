//! The whole HTTP application: the API (one `OpenApi` impl per tag), the spec, Swagger UI, the
//! SPA, and the middleware around them, in the order that matters.

use poem::{Endpoint, EndpointExt, IntoEndpoint, Request, Response, Route, endpoint::BoxEndpoint};
use poem_openapi::OpenApiService;

use crate::http::{
    AccountApi, AuthApi, ForwardAuthApi, HealthApi, PasskeyApi, RegistrationApi, SecondFactorApi,
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

/// The spec as `spa-auth openapi` prints it and `openapi/openapi.json` holds it.
pub fn openapi_json() -> String {
    crate::http::spec::finish(openapi_service().spec())
}

/// The whole HTTP application for a given state.
pub fn app(
    state: AppState,
    limits: BodyLimits,
    spa_dir: Option<std::path::PathBuf>,
) -> impl Endpoint<Output = Response> {
    let api = openapi_service();
    // Served from openapi_json(), so /openapi.json is byte for byte the committed spec.
    let spec = crate::http::spec::endpoint(openapi_json());
    let routes = Top {
        spec: spec.boxed(),
        docs: Route::new()
            .nest(DOCS_PATH, crate::http::docs::SwaggerUi::new())
            .boxed(),
        rest: crate::http::spa::api_with_spa(api, spa_dir),
    };
    with_middleware(routes, state, limits)
}

/// The spec, the docs, and everything else (the API, then the SPA), told apart by two string
/// comparisons. A `Route` with a nest at `/` did the same with a tree lookup and a rewritten
/// URI on every API request, for a choice between three.
struct Top {
    spec: BoxEndpoint<'static, Response>,
    docs: BoxEndpoint<'static, Response>,
    rest: BoxEndpoint<'static, Response>,
}

impl Endpoint for Top {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        let under_docs = path
            .strip_prefix(DOCS_PATH)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if path == SPEC_PATH {
            self.spec.call(req).await
        } else if under_docs {
            self.docs.call(req).await
        } else {
            self.rest.call(req).await
        }
    }
}

/// spa-auth's API alone (its operations at their usual paths, no spec, docs or SPA) with the
/// same middleware as in [`app`]: what a host application nests in its own `Route`.
pub fn api(state: AppState, limits: BodyLimits) -> impl Endpoint<Output = Response> {
    with_middleware(openapi_service().into_endpoint(), state, limits)
}

/// The middleware around spa-auth's endpoints, in the order that matters.
fn with_middleware(
    routes: impl Endpoint + 'static,
    state: AppState,
    limits: BodyLimits,
) -> impl Endpoint<Output = Response> {
    let health = state.health.clone();
    let cross_origin = state.cross_origin.clone();
    Guard {
        inner: routes.data(state),
        limits,
        health,
    }
    .with(cross_origin)
    // Boxed between layers: each generic middleware repeats the type it wraps in its own,
    // so unboxed the endpoint type grows exponentially and release builds hit the
    // compiler's recursion limit.
    .map_to_response()
    .boxed()
    // Outermost: the span, the header limit, `Allow`, JSON errors and the hygiene headers,
    // so that every answer carries them, refusals included (one layer; see its module).
    .with(RequestSpan)
}
