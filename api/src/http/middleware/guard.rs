//! The checks between the edge of a request (`request_span`) and the routes, in one layer:
//! one small future and no box per request, where a layer each (the cross-site policy, the
//! outage check, the body limits, the state handed to the handlers) cost a future, a box, and
//! a copy of the request moved from one to the next.

use std::future::{Future, ready};

use futures_util::{
    FutureExt,
    future::{BoxFuture, Either},
};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::http::{
    middleware::{
        fail_fast::refuse_while_db_down,
        limits::{BodyCheck, BodyLimits, check_body, read_body},
    },
    state::AppState,
};

/// In this order: the cross-site policy (`csrf`: a preflight's answer, or 403 for a refused
/// cross-site request; its CORS headers on every answer), then while the database is known down
/// API calls answer 503 (`fail_fast`), then the body is read within its limits (`limits`), then
/// the handlers get the state (`Data<&AppState>`). A 503 needs no body, and a refused
/// cross-site request neither.
pub struct Guard<E> {
    pub inner: E,
    pub state: AppState,
    pub limits: BodyLimits,
}

impl<E: Endpoint> Guard<E> {
    /// The body read within its limits, then the handler's answer.
    async fn read_then_pass(&self, mut req: Request) -> Response {
        if let Some(refusal) = read_body(&mut req, self.limits).await {
            return refusal;
        }
        self.pass(req).await
    }

    /// The handler's answer, errors as responses.
    fn pass(&self, mut req: Request) -> impl Future<Output = Response> + Send + '_ {
        req.extensions_mut().insert(self.state.clone());
        self.inner.call(req).map(|r| match r {
            Ok(resp) => resp.into_response(),
            Err(e) => e.into_response(),
        })
    }
}

impl<E: Endpoint> Endpoint for Guard<E> {
    type Output = Response;

    /// Not an `async fn` (see `Operations::call`): what every request needs is done here, and
    /// the future handed back is the handler's with the CORS headers added after it. Only a
    /// request that may have a body gets a boxed future of its own for reading it (a body read
    /// under a timeout takes kilobytes of state, which a GET should not carry).
    fn call(&self, req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        let policy = &self.state.cross_origin;
        let (cors_origin, refusal) = policy.admit(&req);
        let refusal = refusal.or_else(|| refuse_while_db_down(&req, &self.state.health));
        let body = match refusal {
            Some(refusal) => BodyCheck::Refuse(refusal),
            None => check_body(&req, self.limits),
        };
        // A refusal by the policy or the outage check, or by the declared length, alike: no
        // body is read for any of them.
        let answer = match body {
            BodyCheck::Refuse(refusal) => Either::Left(ready(refusal)),
            BodyCheck::Nothing => Either::Right(Either::Left(self.pass(req))),
            BodyCheck::Read => {
                let boxed: BoxFuture<'_, Response> = Box::pin(self.read_then_pass(req));
                Either::Right(Either::Right(boxed))
            }
        };
        answer.map(move |mut resp| {
            policy.finish(&mut resp, cors_origin);
            Ok(resp)
        })
    }
}
