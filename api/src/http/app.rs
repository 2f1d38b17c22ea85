//! The whole HTTP application: the API (one `OpenApi` impl per tag), the spec, Swagger UI, the
//! SPA, and the middleware around them, in the order that matters.

use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::OpenApiService;

use crate::http::{
    AccountApi, AuthApi, ForwardAuthApi, HealthApi, PasskeyApi, RegistrationApi, SecondFactorApi,
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
    let routes = Route::new()
        .at(crate::http::docs::SPEC_PATH, spec)
        .nest(
            crate::http::docs::DOCS_PATH,
            crate::http::docs::SwaggerUi::new(),
        )
        .nest("/", crate::http::spa::api_with_spa(api, spa_dir));
    with_middleware(routes, state, limits)
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
