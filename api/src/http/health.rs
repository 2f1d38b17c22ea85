//! Health of the service, for load balancers.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::Tag;
use crate::{
    http::errors::{ApiError, api_errors},
    http::state::AppState,
};

#[derive(Debug, Object)]
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
    Ok(Json<Health>),
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

#[derive(Default)]
pub struct HealthApi;

#[OpenApi]
impl HealthApi {
    /// Health check
    ///
    /// 200 while the database answers, 503 when it does not. For load balancers. It reports
    /// what the instance's background poll of the database last saw (every 50 ms by
    /// default), so the check itself costs no database work.
    #[oai(
        path = "/healthz",
        method = "get",
        operation_id = "getHealth",
        tag = "Tag::Health"
    )]
    async fn healthz(&self, state: Data<&AppState>) -> Result<HealthOk, HealthError> {
        if !state.health.is_up() {
            return Err(ApiError::Unavailable.into());
        }
        Ok(HealthOk::Ok(Json(Health {
            status: "ok".into(),
        })))
    }
}
