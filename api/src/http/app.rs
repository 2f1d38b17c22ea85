//! The whole HTTP application: the API (one `OpenApi` impl per tag), the spec, Swagger UI, the
//! SPA, and the middleware around them, in the order that matters.

use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::OpenApiService;

use crate::http::{
    AccountApi, AuthApi, ForwardAuthApi, HealthApi,
    middleware::{
        fail_fast::fail_fast_while_db_down,
        hygiene::hygiene,
        json_errors::json_errors,
        limits::{BodyLimits, limit_body, limit_headers},
        request_span::RequestSpan,
    },
    state::AppState,
};

pub fn openapi_service() -> OpenApiService<(AuthApi, AccountApi, ForwardAuthApi, HealthApi), ()> {
    OpenApiService::new(
        (AuthApi, AccountApi, ForwardAuthApi, HealthApi),
        "spa-auth",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
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
    routes
        .data(state)
        .around(move |ep, req| limit_body(ep, req, limits))
        .around(move |ep, req| fail_fast_while_db_down(ep, req, health.clone()))
        .with(cross_origin)
        // Boxed between layers: each generic middleware repeats the type it wraps in its own,
        // so unboxed the endpoint type grows exponentially and release builds hit the
        // compiler's recursion limit.
        .map_to_response()
        .boxed()
        .around(crate::http::routes::allow_header)
        .around(json_errors)
        .around(limit_headers)
        // Outermost but for the span, so that every answer carries them, refusals included.
        .around(hygiene)
        .with(RequestSpan)
}
