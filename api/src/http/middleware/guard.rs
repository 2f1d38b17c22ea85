//! The checks between the cross-site policy and the handlers, in one layer: one future and no
//! reference count per request, where a closure layer each cost both.

use poem::{Endpoint, Request, Response};

use crate::{
    http::middleware::{
        fail_fast::refuse_while_db_down,
        limits::{BodyLimits, limit_body},
    },
    sessions::cache::DbHealth,
};

/// While the database is known down, API calls answer 503 (`fail_fast`); then the body is
/// read within its limits (`limits`). In that order: a 503 needs no body.
pub struct Guard<E> {
    pub inner: E,
    pub limits: BodyLimits,
    pub health: DbHealth,
}

impl<E: Endpoint> Endpoint for Guard<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if let Some(refusal) = refuse_while_db_down(&req, &self.health) {
            return Ok(refusal);
        }
        if let Some(refusal) = limit_body(&mut req, self.limits).await {
            return Ok(refusal);
        }
        Ok(self.inner.get_response(req).await)
    }
}
