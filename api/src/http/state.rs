//! What every request handler can reach.

use std::ops::Deref;

use crate::{http::middleware::csrf::CrossOrigin, services::Services, sessions::cache::DbHealth};

/// The domain's services plus what only HTTP needs.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub health: DbHealth,
    /// Take the client address from `X-Forwarded-For` (behind our own proxy only).
    pub trust_proxy: bool,
    /// The cross-site request policy: applied by the middleware to spa-auth's own endpoints,
    /// and by forward auth to the original request a proxy asks about.
    pub cross_origin: CrossOrigin,
}

/// Handlers use the services as if they were the state's own fields (`state.sessions`): the
/// state *is* the services, seen from HTTP.
impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
