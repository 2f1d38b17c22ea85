//! Health of the service, for load balancers and orchestrators: `/healthz` (kept as it was),
//! and Kubernetes-style `/livez` and `/readyz`.

use std::sync::LazyLock;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::Tag;
use crate::{
    http::errors::{ApiError, ErrorBody, ErrorCode, api_errors},
    http::json::Rendered,
    http::state::AppState,
};

#[derive(Debug, Object, serde::Serialize)]
#[oai(example)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

impl poem_openapi::types::Example for Health {
    fn example() -> Self {
        Health {
            status: "ok".into(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum HealthOk {
    /// The service and its database answer.
    #[oai(status = 200)]
    Ok(Rendered<Health>),
}

api_errors! {
    /// Errors of the health check.
    HealthError {
        plain: [],
        retry: [
            503 Unavailable "The database does not answer (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of the readiness probe.
    ReadyError {
        plain: [],
        retry: [
            503 Unavailable "Not ready: the database does not answer, or the session cache watcher is not running; `message` says which (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of the liveness probe: none but the unexpected.
    LiveError {
        plain: [],
        retry: [],
    }
}

#[derive(Debug, ApiResponse)]
pub enum LiveOk {
    /// The process answers.
    #[oai(status = 200)]
    Ok(Rendered<Health>),
}

#[derive(Debug, ApiResponse)]
pub enum ReadyOk {
    /// The instance can serve.
    #[oai(status = 200)]
    Ok(Rendered<Health>),
}

#[derive(Default)]
pub struct HealthApi;

#[OpenApi]
impl HealthApi {
    /// Health check
    ///
    /// 200 while the database answers, 503 when it does not. For load balancers. It reports
    /// what the instance's background poll of the database last saw (every 50 ms by
    /// default), so the check itself costs no database work.
    #[oai(path = "/healthz", method = "get", tag = "Tag::Health")]
    async fn healthz(&self, state: Data<&AppState>) -> Result<HealthOk, HealthError> {
        if !state.health.is_up() {
            return Err(ApiError::Unavailable.into());
        }
        Ok(HealthOk::Ok(ok_body()?))
    }

    /// Liveness probe
    ///
    /// 200 whenever the process answers HTTP at all, whatever the database does: restart the
    /// instance only when this fails (a database outage is not cured by restarting).
    #[oai(path = "/livez", method = "get", tag = "Tag::Health")]
    async fn livez(&self) -> Result<LiveOk, LiveError> {
        Ok(LiveOk::Ok(ok_body()?))
    }

    /// Readiness probe
    ///
    /// 200 when the instance can serve: its migrations are applied (the service listens
    /// only after applying them), the database answered the last poll of the session cache
    /// watcher, and the watcher runs (without it, a session ended elsewhere would not be
    /// dropped from this instance's cache in time). 503 `unavailable` otherwise, with the
    /// reason in `message`: send traffic elsewhere until it passes. Costs no database work.
    #[oai(path = "/readyz", method = "get", tag = "Tag::Health")]
    async fn readyz(&self, state: Data<&AppState>) -> Result<ReadyOk, ReadyError> {
        let not_ready = if !state.health.is_up() {
            "the database does not answer"
        } else if !state.health.is_watching() {
            "the session cache watcher is not running"
        } else {
            return Ok(ReadyOk::Ok(ok_body()?));
        };
        let body = ErrorBody {
            code: ErrorCode::Unavailable,
            message: format!("not ready: {not_ready}"),
        };
        Err(ReadyError::Unavailable(Json(body), Some(1)))
    }
}

fn ok_status() -> Health {
    Health {
        status: "ok".into(),
    }
}

/// The answer of every probe that passes, written once: the checks are a few atomic loads,
/// and writing `{"status":"ok"}` afresh each time cost more than they do.
fn ok_body() -> Result<Rendered<Health>, ApiError> {
    static OK: LazyLock<Option<Rendered<Health>>> = LazyLock::new(|| Rendered::new(&ok_status()));
    OK.clone()
        .ok_or_else(|| ApiError::Internal("the health body did not serialize".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn health_reads_the_same_as_poem_openapi_writes_it() {
        use poem::IntoResponse;
        use poem_openapi::types::ToJSON;
        crate::http::json::tests::same_json_as_poem_openapi(ok_status()).await;
        let resp = ok_body().expect("a body").into_response();
        assert_eq!(resp.content_type(), Some("application/json; charset=utf-8"));
        let bytes = resp.into_body().into_vec().await.expect("a body");
        let sent: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(Some(sent), ok_status().to_json());
    }
}
