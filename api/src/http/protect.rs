//! What a host application wraps its own routes in: spa-auth's session check and CSRF policy
//! for endpoints spa-auth does not know.

use poem::{
    Endpoint, Middleware, Request, Response,
    http::{HeaderValue, header},
};

use crate::http::{
    extractors::Renewal,
    middleware::csrf::{CrossOrigin, CrossOriginEndpoint},
    state::AppState,
};

/// A poem middleware for a host's own routes: inside it, [`crate::http::extractors::SessionAuth`]
/// works in the host's poem-openapi operations (and their spec lists `sessionCookie`), a
/// session whose idle deadline slid gets its cookie re-sent, and unsafe methods from another
/// site are refused with 403 `csrf_rejected`, with spa-auth's own policy and trusted origins.
#[derive(Clone)]
pub struct Protect {
    state: AppState,
}

impl Protect {
    /// Protects routes with the sessions and policy of `state`.
    pub fn new(state: AppState) -> Self {
        Protect { state }
    }
}

impl<E: Endpoint> Middleware<E> for Protect {
    type Output = CrossOriginEndpoint<ProtectEndpoint<E>>;

    fn transform(&self, inner: E) -> Self::Output {
        let cross_origin: &CrossOrigin = &self.state.cross_origin;
        cross_origin.transform(ProtectEndpoint {
            inner,
            state: self.state.clone(),
        })
    }
}

/// A host's endpoint wrapped by [`Protect`].
pub struct ProtectEndpoint<E> {
    inner: E,
    state: AppState,
}

impl<E: Endpoint> Endpoint for ProtectEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let renewal = Renewal::default();
        req.extensions_mut().insert(self.state.clone());
        req.extensions_mut().insert(renewal.clone());
        let mut resp = self.inner.get_response(req).await;
        let renewed = renewal.0.lock().ok().and_then(|mut slot| slot.take());
        let name = self.state.sessions.cookie_name();
        // An endpoint that set the session cookie itself (spa-auth's own, if wrapped too)
        // knows better than the renewal.
        let sets_own = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.as_bytes().starts_with(format!("{name}=").as_bytes()));
        if let Some(cookie) = renewed.filter(|_| !sets_own)
            && let Ok(value) = HeaderValue::from_str(&cookie)
        {
            resp.headers_mut().append(header::SET_COOKIE, value);
        }
        Ok(resp)
    }
}
