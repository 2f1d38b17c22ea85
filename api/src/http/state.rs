//! What every request handler can reach.

use std::{ops::Deref, sync::Arc};

use crate::{http::middleware::csrf::CrossOrigin, services::Services, sessions::cache::DbHealth};

/// The domain's services plus what only HTTP needs, behind one reference count: the whole
/// application shares one copy, and handing it to a request (poem's `.data`, once per request)
/// costs an atomic increment instead of cloning every setting, string and handle inside.
#[derive(Clone)]
pub struct AppState(Arc<State>);

/// The fields of [`AppState`], reached through it (`state.health`, `state.trust_proxy`).
pub struct State {
    pub services: Services,
    pub health: DbHealth,
    /// Take the client address from `X-Forwarded-For` (behind our own proxy only).
    pub trust_proxy: bool,
    /// The cross-site request policy: applied by the middleware to spa-auth's own endpoints,
    /// and by forward auth to the original request a proxy asks about.
    pub cross_origin: CrossOrigin,
}

impl AppState {
    pub fn new(state: State) -> Self {
        AppState(Arc::new(state))
    }
}

impl Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

/// Handlers use the services as if they were the state's own fields (`state.sessions`): the
/// state *is* the services, seen from HTTP.
impl Deref for State {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
